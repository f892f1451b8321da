/*
 * hist.h - HDR-style log-linear histogram of non-negative integers
 * (microseconds in the bench tools), shared by loadgen, jsqsim and tests.
 *
 * Values 0..127 are exact; above that every power of two is split into
 * 128 equal sub-buckets, so a bucket is at most 1/128 (0.78%) of its lower
 * bound wide and a reported percentile (the bucket midpoint) is within
 * 0.4% of a recorded value. Range: 0 .. HIST_MAX_VALUE (1000 s in us);
 * larger values are clamped to it and counted in `clamped`. min, max and
 * mean are exact.
 *
 * Not a program: compiled into loadgen, jsqsim and test_bench (see there).
 */
#ifndef STEER_BENCH_HIST_H
#define STEER_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_VALUE 1000000000ULL /* 1000 s in microseconds */
#define HIST_MAX_EXP 29              /* floor(log2(HIST_MAX_VALUE)) */
#define HIST_NBUCKETS (HIST_SUB * (HIST_MAX_EXP - HIST_SUB_BITS + 2))

struct hist {
	uint64_t counts[HIST_NBUCKETS];
	uint64_t total;
	uint64_t min;
	uint64_t max;     /* exact, before clamping */
	uint64_t clamped; /* values above HIST_MAX_VALUE */
	double sum;
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Value at percentile pct (0..100]: smallest v with >= pct% of values <= v,
 * within the bucket error; 0 on an empty histogram; max at 100. */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);

unsigned hist_index(uint64_t v);
uint64_t hist_bucket_lo(unsigned idx);
uint64_t hist_bucket_width(unsigned idx);

#endif
