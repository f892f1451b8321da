// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* wake.c - the budget_wakes ring on steerd's loop (see wake.h) */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <bpf/libbpf.h>
#include "daemon.h"
#include "fleet.h"
#include "log.h"
#include "wake.h"

static int on_record(void *ctx, void *data, size_t len)
{
	struct daemon *d = ctx;
	uint32_t id;

	if (len < sizeof(id))
		return 0;
	memcpy(&id, data, sizeof(id));
	budgets_woken(d, id, now_ms());
	return 0;
}

static int wake_open(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->wake_src };

	d->wake_src.kind = SRC_BUDGET_WAKE;
	d->wake_ring = ring_buffer__new(d->maps.fd[MAP_BUDGET_WAKES], on_record, d, NULL);
	if (!d->wake_ring) {
		log_err("fleet: cannot read budget_wakes: %s", strerror(errno));
		return -1;
	}
	/* the ring's own epoll fd: readable while a record waits */
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(d->wake_ring), &ev)) {
		log_err("fleet: cannot watch budget_wakes: %s", strerror(errno));
		wake_close(d);
		return -1;
	}
	return 0;
}

void wake_close(struct daemon *d)
{
	if (!d->wake_ring)
		return;
	ring_buffer__free(d->wake_ring);	/* closes its epoll fd: out of ours too */
	d->wake_ring = NULL;
}

int wake_apply(struct daemon *d)
{
	if (!d->nbudgets) {
		wake_close(d);
		return 0;
	}
	return d->wake_ring ? 0 : wake_open(d);
}

void wake_on_event(struct daemon *d)
{
	int n = d->wake_ring ? ring_buffer__consume(d->wake_ring) : 0;

	if (n < 0)
		log_debug("fleet: budget_wakes: %s", strerror(-n));
}

void wake_reopen(struct daemon *d)
{
	wake_close(d);
	wake_apply(d);
}
