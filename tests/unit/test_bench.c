/*
 * test_bench - cmocka unit tests for the bench helpers: histogram accuracy,
 * trace reproducibility and statistics, and the jsqsim dispatch core on
 * hand-computed cases.
 *
 * Build and run (from scripts/bench):
 *   gcc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o test_bench test_bench.c sim.c trace.c hist.c -lcmocka -lm && ./test_bench
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "sim.h"
#include "trace.h"

/* |got - want| <= rel * want */
static void assert_within(double got, double want, double rel)
{
	if (fabs(got - want) > rel * fabs(want))
		fail_msg("got %.6g, want %.6g +- %.3g%%", got, want, rel * 100);
}

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	hist_init(h);
	return h;
}

/* ---- histogram ---- */

static void test_hist_empty(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 100), 0);
	assert_true(hist_mean(h) == 0.0);
	free(h);
}

static void test_hist_buckets_contiguous_and_narrow(void **state)
{
	(void)state;
	unsigned last = hist_index(HIST_MAX_VALUE);

	for (unsigned i = 0; i < last; i++) {
		uint64_t lo = hist_bucket_lo(i), w = hist_bucket_width(i);
		assert_int_equal(hist_index(lo), i);
		assert_int_equal(hist_index(lo + w - 1), i);
		assert_int_equal(hist_bucket_lo(i + 1), lo + w);
		if (lo >= HIST_SUB)
			assert_true((double)w / (double)lo <= 1.0 / 128 + 1e-12);
		else
			assert_int_equal(w, 1);
	}
	assert_int_equal(last, hist_index(HIST_MAX_VALUE * 5));
	assert_true(last < HIST_NBUCKETS);
	assert_true(hist_bucket_lo(last) <= HIST_MAX_VALUE);
}

static void test_hist_small_values_exact(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	for (uint64_t v = 1; v <= 200; v++)
		hist_record(h, v);
	assert_int_equal(hist_percentile(h, 50), 100);
	assert_int_equal(hist_percentile(h, 99), 198);
	assert_int_equal(hist_percentile(h, 0.1), 1);
	assert_int_equal(hist_percentile(h, 100), 200);
	free(h);
}

static void test_hist_uniform_percentiles(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	assert_within((double)hist_percentile(h, 50), 50000, 0.01);
	assert_within((double)hist_percentile(h, 99), 99000, 0.01);
	assert_within((double)hist_percentile(h, 99.9), 99900, 0.01);
	assert_int_equal(hist_percentile(h, 100), 100000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100000);
	assert_within(hist_mean(h), 50000.5, 1e-12);
	free(h);
}

static void test_hist_bimodal_tail(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	for (int i = 0; i < 990; i++)
		hist_record(h, 1234);
	for (int i = 0; i < 10; i++)
		hist_record(h, 987654321);
	assert_within((double)hist_percentile(h, 50), 1234, 0.01);
	assert_within((double)hist_percentile(h, 99), 1234, 0.01);
	assert_within((double)hist_percentile(h, 99.9), 987654321, 0.01);
	assert_int_equal(hist_percentile(h, 100), 987654321);
	free(h);
}

static void test_hist_clamps_huge_values(void **state)
{
	(void)state;
	struct hist *h = hist_new();
	hist_record(h, 10);
	hist_record(h, 5 * HIST_MAX_VALUE);
	assert_int_equal(h->clamped, 1);
	assert_int_equal(h->max, 5 * HIST_MAX_VALUE);
	assert_int_equal(hist_percentile(h, 50), 10);
	free(h);
}

/* ---- trace ---- */

static struct mix mix_of(const char *spec)
{
	struct mix m;
	const char *why = NULL;
	if (mix_parse(spec, &m, &why))
		fail_msg("mix_parse(%s): %s", spec, why);
	return m;
}

static void test_mix_parse(void **state)
{
	(void)state;
	static const char *bad[] = { "", ",", "0.5:1", "a:1,0.5:2", "0.5:1,0.5",
				     "-0.5:1,1.5:2", "0.5:-1,0.5:2", "0:1,1:2",
				     "0.5:1x,0.5:2", "1:nan" };
	struct mix m = mix_of(MIX_DEFAULT);
	const char *why = NULL;

	assert_int_equal(m.n, 2);
	assert_true(m.ms[0] == 1 && m.ms[1] == 100 && m.short_ms == 1);
	assert_true(m.cum[1] == 1.0);
	assert_int_equal(mix_class(&m, 1), CLASS_SHORT);
	assert_int_equal(mix_class(&m, 100), CLASS_LONG);
	m = mix_of("0.3333:5,0.3333:2,0.3334:9");
	assert_true(m.short_ms == 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mix_parse(bad[i], &m, &why) == 0)
			fail_msg("mix '%s' accepted", bad[i]);
		assert_non_null(why);
	}
}

