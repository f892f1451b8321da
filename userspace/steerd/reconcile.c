// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * apply.c - steerd's reconciler. Desired state: the file (plus the
 * maintenance responder's socket). Actual state: the pinned maps, read
 * afresh at every pass. A pass writes only the difference, with steps that
 * are idempotent and ordered so that a pass cut short (kill -9) is
 * completed by the next one. It runs at start, on SIGHUP, after an
 * external unload + load, and every interval.
 *
 * Who owns what: every service, pool and worker carries an `owner` in the
 * maps. steerd removes what it owns and the file no longer names; what an
 * operator made with steerctl it never touches, unless the file names it:
 * then steerd adopts it (logged) and makes it match the file.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cgroup.h"
#include "daemon.h"
#include "fleet.h"
#include "wake.h"
#include "json.h"
#include "log.h"
#include "sockets.h"
#include "state.h"

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the desired state ------------------------------------------------ */

/* The pool a file pool falls back to, as a pool name, or "none". */
static const char *fallback_of(const struct steer_config *c, const struct conf_pool *p)
{
	if (!p->fallback[0] || !strcmp(p->fallback, CONF_FALLBACK_NONE))
		return "none";
	if (!strcmp(p->fallback, CONF_FALLBACK_MAINTENANCE))
		return c->maintenance.enabled ? MAINTENANCE_POOL : "none";
	return p->fallback;
}

static bool desired_pool(const struct steer_config *c, const char *name)
{
	return config_find_pool(c, name) ||
	       (c->maintenance.enabled && !strcmp(name, MAINTENANCE_POOL));
}

static bool desired_worker(const struct steer_config *c, const char *name)
{
	return config_find_worker(c, name, NULL) ||
	       (c->maintenance.enabled && !strcmp(name, MAINTENANCE_WORKER));
}

static bool desired_service(const struct steer_config *c, const char *name)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (!strcmp(c->services[i].name, name))
			return true;
	return false;
}

static uint64_t rate_milli_of(double rate)
{
	return (uint64_t)(rate * STEER_MILLI + 0.5);	/* as pool_set_rate() */
}

static void print_pool(struct json *j, const char *name, uint32_t policy, const char *fallback,
		       const struct conf_pool *p)
{
	json_object_begin(j, NULL);
	json_string(j, "name", name);
	json_string(j, "policy", policy_name(policy));
	if (!strcmp(fallback, "none"))
		json_null(j, "fallback");
	else
		json_string(j, "fallback", fallback);
	json_string(j, "owner", owner_name(STEER_OWNER_STEERD));
	if (p && p->has_quota)
		json_uint(j, "quota", p->quota);
	else
		json_null(j, "quota");
	if (p && p->has_rate)
		json_uint(j, "rate_milli", rate_milli_of(p->rate));
	else
		json_null(j, "rate_milli");
	json_object_end(j);
}

static void print_worker(struct json *j, const char *name, const char *pool,
			 const struct steer_endpoint *ep, uint32_t weight, uint32_t maxconn)
{
	char where[80];

	netaddr_format_endpoint(ep->addr, ep->port, where, sizeof(where));
	json_object_begin(j, NULL);
	json_string(j, "name", name);
	json_string(j, "pool", pool);
	json_string(j, "listener", where);
	json_string(j, "addr", where);
	json_uint(j, "weight", weight);
	json_uint(j, "maxconn", maxconn);
	json_string(j, "owner", owner_name(STEER_OWNER_STEERD));
	json_object_end(j);
}

void daemon_print_desired(const struct steer_config *c, FILE *f)
{
	char addr[64], prefix[80];
	struct json j;

	json_init(&j, f);
	json_object_begin(&j, NULL);
	json_array_begin(&j, "services");
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];

		netaddr_format(s->prefix.addr, addr, sizeof(addr));
		snprintf(prefix, sizeof(prefix), "%s/%u", addr, s->prefix.prefixlen);
		json_object_begin(&j, NULL);
		json_string(&j, "name", s->name);
		json_string(&j, "address", addr);
		json_uint(&j, "prefixlen", s->prefix.prefixlen);
		json_string(&j, "prefix", prefix);
		json_uint(&j, "port_lo", s->port_lo);
		json_uint(&j, "port_hi", s->port_hi);
		json_string(&j, "pool", s->pool);
		json_string(&j, "owner", owner_name(STEER_OWNER_STEERD));
		json_object_end(&j);
	}
	json_array_end(&j);
	json_array_begin(&j, "pools");
	if (c->maintenance.enabled)
		print_pool(&j, MAINTENANCE_POOL, STEER_POLICY_LEAST_CONN, "none", NULL);
	for (size_t i = 0; i < c->npools; i++)
		print_pool(&j, c->pools[i].name, c->pools[i].policy, fallback_of(c, &c->pools[i]),
			   &c->pools[i]);
	json_array_end(&j);
	json_array_begin(&j, "workers");
	if (c->maintenance.enabled)
		print_worker(&j, MAINTENANCE_WORKER, MAINTENANCE_POOL, &c->maintenance.listen,
			     MAINTENANCE_WEIGHT, 0);
	for (size_t i = 0; i < c->npools; i++)
		for (size_t k = 0; k < c->pools[i].nworkers; k++) {
			const struct conf_worker *w = &c->pools[i].workers[k];

			print_worker(&j, w->name, c->pools[i].name, &w->addr, w->weight,
				     w->maxconn);
		}
	json_array_end(&j);
	json_object_end(&j);
	fputc('\n', f);
}

/* ---- the actual state: the maps' snapshot ------------------------------ */

