// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * budgets.c - the pools' global quotas and token budgets (see fleet.h).
 *
 * Global quota: one atomic script takes a lease (below); its grant is
 * added to the kernel's quota_left (budget_add). A look at quota_left
 * when the kernel wakes steerd (wake.h: half the aim spent, or the last
 * unit) and every STEER_FLEET_BUDGET_MS measures the rate the kernel
 * spends it; the host
 * aims to hold what that rate spends in a few looks and round trips
 * (lease_hold: chunk when idle, up to lease_max in a burst), asks when less
 * than half of it is left (one request in flight per pool) for what tops it
 * up, and the first lease of a new window replaces what is left of the old
 * one (budget_swap), but for the carry: every request carries what the
 * kernel may still spend of the window's lease after its end (what it
 * holds, or past the local end, reckoned from when the lease was asked,
 * what it held at the last look before it), which the script charges to
 * the next window, and the host keeps (budget_carry). Redis away: the
 * lease is spent until lease_ttl_s after it
 * came, then the static share, every window_s by the local clock. Redis
 * back: a lease is asked for at once, and replaces what is left of the
 * static share. At exit what is unspent goes back to its window.
 *
 * Tokens (local): a window of token_window_s by the local clock with
 * tokens_per_min x token_window_s / 60 tokens; the kernel gets the
 * admissions that the tokens left pay for at the estimate per connection,
 * after what admitted connections not yet reported will cost.
 *
 * Tokens through Redis (a token pool with a fleet block): the same leases,
 * from a second script. The fleet's count of a token window
 * (<prefix>:{pool}:t:<index>, Redis TIME for the window) holds the tokens
 * reported by every host plus what hosts reserved for the admissions they
 * were granted and are not reported yet (grant x their estimate): the
 * script adds what this host was told since its last call, settles the
 * reservations those reports cover, and grants what the fleet's tokens left
 * pay for at the estimate. It runs every STEER_FLEET_TICK_MS anyway, so
 * reports and the provider's word travel within a tick. The provider's
 * "0 left, reset S" on one host sets <prefix>:{pool}:spill with a TTL of S:
 * while it lives the script grants 0 and tells its TTL, and every host
 * takes back what its kernel holds and spills until then. Redis away past
 * the lease TTL: the local token budget, a share of tokens_per_min /
 * expected_hosts, on the local clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include "daemon.h"
#include "fleet.h"
#include "lease.h"
#include "log.h"
#include "state.h"

#define TOKENS_EXACT	(1ull << 53)	/* Lua's numbers are doubles */

/* KEYS[1] the pool's key without its window index; ARGV: window_s, quota,
 * chunk, carry, the window it was granted in, what the kernel holds now.
 * Redis' clock decides the window, so every host agrees on it. The carry
 * is what the host may still spend of an earlier window's lease: it is
 * charged to the next window first, as far as the quota goes, so that
 * what is admitted in a window never passes its quota (to a later window,
 * Redis having been away across a turn, only what the kernel still holds).
 * Returns { grant, ms left in the window, global remaining, window,
 * carry charged }. */
static const char LEASE_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local w = tonumber(ARGV[1]) * 1000\n"
	"local idx = math.floor(now / w)\n"
	"local key = KEYS[1] .. idx\n"
	"local quota = tonumber(ARGV[2])\n"
	"local got = tonumber(redis.call('GET', key) or '0')\n"
	"local charged = 0\n"
	"local from = tonumber(ARGV[5])\n"
	"if from + 1 == idx then charged = tonumber(ARGV[4])\n"
	"elseif from + 1 < idx then charged = tonumber(ARGV[6]) end\n"
	"charged = math.max(math.min(charged, quota - got), 0)\n"
	"local grant = math.min(tonumber(ARGV[3]), quota - got - charged)\n"
	"if grant < 0 then grant = 0 end\n"
	"if grant + charged > 0 then redis.call('INCRBY', key, grant + charged) end\n"
	"redis.call('PEXPIRE', key, w * 2)\n"
	"return { grant, w - now % w, quota - got - charged - grant, idx, charged }\n";

/* KEYS[1] the pool's token key without its window index, KEYS[2] its spill
 * key; ARGV: token_window_s, the window's token budget, admissions wanted,
 * the estimate (tokens per connection, 0 none: grant what is asked), tokens
 * reported, reservations they settle, the window those were made in, the
 * provider's remaining count (-1 none). Returns { grant, ms left in the
 * window, fleet tokens left, window, spill ms (0 none), tokens reserved }. */
