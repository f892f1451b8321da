// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * steerd - keeps steer's kernel state in step with the workers' real health:
 * health checks (TCP, HTTP, HAProxy agent) with rise/fall and slow start,
 * resource-aware weights (cgroup v2 or /proc), per-pool circuit breakers,
 * the maintenance responder, and Prometheus metrics. It writes only its own
 * fields (health factor, circuit state), so steerctl keeps working beside
 * it, and steering goes on when it exits or dies.
 */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "errfmt.h"
#include "fleet.h"
#include "log.h"
#include "state.h"
#include "wake.h"

#define TICK_MS 50		/* check timeouts and starts are this precise */

static int watch(struct daemon *d, int fd, uint32_t events, struct source *src, int op);

/* ---- sd_notify ----------------------------------------------------------
 * The protocol is one datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET
 * (sd_notify(3)): written here rather than linking libsystemd for it. */
static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char msg[STEER_ERR_LEN * 3];
	socklen_t len;
	va_list ap;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}

/* STATUS= is one line: what a name or an error holds stays on it */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ')
			*s = ' ';
}

/* "3 services, 5 pools, 12 workers": what runs, for STATUS= */
static void describe(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%zu services, %zu pools, %zu workers", d->conf.nservices, d->npools,
		 d->nworkers);
}

/* The watchdog period systemd asks for ($WATCHDOG_USEC, for us when
 * $WATCHDOG_PID is unset or ours, sd_watchdog_enabled(3)), or 0. */
static uint64_t watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid && strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	return errno || *end || usec[0] == '-' ? 0 : v;
}

/* WATCHDOG=1 at half the period, from a timerfd in the event loop: a loop
 * that is stuck stops pinging, and systemd restarts it. */
static int setup_watchdog(struct daemon *d, char *err)
{
	uint64_t usec = watchdog_usec(), half = usec / 2;
	struct itimerspec its;

	d->watchdog_fd = -1;
	if (!usec)
		return STEER_OK;
	if (!half)
		half = 1;	/* WATCHDOG_USEC=1: ping as often as a timer can, never not at all */
	its.it_interval.tv_sec = (time_t)(half / 1000000);
	its.it_interval.tv_nsec = (long)(half % 1000000) * 1000;
	its.it_value = its.it_interval;
	d->watchdog_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->watchdog_fd < 0 || timerfd_settime(d->watchdog_fd, 0, &its, NULL)) {
		snprintf(err, STEER_ERR_LEN, "cannot set up the watchdog timer: %s", strerror(errno));
		return STEER_ESYS;
	}
	d->watchdog_src.kind = SRC_WATCHDOG;
	return watch(d, d->watchdog_fd, EPOLLIN, &d->watchdog_src, EPOLL_CTL_ADD) ? STEER_ESYS
										  : STEER_OK;
}

static void on_watchdog(struct daemon *d)
{
	uint64_t expirations;

	if (read(d->watchdog_fd, &expirations, sizeof(expirations)) > 0)
		notify("WATCHDOG=1");
}

/* ---- event sources ---------------------------------------------------- */
static int watch(struct daemon *d, int fd, uint32_t events, struct source *src, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(d->epfd, op, fd, &ev);
}

/* A check's fd, by token (daemon.h): never a pointer a reload may free. */
int watch_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
		uint32_t events, int op)
{
	struct epoll_event ev = { .events = events };

	ev.data.u64 = probe_token((size_t)(w - d->workers), agent, pr->seq);
	pr->events = events;
	return epoll_ctl(d->epfd, op, pr->fd, &ev);
}

/* Who may report: the socket's group and mode, from daemon.socket_group
 * and daemon.socket_mode (connecting to a datagram socket needs write). */
static int report_socket_access(const struct steer_config *c, char *err)
{
	if (c->has_socket_group && chown(c->socket_path, (uid_t)-1, c->socket_gid)) {
		snprintf(err, STEER_ERR_LEN, "cannot give the report socket %s group %u: %s",
			 c->socket_path, (unsigned)c->socket_gid, strerror(errno));
		return STEER_ESYS;
	}
	if (chmod(c->socket_path, (mode_t)c->socket_mode)) {
		snprintf(err, STEER_ERR_LEN, "cannot set mode %04o on the report socket %s: %s",
			 c->socket_mode, c->socket_path, strerror(errno));
		return STEER_ESYS;
	}
	return STEER_OK;
}

