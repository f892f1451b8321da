// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>
#include "steer.h"
#include "defaults.h"
#include "circuit.h"

/* The same defaults as a pool's circuit block in steer.conf. */
void circuit_params_default(struct circuit_params *p)
{
	p->threshold = STEER_CIRCUIT_THRESHOLD_DEFAULT;
	p->window_s = STEER_CIRCUIT_WINDOW_S_DEFAULT;
	p->min_requests = STEER_CIRCUIT_MIN_REQUESTS_DEFAULT;
	p->cooldown_s = STEER_CIRCUIT_COOLDOWN_S_DEFAULT;
	p->half_open_probes = STEER_CIRCUIT_PROBES_DEFAULT;
}

void circuit_init(struct circuit *c, const struct circuit_params *p, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->p = *p;
	if (c->p.window_s == 0 || c->p.window_s > CIRCUIT_MAX_BUCKETS)
		c->p.window_s = c->p.window_s ? CIRCUIT_MAX_BUCKETS : 1;
	c->state = STEER_CIRCUIT_CLOSED;
	c->since_ms = now_ms;
	c->bucket_s = now_ms / 1000;
}

/* Move the ring to now's second, clearing the seconds that passed. */
static void advance(struct circuit *c, uint64_t now_ms)
{
	uint64_t now_s = now_ms / 1000;

	if (now_s <= c->bucket_s)
		return;
	for (uint64_t s = c->bucket_s + 1; s <= now_s && s <= c->bucket_s + c->p.window_s; s++) {
		uint32_t i = (uint32_t)(s % c->p.window_s);

		c->ok[i] = c->err[i] = 0;
	}
	c->bucket_s = now_s;
	c->cur = (uint32_t)(now_s % c->p.window_s);
}

static void clear_window(struct circuit *c)
{
	memset(c->ok, 0, sizeof(c->ok));
	memset(c->err, 0, sizeof(c->err));
}

void circuit_record(struct circuit *c, uint64_t now_ms, uint64_t ok, uint64_t errors)
{
	advance(c, now_ms);
	c->ok[c->cur] += ok;
	c->err[c->cur] += errors;
	if (c->state == STEER_CIRCUIT_HALF_OPEN) {
		c->probe_ok += ok;
		c->probe_err += errors;
	}
}

double circuit_error_rate(const struct circuit *c, uint64_t now_ms, uint64_t *total)
{
	uint64_t ok = 0, err = 0, now_s = now_ms / 1000;

	for (uint32_t i = 0; i < c->p.window_s; i++) {
		ok += c->ok[i];
		err += c->err[i];
	}
	/* buckets older than the window are stale until advance() clears them */
	if (now_s >= c->bucket_s + c->p.window_s)
		ok = err = 0;
	*total = ok + err;
	return *total ? (double)err / (double)*total : 0.0;
}

static void enter(struct circuit *c, uint32_t state, uint64_t now_ms)
{
	c->state = state;
	c->since_ms = now_ms;
	c->probe_ok = c->probe_err = 0;
	if (state != STEER_CIRCUIT_OPEN)
		clear_window(c);	/* judge the pool afresh */
}

bool circuit_tick(struct circuit *c, uint64_t now_ms)
{
	uint64_t total;
	double rate;

	advance(c, now_ms);
	switch (c->state) {
	case STEER_CIRCUIT_CLOSED:
		rate = circuit_error_rate(c, now_ms, &total);
		if (total < c->p.min_requests || rate <= c->p.threshold)
			return false;
		enter(c, STEER_CIRCUIT_OPEN, now_ms);
		return true;
	case STEER_CIRCUIT_OPEN:
		if (now_ms - c->since_ms < (uint64_t)c->p.cooldown_s * 1000)
			return false;
		enter(c, STEER_CIRCUIT_HALF_OPEN, now_ms);
		return true;
	case STEER_CIRCUIT_HALF_OPEN:
		/* one failed probe reopens; enough good ones close */
		if (c->probe_err > 0) {
			enter(c, STEER_CIRCUIT_OPEN, now_ms);
			return true;
		}
		if (c->probe_ok >= c->p.half_open_probes) {
			enter(c, STEER_CIRCUIT_CLOSED, now_ms);
			return true;
		}
		return false;
	}
	return false;
}

bool circuit_checks_pool_wide(size_t failing, size_t checked)
{
	return checked > 0 && failing * 2 > checked;
}

void circuit_record_check(struct circuit *pool, uint64_t now_ms, bool ok, size_t failing,
			  size_t checked)
{
	if (circuit_checks_pool_wide(failing, checked))
		circuit_record(pool, now_ms, ok, !ok);
}
