// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* lease.c - see lease.h */
#include <stddef.h>
#include "lease.h"

uint64_t lease_grant(uint64_t quota, uint64_t granted, uint64_t chunk)
{
	uint64_t room = granted >= quota ? 0 : quota - granted;

	return room < chunk ? room : chunk;
}

bool lease_wanted(int64_t left, uint32_t hold)
{
	return left < 0 || (uint64_t)left * 2 < hold;
}

uint32_t lease_hold(double rate, double horizon_ms, bool dry, uint32_t last, uint32_t chunk,
		    uint32_t max)
{
	double want = rate * horizon_ms;

	if (dry && want < 2.0 * last)
		want = 2.0 * last;
	if (want < chunk)
		want = chunk;
	return want >= max ? max : (uint32_t)(want + 0.999);
}

double lease_rate(double rate, uint64_t spent, uint64_t dt_ms)
{
	double sample = dt_ms ? (double)spent / (double)dt_ms : rate;

	return sample >= rate ? sample : rate + LEASE_RATE_FALL * (sample - rate);
}

uint64_t lease_window(uint64_t now_ms, uint32_t window_s, uint64_t *ms_left)
{
	uint64_t w = (uint64_t)(window_s ? window_s : 1) * 1000;

	if (ms_left)
		*ms_left = w - now_ms % w;
	return now_ms / w;
}

uint64_t token_budget(uint64_t tokens_per_min, uint32_t window_s)
{
	/* exactly tokens_per_min x window_s / 60 (no rounding to 0 for a
	 * short window), without the product: up to 2^50 x 86400 overflows */
	return tokens_per_min / 60 * window_s + tokens_per_min % 60 * window_s / 60;
}

double token_estimate(double est, uint64_t tokens, uint64_t conns)
{
	double sample;

	if (!conns)
		return est;
	sample = (double)tokens / (double)conns;
	return est <= 0 ? sample : est + TOKEN_EWMA_WEIGHT * (sample - est);
}

int64_t token_admissions(int64_t tokens_left, double est, int64_t fallback)
{
	if (tokens_left <= 0)
		return 0;
	if (est <= 0)
		return fallback;
	if (est < 1)
		est = 1;	/* a connection costs at least a token */
	return (int64_t)((double)tokens_left / est);
}

uint64_t token_release(uint64_t *res_tokens, uint64_t *res_conns, uint64_t conns)
{
	uint64_t n = conns < *res_conns ? conns : *res_conns, back;

	if (!n)
		return 0;
	/* the last of them takes what rounding left */
	back = n == *res_conns ? *res_tokens : (uint64_t)((double)*res_tokens * n / *res_conns);
	*res_tokens -= back;
	*res_conns -= n;
	return back;
}

int64_t budget_add(int64_t *left, int64_t n)
{
	int64_t cur = __atomic_load_n(left, __ATOMIC_SEQ_CST), want;

	do {
		want = (cur > 0 ? cur : 0) + n;
	} while (!__atomic_compare_exchange_n(left, &cur, want, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return cur;
}

int64_t budget_swap(int64_t *left, int64_t n)
{
	return __atomic_exchange_n(left, n, __ATOMIC_SEQ_CST);
}

int64_t budget_carry(int64_t *left, int64_t carry, int64_t charged, int64_t grant)
{
	int64_t cur = __atomic_load_n(left, __ATOMIC_SEQ_CST), held, keep;

	do {
		held = cur > 0 ? cur : 0;
		keep = charged - (carry - held);	/* carry - held: spent since the look */
		if (keep > held)
			keep = held;
		if (keep > charged)
			keep = charged;
		if (keep < 0)
			keep = 0;
	} while (!__atomic_compare_exchange_n(left, &cur, keep + grant, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return cur;
}

int64_t budget_trim(int64_t *left, int64_t keep)
{
	int64_t cur = __atomic_load_n(left, __ATOMIC_SEQ_CST);

	while (cur > keep) {
		if (__atomic_compare_exchange_n(left, &cur, keep, false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return cur - keep;
	}
	return 0;
}
