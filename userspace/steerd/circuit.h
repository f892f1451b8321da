/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* circuit.h - a pool's circuit breaker: the error rate over a sliding
 * window decides closed -> open -> half-open -> closed (or open again).
 * Pure logic; steerd feeds it counts and writes the state to the kernel. */
#ifndef STEER_CIRCUIT_H
#define STEER_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "defaults.h"

#define CIRCUIT_MAX_BUCKETS STEER_CIRCUIT_WINDOW_S_MAX	/* one per second */

/* Defaults: defaults.h's STEER_CIRCUIT_*_DEFAULT (circuit_params_default). */
struct circuit_params {
	double threshold;		/* trip above this error rate */
	uint32_t window_s;		/* sliding window */
	uint32_t min_requests;		/* no verdict below this volume */
	uint32_t cooldown_s;		/* open this long before half-open */
	uint32_t half_open_probes;	/* connections let through half-open */
};

struct circuit {
	struct circuit_params p;
	uint32_t state;			/* enum steer_circuit */
	uint64_t since_ms;		/* entered this state */
	uint64_t bucket_s;		/* second of bucket[cur] */
	uint32_t cur;
	uint64_t ok[CIRCUIT_MAX_BUCKETS], err[CIRCUIT_MAX_BUCKETS];
	uint64_t probe_ok, probe_err;	/* outcomes seen while half-open */
};

void circuit_params_default(struct circuit_params *p);
void circuit_init(struct circuit *c, const struct circuit_params *p, uint64_t now_ms);
/* Record outcomes at now_ms. */
void circuit_record(struct circuit *c, uint64_t now_ms, uint64_t ok, uint64_t errors);
/* Error rate and volume over the window. */
double circuit_error_rate(const struct circuit *c, uint64_t now_ms, uint64_t *total);
/* Advance the state machine; true when the state changed. */
bool circuit_tick(struct circuit *c, uint64_t now_ms);

/*
 * What a pool's circuit counts: steered connection outcomes and what
 * applications report, always; failed health checks only when the failure
 * is pool-wide, a strict majority of the pool's checked workers failing
 * their checks now (failing of checked). One sick worker is its own
 * checks' business (fall, ejection), not its pool's.
 */
bool circuit_checks_pool_wide(size_t failing, size_t checked);
/* Feeds one check result of a pool's worker to the pool's circuit, by the
 * rule above: recorded only while the failure is pool-wide. */
void circuit_record_check(struct circuit *pool, uint64_t now_ms, bool ok, size_t failing,
			  size_t checked);

#endif