static void assert_req_equal(const struct trace_req *a, const struct trace_req *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->sched_ns, b->sched_ns);
	assert_true(a->ms == b->ms);
	assert_int_equal(a->cls, b->cls);
}

static void test_trace_reproducible(void **state)
{
	(void)state;
	struct mix m = mix_of(MIX_DEFAULT);
	size_t na, nb, nc;
	struct trace_req *a = trace_generate(42, 500, 20, &m, &na);
	struct trace_req *b = trace_generate(42, 500, 20, &m, &nb);
	struct trace_req *c = trace_generate(43, 500, 20, &m, &nc);
	struct trace t;
	struct trace_req r;
	size_t same = 0;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(na, nb);
	assert_true(na > 0);
	for (size_t i = 0; i < na; i++)
		assert_req_equal(&a[i], &b[i]);
	for (size_t i = 0; i < na && i < nc; i++)
		same += a[i].sched_ns == c[i].sched_ns;
	assert_true(same < 10);
	/* the incremental generator yields the same sequence */
	trace_init(&t, 42, 500, 20, &m);
	for (size_t i = 0; i < na; i++) {
		assert_true(trace_next(&t, &r));
		assert_req_equal(&r, &a[i]);
	}
	assert_false(trace_next(&t, &r));
	for (size_t i = 1; i < na; i++) {
		assert_int_equal(a[i].id, i);
		assert_true(a[i].sched_ns >= a[i - 1].sched_ns);
	}
	assert_true(a[na - 1].sched_ns < 20000000000ULL);
	free(a);
	free(b);
	free(c);
}

/* 200k arrivals at 1000/s: count sd ~0.22%, short fraction sd ~0.05%,
 * P(gap > mean) sd ~0.11%; the bounds below are >= 4.5 sd wide. */
static void test_trace_statistics(void **state)
{
	(void)state;
	struct mix m = mix_of(MIX_DEFAULT);
	size_t n, nshort = 0, nlong_gap = 0;
	struct trace_req *t = trace_generate(7, 1000, 200, &m, &n);
	double sum = 0, sumsq = 0, prev = 0;

	assert_non_null(t);
	assert_within((double)n, 200000, 0.015);
	for (size_t i = 0; i < n; i++) {
		double gap = (double)t[i].sched_ns / 1e9 - prev;
		prev = (double)t[i].sched_ns / 1e9;
		sum += gap;
		sumsq += gap * gap;
		nlong_gap += gap > 0.001;
		nshort += t[i].cls == CLASS_SHORT;
		assert_true(t[i].ms == (t[i].cls == CLASS_SHORT ? 1 : 100));
	}
	double mean = sum / (double)n;
	double sd = sqrt(sumsq / (double)n - mean * mean);
	assert_within(mean, 0.001, 0.015);
	assert_within(sd / mean, 1.0, 0.03);
	assert_within((double)nlong_gap / (double)n, exp(-1), 0.015);
	assert_within((double)nshort / (double)n, 0.95, 0.005);
	free(t);
}

static void test_trace_three_way_mix(void **state)
{
	(void)state;
	struct mix m = mix_of("0.5:1,0.3:5,0.2:50");
	size_t n, cnt[3] = { 0 };
	struct trace_req *t = trace_generate(9, 2000, 50, &m, &n);

	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		cnt[t[i].ms == 1 ? 0 : t[i].ms == 5 ? 1 : 2]++;
		assert_int_equal(t[i].cls, t[i].ms == 1 ? CLASS_SHORT : CLASS_LONG);
	}
	assert_within((double)cnt[0] / (double)n, 0.5, 0.02);
	assert_within((double)cnt[1] / (double)n, 0.3, 0.03);
	assert_within((double)cnt[2] / (double)n, 0.2, 0.04);
	free(t);
}

/* ---- simulator ---- */

