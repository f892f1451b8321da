// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * steer.bpf.c - the kernel programs:
 *  - steer_lookup (sk_lookup): for a new connection to a service address,
 *    pick a worker's listening socket (or its pool's lobby) and assign it;
 *  - steer_sockops (sockops): keep each worker's exact outstanding count;
 *  - steer_recv, steer_send (BTF tracepoints of sock_recvmsg/sendmsg): a
 *    connection accepted from a lobby counts from then on on the worker
 *    whose process took it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "steer.h"
#include "inet.bpf.h"
#include "maps.bpf.h"
#include "admit.bpf.h"
#include "select.bpf.h"
#include "lobby.bpf.h"
#include "recent.bpf.h"
#include "monitor.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The service of the packet's destination: the family is part of the key,
 * so an IPv6 prefix never matches an IPv4 packet (steer.h). */
static __always_inline struct steer_service_target *find_service(const struct bpf_sk_lookup *ctx)
{
	struct steer_service_key key = { .port = (__u16)ctx->local_port };

	if (ctx->family == AF_INET) {
		__u32 ip4 = ctx->local_ip4;

		key.prefixlen = STEER_LPM_FIXED_BITS + 32;
		key.family = STEER_FAMILY_V4;
		__builtin_memcpy(key.addr, &ip4, 4);
	} else {
		__u32 ip6[4] = { ctx->local_ip6[0], ctx->local_ip6[1],
				 ctx->local_ip6[2], ctx->local_ip6[3] };

		key.prefixlen = STEER_LPM_FIXED_BITS + 128;
		key.family = STEER_FAMILY_V6;
		__builtin_memcpy(key.addr, ip6, 16);
	}
	return bpf_map_lookup_elem(&services_lpm, &key);
}

/* Hand the connection to worker id's listener: STEERED, or why not. A
 * listener that is missing from worker_socks has closed: mark the worker
 * gone so later picks skip it. A repeat (the same flow again) is not a new
 * selection. A new one's *may_return says whether its SYN may come back
 * (syn_may_return), and so must be recorded. */
static __always_inline __u32 assign_worker(struct bpf_sk_lookup *ctx, __u32 id, __u32 epoch,
					   __u32 *may_return)
{
	bool repeat = !may_return;
	struct steer_worker_stats *s = bpf_map_lookup_elem(&worker_stats, &id);
	struct bpf_sock *sk;
	long err;

	if (!s)
		return STEER_REFUSE_NO_WORKER;	/* id out of range: the pick never returns one */
	sk = bpf_map_lookup_elem(&worker_socks, &id);
	if (!sk) {
		s->gone = 1;
		return STEER_REFUSE_GONE;
	}
	err = bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
	if (!err && may_return)
		*may_return = syn_may_return(sk);
	bpf_sk_release(sk);
	if (err)
		return STEER_REFUSE_ASSIGN;
	if (repeat)
		return STEERED;
	pending_add(s, epoch);
	__sync_fetch_and_add(&s->selected, 1);
	return STEERED;
}

/* What one pool's turn came to: the worker that took the connection, or
 * why this pool did not (which is the refusal if it has no fallback). */
struct turn {
	__u32 worker;
	__u32 why;	/* enum steer_refusal, or STEERED */
	__u32 pass;	/* the monitor's why: enum steer_monitor_why */
	__u32 probe;	/* taken as a half-open probe */
	__u32 lobby;	/* given to the pool's lobby, to wait (t->worker: none) */
	__u32 may_return;	/* its SYN may come back: record the flow */
};

/* The monitor's why for a pool that was admitted but took no connection. */
static __always_inline __u32 why_of_refusal(__u32 why)
{
	switch (why) {
	case STEER_REFUSE_NO_WORKER: return STEER_WHY_NO_WORKER;
	case STEER_REFUSE_GONE: return STEER_WHY_GONE;
	case STEER_REFUSE_ASSIGN: return STEER_WHY_ASSIGN;
	default: return STEER_WHY_NO_POOL;
	}
}

