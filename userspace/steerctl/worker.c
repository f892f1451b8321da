// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* worker.c - steerctl worker add|set|drain|undrain|del|list: a process's
 * listening socket in a pool, its weight, cap and state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "defaults.h"
#include "sockets.h"
#include "state.h"

/* add gives them defaults; set (flags 0) keeps what is not given */
#define WEIGHT_OPT(alt_, flags_) { .flag = "weight", .arg = "W", .type = OPT_U32, \
	.max = STEER_WEIGHT_MAX, .flags = (flags_), .def = STEER_WEIGHT_DEFAULT, .alt = (alt_), \
	.help = "its share of new connections; 0: none" }
#define MAXCONN_OPT(alt_, flags_) { .flag = "maxconn", .arg = "N", .type = OPT_U32, \
	.max = STEER_MAXCONN_MAX, .flags = (flags_), .def = STEER_MAXCONN_DEFAULT, \
	.alt = (alt_), .help = "outstanding connections at most; 0: no cap" }

enum { WA_POOL, WA_NAME, WA_WEIGHT, WA_MAXCONN, WA_ADDR, WA_PID, WA_FD };

static const struct opt worker_add_opts[] = {
	[WA_POOL] = { .arg = "POOL", .type = OPT_STR, .help = "the pool it joins" },
	[WA_NAME] = { .arg = "NAME", .type = OPT_NAME, .what = "worker", .help = "the worker" },
	[WA_WEIGHT] = WEIGHT_OPT(0, OPT_DEFAULT),
	[WA_MAXCONN] = MAXCONN_OPT(0, OPT_DEFAULT),
	[WA_ADDR] = { .flag = "addr", .arg = "IP:PORT", .type = OPT_STR, .alt = 1,
		      .help = "the process listening there" },
	[WA_PID] = { .flag = "pid", .arg = "PID", .type = OPT_U32, .min = 1, .max = INT32_MAX,
		     .alt = 2, .help = "the process" },
	[WA_FD] = { .flag = "fd", .arg = "FD", .type = OPT_U32, .max = INT32_MAX, .alt = 2,
		    .help = "its listening socket's fd" },
};

static int do_worker_add(struct ctl *c, const struct optval *v)
{
	struct worker_params params = {
		.weight = (uint32_t)v[WA_WEIGHT].u,
		.maxconn = (uint32_t)v[WA_MAXCONN].u,
	};
	bool by_addr = v[WA_ADDR].given;
	struct steer_endpoint ep;
	struct listener l;
	int ret;

	if (by_addr && parse_endpoint(v[WA_ADDR].s, &ep, c->err))
		return STEER_EINPUT;
	if ((ret = ctl_open_maps(c)))
		return ret;
	ret = by_addr ? listener_take_by_addr(&ep, c->maps.netns_ino, &l, c->err)
		      : listener_take_by_fd((uint32_t)v[WA_PID].u, (uint32_t)v[WA_FD].u,
					    c->maps.netns_ino, &l, c->err);
	if (ret)
		return ret;
	return worker_add(&c->maps, v[WA_POOL].s, v[WA_NAME].s, &l, &params, c->err);
}

enum { WS_NAME, WS_WEIGHT, WS_MAXCONN };

static const struct opt worker_set_opts[] = {
	[WS_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the worker" },
	[WS_WEIGHT] = WEIGHT_OPT(1, 0),
	[WS_MAXCONN] = MAXCONN_OPT(2, 0),
};

static int do_worker_set(struct ctl *c, const struct optval *v)
{
	uint32_t weight = (uint32_t)v[WS_WEIGHT].u, maxconn = (uint32_t)v[WS_MAXCONN].u;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return worker_update(&c->maps, v[WS_NAME].s, v[WS_WEIGHT].given ? &weight : NULL,
			     v[WS_MAXCONN].given ? &maxconn : NULL, NULL, c->err);
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

static void print_worker_json(struct json *j, const struct steer_worker *w, const char *pool,
			      const char *where, bool gone, const struct steer_worker_stats *st)
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
	json_double(j, "health", w->health / (double)STEER_HEALTH_FULL);	/* 0..1, as the metrics */
	json_uint(j, "maxconn", w->maxconn);
	json_int(j, "outstanding", st->outstanding);
	json_uint(j, "pending", worker_stats_pending(st));
	json_uint(j, "selected", st->selected);
	json_uint(j, "steered", st->steered);
	json_uint(j, "established", st->established);
	json_uint(j, "closed", st->closed);
	json_string(j, "owner", owner_name(w->owner));
	json_string(j, "addr", where);
	json_object_end(j);
}

static void print_worker_text(const struct steer_worker *w, const char *pool, const char *where,
			      bool gone, const struct steer_worker_stats *st, bool *header)
{
	char maxconn[16];

	if (!*header) {
		printf("%-16s %-12s %-22s %-6s %6s %6s %7s %11s %7s %9s\n", "WORKER", "POOL",
		       "LISTENER", "STATE", "WEIGHT", "HEALTH", "MAXCONN", "OUTSTANDING",
		       "PENDING", "STEERED");
		*header = true;
	}
	snprintf(maxconn, sizeof(maxconn), w->maxconn ? "%u" : "-", w->maxconn);
	printf("%-16s %-12s %-22s %-6s %6u %6.3f %7s %11lld %7llu %9llu\n", w->name, pool, where,
	       gone ? "gone" : state_name(w->state), w->weight,
	       w->health / (double)STEER_HEALTH_FULL, maxconn,
	       (long long)st->outstanding, (unsigned long long)worker_stats_pending(st),
	       (unsigned long long)st->steered);
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
			print_worker_json(j, &w, pool, where, worker_gone(c, i, &st), &st);
		else
			print_worker_text(&w, pool, where, worker_gone(c, i, &st), &st, &header);
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
		 "steer is attached to. Adding a name whose worker is gone replaces it." },
	{ .verb = "set", .opts = worker_set_opts, .nopts = ARRAY_SIZE(worker_set_opts),
	  .rule = RULE_ANY, .run = do_worker_set, .help = "change a worker's weight or cap" },
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
