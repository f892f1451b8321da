// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exporter.c - steer's state as Prometheus metrics: every worker, pool and
 * service in the kernel's maps (the operator's too), with what steerd knows
 * of them (checks, resources, circuits) and of itself (reloads), read into
 * the views of metrics_table.c each interval, rendered and handed to the
 * metrics server (metrics.c) to publish.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "fleet.h"
#include "log.h"
#include "netaddr.h"
#include "state.h"

/* ---- the views -------------------------------------------------------- */

static const struct dworker *dworker_of(const struct daemon *d, uint32_t id, const char *name)
{
	for (size_t i = 0; i < d->nworkers; i++)
		if (d->workers[i].live.present && d->workers[i].live.id == id &&
		    !strcmp(d->workers[i].name, name))
			return &d->workers[i];
	return NULL;
}

/* The pool's global quota or token budget, when steerd keeps one */
static void budget_view(const struct daemon *d, uint32_t id, struct metrics_pool *v)
{
	const struct fpool *p;

	for (size_t i = 0; (p = fleet_pool_at(d, i)); i++) {
		if (!p->found || p->id != id || strcmp(p->name, v->cfg.name))
			continue;
		v->fleet = (struct metrics_budget){
			.on = true, .leased = p->conf.has_global_quota, .tokens = p->conf.has_tokens,
			.source = budget_source_name(p->source), .grants = p->grants,
			.granted = p->granted, .returned = p->returned, .remaining_known = p->remaining_known,
			.global_remaining = p->global_remaining, .per_conn = p->per_conn,
			.tokens_left = p->tokens_left,
		};
	}
}

/* Every pool in the maps (ids[] gets their ids), with the kernel's circuit
 * state and what steerd judges of those its file names. */
static size_t read_pools(struct daemon *d, uint64_t now, struct metrics_pool *pv, uint32_t *ids)
{
	struct steer_pool *pools = state_read_all(&d->maps, MAP_POOLS);
	size_t n = 0;
	uint64_t total;

	for (uint32_t id = 0; pools && id < STEER_MAX_POOLS; id++) {
		struct metrics_pool *v = &pv[n];

		if (!pools[id].in_use)
			continue;
		v->cfg = pools[id];
		v->stats_ok = !bpf_map_lookup_elem(d->maps.fd[MAP_POOL_STATS], &id, &v->st);
		v->limits_ok = !pool_limits_read(&d->maps, id, &v->lim);
		v->budget_ok = !pool_budget_read(&d->maps, id, &v->bud);
		v->lobby_on = !pool_lobby_read(&d->maps, id, &v->lobby, &v->lobby_st) &&
			      v->lobby.in_use;
		if (v->lobby_on) {
			v->lobby_alive = pool_lobby_alive(&d->maps, id);
			if (v->lobby_st.gen != v->lobby.gen)
				memset(&v->lobby_st, 0, sizeof(v->lobby_st));
			netaddr_format_endpoint(v->lobby.addr, v->lobby.port, v->lobby_addr,
						sizeof(v->lobby_addr));
		}
		if (v->cfg.fallback < STEER_MAX_POOLS && pools[v->cfg.fallback].in_use)
			snprintf(v->fallback, sizeof(v->fallback), "%s", pools[v->cfg.fallback].name);
		for (size_t k = 0; k < d->npools; k++) {
			const struct dpool *dp = &d->pools[k];

			if (dp->live.id != id || strcmp(dp->name, v->cfg.name))
				continue;
			v->judged = true;
			v->error_ratio = circuit_error_rate(&dp->live.circuit, now, &total);
			v->reports_ok = dp->live.reports_ok;
			v->reports_err = dp->live.reports_err;
			v->own_circuit = dp->live.circuit.state;
			v->fleet_known = fleet_redis_up(d) && dp->live.share.known;
			v->fleet_hosts_open = dp->live.share.hosts_open;
		}
		budget_view(d, id, v);
		ids[n++] = id;
	}
	free(pools);
	return n;
}

static void worker_from_daemon(struct metrics_worker *v, const struct dworker *dw)
{
	v->in_file = true;
	v->checked = dw->conf.check.enabled;
	v->check_up = dw->live.track.up;
	v->check_done = dw->live.check_done;
	v->check_seconds = (double)dw->live.check_us / 1e6;
	v->sampled = dw->conf.resources && dw->live.res.have_prev;
	v->res = dw->live.res.prev;
	v->res_factor = dw->live.res_factor;
}

/* May the worker take a new connection now (maxconn aside)? */
static bool usable(const struct metrics_worker *v)
{
	return v->alive && !(v->stats_ok && v->st.gone) && v->cfg.state == STEER_WORKER_UP &&
	       v->cfg.weight && v->cfg.health;
}