/* A bound report socket at c->socket_path, or -1 with err. */
static int bind_report_socket(const struct steer_config *c, char *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = c->socket_path;
	char dir[sizeof(sun.sun_path)], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);	/* others may pass, the socket's mode decides */
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		snprintf(err, STEER_ERR_LEN, "cannot bind the report socket %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (report_socket_access(c, err)) {
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static int open_report_socket(struct daemon *d, char *err)
{
	d->report_fd = bind_report_socket(&d->conf, err);
	return d->report_fd < 0 ? STEER_ESYS : STEER_OK;
}

static struct dworker *worker_named(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nworkers; i++)
		if (!strcmp(d->workers[i].name, name))
			return &d->workers[i];
	return NULL;
}

struct dpool *pool_named(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->npools; i++)
		if (!strcmp(d->pools[i].name, name))
			return &d->pools[i];
	return NULL;
}

/* A whole number of at most max, all of s. */
static bool report_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out <= max;
}

/* The report datagram, one of:
 *   "WORKER ok N errors M"            outcomes, for the circuit
 *   "WORKER ok N errors M tokens T"   and the tokens they cost (token budget)
 *   "@pool POOL remaining R reset S"  the provider's rate-limit headers
 * (a name never starts with '@'). Split on spaces, each number checked. */
#define REPORT_WORDS	8
static bool take_report(struct daemon *d, char *buf)
{
	unsigned long long ok, errors, tokens = 0, remaining, reset;
	char *word[REPORT_WORDS + 1], *save = NULL;
	struct dworker *w;
	struct dpool *p;
	int n = 0;

	for (char *t = strtok_r(buf, " ", &save); t && n <= REPORT_WORDS;
	     t = strtok_r(NULL, " ", &save))
		word[n++] = t;
	if (n == 6 && !strcmp(word[0], "@pool") && !strcmp(word[2], "remaining") &&
	    !strcmp(word[4], "reset") && report_num(word[3], STEER_TOKENS_MAX, &remaining) &&
	    report_num(word[5], STEER_TOKEN_RESET_S_MAX, &reset))
		return !fleet_pool_remaining(d, word[1], remaining, (uint32_t)reset);
	if ((n != 5 && n != 7) || strcmp(word[1], "ok") || strcmp(word[3], "errors") ||
	    !report_num(word[2], STEER_REPORT_COUNT_MAX, &ok) ||
	    !report_num(word[4], STEER_REPORT_COUNT_MAX, &errors) ||
	    (n == 7 && (strcmp(word[5], "tokens") ||
			!report_num(word[6], STEER_TOKENS_MAX, &tokens))) ||
	    !(w = worker_named(d, word[0])) || !(p = pool_named(d, w->pool)))
		return false;
	circuit_record(&p->live.circuit, now_ms(), ok, errors);
	circuit_record(&w->live.outlier, now_ms(), ok, errors);
	p->live.reports_ok += ok;
	p->live.reports_err += errors;
	if (n == 7)
		fleet_report_tokens(d, w->pool, tokens, ok + errors);
	return true;
}