#define TRY_ASSIGNED	(STEER_NONE - 1)

/* One pool's turn: admission, then the pick. Returns TRY_ASSIGNED once a
 * worker took the connection (its id in t->worker), else the pool's
 * fallback, STEER_NONE if it has none (t->why says why it did not take
 * it). Global, so the verifier walks it once rather than once per hop. */
__noinline __u32 try_pool(struct bpf_sk_lookup *ctx, __u32 pool_id, __u64 now_ns, struct turn *t)
{
	__u32 epoch = (__u32)(now_ns >> STEER_PENDING_SHIFT);
	struct steer_pool_limits *lim = bpf_map_lookup_elem(&pool_limits, &pool_id);
	struct steer_pool_budget *bud = bpf_map_lookup_elem(&pool_budgets, &pool_id);
	struct steer_pool_stats *ps = bpf_map_lookup_elem(&pool_stats, &pool_id);
	struct steer_pool *pool = bpf_map_lookup_elem(&pools, &pool_id);
	enum admit_verdict verdict;

	if (!ctx || !t)
		return STEER_NONE;
	/* a pool removed since the service or a fallback named it: no pool */
	t->why = STEER_REFUSE_NO_POOL;
	t->pass = STEER_WHY_NO_POOL;
	if (!pool || !ps || !lim || !bud || !pool->in_use)
		return STEER_NONE;
	/* Circuit open, quota or rate spent: straight to the fallback. */
	verdict = admit(pool, ps, lim, bud, pool_id);
	t->why = STEER_REFUSE_ADMISSION;
	t->pass = verdict;	/* which "no", if it is one */
	/* Two tries: the first pick may find a listener that just died. The
	 * why is the first try's when the second finds no one: a listener
	 * that died, not a pool that had no one. */
	/* A lobby pool looks first only at workers with a free slot. */
	__u32 lobby = pool_has_lobby(pool_id);

	for (int try = 0; admitted(verdict) && try < 2; try++) {
		__u32 family = lookup_family(ctx);
		__u32 id = pick_worker(ctx, pool_id, family, epoch, lobby);

		if (id == STEER_NONE && lobby) {
			/* Every worker busy: wait in the lobby for the first that
			 * frees up. A lobby full, gone or that nobody serves is
			 * skipped: least-conn (the pool's policy) over the usable
			 * workers, exactly as without a lobby. */
			if (assign_lobby(ctx, pool_id, family, epoch, false) == STEERED) {
				t->why = STEERED;
				t->lobby = 1;
				/* a lobby's queue is deep by design: always */
				t->may_return = 1;
				t->probe = admit_probe(verdict);
				__sync_fetch_and_add(&ps->selected, 1);
				if (t->probe)
					__sync_fetch_and_add(&ps->probes, 1);
				return TRY_ASSIGNED;
			}
			lobby = 0;
			id = pick_worker(ctx, pool_id, family, epoch, 0);
		}
		if (id == STEER_NONE) {
			if (try == 0)
				t->why = STEER_REFUSE_NO_WORKER;
			break;
		}
		t->why = assign_worker(ctx, id, epoch, &t->may_return);
		if (t->why != STEERED)
			continue;
		t->worker = id;
		t->probe = admit_probe(verdict);
		__sync_fetch_and_add(&ps->selected, 1);
		if (t->probe)
			__sync_fetch_and_add(&ps->probes, 1);
		return TRY_ASSIGNED;
	}
	if (admitted(verdict)) {
		t->pass = why_of_refusal(t->why);
		admit_refund(verdict, bud);
	}
	if (pool->fallback == STEER_NONE) {
		__sync_fetch_and_add(&ps->refused, 1);
		return STEER_NONE;
	}
	__sync_fetch_and_add(&ps->fallback_out, 1);
	/* a fallback id out of range ends the chain below: no pool */
	t->why = STEER_REFUSE_NO_POOL;
	return pool->fallback;
}

