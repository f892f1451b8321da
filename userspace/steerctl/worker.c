// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* worker.c - steerctl worker add|set|drain|undrain|del|list: a process's
 * listening socket in a pool, its weight, cap and state. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cgroup.h"
#include "ctl.h"
#include "defaults.h"
#include "sockets.h"
#include "state.h"

/* add gives them defaults; set (flags 0) keeps what is not given */
#define WEIGHT_OPT(alt_, flags_) { .flag = "weight", .arg = "W", .type = OPT_U32, \
	.max = STEER_WEIGHT_MAX, .flags = (flags_) | OPT_AUTO, .def = STEER_WEIGHT_DEFAULT, \
	.alt = (alt_), .help = "its share of new connections; 0: none; auto: " \
	OPT_LIMIT(STEER_WEIGHT_PER_CPU) " per CPU its cgroup allows" }
#define MAXCONN_OPT(alt_, flags_) { .flag = "maxconn", .arg = "N", .type = OPT_U32, \
	.max = STEER_MAXCONN_MAX, .flags = (flags_), .def = STEER_MAXCONN_DEFAULT, \
	.alt = (alt_), .help = "outstanding connections at most; 0: no cap" }

#define SLOTS_OPT(alt_) { .flag = "slots", .arg = "N", .type = OPT_U32, .min = 1, \
	.max = STEER_SLOTS_MAX, .flags = OPT_OFF, .alt = (alt_), \
	.help = "connections it serves at once: lobby-aware (off: not)" }

/* sd_listen_fds(3): the sockets passed to a process start at fd 3 */
#define SD_LISTEN_FDS_START 3

enum { WA_POOL, WA_NAME, WA_WEIGHT, WA_MAXCONN, WA_SLOTS, WA_ADDR, WA_PID, WA_FD, WA_LISTEN_FDS };

static const struct opt worker_add_opts[] = {
	[WA_POOL] = { .arg = "POOL", .type = OPT_STR, .help = "the pool it joins" },
	[WA_NAME] = { .arg = "NAME", .type = OPT_NAME, .what = "worker", .help = "the worker" },
	[WA_WEIGHT] = WEIGHT_OPT(0, OPT_DEFAULT),
	[WA_MAXCONN] = MAXCONN_OPT(0, OPT_DEFAULT),
	[WA_SLOTS] = SLOTS_OPT(0),
	[WA_ADDR] = LISTENER_ADDR_OPT(1, "the process listening there"),
	[WA_PID] = LISTENER_PID_OPT(2, "the process"),
	[WA_FD] = LISTENER_FD_OPT(2, "its listening socket's fd"),
	[WA_LISTEN_FDS] = { .flag = "listen-fds", .type = OPT_FLAG, .alt = 3,
			    .help = "the sockets systemd passed to steerctl (LISTEN_FDS)" },
};

/* The weight it is given: W, or with auto its pid's CPU allowance (in *a). */
static int weight_of(struct ctl *c, const struct optval *wv, const char *name, uint32_t pid,
		     uint32_t *weight, struct cpu_allowance *a)
{
	if (!wv->automatic) {
		*weight = (uint32_t)wv->u;
		return STEER_OK;
	}
	if (!pid || cpu_allowance_of((pid_t)pid, a))
		return ctl_error(c, "worker '%s' has no process (pid %u) to take weight auto from",
				 name, pid);
	*weight = weight_of_cpus(a->cpus);
	return STEER_OK;
}

/* An auto weight is derived: once written, say what it came from (stdout,
 * or one JSON object with -j). */
static void say_auto(const struct ctl *c, const char *name, uint32_t weight,
		     const struct cpu_allowance *a)
{
	struct json j;

	if (!c->json) {
		printf("worker %s: weight auto = %u (%.2f CPUs: %s%s%s)\n", name, weight, a->cpus,
		       cpu_source_name(a->source), *a->dir ? " of " : "", a->dir);
		return;
	}
	json_init(&j, stdout);
	json_set_pretty(&j, c->pretty);
	json_object_begin(&j, NULL);
	json_string(&j, "worker", name);
	json_uint(&j, "weight", weight);
	json_string(&j, "from", cpu_source_name(a->source));
	json_string(&j, "cgroup", a->dir);
	json_object_end(&j);
	fputc('\n', stdout);
}

