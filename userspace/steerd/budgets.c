// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * budgets.c - the pools' global quotas and token budgets (see fleet.h).
 *
 * Global quota: one atomic script takes a lease (below); its grant is
 * added to the kernel's quota_left (budget_add), the next is asked for when
 * less than half a chunk is left (one request in flight per pool), and the
 * first lease of a new window replaces what is left of the old one
 * (budget_swap). Redis away: the lease is spent until lease_ttl_s after it
 * came, then the static share, every window_s by the local clock. Redis
 * back: a lease is asked for at once, and replaces what is left of the
 * static share. At exit what is unspent goes back to its window.
 *
 * Tokens (local): a window of token_window_s by the local clock with
 * tokens_per_min x token_window_s / 60 tokens; the kernel gets the
 * admissions that the tokens left pay for at the estimate per connection,
 * after what admitted connections not yet reported will cost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include "daemon.h"
#include "fleet.h"
#include "lease.h"
#include "log.h"
#include "state.h"

#define BUDGETS_LEN	(STEER_MAX_POOLS * sizeof(struct steer_pool_budget))

/* KEYS[1] the pool's key without its window index; ARGV: window_s, quota,
 * chunk. Redis' clock decides the window, so every host agrees on it.
 * Returns { grant, ms left in the window, global remaining, window }. */
static const char LEASE_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local w = tonumber(ARGV[1]) * 1000\n"
	"local idx = math.floor(now / w)\n"
	"local key = KEYS[1] .. idx\n"
	"local quota = tonumber(ARGV[2])\n"
	"local got = tonumber(redis.call('GET', key) or '0')\n"
	"local grant = math.min(tonumber(ARGV[3]), quota - got)\n"
	"if grant < 0 then grant = 0 end\n"
	"if grant > 0 then redis.call('INCRBY', key, grant) end\n"
	"redis.call('PEXPIRE', key, w * 2)\n"
	"return { grant, w - now % w, quota - got - grant, idx }\n";

/* At exit: ARGV window_s, window, n: back to that window while it is current. */
static const char RETURN_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"if math.floor(now / (tonumber(ARGV[1]) * 1000)) ~= tonumber(ARGV[2]) then return -1 end\n"
	"return redis.call('DECRBY', KEYS[1] .. ARGV[2], ARGV[3])\n";

static int64_t *left_of(struct daemon *d, const struct fpool *p)
{
	return (int64_t *)&d->budget_map[p->id].quota_left;	/* __s64 is long long */
}

static bool leased(const struct fpool *p)
{
	return p->conf.has_global_quota;
}

static uint64_t lease_ttl_ms(const struct daemon *d, const struct fpool *p)
{
	const struct conf_fleet *f = &d->conf.fleet;

	return (uint64_t)(f->has_lease_ttl ? f->lease_ttl_s : p->conf.window_s) * 1000;
}

static void set_source(struct fpool *p, enum budget_source s, const char *why)
{
	if (p->source == s)
		return;
	if (s == BUDGET_STATIC)
		log_warn("pool %s: static share of %llu per %u s (%s)", p->name,
			 (unsigned long long)p->conf.static_share, p->conf.window_s, why);
	else
		log_notice("pool %s: budget from %s (%s)", p->name, budget_source_name(s), why);
	p->source = s;
}

/* ---- the lease request ---- */
static void key_of(const struct daemon *d, const struct fpool *p, char *buf, size_t len)
{
	/* {pool}: one Redis Cluster slot for all of a pool's keys */
	snprintf(buf, len, "%s:{%s}:q:", d->conf.fleet.key_prefix, p->name);
}

static struct fpool *by_seq(struct daemon *d, uint64_t seq)
{
	for (size_t i = 0; i < d->nbudgets; i++)
		if (d->budgets[i].inflight && d->budgets[i].req_seq == seq)
			return &d->budgets[i];
	return NULL;
}

static void apply_grant(struct daemon *d, struct fpool *p, redisReply *r, uint64_t now)
{
	long long grant = r->element[0]->integer, ms_left = r->element[1]->integer;
	uint64_t idx = (uint64_t)r->element[3]->integer;

	/* a new window, or the static share: the lease replaces what is left */
	if (p->source != BUDGET_LEASE || (p->window && idx != p->window))
		budget_swap(left_of(d, p), grant);
	else
		budget_add(left_of(d, p), grant);
	set_source(p, BUDGET_LEASE, "Redis granted a lease");
	p->window = idx;
	p->window_end = now + (uint64_t)(ms_left > 0 ? ms_left : 1);
	p->granted_at = now;
	p->grants++;
	p->granted += (uint64_t)grant;
	p->global_remaining = r->element[2]->integer;
	p->exhausted = (uint64_t)grant < p->conf.chunk && p->global_remaining <= 0;
}

