// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fleet.c - the fleet's Redis connections and the pools' shared budgets
 * (see fleet.h). Everything here runs on steerd's loop and never waits for
 * Redis: a request goes out, its reply comes back as a callback; what the
 * kernel spends is read from the mmapped pool_budgets.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "daemon.h"
#include "fleet.h"
#include "fleet_circuit.h"
#include "log.h"
#include "wake.h"

const char *budget_source_name(enum budget_source s)
{
	static const char *const names[BUDGET_SOURCES] = {
		[BUDGET_LEASE] = "lease", [BUDGET_STATIC] = "static_share",
		[BUDGET_LOCAL] = "local", [BUDGET_PROVIDER] = "provider",
	};

	return (unsigned)s < BUDGET_SOURCES ? names[s] : "unknown";
}

bool fleet_redis_up(const struct daemon *d)
{
	return d->fleet && rconn_up(d->fleet->cmd);
}

const struct fpool *fleet_pool_at(const struct daemon *d, size_t i)
{
	return i < d->nbudgets ? &d->budgets[i] : NULL;
}

/* ---- the fleet timer ---- */
/* every STEER_FLEET_BUDGET_MS: circuits, and the budgets' backstop look
 * (sk_lookup wakes steerd when a lease runs low: wake.c) */
static int timer_set(struct daemon *d, bool on, uint32_t every_ms)
{
	struct itimerspec its = { 0 };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->fleet_src };

	its.it_interval.tv_nsec = every_ms * 1000000L;
	its.it_value = its.it_interval;
	if (on && d->fleet_timerfd >= 0) {
		timerfd_settime(d->fleet_timerfd, 0, &its, NULL);
	} else if (on) {
		d->fleet_src.kind = SRC_FLEET_TIMER;
		d->fleet_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (d->fleet_timerfd < 0 ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fleet_timerfd, &ev)) {
			log_err("fleet: cannot set up its timer: %s", strerror(errno));
			if (d->fleet_timerfd >= 0)
				close(d->fleet_timerfd);
			d->fleet_timerfd = -1;
			return -1;
		}
		timerfd_settime(d->fleet_timerfd, 0, &its, NULL);
	} else if (!on && d->fleet_timerfd >= 0) {
		close(d->fleet_timerfd);	/* and out of the epoll set */
		d->fleet_timerfd = -1;
	}
	return 0;
}

void fleet_on_timer(struct daemon *d)
{
	uint64_t expirations;

	if (d->fleet_timerfd < 0 ||
	    (read(d->fleet_timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN))
		return;
	fleet_tick(d, now_ms());
}

/* ---- the fleet's connections ---- */
static void on_cmd_state(struct daemon *d, bool up, void *priv)
{
	struct fleet *f = priv;

	f->sha[0] = f->tsha[0] = '\0';	/* a restarted Redis has no scripts */
	f->redis_down_since = up ? 0 : now_ms();
	if (up)
		budgets_redis_up(d);
}

/* what the connections and the circuits' channel were opened with: the
 * rest (chunk, expected_hosts, lease_ttl_s, circuit_hosts, circuit_ttl_ms)
 * is read where it is used, so a reload changing it keeps the connections */
static bool same_connections(const struct conf_fleet *a, const struct conf_fleet *b)
{
	return !memcmp(a->redis.addr, b->redis.addr, sizeof(a->redis.addr)) &&
	       a->redis.family == b->redis.family && a->redis.port == b->redis.port &&
	       !strcmp(a->password, b->password) && a->timeout_ms == b->timeout_ms &&
	       a->backoff_max_ms == b->backoff_max_ms && !strcmp(a->host_id, b->host_id) &&
	       !strcmp(a->key_prefix, b->key_prefix);
}

static void fleet_close(struct daemon *d)
{
	struct fleet *f = d->fleet;

	if (!f)
		return;
	fleet_circuit_stop(d);
	rconn_close(f->cmd);
	rconn_close(f->sub);
	free(f);
	d->fleet = NULL;
}

static int fleet_open(struct daemon *d)
{
	struct fleet *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->conf = d->conf.fleet;
	f->redis_down_since = now_ms();
	f->cmd = rconn_open(d, &f->conf, false);
	f->sub = rconn_open(d, &f->conf, true);
	if (!f->cmd || !f->sub) {
		rconn_close(f->cmd);
		rconn_close(f->sub);
		free(f);
		return -1;
	}
	rconn_on_state(f->cmd, on_cmd_state, f);
	d->fleet = f;
	log_info("fleet: host %s, redis %s", f->conf.host_id, rconn_name(f->cmd));
	fleet_circuit_start(d);
	return 0;
}

int fleet_apply(struct daemon *d)
{
	const struct conf_fleet *want = &d->conf.fleet;
	int ret = 0;

	if (d->fleet && (!want->enabled || !same_connections(&d->fleet->conf, want)))
		fleet_close(d);	/* the pools' budgets keep their state (budgets_apply) */
	if (d->fleet)
		d->fleet->conf = *want;
	if (want->enabled && !d->fleet && fleet_open(d)) {
		log_err("fleet: cannot open its Redis connections: out of memory");
		ret = -1;
	}
	if (budgets_apply(d))
		ret = -1;
	if (wake_apply(d))
		ret = -1;
	if (timer_set(d, d->fleet || d->nbudgets, STEER_FLEET_BUDGET_MS))
		ret = -1;
	return ret;
}

void fleet_tick(struct daemon *d, uint64_t now)
{
	budgets_tick(d, now);
	if (!d->fleet || ms_since(now, d->fleet->circuit_at) < STEER_FLEET_TICK_MS)
		return;
	d->fleet->circuit_at = now;
	fleet_circuit_tick(d, now);
}

void fleet_stop(struct daemon *d)
{
	wake_close(d);
	budgets_stop(d);
	fleet_close(d);
	timer_set(d, false, 0);
	rconn_reap();
}
