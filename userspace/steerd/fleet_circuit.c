// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fleet_circuit.c - circuits shared by the fleet, over fleet.c's two Redis
 * connections: cmd runs the script (circuit_share_lua) that writes this
 * host's own breaker of a pool and answers the fleet's count; sub hears
 * every change on one channel for every pool, so a host follows another
 * within a round trip, not a tick. The tick's periodic write is the
 * backstop (a lost message, an expiry nobody published) and the refresh
 * that keeps an open host's entry alive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon.h"
#include "fleet.h"
#include "fleet_circuit.h"
#include "log.h"
#include "redis.h"

#define CHANNEL_LEN	(STEER_FLEET_KEY_PREFIX_LEN + 16)
#define KEY_LEN		(STEER_FLEET_KEY_PREFIX_LEN + STEER_NAME_LEN + 16)

struct fcirc {
	char channel[CHANNEL_LEN];
	bool was_up;		/* cmd was up at the last tick */
};

/* One write in flight: its answer finds the pool again by name, as a
 * reload may have replaced d->pools meanwhile. */
struct write_req {
	char pool[STEER_NAME_LEN];
	bool open;
};

static struct fcirc *fc(const struct daemon *d)
{
	return d->fleet ? d->fleet->circuit : NULL;
}

static bool cmd_up(const struct daemon *d)
{
	return d->fleet && d->fleet->cmd && rconn_up(d->fleet->cmd);
}

bool fleet_circuit_open(const struct daemon *d, const struct dpool *p, uint64_t now)
{
	if (!fc(d) || !cmd_up(d))
		return false;
	return circuit_share_fleet_open(&p->live.share, d->fleet->conf.circuit_hosts,
					d->fleet->conf.circuit_ttl_ms, now);
}

/* A count for pool: apply it, and the kernel's state at once if it changed. */
static void heard(struct daemon *d, const char *pool, uint64_t hosts, uint64_t redis_ms)
{
	struct dpool *p = pool_named(d, pool);
	uint64_t now = now_ms();

	if (!p || hosts > UINT32_MAX)
		return;
	if (circuit_share_apply(&p->live.share, (uint32_t)hosts, redis_ms, now))
		apply_circuit(d, p, now, false);
}

static bool int_reply(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0;
}

static void on_written(struct daemon *d, redisReply *r, void *priv)
{
	struct write_req *q = priv;
	struct dpool *p = pool_named(d, q->pool);
	bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		  int_reply(r->element[0]) && int_reply(r->element[1]);

	if (r && !ok)
		log_warn("pool %s: the circuit script: %s", q->pool,
			 r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected answer");
	if (p)
		circuit_share_answer(&p->live.share, ok, q->open);
	if (p && ok)
		heard(d, q->pool, (uint64_t)r->element[0]->integer,
		      (uint64_t)r->element[1]->integer);
	free(q);
}

static void write_pool(struct daemon *d, struct dpool *p, uint64_t now)
{
	const struct conf_fleet *f = &d->fleet->conf;
	bool open = circuit_share_own_open(p->live.circuit.state);
	char key[KEY_LEN], ttl[16];
	struct write_req *q;

	if (!circuit_share_due(&p->live.share, open, now) ||
	    circuit_share_key(key, sizeof(key), f->key_prefix, p->name) || !(q = calloc(1, sizeof(*q))))
		return;
	snprintf(q->pool, sizeof(q->pool), "%s", p->name);
	q->open = open;
	snprintf(ttl, sizeof(ttl), "%u", f->circuit_ttl_ms);
	{
		const char *argv[] = { "EVAL", circuit_share_lua, "1", key, f->host_id,
				       open ? "1" : "0", ttl, fc(d)->channel, p->name };
		size_t lens[sizeof(argv) / sizeof(argv[0])];

		for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
			lens[i] = strlen(argv[i]);
		if (rconn_command_argv(d->fleet->cmd, on_written, q, (int)(sizeof(argv) / sizeof(argv[0])),
				       argv, lens)) {
			free(q);
			return;
		}
	}
	circuit_share_sent(&p->live.share, now, STEER_FLEET_CIRCUIT_SYNC_MS);
}

/* "message", channel, "<pool> <hosts> <redis_ms> <host> <0|1>"; NULL: the
 * subscriber dropped (it subscribes again by itself). A hint only
 * (circuit_share_hint): the pool's count comes from the script's answer. */
static void on_message(struct daemon *d, redisReply *r, void *priv)
{
	char pool[STEER_NAME_LEN];
	uint64_t redis_ms, now = now_ms();
	uint32_t hosts;
	struct dpool *p;
	redisReply *m;

	(void)priv;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !fc(d) || !cmd_up(d))
		return;
	m = r->element[2];
	if (m->type != REDIS_REPLY_STRING ||
	    circuit_share_parse(m->str, m->len, pool, sizeof(pool), &hosts, &redis_ms) ||
	    !(p = pool_named(d, pool)))
		return;
	if (circuit_share_hint(&p->live.share, now))
		write_pool(d, p, now);
}

/* Redis lost or back: every count is forgotten (the kernel follows the
 * own breakers) and every pool is written again. */
static void forget_all(struct daemon *d, uint64_t now)
{
	for (size_t i = 0; i < d->npools; i++) {
		circuit_share_lost(&d->pools[i].live.share);
		apply_circuit(d, &d->pools[i], now, false);
	}
}

void fleet_circuit_start(struct daemon *d)
{
	struct fcirc *c;

	if (!d->fleet || d->fleet->circuit || !(c = calloc(1, sizeof(*c))))
		return;
	if (circuit_share_channel(c->channel, sizeof(c->channel), d->fleet->conf.key_prefix) ||
	    rconn_subscribe(d->fleet->sub, c->channel, on_message, NULL)) {
		log_warn("fleet: cannot subscribe to the circuits' channel: circuits stay local");
		free(c);
		return;
	}
	d->fleet->circuit = c;
	forget_all(d, now_ms());
}

void fleet_circuit_stop(struct daemon *d)
{
	if (!fc(d))
		return;
	/* this host leaves: its entries expire by their TTL (the connection
	 * closes now), and its kernel circuits go back to its own breakers */
	free(d->fleet->circuit);
	d->fleet->circuit = NULL;
	forget_all(d, now_ms());
}

void fleet_circuit_tick(struct daemon *d, uint64_t now)
{
	struct fcirc *c = fc(d);
	bool up = cmd_up(d);

	if (!c)
		return;
	if (up != c->was_up)
		forget_all(d, now);
	c->was_up = up;
	if (!up)
		return;
	for (size_t i = 0; i < d->npools; i++) {
		write_pool(d, &d->pools[i], now);
		apply_circuit(d, &d->pools[i], now, false);	/* a count gone stale */
	}
}

void fleet_circuit_changed(struct daemon *d, struct dpool *p, uint64_t now)
{
	if (fc(d) && cmd_up(d))
		write_pool(d, p, now);
}
