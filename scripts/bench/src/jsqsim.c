/*
 * jsqsim - discrete-event simulation of dispatch policies on the same
 * request trace loadgen sends (same seed/rate/duration/mix => same arrival
 * times and sizes), with K one-at-a-time FCFS servers whose service time is
 * exactly the request's ms. Prints short-request response-time percentiles
 * (wait + service, microseconds) per policy.
 *
 * Build (from scripts/bench):
 *   make bench-tools   (build/jsqsim; the Makefile lists its sources)
 *
 * Usage:
 *   jsqsim --workers K --rate R --duration S --seed N [--mix SPEC]
 *          [--policy jsq|rr|random|central|jiq|all]
 */
#include "cli.h"
#include "hist.h"
#include "sim.h"
#include "trace.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 4096
#define MAX_REQUESTS 100000000.0

struct opts {
	unsigned workers;
	double rate;
	double duration;
	uint64_t seed;
	struct mix mix;
	bool all;
	enum sim_policy policy;
};

struct policy_stats {
	struct hist lat[CLASS_COUNT]; /* response time, us */
	double wait_sum_us;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: jsqsim --workers K --rate R --duration S --seed N [--mix SPEC]\n"
		"              [--policy jsq|rr|random|central|jiq|all]\n"
		"  --workers K    number of FCFS servers\n"
		"  --rate R       Poisson arrival rate per second\n"
		"  --duration S   trace length in seconds\n"
		"  --seed N       trace seed (same as loadgen --seed)\n"
		"  --mix SPEC     PROB:MS,... (default " MIX_DEFAULT ")\n"
		"  --policy P     one policy or all (default all)\n");
}

static int parse_opt(int c, const char *arg, void *ctx)
{
	struct cli_seen *st = ctx;
	struct opts *o = st->opts;
	unsigned *seen = &st->seen;
	uint64_t u;
	const char *why;

	switch (c) {
	case 'k':
		if (parse_u64(arg, &u) || u < 1 || u > MAX_WORKERS)
			return cli_bad_arg("--workers must be 1..4096", arg);
		o->workers = (unsigned)u;
		*seen |= 1;
		return 0;
	case 'r':
		if (parse_double(arg, &o->rate) || o->rate <= 0)
			return cli_bad_arg("--rate must be > 0", arg);
		*seen |= 2;
		return 0;
	case 'd':
		if (parse_double(arg, &o->duration) || o->duration <= 0)
			return cli_bad_arg("--duration must be > 0", arg);
		*seen |= 4;
		return 0;
	case 's':
		if (parse_u64(arg, &o->seed))
			return cli_bad_arg("--seed must be an unsigned integer", arg);
		*seen |= 8;
		return 0;
	case 'm':
		if (mix_parse(arg, &o->mix, &why))
			return cli_bad_arg(why, arg);
		return 0;
	case 'p':
		o->all = strcmp(arg, "all") == 0;
		if (!o->all && sim_policy_parse(arg, &o->policy))
			return cli_bad_arg("unknown --policy", arg);
		return 0;
	default:
		return -1;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "workers", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_seen st = { .opts = o };
	const char *why;

	memset(o, 0, sizeof(*o));
	o->all = true;
	mix_parse(MIX_DEFAULT, &o->mix, &why);
	if (cli_parse(argc, argv, longopts, usage, parse_opt, &st))
		return -1;
	if (st.seen != 15) {
		fprintf(stderr, "Error: --workers, --rate, --duration and --seed are required\n");
		return -1;
	}
	if (o->rate * o->duration > MAX_REQUESTS) {
		fprintf(stderr, "Error: rate * duration exceeds %.0f requests\n",
			MAX_REQUESTS);
		return -1;
	}
	return 0;
}

static struct sim_job *jobs_from_trace(const struct trace_req *t, size_t n)
{
	struct sim_job *jobs = malloc((n ? n : 1) * sizeof(*jobs));
	if (!jobs)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		jobs[i].arrival_ns = t[i].sched_ns;
		jobs[i].service_ns = (uint64_t)(t[i].ms * 1e6 + 0.5);
	}
	return jobs;
}

static void collect(struct policy_stats *ps, const struct trace_req *t,
		    const struct sim_job *jobs, const struct sim_out *out,
		    size_t n)
{
	for (int c = 0; c < CLASS_COUNT; c++)
		hist_init(&ps->lat[c]);
	ps->wait_sum_us = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t resp_ns = out[i].wait_ns + jobs[i].service_ns;
		hist_record(&ps->lat[t[i].cls], (resp_ns + 500) / 1000);
		ps->wait_sum_us += (double)out[i].wait_ns / 1e3;
	}
}

static void print_header(const struct opts *o, size_t n,
			 const struct sim_job *jobs)
{
	char mix[256];
	double work_ns = 0;

	for (size_t i = 0; i < n; i++)
		work_ns += (double)jobs[i].service_ns;
	mix_format(&o->mix, mix, sizeof(mix));
	printf("jsqsim workers %u rate %g/s duration %g s seed %llu mix %s\n",
	       o->workers, o->rate, o->duration, (unsigned long long)o->seed,
	       mix);
	printf("requests %zu utilisation %.3f (work / (workers * duration))\n",
	       n, work_ns / 1e9 / (o->workers * o->duration));
	printf("%-8s %10s %10s %10s %10s %10s %10s %12s\n", "policy",
	       "short_n", "p50_us", "p99_us", "p99.9_us", "max_us",
	       "long_p99_us", "mean_wait_us");
}

static void print_row(enum sim_policy p, const struct policy_stats *ps,
		      size_t n)
{
	const struct hist *s = &ps->lat[CLASS_SHORT];
	printf("%-8s %10llu %10llu %10llu %10llu %10llu %10llu %12.1f\n",
	       sim_policy_name(p), (unsigned long long)s->total,
	       (unsigned long long)hist_percentile(s, 50),
	       (unsigned long long)hist_percentile(s, 99),
	       (unsigned long long)hist_percentile(s, 99.9),
	       (unsigned long long)s->max,
	       (unsigned long long)hist_percentile(&ps->lat[CLASS_LONG], 99),
	       n ? ps->wait_sum_us / (double)n : 0.0);
}

static int run_policies(const struct opts *o, const struct trace_req *t,
			const struct sim_job *jobs, size_t n)
{
	struct sim_out *out = malloc((n ? n : 1) * sizeof(*out));
	struct policy_stats *ps = malloc(sizeof(*ps));
	int rc = 0;

	if (!out || !ps) {
		fprintf(stderr, "Error: out of memory\n");
		rc = 1;
		goto done;
	}
	print_header(o, n, jobs);
	for (unsigned p = 0; p < SIM_NPOLICIES; p++) {
		if (!o->all && p != o->policy)
			continue;
		if (sim_run((enum sim_policy)p, o->workers, o->seed, jobs, n,
			    out)) {
			fprintf(stderr, "Error: simulation failed (out of memory)\n");
			rc = 1;
			break;
		}
		collect(ps, t, jobs, out, n);
		print_row((enum sim_policy)p, ps, n);
	}
done:
	free(out);
	free(ps);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct trace_req *t;
	struct sim_job *jobs;
	size_t n = 0;
	int rc;

	if (parse_args(argc, argv, &o))
		return 2;
	t = trace_generate(o.seed, o.rate, o.duration, &o.mix, &n);
	jobs = t ? jobs_from_trace(t, n) : NULL;
	if (!jobs) {
		fprintf(stderr, "Error: out of memory\n");
		free(t);
		return 1;
	}
	rc = run_policies(&o, t, jobs, n);
	free(jobs);
	free(t);
	return rc;
}
