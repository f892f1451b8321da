/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* worker.bpf.h - per-worker load and eligibility, shared by both programs */
#ifndef STEER_WORKER_BPF_H
#define STEER_WORKER_BPF_H

#include "steer.h"

/* Both programs' clock: CLOCK_MONOTONIC at tick resolution (a few ms),
 * which is all the pending buckets (~268 ms) and the repeat stamps (1.1 s
 * window) need. It reads the last tick's time, no TSC: the precise clock
 * cost ~0.25x the whole reference program per connection in sockops and
 * per decision in sk_lookup here (docs/bench/FASTPATH.md). The monitor's
 * timestamps and the token bucket keep the precise one. */
static __always_inline __u64 steer_clock_ns(void)
{
	return bpf_ktime_get_coarse_ns();
}

/* A bucket's count, 0 if two CPUs' pending_sub took it below 0 (each saw
 * 1 and took it): read as a huge count, it would keep the worker out of
 * every pick until the bucket went stale. */
static __always_inline __u64 bucket_count(__u32 v)
{
	return (__s32)v > 0 ? v : 0;
}

/* Connections picked but not yet established, from the current and the
 * previous time bucket; older buckets are stale (a SYN that never completed). */
static __always_inline __u64 worker_pending(const struct steer_worker_stats *s, __u32 epoch)
{
	__u64 n = 0;

	if (s->pending_epoch[epoch & 1] == epoch)
		n += bucket_count(s->pending[epoch & 1]);
	if (s->pending_epoch[(epoch - 1) & 1] == epoch - 1)
		n += bucket_count(s->pending[(epoch - 1) & 1]);
	return n;
}

static __always_inline void pending_add(struct steer_worker_stats *s, __u32 epoch)
{
	__u32 b = epoch & 1;

	if (s->pending_epoch[b] != epoch) {
		/* A racing CPU may lose one count here; pending is a hint. */
		s->pending[b] = 0;
		s->pending_epoch[b] = epoch;
	}
	__sync_fetch_and_add(&s->pending[b], 1);
}

/* One of them arrived: -1 from the newer bucket that holds any, else the
 * other, without reading the clock (a helper call and its returns per
 * connection less in sockops). Its SYN was counted in one of the two; a
 * bucket too old to count any more may lose one instead, which nothing
 * reads: pending_add resets a bucket before it counts again. */
static __always_inline void pending_sub(struct steer_worker_stats *s)
{
	__u32 newer = (__s32)(s->pending_epoch[1] - s->pending_epoch[0]) > 0, older = newer ^ 1;

	if (bucket_count(s->pending[newer & 1]))
		__sync_fetch_and_sub(&s->pending[newer & 1], 1);
	else if (bucket_count(s->pending[older & 1]))
		__sync_fetch_and_sub(&s->pending[older & 1], 1);
}

/* Load that least-conn minimises: open connections plus those on their way. */
static __always_inline __u64 worker_load(const struct steer_worker_stats *s, __u32 epoch)
{
	__s64 out = s->outstanding;

	return (out > 0 ? (__u64)out : 0) + worker_pending(s, epoch);
}

/* Operator weight times daemon health factor; 0 means no new connections. */
static __always_inline __u64 worker_weight(const struct steer_worker *w)
{
	return (__u64)w->weight * w->health;
}

/* A worker takes a connection only when it is up, weighted, alive and of
 * the packet's family; a new one, also only below its connection cap
 * (a repeat already holds its place in the count). */
static __always_inline bool worker_takes(const struct steer_worker *w,
					 const struct steer_worker_stats *s, __u32 family)
{
	if (!w->in_use || w->state != STEER_WORKER_UP || !worker_weight(w))
		return false;
	if (s->gen != w->gen || s->gone)
		return false;
	return w->family_mask & family;
}

static __always_inline bool worker_usable(const struct steer_worker *w,
					  const struct steer_worker_stats *s,
					  __u32 family, __u32 epoch)
{
	if (!worker_takes(w, s, family))
		return false;
	if (w->maxconn && worker_load(s, epoch) >= w->maxconn)
		return false;
	return true;
}

/* A free slot in a lobby pool: open plus on their way below its slots. A
 * worker without slots (lobby-unaware: it never accepts from the lobby, so
 * nothing waits on it) counts as free only when idle, as if it had one. */
static __always_inline bool worker_has_slot(const struct steer_worker *w,
					    const struct steer_worker_stats *s, __u32 epoch)
{
	__u64 slots = w->slots ? w->slots : 1;

	return worker_load(s, epoch) < slots;
}

#endif /* STEER_WORKER_BPF_H */
