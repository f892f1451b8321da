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
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "daemon.h"
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

	ev.data.u64 = 1 | (agent ? PROBE_TOKEN_AGENT : 0) | ((uint64_t)(w - d->workers) << 2) |
		      (pr->seq << PROBE_TOKEN_SEQ_SHIFT);
	pr->events = events;
	return epoll_ctl(d->epfd, op, pr->fd, &ev);
}

static int open_report_socket(struct daemon *d, char *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = d->conf.socket_path;
	char dir[sizeof(sun.sun_path)], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	d->report_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(path);
	if (d->report_fd < 0 || bind(d->report_fd, (struct sockaddr *)&sun, sizeof(sun))) {
		snprintf(err, STEER_ERR_LEN, "cannot bind the report socket %s: %s", path,
			 strerror(errno));
		return STEER_ESYS;
	}
	chmod(path, 0660);
	return STEER_OK;
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
		circuit_record(&p->circuit, now_ms(), ok, errors);
		circuit_record(&w->outlier, now_ms(), ok, errors);
		p->reports_ok += ok;
		p->reports_err += errors;
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

static void check_done(struct daemon *d, struct dworker *w, const struct check_result *res,
		       uint64_t now)
{
	struct dpool *p = pool_named(d, w->pool);

	/* A worker already down adds no more failures: one dead worker is
	 * the health check's business, a failing pool the circuit's. */
	if (p && w->track.up)
		circuit_record(&p->circuit, now, res->ok, !res->ok);
	if (health_track_update(&w->track, res->ok, now)) {
		if (w->track.up)
			log_info("worker %s is up (%s)", w->name, res->detail);
		else
			log_warn("worker %s is down (%s)", w->name, res->detail);
	}
	snprintf(w->last_detail, sizeof(w->last_detail), "%s", res->detail);
}

static void agent_done(struct dworker *w, const struct check_result *res)
{
	/* an agent that does not answer changes nothing, as in HAProxy */
	if (res->agent_state == AGENT_NONE && !res->ok && res->agent_weight_pct < 0)
		return;
	if (res->agent_state != AGENT_NONE && res->agent_state != w->agent_state)
		log_info("worker %s: agent says %s", w->name, agent_state_name(res->agent_state));
	if (res->agent_state != AGENT_NONE)
		w->agent_state = res->agent_state;
	if (res->agent_weight_pct >= 0)
		w->agent_pct = res->agent_weight_pct;
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
	if (res.ok && !w->track.up)
		daemon_retake_worker(d, w);
	check_done(d, w, &res, now);
}

static void run_probes(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];

		if (!w->present)
			continue;
		step_probe(d, w, &w->check, false, 0, now);
		step_probe(d, w, &w->agent, true, 0, now);
		if (w->conf.check.enabled && !w->check.run && now >= w->check.next_ms)
			start_probe(d, w, &w->check, false, now);
		if (w->conf.agent.enabled && !w->agent.run && now >= w->agent.next_ms)
			start_probe(d, w, &w->agent, true, now);
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
		if (!w->track.up)
			return 0;
		h = health_slowstart_permille(&w->track, now, w->conf.check.slowstart_s * 1000);
	}
	if (agent_blocks(w->agent_state) || w->outlier.state == STEER_CIRCUIT_OPEN)
		return 0;
	if (w->agent_pct >= 0)
		h = h * (uint64_t)(w->agent_pct > 100 ? 100 : w->agent_pct) / 100;
	h = h * w->res_factor / STEER_HEALTH_FULL;
	return (uint32_t)h;
}

static void sample_resources(struct daemon *d, struct dworker *w)
{
	struct resource_sample s;
	char err[STEER_ERR_LEN];
	uint32_t f;

	if (!w->conf.resources || w->pid <= 0)
		return;
	if (resource_sample(w->pid, &s, err, sizeof(err))) {
		log_debug("worker %s: %s", w->name, err);
		return;
	}
	f = resource_factor(&w->res, &s, &d->res_policy);
	log_debug("worker %s: pid %d fds %u/%u mem %llu/%llu cpu_usec %llu%s -> %u", w->name,
		  (int)w->pid, s.fds, s.fd_limit, (unsigned long long)s.mem_bytes,
		  (unsigned long long)s.mem_limit, (unsigned long long)s.cpu_usec,
		  s.from_cgroup ? " (cgroup)" : "", f);
	if (f != w->res_factor)
		log_info("worker %s: resource factor %u", w->name, f);
	w->res_factor = f;
}

/* Connection outcomes since the last interval, for the pool's circuit:
 * a connection that ended in a reset is an error. */
