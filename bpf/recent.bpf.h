/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* recent.bpf.h - recent_picks: where each flow went lately, so that a
 * repeat of a flow (cookie ACK, retransmitted SYN, late segment of a closed
 * connection) goes back to the same listener and is not a new selection.
 * Both programs build the same steer_flow for a connection: sk_lookup from
 * the packet, sockops from a worker's child socket, whose local address is
 * the service address the client dialled. The low bits of the flow's tag
 * pick the set; the tag and then the whole flow are compared, so entries
 * of one set never alias. */
#ifndef STEER_RECENT_BPF_H
#define STEER_RECENT_BPF_H

#include <bpf/bpf_endian.h>
#include "steer.h"
#include "inet.bpf.h"
#include "hash.bpf.h"
#include "maps.bpf.h"
#include "worker.bpf.h"

static __always_inline void flow_addr4(__u32 a[4], __u32 ip4)
{
	a[0] = 0;
	a[1] = 0;
	a[2] = V4_MAPPED_WORD;
	a[3] = ip4;
}

/* Every ctx field is read on its own, and barrier_var keeps the compiler
 * from merging the two families' reads into one load through an offset
 * ctx pointer, which the verifier refuses. */
static __always_inline void flow_fill6(struct steer_flow *f, __u32 c0, __u32 c1, __u32 c2,
				       __u32 c3, __u32 s0, __u32 s1, __u32 s2, __u32 s3)
{
	barrier_var(c0);
	barrier_var(c1);
	barrier_var(c2);
	barrier_var(c3);
	barrier_var(s0);
	barrier_var(s1);
	barrier_var(s2);
	barrier_var(s3);
	f->client[0] = c0;
	f->client[1] = c1;
	f->client[2] = c2;
	f->client[3] = c3;
	f->service[0] = s0;
	f->service[1] = s1;
	f->service[2] = s2;
	f->service[3] = s3;
}

static __always_inline void flow_fill4(struct steer_flow *f, __u32 c4, __u32 s4)
{
	barrier_var(c4);
	barrier_var(s4);
	flow_addr4(f->client, c4);
	flow_addr4(f->service, s4);
}

/* A packet: an IPv4 one always comes as AF_INET. Its IPv6 fields are not
 * read: each costs a pointer test in the ctx rewrite. */
static __always_inline void lookup_flow(const struct bpf_sk_lookup *ctx, struct steer_flow *f)
{
	f->ports = (__u32)bpf_ntohs((__u16)ctx->remote_port) << 16 | (__u16)ctx->local_port;
	if (ctx->family == AF_INET) {
		flow_fill4(f, ctx->remote_ip4, ctx->local_ip4);
		return;
	}
	flow_fill6(f, ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
		   ctx->remote_ip6[3], ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
		   ctx->local_ip6[3]);
}

/* A worker's child socket: an AF_INET one has IPv4 addresses; an AF_INET6
 * one (an IPv6 client, or an IPv4 client of a dual-stack worker) holds
 * them as IPv6 words, already IPv4-mapped for an IPv4 client. */
static __always_inline void sockops_flow(const struct bpf_sock_ops *skops, struct steer_flow *f)
{
	/* sock_ops keeps the remote port as a 32-bit network-order value */
	f->ports = (__u32)(__u16)bpf_ntohl(skops->remote_port) << 16 | (__u16)skops->local_port;
	if (skops->family == AF_INET) {
		flow_fill4(f, skops->remote_ip4, skops->local_ip4);
		return;
	}
	flow_fill6(f, skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
		   skops->remote_ip6[3], skops->local_ip6[0], skops->local_ip6[1],
		   skops->local_ip6[2], skops->local_ip6[3]);
}

/* Tag of a flow: a 32-bit hash of all of it, never 0. An IPv4 flow (the
 * common case) mixes three words; others all nine. */
static __always_inline __u32 flow_tag(const struct steer_flow *f)
{
	__u32 h = mix32(mix32(mix32(STEER_HASH_SEED, f->client[3]), f->service[3]), f->ports);

	if (f->client[0] | f->client[1] | f->service[0] | f->service[1] ||
	    f->client[2] != V4_MAPPED_WORD || f->service[2] != V4_MAPPED_WORD)
		h = mix32(mix32(mix32(mix32(mix32(mix32(h, f->client[0]), f->client[1]),
					    f->client[2]), f->service[0]), f->service[1]),
			  f->service[2]);
	return h ? h : 1;
}