static void send_lease(struct daemon *d, struct fpool *p, bool force_eval);

static void on_lease(struct daemon *d, redisReply *r, void *priv)
{
	uint64_t seq = (uint64_t)(uintptr_t)priv;
	struct fpool *p = by_seq(d, seq);

	if (!p)
		return;		/* its pool left with a reload */
	p->inflight = false;
	if (!r)
		return;		/* Redis away: the tick decides */
	if (r->type == REDIS_REPLY_ERROR) {
		if (!strncmp(r->str, "NOSCRIPT", 8) && d->fleet) {
			d->fleet->sha[0] = '\0';
			send_lease(d, p, true);
			return;
		}
		log_warn("pool %s: lease script failed: %.120s", p->name, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
		log_warn("pool %s: lease script: unexpected answer", p->name);
		return;
	}
	for (size_t i = 0; i < 4; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER)
			return;
	apply_grant(d, p, r, now_ms());
	/* spent faster than a tick: the next one at once */
	if (!p->exhausted && lease_wanted(__atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST),
					  p->conf.chunk))
		send_lease(d, p, false);
}

static void send_lease(struct daemon *d, struct fpool *p, bool force_eval)
{
	static uint64_t seq;
	char key[STEER_FLEET_KEY_PREFIX_LEN + STEER_NAME_LEN + 8], win[16], quota[24], chunk[16];
	const char *argv[7];
	size_t lens[7];
	const struct fleet *f = d->fleet;
	bool sha = !force_eval && f->sha[0];

	key_of(d, p, key, sizeof(key));
	snprintf(win, sizeof(win), "%u", p->conf.window_s);
	snprintf(quota, sizeof(quota), "%llu", (unsigned long long)p->conf.global_quota);
	snprintf(chunk, sizeof(chunk), "%u", p->conf.chunk);
	argv[0] = sha ? "EVALSHA" : "EVAL";
	argv[1] = sha ? f->sha : LEASE_LUA;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = win;
	argv[5] = quota;
	argv[6] = chunk;
	for (int i = 0; i < 7; i++)
		lens[i] = strlen(argv[i]);
	p->req_seq = ++seq;
	if (!rconn_command_argv(f->cmd, on_lease, (void *)(uintptr_t)p->req_seq, 7, argv, lens))
		p->inflight = true;
}

static void on_script_load(struct daemon *d, redisReply *r, void *priv)
{
	(void)priv;
	if (d->fleet && r && r->type == REDIS_REPLY_STRING && r->len < sizeof(d->fleet->sha))
		snprintf(d->fleet->sha, sizeof(d->fleet->sha), "%s", r->str);
}

void budgets_redis_up(struct daemon *d)
{
	rconn_command(d->fleet->cmd, on_script_load, NULL, "SCRIPT LOAD %s", LEASE_LUA);
}

/* ---- each tick ---- */
static void tick_lease(struct daemon *d, struct fpool *p, uint64_t now)
{
	int64_t left = __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST);
	bool window_over = p->window_end && now >= p->window_end;

	if (fleet_redis_up(d)) {
		if (p->inflight)
			return;
		if (window_over)
			p->exhausted = false;
		if (p->source != BUDGET_LEASE || window_over ||
		    (!p->exhausted && lease_wanted(left, p->conf.chunk)))
			send_lease(d, p, false);
		return;
	}
	p->inflight = false;	/* its reply comes as NULL, or never */
	if (p->source == BUDGET_LEASE && now - p->granted_at >= lease_ttl_ms(d, p)) {
		set_source(p, BUDGET_STATIC, "Redis unreachable for the lease TTL");
		p->static_end = 0;
	}
	if (p->source == BUDGET_STATIC && now >= p->static_end) {
		budget_swap(left_of(d, p), (int64_t)p->conf.static_share);
		p->static_end = now + (uint64_t)p->conf.window_s * 1000;
	}
}

