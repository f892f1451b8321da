/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * redis.h - one connection to the fleet's Redis, hiredis' async API on
 * steerd's epoll loop. steerd never blocks on it: the connect is
 * non-blocking, every command and the connect have a deadline of
 * fleet.timeout_ms (hiredis 0.14 has no timeouts of its own: a timerfd in
 * the loop keeps them), and a connection that misses one is dropped, every
 * pending callback getting r == NULL, and made again with a backoff of
 * STEER_FLEET_BACKOFF_MIN_MS doubling to fleet.backoff_max_ms, with jitter.
 *
 * States: DOWN -> CONNECTING (connect, then AUTH from password_file, or
 * PING) -> UP. One log line per change: a notice when it comes up, a
 * warning when it goes down, once per outage (not per retry).
 */
#ifndef STEER_REDIS_H
#define STEER_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "config.h"

struct daemon;
struct source;
struct rconn;	/* one connection; a subscriber one is in subscribe mode */

/* r NULL: failed, timed out or disconnected. r is hiredis' and freed after
 * the call: copy what is kept. */
typedef void (*rconn_reply_fn)(struct daemon *d, redisReply *r, void *priv);
typedef void (*rconn_state_fn)(struct daemon *d, bool up, void *priv);

/* A connection to f->redis, connecting at once (never NULL but out of
 * memory). f is copied. */
struct rconn *rconn_open(struct daemon *d, const struct conf_fleet *f, bool subscriber);
/* Pending callbacks get NULL (before this returns); the state callback is
 * not called. NULL is fine. */
void rconn_close(struct rconn *c);
bool rconn_up(const struct rconn *c);
/* 0 when sent; -1 when not up (fn not called) or hiredis refused it. */
int rconn_command(struct rconn *c, rconn_reply_fn fn, void *priv, const char *fmt, ...);
int rconn_command_argv(struct rconn *c, rconn_reply_fn fn, void *priv, int argc,
		       const char **argv, const size_t *lens);
/* Subscriber connections: on_message gets every message on channel (an
 * array "message", CHANNEL, PAYLOAD), and NULL once whenever the
 * connection drops; it is subscribed again on every reconnect. -1 when
 * not a subscriber or out of room (STEER_REDIS_SUBS_MAX channels). */
#define STEER_REDIS_SUBS_MAX	16
/* a reply of more elements, or more unparsed input than this, is refused:
 * the connection is dropped (steerd's replies are a few small values) */
#define STEER_REDIS_ARRAY_MAX		1024
#define STEER_REDIS_READBUF_MAX		(1024 * 1024)
int rconn_subscribe(struct rconn *c, const char *channel, rconn_reply_fn on_message, void *priv);
/* fn(up) at every change between up and not up (one callback). */
void rconn_on_state(struct rconn *c, rconn_state_fn fn, void *priv);

/* For main.c's event loop: a SRC_REDIS or SRC_REDIS_TIMER source is
 * ready; and, between two batches of events, free what was closed (an
 * event of the batch may still point at it). */
void rconn_on_event(struct source *src, uint32_t events);
void rconn_reap(void);

/* "redis 10.77.0.1:6379": for log lines */
const char *rconn_name(const struct rconn *c);

#endif