/* ~1.05 ms units: a shift, not a division */
static __always_inline __u32 now_ms(void)
{
	return (__u32)(steer_clock_ns() >> 20);
}

#define RECENT_FOUND	0x100
#define RECENT_UNREAD	0x200	/* recent_any() said nothing there is fresh */
#define RECENT_WAY(w)	((w) & (STEER_RECENT_WAYS - 1))

static __always_inline struct steer_recent_last *recent_last_entry(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&recent_last, &zero);
}

/* May any entry be fresh now? Not when nothing was recorded for longer
 * than a repeat lives (either way: a stamp a tick ahead of this CPU's
 * clock is fresh, one 2^31 units away after weeks idle is not): then a
 * decision reads neither recent_hints nor recent_picks, whose lines a new
 * flow misses in cache (docs/bench/FASTPATH.md). STEER_RECENT_SWAPPED (an
 * upgrade's): the running version's records are as old as the swap at
 * most, so the first decision after it stamps its own clock, and the cache
 * is read for a repeat's lifetime from then. */
static __always_inline bool recent_any(__u32 now)
{
	struct steer_recent_last *last = recent_last_entry();
	__s32 age;

	if (!last)
		return true;
	if (last->stamp_ms == STEER_RECENT_SWAPPED)
		last->stamp_ms = now ? now : 1;
	age = (__s32)(now - last->stamp_ms);
	return last->stamp_ms && age <= STEER_REPEAT_MS && age >= -STEER_REPEAT_MS;
}

/* Before an entry is written: a reader that sees the entry sees this. Only
 * forward (a CPU whose decision read the clock a tick earlier must not
 * shorten another's entry: compare and swap, as an interrupt or another
 * CPU may stamp between the load and the store), and one store a tick at
 * most, so the line is not written at every record. */
static __always_inline void recent_stamp(__u32 now)
{
	struct steer_recent_last *last = recent_last_entry();

	now = now ? now : 1;	/* 0 is "nothing recorded" */
	for (int i = 0; last && i < 4; i++) {
		__u32 old = last->stamp_ms;

		if (old && old != STEER_RECENT_SWAPPED && (__s32)(now - old) <= 0)
			return;
		if (__sync_val_compare_and_swap(&last->stamp_ms, old, now) == old)
			return;
	}
}

/* Can this SYN come back to sk_lookup once listener sk has it? Only if
 * the kernel may answer it with a cookie (its final ACK then looks the
 * listener up again) or drop it (the client sends it again). In
 * tcp_conn_request it does so with syncookies = 2, a request queue at
 * listen()'s backlog, a full accept queue, or (without syncookies) a
 * request queue within a quarter of tcp_max_syn_backlog. Judged with room
 * to spare: half of each bound, less SYN_RACE_MARGIN for what other CPUs
 * may add before the kernel judges this one; so a listener with a backlog
 * below 2 x SYN_RACE_MARGIN always has its picks recorded. */
#define SYN_RACE_MARGIN	64

static __always_inline bool syn_may_return(struct bpf_sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u64 requests, accepts;
	struct sock *s;
	struct net *net;

	if (!tp)
		return true;
	s = &tp->inet_conn.icsk_inet.sk;
	net = s->__sk_common.skc_net.net;
	if (!net || net->ipv4.sysctl_tcp_syncookies == 2)
		return true;
	/* twice each queue's length with the margin, against each bound */
	requests = 2 * ((__u64)tp->inet_conn.icsk_accept_queue.qlen.counter + SYN_RACE_MARGIN);
	accepts = 2 * ((__u64)s->sk_ack_backlog + SYN_RACE_MARGIN);
	return requests >= s->sk_max_ack_backlog || accepts >= s->sk_max_ack_backlog ||
	       requests >= (__u32)net->ipv4.sysctl_max_syn_backlog;
}

/* The set a tag lives in; NULL only if the lookup fails, which it cannot
 * for an index below max_entries. */
static __always_inline struct steer_recent_set *recent_set(__u32 tag)
{
	__u32 set_id = tag & (STEER_RECENT_SETS - 1);

	return bpf_map_lookup_elem(&recent_picks, &set_id);
}

/* Way i of set holds exactly flow f (its tag already matched). One OR of
 * XORs, not nine branches: cheaper, and far fewer verifier states. */