static void tick_tokens(struct daemon *d, struct fpool *p, uint64_t now)
{
	int64_t *lp = left_of(d, p), cur, target, tokens_left, unreported, spent;

	if (now >= p->token_window_end) {
		p->token_window++;
		p->token_window_end = now + (uint64_t)p->conf.token_window_s * 1000;
		p->tokens_used = p->token_conns = p->token_granted = 0;
		p->token_budget = token_budget(p->conf.tokens_per_min, p->conf.token_window_s);
		p->provider_capped = false;
		budget_swap(lp, 0);
	}
	cur = __atomic_load_n(lp, __ATOMIC_SEQ_CST);
	spent = (int64_t)p->token_granted - (cur > 0 ? cur : 0);
	unreported = spent > (int64_t)p->token_conns ? spent - (int64_t)p->token_conns : 0;
	tokens_left = (int64_t)p->token_budget - (int64_t)p->tokens_used -
		      (int64_t)((double)unreported * p->per_conn);
	p->tokens_left = tokens_left;
	set_source(p, p->spill_until > now || p->provider_capped ? BUDGET_PROVIDER : BUDGET_LOCAL,
		   "the provider's remaining count");
	if (p->spill_until > now)
		target = 0;
	else if (p->per_conn <= 0)	/* no report yet: a chunk to learn from */
		target = spent < (int64_t)p->conf.chunk ? (int64_t)p->conf.chunk - spent : 0;
	else
		target = token_admissions(tokens_left, p->per_conn, 0);
	if (target > (cur > 0 ? cur : 0)) {
		int64_t add = target - (cur > 0 ? cur : 0);

		budget_add(lp, add);
		p->token_granted += (uint64_t)add;
		p->granted += (uint64_t)add;
		p->grants++;
		return;
	}
	/* fewer than the kernel holds: take the difference back, if still there */
	while (cur > target && cur > 0) {
		if (__atomic_compare_exchange_n(lp, &cur, target, false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST)) {
			p->token_granted -= (uint64_t)(cur - target);
			break;
		}
	}
}

/* a pool the reconcile pass may have added since: its id, and the kernel
 * budget switched on (fleet pools are skipped by reconcile_limits) */
static bool find_pool(struct daemon *d, struct fpool *p)
{
	char err[STEER_ERR_LEN];

	if (p->found)
		return true;
	if (pool_find(&d->maps, p->name, &p->id, NULL, err) || p->id >= STEER_MAX_POOLS)
		return false;
	p->found = true;
	if (!__atomic_load_n(&d->budget_map[p->id].quota_on, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&d->budget_map[p->id].quota_left, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&d->budget_map[p->id].quota_on, 1, __ATOMIC_SEQ_CST);
	}
	if (leased(p) && __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST) > 0) {
		/* a lease a steerd before us took (killed, restarted): Redis
		 * counted it already, so spend it, and add to it */
		p->source = BUDGET_LEASE;
		p->granted_at = now_ms();
	} else if (leased(p)) {
		p->source = BUDGET_STATIC;	/* until the first lease replaces it */
		p->static_end = 0;
	}
	return true;
}

void budgets_tick(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->nbudgets; i++) {
		struct fpool *p = &d->budgets[i];

		if (!d->budget_map || !find_pool(d, p))
			continue;
		if (leased(p))
			tick_lease(d, p, now);
		else
			tick_tokens(d, p, now);
	}
}

/* ---- the file ---- */
static bool fleet_pool(const struct conf_pool *c)
{
	return c->has_global_quota || c->has_tokens;
}

static struct fpool *old_named(struct fpool *old, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(old[i].name, name))
			return &old[i];
	return NULL;
}

int budgets_apply(struct daemon *d)
{
	const struct steer_config *c = &d->conf;
	struct fpool *fresh, *was;
	size_t n = 0;

	for (size_t i = 0; i < c->npools; i++)
		n += fleet_pool(&c->pools[i]);
	fresh = n ? calloc(n, sizeof(*fresh)) : NULL;
	if (n && !fresh)
		return -1;
	n = 0;
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *cp = &c->pools[i];
		struct fpool *p;

		if (!fleet_pool(cp))
			continue;
		p = &fresh[n++];
		was = old_named(d->budgets, d->nbudgets, cp->name);
		if (was && was->conf.has_global_quota == cp->has_global_quota)
			*p = *was;	/* its lease, window and estimate go on */
		else
			*p = (struct fpool){ .global_remaining = -1,
					     .source = cp->has_global_quota ? BUDGET_STATIC
									    : BUDGET_LOCAL };
		snprintf(p->name, sizeof(p->name), "%s", cp->name);
		p->conf = *cp;
		p->conf.workers = NULL;
		p->conf.nworkers = 0;
		p->token_budget = token_budget(cp->tokens_per_min, cp->token_window_s);
		p->found = false;	/* its id again: a reload may have moved it */
	}
	free(d->budgets);
	d->budgets = fresh;
	d->nbudgets = n;
	if (n && !d->budget_map) {
		void *m = mmap(NULL, BUDGETS_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			       d->maps.fd[MAP_POOL_BUDGETS], 0);

		if (m == MAP_FAILED) {
			log_err("fleet: cannot map pool_budgets: %s", strerror(errno));
			return -1;
		}
		d->budget_map = m;
	}
	budgets_tick(d, now_ms());
	return 0;
}

