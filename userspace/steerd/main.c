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
#include <stdio.h>
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
#include <unistd.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "errfmt.h"
#include "log.h"
#include "state.h"

#define TICK_MS 50		/* check timeouts and starts are this precise */

/* ---- sd_notify: the protocol is a datagram to $NOTIFY_SOCKET ---------- */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
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

/* ---- event sources ---------------------------------------------------- */
static int watch(struct daemon *d, int fd, uint32_t events, struct source *src, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(d->epfd, op, fd, &ev);
}

/* A check's fd, by token (daemon.h): never a pointer a reload may free. */
static int watch_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
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

static struct dpool *pool_named(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->npools; i++)
		if (!strcmp(d->pools[i].name, name))
			return &d->pools[i];
	return NULL;
}

/* "WORKER ok N errors M": what the application saw, for the circuit. */
static void read_reports(struct daemon *d)
{
	char buf[256], name[STEER_NAME_LEN];
	unsigned long long ok, errors;
	struct dworker *w;
	struct dpool *p;
	ssize_t n;

	while ((n = recv(d->report_fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%31s ok %llu errors %llu", name, &ok, &errors) != 3 ||
		    !(w = worker_named(d, name)) || !(p = pool_named(d, w->pool))) {
			log_warn("report ignored: '%.*s'", (int)strcspn(buf, "\n"), buf);
			continue;
		}
		circuit_record(&p->live.circuit, now_ms(), ok, errors);
		circuit_record(&w->live.outlier, now_ms(), ok, errors);
		p->live.reports_ok += ok;
		p->live.reports_err += errors;
	}
}

/* ---- health checks ---------------------------------------------------- */
static void probe_addr(const struct dworker *w, uint16_t port, struct check_spec *spec)
{
	const struct steer_endpoint *ep = &w->conf.addr;

	memset(&spec->addr, 0, sizeof(spec->addr));
	if (ep->family == STEER_FAMILY_V4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&spec->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, ep->addr + 12, 4);
		spec->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&spec->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		spec->addrlen = sizeof(*sin6);
	}
}

static void start_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
			uint64_t now)
{
	struct check_spec spec = {};
	uint32_t events;

	if (agent) {
		spec.type = CHECK_AGENT;
		spec.timeout_ms = w->conf.agent.timeout_ms;
		probe_addr(w, w->conf.agent.port, &spec);
		pr->next_ms = now + w->conf.agent.interval_ms;
	} else {
		spec.type = w->conf.check.type == CONF_CHECK_HTTP ? CHECK_HTTP : CHECK_TCP;
		spec.timeout_ms = w->conf.check.timeout_ms;
		snprintf(spec.path, sizeof(spec.path), "%s", w->conf.check.path);
		spec.expect_status = w->conf.check.expect;
		probe_addr(w, w->conf.check.port, &spec);
		pr->next_ms = now + w->conf.check.interval_ms;
	}
	pr->run = check_start(&spec, now, &pr->fd, &events);
	if (!pr->run) {
		log_warn("worker %s: cannot start a check: %s", w->name, strerror(errno));
		return;
	}
	pr->seq = ++d->probe_seq;
	if (watch_probe(d, w, pr, agent, events, EPOLL_CTL_ADD)) {
		check_free(pr->run);
		pr->run = NULL;
		pr->seq = 0;
	}
}

/* A worker fails its checks while it is down or its last check failed. */
static bool failing_checks(const struct dworker *w)
{
	return !w->live.track.up || w->live.track.fail_streak > 0;
}

/* How many of pool's checked workers fail their checks now. */
static size_t pool_check_failures(const struct daemon *d, const char *pool, size_t *checked)
{
	size_t failing = 0;

	*checked = 0;
	for (size_t i = 0; i < d->nworkers; i++) {
		const struct dworker *w = &d->workers[i];

		if (!w->live.present || !w->conf.check.enabled || strcmp(w->pool, pool))
			continue;
		(*checked)++;
		failing += failing_checks(w);
	}
	return failing;
}

/* A worker's failed checks take that worker down (fall); they reach its
 * pool's circuit only when most of the pool fails its checks (see
 * circuit_checks_pool_wide). */