static int add_one(struct ctl *c, const struct optval *v, const char *name, struct listener *l)
{
	struct worker_params params = {
		.maxconn = (uint32_t)v[WA_MAXCONN].u,
		.auto_weight = v[WA_WEIGHT].automatic,
		.slots = v[WA_SLOTS].given && !v[WA_SLOTS].off ? (uint32_t)v[WA_SLOTS].u : 0,
	};
	struct cpu_allowance a;
	int ret = weight_of(c, &v[WA_WEIGHT], name, l->pid, &params.weight, &a);

	if (ret) {
		close(l->fd);
		return ret;
	}
	if ((ret = worker_add(&c->maps, v[WA_POOL].s, name, l, &params, c->err)))
		return ret;
	if (params.auto_weight)
		say_auto(c, name, params.weight, &a);
	return STEER_OK;
}

/* LISTEN_PID and LISTEN_FDS (sd_listen_fds): how many sockets were passed
 * to this very process. */
static int passed_count(struct ctl *c, uint32_t *n)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	uint32_t pid;

	if (!pid_s || !fds_s)
		return ctl_error(c, "--listen-fds: LISTEN_PID and LISTEN_FDS are not set "
				    "(no sockets were passed, as systemd does)");
	if (parse_u32(pid_s, "LISTEN_PID", 1, INT32_MAX, &pid, c->err) ||
	    parse_u32(fds_s, "LISTEN_FDS", 1, STEER_LISTEN_FDS_MAX, n, c->err))
		return STEER_EINPUT;
	if (pid != (uint32_t)getpid())
		return ctl_error(c, "--listen-fds: LISTEN_PID %u is not this process (%d): "
				    "the sockets were passed to another one", pid, (int)getpid());
	return STEER_OK;
}

/* The fd names of LISTEN_FDNAMES ("a:b:c") into names[n], when there are
 * exactly n of them and they differ; false otherwise. */
static bool passed_names(char *buf, size_t len, char **names, uint32_t n)
{
	const char *env = getenv("LISTEN_FDNAMES");
	uint32_t k = 0;
	char *save = NULL;

	if (!env || (size_t)snprintf(buf, len, "%s", env) >= len)
		return false;
	for (char *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save))
		if (k++ < n)
			names[k - 1] = t;
	for (uint32_t i = 0; k == n && i < n; i++)
		for (uint32_t j = i + 1; j < n; j++)
			if (!strcmp(names[i], names[j]))
				return false;
	return k == n;
}

/* One fd: NAME. Several: NAME-FDNAME when LISTEN_FDNAMES names each one
 * differently, else NAME-1 .. NAME-N in fd order. Every name is checked
 * before any worker is added. */
static int passed_worker_names(struct ctl *c, const char *name, uint32_t n,
			       char (*out)[STEER_NAME_LEN])
{
	char buf[STEER_LISTEN_FDS_MAX * (STEER_NAME_LEN + 1)], *names[STEER_LISTEN_FDS_MAX];
	bool named = n > 1 && passed_names(buf, sizeof(buf), names, n);
	char full[2 * STEER_NAME_LEN + 16];

	for (uint32_t i = 0; i < n; i++) {
		if (n == 1)
			snprintf(full, sizeof(full), "%s", name);
		else if (named)
			snprintf(full, sizeof(full), "%s-%.*s", name, STEER_NAME_LEN, names[i]);
		else
			snprintf(full, sizeof(full), "%s-%u", name, i + 1);
		if (parse_name(full, "worker", c->err))
			return STEER_EINPUT;
		memcpy(out[i], full, STEER_NAME_LEN);
	}
	return STEER_OK;
}

/* Copies of the passed fds, taken before anything else opens a file: a
 * closed fd 3 would otherwise be reused by a map's fd and taken for it. */
static int passed_dup(struct ctl *c, uint32_t n, int *fds)
{
	for (uint32_t i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;

		fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, fd + STEER_LISTEN_FDS_MAX);
		if (fds[i] < 0) {
			while (i--)
				close(fds[i]);
			return ctl_error(c, "--listen-fds: fd %d: fd %d is not open", fd, fd);
		}
	}
	return STEER_OK;
}

