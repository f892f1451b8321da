// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exporter.c - steer's state as Prometheus metrics: every worker, pool and
 * service in the kernel's maps (the operator's too), with what steerd knows
 * of them (health, circuits), rendered each interval and handed to the
 * metrics server (metrics.c) to publish.
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
#include "log.h"
#include "state.h"

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
	case WM_HEALTH: *value = v->cfg.health / (double)STEER_HEALTH_FULL; return true;
	case WM_WEIGHT: *value = v->cfg.weight * (v->cfg.health / (double)STEER_HEALTH_FULL); return true;
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
	struct steer_pool *pools = state_read_all(&d->maps, MAP_POOLS);
	size_t n = 0;

	for (uint32_t id = 0; pools && id < STEER_MAX_POOLS; id++) {
		const struct steer_pool *p = &pools[id];
		struct pool_view *v = &pv[n];

		if (!p->in_use)
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
	free(pools);
	return n;
}

/* Every worker in the maps. */
static size_t read_worker_views(struct daemon *d, struct worker_view *wv,
				const struct pool_view *pv, size_t npv)
{
	struct steer_worker *workers = state_read_all(&d->maps, MAP_WORKERS);
	size_t n = 0;
	uint64_t cookie;

	for (uint32_t id = 0; workers && id < STEER_MAX_WORKERS; id++) {
		struct worker_view *v = &wv[n];

		if (!workers[id].in_use)
			continue;
		v->cfg = workers[id];
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
	free(workers);
	return n;
}

void render_metrics(struct daemon *d, uint64_t now)
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
	metrics_family(b, "steer_build_info", "gauge", "steerd's release, as a label; always 1.");
	metrics_sample(b, "steer_build_info", 1, "version", STEER_VERSION, NULL);
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