static const char TOKENS_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local w = tonumber(ARGV[1]) * 1000\n"
	"local idx = math.floor(now / w)\n"
	"local key = KEYS[1] .. idx\n"
	"local budget = tonumber(ARGV[2])\n"
	"local est = tonumber(ARGV[4])\n"
	"local got = tonumber(redis.call('GET', key) or '0')\n"
	"local used = got + tonumber(ARGV[5])\n"
	"if tonumber(ARGV[7]) == idx then used = used - tonumber(ARGV[6]) end\n"
	"if used < 0 then used = 0 end\n"
	"local cap = tonumber(ARGV[8])\n"
	"if cap >= 0 and budget - used > cap then used = budget - cap end\n"
	"local spill = redis.call('PTTL', KEYS[2])\n"
	"local grant, res = 0, 0\n"
	"if spill > 0 then spill = spill else spill = 0\n"
	"  grant = tonumber(ARGV[3])\n"
	"  if est > 0 then grant = math.min(grant, math.floor((budget - used) / est)) end\n"
	"  if grant < 0 then grant = 0 end\n"
	"  res = math.ceil(grant * est)\n"
	"end\n"
	"used = used + res\n"
	"redis.call('INCRBY', key, used - got)\n"
	"redis.call('PEXPIRE', key, w * 2)\n"
	"return { grant, w - now % w, budget - used, idx, spill, res }\n";

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

/* leases from Redis: a global quota, or tokens with a fleet block */
static bool leased(const struct fpool *p)
{
	return p->shared;
}

/* a token budget through Redis */
static bool fleet_tokens(const struct fpool *p)
{
	return p->shared && p->conf.has_tokens;
}

static uint32_t window_s_of(const struct fpool *p)
{
	return p->conf.has_tokens ? p->conf.token_window_s : p->conf.window_s;
}

static uint64_t lease_ttl_ms(const struct daemon *d, const struct fpool *p)
{
	const struct conf_fleet *f = &d->conf.fleet;

	return (uint64_t)(f->has_lease_ttl ? f->lease_ttl_s : window_s_of(p)) * 1000;
}

/* this host's token budget of a window: with a fleet (Redis away), its
 * share, tokens_per_min / expected_hosts */
static uint64_t local_tokens(const struct fpool *p)
{
	uint64_t b = token_budget(p->conf.tokens_per_min, p->conf.token_window_s);

	return p->shared ? b / (p->hosts ? p->hosts : 1) : b;
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
	snprintf(buf, len, "%s:{%s}:%s:", d->conf.fleet.key_prefix, p->name,
		 p->conf.has_tokens ? "t" : "q");
}

static void spill_key_of(const struct daemon *d, const struct fpool *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s:{%s}:spill", d->conf.fleet.key_prefix, p->name);
}

/* the script's SCRIPT LOAD answer for the pool's kind */
static char *sha_of(struct fleet *f, const struct fpool *p)
{
	return p->conf.has_tokens ? f->tsha : f->sha;
}

static struct fpool *by_seq(struct daemon *d, uint64_t seq)
{
	for (size_t i = 0; i < d->nbudgets; i++)
		if (d->budgets[i].inflight && d->budgets[i].req_seq == seq)
			return &d->budgets[i];
	return NULL;
}

/* what the kernel spent since the last look or add, for the rate */
static void spent_since(struct fpool *p, int64_t left)
{
	int64_t held = left > 0 ? left : 0;

	if (p->held > held) {
		p->spent += (uint64_t)(p->held - held);
		p->spent_total += (uint64_t)(p->held - held);
	}
	p->held = held;
}

static void apply_grant(struct daemon *d, struct fpool *p, redisReply *r, uint64_t now)
{
	long long grant = r->element[0]->integer, ms_left = r->element[1]->integer;
	uint64_t idx = (uint64_t)r->element[3]->integer;
	bool replace = p->source != BUDGET_LEASE || idx != p->window;
	/* the old window's leftover charged to this one (quota script) */
	int64_t charged = !fleet_tokens(p) && replace ? r->element[4]->integer : 0;
	int64_t before;

	if (fleet_tokens(p) && idx != p->window)
		p->res_tokens = p->res_conns = 0;	/* that window's key counts them */
	/* what this process may give back to the window: its own grants */
	p->window_granted = (idx == p->window ? p->window_granted : 0) + (uint64_t)(grant + charged);

	/* a new window, the static share, or the first lease since a start
	 * (window 0: what the kernel held is no lease of ours): the lease
	 * replaces what is left, but for what of the old lease this window
	 * was charged (the carry) and the kernel has not spent yet */
	if (charged > 0)
		before = budget_carry(left_of(d, p), p->carry_sent, charged, grant);
	else if (replace)
		before = budget_swap(left_of(d, p), grant);
	else
		before = budget_add(left_of(d, p), grant);
	spent_since(p, before);
	log_debug("pool %s: lease of %lld (window %llu, %s; the kernel had %lld, %lld of it charged "
		  "here)", p->name, grant, (unsigned long long)idx, replace ? "replaces" : "adds",
		  (long long)before, (long long)charged);
	p->held = __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST);
	p->look_left = p->held;
	if (p->source == BUDGET_LEASE && !p->window)	/* a start's lease of 0 was no lease */
		log_notice("pool %s: budget from lease (Redis granted the first lease)", p->name);
	if (!fleet_tokens(p) || r->element[4]->integer <= 0)
		set_source(p, BUDGET_LEASE, "Redis granted a lease");
	p->window = idx;
	/* from when it was asked: Redis read its clock after that, so this
	 * end is never after Redis' (the carry must cover all past the end) */
	p->window_end = (p->sent_at < now ? p->sent_at : now) + (uint64_t)(ms_left > 0 ? ms_left : 1);
	p->granted_at = now;
	p->grants++;
	p->granted += (uint64_t)grant;
	p->global_remaining = r->element[2]->integer;
	p->remaining_known = true;
	p->exhausted = p->global_remaining <= 0;
}