static void read_reports(struct daemon *d)
{
	char buf[256], copy[256];
	ssize_t n;

	while ((n = recv(d->report_fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(copy, sizeof(copy), "%s", buf);
		if (!take_report(d, buf))
			log_warn("report ignored: '%s'", copy);
	}
}

/* ---- main loop -------------------------------------------------------- */
static void watch_maintenance(struct daemon *d)
{
	if (d->maint_open && !d->maint_watched &&
	    !watch(d, d->maint.fd, EPOLLIN, &d->maint_src, EPOLL_CTL_ADD))
		d->maint_watched = true;
}

/* ---- daemon settings ------------------------------------------------------ */

static struct metrics_server *metrics_start_on(const struct steer_endpoint *ep, char *err)
{
	struct sockaddr_storage ss;
	socklen_t len = netaddr_to_sockaddr(ep, &ss);

	return metrics_server_start((struct sockaddr *)&ss, len, err, STEER_ERR_LEN);
}

static bool same_port(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port ==
		       ((const struct sockaddr_in *)b)->sin_port;
	return ((const struct sockaddr_in6 *)a)->sin6_port ==
	       ((const struct sockaddr_in6 *)b)->sin6_port;
}

/* daemon.metrics: rebind when the address changed. The new server starts
 * before the old one stops; when it cannot (the same port on another
 * address of ours), the old one stops first and comes back if the new one
 * still fails. */
static int apply_metrics_setting(struct daemon *d)
{
	struct sockaddr_storage want, was;
	struct metrics_server *fresh;
	char err[STEER_ERR_LEN];
	const struct sockaddr *cur;
	socklen_t len, cur_len = 0;

	if (!d->conf.has_metrics) {
		if (d->metrics)
			log_info("metrics endpoint stopped");
		metrics_server_stop(d->metrics);
		d->metrics = NULL;
		return 0;
	}
	len = netaddr_to_sockaddr(&d->conf.metrics, &want);
	if (d->metrics) {
		cur = metrics_server_addr(d->metrics, &cur_len);
		if (cur_len == len && !memcmp(cur, &want, len))
			return 0;
		memcpy(&was, cur, cur_len);
	}
	fresh = metrics_server_start((struct sockaddr *)&want, len, err, sizeof(err));
	if (!fresh && d->metrics && same_port(&was, &want)) {
		metrics_server_stop(d->metrics);
		d->metrics = NULL;
		fresh = metrics_server_start((struct sockaddr *)&want, len, err, sizeof(err));
		if (!fresh) {
			char again[STEER_ERR_LEN];

			d->metrics = metrics_server_start((struct sockaddr *)&was, cur_len, again,
							  sizeof(again));
			if (!d->metrics)
				log_err("metrics: the old endpoint did not come back: %s", again);
		}
	}
	if (!fresh) {
		if (d->metrics)
			render_metrics(d, now_ms());
		log_err("not applied: %s; %s", err,
			d->metrics ? "the old metrics endpoint stays" : "no metrics endpoint");
		return -1;
	}
	metrics_server_stop(d->metrics);
	d->metrics = fresh;
	render_metrics(d, now_ms());	/* no 503 on the new address */
	log_info("metrics endpoint moved");
	return 0;
}

/* daemon.socket, socket_group, socket_mode: a new path is bound before the
 * old socket closes; group and mode are set again on every reload. */
static int apply_report_setting(struct daemon *d)
{
	struct sockaddr_un cur = { 0 };
	socklen_t len = sizeof(cur);
	char err[STEER_ERR_LEN];
	int fd;

	if (getsockname(d->report_fd, (struct sockaddr *)&cur, &len))
		cur.sun_path[0] = '\0';
	if (!strcmp(cur.sun_path, d->conf.socket_path)) {
		if (!report_socket_access(&d->conf, err))
			return 0;
		log_err("not applied: %s", err);
		return -1;
	}
	fd = bind_report_socket(&d->conf, err);
	if (fd < 0) {
		log_err("not applied: %s; reports still go to %s", err, cur.sun_path);
		return -1;
	}
	if (watch(d, fd, EPOLLIN, &d->report_src, EPOLL_CTL_ADD)) {
		log_err("not applied: cannot watch the report socket %s: %s", d->conf.socket_path,
			strerror(errno));
		close(fd);
		unlink(d->conf.socket_path);
		return -1;
	}
	close(d->report_fd);	/* and out of the epoll set */
	unlink(cur.sun_path);
	d->report_fd = fd;
	log_info("report socket moved to %s", d->conf.socket_path);
	return 0;
}

/* The maintenance pool's worker is the responder's socket: swap it. */
static int replace_maintenance_worker(struct daemon *d, char *err)
{
	struct worker_params params = { .weight = 100 };
	struct listener l;
	uint32_t id;
	int ret;

	if (steer_maps_lock(&d->maps)) {
		snprintf(err, STEER_ERR_LEN, "cannot lock %s: %s", d->maps.dir, strerror(errno));
		return STEER_ESYS;
	}
	if (!worker_find(&d->maps, MAINTENANCE_WORKER, &id, NULL, err) &&
	    (ret = worker_del(&d->maps, MAINTENANCE_WORKER, err)))
		goto out;
	ret = STEER_OK;
	if (!d->maint_open)
		goto out;
	if ((ret = listener_take_by_fd((uint32_t)getpid(), (uint32_t)d->maint.fd,
				       d->maps.netns_ino, &l, err)))
		goto out;
	ret = worker_add(&d->maps, MAINTENANCE_POOL, MAINTENANCE_WORKER, &l, &params, err);
out:
	steer_maps_unlock(&d->maps);
	return ret;
}

/* maintenance listen, status, retry_after, body. A new address is
 * listened on before the old responder closes; a new answer is swapped in. */
static int apply_maintenance_setting(struct daemon *d)
{
	const struct conf_maintenance *mc = &d->conf.maintenance;
	struct maintenance fresh, old;
	char err[STEER_ERR_LEN];

	if (!mc->enabled && d->maint_open) {
		maintenance_close(&d->maint);
		d->maint_open = d->maint_watched = false;
		if (replace_maintenance_worker(d, err))
			log_warn("maintenance worker: %s", err);
		log_info("maintenance responder stopped");
		return 0;
	}
	if (!mc->enabled || !d->maint_open)
		return 0;	/* opening it is daemon_apply's, which says why it could not */
	if (netaddr_endpoint_equal(&d->maint.listen, &mc->listen)) {
		fresh = (struct maintenance){ .fd = -1 };
		if (maintenance_set_response(&fresh, mc->status, mc->retry_after, mc->body, err)) {
			log_err("not applied: maintenance answer: %s", err);
			return -1;
		}
		if (fresh.len == d->maint.len && !memcmp(fresh.response, d->maint.response, fresh.len)) {
			free(fresh.response);
			return 0;
		}
		free(d->maint.response);
		d->maint.response = fresh.response;
		d->maint.len = fresh.len;
		log_info("maintenance answer changed");
		return 0;
	}
	if (maintenance_open(&fresh, &mc->listen, mc->status, mc->retry_after, mc->body, err)) {
		log_err("not applied: %s; the old maintenance responder stays", err);
		return -1;
	}
	old = d->maint;
	fresh.served = old.served;
	d->maint = fresh;
	d->maint_watched = false;
	watch_maintenance(d);
	if (replace_maintenance_worker(d, err)) {
		/* back to the old one, which still listens and is in epoll */
		log_err("not applied: maintenance worker: %s; the old responder stays", err);
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->maint.fd, NULL);
		maintenance_close(&d->maint);
		d->maint = old;
		d->maint_watched = true;
		replace_maintenance_worker(d, err);
		return -1;
	}
	maintenance_close(&old);
	log_info("maintenance responder moved");
	return 0;
}

/* Settings that live in steerd's own sockets, not in the maps. They are
 * compared with what runs (the bound addresses, the answer), not with the
 * previous file, so one that failed is tried again on the next reload.
 * Call after daemon_apply with its result: returns it, or STEER_ESYS with
 * err when a setting could not be applied (each failure is logged), so
 * that a reload never says "reloaded" then. */
static int apply_daemon_settings(struct daemon *d, int ret, char *err)
{
	int failed = 0;

	failed |= apply_metrics_setting(d);
	failed |= apply_report_setting(d);
	failed |= apply_maintenance_setting(d);
	if (ret || !failed)
		return ret;
	snprintf(err, STEER_ERR_LEN, "some daemon settings were not applied (see above)");
	return STEER_ESYS;
}

/* Reads the file again; status gets the STATUS= line that says how it went. */
static int reload(struct daemon *d, char *status, size_t len)
{
	struct steer_config fresh = {}, old;
	char err[STEER_ERR_LEN * 2], settings_err[STEER_ERR_LEN], what[128];
	int ret;

	if (config_load(d->conf_path, &fresh, err, sizeof(err))) {
		log_err("reload refused, running configuration kept: %s", err);
		snprintf(status, len, "reload failed: %s; keeping the last good file", err);
		exporter_config_loaded(d, true, false);
		return STEER_EINPUT;
	}
	old = d->conf;
	d->conf = fresh;
	if (daemon_rebuild_views(d)) {
		/* out of memory: keep running what we had */
		d->conf = old;
		config_free(&fresh);
		log_err("reload refused: out of memory");
		snprintf(status, len, "reload failed: out of memory; keeping the last good file");
		exporter_config_loaded(d, true, false);
		return STEER_ESYS;
	}
	config_free(&old);
	ret = daemon_reconcile(d, err);
	fleet_apply(d);		/* what it could not do it logs, and retries at each tick */
	describe(d, what, sizeof(what));
	if (apply_daemon_settings(d, STEER_OK, settings_err)) {
		/* a setting that did not take: never say "reloaded" */
		watch_maintenance(d);
		log_err("reload: %s", settings_err);
		snprintf(status, len, "reload incomplete: %s: %s", what, settings_err);
		exporter_config_loaded(d, true, false);
		return STEER_ESYS;
	}
	watch_maintenance(d);
	exporter_config_loaded(d, true, true);
	if (ret) {
		log_warn("reloaded %s; not converged yet: %s", d->conf_path, err);
		snprintf(status, len, "reloaded %s: %s; not converged yet: %s", d->conf_path, what,
			 err);
	} else {
		log_info("reloaded %s", d->conf_path);
		snprintf(status, len, "reloaded %s: %s", d->conf_path, what);
	}
	return ret;
}

static int on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			char status[STEER_ERR_LEN * 3];
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
			       (unsigned long long)ts.tv_sec * 1000000ull +
				       (unsigned long long)ts.tv_nsec / 1000, d->conf_path);
			reload(d, status, sizeof(status));
			one_line(status);
			notify("READY=1\nSTATUS=%s", status);
		} else {
			log_info("exiting on signal %u; steering stays attached", si.ssi_signo);
			return 1;
		}
	}
	return 0;
}