static __always_inline bool recent_holds(const struct steer_recent_set *set, __u32 i,
					 const struct steer_flow *f)
{
	const struct steer_flow_addrs *a = &set->addr[RECENT_WAY(i)];

	return !((set->ports[RECENT_WAY(i)] ^ f->ports) |
		 (a->client[0] ^ f->client[0]) | (a->client[1] ^ f->client[1]) |
		 (a->client[2] ^ f->client[2]) | (a->client[3] ^ f->client[3]) |
		 (a->service[0] ^ f->service[0]) | (a->service[1] ^ f->service[1]) |
		 (a->service[2] ^ f->service[2]) | (a->service[3] ^ f->service[3]));
}

/* The way of the set that holds flow f (| RECENT_FOUND), else the one to
 * record it in: an empty or stale way, or else the oldest. */
static __always_inline __u32 recent_scan(const struct steer_recent_set *set,
					 const struct steer_flow *f, __u32 tag, __u32 now)
{
	__u32 victim = 0, victim_age = 0;

	for (__u32 i = 0; i < STEER_RECENT_WAYS; i++) {
		__u32 t = set->tag[i], age = now - set->stamp_ms[i];

		if (t == tag && recent_holds(set, i, f))
			return i | RECENT_FOUND;
		if (!t || age > STEER_REPEAT_MS)
			age = ~0u;	/* empty or stale: the best victim */
		if (age > victim_age) {
			victim = i;
			victim_age = age;
		}
	}
	return victim;
}

/* A way's byte in recent_hints: the tag's top byte (its low bits picked
 * the set), never 0, which is an empty way. */
static __always_inline __u8 recent_fp(__u32 tag)
{
	__u8 fp = (__u8)(tag >> 24);

	return fp ? fp : 1;
}

static __always_inline struct steer_recent_hint *recent_hint(__u32 tag)
{
	__u32 set_id = tag & (STEER_RECENT_SETS - 1);

	return bpf_map_lookup_elem(&recent_hints, &set_id);
}

/* recent_scan, reading the set only if a way's byte matches the tag's: a
 * new flow almost never does, and then the way to fill is the oldest. */
static __always_inline __u32 recent_find(const struct steer_recent_hint *h,
					 const struct steer_flow *f, __u32 tag, __u32 now)
{
	struct steer_recent_set *set;
	__u8 fp = recent_fp(tag);

	if (h->fp[0] != fp && h->fp[1] != fp && h->fp[2] != fp && h->fp[3] != fp)
		return RECENT_WAY(h->next);
	set = recent_set(tag);
	return set ? recent_scan(set, f, tag, now) : 0;
}

/* recent_find for sk_lookup. Global, so the verifier walks the scan once
 * rather than in every state of the caller. */
__noinline __u32 recent_way(const struct steer_flow *f, __u32 tag, __u32 now)
{
	struct steer_recent_hint *h;

	if (!f)
		return 0;
	h = recent_hint(tag);
	return h ? recent_find(h, f, tag, now) : 0;
}

/* Plain stores: a torn entry (two CPUs, one way) only misleads one hint,
 * and a repeat is checked against the service's pools before it is taken.
 * The tag is cleared first and set last, so a reader that matches the tag
 * and the flow sees this worker. */
static __always_inline void recent_record(struct steer_recent_set *set, __u32 way,
					  const struct steer_flow *f, __u32 tag,
					  __u32 worker_id, __u32 now)
{
	struct steer_flow_addrs *a = &set->addr[RECENT_WAY(way)];
	volatile __u32 *t = &set->tag[RECENT_WAY(way)];
	struct steer_recent_hint *h = recent_hint(tag);

	recent_stamp(now);
	/* the byte first: a reader between the two reads the set in vain,
	 * never misses the flow */
	if (h) {
		h->fp[RECENT_WAY(way)] = recent_fp(tag);
		if (!(way & RECENT_FOUND))
			h->next = RECENT_WAY(way + 1);
	}
	*t = 0;
	set->worker_id[RECENT_WAY(way)] = worker_id;
	set->stamp_ms[RECENT_WAY(way)] = now;
	set->ports[RECENT_WAY(way)] = f->ports;
	__builtin_memcpy(a->client, f->client, sizeof(a->client));
	__builtin_memcpy(a->service, f->service, sizeof(a->service));
	asm volatile("" ::: "memory");
	*t = tag;
}

/* May pool id take a repeat now? Not with its circuit open; and a closed
 * flow's repeat not with its quota spent either. A repeat is checked, never
 * charged: sk_lookup cannot tell a late segment of a closed flow from a new
 * SYN that reuses its 4-tuple, so a pool that admits nothing must not take
 * either. A pick's repeat (a SYN-cookie ACK) was admitted and charged at
 * its SYN, and must meet the same listener even if that took the last unit. */
