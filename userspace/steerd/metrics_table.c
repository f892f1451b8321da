// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics_table.c - every series steerd serves, in one table: name, type,
 * help, labels and where its value comes from. The table drives the page
 * (metrics_render) and steerd(8)'s METRICS section (metrics_doc, `make
 * docs`; test_metrics fails while the page differs).
 *
 * Prometheus' conventions: base units (seconds, bytes, ratios 0..1),
 * counters end in _total, a state is a state set (one series per state,
 * 1 for the current one, 0 for the others), strings are labels of an
 * _info series whose value is 1.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "defaults.h"
#include "docsplice.h"
#include "parse.h"
#include "state.h"

/* The object a family has one sample (or one set) per. */
enum scope { SC_WORKER, SC_POOL, SC_SERVICE, SC_DAEMON, SC_COUNT };

static const struct scope_info {
	const char *what;
	const char *const *labels;	/* NULL-terminated */
} scopes[SC_COUNT] = {
	[SC_WORKER] = { "worker", (const char *const[]){ "pool", "worker", NULL } },
	[SC_POOL] = { "pool", (const char *const[]){ "pool", NULL } },
	[SC_SERVICE] = { "service", (const char *const[]){ "service", NULL } },
	[SC_DAEMON] = { "steerd", (const char *const[]){ NULL } },
};

#define MAX_INFO 4
#define STR_(x) #x
#define STR(x) STR_(x)	/* a limit's literal, for help text */

struct metric_def {
	const char *name, *type, *help;
	enum scope scope;
	/* a set: one sample per set[k], labelled set_label=set[k] */
	const char *set_label;
	const char *const *set;
	size_t nset;
	/* an info series: these labels from info(), value 1 */
	const char *const *info;
	void (*info_values)(const void *obj, const char *vals[MAX_INFO]);
	size_t off;		/* a field of the object, for the getters that read one */
	/* false: the object has no such sample now */
	bool (*get)(const struct metric_def *m, const void *obj, size_t k, double *v);
};

/* ---- getters ---------------------------------------------------------- */

static double u64_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return (double)v;
}

/* a u32 field of the view at off, always there */
static bool u32_field(const struct metric_def *m, const void *o, size_t k, double *v)
{
	uint32_t x;

	(void)k;
	memcpy(&x, (const char *)o + m->off, sizeof(x));
	*v = x;
	return true;
}

/* a counter of worker_stats */
static bool w_stat(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)k;
	*v = u64_at(&w->st, m->off);
	return w->stats_ok;
}

static bool w_outstanding(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = (double)w->st.outstanding;
	return w->stats_ok;
}

static bool w_pending(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = (double)w->pending;
	return w->stats_ok;
}

static bool w_gone(const struct metrics_worker *w)
{
	return !w->alive || (w->stats_ok && w->st.gone);
}

static const char *w_state_name(const struct metrics_worker *w)
{
	return w_gone(w) ? "gone" : state_name(w->cfg.state);
}

static bool w_state(const struct metric_def *m, const void *o, size_t k, double *v)
{
	*v = !strcmp(m->set[k], w_state_name(o));
	return true;
}

static bool w_up(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = !w_gone(w) && (!w->checked || w->check_up);
	return true;
}

static bool w_health(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->cfg.health / (double)STEER_HEALTH_FULL;
	return true;
}

/* weight x health in integers first: 100 x 0.56 in doubles is 56.00000000000001 */
static bool w_effective(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = (double)((uint64_t)w->cfg.weight * w->cfg.health) / STEER_HEALTH_FULL;
	return true;
}

static bool w_pid(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->cfg.pid;
	return !w_gone(w);
}

static void w_info(const void *o, const char *vals[MAX_INFO])
{
	const struct metrics_worker *w = o;

	vals[0] = w->listener;
	vals[1] = owner_name(w->cfg.owner);
	vals[2] = w->in_file ? "true" : "false";
	/* auto: derived from its CPU allowance, as worker list's weight_from */
	vals[3] = w->cfg.flags & STEER_WORKER_F_AUTO_WEIGHT ? STEER_WEIGHT_AUTO : "admin";
}

static bool w_check_up(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->check_up;
	return w->checked;
}

static bool w_check_seconds(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->check_seconds;
	return w->checked && w->check_done;
}

/* a resource sample's field: off into struct resource_sample, as u64, u32
 * or double (the getter's name says which) */
static bool w_res_u64(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)k;
	*v = u64_at(&w->res, m->off);
	return w->sampled;
}

static bool w_res_u32(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;
	uint32_t x;

	(void)k;
	memcpy(&x, (const char *)&w->res + m->off, sizeof(x));
	*v = x;
	return w->sampled;
}

static bool w_res_double(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)k;
	memcpy(v, (const char *)&w->res + m->off, sizeof(*v));
	return w->sampled;
}

static bool w_cpu_seconds(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = (double)w->res.cpu_usec / 1e6;
	return w->sampled;
}

static bool w_res_factor(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->res_factor / (double)STEER_HEALTH_FULL;
	return w->sampled;
}

/* a counter of pool_stats */
static bool p_stat(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)k;
	*v = u64_at(&p->st, m->off);
	return p->stats_ok;
}

static bool p_circuit(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	*v = !strcmp(m->set[k], circuit_name(p->cfg.circuit));
	return true;
}

/* ---- shared circuits (fleet_circuit.c) ---- */
static bool p_own_circuit(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	*v = !strcmp(m->set[k], circuit_name(p->own_circuit));
	return p->judged;
}

static bool p_fleet_hosts(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = p->fleet_hosts_open;
	return p->judged && p->fleet_known;
}

static bool p_quota_left(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = (double)(p->bud.quota_left > 0 ? p->bud.quota_left : 0);
	return p->budget_ok && p->bud.quota_on;
}

static bool p_quota(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = (double)p->cfg.quota_conf;
	return p->cfg.quota_set && p->budget_ok && p->bud.quota_on;
}

/* a field of the pool's lobby stats (s64 or u64 at off), absent without a lobby */
static bool p_lobby(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;
	int64_t x;

	(void)k;
	memcpy(&x, (const char *)&p->lobby_st + m->off, sizeof(x));
	*v = m->type[0] == 'c' ? (double)(uint64_t)x : (double)x;
	return p->lobby_on;
}

static bool p_lobby_up(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = p->lobby_alive;
	return p->lobby_on;
}

static bool p_lobby_backlog(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = p->lobby.backlog;
	return p->lobby_on;
}

static bool p_lobby_pid(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = p->lobby.pid;
	return p->lobby_on;
}

static bool w_slots(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = w->cfg.slots;
	return w->cfg.slots;
}

static bool w_lobby_taken(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_worker *w = o;

	(void)m, (void)k;
	*v = (double)w->lobby_taken;
	return w->stats_ok;
}

static bool p_rate(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = (double)p->lim.rate_milli / STEER_MILLI;
	return p->limits_ok && p->lim.rate_on;
}

static bool p_burst(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = (double)p->lim.burst_milli / STEER_MILLI;
	return p->limits_ok && p->lim.rate_on;
}

static bool p_errors(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m, (void)k;
	*v = p->error_ratio;
	return p->judged;
}

static bool p_reports(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_pool *p = o;

	(void)m;
	*v = (double)(k ? p->reports_err : p->reports_ok);
	return p->judged;
}

static void p_info(const void *o, const char *vals[MAX_INFO])
{
	const struct metrics_pool *p = o;

	vals[0] = policy_name(p->cfg.policy);
	vals[1] = p->fallback;
	vals[2] = owner_name(p->cfg.owner);
	vals[3] = p->lobby_addr;
}

static bool s_lookups(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_service *s = o;

	(void)m, (void)k;
	*v = (double)s->st.lookups;
	return true;
}

static bool s_refused(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_service *s = o;

	(void)m;
	*v = u64_at(&s->rf, k * sizeof(uint64_t));
	return true;
}

static void s_info(const void *o, const char *vals[MAX_INFO])
{
	const struct metrics_service *s = o;

	vals[0] = s->pool;
	vals[1] = s->prefix;
	vals[2] = s->ports;
	vals[3] = owner_name(s->cfg.owner);
}

/* a u64 or double field of struct metrics_daemon */
static bool d_u64(const struct metric_def *m, const void *o, size_t k, double *v)
{
	(void)k;
	*v = u64_at(o, m->off);
	return true;
}

static bool d_double(const struct metric_def *m, const void *o, size_t k, double *v)
{
	(void)k;
	memcpy(v, (const char *)o + m->off, sizeof(*v));
	return *v > 0;
}

static void d_build(const void *o, const char *vals[MAX_INFO])
{
	(void)o;
	vals[0] = STEER_VERSION;
}

static void d_config(const void *o, const char *vals[MAX_INFO])
{
	const struct metrics_daemon *d = o;

	vals[0] = d->config_hash;
}

/* ---- fleet: budgets (a pool's global quota or token budget, fleet.c) -- */

static const struct metrics_budget *p_budget(const void *o)
{
	return &((const struct metrics_pool *)o)->fleet;
}

static bool b_source(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_budget *b = p_budget(o);

	*v = b->source && !strcmp(m->set[k], b->source);
	return b->on;
}

/* a u64 field of struct metrics_budget at off */
static bool b_u64(const struct metric_def *m, const void *o, size_t k, double *v)
{
	(void)k;
	*v = u64_at(p_budget(o), m->off);
	return p_budget(o)->on;
}

static bool b_remaining(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_budget *b = p_budget(o);

	(void)m, (void)k;
	*v = (double)b->global_remaining;
	return b->on && b->remaining_known;
}

static bool b_per_conn(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_budget *b = p_budget(o);

	(void)m, (void)k;
	*v = b->per_conn;
	return b->on && b->tokens && b->per_conn > 0;
}

static bool b_tokens_left(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_budget *b = p_budget(o);

	(void)m, (void)k;
	*v = (double)(b->tokens_left > 0 ? b->tokens_left : 0);
	return b->on && b->tokens;
}

static bool d_redis_up(const struct metric_def *m, const void *o, size_t k, double *v)
{
	const struct metrics_daemon *d = o;

	(void)m, (void)k;
	*v = d->redis_up;
	return d->fleet;
}

/* ---- the table -------------------------------------------------------- */

static const char *const worker_states[] = { "up", "drain", "down", "gone" };
static const char *const circuit_states[] = { "closed", "open", "half-open" };
static const char *const outcomes[] = { "ok", "error" };
static const char *const budget_sources[] = { "lease", "static_share", "local", "provider" };

#define WSTAT(n, field, h) { .name = n, .type = "counter", .help = h, .scope = SC_WORKER, \
	.off = offsetof(struct steer_worker_stats, field), .get = w_stat }
#define PSTAT(n, field, h) { .name = n, .type = "counter", .help = h, .scope = SC_POOL, \
	.off = offsetof(struct steer_pool_stats, field), .get = p_stat }
#define WRES(n, t, field, getter, h) { .name = n, .type = t, .help = h, .scope = SC_WORKER, \
	.off = offsetof(struct resource_sample, field), .get = getter }
/* a u32 field of view struct T, always there */
#define FIELD(n, sc, T, field, h) { .name = n, .type = "gauge", .help = h, .scope = sc, \
	.off = offsetof(T, field), .get = u32_field }
#define GAUGE(n, sc, getter, h) { .name = n, .type = "gauge", .help = h, .scope = sc, \
	.get = getter }
#define COUNTER(n, sc, getter, h) { .name = n, .type = "counter", .help = h, .scope = sc, \
	.get = getter }
#define SET(n, t, sc, lbl, values, getter, h) { .name = n, .type = t, .help = h, .scope = sc, \
	.set_label = lbl, .set = values, .nset = sizeof(values) / sizeof(values[0]), .get = getter }
#define INFO(n, sc, fn, h, ...) { .name = n, .type = "gauge", .help = h, .scope = sc, \
	.info = (const char *const[]){ __VA_ARGS__, NULL }, .info_values = fn }
#define LOBBY(n, t, field, h) { .name = n, .type = t, .help = h, .scope = SC_POOL, \
	.off = offsetof(struct steer_lobby_stats, field), .get = p_lobby }
#define BUDGET(n, t, field, h) { .name = n, .type = t, .help = h, .scope = SC_POOL, \
	.off = offsetof(struct metrics_budget, field), .get = b_u64 }
#define DAEMON(n, t, getter, field, h) { .name = n, .type = t, .help = h, .scope = SC_DAEMON, \
	.off = offsetof(struct metrics_daemon, field), .get = getter }

static const struct metric_def metric_table[] = {
	INFO("steer_worker_info", SC_WORKER, w_info,
	     "A worker's listener address, its owner (steerd or operator), whether steerd's "
	     "file names it and where its weight comes from (admin or auto); always 1.",
	     "listener", "owner", "in_file", "weight_from"),
	SET("steer_worker_state", "gauge", SC_WORKER, "state", worker_states, w_state,
	    "The worker's state: 1 for the current one. gone: its listener closed."),
	GAUGE("steer_worker_up", SC_WORKER, w_up,
	      "1 when the worker's listener is open and its checks (if any) pass."),
	GAUGE("steer_worker_outstanding", SC_WORKER, w_outstanding,
	      "Open connections of the worker's listener."),
	GAUGE("steer_worker_pending", SC_WORKER, w_pending,
	      "Connections picked for the worker and not established yet (a SYN that never "
	      "completes is forgotten within two pending buckets, about half a second)."),
	WSTAT("steer_worker_selected_total", selected,
	      "New connections sk_lookup picked the worker for (repeats not counted)."),
	WSTAT("steer_worker_established_total", established,
	      "Connections established, steered or made straight to the listener."),
	WSTAT("steer_worker_steered_total", steered,
	      "Connections established through a service address."),
	WSTAT("steer_worker_closed_total", closed, "Connections closed."),
	WSTAT("steer_worker_resets_total", aborted,
	      "Connections that ended in a reset, from either side."),
	FIELD("steer_worker_weight", SC_WORKER, struct metrics_worker, cfg.weight,
	      "Admin weight, 0 to " STR(STEER_WEIGHT_MAX) "."),
	GAUGE("steer_worker_health_ratio", SC_WORKER, w_health,
	      "Health factor set by steerd, 0 to 1 (steerctl's health)."),
	GAUGE("steer_worker_effective_weight", SC_WORKER, w_effective,
	      "Admin weight times health factor."),
	FIELD("steer_worker_maxconn", SC_WORKER, struct metrics_worker, cfg.maxconn,
	      "Outstanding connections at most; 0: no cap."),
	GAUGE("steer_worker_slots", SC_WORKER, w_slots,
	      "Connections a lobby-aware worker serves at once (absent: not lobby-aware)."),
	COUNTER("steer_worker_lobby_taken_total", SC_WORKER, w_lobby_taken,
		"Connections the worker took from its pool's lobby."),
	GAUGE("steer_worker_pid", SC_WORKER, w_pid,
	      "The process that owned the listener when it was added (absent: gone)."),
	GAUGE("steer_worker_check_up", SC_WORKER, w_check_up,
	      "1 while the worker's health check passes (after rise/fall); absent: no check."),
	GAUGE("steer_worker_check_duration_seconds", SC_WORKER, w_check_seconds,
	      "How long the worker's last health check took."),
	WRES("steer_worker_cpu_seconds_total", "counter", cpu_usec, w_cpu_seconds,
	     "CPU time used, at the last resource sample (its cgroup or /proc)."),
	WRES("steer_worker_cpu_cores", "gauge", cpu_cores, w_res_double,
	     "CPU capacity the worker may use (affinity, cpu.max)."),
	WRES("steer_worker_memory_bytes", "gauge", mem_bytes, w_res_u64,
	     "Memory in use, at the last resource sample."),
	WRES("steer_worker_memory_limit_bytes", "gauge", mem_limit, w_res_u64,
	     "The tightest memory limit over the worker."),
	WRES("steer_worker_open_fds", "gauge", fds, w_res_u32, "Open file descriptors."),
	WRES("steer_worker_max_fds", "gauge", fd_limit, w_res_u32,
	     "File descriptor limit (RLIMIT_NOFILE, soft)."),
	WRES("steer_worker_cpu_pressure_ratio", "gauge", cpu_psi, w_res_double,
	     "cpu.pressure some avg10, 0 to 1 (0 without a cgroup of its own)."),
	WRES("steer_worker_memory_pressure_ratio", "gauge", mem_psi, w_res_double,
	     "memory.pressure some avg10, 0 to 1 (0 without a cgroup of its own)."),
	GAUGE("steer_worker_resource_factor_ratio", SC_WORKER, w_res_factor,
	      "The health factor's resource part, 0 to 1."),

	INFO("steer_pool_info", SC_POOL, p_info,
	     "A pool's policy, fallback pool (empty: none), owner and lobby address (empty: "
	     "none); always 1.", "policy", "fallback", "owner", "lobby"),
	FIELD("steer_pool_workers", SC_POOL, struct metrics_pool, cfg.nworkers,
	      "Workers in the pool."),
	FIELD("steer_pool_usable_workers", SC_POOL, struct metrics_pool, usable,
	      "Workers that may take a new connection: up, listening, weight and health above "
	      "0 (maxconn not counted)."),
	FIELD("steer_pool_table_slots", SC_POOL, struct metrics_pool, cfg.table_len,
	      "Slots of the pool's weighted or Maglev table in use (0: none built)."),
	PSTAT("steer_pool_selected_total", selected,
	      "Connections given to one of the pool's workers."),
	PSTAT("steer_pool_fallback_out_total", fallback_out,
	      "Connections handed to the fallback pool, for any reason."),
	PSTAT("steer_pool_refused_total", refused,
	      "Connections refused: not admitted or no worker took it, and no fallback."),
	PSTAT("steer_pool_spilled_total", spilled,
	      "Connections not admitted because the quota or the rate ran out."),
	PSTAT("steer_pool_circuit_out_total", circuit_out,
	      "Connections not admitted because the circuit was open (or half-open, out of "
	      "probes)."),
	PSTAT("steer_pool_probes_total", probes, "Half-open probe connections let through."),
	SET("steer_pool_circuit_state", "gauge", SC_POOL, "state", circuit_states, p_circuit,
	    "The circuit breaker's state in the kernel, forced or not: 1 for the current one."),
	FIELD("steer_pool_circuit_forced", SC_POOL, struct metrics_pool, cfg.circuit_forced,
	      "1 while an operator holds the circuit (steerctl circuit POOL open|close)."),
	GAUGE("steer_pool_error_ratio", SC_POOL, p_errors,
	      "Errors over outcomes in the circuit window (pools steerd judges)."),
	SET("steer_pool_reports_total", "counter", SC_POOL, "outcome", outcomes, p_reports,
	    "Application reports (steerctl report) for the pool's workers, by outcome."),
	GAUGE("steer_pool_quota_left", SC_POOL, p_quota_left,
	      "Admissions left in the pool's quota (absent: no quota)."),
	GAUGE("steer_pool_quota", SC_POOL, p_quota,
	      "The quota last granted (absent: no quota)."),
	GAUGE("steer_pool_rate", SC_POOL, p_rate,
	      "The token bucket's rate, connections per second (absent: no rate)."),
	GAUGE("steer_pool_rate_burst", SC_POOL, p_burst,
	      "The token bucket's size, connections (absent: no rate)."),
	GAUGE("steer_pool_lobby_up", SC_POOL, p_lobby_up,
	      "1 while the pool's lobby socket is open, 0 once it closed (absent: no lobby)."),
	LOBBY("steer_pool_lobby_waiting", "gauge", waiting,
	      "Connections waiting in the lobby's queue now (absent: no lobby)."),
	GAUGE("steer_pool_lobby_backlog", SC_POOL, p_lobby_backlog,
	      "The lobby listener's backlog when registered (absent: no lobby)."),
	GAUGE("steer_pool_lobby_pid", SC_POOL, p_lobby_pid,
	      "A process that held the lobby's socket when registered (absent: no lobby)."),
	LOBBY("steer_pool_lobby_sent_total", "counter", sent,
	      "New connections sent to the lobby to wait: every worker was busy."),
	LOBBY("steer_pool_lobby_taken_total", "counter", taken,
	      "Connections a worker of the pool took from the lobby."),
	LOBBY("steer_pool_lobby_unattributed", "gauge", stray,
	      "Open connections a process that is no lobby-aware worker of the pool took from "
	      "the lobby."),
	LOBBY("steer_pool_lobby_unattributed_total", "counter", stray_total,
	      "Connections a process that is no lobby-aware worker of the pool took from the "
	      "lobby."),

	INFO("steer_service_info", SC_SERVICE, s_info,
	     "A service's pool, prefix, ports and owner; always 1.", "pool", "prefix", "ports",
	     "owner"),
	COUNTER("steer_service_lookups_total", SC_SERVICE, s_lookups,
	      "Packets sk_lookup matched to the service."),
	SET("steer_service_refused_total", "counter", SC_SERVICE, "cause", steer_refusal_names,
	    s_refused, "Connections to the service refused at once (RST), by cause."),

	INFO("steer_build_info", SC_DAEMON, d_build, "steerd's release, as a label; always 1.",
	     "version"),
	DAEMON("steer_daemon_start_time_seconds", "gauge", d_double, start_s,
	       "When steerd started, Unix time."),
	DAEMON("steer_daemon_render_timestamp_seconds", "gauge", d_double, rendered_s,
	       "When steerd's event loop rendered this page, Unix time: the page is served by "
	       "another thread, so an old one means the loop is stuck (see /healthz)."),
	DAEMON("steer_daemon_reloads_total", "counter", d_u64, reloads,
	       "Reloads (SIGHUP), whether or not they took."),
	DAEMON("steer_daemon_reload_failures_total", "counter", d_u64, reload_failures,
	       "Reloads refused (a file that does not validate) or not fully applied."),
	DAEMON("steer_daemon_last_reload_success_timestamp_seconds", "gauge", d_double,
	       last_reload_ok_s, "When a configuration last took (start or reload), Unix time."),
	DAEMON("steer_daemon_config_generation", "gauge", d_u64, generation,
	       "Configurations that took, the start's included."),
	INFO("steer_daemon_config_info", SC_DAEMON, d_config,
	     "A hash of the configuration's desired state (steerd --check -j); always 1.", "hash"),
	DAEMON("steer_maintenance_served_total", "counter", d_u64, maintenance_served,
	       "Connections answered by the maintenance responder."),

	/* fleet: budgets */
	GAUGE("steer_fleet_redis_up", SC_DAEMON, d_redis_up,
	      "1 while steerd's command connection to the fleet's Redis is up (absent: no fleet "
	      "block)."),
	BUDGET("steer_fleet_lease_grants_total", "counter", grants,
	       "Budgets added to the pool's kernel quota: leases from Redis (a grant of 0 "
	       "included), or a token budget's admissions (absent: no global_quota or token "
	       "budget; static shares not counted)."),
	BUDGET("steer_fleet_lease_admissions_total", "counter", granted,
	       "Admissions those budgets held."),
	BUDGET("steer_fleet_lease_returned_total", "counter", returned,
	       "Admissions given back to Redis unspent: after a burst (above a chunk) and at "
	       "exit. Redis' count of a window is admissions minus these."),
	SET("steer_pool_budget_source", "gauge", SC_POOL, "source", budget_sources, b_source,
	    "Where the pool's kernel budget comes from: 1 for the current one. lease: Redis; "
	    "static_share: Redis away past the lease TTL; local: tokens counted on this host; "
	    "provider: the provider's remaining count rules."),
	GAUGE("steer_fleet_global_remaining", SC_POOL, b_remaining,
	      "What the fleet's Redis said was left of the window's global budget (admissions, or "
	      "tokens for a token budget) at the last lease; below 0 when the tokens reported "
	      "overshot a token budget."),
	GAUGE("steer_pool_tokens_per_connection", SC_POOL, b_per_conn,
	      "steerd's estimate of the tokens a connection costs (absent: no token budget or no "
	      "report yet)."),
	GAUGE("steer_pool_tokens_left", SC_POOL, b_tokens_left,
	      "Tokens left of the window's token budget, after what admitted connections not "
	      "reported yet will cost (the fleet's with a fleet block)."),

	/* shared circuits (fleet_circuit.c) */
	FIELD("steer_pool_circuit_fleet_open", SC_POOL, struct metrics_pool, cfg.circuit_fleet,
	      "1 while steerd holds the circuit open for the fleet: circuit_hosts or more hosts "
	      "see it open, this host's own breaker is closed."),
	SET("steer_pool_circuit_own_state", "gauge", SC_POOL, "state", circuit_states,
	    p_own_circuit, "This host's own breaker, whatever the fleet or an operator made of "
	    "the kernel's state: 1 for the current one (pools steerd judges)."),
	GAUGE("steer_fleet_circuit_hosts_open", SC_POOL, p_fleet_hosts,
	      "Hosts whose own breaker of the pool is open or half-open, as Redis last said "
	      "(absent: no fleet, or Redis away)."),
};

#define NMETRICS (sizeof(metric_table) / sizeof(metric_table[0]))

/* ---- rendering -------------------------------------------------------- */

static const char *object_name(enum scope sc, const void *o)
{
	switch (sc) {
	case SC_WORKER: return ((const struct metrics_worker *)o)->cfg.name;
	case SC_POOL: return ((const struct metrics_pool *)o)->cfg.name;
	case SC_SERVICE: return ((const struct metrics_service *)o)->cfg.name;
	default: return NULL;
	}
}

/* The object's own labels: a worker's pool and name, a pool's name... */
static size_t scope_labels(enum scope sc, const void *o, const char *keys[], const char *vals[])
{
	size_t n = 0;

	if (sc == SC_WORKER) {
		keys[n] = "pool";
		vals[n++] = ((const struct metrics_worker *)o)->pool;
	}
	if (sc != SC_DAEMON) {
		keys[n] = scopes[sc].what;
		vals[n++] = object_name(sc, o);
	}
	return n;
}

static void render_object(struct metrics_buf *b, const struct metric_def *m, const void *o)
{
	const char *keys[2 + MAX_INFO], *vals[2 + MAX_INFO];
	size_t n = scope_labels(m->scope, o, keys, vals);
	double v;

	if (m->info) {
		const char *iv[MAX_INFO] = { 0 };

		m->info_values(o, iv);
		for (size_t i = 0; m->info[i]; i++) {
			keys[n] = m->info[i];
			vals[n++] = iv[i];
		}
		metrics_sample_v(b, m->name, 1, n, keys, vals);
		return;
	}
	for (size_t k = 0; k < (m->set ? m->nset : 1); k++) {
		if (!m->get(m, o, k, &v))
			continue;
		keys[n] = m->set_label;
		vals[n] = m->set ? m->set[k] : NULL;
		metrics_sample_v(b, m->name, v, n + (m->set != NULL), keys, vals);
	}
}

static void render_family(struct metrics_buf *b, const struct metric_def *m,
			  const struct metrics_view *v)
{
	metrics_family(b, m->name, m->type, m->help);
	switch (m->scope) {
	case SC_WORKER:
		for (size_t i = 0; i < v->nw; i++)
			render_object(b, m, &v->w[i]);
		break;
	case SC_POOL:
		for (size_t i = 0; i < v->np; i++)
			render_object(b, m, &v->p[i]);
		break;
	case SC_SERVICE:
		for (size_t i = 0; i < v->ns; i++)
			render_object(b, m, &v->s[i]);
		break;
	default:
		render_object(b, m, &v->d);
	}
}

void metrics_render(struct metrics_buf *b, const struct metrics_view *v)
{
	for (size_t i = 0; i < NMETRICS; i++)
		render_family(b, &metric_table[i], v);
}

/* ---- steerd(8)'s METRICS section --------------------------------------- */

/* s as man(7) text (names and help hold no backslash or leading dot) */
static void roff(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void doc_labels(FILE *out, const struct metric_def *m)
{
	const char *sep = "";

	for (const char *const *l = scopes[m->scope].labels; *l; l++, sep = ", ")
		fprintf(out, "%s%s", sep, *l);
	for (const char *const *l = m->info; l && *l; l++, sep = ", ")
		fprintf(out, "%s%s", sep, *l);
	if (!m->set)
		return;
	fprintf(out, "%s%s=", sep, m->set_label);
	for (size_t k = 0; k < m->nset; k++) {
		fputs(k ? "|" : "", out);
		roff(out, m->set[k]);
	}
}

void metrics_doc(FILE *out)
{
	for (size_t i = 0; i < NMETRICS; i++) {
		const struct metric_def *m = &metric_table[i];

		fprintf(out, ".TP\n.B %s\n%s", m->name, m->type);
		if (m->scope != SC_DAEMON || m->info) {
			fputs(" {", out);
			doc_labels(out, m);
			fputs("}", out);
		}
		fputs(": ", out);
		roff(out, m->help);
		fputs("\n", out);
	}
}

int metrics_doc_update(const char *path, bool write)
{
	return doc_splice(path, METRICS_DOC_BEGIN, METRICS_DOC_END, metrics_doc, write);
}