static void on_tick(struct daemon *d)
{
	uint64_t expirations, now = now_ms();
	bool sample = now >= d->next_sample_ms;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	daemon_check_maps(d);
	run_probes(d, now);
	if (sample) {
		char err[STEER_ERR_LEN];

		d->next_sample_ms = now + d->conf.interval_ms;
		daemon_reconcile(d, err);	/* problems are logged as they appear */
		watch_maintenance(d);
	}
	update_outliers(d, now);
	update_workers(d, now, sample);
	update_circuits(d, now);
	if (sample && d->metrics)
		render_metrics(d, now);
}

/* A check's event: dropped when stale (its worker was removed or moved by
 * a reload earlier in this batch, or its run ended). */
static void on_probe_event(struct daemon *d, uint64_t token, uint32_t revents)
{
	size_t slot = (size_t)(token >> 2) & ((1u << PROBE_TOKEN_SLOT_BITS) - 1);
	bool agent = token & PROBE_TOKEN_AGENT;
	uint64_t seq = token >> PROBE_TOKEN_SEQ_SHIFT;
	struct dworker *w;
	struct probe *pr;

	if (slot >= d->nworkers)
		return;
	w = &d->workers[slot];
	pr = agent ? &w->live.agent : &w->live.check;
	if (!pr->run || pr->seq != seq)
		return;
	step_probe(d, w, pr, agent, revents, now_ms());
}