/* The named maps as arrays by id, from state.c's snapshot: one batch read
 * per map per pass, kept exact by the pass's own writes (under the lock,
 * no one else writes), so a pass costs O(W) map operations. */
struct actual {
	const struct steer_maps *m;
	const struct steer_service *services;
	const struct steer_pool *pools;
	const struct steer_worker *workers;
};

static int snapshot(struct daemon *d, struct actual *a)
{
	a->m = &d->maps;
	a->services = state_services(&d->maps);
	a->pools = state_pools(&d->maps);
	a->workers = state_workers(&d->maps);
	return a->services && a->pools && a->workers ? 0 : -1;
}

static const struct steer_pool *actual_pool(const struct actual *a, const char *name, uint32_t *id)
{
	char err[STEER_ERR_LEN];

	return pool_find(a->m, name, id, NULL, err) ? NULL : &a->pools[*id];
}

static const struct steer_worker *actual_worker(const struct actual *a, const char *name,
						uint32_t *id)
{
	char err[STEER_ERR_LEN];

	return worker_find(a->m, name, id, NULL, err) ? NULL : &a->workers[*id];
}

static const struct steer_service *actual_service(const struct actual *a, const char *name,
						  uint32_t *id)
{
	char err[STEER_ERR_LEN];

	return service_find(a->m, name, id, NULL, err) ? NULL : &a->services[*id];
}

static const char *pool_name_in(const struct actual *a, uint32_t id)
{
	if (id >= STEER_MAX_POOLS || !a->pools[id].in_use)
		return "none";
	return a->pools[id].name;
}

/* ---- problems: logged when they appear, not at every pass --------------- */

struct pass {
	struct daemon *d;
	struct actual *a;
	int ret;
	char err[STEER_ERR_LEN];
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void problem(struct pass *ps, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct pass *ps, int ret, const char *fmt, ...)
{
	struct daemon *d = ps->d;
	char msg[STEER_ERR_LEN * 2];
	bool seen = false;
	uint64_t h;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h = hash_str(msg);
	for (size_t i = 0; i < d->nproblems[1]; i++)
		seen |= d->problems[1][i] == h;
	if (d->nproblems[0] < sizeof(d->problems[0]) / sizeof(d->problems[0][0]))
		d->problems[0][d->nproblems[0]++] = h;
	if (seen)
		log_debug("%s", msg);
	else
		log_warn("%s", msg);
	if (!ps->ret && ret) {
		ps->ret = ret;
		snprintf(ps->err, sizeof(ps->err), "%s", msg);
	}
}

/* ---- pools -------------------------------------------------------------- */

static void adopt(struct pass *ps, const char *what, const char *name,
		  int (*set_owner)(const struct steer_maps *, const char *, uint32_t, char *))
{
	char err[STEER_ERR_LEN];
	int ret;

	if ((ret = set_owner(&ps->d->maps, name, STEER_OWNER_STEERD, err)))
		problem(ps, ret, "%s %s: cannot adopt: %s", what, name, err);
	else
		log_warn("%s %s was made by an operator; the file names it, so steerd owns it now",
			 what, name);
}

static void ensure_pool(struct pass *ps, const char *name, uint32_t policy)
{
	const struct steer_pool *cur;
	char err[STEER_ERR_LEN];
	uint32_t id;
	int ret;

	if (!(cur = actual_pool(ps->a, name, &id))) {
		if ((ret = pool_add(&ps->d->maps, name, policy, NULL, err)))
			problem(ps, ret, "pool %s: %s", name, err);
		else
			log_info("pool %s added (%s)", name, policy_name(policy));
		return;
	}
	if (cur->owner != STEER_OWNER_STEERD)
		adopt(ps, "pool", name, pool_set_owner);
}

/* Policy and fallback; false when the fallback would make a loop with what
 * the maps hold now (another pool still has to change first). */
static bool settle_pool(struct pass *ps, const char *name, uint32_t policy, const char *fallback)
{
	const struct steer_pool *cur;
	char err[STEER_ERR_LEN];
	uint32_t id;
	int ret;

	if (!(cur = actual_pool(ps->a, name, &id)))
		return true;	/* pool_add failed: reported */
	if (cur->policy == policy && !strcmp(pool_name_in(ps->a, cur->fallback), fallback))
		return true;
	if ((ret = pool_set(&ps->d->maps, name, &policy, fallback, err))) {
		if (ret == STEER_EINPUT)
			return false;
		problem(ps, ret, "pool %s: %s", name, err);
		return true;
	}
	log_info("pool %s: policy %s, fallback %s", name, policy_name(policy), fallback);
	return true;
}

static int reconcile_pools(struct pass *ps)
{
	const struct steer_config *c = &ps->d->conf;
	bool *late = calloc(c->npools + 1, sizeof(*late));
	char err[STEER_ERR_LEN];
	size_t nlate = 0;

	if (!late)
		return -1;
	/* create first, so fallbacks may name pools of the same file */
	if (c->maintenance.enabled)
		ensure_pool(ps, MAINTENANCE_POOL, STEER_POLICY_LEAST_CONN);
	for (size_t i = 0; i < c->npools; i++)
		ensure_pool(ps, c->pools[i].name, c->pools[i].policy);
	if (c->maintenance.enabled)
		settle_pool(ps, MAINTENANCE_POOL, STEER_POLICY_LEAST_CONN, "none");
	for (size_t i = 0; i < c->npools; i++)
		if (!settle_pool(ps, c->pools[i].name, c->pools[i].policy,
				 fallback_of(c, &c->pools[i])))
			nlate += late[i] = true;
	/* The file has no loops, so with the late ones' fallbacks cleared
	 * each can be set (the maps held a chain the other way round). */
	for (size_t i = 0; nlate && i < c->npools; i++)
		if (late[i])
			pool_set(&ps->d->maps, c->pools[i].name, NULL, "none", err);
	for (size_t i = 0; nlate && i < c->npools; i++) {
		const char *fb = fallback_of(c, &c->pools[i]);

		if (!late[i])
			continue;
		if (pool_set(&ps->d->maps, c->pools[i].name, &c->pools[i].policy, fb, err))
			problem(ps, STEER_EINPUT, "pool %s: %s", c->pools[i].name, err);
		else
			log_info("pool %s: fallback %s", c->pools[i].name, fb);
	}
	free(late);
	return 0;
}

/* Quota: a budget the kernel is spending is granted again only when the
 * file's quota differs from the one last granted (pools.quota_conf), or
 * the budget is not on as recorded (a grant cut short). So a restart, a
 * reload or a periodic pass never refills a spent quota; editing the
 * quota in the file (or `steerctl pool quota`) does. Rate: the bucket's
 * settings are in pool_limits; it is set again only when they differ. */
static void reconcile_limits(struct pass *ps)
{
	const struct steer_config *c = &ps->d->conf;
	char err[STEER_ERR_LEN];
	int ret;

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i];
		struct steer_pool_limits lim;
		struct steer_pool_budget bud;
		const struct steer_pool *cur;
		uint64_t rate_milli = p->has_rate ? rate_milli_of(p->rate) : 0;
		uint64_t burst_milli = p->has_rate ? (uint64_t)p->burst * STEER_MILLI : 0;
		uint32_t id;

