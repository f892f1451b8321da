/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* monitor.bpf.h - steerctl monitor's records: what one decision came to,
 * written to the ring of every monitor whose lease is running, within that
 * monitor's per-CPU rate. While no monitor runs, a decision pays one
 * inlined array lookup and one compare of the clock value it read anyway. */
#ifndef STEER_MONITOR_BPF_H
#define STEER_MONITOR_BPF_H

#include "steer.h"
#include "maps.bpf.h"

#define STEER_NS_PER_SEC	1000000000ull

/* What steer_to_pool() decided, as it goes: the monitor's input. */
struct decision {
	struct steer_flow flow;
	__u64 now_ns;		/* the decision's one clock read (steer_clock_ns) */
	__u32 first_pool;	/* the service's pool */
	__u32 pool;		/* the pool that took it, or the last one tried */
	__u32 worker;		/* STEER_NONE until one takes it */
	__u8 cause;		/* enum steer_monitor_cause */
	__u8 why;		/* enum steer_monitor_why: the first pool's hand-over */
	__u8 hops;		/* pools tried after the first */
};

/* A record for this slot within its rate: the generic cell rate algorithm
 * (one timestamp, no refill arithmetic). Per CPU, so no lock. rate and
 * burst are at least 1 (steerctl); a rate of 0 would mean no limit. */
static __always_inline bool monitor_within_rate(const struct steer_monitor_slot *s,
						struct steer_monitor_cpu_slot *c, __u64 now)
{
	__u64 interval = s->rate ? STEER_NS_PER_SEC / s->rate : 0;
	__u64 tat = c->tat_ns > now ? c->tat_ns : now;

	if (interval && tat - now >= (__u64)s->burst * interval)
		return false;
	c->tat_ns = tat + interval;
	return true;
}

static __always_inline void monitor_fill(struct steer_monitor_event *e, const struct decision *d,
					 __u32 service_id, __u32 refusal)
{
	e->ts_ns = d->now_ns;
	__builtin_memcpy(e->client, d->flow.client, sizeof(e->client));
	__builtin_memcpy(e->service, d->flow.service, sizeof(e->service));
	e->client_port = (__u16)(d->flow.ports >> 16);
	e->service_port = (__u16)d->flow.ports;
	e->service_id = service_id;
	e->first_pool = d->first_pool;
	e->pool = d->pool;
	e->worker = d->worker;
	e->cause = d->cause;
	e->why = d->why;
	e->refusal = (__u8)refusal;
	e->hops = d->hops;
}

/* The record to each slot whose lease runs. Global: verified once, and
 * the off path of the caller stays a few instructions long. */
__noinline int monitor_fanout(const struct decision *d, __u32 service_id, __u32 refusal)
{
	__u32 zero = 0;
	struct steer_monitor_ctl *ctl = bpf_map_lookup_elem(&monitor_ctl, &zero);
	struct steer_monitor_cpu *pc = bpf_map_lookup_elem(&monitor_cpu, &zero);
	/* records carry the precise clock; the decision's is a tick coarse */
	__u64 now = bpf_ktime_get_ns();

	if (!d || !ctl || !pc)
		return 0;
	for (__u32 i = 0; i < STEER_MONITOR_SLOTS; i++) {
		struct steer_monitor_cpu_slot *c = &pc->slot[i];
		struct steer_monitor_event *e;
		__u32 key = i;
		void *ring;

		if (now >= ctl->slot[i].deadline_ns)
			continue;	/* free, or its monitor's lease ran out */
		ring = bpf_map_lookup_elem(&monitor_rings, &key);
		if (!ring)
			continue;
		if (!monitor_within_rate(&ctl->slot[i], c, now)) {
			c->dropped++;
			continue;
		}
		e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
		if (!e) {
			c->dropped++;	/* the ring is full: its reader is behind */
			continue;
		}
		monitor_fill(e, d, service_id, refusal);
		e->ts_ns = now;
		/* no wake-up per record (an irq_work each, dear here): the
		 * reader polls every STEER_MONITOR_POLL_MS, and is woken only
		 * once a quarter of its ring is waiting */
		bpf_ringbuf_submit(e, bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >
				   STEER_MONITOR_RING_BYTES / 4 ? BPF_RB_FORCE_WAKEUP :
				   BPF_RB_NO_WAKEUP);
		c->emitted++;
	}
	return 0;
}

/* One record of decision d for service_id (refusal: enum steer_refusal
 * when refused). The off test comes first: monitor_ctl.deadline_ns is 0
 * unless a monitor's lease runs, and d->now_ns was read for the decision. */
static __always_inline void monitor_emit(const struct decision *d, __u32 service_id,
					 __u32 refusal)
{
	__u32 zero = 0;
	struct steer_monitor_ctl *ctl = bpf_map_lookup_elem(&monitor_ctl, &zero);

	if (!ctl || d->now_ns >= ctl->deadline_ns)
		return;
	monitor_fanout(d, service_id, refusal);
}

#endif /* STEER_MONITOR_BPF_H */
