/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* select.bpf.h - pick one worker of a pool, per the pool's policy */
#ifndef STEER_SELECT_BPF_H
#define STEER_SELECT_BPF_H

#include "steer.h"
#include "inet.bpf.h"
#include "hash.bpf.h"
#include "maps.bpf.h"
#include "worker.bpf.h"

/* Slots of a table policy tried before falling back to a least-conn scan. */
#define STEER_TABLE_PROBES	8
/* Random draws least-conn makes in a large pool to find two usable workers. */
#define STEER_P2C_DRAWS		8

struct pick {
	__u32 id;		/* best worker so far, STEER_NONE if none */
	__u64 load;
	__u64 weight;
};

struct scan_ctx {
	const struct steer_pool *pool;
	__u32 n;
	__u32 start;
	__u32 family;
	__u32 epoch;
	__u32 free_only;
	struct pick best;
};

/* Consider worker id for least-conn: keep it when (load+1)/weight is lower
 * than the best so far, compared without division. Returns whether the
 * worker is usable at all. free_only (a lobby pool's first look): usable
 * only with a free slot (worker_has_slot). */
static __always_inline bool consider(struct pick *best, __u32 id, __u32 family, __u32 epoch,
				     __u32 free_only)
{
	struct steer_worker_stats *s;
	struct steer_worker *w;
	__u64 load, weight;

	w = bpf_map_lookup_elem(&workers, &id);
	s = bpf_map_lookup_elem(&worker_stats, &id);
	if (!w || !s || !worker_usable(w, s, family, epoch))
		return false;
	if (free_only && !worker_has_slot(w, s, epoch))
		return false;
	load = worker_load(s, epoch) + 1;
	weight = worker_weight(w);
	if (best->id == STEER_NONE || load * best->weight < best->load * weight) {
		best->id = id;
		best->load = load;
		best->weight = weight;
	}
	return true;
}

/* consider() as a global function, for the random draws of a large pool
 * and its full scan: the verifier checks it once, not once per iteration
 * of each. The small scan (a least-conn pool up to STEER_SCAN_MAX workers)
 * and the table probes (round-robin, random, hash) inline it instead: a
 * call and its return per member cost ~0.3x the whole reference program on
 * a CPU with retpolines and SRSO "Safe RET" (docs/bench/FASTPATH.md). */
__noinline int pick_consider(struct pick *best, __u32 id, __u32 family, __u32 epoch,
			     __u32 free_only)
{
	if (!best)
		return 0;
	return consider(best, id, family, epoch, free_only);
}

static __always_inline __u32 member_at(const struct steer_pool *pool, __u32 idx)
{
	return pool->members[idx & (STEER_MAX_POOL_WORKERS - 1)];
}

/* Member i of a scan that starts at member start and wraps at n. */
static __always_inline __u32 scan_member(const struct steer_pool *pool, __u32 start, __u32 i,
					 __u32 n)
{
	__u32 idx = start + i;

	return member_at(pool, idx >= n ? idx - n : idx);
}

static long scan_one(__u32 i, void *data)
{
	struct scan_ctx *c = data;

	pick_consider(&c->best, scan_member(c->pool, c->start, i, c->n), c->family, c->epoch,
		      c->free_only);
	return 0;
}

/* Exact weighted least-conn over every member. The scan starts at member
 * seed % n, a hash of the flow, so that ties do not all go to the first
 * one. Up to STEER_SCAN_MAX members it is a plain loop with consider()
 * inlined: no call per member (bpf_loop calls its callback, which calls
 * pick_consider). */
static __always_inline __u32 pick_least_conn_scan(const struct steer_pool *pool, __u32 n,
						  __u32 family, __u32 epoch, __u32 free_only,
						  __u32 seed)
{
	struct scan_ctx c = {
		.pool = pool, .n = n, .start = seed % n,
		.family = family, .epoch = epoch, .free_only = free_only,
		.best = { .id = STEER_NONE },
	};

	if (n > STEER_SCAN_MAX) {
		bpf_loop(n, scan_one, &c, 0);
		return c.best.id;
	}
	for (__u32 i = 0; i < STEER_SCAN_MAX && i < n; i++)
		consider(&c.best, scan_member(pool, c.start, i, n), family, epoch, free_only);
	return c.best.id;
}

/* Two random choices: the better of two usable members drawn at random
 * (from the flow's seed, mixed with the draw: no helper call a draw).
 * Same cost at 32 workers as at 1,024. */
static __always_inline __u32 pick_two_choices(const struct steer_pool *pool, __u32 n,
					      __u32 family, __u32 epoch, __u32 free_only, __u32 seed)
{
	struct pick best = { .id = STEER_NONE };
	__u32 found = 0;

	for (int i = 0; i < STEER_P2C_DRAWS && found < 2; i++)
		if (pick_consider(&best, member_at(pool, mix32(seed, i) % n), family, epoch,
				  free_only))
			found++;
	if (best.id != STEER_NONE)
		return best.id;
	/* Most of the pool is unusable (or busy): look at everyone rather
	 * than refuse (or send to the lobby while a worker is free). */
	return pick_least_conn_scan(pool, n, family, epoch, free_only, seed);
}