		if (!(cur = actual_pool(ps->a, p->name, &id)) || pool_limits_read(&ps->d->maps, id, &lim) ||
		    pool_budget_read(&ps->d->maps, id, &bud))
			continue;
		/* a global quota or token budget is fleet.c's (budgets.c); until
		 * it grants, the pool admits nothing: never a pool with no budget
		 * (a new pool, new maps) while its services already exist */
		if (p->has_global_quota || p->has_tokens) {
			if (cur->quota_set) {	/* a local quota before: its leftover is no lease */
				if ((ret = pool_quota_to_lease(&ps->d->maps, p->name, err)))
					problem(ps, ret, "pool %s: %s", p->name, err);
				else
					log_info("pool %s: local quota off; its budget is leased now",
						 p->name);
			} else if (!bud.quota_on && (ret = pool_quota_hold(&ps->d->maps, id, err))) {
				problem(ps, ret, "pool %s: %s", p->name, err);
			}
			goto rate;
		}
		if (cur->quota_set != p->has_quota || bud.quota_on != p->has_quota ||
		    (p->has_quota && cur->quota_conf != p->quota)) {
			if ((ret = pool_set_quota(&ps->d->maps, p->name, p->has_quota,
						  (int64_t)p->quota, err)))
				problem(ps, ret, "pool %s: %s", p->name, err);
			else if (p->has_quota)
				log_info("pool %s: quota %llu granted", p->name,
					 (unsigned long long)p->quota);
			else
				log_info("pool %s: quota off", p->name);
		}
rate:
		if (lim.rate_on == p->has_rate && lim.rate_milli == rate_milli &&
		    lim.burst_milli == burst_milli)
			continue;
		if ((ret = pool_set_rate(&ps->d->maps, p->name, p->has_rate, p->rate, p->burst, err)))
			problem(ps, ret, "pool %s: %s", p->name, err);
		else
			log_info("pool %s: rate %s", p->name, p->has_rate ? "set" : "off");
	}
}

/* ---- workers ------------------------------------------------------------ */

static bool pool_has(const struct steer_pool *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->nworkers && i < STEER_MAX_POOL_WORKERS; i++)
		if (p->members[i] == id)
			return true;
	return false;
}

/* Fully in the maps: its socket there, its counts of its generation, a
 * member of its pool, not DOWN (worker_del's first step). Anything less is
 * a listener that died (a restart), or an add or a delete cut short:
 * worker_add() with the same name completes it. */
static bool worker_whole(struct pass *ps, uint32_t id, const struct steer_worker *w)
{
	struct steer_worker_stats st;

	return w->state != STEER_WORKER_DOWN && worker_listener_alive(&ps->d->maps, id) &&
	       !worker_stats_read(&ps->d->maps, id, &st) &&
	       st.gen == w->gen && w->pool_id < STEER_MAX_POOLS &&
	       pool_has(&ps->a->pools[w->pool_id], id);
}

/* A lobby-aware worker whose process is gone while its listener lives on
 * (another process holds it too: systemd restarting a socket-activated
 * service). The kernel knows who takes a lobby connection by its process:
 * taken again (the same listener: its counts are kept), steerd names the
 * new one, else every lobby take would be unattributed. */
static bool process_replaced(const struct steer_worker *w)
{
	return w->slots && w->pid && kill((pid_t)w->pid, 0) && errno == ESRCH;
}

static int take_listener(struct daemon *d, const char *name, const struct steer_endpoint *ep,
			 struct listener *l, char *err)
{
	if (!strcmp(name, MAINTENANCE_WORKER) && d->maint_open)
		return listener_take_by_fd((uint32_t)getpid(), (uint32_t)d->maint.fd,
					   d->maps.netns_ino, l, err);
	return listener_take_by_addr(ep, d->maps.netns_ino, l, err);
}