/* fds[i]'s socket is one of fds[0..i-1]'s (copies of one socket passed
 * twice): refused before any is added, as two workers cannot share it */
static bool passed_twice(const struct listener *l, uint32_t i, uint32_t *first)
{
	for (*first = 0; *first < i; (*first)++)
		if (l[*first].cookie == l[i].cookie)
			return true;
	return false;
}

/* Take every passed socket; all are checked before the first is added. */
static int take_passed(struct ctl *c, uint32_t n, int *fds, struct listener *l)
{
	char why[STEER_ERR_LEN];
	uint32_t first;
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		ret = listener_take_passed(fds[i], c->maps.netns_ino, &l[i], c->err);
		fds[i] = -1;	/* closed by listener_take_passed on error, else l[i].fd */
		if (!ret && !passed_twice(l, i, &first))
			continue;
		if (!ret) {
			snprintf(why, sizeof(why), "the same socket as fd %u",
				 SD_LISTEN_FDS_START + first);
			fds[i] = l[i].fd;
			ret = STEER_EINPUT;
		} else {
			snprintf(why, sizeof(why), "%s", c->err);
		}
		snprintf(c->err, sizeof(c->err), "--listen-fds: fd %u: %s", SD_LISTEN_FDS_START + i,
			 why);
		while (i--)
			fds[i] = l[i].fd;	/* closed by the caller */
		return ret;
	}
	return STEER_OK;
}

/* A late failure (the pool full, a socket in use, auto without a process)
 * takes back the workers this run added: all of them or none. One that was
 * there already (the same command again, a new socket for it) stays. */
static void unadd_passed(struct ctl *c, char (*names)[STEER_NAME_LEN], const bool *fresh,
			 uint32_t added)
{
	char err[STEER_ERR_LEN];

	for (uint32_t i = 0; i < added; i++)
		if (fresh[i] && worker_del(&c->maps, names[i], err))
			fprintf(stderr, "Warning: worker %s stays: %s\n", names[i], err);
}