static void check_done(struct daemon *d, struct dworker *w, const struct check_result *res,
		       uint64_t now)
{
	struct dpool *p = pool_named(d, w->pool);
	size_t failing, checked;

	if (health_track_update(&w->live.track, res->ok, now)) {
		if (w->live.track.up)
			log_info("worker %s is up (%s)", w->name, res->detail);
		else
			log_warn("worker %s is down (%s)", w->name, res->detail);
	}
	snprintf(w->live.last_detail, sizeof(w->live.last_detail), "%s", res->detail);
	if (!p)
		return;
	failing = pool_check_failures(d, w->pool, &checked);
	circuit_record_check(&p->live.circuit, now, res->ok, failing, checked);
}

static void agent_done(struct dworker *w, const struct check_result *res)
{
	/* an agent that does not answer changes nothing, as in HAProxy */
	if (res->agent_state == AGENT_NONE && !res->ok && res->agent_weight_pct < 0)
		return;
	if (res->agent_state != AGENT_NONE && res->agent_state != w->live.agent_state)
		log_info("worker %s: agent says %s", w->name, agent_state_name(res->agent_state));
	if (res->agent_state != AGENT_NONE)
		w->live.agent_state = res->agent_state;
	if (res->agent_weight_pct >= 0)
		w->live.agent_pct = res->agent_weight_pct;
}

/* Step one probe; finish it when it is done. */
static void step_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
		       uint32_t revents, uint64_t now)
{
	struct check_result res;
	uint32_t events = 0;

	if (!pr->run)
		return;
	if (!check_step(pr->run, revents, now, &res, &events)) {
		watch_probe(d, w, pr, agent, events, EPOLL_CTL_MOD);
		return;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, pr->fd, NULL);
	check_free(pr->run);
	pr->run = NULL;
	pr->seq = 0;
	if (agent) {
		agent_done(w, &res);
		return;
	}
	/* a restarted worker: its new listener goes into the map before the
	 * checks that bring it up are counted */
	if (res.ok && !w->live.track.up)
		daemon_retake_worker(d, w);
	check_done(d, w, &res, now);
}

static void run_probes(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];

		if (!w->live.present)
			continue;
		step_probe(d, w, &w->live.check, false, 0, now);
		step_probe(d, w, &w->live.agent, true, 0, now);
		if (w->conf.check.enabled && !w->live.check.run && now >= w->live.check.next_ms)
			start_probe(d, w, &w->live.check, false, now);
		if (w->conf.agent.enabled && !w->live.agent.run && now >= w->live.agent.next_ms)
			start_probe(d, w, &w->live.agent, true, now);
	}
}

/* ---- health factor ---------------------------------------------------- */
static bool agent_blocks(enum agent_state s)
{
	return s == AGENT_DOWN || s == AGENT_DRAIN || s == AGENT_MAINT || s == AGENT_FAIL ||
	       s == AGENT_STOPPED;
}

/* health = slow start x agent weight x resource factor, or 0 when a check,
 * the agent or a resource limit says no new connections. */
static uint32_t compute_health(const struct dworker *w, uint64_t now)
{
	uint64_t h = STEER_HEALTH_FULL;

	if (w->conf.check.enabled) {
		if (!w->live.track.up)
			return 0;
		h = health_slowstart_permille(&w->live.track, now, w->conf.check.slowstart_s * 1000);
	}
	if (agent_blocks(w->live.agent_state) || w->live.outlier.state == STEER_CIRCUIT_OPEN)
		return 0;
	if (w->live.agent_pct >= 0)
		h = h * (uint64_t)(w->live.agent_pct > 100 ? 100 : w->live.agent_pct) / 100;
	h = h * w->live.res_factor / STEER_HEALTH_FULL;
	return (uint32_t)h;
}

static void sample_resources(struct daemon *d, struct dworker *w)
{
	struct resource_sample s;
	char err[STEER_ERR_LEN];
	uint32_t f;

	if (!w->conf.resources || w->live.pid <= 0)
		return;
	if (resource_sample(w->live.pid, &s, err, sizeof(err))) {
		log_debug("worker %s: %s", w->name, err);
		return;
	}
	f = resource_factor(&w->live.res, &s, &d->res_policy);
	log_debug("worker %s: pid %d fds %u/%u mem %llu/%llu cpu_usec %llu%s -> %u", w->name,
		  (int)w->live.pid, s.fds, s.fd_limit, (unsigned long long)s.mem_bytes,
		  (unsigned long long)s.mem_limit, (unsigned long long)s.cpu_usec,
		  s.from_cgroup ? " (cgroup)" : "", f);
	if (f != w->live.res_factor)
		log_info("worker %s: resource factor %u", w->name, f);
	w->live.res_factor = f;
}

