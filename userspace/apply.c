// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * apply.c - bring the kernel maps in line with steerd's configuration, as a
 * diff: what is unchanged is not touched, so its connections and counts go
 * on; what the file no longer names (and an earlier file did) is removed.
 * Objects the file never named (an operator's, from steerctl) are left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "log.h"
#include "sockets.h"
#include "state.h"

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *fallback_of(const struct steer_config *c, const struct conf_pool *p)
{
	if (!p->fallback[0])
		return "none";
	if (!strcmp(p->fallback, CONF_FALLBACK_MAINTENANCE))
		return c->maintenance.enabled ? MAINTENANCE_POOL : "none";
	return p->fallback;
}

/* The responder's own socket becomes the one worker of the maintenance pool. */
static int apply_maintenance(struct daemon *d, char *err)
{
	const struct conf_maintenance *mc = &d->conf.maintenance;
	struct worker_params params = { .weight = 100 };
	struct listener l;
	uint32_t id;
	uint64_t cookie;
	int ret;

	if (!mc->enabled)
		return STEER_OK;
	if (!d->maint_open) {
		if ((ret = maintenance_open(&d->maint, &mc->listen, mc->status, mc->retry_after,
					    mc->body, err)))
			return ret;
		d->maint_open = true;
	}
	if (pool_find(&d->maps, MAINTENANCE_POOL, &id, NULL, err) &&
	    (ret = pool_add(&d->maps, MAINTENANCE_POOL, STEER_POLICY_LEAST_CONN, NULL, err)))
		return ret;
	if (!worker_find(&d->maps, MAINTENANCE_WORKER, &id, NULL, err) &&
	    !bpf_map_lookup_elem(d->maps.fd[MAP_WORKER_SOCKS], &id, &cookie))
		return STEER_OK;	/* ours, alive */
	if ((ret = listener_take_by_fd((uint32_t)getpid(), (uint32_t)d->maint.fd,
				       d->maps.netns_ino, &l, err)))
		return ret;
	return worker_add(&d->maps, MAINTENANCE_POOL, MAINTENANCE_WORKER, &l, &params, err);
}

static int apply_pools(struct daemon *d, char *err)
{
	uint32_t id;
	int ret;

	/* create first, so fallbacks may name pools of the same file */
	for (size_t i = 0; i < d->conf.npools; i++) {
		const struct conf_pool *p = &d->conf.pools[i];

		if (!pool_find(&d->maps, p->name, &id, NULL, err))
			continue;
		if ((ret = pool_add(&d->maps, p->name, p->policy, NULL, err)))
			return ret;
		log_info("pool %s added (%s)", p->name, policy_name(p->policy));
	}
	for (size_t i = 0; i < d->conf.npools; i++) {
		const struct conf_pool *p = &d->conf.pools[i];

		if ((ret = pool_set(&d->maps, p->name, &p->policy, fallback_of(&d->conf, p), err)))
			return ret;
	}
	return STEER_OK;
}

static bool limits_changed(const struct conf_pool *old, const struct conf_pool *p)
{
	return !old || old->has_quota != p->has_quota || old->quota != p->quota ||
	       old->has_rate != p->has_rate || old->rate != p->rate || old->burst != p->burst;
}

/* Quota and rate: set when the file changes them. At start (no old file),
 * a budget already in the kernel is adopted, not granted again. */
static int apply_limits(struct daemon *d, const struct steer_config *old, char *err)
{
	struct steer_pool_limits lim;
	struct steer_pool_budget bud;
	uint32_t id;
	int ret;

	for (size_t i = 0; i < d->conf.npools; i++) {
		const struct conf_pool *p = &d->conf.pools[i];
		const struct conf_pool *was = old ? config_find_pool(old, p->name) : NULL;

		if (old && !limits_changed(was, p))
			continue;
		if (pool_find(&d->maps, p->name, &id, NULL, err) || pool_limits_read(&d->maps, id, &lim) ||
		    pool_budget_read(&d->maps, id, &bud))
			continue;
		if (!old && (bud.quota_on == p->has_quota) && (lim.rate_on == p->has_rate))
			continue;	/* restart: adopt what is running */
		if ((ret = pool_set_quota(&d->maps, p->name, p->has_quota, (int64_t)p->quota, err)) ||
		    (ret = pool_set_rate(&d->maps, p->name, p->has_rate, p->rate, p->burst, err)))
			return ret;
	}
	return STEER_OK;
}

static int add_worker(struct daemon *d, const struct conf_pool *p, const struct conf_worker *w,
		      char *err)
{
	struct worker_params params = { .weight = w->weight, .maxconn = w->maxconn };
	struct listener l;
	int ret;

	if ((ret = listener_take_by_addr(&w->addr, d->maps.netns_ino, &l, err)))
		return ret;
	if ((ret = worker_add(&d->maps, p->name, w->name, &l, &params, err)))
		return ret;
	log_info("worker %s added to pool %s", w->name, p->name);
	return STEER_OK;
}

static int apply_workers(struct daemon *d, const struct steer_config *old, char *err)
{
	struct steer_worker cur;
	uint32_t id, pool_id;
	char why[STEER_ERR_LEN];
	int ret;

	for (size_t i = 0; i < d->conf.npools; i++) {
		const struct conf_pool *p = &d->conf.pools[i];

		if (pool_find(&d->maps, p->name, &pool_id, NULL, err))
			return STEER_ESYS;
		for (size_t k = 0; k < p->nworkers; k++) {
			const struct conf_worker *w = &p->workers[k];
			const struct conf_worker *was = old ? config_find_worker(old, w->name, NULL) : NULL;

			if (worker_find(&d->maps, w->name, &id, &cur, err)) {
				if (add_worker(d, p, w, why))
					log_warn("worker %s: %s (will retry)", w->name, why);
				continue;
			}
			if (cur.pool_id != pool_id) {
				/* moved to another pool: a new worker there */
				if ((ret = worker_del(&d->maps, w->name, err)))
					return ret;
				if (add_worker(d, p, w, why))
					log_warn("worker %s: %s (will retry)", w->name, why);
				continue;
			}
			/* the file's weight and cap are applied when the file
			 * changes them; at start the running values stand */
			if (was && (was->weight != w->weight || was->maxconn != w->maxconn)) {
				if ((ret = worker_update(&d->maps, w->name, &w->weight, &w->maxconn,
							 NULL, err)))
					return ret;
				log_info("worker %s: weight %u, maxconn %u", w->name, w->weight,
					 w->maxconn);
			}
		}
	}
	return STEER_OK;
}

static bool same_service(const struct steer_service *s, const struct conf_service *c,
			 uint32_t pool_id)
{
	return s->pool_id == pool_id && s->family == c->prefix.family &&
	       s->prefixlen == c->prefix.prefixlen && !memcmp(s->addr, c->prefix.addr, 16) &&
	       s->port_lo == c->port_lo && s->port_hi == c->port_hi;
}

static int apply_services(struct daemon *d, char *err)
{
	struct steer_service cur;
	uint32_t id, pool_id;
	int ret;

	for (size_t i = 0; i < d->conf.nservices; i++) {
		const struct conf_service *s = &d->conf.services[i];

		if ((ret = pool_find(&d->maps, s->pool, &pool_id, NULL, err)))
			return ret;
		if (!service_find(&d->maps, s->name, &id, &cur, err)) {
			if (same_service(&cur, s, pool_id))
				continue;
			if ((ret = service_del(&d->maps, s->name, err)))
				return ret;
		}
		if ((ret = service_add(&d->maps, s->name, &s->prefix, s->port_lo, s->port_hi, s->pool,
				       err)))
			return ret;
		log_info("service %s -> pool %s", s->name, s->pool);
	}
	return STEER_OK;
}

/* What the previous file named and this one does not. */
static void remove_dropped(struct daemon *d, const struct steer_config *old)
{
	char err[STEER_ERR_LEN];

	for (size_t i = 0; old && i < old->nservices; i++) {
		const char *name = old->services[i].name;
		bool kept = false;

		for (size_t k = 0; k < d->conf.nservices && !kept; k++)
			kept = !strcmp(d->conf.services[k].name, name);
		if (!kept && !service_del(&d->maps, name, err))
			log_info("service %s removed", name);
	}
	for (size_t i = 0; old && i < old->npools; i++) {
		for (size_t k = 0; k < old->pools[i].nworkers; k++) {
			const char *name = old->pools[i].workers[k].name;

			if (!config_find_worker(&d->conf, name, NULL) && !worker_del(&d->maps, name, err))
				log_info("worker %s removed", name);
		}
	}
	for (size_t i = 0; old && i < old->npools; i++) {
		const char *name = old->pools[i].name;

		if (!config_find_pool(&d->conf, name) && !pool_del(&d->maps, name, err))
			log_info("pool %s removed", name);
		else if (!config_find_pool(&d->conf, name))
			log_warn("pool %s: not removed: %s", name, err);
	}
}

/* Carry the daemon's view (health tracks, circuits) over to the new file
 * for every worker and pool it still names. */
static int rebuild_views(struct daemon *d)
{
	struct dworker *workers;
	struct dpool *pools;
	size_t nw = 0, np = d->conf.npools;
	uint64_t now = now_ms();

	for (size_t i = 0; i < d->conf.npools; i++)
		nw += d->conf.pools[i].nworkers;
	workers = calloc(nw + 1, sizeof(*workers));
	pools = calloc(np + 1, sizeof(*pools));
	if (!workers || !pools) {
		free(workers);
		free(pools);
		return -1;
	}
	nw = 0;
	for (size_t i = 0; i < d->conf.npools; i++) {
		const struct conf_pool *cp = &d->conf.pools[i];
		struct circuit_params params = {
			.threshold = cp->circuit.threshold, .window_s = cp->circuit.window_s,
			.min_requests = cp->circuit.min_requests, .cooldown_s = cp->circuit.cooldown_s,
			.half_open_probes = cp->circuit.half_open_probes,
		};
		struct dpool *dp = &pools[i];

		snprintf(dp->name, sizeof(dp->name), "%s", cp->name);
		circuit_init(&dp->circuit, &params, now);
		dp->eject_max = cp->eject_max;
		for (size_t k = 0; k < d->npools; k++) {
			if (!strcmp(d->pools[k].name, cp->name)) {
				dp->circuit.state = d->pools[k].circuit.state;
				dp->circuit.since_ms = d->pools[k].circuit.since_ms;
			}
		}
		for (size_t k = 0; k < cp->nworkers; k++) {
			struct dworker *w = &workers[nw++];
			const struct conf_worker *cw = &cp->workers[k];
			const struct conf_check *ck = &cw->check;

			snprintf(w->name, sizeof(w->name), "%s", cw->name);
			snprintf(w->pool, sizeof(w->pool), "%s", cp->name);
			w->conf = *cw;
			w->check.fd = w->agent.fd = -1;
			w->check.src = (struct source){ SRC_CHECK, w };
			w->agent.src = (struct source){ SRC_AGENT, w };
			w->agent_pct = -1;
			w->res_factor = STEER_HEALTH_FULL;
			w->health = STEER_HEALTH_FULL;
			health_track_init(&w->track, ck->rise, ck->fall, true, now);
			/* outlier ejection judges each worker by its pool's rules */
			circuit_init(&w->outlier, &params, now);
			for (size_t o = 0; o < d->nworkers; o++) {
				struct dworker *ow = &d->workers[o];

				if (strcmp(ow->name, w->name))
					continue;
				w->track = ow->track;
				w->track.rise = ck->rise;
				w->track.fall = ck->fall;
				w->agent_state = ow->agent_state;
				w->agent_pct = ow->agent_pct;
				w->res = ow->res;
				w->res_factor = ow->res_factor;
				w->health = ow->health;
				w->closed = ow->closed;
				w->aborted = ow->aborted;
				w->outlier.state = ow->outlier.state;
				w->outlier.since_ms = ow->outlier.since_ms;
			}
		}
	}
	for (size_t o = 0; o < d->nworkers; o++) {
		/* checks in flight belong to the old view */
		if (d->workers[o].check.run)
			check_free(d->workers[o].check.run);
		if (d->workers[o].agent.run)
			check_free(d->workers[o].agent.run);
	}
	free(d->workers);
	free(d->pools);
	d->workers = workers;
	d->nworkers = nw;
	d->pools = pools;
	d->npools = np;
	return 0;
}

/* Resolve each worker's id and owner pid in the maps. */
static void resolve_workers(struct daemon *d)
{
	struct steer_worker_stats st;
	struct steer_worker w;
	char err[STEER_ERR_LEN];

	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *dw = &d->workers[i];

		dw->present = !worker_find(&d->maps, dw->name, &dw->id, &w, err);
		if (!dw->present)
			continue;
		dw->pid = (pid_t)w.pid;
		dw->health = w.health;
		if (!dw->closed && !worker_stats_read(&d->maps, dw->id, &st)) {
			dw->closed = st.steered_closed;
			dw->aborted = st.steered_aborted;
		}
	}
	for (size_t i = 0; i < d->npools; i++)
		pool_find(&d->maps, d->pools[i].name, &d->pools[i].id, NULL, err);
}