/* the token script's answer: the fleet's tokens left, this host's
 * reservation, and the provider's spill */
static void apply_tokens(struct daemon *d, struct fpool *p, redisReply *r, uint64_t now)
{
	long long spill = r->element[4]->integer;
	int64_t back;

	p->tokens_sent = p->release_sent = 0;
	p->tokens_left = p->global_remaining;
	p->res_conns += (uint64_t)r->element[0]->integer;
	p->res_tokens += (uint64_t)r->element[5]->integer;
	p->exhausted = spill > 0 || (p->per_conn > 0 && p->tokens_left < p->per_conn);
	if (spill <= 0) {
		p->spill_until = 0;
		return;
	}
	/* the provider said 0 on some host: what the kernel holds back, its
	 * reservation with it, and spill until the reset */
	p->spill_until = now + (uint64_t)spill;
	back = budget_swap(left_of(d, p), 0);
	p->release_unsent += token_release(&p->res_tokens, &p->res_conns,
					   back > 0 ? (uint64_t)back : 0);
	p->held = 0;
	set_source(p, BUDGET_PROVIDER, "the provider has no tokens left on some host");
}

/* the round trip of the lease script, for the horizon */
static void took_ms(struct fpool *p, uint64_t now)
{
	double ms = (double)ms_since(now, p->sent_at);

	p->rtt_ms = p->rtt_ms > 0 ? p->rtt_ms + TOKEN_EWMA_WEIGHT * (ms - p->rtt_ms) : ms;
}

static uint32_t d_hosts(const struct fpool *p)
{
	return p->hosts ? p->hosts : 1;
}

/* what is left fleet-wide in admissions (-1 unknown): tokens at the estimate */
static int64_t remaining_admissions(const struct fpool *p)
{
	if (!p->remaining_known)
		return -1;
	if (!p->conf.has_tokens)
		return p->global_remaining > 0 ? p->global_remaining : 0;
	return p->per_conn > 0 ? token_admissions(p->global_remaining, p->per_conn, 0) : -1;
}

/* The kernel ran dry within STEER_FLEET_DRY_KEEP_MS: the aim does not
 * shrink. steerd looks when the kernel wakes it (half a lease spent, and
 * its last unit) and every STEER_FLEET_BUDGET_MS, so the rate's samples
 * span bursts and the pauses between them: an aim sized by it alone would
 * fall back below a burst after each doubling, and the next burst spill. */
static uint32_t keep_dry_aim(const struct fpool *p, uint32_t aim, uint32_t max)
{
	uint32_t keep = p->hold < max ? p->hold : max;

	if (p->dry_at && now_ms() - p->dry_at < STEER_FLEET_DRY_KEEP_MS && aim < keep)
		return keep;
	return aim;
}

/* the next lease: the aim from the rate, what tops the budget up to it */
static uint32_t next_lease(struct fpool *p, int64_t left)
{
	double horizon = LEASE_HORIZON_LOOKS * (STEER_FLEET_POLL_MS + p->rtt_ms);
	int64_t held = left > 0 && p->window ? left : 0;	/* window 0: replaced */

	uint32_t max = p->conf.lease_max;
	int64_t remaining = remaining_admissions(p);
	uint64_t share;

	/* tokens without an estimate yet: a chunk to learn from (a window) */
	if (fleet_tokens(p) && p->per_conn <= 0)
		return p->res_conns + (uint64_t)held < p->conf.chunk ?
		       p->conf.chunk - (uint32_t)(p->res_conns + (uint64_t)held) : 0;
	/* near the end of the quota, no more than a host's share of what is left */
	if (remaining >= 0) {
		share = (uint64_t)remaining / d_hosts(p);
		max = share < p->conf.chunk ? p->conf.chunk : share < max ? (uint32_t)share : max;
	}
	p->hold = keep_dry_aim(p, lease_hold(p->rate, horizon, p->dry, p->hold, p->conf.chunk,
					      max), max);
	p->dry = false;	/* doubled once for what it saw */
	return held < p->hold ? p->hold - (uint32_t)held : 0;
}

static void send_lease(struct daemon *d, struct fpool *p, bool force_eval);

/* What a lease request carries (the script charges it only if Redis runs
 * it in a later window): all the kernel can still spend of this window's
 * lease after the window's end. Before the local end, what it holds now
 * (a request sent then may run after the turn); past it, what it held at
 * the last look or send before the end. */
static int64_t carry_of(struct fpool *p, int64_t left, uint64_t now)
{
	if (p->source != BUDGET_LEASE || !p->window)
		return 0;
	if (!p->window_end || now < p->window_end || left > p->look_left)
		p->look_left = left;	/* (never below what is held now) */
	return p->look_left > 0 ? p->look_left : 0;
}
static void arm_wake(struct daemon *d, const struct fpool *p);