/* Connection outcomes since the last interval, for the pool's circuit:
 * a connection that ended in a reset is an error. */
static void count_outcomes(struct daemon *d, struct dworker *w, uint64_t now)
{
	struct steer_worker_stats st;
	struct dpool *p = pool_named(d, w->pool);
	uint64_t closed, aborted;

	if (!p || worker_stats_read(&d->maps, w->live.id, &st))
		return;
	if (!w->live.counted) {		/* the first reading is the baseline */
		w->live.counted = true;
		w->live.closed = st.steered_closed;
		w->live.aborted = st.steered_aborted;
		return;
	}
	closed = st.steered_closed - w->live.closed;
	aborted = st.steered_aborted - w->live.aborted;
	if (closed > 1u << 30 || aborted > closed)
		closed = aborted = 0;	/* the slot was reused: start over */
	w->live.closed = st.steered_closed;
	w->live.aborted = st.steered_aborted;
	if (closed) {
		circuit_record(&p->live.circuit, now, closed - aborted, aborted);
		circuit_record(&w->live.outlier, now, closed - aborted, aborted);
	}
}

static void update_workers(struct daemon *d, uint64_t now, bool sample)
{
	char err[STEER_ERR_LEN];

	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];
		uint32_t h;

		if (!w->live.present)
			continue;
		if (sample) {
			sample_resources(d, w);
			count_outcomes(d, w, now);
		}
		h = compute_health(w, now);
		if (h == w->live.health)
			continue;
		if (steer_maps_lock(&d->maps))
			continue;
		if (worker_set_health(&d->maps, w->live.id, w->name, h, err)) {
			log_warn("worker %s: %s", w->name, err);
			w->live.present = false;	/* deleted by an operator: look again */
		} else {
			w->live.health = h;
		}
		steer_maps_unlock(&d->maps);
	}
}

/* Workers of pool that are ejected now. */
static size_t ejected_in(const struct daemon *d, const char *pool, size_t *members)
{
	size_t n = 0;

	*members = 0;
	for (size_t i = 0; i < d->nworkers; i++) {
		if (strcmp(d->workers[i].pool, pool))
			continue;
		(*members)++;
		n += d->workers[i].live.outlier.state == STEER_CIRCUIT_OPEN;
	}
	return n;
}

/* Outlier ejection: a worker whose own error rate crosses its pool's
 * threshold gets no new connections for the cool-down, then is tried
 * again. At most eject_max of a pool is ejected at once, and never all of
 * it: the pool's circuit is the tool for a pool that fails as a whole. */
static void update_outliers(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];
		struct dpool *p = pool_named(d, w->pool);
		struct circuit before = w->live.outlier;
		size_t members, ejected, cap;

		if (!p || !circuit_tick(&w->live.outlier, now))
			continue;
		if (w->live.outlier.state == STEER_CIRCUIT_OPEN && before.state == STEER_CIRCUIT_CLOSED) {
			ejected = ejected_in(d, w->pool, &members) - 1;
			cap = (size_t)(p->eject_max * (double)members);
			if (cap >= members)
				cap = members - 1;
			if (ejected >= cap) {
				w->live.outlier = before;	/* over the cap: stays in */
				continue;
			}
			log_warn("worker %s ejected as an outlier", w->name);
		} else if (w->live.outlier.state == STEER_CIRCUIT_HALF_OPEN) {
			/* back in after the cool-down, judged afresh on what follows */
			w->live.outlier.state = STEER_CIRCUIT_CLOSED;
			log_info("worker %s back from ejection", w->name);
		}
	}
}

static void update_circuits(struct daemon *d, uint64_t now)
{
	char err[STEER_ERR_LEN];

	for (size_t i = 0; i < d->npools; i++) {
		struct dpool *p = &d->pools[i];
		uint64_t total;
		double rate = circuit_error_rate(&p->live.circuit, now, &total);

		if (!circuit_tick(&p->live.circuit, now))
			continue;
		log_warn("pool %s: circuit %s (error rate %.1f%% of %llu)", p->name,
			 circuit_name(p->live.circuit.state), rate * 100, (unsigned long long)total);
		if (steer_maps_lock(&d->maps))
			continue;
		if (pool_set_circuit(&d->maps, p->name, p->live.circuit.state, CIRCUIT_BY_DAEMON,
				     p->live.circuit.p.half_open_probes, err))
			log_warn("pool %s: %s", p->name, err);
		steer_maps_unlock(&d->maps);
	}
}