/* ---- at exit ---- */
static void on_returned(struct daemon *d, redisReply *r, void *priv)
{
	(void)r;
	(void)priv;
	if (d->fleet && d->fleet->returns_out)
		d->fleet->returns_out--;
}

static void give_back(struct daemon *d, struct fpool *p)
{
	char key[STEER_FLEET_KEY_PREFIX_LEN + STEER_NAME_LEN + 8], win[16], idx[24], n[24];
	int64_t left;

	if (!p->found || p->source != BUDGET_LEASE || !p->window)
		return;
	left = budget_swap(left_of(d, p), 0);
	if (left <= 0)
		return;
	key_of(d, p, key, sizeof(key));
	snprintf(win, sizeof(win), "%u", p->conf.window_s);
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)p->window);
	snprintf(n, sizeof(n), "%lld", (long long)left);
	if (!rconn_command(d->fleet->cmd, on_returned, NULL, "EVAL %s 1 %s %s %s %s", RETURN_LUA,
			   key, win, idx, n))
		d->fleet->returns_out++;
	log_info("pool %s: %lld unspent admissions back to window %llu", p->name, (long long)left,
		 (unsigned long long)p->window);
}

/* Redis' answers for up to timeout_ms: only its events are taken */
static void wait_returns(struct daemon *d)
{
	uint64_t end = now_ms() + d->fleet->conf.timeout_ms;
	struct epoll_event evs[16];

	while (d->fleet->returns_out && now_ms() < end) {
		int n = epoll_wait(d->epfd, evs, 16, (int)(end - now_ms()));

		for (int i = 0; i < n; i++) {
			struct source *src = evs[i].data.ptr;

			if (!(evs[i].data.u64 & 1) &&
			    (src->kind == SRC_REDIS || src->kind == SRC_REDIS_TIMER))
				rconn_on_event(src, evs[i].events);
		}
		if (n < 0 && errno != EINTR)
			break;
	}
}

void budgets_stop(struct daemon *d)
{
	if (d->fleet && fleet_redis_up(d)) {
		for (size_t i = 0; i < d->nbudgets; i++)
			if (leased(&d->budgets[i]))
				give_back(d, &d->budgets[i]);
		wait_returns(d);
	}
	free(d->budgets);
	d->budgets = NULL;
	d->nbudgets = 0;
	if (d->budget_map)
		munmap(d->budget_map, BUDGETS_LEN);
	d->budget_map = NULL;
}

/* ---- what the application and the provider say ---- */
static struct fpool *budget_named(struct daemon *d, const char *pool)
{
	for (size_t i = 0; i < d->nbudgets; i++)
		if (!strcmp(d->budgets[i].name, pool))
			return &d->budgets[i];
	return NULL;
}

void fleet_report_tokens(struct daemon *d, const char *pool, uint64_t tokens, uint64_t conns)
{
	struct fpool *p = budget_named(d, pool);

	if (!p || !p->conf.has_tokens)
		return;
	if (!conns)
		conns = 1;	/* --tokens alone: one connection's */
	p->tokens_used += tokens;
	p->token_conns += conns;
	p->per_conn = token_estimate(p->per_conn, tokens, conns);
	p->reports++;
}

int fleet_pool_remaining(struct daemon *d, const char *pool, uint64_t remaining,
			 uint32_t reset_s)
{
	struct fpool *p = budget_named(d, pool);
	uint64_t now = now_ms();

	if (!p || !p->conf.has_tokens)
		return -1;
	if (remaining == 0) {
		p->spill_until = now + (uint64_t)reset_s * 1000;
		if (p->found && d->budget_map) {
			int64_t back = budget_swap(left_of(d, p), 0);	/* the next one spills */

			if (back > 0)	/* not spent: no connection to pay for */
				p->token_granted -= (uint64_t)back < p->token_granted ?
						    (uint64_t)back : p->token_granted;
		}
		log_notice("pool %s: the provider has no tokens left; spilling for %u s", p->name,
			   reset_s);
		return 0;
	}
	/* what the provider still allows caps the window's budget */
	if (p->token_budget > p->tokens_used + remaining) {
		p->token_budget = p->tokens_used + remaining;
		p->provider_capped = true;
	}
	p->spill_until = 0;
	return 0;
}