/* weight = "auto" (or steerctl's --weight auto): from the CPU allowance of
 * the worker's process (cgroup.h), again every pass since cpu.max can
 * change. False when the process is not known or gone: the weight stays. */
static bool auto_weight_of(uint32_t pid, uint32_t *weight)
{
	struct cpu_allowance a;

	if (!pid || cpu_allowance_of((pid_t)pid, &a))
		return false;
	*weight = weight_of_cpus(a.cpus);
	return true;
}

/* An auto weight kept current, and maxconn as wanted. */
static void keep_auto_weight(struct pass *ps, const char *name, const struct steer_worker *cur,
			     uint32_t maxconn)
{
	bool was_auto = cur->flags & STEER_WORKER_F_AUTO_WEIGHT;
	uint32_t weight = cur->weight, was = cur->weight;
	char err[STEER_ERR_LEN];
	int ret;

	auto_weight_of(cur->pid, &weight);
	if (was_auto && weight == was && cur->maxconn == maxconn)
		return;
	if ((ret = worker_update_auto(&ps->d->maps, name, weight, &maxconn, err)))
		problem(ps, ret, "worker %s: %s", name, err);
	else
		log_info("worker %s: weight auto %u (was %u), maxconn %u", name, weight, was, maxconn);
}

/* The operator's workers set to --weight auto: steerd keeps them current
 * too (the file's are kept by reconcile_worker). */
static void refresh_auto_weights(struct pass *ps)
{
	for (uint32_t id = 0; id < STEER_MAX_WORKERS; id++) {
		struct steer_worker w = ps->a->workers[id];	/* a copy: updates write through */

		if (w.in_use && (w.flags & STEER_WORKER_F_AUTO_WEIGHT) &&
		    !desired_worker(&ps->d->conf, w.name))
			keep_auto_weight(ps, w.name, &w, w.maxconn);
	}
}

static void add_worker(struct pass *ps, const char *pool, const char *name,
		       const struct steer_endpoint *ep, const struct worker_params *want,
		       const char *how)
{
	struct worker_params p = *want, *params = &p;
	char err[STEER_ERR_LEN];
	struct listener l;
	int ret;

	if ((ret = take_listener(ps->d, name, ep, &l, err))) {
		/* not listening yet: retried every interval, not an error */
		problem(ps, STEER_OK, "worker %s: %s (will retry)", name, err);
		return;
	}
	if (p.auto_weight)
		auto_weight_of(l.pid, &p.weight);
	if ((ret = worker_add(&ps->d->maps, pool, name, &l, params, err)))
		problem(ps, ret, "worker %s: %s", name, err);
	else
		log_info("worker %s %s (pool %s, pid %u)", name, how, pool, l.pid);
}

static void reconcile_worker(struct pass *ps, const char *pool, const char *name,
			     const struct steer_endpoint *ep, const struct worker_params *params)
{
	const struct steer_worker *cur;
	char err[STEER_ERR_LEN];
	uint32_t id, pool_id;
	int ret;

	if (!actual_pool(ps->a, pool, &pool_id))
		return;		/* its pool could not be made: reported */
	if (!(cur = actual_worker(ps->a, name, &id))) {
		add_worker(ps, pool, name, ep, params, "added");
		return;
	}
	if (cur->owner != STEER_OWNER_STEERD)
		adopt(ps, "worker", name, worker_set_owner);
	if (cur->pool_id != pool_id || !netaddr_same_endpoint(cur->addr, cur->port, ep, true)) {
		/* moved to another pool or address: a new worker there */
		if ((ret = worker_del(&ps->d->maps, name, err)))
			problem(ps, ret, "worker %s: %s", name, err);
		else
			add_worker(ps, pool, name, ep, params, "moved");
		return;
	}
	if (!worker_whole(ps, id, cur)) {
		add_worker(ps, pool, name, ep, params, "taken again");
		return;
	}
	if (process_replaced(cur)) {
		add_worker(ps, pool, name, ep, params, "taken again (a new process)");
		return;
	}
	if (cur->slots != params->slots) {
		if ((ret = worker_set_slots(&ps->d->maps, name, params->slots, err)))
			problem(ps, ret, "worker %s: %s", name, err);
		else
			log_info("worker %s: slots %u", name, params->slots);
	}
	if (params->auto_weight) {
		keep_auto_weight(ps, name, cur, params->maxconn);
		return;
	}
	if (cur->weight == params->weight && cur->maxconn == params->maxconn &&
	    !(cur->flags & STEER_WORKER_F_AUTO_WEIGHT))
		return;
	if ((ret = worker_update(&ps->d->maps, name, &params->weight, &params->maxconn, NULL, err)))
		problem(ps, ret, "worker %s: %s", name, err);
	else
		log_info("worker %s: weight %u, maxconn %u", name, params->weight, params->maxconn);
}

static void reconcile_workers(struct pass *ps)
{
	const struct steer_config *c = &ps->d->conf;

	if (c->maintenance.enabled && ps->d->maint_open) {
		struct worker_params params = { .weight = MAINTENANCE_WEIGHT };

		reconcile_worker(ps, MAINTENANCE_POOL, MAINTENANCE_WORKER, &c->maintenance.listen,
				 &params);
	}
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i];

		for (size_t k = 0; k < p->nworkers; k++) {
			const struct conf_worker *w = &p->workers[k];
			struct worker_params params = { .weight = w->weight, .maxconn = w->maxconn,
							.auto_weight = w->weight_auto,
							.slots = w->has_slots ? w->slots : 0 };

			reconcile_worker(ps, p->name, w->name, &w->addr, &params);
		}
	}
}