/* Every worker in the maps; counts each pool's usable ones. */
static size_t read_workers(struct daemon *d, struct metrics_worker *wv, struct metrics_pool *pv,
			   const uint32_t *pool_ids, size_t np)
{
	struct steer_worker *workers = state_read_all(&d->maps, MAP_WORKERS);
	const struct dworker *dw;
	size_t n = 0;

	for (uint32_t id = 0; workers && id < STEER_MAX_WORKERS; id++) {
		struct metrics_worker *v = &wv[n++];

		if (!workers[id].in_use) {
			n--;
			continue;
		}
		v->cfg = workers[id];
		v->stats_ok = !worker_stats_read(&d->maps, id, &v->st);
		v->pending = v->stats_ok ? worker_stats_pending(&v->st) : 0;
		v->alive = worker_listener_alive(&d->maps, id);
		v->lobby_taken = v->stats_ok ? worker_lobby_taken(&d->maps, id, &v->st) : 0;
		netaddr_format_endpoint(v->cfg.addr, v->cfg.port, v->listener, sizeof(v->listener));
		if ((dw = dworker_of(d, id, v->cfg.name)))
			worker_from_daemon(v, dw);
		for (size_t k = 0; k < np; k++) {
			if (pool_ids[k] != v->cfg.pool_id)
				continue;
			snprintf(v->pool, sizeof(v->pool), "%s", pv[k].cfg.name);
			pv[k].usable += usable(v);
		}
	}
	free(workers);
	return n;
}

static size_t read_services(struct daemon *d, struct metrics_service *sv,
			    const struct metrics_pool *pv, const uint32_t *pool_ids, size_t np)
{
	struct steer_service *svc = state_read_all(&d->maps, MAP_SERVICES);
	char addr[NETADDR_ENDPOINT_LEN];
	size_t n = 0;

	for (uint32_t id = 0; svc && id < STEER_MAX_SERVICES; id++) {
		struct metrics_service *s = &sv[n];

		if (!svc[id].in_use)
			continue;
		s->cfg = svc[id];
		service_stats_read(&d->maps, id, &s->st);
		if (service_refusals_read(&d->maps, id, &s->rf))
			memset(&s->rf, 0, sizeof(s->rf));
		netaddr_format(s->cfg.addr, addr, sizeof(addr));
		snprintf(s->prefix, sizeof(s->prefix), "%s/%u", addr, s->cfg.prefixlen);
		snprintf(s->ports, sizeof(s->ports), s->cfg.port_lo == s->cfg.port_hi ? "%u" : "%u-%u",
			 s->cfg.port_lo, s->cfg.port_hi);
		for (size_t k = 0; k < np; k++)
			if (pool_ids[k] == s->cfg.pool_id)
				snprintf(s->pool, sizeof(s->pool), "%s", pv[k].cfg.name);
		n++;
	}
	free(svc);
	return n;
}

/* ---- steerd's own ----------------------------------------------------- */

/* FNV-1a, 64 bits: a name for a configuration, not a secret */
static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

void exporter_config_loaded(struct daemon *d, bool reload, bool ok)
{
	struct metrics_daemon *m = &d->mstat;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!reload)
		m->start_s = (double)time(NULL);
	m->reloads += reload;
	m->reload_failures += reload && !ok;
	if (!ok)
		return;
	m->generation++;
	m->last_reload_ok_s = (double)time(NULL);
	/* the desired state, not the file: includes count, comments do not */
	f = open_memstream(&text, &len);
	if (!f)
		return;
	daemon_print_desired(&d->conf, f);
	if (!fclose(f))
		snprintf(m->config_hash, sizeof(m->config_hash), "%016llx",
			 (unsigned long long)fnv1a(text, len));
	free(text);
}

/* ---- rendering -------------------------------------------------------- */

/* /healthz stays 200 for this many intervals after a render */
#define HEALTHZ_INTERVALS 3
#define HEALTHZ_SLACK_MS 500	/* a render that runs late under load */

void render_metrics(struct daemon *d, uint64_t now)
{
	struct metrics_worker *wv = calloc(STEER_MAX_WORKERS, sizeof(*wv));
	struct metrics_pool *pv = calloc(STEER_MAX_POOLS, sizeof(*pv));
	struct metrics_service *sv = calloc(STEER_MAX_SERVICES, sizeof(*sv));
	uint32_t pool_ids[STEER_MAX_POOLS];
	struct metrics_buf *b = metrics_buf_new();
	struct metrics_view v = { .w = wv, .p = pv, .s = sv, .d = d->mstat };
	const char *text;
	size_t len;

	/* the loop runs: it got here */
	metrics_server_alive(d->metrics, HEALTHZ_INTERVALS * d->conf.interval_ms + HEALTHZ_SLACK_MS);
	if (!b || !wv || !pv || !sv)
		goto cleanup;
	v.np = read_pools(d, now, pv, pool_ids);
	v.nw = read_workers(d, wv, pv, pool_ids, v.np);
	v.ns = read_services(d, sv, pv, pool_ids, v.np);
	v.d.maintenance_served = d->maint.served;
	v.d.fleet = d->fleet != NULL;
	v.d.redis_up = fleet_redis_up(d);
	v.d.rendered_s = (double)time(NULL);
	metrics_render(b, &v);
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