/* A repeat of a flow goes where it went, if the service may still use that
 * worker; else the service's pool, then its fallbacks, and the flow is
 * recorded with its worker. STEERED once a worker is assigned, else the
 * cause of the refusal (enum steer_refusal). d says how, for the monitor. */
static __always_inline __u32 steer_to_pool(struct bpf_sk_lookup *ctx, __u32 svc_pool,
					   struct decision *d)
{
	__u64 now_ns = steer_clock_ns();	/* one clock read per decision */
	__u32 epoch = (__u32)(now_ns >> STEER_PENDING_SHIFT), now = (__u32)(now_ns >> 20);
	struct turn t = { .worker = STEER_NONE, .why = STEER_REFUSE_NO_POOL };
	__u32 tag, way, id, pool_id = svc_pool;
	struct steer_recent_set *set;

	d->now_ns = now_ns;
	d->first_pool = d->pool = svc_pool;
	d->worker = STEER_NONE;
	d->cause = STEER_MON_REFUSED;
	d->why = STEER_WHY_NONE;
	d->hops = 0;
	lookup_flow(ctx, &d->flow);
	tag = flow_tag(&d->flow);
	way = recent_any(now) ? recent_way(&d->flow, tag, now) : RECENT_UNREAD;
	if (way & RECENT_FOUND) {
		id = repeat_worker(tag, way, svc_pool, lookup_family(ctx), now_ns);
		/* a repeat of a lobby connection goes back to the lobby's
		 * listener: with SYN cookies only it accepts the final ACK */
		if (id != STEER_NONE && (id & STEER_LOBBY_PICK) &&
		    assign_lobby(ctx, id & STEER_HOLD_ID, lookup_family(ctx), epoch, true) == STEERED) {
			d->pool = id & STEER_HOLD_ID;
			d->cause = STEER_MON_REPEAT;
			return STEERED;
		}
		/* a repeat that cannot go back is picked anew, as a new one */
		if (id != STEER_NONE && !(id & STEER_LOBBY_PICK) &&
		    assign_worker(ctx, id, epoch, NULL) == STEERED) {
			d->worker = id;
			d->pool = STEER_NONE;	/* the worker's: userspace knows it */
			d->cause = STEER_MON_REPEAT;
			return STEERED;
		}
	}
	for (int hop = 0; hop < STEER_MAX_HOPS && pool_id < STEER_MAX_POOLS; hop++) {
		d->pool = pool_id;
		d->hops = hop;
		pool_id = try_pool(ctx, pool_id, now_ns, &t);
		if (pool_id != TRY_ASSIGNED) {
			if (hop == 0)
				d->why = t.pass;
			continue;
		}
		d->worker = t.worker;
		d->cause = t.lobby ? STEER_MON_LOBBY : t.probe ? STEER_MON_PROBE :
			   hop ? STEER_MON_FALLBACK : STEER_MON_ASSIGNED;
		/* A SYN that cannot come back needs no record; a repeat
		 * picked anew replaces its entry all the same, which would
		 * send its later segments to the old worker. */
		if (!t.may_return && !(way & RECENT_FOUND))
			return STEERED;
		if (way == RECENT_UNREAD)
			way = recent_way(&d->flow, tag, now);
		set = recent_set(tag);
		if (set)
			recent_record(set, way, &d->flow, tag,
				      t.lobby ? STEER_LOBBY_PICK | d->pool : t.worker, now);
		return STEERED;
	}
	/* stopped with a pool still to try: the chain is longer than allowed
	 * (or loops), which userspace should have refused to build */
	if (pool_id < STEER_MAX_POOLS)
		return STEER_REFUSE_HOPS;
	return t.why < STEER_REFUSE_COUNT ? t.why : STEER_REFUSE_NO_POOL;
}

/* One more refusal of service id, for cause why. */
static __always_inline void count_refusal(struct steer_service_stats *st, __u32 service_id,
					  __u32 why)
{
	struct steer_service_refusals *r = bpf_map_lookup_elem(&service_refusals, &service_id);

	if (st)
		st->refused++;	/* per-CPU: plain increments */
	if (r && why < STEER_REFUSE_COUNT)
		((__u64 *)r)[why]++;
}