static void run_sim(enum sim_policy p, unsigned k, const struct sim_job *jobs,
		    size_t n, struct sim_out *out)
{
	assert_int_equal(sim_run(p, k, 1, jobs, n, out), 0);
}

static void expect(const struct sim_out *out, size_t n, const uint64_t *wait,
		   const unsigned *server)
{
	for (size_t i = 0; i < n; i++) {
		if (out[i].wait_ns != wait[i] || out[i].server != server[i])
			fail_msg("job %zu: wait %llu server %u, want wait %llu server %u",
				 i, (unsigned long long)out[i].wait_ns, out[i].server,
				 (unsigned long long)wait[i], server[i]);
	}
}

/*
 * Two servers, four jobs (arrival, service):
 *   j0 (0,10)  j1 (1,1)  j2 (3,1)  j3 (3,1)
 * rr:      j0,j2 -> S0, j1,j3 -> S1; j2 waits for j0 until 10 -> 7.
 * jsq:     at 3 S1 is empty (j1 left at 2) so j2 -> S1 (runs 3..4);
 *          j3 sees S0=1, S1=1 -> tie to S0, waits until 10 -> 7.
 * central: j2 -> idle S1 (3..4); j3 waits for the first free server,
 *          S1 at 4 -> 1.
 */
static const struct sim_job hand_jobs[] = { { 0, 10 }, { 1, 1 }, { 3, 1 }, { 3, 1 } };

static void test_sim_hand_rr(void **state)
{
	(void)state;
	struct sim_out out[4];
	run_sim(SIM_RR, 2, hand_jobs, 4, out);
	expect(out, 4, (const uint64_t[]){ 0, 0, 7, 0 }, (const unsigned[]){ 0, 1, 0, 1 });
}

static void test_sim_hand_jsq(void **state)
{
	(void)state;
	struct sim_out out[4];
	run_sim(SIM_JSQ, 2, hand_jobs, 4, out);
	expect(out, 4, (const uint64_t[]){ 0, 0, 0, 7 }, (const unsigned[]){ 0, 1, 1, 0 });
}

static void test_sim_hand_central(void **state)
{
	(void)state;
	struct sim_out out[4];
	run_sim(SIM_CENTRAL, 2, hand_jobs, 4, out);
	expect(out, 4, (const uint64_t[]){ 0, 0, 0, 1 }, (const unsigned[]){ 0, 1, 1, 1 });
}

/* A job finishing exactly at an arrival instant has left (jsq), and jsq
 * counts jobs, not work: j4 joins S0 behind a 100-unit job. */
static void test_sim_jsq_ties(void **state)
{
	(void)state;
	static const struct sim_job jobs[] = {
		{ 0, 4 }, { 0, 4 }, { 4, 100 }, { 4, 1 }, { 4, 1 },
	};
	struct sim_out out[5];
	run_sim(SIM_JSQ, 2, jobs, 5, out);
	expect(out, 5, (const uint64_t[]){ 0, 0, 0, 0, 100 },
	       (const unsigned[]){ 0, 1, 0, 1, 0 });
	run_sim(SIM_CENTRAL, 2, jobs, 5, out);
	expect(out, 5, (const uint64_t[]){ 0, 0, 0, 0, 1 },
	       (const unsigned[]){ 0, 1, 0, 1, 1 });
}

/* jiq on the hand case: j2 finds S1 idle (j1 left at 2), j3 finds none
 * and waits in the lobby for S1 at 4: central's answer, by another route. */
static void test_sim_hand_jiq(void **state)
{
	(void)state;
	struct sim_out out[4];
	run_sim(SIM_JIQ, 2, hand_jobs, 4, out);
	expect(out, 4, (const uint64_t[]){ 0, 0, 0, 1 }, (const unsigned[]){ 0, 1, 1, 1 });
}

static struct sim_job *jobs_from(const struct trace_req *t, size_t n)
{
	struct sim_job *j = malloc(n * sizeof(*j));
	assert_non_null(j);
	for (size_t i = 0; i < n; i++) {
		j[i].arrival_ns = t[i].sched_ns;
		j[i].service_ns = (uint64_t)(t[i].ms * 1e6);
	}
	return j;
}

