/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* admit.bpf.h - may a new connection enter this pool at all? Circuit state,
 * admission quota and token bucket; a "no" sends it to the fallback pool. */
#ifndef STEER_ADMIT_BPF_H
#define STEER_ADMIT_BPF_H

#include "steer.h"
#include "bucket.h"
#include "maps.bpf.h"

/* Refill the bucket for the time since the last refill, then take a token.
 * A bucket never refilled yet (a rate just set) starts full. */
static __always_inline bool take_token(struct steer_pool_limits *lim)
{
	__u64 now = bpf_ktime_get_ns(), elapsed, used, tokens;
	bool ok = false;

	bpf_spin_lock(&lim->lock);
	elapsed = now - lim->refill_ns;
	/* now was read before the lock: another CPU's refill may be later */
	if ((__s64)elapsed < 0)
		elapsed = 0;
	if (lim->refill_ns == 0) {
		tokens = lim->burst_milli;
		used = elapsed;
	} else {
		tokens = bucket_refill(lim->tokens_milli, lim->burst_milli, lim->rate_milli, elapsed,
				       &used);
	}
	if (tokens >= STEER_MILLI) {
		tokens -= STEER_MILLI;
		ok = true;
	}
	lim->tokens_milli = tokens;
	lim->refill_ns += used;
	bpf_spin_unlock(&lim->lock);
	return ok;
}

/* A "no" sends the connection to the fallback, or refuses it if there is
 * none; which "no" it was is the monitor's why (enum steer_monitor_why). */
enum admit_verdict {
	ADMIT_NO_CIRCUIT = STEER_WHY_CIRCUIT,
	ADMIT_NO_QUOTA = STEER_WHY_QUOTA,
	ADMIT_NO_RATE = STEER_WHY_RATE,
	ADMIT_YES = 16,
	ADMIT_PROBE = 17,	/* yes, as a half-open probe */
	/* on a yes: a unit of quota was taken, and a refund gives it back.
	 * Not "the quota is on" read again at the refund: steerd may switch
	 * it on between the two, and a unit nobody paid for would appear. */
	ADMIT_CHARGED = 32,
};

static __always_inline bool admitted(enum admit_verdict v)
{
	return v >= ADMIT_YES;
}

static __always_inline bool admit_probe(enum admit_verdict v)
{
	return (v & ~ADMIT_CHARGED) == ADMIT_PROBE;
}

/* Tell steerd a pool's lease runs low: the value fetch_and_add returned
 * is each admission's own, so exactly one CPU sees quota_left pass
 * wake_at, and one its last unit: at most two records a lease (a refund
 * can give a value back, and one more record: harmless). A pool without
 * wake_at pays one load and a compare. */
static __always_inline void budget_wake(const struct steer_pool_budget *bud, __u32 pool_id,
					__s64 left)
{
	__u32 at = bud->wake_at;

	if (!at || (left != at && left != 1))
		return;
	bpf_ringbuf_output(&budget_wakes, &pool_id, sizeof(pool_id), BPF_RB_FORCE_WAKEUP);
}

static __always_inline enum admit_verdict admit(const struct steer_pool *pool,
						struct steer_pool_stats *ps,
						struct steer_pool_limits *lim,
						struct steer_pool_budget *bud, __u32 pool_id)
{
	enum admit_verdict verdict = ADMIT_YES, no = ADMIT_NO_QUOTA;

	if (pool->circuit == STEER_CIRCUIT_OPEN) {
		__sync_fetch_and_add(&ps->circuit_out, 1);
		return ADMIT_NO_CIRCUIT;
	}
	if (pool->circuit == STEER_CIRCUIT_HALF_OPEN) {
		if (__sync_fetch_and_add(&bud->probes_left, -1) <= 0) {
			__sync_fetch_and_add(&ps->circuit_out, 1);
			return ADMIT_NO_CIRCUIT;
		}
		verdict = ADMIT_PROBE;
	}
	if (bud->quota_on) {
		__s64 left = __sync_fetch_and_add(&bud->quota_left, -1);

		if (left <= 0)
			goto spill;
		budget_wake(bud, pool_id, left);
		verdict |= ADMIT_CHARGED;
	}
	if (lim->rate_on && !take_token(lim)) {
		if (verdict & ADMIT_CHARGED)
			__sync_fetch_and_add(&bud->quota_left, 1);
		no = ADMIT_NO_RATE;
		goto spill;
	}
	return verdict;
spill:
	if (admit_probe(verdict))
		__sync_fetch_and_add(&bud->probes_left, 1);
	__sync_fetch_and_add(&ps->spilled, 1);
	return no;
}

/* Admitted, but no worker could take it: give back what admit() took. */
static __always_inline void admit_refund(enum admit_verdict verdict, struct steer_pool_budget *bud)
{
	if (admit_probe(verdict))
		__sync_fetch_and_add(&bud->probes_left, 1);
	if (verdict & ADMIT_CHARGED)
		__sync_fetch_and_add(&bud->quota_left, 1);
}

#endif /* STEER_ADMIT_BPF_H */