/* ---- metrics ---------------------------------------------------------- */

/* What the metrics show of one worker of the maps (every worker, steerd's
 * or an operator's), read once per render. */
struct worker_view {
	uint32_t id;
	struct steer_worker cfg;
	struct steer_worker_stats st;
	bool stats_ok;
	bool alive;			/* its listener is in the SOCKMAP */
	const struct dworker *dw;	/* steerd's view; NULL: not in the file */
	const char *pool;
};

/* What the metrics show of one pool of the maps. */
struct pool_view {
	uint32_t id;
	char name[STEER_NAME_LEN];
	uint32_t circuit;		/* the kernel's: forced or steerd's */
	bool stats_ok, budget_ok;
	struct steer_pool_stats st;
	struct steer_pool_budget bud;
	const struct dpool *dp;		/* NULL: steerd does not judge it */
};

enum worker_metric { WM_OUTSTANDING, WM_STEERED, WM_RESETS, WM_HEALTH, WM_WEIGHT, WM_UP };
enum pool_metric { PM_CIRCUIT, PM_ERRORS, PM_QUOTA, PM_SPILLED };

static const struct metric_family {
	const char *name, *type, *help;
} worker_families[] = {
	[WM_OUTSTANDING] = { "steer_worker_outstanding", "gauge", "Open connections of the worker." },
	[WM_STEERED] = { "steer_worker_steered_total", "counter",
			 "Connections established through a service address." },
	[WM_RESETS] = { "steer_worker_resets_total", "counter",
			"Connections that ended in a reset, from either side." },
	[WM_HEALTH] = { "steer_worker_health_factor", "gauge", "Health factor set by steerd, 0 to 1." },
	[WM_WEIGHT] = { "steer_worker_effective_weight", "gauge", "Admin weight times health factor." },
	[WM_UP] = { "steer_worker_up", "gauge",
		    "1 when the worker's listener is open and its checks (if any) pass." },
}, pool_families[] = {
	[PM_CIRCUIT] = { "steer_pool_circuit_state", "gauge",
			 "Circuit breaker: 0 closed, 1 open, 2 half-open." },
	[PM_ERRORS] = { "steer_pool_error_ratio", "gauge",
			"Errors over outcomes in the circuit window (pools steerd judges)." },
	[PM_QUOTA] = { "steer_pool_quota_left", "gauge",
		       "Admissions left in the pool's quota (absent: no quota)." },
	[PM_SPILLED] = { "steer_pool_spilled_total", "counter",
			 "Connections sent to the fallback because quota or rate ran out." },
};

/* false: the worker has no such sample now */
static bool worker_metric(const struct worker_view *v, enum worker_metric m, double *value)
{
	switch (m) {
	case WM_OUTSTANDING: *value = (double)v->st.outstanding; return v->stats_ok;
	case WM_STEERED: *value = (double)v->st.steered; return v->stats_ok;
	case WM_RESETS: *value = (double)v->st.aborted; return v->stats_ok;
	case WM_HEALTH: *value = v->cfg.health / 1000.0; return true;
	case WM_WEIGHT: *value = v->cfg.weight * (v->cfg.health / 1000.0); return true;
	case WM_UP:
		*value = v->alive && !(v->stats_ok && v->st.gone) &&
			 (!v->dw || (v->dw->live.present && v->dw->live.track.up));
		return true;
	}
	return false;
}

static bool pool_metric(const struct pool_view *v, uint64_t now, enum pool_metric m,
			double *value)
{
	uint64_t total;

	switch (m) {
	case PM_CIRCUIT: *value = v->circuit; return true;
	case PM_ERRORS:
		if (!v->dp)
			return false;
		*value = circuit_error_rate(&v->dp->live.circuit, now, &total);
		return true;
	case PM_QUOTA:
		*value = (double)(v->bud.quota_left > 0 ? v->bud.quota_left : 0);
		return v->budget_ok && v->bud.quota_on;
	case PM_SPILLED: *value = (double)v->st.spilled; return v->stats_ok;
	}
	return false;
}

static const struct dworker *dworker_of(const struct daemon *d, uint32_t id, const char *name)
{
	for (size_t i = 0; i < d->nworkers; i++)
		if (d->workers[i].live.present && d->workers[i].live.id == id &&
		    !strcmp(d->workers[i].name, name))
			return &d->workers[i];
	return NULL;
}