static void count_outcomes(struct daemon *d, struct dworker *w, uint64_t now)
{
	struct steer_worker_stats st;
	struct dpool *p = pool_named(d, w->pool);
	uint64_t closed, aborted;

	if (!p || worker_stats_read(&d->maps, w->id, &st))
		return;
	closed = st.steered_closed - w->closed;
	aborted = st.steered_aborted - w->aborted;
	if (closed > 1u << 30 || aborted > closed)
		closed = aborted = 0;	/* the slot was reused: start over */
	w->closed = st.steered_closed;
	w->aborted = st.steered_aborted;
	if (closed) {
		circuit_record(&p->circuit, now, closed - aborted, aborted);
		circuit_record(&w->outlier, now, closed - aborted, aborted);
	}
}

static void update_workers(struct daemon *d, uint64_t now, bool sample)
{
	char err[STEER_ERR_LEN];

	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];
		uint32_t h;

		if (!w->present)
			continue;
		if (sample) {
			sample_resources(d, w);
			count_outcomes(d, w, now);
		}
		h = compute_health(w, now);
		if (h == w->health)
			continue;
		if (steer_maps_lock(&d->maps))
			continue;
		if (worker_set_health(&d->maps, w->id, w->name, h, err)) {
			log_warn("worker %s: %s", w->name, err);
			w->present = false;	/* deleted by an operator: look again */
		} else {
			w->health = h;
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
		n += d->workers[i].outlier.state == STEER_CIRCUIT_OPEN;
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
		struct circuit before = w->outlier;
		size_t members, ejected, cap;

		if (!p || !circuit_tick(&w->outlier, now))
			continue;
		if (w->outlier.state == STEER_CIRCUIT_OPEN && before.state == STEER_CIRCUIT_CLOSED) {
			ejected = ejected_in(d, w->pool, &members) - 1;
			cap = (size_t)(p->eject_max * (double)members);
			if (cap >= members)
				cap = members - 1;
			if (ejected >= cap) {
				w->outlier = before;	/* over the cap: stays in */
				continue;
			}
			log_warn("worker %s ejected as an outlier", w->name);
		} else if (w->outlier.state == STEER_CIRCUIT_HALF_OPEN) {
			/* back in after the cool-down, judged afresh on what follows */
			w->outlier.state = STEER_CIRCUIT_CLOSED;
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
		double rate = circuit_error_rate(&p->circuit, now, &total);

		if (!circuit_tick(&p->circuit, now))
			continue;
		log_warn("pool %s: circuit %s (error rate %.1f%% of %llu)", p->name,
			 circuit_name(p->circuit.state), rate * 100, (unsigned long long)total);
		if (steer_maps_lock(&d->maps))
			continue;
		if (pool_set_circuit(&d->maps, p->name, p->circuit.state, CIRCUIT_BY_DAEMON,
				     p->circuit.p.half_open_probes, err))
			log_warn("pool %s: %s", p->name, err);
		steer_maps_unlock(&d->maps);
	}
}

/* ---- metrics ---------------------------------------------------------- */

/* What the metrics show of one worker, read once per render. */
struct worker_view {
	bool ok;
	struct steer_worker cfg;
	struct steer_worker_stats st;
};

/* What the metrics show of one pool. */
struct pool_view {
	bool ok;
	struct steer_pool_stats st;
	struct steer_pool_budget bud;
	double error_ratio;
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
	[WM_UP] = { "steer_worker_up", "gauge", "1 when the worker's checks pass." },
}, pool_families[] = {
	[PM_CIRCUIT] = { "steer_pool_circuit_state", "gauge",
			 "Circuit breaker: 0 closed, 1 open, 2 half-open." },
	[PM_ERRORS] = { "steer_pool_error_ratio", "gauge",
			"Errors over outcomes in the circuit window." },
	[PM_QUOTA] = { "steer_pool_quota_left", "gauge",
		       "Admissions left in the pool's quota (absent: no quota)." },
	[PM_SPILLED] = { "steer_pool_spilled_total", "counter",
			 "Connections sent to the fallback because quota or rate ran out." },
};

/* false: the worker has no such sample now */
static bool worker_metric(const struct dworker *w, const struct worker_view *v,
			  enum worker_metric m, double *value)
{
	switch (m) {
	case WM_OUTSTANDING: *value = (double)v->st.outstanding; return v->ok;
	case WM_STEERED: *value = (double)v->st.steered; return v->ok;
	case WM_RESETS: *value = (double)v->st.aborted; return v->ok;
	case WM_HEALTH: *value = w->health / 1000.0; return true;
	case WM_WEIGHT: *value = v->cfg.weight * (v->cfg.health / 1000.0); return v->ok;
	case WM_UP: *value = w->present && w->track.up; return true;
	}
	return false;
}

