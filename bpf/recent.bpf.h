/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* recent.bpf.h - recent_picks: where each client tuple went lately, so that a
 * repeat of a tuple (cookie ACK, retransmitted SYN, late segment of a closed
 * connection) goes back to the same listener and is not a new selection.
 * Both programs compute the same tag for a tuple: sk_lookup from the packet,
 * sockops from a worker's child socket. The low bits of the tag pick the
 * set; the whole tag is kept, so entries of one set do not alias. */
#ifndef STEER_RECENT_BPF_H
#define STEER_RECENT_BPF_H

/* Tag of a client tuple: the client address (IPv4-mapped folded to IPv4, so
 * both programs agree), the client port and the service port, all in host
 * order; never 0. The murmur finaliser is a bijection, so two tuples from
 * one client address never share a tag. */
static __always_inline __u32 flow_tag(__u32 h_addr, __u16 remote_port, __u16 local_port)
{
	__u32 h = mix32(h_addr, ((__u32)remote_port << 16) | local_port);

	return h ? h : 1;
}

static __always_inline __u32 lookup_flow_tag(const struct bpf_sk_lookup *ctx)
{
	return flow_tag(hash_remote(ctx), bpf_ntohs((__u16)ctx->remote_port),
			(__u16)ctx->local_port);
}

static __always_inline __u32 sockops_flow_tag(const struct bpf_sock_ops *skops)
{
	__u32 a0 = skops->remote_ip6[0], a1 = skops->remote_ip6[1];
	__u32 a2 = skops->remote_ip6[2], a3 = skops->remote_ip6[3];
	__u32 h;

	if (skops->family == AF_INET)
		h = hash_addr4(skops->remote_ip4);
	else if (!a0 && !a1 && a2 == bpf_htonl(0xffff))
		h = hash_addr4(a3);	/* IPv4 client of a dual-stack worker */
	else
		h = hash_addr6(a0, a1, a2, a3);
	/* sock_ops keeps the remote port as a 32-bit network-order value */
	return flow_tag(h, (__u16)bpf_ntohl(skops->remote_port), (__u16)skops->local_port);
}

/* ~1.05 ms units: a shift, not a division */
static __always_inline __u32 now_ms(void)
{
	return (__u32)(bpf_ktime_get_ns() >> 20);
}

static __always_inline bool recent_fresh(const struct steer_flow_pick *e, __u32 now)
{
	return e->tag && now - e->stamp_ms <= STEER_REPEAT_MS;
}

#define RECENT_FOUND	0x100

/* The set a tag lives in; NULL only if the lookup fails, which it cannot
 * for an index below max_entries. */
static __always_inline struct steer_recent_set *recent_set(__u32 tag)
{
	__u32 set_id = tag & (STEER_RECENT_SETS - 1);

	return bpf_map_lookup_elem(&recent_picks, &set_id);
}

/* The entry of tag's set at way (as recent_scan returned it), or NULL. */
static __always_inline struct steer_flow_pick *recent_at(__u32 tag, __u32 way)
{
	struct steer_recent_set *set = recent_set(tag);

	return set ? &set->way[way & (STEER_RECENT_WAYS - 1)] : NULL;
}

/* The way of tag's set that holds tag (| RECENT_FOUND), else the one to
 * record it in: an empty or stale way, or else the oldest. */
static __always_inline __u32 recent_scan(const struct steer_recent_set *set, __u32 tag, __u32 now)
{
	__u32 victim = 0, victim_age = 0;

	for (__u32 i = 0; i < STEER_RECENT_WAYS; i++) {
		const struct steer_flow_pick *e = &set->way[i];
		__u32 age = now - e->stamp_ms;

		if (e->tag == tag)
			return i | RECENT_FOUND;
		if (!e->tag || age > STEER_REPEAT_MS)
			age = ~0u;	/* empty or stale: the best victim */
		if (age > victim_age) {
			victim = i;
			victim_age = age;
		}
	}
	return victim;
}

/* recent_scan for sk_lookup. Global, so the verifier walks the scan once
 * rather than in every state of the caller's pool walk. */
__noinline __u32 recent_way(__u32 tag, __u32 now)
{
	struct steer_recent_set *set = recent_set(tag);

	return set ? recent_scan(set, tag, now) : 0;
}

/* Plain stores: a torn entry (two CPUs, one slot) only misleads one hint. */
static __always_inline void recent_record(struct steer_flow_pick *e, __u32 tag, __u32 worker_id,
					  __u32 now)
{
	e->tag = tag;
	e->worker_id = worker_id;
	e->stamp_ms = now;
}

/* A repeat goes back to its worker while that is recent and the worker
 * still takes connections (a drained or re-weighted worker is re-picked). */
static __always_inline bool repeat_allowed(const struct steer_flow_pick *e, __u32 family,
					   __u32 epoch, __u32 now)
{
	struct steer_worker *w;
	struct steer_pool *pool;

	if (!recent_fresh(e, now) || !id_usable(e->worker_id, family, epoch))
		return false;
	/* a pool whose circuit opened since takes no repeat either */
	w = bpf_map_lookup_elem(&workers, &e->worker_id);
	if (!w)
		return false;
	pool = bpf_map_lookup_elem(&pools, &w->pool_id);
	return pool && pool->circuit != STEER_CIRCUIT_OPEN;
}

/* A steered connection closed: a late segment of it (the peer's ACK racing
 * the close, a retransmitted FIN) finds no socket and runs sk_lookup as if
 * it were new. Recording the tuple makes it a repeat: it meets the same
 * listener, which resets it, and costs no turn, quota unit or token. */
static __always_inline void recent_record_close(const struct bpf_sock_ops *skops, __u32 worker_id)
{
	__u32 tag = sockops_flow_tag(skops), now = now_ms(), way;
	struct steer_recent_set *set = recent_set(tag);

	if (!set)
		return;
	/* inline here: a call costs more than the scan on a mitigated CPU */
	way = recent_scan(set, tag, now);
	recent_record(&set->way[way & (STEER_RECENT_WAYS - 1)], tag, worker_id, now);
}

#endif /* STEER_RECENT_BPF_H */
