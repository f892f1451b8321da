/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* lobby.bpf.h - a pool's lobby (join-idle-queue late binding): when every
 * worker of a lobby pool is busy, sk_lookup gives the connection to the
 * lobby's listener, a queue every lobby-aware worker also accepts from, and
 * the first worker that frees up takes it. The counts stay exact through
 * the lobby child's tag (steer.h: hold): sockops counts a lobby child on
 * whoever holds it, and the take (its first read or write, or its worker's
 * FIN: steer.bpf.c) moves it from the lobby to the worker whose process
 * accepted it. */
#ifndef STEER_LOBBY_BPF_H
#define STEER_LOBBY_BPF_H

#include "steer.h"
#include "maps.bpf.h"
#include "worker.bpf.h"

/* Not a refusal: a worker took the connection (beside enum steer_refusal). */
#define STEERED		STEER_REFUSE_COUNT

static __always_inline __u32 hold_id(__u64 hold)
{
	return (__u32)hold & STEER_HOLD_ID;
}

static __always_inline __u64 hold_make(__u32 who, __u32 gen)
{
	return (__u64)gen << 32 | who;
}

/* ---- sk_lookup: is the lobby one to wait in? ---- */

struct served_ctx {
	const struct steer_pool *pool;
	__u32 family;
	__u32 epoch;
	__u32 found;
};

static long served_one(__u32 i, void *data)
{
	struct served_ctx *c = data;
	__u32 id = c->pool->members[i & (STEER_MAX_POOL_WORKERS - 1)];
	struct steer_worker_stats *s = bpf_map_lookup_elem(&worker_stats, &id);
	struct steer_worker *w = bpf_map_lookup_elem(&workers, &id);

	/* lobby-aware (slots set), up, weighted, alive and below its maxconn:
	 * it will accept from the lobby. A drained or down worker no longer
	 * counts, nor one at its cap: a pool whose workers are all at their
	 * maxconn is full, and hands over to its fallback as without a lobby. */
	if (w && s && w->slots && worker_usable(w, s, c->family, c->epoch)) {
		c->found = 1;
		return 1;	/* one is enough: stop the loop */
	}
	return 0;
}

/* Someone serves the lobby: a lobby-aware worker of the pool is up and
 * alive. Scanned only when every worker is busy. */
static __always_inline bool lobby_served(const struct steer_pool *pool, __u32 family,
					 __u32 epoch)
{
	struct served_ctx c = { .pool = pool, .family = family, .epoch = epoch };
	__u32 n = pool->nworkers;

	if (n > STEER_MAX_POOL_WORKERS)
		return false;
	bpf_loop(n, served_one, &c, 0);
	return c.found;
}

/* The pool has a lobby registered (its socket may still have closed). */
static __always_inline bool pool_has_lobby(__u32 pool_id)
{
	struct steer_lobby *lb = bpf_map_lookup_elem(&pool_lobbies, &pool_id);

	return lb && lb->in_use;
}

/* The lobby listener's accept queue is at its backlog: read from the
 * socket itself (the kernel's own count of children waiting to be
 * accepted, and listen()'s backlog), so it is exact and follows a worker
 * that calls listen() again with another backlog. */
static __always_inline bool lobby_full(struct bpf_sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	if (!tp)
		return true;	/* not TCP: cannot be a lobby */
	return tp->inet_conn.icsk_inet.sk.sk_ack_backlog >=
	       tp->inet_conn.icsk_inet.sk.sk_max_ack_backlog;
}

/* Give the connection to pool_id's lobby: STEERED, or why not. A new
 * connection (not a repeat) goes there only when the lobby can serve it:
 * its family, room below its backlog (a full accept queue would drop the
 * handshake: lobby_full) and a lobby-aware worker alive (a queue nobody serves would
 * strand it). A repeat (a cookie ACK, a retransmitted SYN) must meet the
 * listener that took its SYN, so only the socket is needed. Global:
 * verified once. */
__noinline __u32 assign_lobby(struct bpf_sk_lookup *ctx, __u32 pool_id, __u32 family,
			      __u32 epoch, __u32 repeat)
{
	struct steer_lobby_stats *ls = bpf_map_lookup_elem(&lobby_stats, &pool_id);
	struct steer_lobby *lb = bpf_map_lookup_elem(&pool_lobbies, &pool_id);
	struct steer_pool *pool = bpf_map_lookup_elem(&pools, &pool_id);
	struct bpf_sock *sk;
	long err;

	if (!ctx || !ls || !lb || !pool || !lb->in_use || ls->gen != lb->gen)
		return STEER_REFUSE_NO_WORKER;	/* no lobby (or one half-written) */
	if (!(lb->family_mask & family))
		return STEER_REFUSE_NO_WORKER;	/* an IPv4 lobby cannot take IPv6 */
	if (!repeat && !lobby_served(pool, family, epoch))
		return STEER_REFUSE_NO_WORKER;	/* no one would take it */
	sk = bpf_map_lookup_elem(&lobby_socks, &pool_id);
	if (!sk) {
		ls->gone = 1;	/* its listener closed: skip it until registered again */
		return STEER_REFUSE_GONE;
	}
	if (!repeat && lobby_full(sk)) {
		bpf_sk_release(sk);
		return STEER_REFUSE_NO_WORKER;	/* its accept queue would drop it */
	}
	err = bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
	bpf_sk_release(sk);
	if (err)
		return STEER_REFUSE_ASSIGN;
	if (!repeat)
		__sync_fetch_and_add(&ls->sent, 1);
	return STEERED;
}

/* ---- sockops and accept: who holds a lobby child ---- */

/* A worker took one more open connection: what count_open does for a
 * connection of its own listener (pending aside: a lobby connection was
 * never selected for it). */
