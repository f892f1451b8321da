/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* health.h - non-blocking health checks (TCP connect, HTTP status, HAProxy
 * agent-check) that steerd drives from its epoll loop, and the rise/fall
 * state machine with slow start that turns their results into up/down and
 * a health factor.
 *
 * A check's life:
 *
 *	run = check_start(&spec, now, &fd, &events);	NULL + errno: not started
 *	epoll_ctl(ep, EPOLL_CTL_ADD, fd, events);
 *	on each readiness of fd (revents) or timer tick (revents = 0):
 *		if (check_step(run, revents, now, &res, &events))
 *			break;		res is filled in
 *		epoll_ctl(ep, EPOLL_CTL_MOD, fd, events);
 *	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
 *	check_free(run);				closes fd
 *
 * Nothing here blocks or sleeps, and nothing decides by a clock of its own:
 * the caller passes now_ms (CLOCK_MONOTONIC milliseconds) in, which also
 * keeps the state machine testable. Only elapsed_us, a check's duration for
 * the metrics, is measured here.
 */
#ifndef STEER_HEALTH_H
#define STEER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "defaults.h"

#define CHECK_PATH_LEN		128
#define CHECK_DETAIL_LEN	128
/* When a spec leaves them 0: steer.conf's defaults. steerd always passes
 * a check's configured timeout (1..STEER_TIMEOUT_MS_MAX), so only a spec
 * built by hand (the unit tests) ever gets these. */
#define CHECK_DEFAULT_STATUS	STEER_CHECK_EXPECT_DEFAULT
#define CHECK_DEFAULT_TIMEOUT_MS STEER_TIMEOUT_MS_DEFAULT

enum check_type { CHECK_TCP, CHECK_HTTP, CHECK_AGENT };

struct check_spec {
	enum check_type type;
	struct sockaddr_storage addr;	/* where to connect (IPv4 or IPv6) */
	socklen_t addrlen;
	char path[CHECK_PATH_LEN];	/* HTTP: request path, default "/"; must start
					 * with '/' and hold no spaces or controls */
	int expect_status;		/* HTTP: expected status 100..599; 0 = 200 */
	uint32_t timeout_ms;		/* whole check, from check_start; 0 = default */
};

/* What the agent said. ready/drain/maint are HAProxy's administrative words,
 * up/down/fail/stopped its operational ones. */
enum agent_state {
	AGENT_NONE,	/* no state word (or not an agent check, or no answer) */
	AGENT_UP,
	AGENT_DOWN,
	AGENT_DRAIN,
	AGENT_MAINT,
	AGENT_READY,
	AGENT_FAIL,
	AGENT_STOPPED,
};

struct check_result {
	bool ok;			/* passed */
	enum agent_state agent_state;	/* CHECK_AGENT: last state word seen, else AGENT_NONE */
	int agent_weight_pct;		/* CHECK_AGENT: "75%" -> 75 (0..1000); -1 when absent */
	uint32_t elapsed_ms;
	uint64_t elapsed_us;		/* the same, measured finely (for the metrics) */
	char detail[CHECK_DETAIL_LEN];	/* one line for logs: "connect: Connection refused",
					 * "HTTP 503", "agent: down#maintenance",
					 * "timeout after 200 ms" */
};

struct check_run;	/* one check in flight; opaque */

/* Starts a check with a non-blocking connect. *fd is the socket to watch,
 * *events the EPOLL* events wanted. Returns NULL with errno set when the
 * check cannot even start: EINVAL for a bad spec, or a local resource
 * error (no fds, no memory, no ephemeral port). Those say nothing about
 * the worker, so the caller should log them and not count a failure.
 * A refused or unreachable target is a result, reported by check_step. */
struct check_run *check_start(const struct check_spec *spec, uint64_t now_ms, int *fd,
			      uint32_t *events);

/* Advances the check when fd is ready (revents from epoll) or on a timer
 * tick (revents = 0; the check then looks at the socket itself, so ticks
 * alone are enough to drive it). Returns 1 when finished: res is filled in
 * and *events is 0; calling it again returns the same result. Returns 0 to
 * keep going, with *events updated. The check fails with "timeout after N
 * ms" once now_ms reaches the start time plus timeout_ms; an answer that
 * is already waiting when the deadline is noticed still counts. */
int check_step(struct check_run *run, uint32_t revents, uint64_t now_ms, struct check_result *res,
	       uint32_t *events);

/* When the check will time out, for the caller's timer. */
uint64_t check_deadline_ms(const struct check_run *run);

/* Closes the socket (which also takes it out of any epoll set, as nobody
 * else holds a copy) and frees run. NULL is fine. */
void check_free(struct check_run *run);

/* Parses one agent reply (up to the first newline) into res: agent_state,
 * agent_weight_pct, ok and detail. Words are separated by spaces, tabs or
 * commas and compared without case; '#' starts a free-text description.
 * Unknown words (HAProxy's "maxconn:N" included) are ignored, so a reply
 * with nothing we know is ok: the agent answered, and only a state word
 * can take a worker down. */
void agent_parse_reply(const char *buf, size_t len, struct check_result *res);

const char *agent_state_name(enum agent_state s);

/* Rise/fall: `rise` consecutive successes bring a worker up, `fall`
 * consecutive failures take it down. Pure; no I/O. */
struct health_track {
	uint32_t rise, fall;		/* consecutive successes to go up, failures to go down */
	uint32_t ok_streak, fail_streak;
	bool up;
	bool ramp;			/* came up after being down: slow start applies */
	uint64_t up_since_ms;		/* when it last went up (or was set up) */
};

/* rise and fall of 0 count as 1. A worker set up here gets no slow start:
 * like HAProxy, we do not throttle workers that were serving before the
 * daemon (re)started. (To ramp a worker that is new, set t->ramp after
 * this.) One set down needs `rise` successes to go up. */
void health_track_init(struct health_track *t, uint32_t rise, uint32_t fall, bool up,
		       uint64_t now_ms);

/* Feeds one result; returns true when `up` changed. */
bool health_track_update(struct health_track *t, bool ok, uint64_t now_ms);

/* Slow start as a per-mille factor (STEER_HEALTH_FULL = 1000): 0 when down;
 * from 10 (a floor, so the worker is not starved) ramping linearly to 1000
 * over slowstart_ms after it came back up; 1000 when slowstart_ms is 0, the
 * window has passed, or it was set up by health_track_init. */
uint32_t health_slowstart_permille(const struct health_track *t, uint64_t now_ms,
				   uint32_t slowstart_ms);

#endif