/* ---- lobbies ------------------------------------------------------------ */

/* Pool p's lobby as the file says: taken when it is not the live one (a
 * lobby whose socket closed is gone, as a worker's listener: taken again
 * once someone listens there, tried every interval), or removed. */
static void reconcile_lobby(struct pass *ps, const struct conf_pool *p)
{
	char err[STEER_ERR_LEN];
	struct steer_lobby lb;
	struct listener l;
	uint32_t id;
	int ret;

	if (!actual_pool(ps->a, p->name, &id))
		return;		/* its pool could not be made: reported */
	if (pool_lobby_read(&ps->d->maps, id, &lb, NULL))
		memset(&lb, 0, sizeof(lb));
	if (!p->has_lobby) {
		if (lb.in_use && (ret = pool_set_lobby(&ps->d->maps, p->name, NULL, err)))
			problem(ps, ret, "pool %s: %s", p->name, err);
		else if (lb.in_use)
			log_info("pool %s: lobby off", p->name);
		return;
	}
	if (lb.in_use && pool_lobby_alive(&ps->d->maps, id) &&
	    netaddr_same_endpoint(lb.addr, lb.port, &p->lobby, true))
		return;
	if ((ret = listener_take_by_addr(&p->lobby, ps->d->maps.netns_ino, &l, err))) {
		/* no one listens there yet: retried every interval, not an error */
		problem(ps, STEER_OK, "pool %s: lobby: %s (will retry)", p->name, err);
		return;
	}
	if ((ret = pool_set_lobby(&ps->d->maps, p->name, &l, err)))
		problem(ps, ret, "pool %s: lobby: %s", p->name, err);
	else
		log_info("pool %s: lobby taken (pid %u)", p->name, l.pid);
}

/* The file gives pool id's lobby (lb) to another pool: let it go before
 * any is taken, so a lobby that moves between pools in one reload is free
 * for its new pool in that same pass (reconcile_lobby turns off the ones
 * the file drops; a dropped pool's goes with it, remove_dropped_pools). */
static bool lobby_let_go(const struct pass *ps, uint32_t id, const struct steer_lobby *lb)
{
	const struct steer_pool *ap = &ps->a->pools[id];
	const struct conf_pool *own = config_find_pool(&ps->d->conf, ap->name);
	bool wanted = false;

	if (own && own->has_lobby && netaddr_same_endpoint(lb->addr, lb->port, &own->lobby, true))
		return false;	/* still its own */
	for (size_t i = 0; i < ps->d->conf.npools; i++) {
		const struct conf_pool *p = &ps->d->conf.pools[i];

		wanted |= p != own && p->has_lobby &&
			  netaddr_same_endpoint(lb->addr, lb->port, &p->lobby, true);
	}
	return wanted;
}

static void reconcile_lobbies(struct pass *ps)
{
	char err[STEER_ERR_LEN];
	struct steer_lobby lb;
	int ret;

	for (uint32_t id = 0; ps->a->pools && id < STEER_MAX_POOLS; id++) {
		const struct steer_pool *ap = &ps->a->pools[id];

		if (!ap->in_use || ap->owner != STEER_OWNER_STEERD ||
		    pool_lobby_read(&ps->d->maps, id, &lb, NULL) || !lb.in_use ||
		    !lobby_let_go(ps, id, &lb))
			continue;
		if ((ret = pool_set_lobby(&ps->d->maps, ap->name, NULL, err)))
			problem(ps, ret, "pool %s: %s", ap->name, err);
		else
			log_info("pool %s: lobby off", ap->name);
	}
	for (size_t i = 0; i < ps->d->conf.npools; i++)
		reconcile_lobby(ps, &ps->d->conf.pools[i]);
}

/* ---- services ----------------------------------------------------------- */

/* The same addresses and ports: its LPM keys are the file's. */
static bool same_keys(const struct steer_service *s, const struct conf_service *c)
{
	return s->family == c->prefix.family && s->prefixlen == c->prefix.prefixlen &&
	       !memcmp(s->addr, c->prefix.addr, 16) && s->port_lo == c->port_lo &&
	       s->port_hi == c->port_hi;
}

/* service_add() writes the LPM entries from port_lo up, service_del() from
 * port_lo up too: an interrupted one lacks its last or its first port. */

static void reconcile_services(struct pass *ps)
{
	const struct steer_config *c = &ps->d->conf;
	char err[STEER_ERR_LEN];

	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];
		const struct steer_service *cur;
		uint32_t id, pool_id;
		int ret;

		if (!actual_pool(ps->a, s->pool, &pool_id))
			continue;
		if ((cur = actual_service(ps->a, s->name, &id))) {
			if (cur->owner != STEER_OWNER_STEERD)
				adopt(ps, "service", s->name, service_set_owner);
			if (same_keys(cur, s) && service_keys_live(&ps->d->maps, id, cur)) {
				if (cur->pool_id == pool_id)
					continue;
				/* another pool: its keys point there in place, so no
				 * connection meets the address without a service */
				if ((ret = service_set_pool(&ps->d->maps, s->name, s->pool, err)))
					problem(ps, ret, "service %s: %s", s->name, err);
				else
					log_info("service %s -> pool %s", s->name, s->pool);
				continue;
			}
			if ((ret = service_del(&ps->d->maps, s->name, err))) {
				problem(ps, ret, "service %s: %s", s->name, err);
				continue;
			}
		}
		if ((ret = service_add(&ps->d->maps, s->name, &s->prefix, s->port_lo, s->port_hi,
				       s->pool, err)))
			problem(ps, ret, "service %s: %s", s->name, err);
		else
			log_info("service %s -> pool %s", s->name, s->pool);
	}
}