static bool pool_metric(const struct dpool *p, const struct pool_view *v, enum pool_metric m,
			double *value)
{
	switch (m) {
	case PM_CIRCUIT: *value = p->circuit.state; return true;
	case PM_ERRORS: *value = v->error_ratio; return true;
	case PM_QUOTA:
		*value = (double)(v->bud.quota_left > 0 ? v->bud.quota_left : 0);
		return v->ok && v->bud.quota_on;
	case PM_SPILLED: *value = (double)v->st.spilled; return v->ok;
	}
	return false;
}

static void render_metrics(struct daemon *d, uint64_t now)
{
	struct worker_view *wv = calloc(d->nworkers + 1, sizeof(*wv));
	struct pool_view *pv = calloc(d->npools + 1, sizeof(*pv));
	struct metrics_buf *b = metrics_buf_new();
	const char *text;
	double value;
	size_t len;

	if (!b || !wv || !pv)
		goto cleanup;
	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];

		wv[i].ok = w->present && !worker_stats_read(&d->maps, w->id, &wv[i].st) &&
			   !bpf_map_lookup_elem(d->maps.fd[MAP_WORKERS], &w->id, &wv[i].cfg);
	}
	for (size_t i = 0; i < d->npools; i++) {
		uint64_t total;

		pv[i].error_ratio = circuit_error_rate(&d->pools[i].circuit, now, &total);
		pv[i].ok = !bpf_map_lookup_elem(d->maps.fd[MAP_POOL_STATS], &d->pools[i].id, &pv[i].st) &&
			   !pool_budget_read(&d->maps, d->pools[i].id, &pv[i].bud);
	}
	for (size_t m = 0; m < sizeof(worker_families) / sizeof(worker_families[0]); m++) {
		const struct metric_family *f = &worker_families[m];

		metrics_family(b, f->name, f->type, f->help);
		for (size_t i = 0; i < d->nworkers; i++)
			if (worker_metric(&d->workers[i], &wv[i], m, &value))
				metrics_sample(b, f->name, value, "worker", d->workers[i].name, "pool",
					       d->workers[i].pool, NULL);
	}
	for (size_t m = 0; m < sizeof(pool_families) / sizeof(pool_families[0]); m++) {
		const struct metric_family *f = &pool_families[m];

		metrics_family(b, f->name, f->type, f->help);
		for (size_t i = 0; i < d->npools; i++)
			if (pool_metric(&d->pools[i], &pv[i], m, &value))
				metrics_sample(b, f->name, value, "pool", d->pools[i].name, NULL);
	}
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
}

/* ---- main loop -------------------------------------------------------- */
static void watch_maintenance(struct daemon *d)
{
	if (d->maint_open && !d->maint_watched &&
	    !watch(d, d->maint.fd, EPOLLIN, &d->maint_src, EPOLL_CTL_ADD))
		d->maint_watched = true;
}

static int reload(struct daemon *d)
{
	struct steer_config fresh = {}, old;
	char err[STEER_ERR_LEN * 2];
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
	pr = agent ? &w->agent : &w->check;
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
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(d->conf.metrics.port) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(d->conf.metrics.port) };

	if (!d->conf.has_metrics)
		return STEER_OK;
	if (d->conf.metrics.family == STEER_FAMILY_V4) {
		memcpy(&sin.sin_addr, d->conf.metrics.addr + 12, 4);
		d->metrics = metrics_server_start((struct sockaddr *)&sin, sizeof(sin), err,
						  STEER_ERR_LEN);
	} else {
		memcpy(&sin6.sin6_addr, d->conf.metrics.addr, 16);
		d->metrics = metrics_server_start((struct sockaddr *)&sin6, sizeof(sin6), err,
						  STEER_ERR_LEN);
	}
	return d->metrics ? STEER_OK : STEER_ESYS;
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
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return STEER_EINPUT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
		return STEER_EINPUT;
	}
	if (config_load(d.conf_path, &d.conf, err, sizeof(err))) {
		fprintf(stderr, "Error: %s\n", err);
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
		ret = steer_load(&d.paths, netns, cgroup, err);
		if (!ret)
			log_info("loaded steer at %s", d.paths.dir);
	}
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
	config_free(&d.conf);
	steer_maps_close(&d.maps);
	return ret;
}
