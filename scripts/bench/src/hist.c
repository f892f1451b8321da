/*
 * hist.c - log-linear histogram, see hist.h.
 * Library file, no main. Compiled with the tools, e.g.:
 *   gcc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -c hist.c
 */
#include "hist.h"

#include <math.h>
#include <string.h>

_Static_assert((1ULL << HIST_MAX_EXP) <= HIST_MAX_VALUE &&
		       HIST_MAX_VALUE < (1ULL << (HIST_MAX_EXP + 1)),
	       "HIST_MAX_EXP must be floor(log2(HIST_MAX_VALUE))");

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t v)
{
	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned exp = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = exp - HIST_SUB_BITS;
	return HIST_SUB + shift * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_lo(unsigned idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned k = idx - HIST_SUB;
	unsigned shift = k / HIST_SUB;
	return (uint64_t)(HIST_SUB + k % HIST_SUB) << shift;
}

uint64_t hist_bucket_width(unsigned idx)
{
	if (idx < HIST_SUB)
		return 1;
	return 1ULL << ((idx - HIST_SUB) / HIST_SUB);
}

void hist_record(struct hist *h, uint64_t v)
{
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	if (v > HIST_MAX_VALUE)
		h->clamped++;
	h->counts[hist_index(v)]++;
	h->total++;
	h->sum += (double)v;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	if (h->total == 0)
		return 0;
	if (pct >= 100.0)
		return h->max;
	double r = ceil(pct / 100.0 * (double)h->total);
	uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t mid = hist_bucket_lo(i) +
				       (hist_bucket_width(i) - 1) / 2;
			return clamp_u64(mid, h->min, h->max);
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