void daemon_retry_missing(struct daemon *d)
{
	char err[STEER_ERR_LEN];
	bool added = false;

	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *w = &d->workers[i];
		const struct conf_pool *p;

		if (w->present || !(p = config_find_pool(&d->conf, w->pool)))
			continue;
		if (steer_maps_lock(&d->maps))
			return;
		if (!add_worker(d, p, &w->conf, err))
			added = true;
		steer_maps_unlock(&d->maps);
	}
	if (added)
		resolve_workers(d);
}

int daemon_apply(struct daemon *d, const struct steer_config *old, char *err)
{
	int ret;

	if (steer_maps_lock(&d->maps)) {
		snprintf(err, STEER_ERR_LEN, "cannot lock %s: %s", d->maps.dir, strerror(errno));
		return STEER_ESYS;
	}
	if (!(ret = apply_maintenance(d, err)) && !(ret = apply_pools(d, err)) &&
	    !(ret = apply_limits(d, old, err)) && !(ret = apply_workers(d, old, err)) &&
	    !(ret = apply_services(d, err)))
		remove_dropped(d, old);
	steer_maps_unlock(&d->maps);
	if (ret)
		return ret;
	if (rebuild_views(d)) {
		snprintf(err, STEER_ERR_LEN, "out of memory");
		return STEER_ESYS;
	}
	resolve_workers(d);
	return STEER_OK;
}