/* a script that did not run: what it carried goes with the next one */
static void unsent_back(struct fpool *p)
{
	p->tokens_unsent += p->tokens_sent;
	p->release_unsent += p->release_sent;
	p->tokens_sent = p->release_sent = 0;
}

/* A reply the script can give (the fake Redis of 53 gives others):
 * 0 <= grant <= what was asked, 0 < ms left <= the window, a window index
 * >= 0, what is left no more than the budget; tokens: a spill of at most
 * STEER_TOKEN_RESET_S_MAX, a reservation of what the grant costs at the
 * estimate sent. */
static bool reply_sane(const struct fpool *p, const redisReply *r)
{
	long long grant = r->element[0]->integer, ms = r->element[1]->integer;
	long long left = r->element[2]->integer, idx = r->element[3]->integer;
	long long budget = (long long)(fleet_tokens(p) ? TOKENS_EXACT : p->conf.global_quota);
	long long spill, res;

	if (fleet_tokens(p)) {
		uint64_t b = token_budget(p->conf.tokens_per_min, p->conf.token_window_s);

		budget = b < TOKENS_EXACT ? (long long)b : budget;
	}
	if (grant < 0 || grant > p->asked || ms <= 0 || ms > (long long)window_s_of(p) * 1000 ||
	    idx < 0 || left > budget || left < -(long long)TOKENS_EXACT)
		return false;
	if (!fleet_tokens(p))	/* a charge of at most the carry sent */
		return r->element[4]->integer >= 0 && r->element[4]->integer <= p->carry_sent;
	spill = r->element[4]->integer;
	res = r->element[5]->integer;
	return spill >= 0 && spill <= (long long)STEER_TOKEN_RESET_S_MAX * 1000 && res >= 0 &&
	       (double)res <= (double)grant * (p->asked_est + 0.001) + 1;
}

/* a reply refused: logged once until one is good again, and for
 * backoff_max_ms this pool takes Redis as away (tick_lease) */
static void refuse_reply(struct daemon *d, struct fpool *p, const redisReply *r, uint64_t now)
{
	if (!p->refused_until) {
		p->refused_since = now;
		log_warn("pool %s: a lease reply out of range refused (grant %lld of %u, ms %lld, "
			 "window %lld, left %lld): Redis taken as away for this pool", p->name,
			 r->element[0]->integer, p->asked, r->element[1]->integer,
			 r->element[3]->integer, r->element[2]->integer);
	}
	p->refused_until = now + (d->fleet ? d->fleet->conf.backoff_max_ms
					   : STEER_FLEET_BACKOFF_MAX_MS_DEFAULT);
	unsent_back(p);
}

static void on_lease(struct daemon *d, redisReply *r, void *priv)
{
	uint64_t seq = (uint64_t)(uintptr_t)priv;
	struct fpool *p = by_seq(d, seq);
	size_t n;

	if (!p)
		return;		/* its pool left with a reload */
	p->inflight = false;
	/* new maps, or a reload that has not found the pool again: its id
	 * may be another pool's now. The grant is counted in Redis, so
	 * dropping it strands it, never spends it twice (or on another pool). */
	if (!p->found) {
		if (r && r->type != REDIS_REPLY_ERROR)
			log_info("pool %s: a lease reply after its maps changed: dropped", p->name);
		unsent_back(p);
		return;
	}
	n = fleet_tokens(p) ? 6 : 5;
	if (!r || r->type == REDIS_REPLY_ERROR)
		unsent_back(p);	/* Redis away or the script failed: the next one takes them */
	if (!r)
		return;		/* Redis away: the tick decides */
	if (r->type == REDIS_REPLY_ERROR) {
		if (!strncmp(r->str, "NOSCRIPT", 8) && d->fleet) {
			sha_of(d->fleet, p)[0] = '\0';
			send_lease(d, p, true);
			return;
		}
		log_warn("pool %s: lease script failed: %.120s", p->name, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
		log_warn("pool %s: lease script: unexpected answer", p->name);
		unsent_back(p);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER) {
			unsent_back(p);
			return;
		}
	if (!reply_sane(p, r)) {
		refuse_reply(d, p, r, now_ms());
		return;
	}
	if (p->refused_until)
		log_notice("pool %s: lease replies in range again", p->name);
	p->refused_until = p->refused_since = 0;
	took_ms(p, now_ms());
	apply_grant(d, p, r, now_ms());
	if (fleet_tokens(p))
		apply_tokens(d, p, r, now_ms());
	arm_wake(d, p);	/* half of this lease's aim */
	/* spent faster than a look: the next one at once */
	if (!p->exhausted && lease_wanted(__atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST),
					  p->hold))
		send_lease(d, p, false);
}

#define LEASE_ARGC	13	/* the token script's: EVAL, script, 2 keys, 8 args */
#define KEY_LEN		(STEER_FLEET_KEY_PREFIX_LEN + STEER_NAME_LEN + 8)