/* ---- what steerd owns and the file no longer names ------------------------ */

/* The file's worker that takes over w: a name the maps do not have, in w's
 * pool, at w's address. */
static const char *renamed_to(struct pass *ps, const struct steer_worker *w)
{
	const struct steer_config *c = &ps->d->conf;
	const struct steer_pool *pool;
	uint32_t id;

	if (w->pool_id >= STEER_MAX_POOLS || !(pool = &ps->a->pools[w->pool_id])->in_use)
		return NULL;
	for (size_t i = 0; i < c->npools; i++) {
		if (strncmp(c->pools[i].name, pool->name, STEER_NAME_LEN))
			continue;
		for (size_t k = 0; k < c->pools[i].nworkers; k++) {
			const struct conf_worker *cw = &c->pools[i].workers[k];

			if (netaddr_same_endpoint(w->addr, w->port, &cw->addr, true) && !actual_worker(ps->a, cw->name, &id))
				return cw->name;
		}
	}
	return NULL;
}

/* Services and workers go before the file's are added, so that a renamed
 * one finds its socket, address and ports free in the same pass. Each
 * record is copied first: the snapshot changes as we write. */
static void remove_dropped(struct pass *ps)
{
	const struct steer_config *c = &ps->d->conf;
	struct actual *a = ps->a;
	char err[STEER_ERR_LEN];

	for (uint32_t i = 0; i < STEER_MAX_SERVICES; i++) {
		struct steer_service s = a->services[i];

		if (s.in_use && s.owner == STEER_OWNER_STEERD && !desired_service(c, s.name) &&
		    !service_del(&ps->d->maps, s.name, err))
			log_info("service %s removed", s.name);
	}
	for (uint32_t i = 0; i < STEER_MAX_WORKERS; i++) {
		struct steer_worker w = a->workers[i];
		const char *heir;

		if (!w.in_use || w.owner != STEER_OWNER_STEERD || desired_worker(c, w.name))
			continue;
		/* renamed in the file: the same entry takes the new name, so its
		 * pool never goes without it and its counts go on */
		if ((heir = renamed_to(ps, &w)) && !worker_rename(&ps->d->maps, w.name, heir, err)) {
			log_info("worker %s renamed %s", w.name, heir);
			continue;
		}
		if (!worker_del(&ps->d->maps, w.name, err))
			log_info("worker %s removed", w.name);
	}
}

/* A pool that steerd owns and the file no longer names, by id: its name
 * copied into name. */
static bool dropped_pool(const struct pass *ps, uint32_t id, char name[STEER_NAME_LEN])
{
	const struct steer_pool *p = &ps->a->pools[id];

	if (!p->in_use || p->owner != STEER_OWNER_STEERD || desired_pool(&ps->d->conf, p->name))
		return false;
	memcpy(name, p->name, STEER_NAME_LEN);
	return true;
}

/* Pools go last, once nothing of the file's uses them; a pool that is
 * another's fallback goes after that one. */
static void remove_dropped_pools(struct pass *ps)
{
	char err[STEER_ERR_LEN], name[STEER_NAME_LEN];
	bool progress = true;

	while (progress) {
		progress = false;
		for (uint32_t i = 0; i < STEER_MAX_POOLS; i++) {
			if (dropped_pool(ps, i, name) && !pool_del(&ps->d->maps, name, err)) {
				log_info("pool %.*s removed", STEER_NAME_LEN, name);
				progress = true;
			}
		}
	}
	for (uint32_t i = 0; i < STEER_MAX_POOLS; i++)
		if (dropped_pool(ps, i, name) && pool_del(&ps->d->maps, name, err))
			problem(ps, STEER_OK, "pool %.*s: not removed: %s", STEER_NAME_LEN, name, err);
}

/* ---- the daemon's view ------------------------------------------------ */

/* Close a check in flight: off epoll first, then the fd (check_free). */
static void probe_close(struct daemon *d, struct probe *pr)
{
	if (!pr->run)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, pr->fd, NULL);
	check_free(pr->run);
	pr->run = NULL;
	pr->fd = -1;
	pr->seq = 0;
}

/* A check in flight moves with its worker to its new index. */
static void probe_rewatch(struct daemon *d, struct probe *pr, size_t slot, bool agent)
{
	struct epoll_event ev;

	if (!pr->run)
		return;
	ev.events = pr->events;
	ev.data.u64 = probe_token(slot, agent, pr->seq);
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, pr->fd, &ev))
		probe_close(d, pr);
}

/* A circuit under the new file's rules: the old one whole (its window
 * too) when the rules are the same, else a fresh window that keeps the
 * old state, so a reload never closes an open circuit. */
static void carry_circuit(struct circuit *c, const struct circuit *old)
{
	if (!memcmp(&c->p, &old->p, sizeof(c->p))) {
		*c = *old;
		return;
	}
	c->state = old->state;
	c->since_ms = old->since_ms;
}

/* The same check target: a check in flight goes on. */
static bool same_probe(const struct conf_worker *a, const struct conf_worker *b, bool agent)
{
	if (!netaddr_endpoint_equal(&a->addr, &b->addr))
		return false;
	return agent ? !memcmp(&a->agent, &b->agent, sizeof(a->agent))
		     : !memcmp(&a->check, &b->check, sizeof(a->check));
}