static int event_loop(struct daemon *d)
{
	struct epoll_event evs[64];

	for (;;) {
		int n;

		rconn_reap();	/* no event of a batch points at what it closed */
		n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return STEER_ESYS;
		for (int i = 0; i < n; i++) {
			struct source *src = evs[i].data.ptr;

			if (evs[i].data.u64 & 1) {
				on_probe_event(d, evs[i].data.u64, evs[i].events);
				continue;
			}
			switch (src->kind) {
			case SRC_SIGNAL:
				if (on_signal(d))
					return STEER_OK;
				break;
			case SRC_TIMER:
				on_tick(d);
				break;
			case SRC_REPORT:
				read_reports(d);
				break;
			case SRC_MAINTENANCE:
				maintenance_serve(&d->maint);
				break;
			case SRC_WATCHDOG:
				on_watchdog(d);
				break;
			case SRC_REDIS:
			case SRC_REDIS_TIMER:
				rconn_on_event(src, evs[i].events);
				break;
			case SRC_FLEET_TIMER:
				fleet_on_timer(d);
				break;
			case SRC_BUDGET_WAKE:
				wake_on_event(d);
				break;
			case SRC_CHECK:
			case SRC_AGENT:
				break;	/* checks come by token */
			}
		}
	}
}

/* Before any thread exists (the metrics server's), so that every thread
 * has them blocked and they all arrive through the signalfd. */
