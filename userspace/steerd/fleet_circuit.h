/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fleet_circuit.h - circuits shared by the fleet (owned by CIRC's branch;
 * fleet_circuit.c here is a no-op stub that it replaces). fleet.c calls
 * start when a fleet is opened, stop before it is closed, tick every
 * STEER_FLEET_TICK_MS while one exists.
 */
#ifndef STEER_FLEET_CIRCUIT_H
#define STEER_FLEET_CIRCUIT_H

#include <stdint.h>

struct daemon;

void fleet_circuit_start(struct daemon *d);
void fleet_circuit_stop(struct daemon *d);
void fleet_circuit_tick(struct daemon *d, uint64_t now);

#endif