SEC("sk_lookup")
int steer_lookup(struct bpf_sk_lookup *ctx)
{
	struct steer_service_target *svc;
	struct steer_service_stats *st;
	struct decision d;
	__u32 why;

	/* Not TCP: steer serves TCP only; UDP and the rest take the kernel's
	 * normal socket lookup (SK_PASS without an assigned socket). */
	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	/* No service at this address and port: not ours, the same. */
	svc = find_service(ctx);
	if (!svc)
		return SK_PASS;

	st = bpf_map_lookup_elem(&service_stats, &svc->service_id);
	if (st)
		st->lookups++;
	why = steer_to_pool(ctx, svc->pool_id, &d);
	monitor_emit(&d, svc->service_id, why);
	/* A worker's listener is assigned: SK_PASS makes the kernel deliver
	 * the packet to it. */
	if (why == STEERED)
		return SK_PASS;
	/* A service that no pool on its chain could take is refused at once
	 * (the client gets a RST), never left to time out on a listener that
	 * does not exist, nor passed to whatever else listens on the port. */
	count_refusal(st, svc->service_id, why);
	return SK_DROP;
}

/* A worker's child socket reached ESTABLISHED: +1 to that worker, once. */
static __always_inline void count_open(struct bpf_sock_ops *skops)
{
	struct steer_worker_stats *s;
	struct steer_worker_tag *tag;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	tag = bpf_sk_storage_get(&worker_tags, sk, 0, 0);
	if (!tag)
		return;		/* not a worker's connection */
	if (tag->lobby) {
		/* a lobby's child: counts on its holder (lobby.bpf.h) */
		tag->steered = skops->local_port != tag->port;
		if (lobby_open(tag, tag->steered))
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						  BPF_SOCK_OPS_STATE_CB_FLAG);
		return;
	}
	if (tag->counted)
		return;		/* counted once already */
	s = bpf_map_lookup_elem(&worker_stats, &tag->worker_id);
	if (!s || s->gen != tag->gen)
		return;		/* the worker slot was reused since */
	tag->counted = 1;
	__sync_fetch_and_add(&s->outstanding, 1);
	__sync_fetch_and_add(&s->established, 1);
	if (skops->local_port != tag->port) {
		tag->steered = 1;
		__sync_fetch_and_add(&s->steered, 1);
	}
	pending_sub(s);
	/* Only counted sockets pay for state callbacks. */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

/* A lobby child's count ends (lobby_done); a steered one's late segments
 * are repeats that go where it is held: its worker's listener, or the
 * lobby's if it never left the queue. */
static __always_inline void lobby_close(struct bpf_sock_ops *skops, struct steer_worker_tag *tag,
					bool aborted)
{
	__u64 held = lobby_done(tag, tag->steered, aborted);
	__u32 who = (__u32)held;

	if (!held)
		return;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_STATE_CB_FLAG);
	if (!tag->steered)
		return;
	recent_record_close(skops, who & (STEER_HOLD_LOBBY | STEER_HOLD_STRAY) ?
			    STEER_LOBBY_PICK | hold_id(held) : hold_id(held));
}

/* The worker is done with a counted socket once it sends its FIN (FIN_WAIT1,
 * or LAST_ACK after the client's FIN) or the socket dies (CLOSE, by a reset
 * from either side or with a dying worker's accept queue): -1, once. Until
 * the client's FIN meets it, a closed socket is no load on its worker, and
 * with remote clients that is a round trip or more later. CLOSE_WAIT (the
 * client's FIN) is not the end: the worker may still be answering. */