static void block_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigprocmask(SIG_BLOCK, mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int setup_events(struct daemon *d, char *err)
{
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L },
				  .it_value = { 0, TICK_MS * 1000000L } };
	sigset_t mask;

	block_signals(&mask);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->epfd < 0 || d->sigfd < 0 || d->timerfd < 0 ||
	    timerfd_settime(d->timerfd, 0, &its, NULL)) {
		snprintf(err, STEER_ERR_LEN, "cannot set up the event loop: %s", strerror(errno));
		return STEER_ESYS;
	}
	d->sig_src.kind = SRC_SIGNAL;
	d->timer_src.kind = SRC_TIMER;
	d->report_src.kind = SRC_REPORT;
	d->maint_src.kind = SRC_MAINTENANCE;
	watch(d, d->sigfd, EPOLLIN, &d->sig_src, EPOLL_CTL_ADD);
	watch(d, d->timerfd, EPOLLIN, &d->timer_src, EPOLL_CTL_ADD);
	watch(d, d->report_fd, EPOLLIN, &d->report_src, EPOLL_CTL_ADD);
	watch_maintenance(d);
	return setup_watchdog(d, err);
}

static int start_metrics(struct daemon *d, char *err)
{
	d->metrics = NULL;
	if (!d->conf.has_metrics)
		return STEER_OK;
	d->metrics = metrics_start_on(&d->conf.metrics, err);
	return d->metrics ? STEER_OK : STEER_ESYS;
}

/* One steerd per pin dir: two with different files would undo each
 * other's passes forever. An flock on the bpffs root, held for life (the
 * fd is never closed; the kernel drops the lock when steerd dies). */
static int claim_pins(const struct steer_paths *p, char *err)
{
	int fd = open(p->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, STEER_ERR_LEN, "cannot open %s: %s", p->root, strerror(errno));
		return STEER_ESYS;
	}
	/* a steerd just killed lets go as it exits: give it 2 s */
	for (int i = 0; i < 40 && flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK; i++)
		usleep(50 * 1000);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		snprintf(err, STEER_ERR_LEN, "another steerd already runs on %s (%s)", p->dir,
			 errno == EWOULDBLOCK ? "it holds the lock on its bpffs root" : strerror(errno));
		close(fd);
		return STEER_ESYS;
	}
	return STEER_OK;
}

/* --check: the file is valid (and, with -j, what it asks for) */
static int check_file(struct daemon *d, bool json)
{
	if (json)
		daemon_print_desired(&d->conf, stdout);
	else
		printf("%s: valid\n", d->conf_path);
	config_free(&d->conf);
	return 0;
}

/* where steer is, or is to be loaded when it is not yet */
struct attach_at {
	const char *bpffs, *netns, *cgroup;
};

/* Load steer if it is not, claim its pins, open the maps, take the first
 * pass and open every event source. */
