/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lease.h - the pure arithmetic of leases and token budgets (unit-tested
 * in tests/unit/test_lease.c), and the kernel budget's two atomic writes.
 */
#ifndef STEER_LEASE_H
#define STEER_LEASE_H

#include <stdbool.h>
#include <stdint.h>

/* What the lease script grants of a window that has granted so far:
 * min(chunk, quota - granted), never below 0. */
uint64_t lease_grant(uint64_t quota, uint64_t granted, uint64_t chunk);
/* Ask for the next lease: less than half of hold (what a host aims to
 * hold, see lease_hold) left locally. */
bool lease_wanted(int64_t left, uint32_t hold);
/* What a host aims to hold: what rate (admissions per ms) spends in
 * horizon_ms, doubled from the last aim while the kernel ran dry between
 * two looks (a burst's rate is more than it could see), within [chunk,
 * max]. A lease tops the budget up to it, so a host never holds more than
 * max. */
#define LEASE_HORIZON_LOOKS	3	/* horizon: this many (look + round trip) */
#define LEASE_RATE_FALL		0.1	/* the rate falls by this share of the gap a look */
uint32_t lease_hold(double rate, double horizon_ms, bool dry, uint32_t last, uint32_t chunk,
		    uint32_t max);
/* The rate after a look that saw spent admissions over dt_ms: up at once,
 * down slowly (a burst that pauses keeps its leases' size a while). */
double lease_rate(double rate, uint64_t spent, uint64_t dt_ms);
/* A window index and the ms left in it, from a time in ms. */
uint64_t lease_window(uint64_t now_ms, uint32_t window_s, uint64_t *ms_left);
/* A budget of tokens_per_min over a window of window_s seconds. */
uint64_t token_budget(uint64_t tokens_per_min, uint32_t window_s);
/* The estimate of tokens per connection after a report of tokens for
 * conns connections: the first report seeds it, then an EWMA with weight
 * TOKEN_EWMA_WEIGHT for the new sample. */
#define TOKEN_EWMA_WEIGHT	0.2
double token_estimate(double est, uint64_t tokens, uint64_t conns);
/* Admissions the tokens left pay for at est tokens each (est 0: fallback). */
int64_t token_admissions(int64_t tokens_left, double est, int64_t fallback);

/* Tokens through Redis: a host reserves tokens in the fleet's count for
 * the admissions it was granted (at its estimate), res_tokens for res_conns
 * of them; a report of conns connections (or conns admissions given back)
 * releases their share, which this returns (and takes from both). */
uint64_t token_release(uint64_t *res_tokens, uint64_t *res_conns, uint64_t conns);

/* pool_budgets.quota_left: the kernel spends it with fetch_and_add(-1)
 * and never refunds a spill, so add with new = max(cur, 0) + n (CAS), and
 * take back with an exchange. Both return the value before. */
int64_t budget_add(int64_t *left, int64_t n);
int64_t budget_swap(int64_t *left, int64_t n);

/* A window's turn with the old lease's leftover charged to the new window:
 * carry is what the kernel held at the last look before the old window's
 * end (it has spent from that since), charged how much of it the new
 * window took. The kernel keeps what is left of the charged part and gets
 * grant on top: new = grant + min(held, charged - (carry - held)), at
 * least grant. Returns the value before. */
int64_t budget_carry(int64_t *left, int64_t carry, int64_t charged, int64_t grant);
/* Down to keep (>= 0) if it holds more (CAS): what was taken, or 0. */
int64_t budget_trim(int64_t *left, int64_t keep);

#endif
