/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fleet_circuit.h - circuits shared by the fleet: each host writes its own
 * breaker of each pool to Redis and hears the others' count (the rule and
 * the script: circuit_share.h). fleet.c calls start when a fleet is
 * opened, stop before it is closed, tick every STEER_FLEET_TICK_MS while
 * one exists; monitor.c calls changed and open.
 */
#ifndef STEER_FLEET_CIRCUIT_H
#define STEER_FLEET_CIRCUIT_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct dpool;

void fleet_circuit_start(struct daemon *d);
void fleet_circuit_stop(struct daemon *d);
/* Writes what is due (a change not yet in Redis, the periodic refresh
 * that also reads the count), and notices Redis coming back. */
void fleet_circuit_tick(struct daemon *d, uint64_t now);
/* p's own breaker changed state: write it now, not at the next tick. */
void fleet_circuit_changed(struct daemon *d, struct dpool *p, uint64_t now);
/* Is p open fleet-wide now? Never without a fleet or while Redis is away. */
bool fleet_circuit_open(const struct daemon *d, const struct dpool *p, uint64_t now);

#endif