static void send_lease(struct daemon *d, struct fpool *p, bool force_eval)
{
	static uint64_t seq;
	char key[KEY_LEN], spill[KEY_LEN], num[8][32];
	const char *argv[LEASE_ARGC];
	size_t lens[LEASE_ARGC];
	struct fleet *f = d->fleet;
	bool tokens = fleet_tokens(p);
	const char *sha = sha_of(f, p);
	bool by_sha = !force_eval && sha[0];
	int64_t left = __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST);
	uint32_t n = next_lease(p, left);
	int argc = 0, k = 0;

#define NUM(fmt, v) (snprintf(num[k], sizeof(num[k]), fmt, v), argv[argc++] = num[k++])
	key_of(d, p, key, sizeof(key));
	argv[argc++] = by_sha ? "EVALSHA" : "EVAL";
	argv[argc++] = by_sha ? sha : tokens ? TOKENS_LUA : LEASE_LUA;
	argv[argc++] = tokens ? "2" : "1";
	argv[argc++] = key;
	if (tokens) {
		spill_key_of(d, p, spill, sizeof(spill));
		argv[argc++] = spill;
	}
	NUM("%u", window_s_of(p));
	if (tokens) {
		/* the script's numbers are doubles: exact up to 2^53 */
		uint64_t budget = token_budget(p->conf.tokens_per_min, p->conf.token_window_s);

		NUM("%llu", (unsigned long long)(budget < TOKENS_EXACT ? budget : TOKENS_EXACT));
		NUM("%u", n);	/* 0 (it holds its aim): the window and what is left still */
		NUM("%.3f", p->per_conn);
		NUM("%llu", (unsigned long long)p->tokens_unsent);
		NUM("%llu", (unsigned long long)p->release_unsent);
		NUM("%llu", (unsigned long long)p->window);
		NUM("%lld", (long long)p->cap_unsent);
		p->tokens_sent = p->tokens_unsent;
		p->release_sent = p->release_unsent;
		p->tokens_unsent = p->release_unsent = 0;
		p->cap_unsent = -1;
	} else {
		NUM("%llu", (unsigned long long)p->conf.global_quota);
		NUM("%u", n);	/* 0: the script still tells the window and what is left */
		p->carry_sent = carry_of(p, left, now_ms());
		NUM("%lld", (long long)p->carry_sent);
		NUM("%llu", (unsigned long long)p->window);
		/* held now, for a window after the next: never above the carry
		 * (0 without one: a start's or a new window_s' kernel budget is
		 * a lease counted already, no carry) */
		NUM("%lld", (long long)(p->carry_sent && left > 0 ?
					(left < p->carry_sent ? left : p->carry_sent) : 0));
	}
#undef NUM
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	p->req_seq = ++seq;
	p->asked = n;
	p->asked_est = tokens ? p->per_conn : 0;
	p->sent_at = now_ms();
	p->spill_mark = left;
	if (!rconn_command_argv(f->cmd, on_lease, (void *)(uintptr_t)p->req_seq, argc, argv, lens))
		p->inflight = true;
	else
		unsent_back(p);
}

/* priv: 1 the token script's answer, 0 the quota script's */
static void on_script_load(struct daemon *d, redisReply *r, void *priv)
{
	char *sha;

	if (!d->fleet || !r || r->type != REDIS_REPLY_STRING)
		return;
	sha = priv ? d->fleet->tsha : d->fleet->sha;
	if (r->len < sizeof(d->fleet->sha))
		snprintf(sha, sizeof(d->fleet->sha), "%s", r->str);
}

void budgets_redis_up(struct daemon *d)
{
	rconn_command(d->fleet->cmd, on_script_load, NULL, "SCRIPT LOAD %s", LEASE_LUA);
	rconn_command(d->fleet->cmd, on_script_load, (void *)1, "SCRIPT LOAD %s", TOKENS_LUA);
}

/* ---- each look ---- */
static void measure(struct fpool *p, int64_t left, uint64_t now)
{
	spent_since(p, left);
	/* the rate since the last look, for the next one (budgets_tick): a
	 * burst's start is seen at once, not at the next measure */
	if (now > p->looked_at) {
		p->look_rate = (double)(p->spent_total - p->look_spent) / (double)(now - p->looked_at);
		p->looked_at = now;
		p->look_spent = p->spent_total;
	}
	if (p->spent)
		p->spent_at = now;
	if (left <= 0 && p->spent) {
		p->dry = true;
		p->dry_at = now;
	}
	if (ms_since(now, p->measured_at) < STEER_FLEET_POLL_MS)
		return;		/* an early look: add it to the next one */
	p->rate = p->measured_at ? lease_rate(p->rate, p->spent, ms_since(now, p->measured_at)) : 0;
	p->spent = 0;
	p->measured_at = now;
}

static int64_t send_return(struct daemon *d, struct fpool *p, int64_t n);

/* a burst is over (nothing spent for a backstop look: steerd looks at
 * once when a lease runs low, so a look between two bursts of a steady
 * load is no pause): what it holds above a chunk goes back to the window,
 * for the hosts still busy */