/* The old view's worker of the same name hands its live state over as
 * one unit; only what the file sets is the new one's. A check in flight
 * that now checks something else stays with ow and ends with it. */
static void carry_worker(struct dworker *w, struct dworker *ow)
{
	struct dworker_live fresh = w->live;

	w->live = ow->live;
	w->live.track.rise = fresh.track.rise;
	w->live.track.fall = fresh.track.fall;
	w->live.outlier = fresh.outlier;
	carry_circuit(&w->live.outlier, &ow->live.outlier);
	if (same_probe(&w->conf, &ow->conf, false))
		ow->live.check.run = NULL;
	else
		w->live.check = fresh.check;
	if (same_probe(&w->conf, &ow->conf, true))
		ow->live.agent.run = NULL;
	else
		w->live.agent = fresh.agent;
}

static struct dworker *old_worker(struct daemon *d, const char *name)
{
	for (size_t o = 0; o < d->nworkers; o++)
		if (!strcmp(d->workers[o].name, name))
			return &d->workers[o];
	return NULL;
}

static struct dpool *old_pool(struct daemon *d, const char *name)
{
	for (size_t k = 0; k < d->npools; k++)
		if (!strcmp(d->pools[k].name, name))
			return &d->pools[k];
	return NULL;
}

/* A worker of the file, as new, then with the old view's live state. */
static void view_worker(struct daemon *d, struct dworker *w, const struct conf_pool *cp,
			const struct conf_worker *cw, const struct circuit_params *params,
			uint64_t now)
{
	struct dworker *ow;

	snprintf(w->name, sizeof(w->name), "%s", cw->name);
	snprintf(w->pool, sizeof(w->pool), "%s", cp->name);
	w->conf = *cw;
	w->live.check.fd = w->live.agent.fd = -1;
	w->live.agent_pct = -1;
	w->live.res_factor = STEER_HEALTH_FULL;
	w->live.health = STEER_HEALTH_FULL;
	health_track_init(&w->live.track, cw->check.rise, cw->check.fall, true, now);
	/* outlier ejection judges each worker by its pool's rules */
	circuit_init(&w->live.outlier, params, now);
	if ((ow = old_worker(d, w->name)))
		carry_worker(w, ow);
}

static void view_pool(struct daemon *d, struct dpool *dp, const struct conf_pool *cp,
		      const struct circuit_params *params, uint64_t now)
{
	struct dpool *op;

	snprintf(dp->name, sizeof(dp->name), "%s", cp->name);
	dp->eject_max = cp->eject_max;
	circuit_init(&dp->live.circuit, params, now);
	if (!(op = old_pool(d, cp->name)))
		return;
	dp->live.id = op->live.id;
	dp->live.reports_ok = op->live.reports_ok;
	dp->live.reports_err = op->live.reports_err;
	dp->live.share = op->live.share;
	dp->live.kstate = op->live.kstate;
	dp->live.kfleet = op->live.kfleet;
	dp->live.kread = op->live.kread;
	carry_circuit(&dp->live.circuit, &op->live.circuit);
}

int daemon_rebuild_views(struct daemon *d)
{
	struct dworker *workers;
	struct dpool *pools;
	size_t nw = 0, np = d->conf.npools;
	uint64_t now = now_ms();

	for (size_t i = 0; i < d->conf.npools; i++)
		nw += d->conf.pools[i].nworkers;
	if (nw >= 1u << PROBE_TOKEN_SLOT_BITS)
		return -1;
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

		view_pool(d, &pools[i], cp, &params, now);
		for (size_t k = 0; k < cp->nworkers; k++)
			view_worker(d, &workers[nw++], cp, &cp->workers[k], &params, now);
	}
	/* what was not carried over: its checks end here, off epoll */
	daemon_free_views(d);
	d->workers = workers;
	d->nworkers = nw;
	d->pools = pools;
	d->npools = np;
	for (size_t i = 0; i < nw; i++) {
		probe_rewatch(d, &workers[i].live.check, i, false);
		probe_rewatch(d, &workers[i].live.agent, i, true);
	}
	return 0;
}

void daemon_free_views(struct daemon *d)
{
	for (size_t o = 0; o < d->nworkers; o++) {
		probe_close(d, &d->workers[o].live.check);
		probe_close(d, &d->workers[o].live.agent);
	}
	free(d->workers);
	free(d->pools);
	d->workers = NULL;
	d->pools = NULL;
	d->nworkers = d->npools = 0;
}

/* Each worker's id, owner pid and health as the maps have them now. */
static void resolve_workers(struct daemon *d, struct actual *a)
{
	struct steer_worker_stats st;
	const struct steer_worker *w;

	for (size_t i = 0; i < d->nworkers; i++) {
		struct dworker *dw = &d->workers[i];
		uint32_t id;

		dw->live.present = (w = actual_worker(a, dw->name, &id)) != NULL;
		if (!dw->live.present)
			continue;
		if (dw->live.id != id || dw->live.pid != (pid_t)w->pid)
			dw->live.counted = false;	/* another entry: new baseline */
		dw->live.id = id;
		dw->live.pid = (pid_t)w->pid;
		dw->live.health = w->health;
		/* a flag, not closed == 0: a pass between the first connections
		 * and their sampling must not take them as the baseline */
		if (!dw->live.counted && !worker_stats_read(&d->maps, dw->live.id, &st)) {
			dw->live.counted = true;
			dw->live.closed = st.steered_closed;
			dw->live.aborted = st.steered_aborted;
		}
	}
	for (size_t i = 0; i < d->npools; i++)
		actual_pool(a, d->pools[i].name, &d->pools[i].live.id);
}