/* Every pool in the maps, with the kernel's circuit state. */
static size_t read_pool_views(struct daemon *d, struct pool_view *pv)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	size_t n = 0;

	for (uint32_t id = 0; p && id < STEER_MAX_POOLS; id++) {
		struct pool_view *v = &pv[n];

		if (bpf_map_lookup_elem(d->maps.fd[MAP_POOLS], &id, p) || !p->in_use)
			continue;
		memset(v, 0, sizeof(*v));
		v->id = id;
		snprintf(v->name, sizeof(v->name), "%s", p->name);
		v->circuit = p->circuit;
		v->stats_ok = !bpf_map_lookup_elem(d->maps.fd[MAP_POOL_STATS], &id, &v->st);
		v->budget_ok = !pool_budget_read(&d->maps, id, &v->bud);
		for (size_t k = 0; k < d->npools; k++)
			if (d->pools[k].live.id == id && !strcmp(d->pools[k].name, v->name))
				v->dp = &d->pools[k];
		n++;
	}
	free(p);
	return n;
}

/* Every worker in the maps. */
static size_t read_worker_views(struct daemon *d, struct worker_view *wv,
				const struct pool_view *pv, size_t npv)
{
	size_t n = 0;
	uint64_t cookie;

	for (uint32_t id = 0; id < STEER_MAX_WORKERS; id++) {
		struct worker_view *v = &wv[n];

		if (bpf_map_lookup_elem(d->maps.fd[MAP_WORKERS], &id, &v->cfg) || !v->cfg.in_use)
			continue;
		v->id = id;
		v->stats_ok = !worker_stats_read(&d->maps, id, &v->st);
		v->alive = !bpf_map_lookup_elem(d->maps.fd[MAP_WORKER_SOCKS], &id, &cookie);
		v->dw = dworker_of(d, id, v->cfg.name);
		v->pool = "";
		for (size_t k = 0; k < npv; k++)
			if (pv[k].id == v->cfg.pool_id)
				v->pool = pv[k].name;
		n++;
	}
	return n;
}