static void give_back_idle(struct daemon *d, struct fpool *p, int64_t left, uint64_t now)
{
	int64_t keep = p->conf.chunk, taken, back;

	if (p->source != BUDGET_LEASE || !p->window || left <= keep ||
	    ms_since(now, p->spent_at) < STEER_FLEET_BUDGET_MS)
		return;
	if (!(taken = budget_trim(left_of(d, p), keep)))
		return;
	p->held = keep;
	p->look_left = keep;	/* what went back is no carry */
	p->hold = p->conf.chunk;
	back = send_return(d, p, taken);
	log_debug("pool %s: idle: %lld taken from the kernel, %lld back to window %llu", p->name,
		  (long long)taken, (long long)back, (unsigned long long)p->window);
}

/* the window's quota was spent, and connections spill here still: ask
 * again every STEER_FLEET_POLL_MS (another host may have given some back) */
static bool again_after_spent(struct fpool *p, int64_t left, uint64_t now)
{
	return p->exhausted && left < p->spill_mark && ms_since(now, p->sent_at) >= STEER_FLEET_POLL_MS;
}

/* tokens through Redis: the script runs every STEER_FLEET_TICK_MS anyway
 * (reports go out, the provider's spill comes in), and at the reset */
static bool tokens_due(const struct fpool *p, uint64_t now)
{
	return fleet_tokens(p) && (ms_since(now, p->sent_at) >= STEER_FLEET_TICK_MS ||
				   (p->spill_until && now >= p->spill_until));
}

static void tick_tokens(struct daemon *d, struct fpool *p, uint64_t now);

static bool want_lease(const struct fpool *p, int64_t left, uint64_t now, bool window_over)
{
	bool spilling = fleet_tokens(p) && p->spill_until > now;	/* asks every tick */

	return (p->source != BUDGET_LEASE && !spilling) || window_over || tokens_due(p, now) ||
	       (!p->exhausted && lease_wanted(left, p->hold));
}

/* Redis away past the lease TTL: the static share, or for tokens the local
 * budget (tokens_per_min / expected_hosts) from a new local window */
static void fall_back(struct fpool *p)
{
	if (fleet_tokens(p)) {
		set_source(p, BUDGET_LOCAL, "Redis unreachable for the lease TTL: a host's share of the tokens");
		p->token_window_end = 0;
		return;
	}
	set_source(p, BUDGET_STATIC, "Redis unreachable for the lease TTL");
	p->static_end = 0;
}

/* How long the current lease may be spent with Redis away. A start with
 * nothing in the kernel has no lease to spend: if Redis has not answered
 * within STEER_FLEET_START_GRACE_MS (or timeout_ms, if longer), the static
 * share, rather than spilling every connection for a lease TTL (each such
 * start, during an outage, takes one static share: the README says so).
 * Seconds, not timeout_ms: a loaded host's start alone can take that. */
static uint64_t lease_ttl_of(const struct daemon *d, const struct fpool *p)
{
	uint64_t ttl = lease_ttl_ms(d, p), grace = STEER_FLEET_START_GRACE_MS;

	if (d->conf.fleet.timeout_ms > grace)
		grace = d->conf.fleet.timeout_ms;
	if (!p->window && !p->start_held && grace < ttl)
		return grace;
	return ttl;
}

static void tick_lease(struct daemon *d, struct fpool *p, uint64_t now)
{
	int64_t left = __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST);
	bool window_over = p->window_end && now >= p->window_end;
	uint64_t since;

	if (!window_over)
		p->look_left = left;	/* the carry, if the next look is past the end */
	measure(p, left, now);
	if (fleet_redis_up(d) && now >= p->refused_until) {
		if (p->inflight)
			return;
		if (window_over || again_after_spent(p, left, now) ||
		    (p->spill_until && now >= p->spill_until))
			p->exhausted = false;
		/* no window yet (a start): what the kernel holds waits for
		 * the first grant to replace it */
		if (!p->window || want_lease(p, left, now, window_over))
			send_lease(d, p, false);
		else
			give_back_idle(d, p, left, now);
		return;
	}
	if (p->inflight)
		unsent_back(p);
	p->inflight = false;	/* its reply comes as NULL, or never */
	/* the static share after lease_ttl_s with Redis unreachable: from
	 * the last grant, or from when Redis went away if that is later (an
	 * idle host's old lease is no reason to take it at a blip) */
	since = d->fleet && d->fleet->redis_down_since > p->granted_at ?
		d->fleet->redis_down_since : p->granted_at;
	if (p->refused_since > since)	/* refused replies: away since the first */
		since = p->refused_since;
	if (p->source == BUDGET_LEASE && ms_since(now, since) >= lease_ttl_of(d, p))
		fall_back(p);
	if (fleet_tokens(p) && p->source != BUDGET_LEASE) {
		tick_tokens(d, p, now);
		return;
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
		p->token_budget = local_tokens(p);
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
	p->token_granted -= (uint64_t)budget_trim(lp, target);
}