/* ---- one pass ----------------------------------------------------------- */

static int open_maintenance(struct daemon *d, struct pass *ps)
{
	const struct conf_maintenance *mc = &d->conf.maintenance;
	char err[STEER_ERR_LEN];
	int ret;

	if (!mc->enabled || d->maint_open)
		return STEER_OK;
	if ((ret = maintenance_open(&d->maint, &mc->listen, mc->status, mc->retry_after, mc->body,
				    err))) {
		problem(ps, ret, "maintenance: %s", err);
		return ret;
	}
	d->maint_open = true;
	return STEER_OK;
}

int daemon_reconcile(struct daemon *d, char *err)
{
	struct actual a;
	struct pass ps = { .d = d, .a = &a };

	if (d->unloaded)
		return STEER_OK;
	d->nproblems[0] = 0;
	if (steer_maps_lock(&d->maps)) {
		snprintf(err, STEER_ERR_LEN, "cannot lock %s: %s", d->maps.dir, strerror(errno));
		return STEER_ESYS;
	}
	open_maintenance(d, &ps);
	/* read once under the lock: every step below sees the last one's
	 * writes through it */
	if (snapshot(d, &a) || reconcile_pools(&ps)) {
		problem(&ps, STEER_ESYS, "cannot read the maps: %s", strerror(errno));
		goto out;
	}
	reconcile_limits(&ps);
	remove_dropped(&ps);
	reconcile_workers(&ps);
	reconcile_lobbies(&ps);
	refresh_auto_weights(&ps);
	reconcile_services(&ps);
	remove_dropped_pools(&ps);
	resolve_workers(d, &a);
out:
	steer_maps_unlock(&d->maps);
	memcpy(d->problems[1], d->problems[0], sizeof(d->problems[0]));
	d->nproblems[1] = d->nproblems[0];
	if (ps.ret)
		snprintf(err, STEER_ERR_LEN, "%s", ps.err);
	return ps.ret;
}

/* ---- maps replaced under us --------------------------------------------- */

static uint32_t map_id_of(int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.id : 0;
}

/* The id of the pinned workers map now (0: not pinned). */
static uint32_t pinned_map_id(struct daemon *d)
{
	char path[PATH_MAX + 64];
	uint32_t id;
	int fd;

	snprintf(path, sizeof(path), "%s/maps/%s", d->paths.dir, steer_map_names[MAP_WORKERS]);
	fd = bpf_obj_get(path);
	id = map_id_of(fd);
	if (fd >= 0)
		close(fd);
	return id;
}

void daemon_check_maps(struct daemon *d)
{
	char err[STEER_ERR_LEN];
	uint32_t id = pinned_map_id(d);
	struct steer_maps fresh;

	if (!d->maps_id)
		d->maps_id = map_id_of(d->maps.fd[MAP_WORKERS]);
	if (id == d->maps_id) {
		d->unloaded = false;
		return;
	}
	if (!id) {
		if (!d->unloaded)
			log_warn("steer was unloaded; waiting for it to be loaded again");
		d->unloaded = true;
		return;
	}
	if (steer_maps_open(&d->paths, &fresh, err)) {
		log_debug("steer was loaded again, but: %s", err);	/* mid-load: next tick */
		return;
	}
	steer_maps_unlock(&fresh);
	steer_maps_close(&d->maps);
	d->maps = fresh;
	d->maps_id = map_id_of(d->maps.fd[MAP_WORKERS]);
	d->unloaded = false;
	log_warn("steer's maps were replaced (unload and load): reconciling with %s", d->conf_path);
	budgets_maps_replaced(d);	/* pool_budgets mmapped again, the ring on the new map */
	wake_reopen(d);
	for (size_t i = 0; i < d->nworkers; i++)
		d->workers[i].live.present = false;
	if (daemon_reconcile(d, err))
		log_debug("reconcile: %s", err);
	/* the new pools start closed: give them the circuits steerd holds
	 * (its own, or open for the fleet) */
	for (size_t i = 0; i < d->npools; i++) {
		struct dpool *p = &d->pools[i];

		p->live.kstate = STEER_CIRCUIT_CLOSED;
		p->live.kfleet = false;
		p->live.kread = true;
		apply_circuit(d, p, now_ms(), p->live.circuit.state != STEER_CIRCUIT_CLOSED);
	}
}

void daemon_retake_worker(struct daemon *d, struct dworker *w)
{
	const struct conf_pool *p = config_find_pool(&d->conf, w->pool);
	struct worker_params params = { .weight = w->conf.weight, .maxconn = w->conf.maxconn,
					.auto_weight = w->conf.weight_auto,
					.slots = w->conf.has_slots ? w->conf.slots : 0 };
	struct actual a;
	struct pass ps = { .d = d, .a = &a };
	struct steer_worker cur;

	if (d->unloaded || !p || !w->live.present || worker_listener_alive(&d->maps, w->live.id))
		return;
	if (steer_maps_lock(&d->maps))
		return;
	/* still our entry (not deleted or reused by an operator meanwhile) */
	if (!snapshot(d, &a) && !bpf_map_lookup_elem(d->maps.fd[MAP_WORKERS], &w->live.id, &cur) &&
	    cur.in_use && !strncmp(cur.name, w->name, STEER_NAME_LEN) &&
	    cur.owner == STEER_OWNER_STEERD) {
		add_worker(&ps, p->name, w->name, &w->conf.addr, &params, "taken again");
		resolve_workers(d, &a);
	}
	steer_maps_unlock(&d->maps);
}