static int add_passed(struct ctl *c, const struct optval *v)
{
	struct listener l[STEER_LISTEN_FDS_MAX];
	char names[STEER_LISTEN_FDS_MAX][STEER_NAME_LEN], err[STEER_ERR_LEN];
	bool fresh[STEER_LISTEN_FDS_MAX];
	int fds[STEER_LISTEN_FDS_MAX];
	uint32_t n, i, id;
	struct steer_worker w;
	int ret;

	if ((ret = passed_count(c, &n)) || (ret = passed_worker_names(c, v[WA_NAME].s, n, names)) ||
	    (ret = passed_dup(c, n, fds)))
		return ret;
	if ((ret = ctl_open_maps(c)) || (ret = take_passed(c, n, fds, l)))
		goto cleanup;
	for (i = 0; i < n; i++) {
		fresh[i] = worker_find(&c->maps, names[i], &id, &w, err) != STEER_OK;
		fds[i] = -1;	/* add_one closes it */
		if ((ret = add_one(c, v, names[i], &l[i]))) {
			unadd_passed(c, names, fresh, i);
			while (++i < n)
				fds[i] = l[i].fd;
			break;
		}
	}
cleanup:
	for (uint32_t k = 0; k < n; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	return ret;
}

static int do_worker_add(struct ctl *c, const struct optval *v)
{
	struct listener l;
	int ret;

	if (v[WA_LISTEN_FDS].given)
		return add_passed(c, v);
	if ((ret = ctl_take_listener(c, &v[WA_ADDR], &v[WA_PID], &v[WA_FD], &l)))
		return ret;
	return add_one(c, v, v[WA_NAME].s, &l);
}

int ctl_take_listener(struct ctl *c, const struct optval *addr, const struct optval *pid,
		      const struct optval *fd, struct listener *l)
{
	struct steer_endpoint ep;
	int ret;

	if (addr->given && parse_endpoint(addr->s, &ep, c->err))
		return STEER_EINPUT;
	if ((ret = ctl_open_maps(c)))
		return ret;
	if (addr->given)
		return listener_take_by_addr(&ep, c->maps.netns_ino, l, c->err);
	return listener_take_by_fd((uint32_t)pid->u, (uint32_t)fd->u, c->maps.netns_ino, l, c->err);
}

enum { WS_NAME, WS_WEIGHT, WS_MAXCONN, WS_SLOTS };

static const struct opt worker_set_opts[] = {
	[WS_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the worker" },
	[WS_WEIGHT] = WEIGHT_OPT(1, 0),
	[WS_MAXCONN] = MAXCONN_OPT(2, 0),
	[WS_SLOTS] = SLOTS_OPT(3),
};

static int do_worker_set(struct ctl *c, const struct optval *v)
{
	uint32_t weight = (uint32_t)v[WS_WEIGHT].u, maxconn = (uint32_t)v[WS_MAXCONN].u, id;
	const uint32_t *mc = v[WS_MAXCONN].given ? &maxconn : NULL;
	struct cpu_allowance a;
	struct steer_worker w;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	/* slots first: the one that can be refused (a process already
	 * another lobby-aware worker of the pool) before anything changed */
	if (v[WS_SLOTS].given &&
	    (ret = worker_set_slots(&c->maps, v[WS_NAME].s,
				    v[WS_SLOTS].off ? 0 : (uint32_t)v[WS_SLOTS].u, c->err)))
		return ret;
	if (!v[WS_WEIGHT].given && !v[WS_MAXCONN].given)
		return STEER_OK;
	if (!v[WS_WEIGHT].automatic)
		return worker_update(&c->maps, v[WS_NAME].s, v[WS_WEIGHT].given ? &weight : NULL,
				     mc, NULL, c->err);
	/* from the process that held its listener when it was added */
	if ((ret = worker_find(&c->maps, v[WS_NAME].s, &id, &w, c->err)) ||
	    (ret = weight_of(c, &v[WS_WEIGHT], v[WS_NAME].s, w.pid, &weight, &a)) ||
	    (ret = worker_update_auto(&c->maps, v[WS_NAME].s, weight, mc, c->err)))
		return ret;
	say_auto(c, v[WS_NAME].s, weight, &a);
	return STEER_OK;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poll until the worker's last connection closes. */
static int wait_drained(struct ctl *c, const char *name, uint32_t timeout)
{
	struct steer_worker_stats st;
	struct steer_worker w;
	double deadline = now_s() + timeout;
	uint32_t id;
	int ret;

	steer_maps_unlock(&c->maps);
	for (;;) {
		if ((ret = worker_find(&c->maps, name, &id, &w, c->err)))
			return ret;
		if (worker_stats_read(&c->maps, id, &st))
			return ctl_error(c, "cannot read worker_stats for '%s'", name);
		if (st.outstanding <= 0)
			return STEER_OK;
		if (timeout && now_s() >= deadline) {
			snprintf(c->err, sizeof(c->err), "worker '%s' still has %lld connections after %u s",
				 name, (long long)st.outstanding, timeout);
			return STEER_ESYS;
		}
		usleep(50 * 1000);
	}
}

enum { WD_NAME, WD_WAIT, WD_TIMEOUT };

static const struct opt worker_drain_opts[] = {
	[WD_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the worker" },
	[WD_WAIT] = { .flag = "wait", .type = OPT_FLAG,
		      .help = "return once its outstanding count is 0" },
	[WD_TIMEOUT] = { .flag = "timeout", .arg = "S", .type = OPT_U32, .min = 1,
			 .max = STEER_DRAIN_TIMEOUT_S_MAX, .with = "wait",
			 .help = "give up after S seconds, exit 1" },
};

static int do_worker_drain(struct ctl *c, const struct optval *v)
{
	uint32_t state = STEER_WORKER_DRAIN;
	int ret;

	if ((ret = ctl_open_maps(c)) ||
	    (ret = worker_update(&c->maps, v[WD_NAME].s, NULL, NULL, &state, c->err)))
		return ret;
	return v[WD_WAIT].given ? wait_drained(c, v[WD_NAME].s, (uint32_t)v[WD_TIMEOUT].u)
				: STEER_OK;
}

static const struct opt worker_name_opt[] = {
	{ .arg = "NAME", .type = OPT_STR, .help = "the worker" },
};

static int do_worker_undrain(struct ctl *c, const struct optval *v)
{
	uint32_t state = STEER_WORKER_UP;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return worker_update(&c->maps, v[0].s, NULL, NULL, &state, c->err);
}

/* Gone: the kernel failed to pick it, or its listener closed, which takes
 * its SOCKMAP entry with it: seen at once, before any connection tries it. */
static bool worker_gone(const struct ctl *c, uint32_t id, const struct steer_worker_stats *st)
{
	uint64_t cookie;

	return st->gone || (bpf_map_lookup_elem(c->maps.fd[MAP_WORKER_SOCKS], &id, &cookie) &&
			    errno == ENOENT);
}

static bool weight_auto(const struct steer_worker *w)
{
	return w->flags & STEER_WORKER_F_AUTO_WEIGHT;
}

const char *worker_weight_text(const struct steer_worker *w, char *buf, size_t len)
{
	snprintf(buf, len, "%s%u", weight_auto(w) ? STEER_WEIGHT_AUTO ":" : "", w->weight);
	return buf;
}

static void print_worker_json(struct json *j, const struct steer_worker *w, const char *pool,
			      const char *where, bool gone, const struct steer_worker_stats *st,
			      uint64_t lobby_taken)
{
	json_object_begin(j, NULL);
	json_string(j, "name", w->name);
	json_string(j, "pool", pool);
	json_string(j, "listener", where);
	if (gone)
		json_null(j, "pid");	/* its listener is closed: no owner */
	else
		json_uint(j, "pid", w->pid);
	json_string(j, "state", gone ? "gone" : state_name(w->state));
	json_uint(j, "weight", w->weight);
	/* auto: derived from its CPU allowance (steerd keeps it current) */
	json_string(j, "weight_from", weight_auto(w) ? STEER_WEIGHT_AUTO : "admin");
	json_double(j, "health", w->health / (double)STEER_HEALTH_FULL);	/* 0..1, as the metrics */
	json_uint(j, "maxconn", w->maxconn);
	json_int(j, "outstanding", st->outstanding);
	json_uint(j, "pending", worker_stats_pending(st));
	json_uint(j, "selected", st->selected);
	json_uint(j, "steered", st->steered);
	json_uint(j, "established", st->established);
	json_uint(j, "closed", st->closed);
	if (w->slots)
		json_uint(j, "slots", w->slots);
	else
		json_null(j, "slots");	/* not lobby-aware */
	json_uint(j, "lobby_taken", lobby_taken);
	json_string(j, "owner", owner_name(w->owner));
	json_string(j, "addr", where);
	json_object_end(j);
}

static void print_worker_text(const struct steer_worker *w, const char *pool, const char *where,
			      bool gone, const struct steer_worker_stats *st, uint64_t lobby_taken,
			      bool *header)
{
	char maxconn[16], weight[24], slots[16];

	if (!*header) {
		printf("%-16s %-12s %-22s %-6s %10s %6s %7s %11s %7s %9s %5s %11s\n", "WORKER",
		       "POOL", "LISTENER", "STATE", "WEIGHT", "HEALTH", "MAXCONN", "OUTSTANDING",
		       "PENDING", "STEERED", "SLOTS", "LOBBY_TAKEN");
		*header = true;
	}
	snprintf(maxconn, sizeof(maxconn), w->maxconn ? "%u" : "-", w->maxconn);
	snprintf(slots, sizeof(slots), w->slots ? "%u" : "-", w->slots);
	printf("%-16s %-12s %-22s %-6s %10s %6.3f %7s %11lld %7llu %9llu %5s %11llu\n", w->name,
	       pool, where, gone ? "gone" : state_name(w->state),
	       worker_weight_text(w, weight, sizeof(weight)), w->health / (double)STEER_HEALTH_FULL,
	       maxconn, (long long)st->outstanding, (unsigned long long)worker_stats_pending(st),
	       (unsigned long long)st->steered, slots, (unsigned long long)lobby_taken);
}

void print_workers(struct ctl *c, struct json *j)
{
	struct steer_worker_stats st;
	struct steer_worker w;
	char pool[STEER_NAME_LEN], where[80];
	bool header = false;

	if (j)
		json_array_begin(j, "workers");
	const struct steer_worker *workers = ctl_table(c, MAP_WORKERS);

	for (uint32_t i = 0; workers && i < STEER_MAX_WORKERS; i++) {
		if (!workers[i].in_use)
			continue;
		w = workers[i];
		if (worker_stats_read(&c->maps, i, &st))
			memset(&st, 0, sizeof(st));
		pool_name_of(c, w.pool_id, pool, sizeof(pool));
		netaddr_format_endpoint(w.addr, w.port, where, sizeof(where));
		if (j)
			print_worker_json(j, &w, pool, where, worker_gone(c, i, &st), &st,
					  worker_lobby_taken(&c->maps, i, &st));
		else
			print_worker_text(&w, pool, where, worker_gone(c, i, &st), &st,
					  worker_lobby_taken(&c->maps, i, &st), &header);
	}
	if (j)
		json_array_end(j);
}

static const struct cmd worker_cmds[] = {
	{ .verb = "add", .opts = worker_add_opts, .nopts = ARRAY_SIZE(worker_add_opts),
	  .rule = RULE_EITHER, .run = do_worker_add,
	  .help = "take a process's listening socket as worker NAME of POOL",
	  .doc = "--addr finds the process listening on IP:PORT in the namespace (an exact "
		 "address first, then a wildcard one); --pid/--fd names the socket directly, for "
		 "a reuseport group. The socket must be a listening TCP socket in the namespace "
		 "steer is attached to. Adding a name whose worker is gone replaces it. "
		 "--listen-fds takes the sockets passed to steerctl itself by the sd_listen_fds "
		 "protocol (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; fds from 3), as systemd passes "
		 "a socket unit's to a service naming it in Sockets=: one socket is worker NAME; "
		 "several are NAME-FDNAME, or NAME-1 to NAME-N when LISTEN_FDNAMES does not name "
		 "each one differently. If any of them is not a listening TCP socket of the "
		 "namespace, none is added. Its pid is the other process that holds the socket "
		 "(the worker; not pid 1). --weight auto derives the weight from the CPU allowance "
		 "of the worker's process: its cgroup's cpu.max quota/period, else "
		 "cpuset.cpus.effective, else the host's online CPUs, times "
		 OPT_LIMIT(STEER_WEIGHT_PER_CPU) " per CPU (at most " OPT_LIMIT(STEER_WEIGHT_MAX)
		 "); steerctl says what it found, the worker is marked auto, and steerd, when it "
		 "runs, computes it again every interval." },
	{ .verb = "set", .opts = worker_set_opts, .nopts = ARRAY_SIZE(worker_set_opts),
	  .rule = RULE_ANY, .run = do_worker_set,
	  .help = "change a worker's weight, cap or slots",
	  .doc = "--weight auto takes the weight from the CPU allowance of the process that held "
		 "the worker's listener when it was added (see add); a number ends it. --slots "
		 "makes it lobby-aware (see pool lobby): its process (the pid that held its "
		 "listener) also accepts from its pool's lobby; one process can be one lobby-aware "
		 "worker of a pool." },
	{ .verb = "drain", .opts = worker_drain_opts, .nopts = ARRAY_SIZE(worker_drain_opts),
	  .run = do_worker_drain, .help = "no new connections; open ones go on" },
	{ .verb = "undrain", .opts = worker_name_opt, .nopts = ARRAY_SIZE(worker_name_opt),
	  .run = do_worker_undrain, .help = "take new connections again" },
	{ .verb = "del", .opts = worker_name_opt, .nopts = ARRAY_SIZE(worker_name_opt),
	  .by_name = worker_del, .help = "remove a worker" },
	{ .verb = "list", .print = print_workers,
	  .help = "every worker with its state and counts; gone: its listener closed (-j: JSON)" },
};

const struct object obj_worker = { "worker", worker_cmds, ARRAY_SIZE(worker_cmds) };
