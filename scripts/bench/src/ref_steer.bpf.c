// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ref_steer.bpf.c - the yardstick of cost.sh: the smallest program that
 * does steer's essential job, so steer's cost is read as a ratio to it on
 * the same machine. sk_lookup: one LPM lookup for the service, exact
 * least-conn over an array of counters (a scan from a random start up to
 * STEER_SCAN_MAX workers, two random choices above, as steer), a SOCKMAP
 * lookup and bpf_sk_assign. sockops: +1 at PASSIVE_ESTABLISHED, -1 at
 * CLOSE, through a tag on the listener that its children inherit.
 * No weights, caps, admission, pending counts, repeats or monitor.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ref_steer.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET		2
#define IPPROTO_TCP	6

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct ref_svc_key);
	__type(value, __u32);
} ref_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, STEER_MAX_POOL_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} ref_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct ref_tag);
} ref_tags SEC(".maps");

/* workers in use (set by refsteer) and each one's open connections */
__u32 ref_n;
__s64 ref_load[STEER_MAX_POOL_WORKERS];

static __always_inline __s64 load_of(__u32 id)
{
	/* clang drops the mask where it knows id < n <= the size; the
	 * verifier does not know that */
	barrier_var(id);
	return ref_load[id & (STEER_MAX_POOL_WORKERS - 1)];
}

static __always_inline __u32 pick(__u32 n)
{
	__u32 start = bpf_get_prandom_u32() % n, best = STEER_NONE;
	__s64 best_load = 0;

	if (n > STEER_SCAN_MAX) {
		__u32 a = start, b = bpf_get_prandom_u32() % n;

		return load_of(b) < load_of(a) ? b : a;
	}
	for (__u32 i = 0; i < STEER_SCAN_MAX && i < n; i++) {
		__u32 id = start + i < n ? start + i : start + i - n;
		__s64 l = load_of(id);

		if (best == STEER_NONE || l < best_load) {
			best = id;
			best_load = l;
		}
	}
	return best;
}

SEC("sk_lookup")
int ref_lookup(struct bpf_sk_lookup *ctx)
{
	struct ref_svc_key key = { .prefixlen = REF_SVC_FIXED_BITS + 32 };
	struct bpf_sock *sk;
	__u32 n = ref_n, id;
	long err;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return SK_PASS;
	key.port = bpf_htons((__u16)ctx->local_port);
	key.addr = ctx->local_ip4;
	if (!bpf_map_lookup_elem(&ref_services, &key))
		return SK_PASS;
	if (n == 0 || n > STEER_MAX_POOL_WORKERS)
		return SK_DROP;
	id = pick(n);
	sk = bpf_map_lookup_elem(&ref_socks, &id);
	if (!sk)
		return SK_DROP;
	err = bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

SEC("sockops")
int ref_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct ref_tag *tag;

	if (skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    (skops->op != BPF_SOCK_OPS_STATE_CB || skops->args[1] != BPF_TCP_CLOSE))
		return 1;
	if (!sk)
		return 1;
	tag = bpf_sk_storage_get(&ref_tags, sk, 0, 0);
	if (!tag)
		return 1;	/* not a worker's child */
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		if (tag->counted)
			return 1;
		tag->counted = 1;
		__sync_fetch_and_add(&ref_load[tag->id & (STEER_MAX_POOL_WORKERS - 1)], 1);
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					  BPF_SOCK_OPS_STATE_CB_FLAG);
		return 1;
	}
	if (tag->counted) {
		tag->counted = 0;
		__sync_fetch_and_sub(&ref_load[tag->id & (STEER_MAX_POOL_WORKERS - 1)], 1);
	}
	return 1;
}