static __always_inline bool pool_admits_repeat(__u32 id, const struct steer_pool *p, bool closed)
{
	struct steer_pool_budget *bud;

	if (p->circuit == STEER_CIRCUIT_OPEN)
		return false;
	if (!closed)
		return true;
	bud = bpf_map_lookup_elem(&pool_budgets, &id);
	return !bud || !bud->quota_on || bud->quota_left > 0;
}

/* The pool worker pool_id may serve a repeat for a service whose pool is
 * svc_pool: that pool or one on its fallback chain now, in use, and taking
 * repeats (above). A repeat is a flow the service's pools took once; it
 * must not outlive the pool's leaving the chain, its circuit opening or
 * (after the close) its quota running out, nor reach another service's
 * pool through a colliding entry. */
static __always_inline bool pool_on_chain(__u32 svc_pool, __u32 pool_id, bool closed)
{
	__u32 id = svc_pool;

	for (int hop = 0; hop < STEER_MAX_HOPS && id < STEER_MAX_POOLS; hop++) {
		struct steer_pool *p = bpf_map_lookup_elem(&pools, &id);

		if (!p || !p->in_use)
			return false;
		if (id == pool_id)
			return pool_admits_repeat(id, p, closed);
		id = p->fallback;
	}
	return false;
}

/* The worker a repeat in way goes back to, or STEER_NONE: the entry must
 * be recent, the worker still take connections (a drained, re-weighted or
 * gone worker is re-picked; its cap does not count), and belong to a pool
 * the service may use now. Global: verified once, off the main program's
 * path. */
__noinline __u32 repeat_worker(__u32 tag, __u32 way, __u32 svc_pool, __u32 family, __u64 now_ns)
{
	__u32 now = (__u32)(now_ns >> 20);
	struct steer_recent_set *set = recent_set(tag);
	struct steer_worker_stats *s;
	struct steer_worker *w;
	bool closed;
	__u32 id;

	/* the tag again: another CPU may have reused the way since the scan */
	if (!set || set->tag[RECENT_WAY(way)] != tag ||
	    now - set->stamp_ms[RECENT_WAY(way)] > STEER_REPEAT_MS)
		return STEER_NONE;
	id = set->worker_id[RECENT_WAY(way)];
	closed = id & STEER_CLOSED_FLOW;
	id &= ~STEER_CLOSED_FLOW;
	/* a lobby's flow: back to that lobby while the service may use its pool */
	if (id & STEER_LOBBY_PICK)
		return pool_on_chain(svc_pool, id & STEER_HOLD_ID, closed) ? id : STEER_NONE;
	w = bpf_map_lookup_elem(&workers, &id);
	s = bpf_map_lookup_elem(&worker_stats, &id);
	/* No maxconn for a pick's repeat: the flow's own SYN is already in
	 * the worker's count, and a cookie ACK sent elsewhere would be reset.
	 * A closed flow's "repeat" may be a new SYN on the same 4-tuple (a
	 * client reusing its port: tcp_tw_reuse allows it after 1 s, or after
	 * a reset at once), which a worker at its cap must not take; a late
	 * segment picked anew is reset by the other listener as by this one. */
	if (!w || !s)
		return STEER_NONE;
	if (closed ? !worker_usable(w, s, family, (__u32)(now_ns >> STEER_PENDING_SHIFT)) :
		     !worker_takes(w, s, family))
		return STEER_NONE;
	if (!pool_on_chain(svc_pool, w->pool_id, closed))
		return STEER_NONE;
	return id;
}

/* A steered connection closed: a late segment of it (the peer's ACK racing
 * the close, a retransmitted FIN) finds no socket and runs sk_lookup as if
 * it were new. Recording the flow makes it a repeat: it meets the same
 * listener, which resets it, and costs no turn, quota unit or token. */
static __always_inline void recent_record_close(const struct bpf_sock_ops *skops, __u32 worker_id)
{
	struct steer_recent_hint *h;
	struct steer_recent_set *set;
	struct steer_flow f;
	__u32 tag, now = now_ms(), way;

	sockops_flow(skops, &f);
	tag = flow_tag(&f);
	set = recent_set(tag);
	h = recent_hint(tag);
	if (!set || !h)
		return;
	/* inline here: a call costs more than the scan on a mitigated CPU */
	way = recent_find(h, &f, tag, now);
	recent_record(set, way, &f, tag, worker_id | STEER_CLOSED_FLOW, now);
}

#endif /* STEER_RECENT_BPF_H */
