// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fleet_circuit.c - a stub until the shared circuits land (CIRC's file). */
#include "fleet_circuit.h"

void fleet_circuit_start(struct daemon *d)
{
	(void)d;
}

void fleet_circuit_stop(struct daemon *d)
{
	(void)d;
}

void fleet_circuit_tick(struct daemon *d, uint64_t now)
{
	(void)d;
	(void)now;
}
