/*
 * trace.c - reproducible request trace, see trace.h.
 * Library file, no main. Compiled with the tools, e.g.:
 *   gcc -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -c trace.c
 */
#include "trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double rng_uniform(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1p-53;
}

int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (*s == '-' || *s == '\0')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int mix_parse_entry(char *tok, double *p, double *ms)
{
	char *colon = strchr(tok, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (parse_double(tok, p) || parse_double(colon + 1, ms))
		return -1;
	return 0;
}

static void mix_finish(struct mix *m, double sum)
{
	double acc = 0;
	m->short_ms = m->ms[0];
	for (unsigned i = 0; i < m->n; i++) {
		m->prob[i] /= sum;
		acc += m->prob[i];
		m->cum[i] = acc;
		if (m->ms[i] < m->short_ms)
			m->short_ms = m->ms[i];
	}
	m->cum[m->n - 1] = 1.0;
}

int mix_parse(const char *spec, struct mix *m, const char **why)
{
	char buf[512], *save = NULL, *tok;
	double sum = 0;

	if (strlen(spec) >= sizeof(buf)) {
		*why = "mix spec too long";
		return -1;
	}
	strcpy(buf, spec);
	memset(m, 0, sizeof(*m));
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		double p, ms;
		if (m->n == MIX_MAX) {
			*why = "too many mix entries";
			return -1;
		}
		if (mix_parse_entry(tok, &p, &ms) || p <= 0 || ms < 0) {
			*why = "mix entries must be PROB:MS with PROB > 0, MS >= 0";
			return -1;
		}
		m->prob[m->n] = p;
		m->ms[m->n++] = ms;
		sum += p;
	}
	if (m->n == 0) {
		*why = "empty mix";
		return -1;
	}
	if (fabs(sum - 1.0) > 1e-3) {
		*why = "mix probabilities must sum to 1";
		return -1;
	}
	mix_finish(m, sum);
	return 0;
}

void mix_format(const struct mix *m, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < m->n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%g:%g", i ? "," : "",
				 m->prob[i], m->ms[i]);
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

enum req_class mix_class(const struct mix *m, double ms)
{
	return ms <= m->short_ms ? CLASS_SHORT : CLASS_LONG;
}

const char *class_name(enum req_class c)
{
	return c == CLASS_SHORT ? "short" : "long";
}

void trace_init(struct trace *t, uint64_t seed, double rate,
		double duration_s, const struct mix *m)
{
	t->rng = seed;
	t->rate = rate;
	t->t_s = 0;
	t->end_s = duration_s;
	t->next_id = 0;
	t->mix = m;
}

static unsigned mix_pick(const struct mix *m, double u)
{
	for (unsigned i = 0; i < m->n; i++)
		if (u < m->cum[i])
			return i;
	return m->n - 1;
}

bool trace_next(struct trace *t, struct trace_req *r)
{
	t->t_s += -log1p(-rng_uniform(&t->rng)) / t->rate;
	if (t->t_s >= t->end_s)
		return false;
	unsigned e = mix_pick(t->mix, rng_uniform(&t->rng));
	r->id = t->next_id++;
	r->sched_ns = (uint64_t)llround(t->t_s * 1e9);
	r->ms = t->mix->ms[e];
	r->cls = mix_class(t->mix, r->ms);
	return true;
}

struct trace_req *trace_generate(uint64_t seed, double rate,
				 double duration_s, const struct mix *m,
				 size_t *n)
{
	size_t cap = (size_t)(rate * duration_s * 1.1) + 64, len = 0;
	struct trace_req *v = malloc(cap * sizeof(*v)), r;
	struct trace t;

	if (!v)
		return NULL;
	trace_init(&t, seed, rate, duration_s, m);
	while (trace_next(&t, &r)) {
		if (len == cap) {
			struct trace_req *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv) {
				free(v);
				return NULL;
			}
			v = nv;
			cap *= 2;
		}
		v[len++] = r;
	}
	*n = len;
	return v;
}