static __always_inline void count_done(struct bpf_sock_ops *skops)
{
	__u32 new = skops->args[1];
	struct steer_worker_stats *s;
	struct steer_worker_tag *tag;
	struct bpf_sock *sk = skops->sk;
	bool aborted;

	if (new != BPF_TCP_FIN_WAIT1 && new != BPF_TCP_LAST_ACK && new != BPF_TCP_CLOSE)
		return;
	if (!sk)
		return;
	tag = bpf_sk_storage_get(&worker_tags, sk, 0, 0);
	if (tag && tag->lobby) {
		/* The worker's own FIN (close or shutdown: FIN_WAIT1, or
		 * LAST_ACK after the client's) runs in its process: one that
		 * closes a lobby connection before any read or write took it.
		 * A CLOSE may run in softirq, whose current task is anyone's. */
		if (new != BPF_TCP_CLOSE)
			lobby_take(tag, (__u32)(bpf_get_current_pid_tgid() >> 32));
		lobby_close(skops, tag, new == BPF_TCP_CLOSE);
		return;
	}
	if (!tag || !tag->counted)
		return;
	tag->counted = 0;
	/* nothing more to see on this socket: spare it the other callbacks */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_STATE_CB_FLAG);
	s = bpf_map_lookup_elem(&worker_stats, &tag->worker_id);
	if (!s || s->gen != tag->gen)
		return;
	__sync_fetch_and_sub(&s->outstanding, 1);
	__sync_fetch_and_add(&s->closed, 1);
	/* A counted socket reaches CLOSE only from an open state (a FIN of the
	 * worker ended the count before): a reset, from either side, or an
	 * accept queue flushed by a dying worker. */
	aborted = new == BPF_TCP_CLOSE;
	if (aborted)
		__sync_fetch_and_add(&s->aborted, 1);
	/* Health checks and other direct connections are not the service's
	 * traffic: only steered ones feed the pool's circuit breaker. */
	if (!tag->steered)
		return;
	__sync_fetch_and_add(&s->steered_closed, 1);
	if (aborted)
		__sync_fetch_and_add(&s->steered_aborted, 1);
	/* Its late segments are repeats, not new connections. Recorded after
	 * the worker's FIN too: a TIME_WAIT socket would catch them, but none
	 * is made when the client's data resets the closing socket or no
	 * TIME_WAIT bucket is left, and sockops cannot tell at the FIN (nor
	 * cheaply at the CLOSE: watching it costs two more callbacks a
	 * connection, ~0.35x the reference: docs/bench/FASTPATH.md). */
	recent_record_close(skops, tag->worker_id);
}

SEC("sockops")
int steer_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		count_open(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		count_done(skops);
		break;
	default:
		break;	/* every other callback: nothing to do */
	}
	/* 1: the operation goes on as it would without us; sockops only
	 * counts, it never vetoes a socket's callbacks */
	return 1;
}

/* A lobby's child meets its first read or write, in the process that
 * accepted it: it now belongs to that process's worker (lobby_take). An
 * fexit on inet_csk_accept would see the accept itself, but this kernel
 * refuses every fentry/fexit program (EPERM, even an empty one), while
 * raw BTF tracepoints load: sock_recvmsg and sock_sendmsg end in these
 * two. Every read and write on the machine runs them, and for all but a
 * lobby child they end at the storage lookup (no tag, or a worker's own
 * child). */
static __always_inline int lobby_io(struct sock *sk)
{
	struct steer_worker_tag *tag;

	if (!sk)
		return 0;
	tag = bpf_sk_storage_get(&worker_tags, sk, 0, 0);
	if (!tag || !tag->lobby)
		return 0;
	/* The lobby's listener holds the tag its children are cloned from: a
	 * recv or send on it (which fails, but runs the tracepoints) must not
	 * take it, or every later child would be born taken. */
	if (sk->__sk_common.skc_state == TCP_LISTEN)
		return 0;
	lobby_take(tag, (__u32)(bpf_get_current_pid_tgid() >> 32));
	return 0;
}

/* (struct sock *sk, int ret, int flags): ctx[0] is the socket */
SEC("tp_btf/sock_recv_length")
int steer_recv(unsigned long long *ctx)
{
	return lobby_io((struct sock *)ctx[0]);
}

SEC("tp_btf/sock_send_length")
int steer_send(unsigned long long *ctx)
{
	return lobby_io((struct sock *)ctx[0]);
}
