// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * monitor.c - what steerd learns of each worker and pool, every tick:
 * the health checks it runs (tcp, http, agent) and what they conclude,
 * the health factor (checks, resources, slow start), outlier ejection and
 * the pools' circuit breakers. The event loop (main.c) calls in here; the
 * results reach the kernel through reconcile.c and state.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "fleet_circuit.h"
#include "log.h"
#include "state.h"

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
			log_notice("worker %s is up (%s)", w->name, res->detail);
		else
			log_warn("worker %s is down (%s)", w->name, res->detail);
	}
	snprintf(w->live.last_detail, sizeof(w->live.last_detail), "%s", res->detail);
	w->live.check_done = true;
	w->live.check_us = res->elapsed_us;
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
void step_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
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

void run_probes(struct daemon *d, uint64_t now)
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

void update_workers(struct daemon *d, uint64_t now, bool sample)
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
void update_outliers(struct daemon *d, uint64_t now)
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
			log_notice("worker %s back from ejection", w->name);
		}
	}
}

/* A pool new to this steerd: a circuit an earlier one opened for the
 * fleet (then died) is ours to close; any other state stays as it was. */
static void read_kernel_circuit(struct daemon *d, struct dpool *p)
{
	struct steer_pool *kp = calloc(1, sizeof(*kp));
	char err[STEER_ERR_LEN];
	uint32_t id;

	if (!kp)
		return;
	p->live.kread = true;
	if (!pool_find(&d->maps, p->name, &id, kp, err) && kp->circuit_fleet) {
		p->live.kstate = kp->circuit;
		p->live.kfleet = true;
	}
	free(kp);
}

/* A circuit held open for the fleet that the kernel no longer has so (an
 * operator forced it, then handed it back with `circuit auto`): again. */
static bool fleet_open_lost(struct daemon *d, struct dpool *p, uint64_t now)
{
	struct steer_pool *kp;
	char err[STEER_ERR_LEN];
	bool lost = false;
	uint32_t id;

	if (now < p->live.kcheck_ms || !(kp = calloc(1, sizeof(*kp))))
		return false;
	p->live.kcheck_ms = now + d->conf.interval_ms;
	if (!pool_find(&d->maps, p->name, &id, kp, err))
		lost = !kp->circuit_forced && (kp->circuit != STEER_CIRCUIT_OPEN || !kp->circuit_fleet);
	free(kp);
	return lost;
}

void apply_circuit(struct daemon *d, struct dpool *p, uint64_t now, bool moved)
{
	bool fleet = fleet_circuit_open(d, p, now), by_fleet;
	uint32_t state = circuit_share_effective(p->live.circuit.state, fleet, &by_fleet);
	char err[STEER_ERR_LEN];

	if (!p->live.kread)
		read_kernel_circuit(d, p);
	if (by_fleet && p->live.kfleet && fleet_open_lost(d, p, now))
		moved = true;
	if (!moved && state == p->live.kstate && by_fleet == p->live.kfleet)
		return;
	if (by_fleet != p->live.kfleet)
		log_msg(by_fleet ? STEER_LOG_WARN : STEER_LOG_NOTICE,
			"pool %s: circuit %s for the fleet (%u hosts see it open, %u needed)",
			p->name, by_fleet ? "open" : "no longer open", p->live.share.hosts_open,
			d->conf.fleet.circuit_hosts);
	if (steer_maps_lock(&d->maps))
		return;		/* the next tick tries again */
	if (pool_set_circuit(&d->maps, p->name, state, by_fleet ? CIRCUIT_BY_FLEET : CIRCUIT_BY_DAEMON,
			     p->live.circuit.p.half_open_probes, err))
		log_warn("pool %s: %s", p->name, err);
	else
		p->live.kstate = state, p->live.kfleet = by_fleet;
	steer_maps_unlock(&d->maps);
}

/* Each pool's own breaker, then what the kernel gets of it and of the
 * fleet; a change of its own goes to the fleet at once. */
void update_circuits(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->npools; i++) {
		struct dpool *p = &d->pools[i];
		uint64_t total;
		double rate = circuit_error_rate(&p->live.circuit, now, &total);
		bool moved = circuit_tick(&p->live.circuit, now);

		if (moved) {
			/* open is a loss of service; half-open and closed are its return */
			log_msg(p->live.circuit.state == STEER_CIRCUIT_OPEN ? STEER_LOG_WARN
									  : STEER_LOG_NOTICE,
				"pool %s: circuit %s (error rate %.1f%% of %llu)", p->name,
				circuit_name(p->live.circuit.state), rate * 100,
				(unsigned long long)total);
			fleet_circuit_changed(d, p, now);
		}
		apply_circuit(d, p, now, moved);
	}
}