static void render_metrics(struct daemon *d, uint64_t now)
{
	struct worker_view *wv = calloc(STEER_MAX_WORKERS, sizeof(*wv));
	struct pool_view *pv = calloc(STEER_MAX_POOLS, sizeof(*pv));
	struct metrics_service *sv = calloc(STEER_MAX_SERVICES, sizeof(*sv));
	struct metrics_buf *b = metrics_buf_new();
	size_t nw, np;
	const char *text;
	double value;
	size_t len;

	if (!b || !wv || !pv || !sv)
		goto cleanup;
	np = read_pool_views(d, pv);
	nw = read_worker_views(d, wv, pv, np);
	for (size_t m = 0; m < sizeof(worker_families) / sizeof(worker_families[0]); m++) {
		const struct metric_family *f = &worker_families[m];

		metrics_family(b, f->name, f->type, f->help);
		for (size_t i = 0; i < nw; i++)
			if (worker_metric(&wv[i], m, &value))
				metrics_sample(b, f->name, value, "worker", wv[i].cfg.name, "pool",
					       wv[i].pool, NULL);
	}
	for (size_t m = 0; m < sizeof(pool_families) / sizeof(pool_families[0]); m++) {
		const struct metric_family *f = &pool_families[m];

		metrics_family(b, f->name, f->type, f->help);
		for (size_t i = 0; i < np; i++)
			if (pool_metric(&pv[i], now, m, &value))
				metrics_sample(b, f->name, value, "pool", pv[i].name, NULL);
	}
	metrics_services(b, sv, metrics_read_services(&d->maps, sv));
	metrics_family(b, "steer_maintenance_served_total", "counter",
		       "Connections answered by the maintenance responder.");
	metrics_sample(b, "steer_maintenance_served_total", (double)d->maint.served, NULL);
	text = metrics_buf_text(b, &len);
	if (text)
		metrics_server_publish(d->metrics, text, len);
	else
		log_warn("metrics not published: %s", metrics_buf_error(b));
cleanup:
	metrics_buf_free(b);
	free(wv);
	free(pv);
	free(sv);
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

static int reload(struct daemon *d)
{
	struct steer_config fresh = {}, old;
	char err[STEER_ERR_LEN * 2], settings_err[STEER_ERR_LEN];
	int ret;

	if (config_load(d->conf_path, &fresh, err, sizeof(err))) {
		log_err("reload refused, running configuration kept: %s", err);
		return STEER_EINPUT;
	}
	old = d->conf;
	d->conf = fresh;
	if (daemon_rebuild_views(d)) {
		/* out of memory: keep running what we had */
		d->conf = old;
		config_free(&fresh);
		log_err("reload refused: out of memory");
		return STEER_ESYS;
	}
	config_free(&old);
	ret = daemon_reconcile(d, err);
	if (apply_daemon_settings(d, STEER_OK, settings_err)) {
		/* a setting that did not take: never say "reloaded" */
		watch_maintenance(d);
		log_err("reload: %s", settings_err);
		return STEER_ESYS;
	}
	watch_maintenance(d);
	if (ret)
		log_warn("reloaded %s; not converged yet: %s", d->conf_path, err);
	else
		log_info("reloaded %s", d->conf_path);
	return ret;
}

static int on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			notify("RELOADING=1");
			reload(d);
			notify("READY=1");
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
		int n = epoll_wait(d->epfd, evs, 64, -1);

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
	return STEER_OK;
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

static void usage(FILE *f)
{
	fprintf(f, "Usage: steerd [-c FILE] [--check [-j]] [--bpffs DIR] [--netns PATH] [--cgroup PATH]\n"
		   "              [-v|--verbose]\n"
		   "  -c, --config FILE  configuration (default %s)\n"
		   "      --check        validate the file and exit: 0 valid, 2 not\n"
		   "  -j, --json         with --check: print the file's desired state as JSON\n"
		   "      --bpffs DIR    bpffs root of the pins (default $STEER_BPFFS or /sys/fs/bpf)\n"
		   "      --netns, --cgroup  where to attach when steer is not loaded yet\n",
		CONF_DEFAULT_PATH);
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
		{ NULL, 0, NULL, 0 },
	};
	const char *bpffs = NULL, *netns = NULL, *cgroup = NULL;
	struct daemon d = { .conf_path = CONF_DEFAULT_PATH, .report_fd = -1, .epfd = -1 };
	char err[STEER_ERR_LEN * 2];
	bool check_only = false, json = false;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "c:vjh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.conf_path = optarg; break;
		case 'k': check_only = true; break;
		case 'b': bpffs = optarg; break;
		case 'n': netns = optarg; break;
		case 'g': cgroup = optarg; break;
		case 'v': log_set_level(STEER_LOG_DEBUG); break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
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
	if (check_only) {
		if (json)
			daemon_print_desired(&d.conf, stdout);
		else
			printf("%s: valid\n", d.conf_path);
		config_free(&d.conf);
		return 0;
	}
	state_set_owner(STEER_OWNER_STEERD);
	resource_policy_default(&d.res_policy);
	block_signals(&(sigset_t){ 0 });
	ret = steer_paths_init(&d.paths, bpffs, err);
	if (!ret && !steer_is_loaded(&d.paths)) {
		bool loaded;

		ret = steer_ensure_loaded(&d.paths, netns, cgroup, &loaded, err);
		if (!ret && loaded)
			log_info("loaded steer at %s", d.paths.dir);
	}
	if (!ret)
		ret = claim_pins(&d.paths, err);
	if (!ret && !(ret = steer_maps_open(&d.paths, &d.maps, err)))
		steer_maps_unlock(&d.maps);
	if (!ret && daemon_rebuild_views(&d)) {
		snprintf(err, sizeof(err), "out of memory");
		ret = STEER_ESYS;
	}
	/* a problem of the first pass (a worker not listening yet, a name an
	 * operator's object holds) is logged and retried every interval */
	if (!ret && daemon_reconcile(&d, err))
		log_warn("not converged yet: %s", err);
	if (!ret)
		ret = open_report_socket(&d, err);
	if (!ret)
		ret = start_metrics(&d, err);
	if (!ret)
		ret = setup_events(&d, err);
	if (ret) {
		log_err("%s", err);
		return ret;
	}
	log_info("running: %zu pools, %zu workers", d.npools, d.nworkers);
	notify("READY=1");
	ret = event_loop(&d);
	notify("STOPPING=1");
	metrics_server_stop(d.metrics);
	if (d.maint_open)
		maintenance_close(&d.maint);
	unlink(d.conf.socket_path);
	daemon_free_views(&d);
	config_free(&d.conf);
	steer_maps_close(&d.maps);
	return ret;
}
