// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* circuit.c - steerctl circuit POOL open|close|auto: an operator forces a
 * pool's circuit, or hands it back to steerd. */
#include "ctl.h"
#include "state.h"

enum { CI_POOL, CI_STATE };
enum { CI_OPEN, CI_CLOSE, CI_AUTO };	/* the order of circuit_states */

static const char *const circuit_states[] = { "open", "close", "auto", NULL };

static const struct opt circuit_opts[] = {
	[CI_POOL] = { .arg = "POOL", .type = OPT_STR, .help = "the pool" },
	[CI_STATE] = { .type = OPT_CHOICE, .choices = circuit_states, .what = "circuit state",
		       .help = "hold it open or closed, or let steerd decide again" },
};

static int do_circuit(struct ctl *c, const struct optval *v)
{
	enum circuit_setter who = v[CI_STATE].u == CI_AUTO ? CIRCUIT_RELEASE : CIRCUIT_FORCE;
	uint32_t circuit = v[CI_STATE].u == CI_OPEN ? STEER_CIRCUIT_OPEN : STEER_CIRCUIT_CLOSED;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return pool_set_circuit(&c->maps, v[CI_POOL].s, circuit, who, 0, c->err);
}

static const struct cmd circuit_cmds[] = {
	{ .opts = circuit_opts, .nopts = ARRAY_SIZE(circuit_opts), .run = do_circuit,
	  .help = "force a pool's circuit, or hand it back to steerd",
	  .doc = "An open circuit sends every new connection to the pool's fallback." },
};

const struct object obj_circuit = { "circuit", circuit_cmds, ARRAY_SIZE(circuit_cmds) };