static __always_inline void worker_opened(struct steer_worker_stats *s, bool steered)
{
	__sync_fetch_and_add(&s->outstanding, 1);
	__sync_fetch_and_add(&s->established, 1);
	if (steered)
		__sync_fetch_and_add(&s->steered, 1);
}

/* delta (+1 or -1) on whoever hold names: the lobby's waiting count, the
 * stray count, or the worker's outstanding. A -1 on a worker is a close
 * (closed, aborted and the steered ones the circuit reads). A holder whose
 * slot got a new generation since is left alone, as for a worker. */
static __always_inline void hold_count(__u64 hold, __s64 delta, bool steered, bool aborted)
{
	__u32 who = (__u32)hold, gen = (__u32)(hold >> 32), id = hold_id(hold);

	if (who & (STEER_HOLD_LOBBY | STEER_HOLD_STRAY)) {
		struct steer_lobby_stats *ls = bpf_map_lookup_elem(&lobby_stats, &id);

		if (!ls || ls->gen != gen)
			return;
		if (who & STEER_HOLD_LOBBY)
			__sync_fetch_and_add(&ls->waiting, delta);
		else
			__sync_fetch_and_add(&ls->stray, delta);
		return;
	}
	struct steer_worker_stats *s = bpf_map_lookup_elem(&worker_stats, &id);

	if (!s || s->gen != gen)
		return;
	if (delta > 0) {
		worker_opened(s, steered);
		return;
	}
	__sync_fetch_and_sub(&s->outstanding, 1);
	__sync_fetch_and_add(&s->closed, 1);
	if (aborted)
		__sync_fetch_and_add(&s->aborted, 1);
	if (steered) {
		__sync_fetch_and_add(&s->steered_closed, 1);
		if (aborted)
			__sync_fetch_and_add(&s->steered_aborted, 1);
	}
}

/* Tries of a compare and swap on hold: the callbacks run under the
 * child's lock, so only the accept races them, and it changes hold once. */
#define HOLD_TRIES	4

/* sockops, ESTABLISHED: the lobby child now counts on its holder (the
 * lobby while it waits; a worker if the accept came first). Returns
 * whether it took a count. */
static __always_inline bool lobby_open(struct steer_worker_tag *tag, bool steered)
{
	for (int i = 0; i < HOLD_TRIES; i++) {
		__u64 old = tag->hold;

		if ((__u32)old & STEER_HOLD_COUNTED)
			return false;	/* counted already */
		if (__sync_val_compare_and_swap(&tag->hold, old, old | STEER_HOLD_COUNTED) == old) {
			hold_count(old, 1, steered, false);
			return true;
		}
	}
	return false;	/* cannot happen: the accept swaps once */
}

/* sockops, the worker's FIN or CLOSE: the count ends on whoever holds the
 * child now, once. The owner stays in hold: an accept that comes later
 * still attributes the connection (taken counts), with no count to move.
 * Returns the holder (for recent_picks), or 0 if it held no count. */
static __always_inline __u64 lobby_done(struct steer_worker_tag *tag, bool steered, bool aborted)
{
	for (int i = 0; i < HOLD_TRIES; i++) {
		__u64 old = tag->hold;

		if (!((__u32)old & STEER_HOLD_COUNTED))
			return 0;
		if (__sync_val_compare_and_swap(&tag->hold, old, old & ~(__u64)STEER_HOLD_COUNTED) ==
		    old) {
			hold_count(old, -1, steered, aborted);
			return old;
		}
	}
	return 0;
}

/* accept: the child leaves the lobby's queue for the process that took
 * it. Its worker (by tgid and pool) takes it over with any count it holds,
 * in one swap; a process that is no worker of the pool makes it a stray
 * (counted apart, shown in status). */
static __always_inline void lobby_take(struct steer_worker_tag *tag, __u32 tgid)
{
	__u64 old = tag->hold;
	__u32 pool_id = hold_id(old), *wid;
	struct steer_tgid_key key = { .tgid = tgid, .pool_id = pool_id };
	struct steer_worker_stats *s = NULL;
	struct steer_lobby_stats *ls;
	__u64 to;

	if (!((__u32)old & STEER_HOLD_LOBBY))
		return;		/* taken already: an accept happens once */
	wid = bpf_map_lookup_elem(&worker_by_tgid, &key);
	if (wid)
		s = bpf_map_lookup_elem(&worker_stats, wid);
	/* the owner for the rest of its life: the worker, or a stray of the pool */
	to = s && wid ? hold_make(*wid & STEER_HOLD_ID, s->gen)
		      : hold_make(STEER_HOLD_STRAY | pool_id, (__u32)(old >> 32));
	for (int i = 0; i < HOLD_TRIES; i++) {
		__u64 counted = old & STEER_HOLD_COUNTED;

		if (__sync_val_compare_and_swap(&tag->hold, old, to | counted) == old) {
			if (counted) {
				hold_count(old, -1, false, false);
				hold_count(to, 1, tag->steered, false);
			}
			break;
		}
		old = tag->hold;	/* the count changed under us: again */
		if (!((__u32)old & STEER_HOLD_LOBBY))
			return;
	}
	ls = bpf_map_lookup_elem(&lobby_stats, &pool_id);
	if (ls && ls->gen == (__u32)(old >> 32))
		__sync_fetch_and_add(s && wid ? &ls->taken : &ls->stray_total, 1);
	if (s && wid) {
		struct steer_worker_lobby *wl = bpf_map_lookup_elem(&worker_lobby, wid);

		if (wl && wl->gen == s->gen)
			__sync_fetch_and_add(&wl->taken, 1);
	}
}

#endif /* STEER_LOBBY_BPF_H */