static int daemon_start(struct daemon *d, const struct attach_at *at, char *err)
{
	bool loaded;
	int ret;

	state_set_owner(STEER_OWNER_STEERD);
	resource_policy_default(&d->res_policy);
	block_signals(&(sigset_t){ 0 });
	if ((ret = steer_paths_init(&d->paths, at->bpffs, err)))
		return ret;
	if (!steer_is_loaded(&d->paths)) {
		if ((ret = steer_ensure_loaded(&d->paths, at->netns, at->cgroup, &loaded, err)))
			return ret;
		if (loaded)
			log_info("loaded steer at %s", d->paths.dir);
	}
	if ((ret = claim_pins(&d->paths, err)) || (ret = steer_maps_open(&d->paths, &d->maps, err)))
		return ret;
	steer_maps_unlock(&d->maps);
	if (daemon_rebuild_views(d)) {
		snprintf(err, STEER_ERR_LEN, "out of memory");
		return STEER_ESYS;
	}
	exporter_config_loaded(d, false, true);
	/* a problem of the first pass (a worker not listening yet, a name an
	 * operator's object holds) is logged and retried every interval */
	if (daemon_reconcile(d, err))
		log_warn("not converged yet: %s", err);
	if ((ret = open_report_socket(d, err)) || (ret = start_metrics(d, err)) ||
	    (ret = setup_events(d, err)))
		return ret;
	fleet_apply(d);		/* needs the loop: its connections and timer are in it */
	return STEER_OK;
}

static void daemon_stop(struct daemon *d)
{
	fleet_stop(d);		/* unspent leases back to Redis, before the maps close */
	metrics_server_stop(d->metrics);
	if (d->maint_open)
		maintenance_close(&d->maint);
	unlink(d->conf.socket_path);
	daemon_free_views(d);
	config_free(&d->conf);
	steer_maps_close(&d->maps);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: steerd [-c FILE] [--check [-j]] [--bpffs DIR] [--netns PATH] [--cgroup PATH]\n"
		   "              [-v|--verbose] | -V|--version\n"
		   "  -c, --config FILE  configuration (default %s)\n"
		   "      --check        validate the file and exit: 0 valid, 2 not\n"
		   "  -j, --json         with --check: print the file's desired state as JSON\n"
		   "      --bpffs DIR    bpffs root of the pins (default $STEER_BPFFS or /sys/fs/bpf)\n"
		   "      --netns, --cgroup  where to attach when steer is not loaded yet\n",
		STEER_CONF_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "bpffs", required_argument, NULL, 'b' },
		{ "netns", required_argument, NULL, 'n' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct attach_at where = { 0 };
	struct daemon d = { .conf_path = STEER_CONF_PATH, .report_fd = -1, .epfd = -1,
			    .watchdog_fd = -1, .fleet_timerfd = -1 };
	char err[STEER_ERR_LEN * 2], status[128];
	bool check_only = false, json = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:vjhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.conf_path = optarg; break;
		case 'k': check_only = true; break;
		case 'b': where.bpffs = optarg; break;
		case 'n': where.netns = optarg; break;
		case 'g': where.cgroup = optarg; break;
		case 'v': log_set_level(STEER_LOG_DEBUG); break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("steerd %s\n", STEER_VERSION); return 0;
		default: usage(stderr); return STEER_EINPUT;
		}
	}
	if (optind < argc) {
		snprintf(err, sizeof(err), "unexpected argument '%s'", argv[optind]);
		errfmt_print(stderr, "Error: ", err);
		return STEER_EINPUT;
	}
	if (config_load(d.conf_path, &d.conf, err, sizeof(err))) {
		errfmt_print(stderr, "Error: ", err);
		return STEER_EINPUT;
	}
	if (json && !check_only) {
		fprintf(stderr, "Error: -j goes with --check\n");
		config_free(&d.conf);
		return STEER_EINPUT;
	}
	if (check_only)
		return check_file(&d, json);
	ret = daemon_start(&d, &where, err);
	if (ret) {
		log_err("%s", err);
		one_line(err);
		notify("STATUS=failed: %s", err);
		daemon_free_views(&d);	/* what a start that failed midway holds */
		config_free(&d.conf);
		return ret;
	}
	describe(&d, status, sizeof(status));
	log_info("running: %zu pools, %zu workers", d.npools, d.nworkers);
	notify("READY=1\nSTATUS=running %s: %s", d.conf_path, status);
	ret = event_loop(&d);
	notify("STOPPING=1\nSTATUS=stopping; steering stays attached");
	daemon_stop(&d);
	return ret;
}
