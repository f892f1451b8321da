/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * wake.h - the kernel's wake-up for the pools' budgets: sk_lookup writes a
 * pool's id to the budget_wakes ring when an admission takes its
 * quota_left to wake_at (budgets.c sets it: half a lease's aim) or takes
 * its last unit. steerd reads the ring on its epoll loop and looks at
 * that pool at once; the fleet timer's look every STEER_FLEET_BUDGET_MS
 * is only the backstop.
 */
#ifndef STEER_WAKE_H
#define STEER_WAKE_H

struct daemon;

/* Open the ring on the pinned map and watch it, while a pool has a
 * budget; close it when none has. 0, or -1 (logged). */
int wake_apply(struct daemon *d);
/* The ring is readable: every record's pool is looked at. */
void wake_on_event(struct daemon *d);
/* The maps were replaced (unload + load): the ring on the new map. */
void wake_reopen(struct daemon *d);
void wake_close(struct daemon *d);

#endif
