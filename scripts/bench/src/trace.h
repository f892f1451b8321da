/*
 * trace.h - reproducible request trace shared by loadgen and jsqsim.
 *
 * A trace is a Poisson arrival process at `rate` per second over
 * `duration` seconds; each arrival draws its size (milliseconds of work)
 * from a mix "p1:ms1,p2:ms2,...". Both draws come from one splitmix64
 * stream seeded with `seed`, in a fixed order (gap, then size), so the
 * same (seed, rate, duration, mix) always yields the same sequence.
 *
 * Requests whose size equals the smallest size in the mix are class
 * "short", all others "long".
 *
 * Not a program: compiled into loadgen, jsqsim and test_bench.
 */
#ifndef STEER_BENCH_TRACE_H
#define STEER_BENCH_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIX_MAX 16
#define MIX_DEFAULT "0.95:1,0.05:100"

enum req_class { CLASS_SHORT, CLASS_LONG, CLASS_COUNT };

struct mix {
	unsigned n;
	double prob[MIX_MAX];
	double ms[MIX_MAX];
	double cum[MIX_MAX]; /* cumulative probability, cum[n-1] == 1 */
	double short_ms;     /* smallest ms in the mix */
};

struct trace_req {
	uint64_t id;
	uint64_t sched_ns; /* arrival time since trace start */
	double ms;         /* work size */
	enum req_class cls;
};

struct trace {
	uint64_t rng;
	double rate;
	double t_s;
	double end_s;
	uint64_t next_id;
	const struct mix *mix;
};

uint64_t rng_next(uint64_t *state);
double rng_uniform(uint64_t *state); /* [0, 1) with 53 random bits */

/* Parse "p:ms,p:ms,..."; probabilities must be > 0 and sum to 1 (+-1e-3,
 * then normalised), ms >= 0. Returns 0, or -1 with *why set. */
int mix_parse(const char *spec, struct mix *m, const char **why);
void mix_format(const struct mix *m, char *buf, size_t len);
enum req_class mix_class(const struct mix *m, double ms);
const char *class_name(enum req_class c);

void trace_init(struct trace *t, uint64_t seed, double rate,
		double duration_s, const struct mix *m);
bool trace_next(struct trace *t, struct trace_req *r);
/* Whole trace as a malloc'd array (NULL on allocation failure). */
struct trace_req *trace_generate(uint64_t seed, double rate,
				 double duration_s, const struct mix *m,
				 size_t *n);

/* Strict number parsing for option values: 0 on success, -1 otherwise. */
int parse_double(const char *s, double *out);
int parse_u64(const char *s, uint64_t *out);

#endif