/* a pool the reconcile pass may have added since: its id, and the kernel
 * budget switched on (reconcile_limits holds it at 0 first; this covers
 * a pass whose hold failed) */
static bool find_pool(struct daemon *d, struct fpool *p, uint64_t now)
{
	char err[STEER_ERR_LEN];
	uint32_t id;

	if (p->found)
		return true;
	if (pool_find(&d->maps, p->name, &id, NULL, err) || id >= STEER_MAX_POOLS)
		return false;
	p->found = true;
	if (p->started && id == p->id)
		return true;	/* a reload: its lease, window and source go on */
	p->id = id;
	p->started = true;
	pool_budget_hold(&d->budget_map[p->id]);
	p->held = __atomic_load_n(left_of(d, p), __ATOMIC_SEQ_CST);
	p->held = p->held > 0 ? p->held : 0;
	p->start_held = p->held > 0;
	p->hold = p->conf.chunk;
	if (leased(p)) {
		/* a start is a lease of 0 granted now: the static share only
		 * after lease_ttl_s without Redis. What the kernel holds (a
		 * lease of a steerd before us, counted; a static share or an
		 * old window's lease, not counted: no telling) is spent until
		 * the first grant replaces it (apply_grant, window 0), and
		 * never given back (window_granted 0) */
		p->source = BUDGET_LEASE;
		p->granted_at = now;
		p->window = p->window_end = p->window_granted = 0;
	}
	return true;
}

/* Where the kernel wakes steerd for this pool (wake.h): a lease's, at the
 * first value of quota_left that lease_wanted asks for the next one at
 * (half the aim); any other budget's (tokens, the static share), at its
 * last unit. sk_lookup compares it with the value before its decrement. */
static uint32_t wake_at_of(const struct fpool *p)
{
	uint32_t hold = p->hold ? p->hold : p->conf.chunk, half = hold / 2 + hold % 2;

	if (!leased(p) || p->source != BUDGET_LEASE)
		return 1;
	return half ? half : 1;
}

/* one store through the mmap, as the other fields, when it changes; left
 * set at exit: a steerd started again sets its own, and with nobody
 * reading the ring's records are dropped */
static void arm_wake(struct daemon *d, const struct fpool *p)
{
	uint32_t *at = &d->budget_map[p->id].wake_at, want = wake_at_of(p);

	if (__atomic_load_n(at, __ATOMIC_RELAXED) != want)
		__atomic_store_n(at, want, __ATOMIC_SEQ_CST);
}

static void look(struct daemon *d, struct fpool *p, uint64_t now)
{
	if (!d->budget_map || !find_pool(d, p, now))
		return;
	if (leased(p))
		tick_lease(d, p, now);
	else
		tick_tokens(d, p, now);
	arm_wake(d, p);
}

void budgets_tick(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->nbudgets; i++)
		look(d, &d->budgets[i], now);
}

void budgets_woken(struct daemon *d, uint32_t id, uint64_t now)
{
	for (size_t i = 0; i < d->nbudgets; i++)
		if (d->budgets[i].found && d->budgets[i].id == id)
			look(d, &d->budgets[i], now);
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

static int map_budgets(struct daemon *d)
{
	if (!(d->budget_map = pool_budgets_map(&d->maps))) {
		log_err("fleet: cannot map pool_budgets: %s", strerror(errno));
		return -1;
	}
	return 0;
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
		bool shared;

		if (!fleet_pool(cp))
			continue;
		p = &fresh[n++];
		was = old_named(d->budgets, d->nbudgets, cp->name);
		shared = cp->has_global_quota || (cp->has_tokens && c->fleet.enabled);
		if (was && was->conf.has_global_quota == cp->has_global_quota &&
		    was->shared == shared) {
			*p = *was;	/* its source, lease, window and estimate go on */
			if (window_s_of(was) != (cp->has_tokens ? cp->token_window_s : cp->window_s))
				p->window = p->window_end = p->window_granted = 0;	/* other indexes */
			if (was->conf.global_quota != cp->global_quota) {
				p->exhausted = false;
				p->remaining_known = false;
			}
		} else {
			*p = (struct fpool){ .cap_unsent = -1,
					     .source = shared ? BUDGET_LEASE : BUDGET_LOCAL };
		}
		p->shared = shared;
		snprintf(p->name, sizeof(p->name), "%s", cp->name);
		p->conf = *cp;
		p->conf.workers = NULL;
		p->conf.nworkers = 0;
		p->token_budget = token_budget(cp->tokens_per_min, cp->token_window_s);
		p->hosts = c->fleet.enabled ? c->fleet.expected_hosts : 1;
		p->found = false;	/* its id again: a reload may have moved it */
	}
	free(d->budgets);
	d->budgets = fresh;
	d->nbudgets = n;
	if (n && !d->budget_map && map_budgets(d))
		return -1;
	budgets_tick(d, now_ms());
	return 0;
}

