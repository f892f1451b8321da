/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bucket.h - the token bucket's refill: one pure function, used by the
 * kernel (admit.bpf.h) and checked against exact arithmetic by the unit
 * tests. Amounts are tokens x STEER_MILLI, rates tokens/s x STEER_MILLI. */
#ifndef STEER_BUCKET_H
#define STEER_BUCKET_H

#ifndef __BPF__
#include <linux/types.h>	/* BPF: vmlinux.h has the __u64 */
#endif

#define STEER_NS_PER_US		1000ull
#define STEER_US_PER_SEC	1000000ull

/* Tokens after elapsed_ns more at rate, capped at burst; *used_ns is the
 * time accounted for, by which the caller advances its refill clock (whole
 * microseconds while the bucket fills, so no fraction of one is lost;
 * all of elapsed_ns once it is full).
 * No product can overflow 64 bits for a burst below 2^64 / 10^6 (1.8e10
 * tokens; the config takes at most 2^32) and any rate: the elapsed time is
 * capped at the time to fill the bucket before it is multiplied, and it is
 * counted in microseconds, since need x 10^9 (nanoseconds) would overflow
 * for a burst above 1.8e7 tokens. */
static inline __attribute__((always_inline)) __u64
bucket_refill(__u64 tokens, __u64 burst, __u64 rate, __u64 elapsed_ns, __u64 *used_ns)
{
	__u64 need, us, fill_us;

	*used_ns = elapsed_ns;
	if (tokens >= burst)
		return burst;
	if (!rate)
		return tokens;
	need = burst - tokens;
	us = elapsed_ns / STEER_NS_PER_US;
	/* (fill_us + 1) us at rate bring at least need: the bucket is full */
	fill_us = need * STEER_US_PER_SEC / rate;
	if (us > fill_us)
		return burst;
	*used_ns = us * STEER_NS_PER_US;
	/* us x rate <= fill_us x rate <= need x 10^6: no overflow */
	return tokens + us * rate / STEER_US_PER_SEC;
}

#endif /* STEER_BUCKET_H */
