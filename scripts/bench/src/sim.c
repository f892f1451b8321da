/*
 * sim.c - dispatch simulation core, see sim.h.
 * Library file, no main. Compiled with jsqsim and test_bench, e.g.:
 *   gcc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -c sim.c
 */
#include "sim.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#define SIM_RANDOM_SALT 0x5be7a11d5be7a11dULL

static const char *const policy_names[SIM_NPOLICIES] = {
	[SIM_JSQ] = "jsq",
	[SIM_RR] = "rr",
	[SIM_RANDOM] = "random",
	[SIM_CENTRAL] = "central",
	[SIM_JIQ] = "jiq",
};

/* Finish times of the jobs at one server, oldest first (non-decreasing
 * because the server is FCFS). Ring buffer. */
struct fin_fifo {
	uint64_t *v;
	size_t head, len, cap;
};

struct server {
	uint64_t free_at; /* when the last assigned job finishes */
	struct fin_fifo fin;
};

const char *sim_policy_name(enum sim_policy p)
{
	return p < SIM_NPOLICIES ? policy_names[p] : "?";
}

int sim_policy_parse(const char *name, enum sim_policy *p)
{
	for (unsigned i = 0; i < SIM_NPOLICIES; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*p = (enum sim_policy)i;
			return 0;
		}
	}
	return -1;
}

static int fifo_grow(struct fin_fifo *f)
{
	size_t ncap = f->cap ? 2 * f->cap : 16;
	uint64_t *nv = malloc(ncap * sizeof(*nv));
	if (!nv)
		return -1;
	for (size_t i = 0; i < f->len; i++)
		nv[i] = f->v[(f->head + i) % f->cap];
	free(f->v);
	f->v = nv;
	f->cap = ncap;
	f->head = 0;
	return 0;
}

static int fifo_push(struct fin_fifo *f, uint64_t t)
{
	if (f->len == f->cap && fifo_grow(f))
		return -1;
	f->v[(f->head + f->len) % f->cap] = t;
	f->len++;
	return 0;
}

/* Drop jobs that have finished by time t; returns jobs still present. */
static size_t fifo_drop_until(struct fin_fifo *f, uint64_t t)
{
	while (f->len && f->v[f->head] <= t) {
		f->head = (f->head + 1) % f->cap;
		f->len--;
	}
	return f->len;
}

static unsigned pick_jsq(struct server *sv, unsigned k, uint64_t now)
{
	unsigned best = 0;
	size_t best_len = SIZE_MAX;
	for (unsigned s = 0; s < k; s++) {
		size_t len = fifo_drop_until(&sv[s].fin, now);
		if (len < best_len) {
			best_len = len;
			best = s;
		}
	}
	return best;
}

static unsigned pick_central(const struct server *sv, unsigned k,
			     uint64_t now)
{
	unsigned best = 0;
	for (unsigned s = 0; s < k; s++) {
		if (sv[s].free_at <= now)
			return s;
		if (sv[s].free_at < sv[best].free_at)
			best = s;
	}
	return best;
}

static unsigned pick_random(uint64_t *rng, unsigned k)
{
	return (unsigned)(((unsigned __int128)rng_next(rng) * k) >> 64);
}

static unsigned pick(enum sim_policy p, struct server *sv, unsigned k,
		     uint64_t now, size_t i, uint64_t *rng)
{
	switch (p) {
	case SIM_JSQ:
		return pick_jsq(sv, k, now);
	case SIM_RR:
		return (unsigned)(i % k);
	case SIM_RANDOM:
		return pick_random(rng, k);
	default:
		return pick_central(sv, k, now);
	}
}

static void servers_free(struct server *sv, unsigned k)
{
	for (unsigned s = 0; s < k; s++)
		free(sv[s].fin.v);
	free(sv);
}

/* The server that frees first (ties: lowest index). */
static unsigned first_free(const struct server *sv, unsigned k)
{
	unsigned best = 0;
	for (unsigned s = 1; s < k; s++)
		if (sv[s].free_at < sv[best].free_at)
			best = s;
	return best;
}

static void jiq_start(struct server *sv, unsigned s, uint64_t start,
		      const struct sim_job *jobs, size_t j, struct sim_out *out)
{
	out[j].wait_ns = start - jobs[j].arrival_ns;
	out[j].server = s;
	sv[s].free_at = start + jobs[j].service_ns;
}

/* Servers that free up by `now` take from the lobby, oldest first. */
static void jiq_release(struct server *sv, unsigned k, uint64_t now,
			size_t *head, size_t tail, const size_t *lobby,
			const struct sim_job *jobs, struct sim_out *out)
{
	while (*head < tail) {
		unsigned s = first_free(sv, k);
		if (sv[s].free_at > now)
			return;
		size_t j = lobby[(*head)++];
		uint64_t start = sv[s].free_at > jobs[j].arrival_ns ? sv[s].free_at : jobs[j].arrival_ns;
		jiq_start(sv, s, start, jobs, j, out);
	}
}

static int sim_jiq(unsigned k, const struct sim_job *jobs, size_t n,
		   struct sim_out *out)
{
	struct server *sv = calloc(k, sizeof(*sv));
	size_t *lobby = malloc((n ? n : 1) * sizeof(*lobby)), head = 0, tail = 0;

	if (!sv || !lobby) {
		free(sv);
		free(lobby);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t now = jobs[i].arrival_ns;
		unsigned s;

		jiq_release(sv, k, now, &head, tail, lobby, jobs, out);
		for (s = 0; s < k && sv[s].free_at > now; s++)
			;
		if (s < k && head == tail)
			jiq_start(sv, s, now, jobs, i, out);
		else
			lobby[tail++] = i;
	}
	jiq_release(sv, k, UINT64_MAX, &head, tail, lobby, jobs, out);
	free(sv);
	free(lobby);
	return 0;
}

int sim_run(enum sim_policy p, unsigned k, uint64_t seed,
	    const struct sim_job *jobs, size_t n, struct sim_out *out)
{
	uint64_t rng = seed ^ SIM_RANDOM_SALT;
	struct server *sv;

	if (k == 0 || p >= SIM_NPOLICIES)
		return -1;
	if (p == SIM_JIQ)
		return sim_jiq(k, jobs, n, out);
	sv = calloc(k, sizeof(*sv));
	if (!sv)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t now = jobs[i].arrival_ns;
		unsigned s = pick(p, sv, k, now, i, &rng);
		uint64_t start = sv[s].free_at > now ? sv[s].free_at : now;

		out[i].wait_ns = start - now;
		out[i].server = s;
		sv[s].free_at = start + jobs[i].service_ns;
		if (p == SIM_JSQ && fifo_push(&sv[s].fin, sv[s].free_at)) {
			servers_free(sv, k);
			return -1;
		}
	}
	servers_free(sv, k);
	return 0;
}