/* With one server every policy is the same FCFS queue (Lindley). */
static void test_sim_single_server(void **state)
{
	(void)state;
	struct mix m = mix_of(MIX_DEFAULT);
	size_t n;
	struct trace_req *t = trace_generate(3, 150, 20, &m, &n);
	struct sim_job *jobs = jobs_from(t, n);
	struct sim_out *out = malloc(n * sizeof(*out));
	uint64_t *want = malloc(n * sizeof(*want)), free_at = 0;

	assert_non_null(out);
	assert_non_null(want);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = jobs[i].arrival_ns;
		want[i] = free_at > a ? free_at - a : 0;
		free_at = a + want[i] + jobs[i].service_ns;
	}
	for (unsigned p = 0; p < SIM_NPOLICIES; p++) {
		run_sim((enum sim_policy)p, 1, jobs, n, out);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(out[i].wait_ns, want[i]);
	}
	free(want);
	free(out);
	free(jobs);
	free(t);
}

/* With one-at-a-time servers and exact idleness, join-idle-queue is the
 * central queue: the same wait for every job of a heavy-tailed trace at
 * load 0.85 on 4 servers (the lobby's bound in part B). */
static void test_sim_jiq_is_central(void **state)
{
	(void)state;
	struct mix m = mix_of(MIX_DEFAULT);
	size_t n, queued = 0;
	struct trace_req *t = trace_generate(7, 0.85 * 4 * 1000 / 5.95, 20, &m, &n);
	struct sim_job *jobs = jobs_from(t, n);
	struct sim_out *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));

	assert_non_null(a);
	assert_non_null(b);
	run_sim(SIM_CENTRAL, 4, jobs, n, a);
	run_sim(SIM_JIQ, 4, jobs, n, b);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].wait_ns, b[i].wait_ns);
		queued += b[i].wait_ns > 0;
	}
	assert_true(queued > n / 20); /* the lobby was used */
	free(a);
	free(b);
	free(jobs);
	free(t);
}

static void test_sim_random_spread(void **state)
{
	(void)state;
	enum { N = 40000, K = 4 };
	struct sim_job *jobs = calloc(N, sizeof(*jobs));
	struct sim_out *a = malloc(N * sizeof(*a)), *b = malloc(N * sizeof(*b));
	size_t cnt[K] = { 0 };

	assert_non_null(jobs);
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < N; i++)
		jobs[i].arrival_ns = i * 1000;
	assert_int_equal(sim_run(SIM_RANDOM, K, 5, jobs, N, a), 0);
	assert_int_equal(sim_run(SIM_RANDOM, K, 5, jobs, N, b), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(a[i].server, b[i].server);
		assert_int_equal(a[i].wait_ns, b[i].wait_ns);
		assert_true(a[i].server < K);
		cnt[a[i].server]++;
	}
	for (int s = 0; s < K; s++)
		assert_within((double)cnt[s], N / K, 0.03);
	free(jobs);
	free(a);
	free(b);
}

static void test_sim_policy_names(void **state)
{
	(void)state;
	enum sim_policy p;
	for (unsigned i = 0; i < SIM_NPOLICIES; i++) {
		assert_int_equal(sim_policy_parse(sim_policy_name((enum sim_policy)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(sim_policy_parse("all", &p), -1);
	assert_int_equal(sim_run(SIM_JSQ, 0, 1, hand_jobs, 4, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_empty),
		cmocka_unit_test(test_hist_buckets_contiguous_and_narrow),
		cmocka_unit_test(test_hist_small_values_exact),
		cmocka_unit_test(test_hist_uniform_percentiles),
		cmocka_unit_test(test_hist_bimodal_tail),
		cmocka_unit_test(test_hist_clamps_huge_values),
		cmocka_unit_test(test_mix_parse),
		cmocka_unit_test(test_trace_reproducible),
		cmocka_unit_test(test_trace_statistics),
		cmocka_unit_test(test_trace_three_way_mix),
		cmocka_unit_test(test_sim_hand_rr),
		cmocka_unit_test(test_sim_hand_jsq),
		cmocka_unit_test(test_sim_hand_central),
		cmocka_unit_test(test_sim_hand_jiq),
		cmocka_unit_test(test_sim_jiq_is_central),
		cmocka_unit_test(test_sim_jsq_ties),
		cmocka_unit_test(test_sim_single_server),
		cmocka_unit_test(test_sim_random_spread),
		cmocka_unit_test(test_sim_policy_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