void budgets_maps_replaced(struct daemon *d)
{
	pool_budgets_unmap(d->budget_map);
	d->budget_map = NULL;
	/* new maps are a new kernel: each pool starts again on them (its
	 * quota switched on before anything is admitted) */
	for (size_t i = 0; i < d->nbudgets; i++)
		d->budgets[i].found = d->budgets[i].started = false;
	if (d->nbudgets)
		map_budgets(d);
}

/* ---- at exit ---- */
static void on_returned(struct daemon *d, redisReply *r, void *priv)
{
	(void)r;
	(void)priv;
	if (d->fleet && d->fleet->returns_out)
		d->fleet->returns_out--;
}

/* n admissions back to the lease's window, if it is still the current
 * one, and no more than this process was granted in it: what it sent */
static int64_t send_return(struct daemon *d, struct fpool *p, int64_t n)
{
	char key[KEY_LEN], win[16], idx[24], num[24];

	if ((uint64_t)n > p->window_granted)
		n = (int64_t)p->window_granted;	/* what it holds above is no lease of ours */
	if (n <= 0)
		return 0;
	p->window_granted -= (uint64_t)n;
	key_of(d, p, key, sizeof(key));
	snprintf(win, sizeof(win), "%u", window_s_of(p));
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)p->window);
	/* tokens: what the admissions reserved */
	snprintf(num, sizeof(num), "%lld", fleet_tokens(p) ? (long long)token_release(
		 &p->res_tokens, &p->res_conns, (uint64_t)n) : (long long)n);
	p->returned += (uint64_t)n;
	if (!rconn_command(d->fleet->cmd, on_returned, NULL, "EVAL %s 1 %s %s %s %s", RETURN_LUA,
			   key, win, idx, num))
		d->fleet->returns_out++;
	return n;
}

static void give_back(struct daemon *d, struct fpool *p)
{
	int64_t left;

	if (!p->found || p->source != BUDGET_LEASE || !p->window)
		return;
	left = budget_swap(left_of(d, p), 0);
	if (left <= 0 || (left = send_return(d, p, left)) <= 0)
		return;
	log_info("pool %s: %lld unspent admissions back to window %llu", p->name, (long long)left,
		 (unsigned long long)p->window);
}

/* Redis' answers for up to timeout_ms: only its events are taken */
static void wait_returns(struct daemon *d)
{
	uint64_t end = now_ms() + d->fleet->conf.timeout_ms;
	struct epoll_event evs[16];

	for (uint64_t now = now_ms(); d->fleet->returns_out && now < end; now = now_ms()) {
		int n = epoll_wait(d->epfd, evs, 16, (int)(end - now));

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
	pool_budgets_unmap(d->budget_map);
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
	/* saturated: a flood of reports at STEER_TOKENS_MAX must not wrap */
	p->tokens_used = tokens < INT64_MAX - p->tokens_used ? p->tokens_used + tokens : INT64_MAX;
	p->token_conns += conns;
	if (fleet_tokens(p)) {	/* to the fleet's count, settling their reservation */
		p->tokens_unsent = tokens < TOKENS_EXACT - p->tokens_unsent ?
				   p->tokens_unsent + tokens : TOKENS_EXACT;
		p->release_unsent += token_release(&p->res_tokens, &p->res_conns, conns);
	}
	p->per_conn = token_estimate(p->per_conn, tokens, conns);
	p->reports++;
}

static void on_spill_set(struct daemon *d, redisReply *r, void *priv)
{
	(void)d, (void)priv;
	if (r && r->type == REDIS_REPLY_ERROR)
		log_warn("fleet: the provider's spill not shared: %.120s", r->str);
}

/* the provider's 0 on this host: every host spills until its reset, by a
 * key with that TTL that every host's token script reads */
static void publish_spill(struct daemon *d, struct fpool *p, uint32_t reset_s)
{
	char key[KEY_LEN];

	if (!fleet_redis_up(d) || !reset_s)
		return;		/* this host spills; the others learn at the next report */
	spill_key_of(d, p, key, sizeof(key));
	rconn_command(d->fleet->cmd, on_spill_set, NULL, "SET %s 1 PX %llu", key,
		      (unsigned long long)reset_s * 1000);
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
			if (back > 0 && fleet_tokens(p))
				p->release_unsent += token_release(&p->res_tokens, &p->res_conns,
								   (uint64_t)back);
			p->held = 0;
		}
		if (fleet_tokens(p))
			publish_spill(d, p, reset_s);
		log_notice("pool %s: the provider has no tokens left; spilling for %u s", p->name,
			   reset_s);
		return 0;
	}
	/* what the provider still allows caps the window's budget (the fleet's
	 * with the next script) */
	if (fleet_tokens(p))
		p->cap_unsent = p->cap_unsent >= 0 && (uint64_t)p->cap_unsent < remaining ?
				p->cap_unsent : (int64_t)(remaining < TOKENS_EXACT ? remaining : TOKENS_EXACT);
	if (p->token_budget > p->tokens_used + remaining) {
		p->token_budget = p->tokens_used + remaining;
		p->provider_capped = true;
	}
	p->spill_until = 0;
	return 0;
}