static __always_inline __u32 pick_least_conn(const struct steer_pool *pool, __u32 family,
					     __u32 epoch, __u32 free_only, __u32 seed)
{
	__u32 n = pool->nworkers;

	if (n == 0 || n > STEER_MAX_POOL_WORKERS)
		return STEER_NONE;
	if (n <= STEER_SCAN_MAX)
		return pick_least_conn_scan(pool, n, family, epoch, free_only, seed);
	return pick_two_choices(pool, n, family, epoch, free_only, seed);
}

static __always_inline bool id_usable(__u32 id, __u32 family, __u32 epoch, __u32 free_only)
{
	struct pick scratch = { .id = STEER_NONE };

	return consider(&scratch, id, family, epoch, free_only);
}

/* Table policies: the slot decides; an unusable worker's slot passes to the
 * next slots, which Maglev's permutations spread over the other workers. */
static __always_inline __u32 pick_from_table(__u32 pool_id, const struct steer_pool *pool,
					     __u32 slot, __u32 family, __u32 epoch, __u32 free_only)
{
	__u32 len = pool->table_len;

	if (len == 0 || len > STEER_TABLE_SIZE)
		return STEER_NONE;
	for (int i = 0; i < STEER_TABLE_PROBES; i++) {
		__u32 key = pool_id * STEER_TABLE_SIZE + (slot + i) % len;
		__u32 *id = bpf_map_lookup_elem(&pool_tables, &key);

		if (id && id_usable(*id, family, epoch, free_only))
			return *id;
	}
	return STEER_NONE;
}

/* Mix a client address into 32 bits (murmur3 finaliser per word). */
static __always_inline __u32 hash_addr4(__u32 ip4)
{
	return mix32(STEER_HASH_SEED, ip4);
}

static __always_inline __u32 hash_addr6(__u32 a0, __u32 a1, __u32 a2, __u32 a3)
{
	return mix32(mix32(mix32(mix32(STEER_HASH_SEED, a0), a1), a2), a3);
}

/* Each ctx field is read on its own: the verifier refuses offset ctx pointers. */
static __always_inline __u32 hash_remote(const struct bpf_sk_lookup *ctx)
{
	if (ctx->family == AF_INET)
		return hash_addr4(ctx->remote_ip4);
	return hash_addr6(ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
			  ctx->remote_ip6[3]);
}

/* Where a least-conn scan starts: the client's address and port and the
 * pending epoch mixed, different for each connection of a client and for
 * a client that comes back on the same port later, and no helper call (a
 * bpf_get_prandom_u32 call and its return cost ~0.1x the reference
 * program on a CPU with retpolines and SRSO: docs/bench/FASTPATH.md). */
static __always_inline __u32 scan_seed(const struct bpf_sk_lookup *ctx, __u32 epoch)
{
	return mix32(mix32(hash_remote(ctx), ctx->remote_port), epoch);
}

/* The worker of pool_id that gets this connection, or STEER_NONE; with
 * free_only, only one with a free slot (a lobby pool: STEER_NONE sends the
 * connection to the lobby). Global, so it is verified once however often
 * the caller loops. */
__noinline __u32 pick_worker(struct bpf_sk_lookup *ctx, __u32 pool_id, __u32 family, __u32 epoch,
			     __u32 free_only)
{
	struct steer_pool *pool = bpf_map_lookup_elem(&pools, &pool_id);
	struct steer_pool_stats *ps;
	__u32 id = STEER_NONE;

	if (!ctx || !pool)
		return STEER_NONE;

	switch (pool->policy) {
	case STEER_POLICY_ROUND_ROBIN:
		ps = bpf_map_lookup_elem(&pool_stats, &pool_id);
		if (ps)
			id = pick_from_table(pool_id, pool, __sync_fetch_and_add(&ps->rr_next, 1),
					     family, epoch, free_only);
		break;
	case STEER_POLICY_RANDOM:
		id = pick_from_table(pool_id, pool, bpf_get_prandom_u32(), family, epoch, free_only);
		break;
	case STEER_POLICY_HASH:
		id = pick_from_table(pool_id, pool, hash_remote(ctx), family, epoch, free_only);
		break;
	default:
		break;
	}
	/* least-conn, or a table with no usable slot nearby: scan the pool. */
	if (id == STEER_NONE)
		id = pick_least_conn(pool, family, epoch, free_only, scan_seed(ctx, epoch));
	return id;
}

#endif /* STEER_SELECT_BPF_H */
