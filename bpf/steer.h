/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * steer.h - every BPF map key and value, shared by the kernel programs and
 * userspace. Plain fixed-width types only, so one definition serves both
 * sides and `bpftool map dump` shows named fields through BTF.
 *
 * Ownership: "config" structs are written by userspace only; "stats" structs
 * are written by the kernel programs (userspace only resets them when a slot
 * is reused). Keeping the writers apart means neither side clobbers the other.
 */
#ifndef STEER_H
#define STEER_H

#ifdef __BPF__
/* vmlinux.h already defines __u8 .. __u64 and struct bpf_spin_lock */
#else
#include <linux/types.h>
#include <linux/bpf.h>
#endif

#define STEER_NAME_LEN		32	/* names of services, pools, workers, NUL included */
#define STEER_MAX_SERVICES	256
#define STEER_MAX_SERVICE_KEYS	65536	/* LPM entries: one per (prefix, port) */
#define STEER_MAX_PORT_SPAN	4096	/* ports in one service's range */
#define STEER_MAX_POOLS		64
#define STEER_MAX_WORKERS	4096	/* worker ids across all pools */
#define STEER_MAX_POOL_WORKERS	1024
#define STEER_TABLE_SIZE	16381	/* prime: Maglev / weighted table slots per pool */
#define STEER_NONE		0xffffffffu	/* "no pool" / "no worker" */

/* least-conn scans pools up to this size exactly; above, two random choices */
#define STEER_SCAN_MAX		16
/* a pool may hand over to its fallback this many times per connection */
#define STEER_MAX_HOPS		4

#define STEER_WEIGHT_MAX	10000	/* admin weight range 0..10000, 0 = no new connections */
#define STEER_HEALTH_FULL	1000	/* health factor in per-mille; daemon-owned */

/* pending ("selected, not yet established") counts live in two buckets of
 * 2^STEER_PENDING_SHIFT ns (~268 ms): a SYN that never completes is forgotten
 * after at most two buckets, yet a burst still sees its own selections. */
#define STEER_PENDING_SHIFT	28

/* Who made a service, pool or worker (its `owner` field). steerd removes
 * what it owns and its file no longer names; an operator's objects (made
 * with steerctl) it never touches. Kept in the maps, so it survives
 * restarts of either tool. */
enum steer_owner {
	STEER_OWNER_OPERATOR = 0,
	STEER_OWNER_STEERD = 1,
};

enum steer_policy {
	STEER_POLICY_LEAST_CONN = 0,	/* weighted least outstanding */
	STEER_POLICY_ROUND_ROBIN = 1,	/* weighted, through the pool table */
	STEER_POLICY_RANDOM = 2,	/* weighted, through the pool table */
	STEER_POLICY_HASH = 3,		/* source address, Maglev table */
	STEER_POLICY_COUNT,
};

enum steer_worker_state {
	STEER_WORKER_UP = 0,
	STEER_WORKER_DRAIN = 1,	/* keeps its connections, gets no new ones */
	STEER_WORKER_DOWN = 2,	/* gets no new connections (health / operator) */
};

/* A pool's circuit breaker, set by steerd (or `steerctl circuit`). */
enum steer_circuit {
	STEER_CIRCUIT_CLOSED = 0,	/* normal */
	STEER_CIRCUIT_OPEN = 1,		/* every new connection goes to the fallback */
	STEER_CIRCUIT_HALF_OPEN = 2,	/* pool_budgets.probes_left connections try the pool */
};

/* worker_config.family_mask: which service families the listener can take */
#define STEER_FAMILY_V4		1u
#define STEER_FAMILY_V6		2u

/* LPM key of the services map. The port and the family come first and are
 * always matched in full (STEER_LPM_FIXED_BITS), so the longest-prefix match
 * runs over the address only and never across families: an IPv6 prefix,
 * even ::/0, cannot match an IPv4 packet. IPv4 addresses take addr[0..3]
 * (the rest is 0), IPv6 all 16 bytes. IPv4-mapped IPv6 prefixes
 * (::ffff:0:0/96) are refused by the parser: the IPv4 form says the same. */
#define STEER_LPM_FIXED_BITS	24	/* port (16) + family (8) */
struct steer_service_key {
	__u32 prefixlen;	/* STEER_LPM_FIXED_BITS + address prefix length */
	__u16 port;		/* host order: matched whole, so byte order is moot */
	__u8 family;		/* STEER_FAMILY_V4 or STEER_FAMILY_V6 */
	__u8 addr[16];
} __attribute__((packed));

struct steer_service_target {
	__u32 service_id;
	__u32 pool_id;
};

/* recent_picks: where each flow went in the last moments. sk_lookup sees
 * no TCP flags, and some segments that are not new connections reach it:
 * with SYN cookies the handshake's final ACK (only the listener that sent
 * the cookie accepts it), a retransmitted SYN, and late segments of a
 * connection that just closed (sockops records the flow when a steered
 * connection closes; sk_lookup records a pick only when its SYN may come
 * back: syn_may_return in recent.bpf.h). Such a repeat goes where the
 * first packet went and counts as no new selection, so it costs no
 * round-robin turn, quota unit or token.
 * A repeat is the same flow: the whole 4-tuple, compared exactly (a hash
 * alone would let two flows alias, and a partial key sends one service's
 * connections to another's workers). It is honoured only while its worker
 * is still one the service may use now (recent.bpf.h).
 * A 4-way set-associative cache: a hash of the flow picks a set; an
 * eviction only forgets a hint (an LRU hash cost ~0.5 us per SYN here). */
#define STEER_RECENT_SET_BITS	12
#define STEER_RECENT_SETS	(1u << STEER_RECENT_SET_BITS)	/* 192 B each: 768 KiB */
#define STEER_RECENT_WAYS	4

/* A repeat older than this is a new connection that reuses the tuple (on
 * loopback, tcp_tw_reuse lets a client do that at once). It covers a
 * cookie ACK within a 1 s round trip, the first SYN retransmit and the
 * late segments of a closed connection. */
#define STEER_REPEAT_MS		1100

/* A flow as both programs see it, network order: each address as four
 * words, IPv4 as IPv4-mapped (::ffff:a.b.c.d), which is also how a
 * dual-stack worker's child socket holds an IPv4 client and the address
 * it dialled. ports = client port << 16 | service port, host order. */
struct steer_flow {
	__u32 client[4];
	__u32 service[4];
	__u32 ports;
};

struct steer_flow_addrs {
	__u32 client[4];
	__u32 service[4];
};

/* One set, as a struct of arrays: a scan reads the tags, stamps, workers
 * and ports of all four ways from the first 64 bytes, and the addresses
 * (two ways to a cache line) only for a way whose tag and ports match,
 * which for a new connection is almost never. An array of 48-byte
 * entries would spread every scan over three cache lines. */
struct steer_recent_set {
	__u32 tag[STEER_RECENT_WAYS];		/* 32-bit hash of the flow; 0 = empty */
	__u32 stamp_ms[STEER_RECENT_WAYS];	/* steer_clock_ns() / 2^20 (~1.05 ms units) */
	__u32 worker_id[STEER_RECENT_WAYS];
	__u32 ports[STEER_RECENT_WAYS];		/* steer_flow.ports */
	struct steer_flow_addrs addr[STEER_RECENT_WAYS];
};
_Static_assert(__builtin_offsetof(struct steer_recent_set, addr) == 64,
	       "a scan reads one cache line");
_Static_assert(sizeof(struct steer_recent_set) == 192, "recent_picks set size");

/* recent_hints, beside recent_picks: per set, one byte of each way's tag
 * (0: empty) and the way to fill next (the oldest: ways fill in turn).
 * 8 bytes a set, 32 KiB in all, which stays in cache where the 768 KiB of
 * recent_picks does not: a new connection, whose byte matches no way but
 * 1 time in 64, reads no line of recent_picks (a miss cost ~0.8x the whole
 * reference program: docs/bench/FASTPATH.md). */
struct steer_recent_hint {
	__u8 fp[STEER_RECENT_WAYS];
	__u8 next;
	__u8 pad[3];
};
_Static_assert(sizeof(struct steer_recent_hint) == 8, "recent_hints entry size");

/* recent_last, one entry: when a flow was last recorded (either program).
 * A decision more than STEER_REPEAT_MS later reads neither recent_hints
 * nor recent_picks: nothing there can be fresh. 0: nothing recorded since
 * the load; upgrade writes STEER_RECENT_SWAPPED, for what the running
 * version may have recorded. */
struct steer_recent_last {
	__u32 stamp_ms;		/* steer_clock_ns() / 2^20, as steer_recent_set.stamp_ms */
};
/* recent_last.stamp_ms an upgrade writes: the new programs' first
 * decision stamps its own clock (userspace's may be another: a time
 * namespace) */
#define STEER_RECENT_SWAPPED	0xffffffffu

/* services: array, key = service id. Config; read by the CLI and bpftool. */
struct steer_service {
	char name[STEER_NAME_LEN];
	__u32 in_use;
	__u32 pool_id;
	__u8 addr[16];		/* IPv4-mapped for IPv4 */
	__u32 prefixlen;	/* as the user wrote it: 0..32 or 0..128 */
	__u32 family;		/* STEER_FAMILY_V4 or STEER_FAMILY_V6 */
	__u16 port_lo;
	__u16 port_hi;
	__u32 owner;		/* enum steer_owner */
};

/* service_stats: per-CPU array, key = service id. Kernel-owned. */
struct steer_service_stats {
	__u64 lookups;		/* packets that matched this service */
	__u64 refused;		/* dropped: no pool on the chain took it (all causes) */
};

/* Why sk_lookup refused a service's connection (SK_DROP, the client gets a
 * RST): the outcome of the last pool it tried. Each is a field of
 * steer_service_refusals, in this order. */
enum steer_refusal {
	STEER_REFUSE_NO_POOL = 0,	/* the service's pool, or a fallback it names, is not in use */
	STEER_REFUSE_HOPS = 1,		/* the fallback chain goes on past STEER_MAX_HOPS pools */
	STEER_REFUSE_ADMISSION = 2,	/* circuit open, quota or rate spent, and no fallback */
	STEER_REFUSE_NO_WORKER = 3,	/* no member usable (state, weight, family, cap), no fallback */
	STEER_REFUSE_GONE = 4,		/* the worker picked had closed its listener (and no other) */
	STEER_REFUSE_ASSIGN = 5,	/* bpf_sk_assign() refused the listener picked */
	STEER_REFUSE_COUNT,
};

/* service_refusals: per-CPU array, key = service id. Kernel-owned. A map of
 * its own, not more fields in steer_service_stats: upgrade carries a map
 * over only in the same layout, and creates one the running version lacks.
 * The fields sum to steer_service_stats.refused. */
struct steer_service_refusals {
	__u64 no_pool;
	__u64 hops_exhausted;
	__u64 admission;
	__u64 no_worker;
	__u64 listener_gone;
	__u64 assign_failed;
};
_Static_assert(sizeof(struct steer_service_refusals) == STEER_REFUSE_COUNT * sizeof(__u64),
	       "one counter per enum steer_refusal");

/* pools: array, key = pool id. Config. */
struct steer_pool {
	char name[STEER_NAME_LEN];
	__u32 in_use;
	__u32 policy;		/* enum steer_policy */
	__u32 fallback;		/* pool id, or STEER_NONE */
	__u32 table_len;	/* slots in use in pool_tables (0 = none built) */
	__u32 circuit;		/* enum steer_circuit */
	__u32 circuit_forced;	/* 1: an operator set the circuit; steerd leaves it */
	__u32 owner;		/* enum steer_owner */
	__u32 quota_set;	/* 1: quota_conf is the quota last granted */
	__u64 quota_conf;	/* the quota last granted (pool_budgets spends it) */
	__u32 nworkers;
	__u32 members[STEER_MAX_POOL_WORKERS];	/* worker ids */
	/* 1: steerd opened the circuit for the fleet, its own breaker closed.
	 * Last, in what was padding: the offsets and size are those of before,
	 * so an upgrade keeps a running pools map. */
	__u32 circuit_fleet;
};
_Static_assert(sizeof(struct steer_pool) % 8 == 0 && sizeof(struct steer_pool) ==
	       STEER_NAME_LEN + 8 * 4 + 8 + 4 + STEER_MAX_POOL_WORKERS * 4 + 4,
	       "steer_pool's layout: circuit_fleet took the padding");

/* pool_stats: array, key = pool id. Kernel-owned. */
struct steer_pool_stats {
	__u64 rr_next;		/* round-robin cursor */
	__u64 selected;		/* connections given to one of this pool's workers */
	__u64 fallback_out;	/* handed to the fallback pool (any reason) */
	__u64 refused;		/* not admitted or no worker took it, and no fallback */
	__u64 spilled;		/* quota or rate exhausted: not admitted (fallback or refusal) */
	__u64 circuit_out;	/* circuit open, or half-open out of probes: not admitted */
	__u64 probes;		/* half-open probe connections let through */
};

/* token amounts and rates are kept x STEER_MILLI: fractions of a token */
#define STEER_MILLI		1000ull

/* pool_limits: array, key = pool id. The token bucket, and only that (the
 * quota and probe budgets are in pool_budgets): set by userspace, which
 * writes it whole (BPF_F_LOCK) only to set a rate, and spent by the kernel
 * under the lock. */
struct steer_pool_limits {
	struct bpf_spin_lock lock;	/* guards the whole bucket */
	__u32 rate_on;
	__u64 rate_milli;	/* tokens per second x 1000 */
	__u64 burst_milli;	/* bucket size x 1000 */
	__u64 tokens_milli;	/* kernel: tokens now x 1000 */
	__u64 refill_ns;	/* kernel: last refill */
};

/* pool_budgets: mmapable array, key = pool id. Budgets the kernel spends a
 * unit at a time with atomics. Userspace sets one field at a time through
 * the map's mmap, so setting a quota never writes back a stale copy of the
 * probe budget the kernel is spending, nor the reverse. */
struct steer_pool_budget {
	__u32 quota_on;
	/* 0 off; else sk_lookup writes the pool id to budget_wakes when an
	 * admission takes quota_left from wake_at, or takes its last unit, so
	 * steerd asks for the next lease at once instead of polling (was
	 * padding: the layout is the same, so upgrade keeps the map) */
	__u32 wake_at;
	__s64 quota_left;	/* admissions left while quota_on */
	__s64 probes_left;	/* half-open: probe connections still allowed */
};
_Static_assert(sizeof(struct steer_pool_budget) == 24 &&
	       __builtin_offsetof(struct steer_pool_budget, wake_at) == 4 &&
	       __builtin_offsetof(struct steer_pool_budget, quota_left) == 8 &&
	       __builtin_offsetof(struct steer_pool_budget, probes_left) == 16,
	       "steer_pool_budget's layout: wake_at took the padding");

/* budget_wakes: a ring of pool ids (__u32), one record a crossing of a
 * pool's wake_at or its last unit: at most 2 a lease, so a page holds
 * hundreds of pools' wake-ups between two reads by steerd */
#define STEER_BUDGET_WAKES_BYTES	4096

/* workers: array, key = worker id. Config. */
struct steer_worker {
	char name[STEER_NAME_LEN];
	__u32 in_use;
	__u32 pool_id;
	__u32 state;		/* enum steer_worker_state (operator) */
	__u32 weight;		/* admin weight, 0..STEER_WEIGHT_MAX (operator) */
	__u32 health;		/* health factor per-mille (daemon), 1000 = full */
	__u32 maxconn;		/* 0 = no cap */
	__u32 family_mask;	/* STEER_FAMILY_* */
	__u32 gen;		/* matches worker_stats.gen and worker_tag.gen */
	__u32 pid;		/* owner process when added, for operators */
	__u16 port;		/* listener's port, host order */
	__u16 slots;		/* connections it serves at once: 0 = not lobby-aware
				 * (was padding: the layout is the same, so upgrade
				 * carries the map over) */
	__u8 addr[16];		/* listener's address, IPv4-mapped for IPv4 */
	__u64 cookie;		/* listener's socket cookie */
	__u32 owner;		/* enum steer_owner */
	__u32 flags;		/* STEER_WORKER_F_* (userspace only) */
};

#define STEER_SLOTS_MAX		65535	/* steer_worker.slots is 16 bits */

/* steer_worker.flags */
#define STEER_WORKER_F_AUTO_WEIGHT	(1u << 0)	/* weight derived from its CPU
							 * allowance; steerd keeps it */

/* worker_stats: array, key = worker id. Kernel-owned, updated atomically. */
struct steer_worker_stats {
	__s64 outstanding;	/* connections of this worker's listener it has not closed */
	__u64 selected;		/* new connections sk_lookup picked it for (not repeats) */
	__u64 established;	/* connections established (steered or direct) */
	__u64 steered;		/* established through a service address */
	__u64 closed;
	__u64 aborted;		/* closed straight from an open state: a reset */
	__u64 steered_closed;	/* closed, of the steered ones */
	__u64 steered_aborted;	/* reset, of the steered ones (the circuit's input) */
	__u32 pending[2];	/* selected, not yet established, per time bucket */
	__u32 pending_epoch[2];	/* bucket tags */
	__u32 gen;		/* bumped by userspace when the slot gets a new worker */
	__u32 gone;		/* kernel saw the listener missing from worker_socks */
};

/* worker_tags: socket storage on each worker's listener, cloned into every
 * child socket (BPF_F_CLONE). It is how sockops knows a socket is a worker's
 * connection without a per-connection tuple map. */
struct steer_worker_tag {
	union {
		struct {
			__u32 worker_id;	/* a lobby child: STEER_HOLD_* | id */
			__u32 gen;
		};
		__u64 hold;	/* a lobby child: both, changed by compare and swap */
	};
	__u16 counted;		/* this child holds +1 in outstanding (not a lobby child) */
	__u16 steered;		/* it came through a service address */
	__u16 port;		/* listener's port: a different local port = steered */
	__u16 lobby;		/* 1: a lobby's child, counted through hold (was padding) */
};

/* ---- the lobby: one shared accept queue per pool (join-idle-queue) ----
 * A lobby child's tag says in one 64-bit word (hold) who holds it: the
 * lobby of pool P while it waits, worker W once a worker's process took it
 * (the accept program moves it), or a process that is no worker of the
 * pool (stray); and whether it holds a count (it reached ESTABLISHED and
 * has not closed). The established and close callbacks run under the
 * child's lock, one after the other; only the accept races them, so each
 * change is a compare and swap of the whole word, and a count moves with
 * the owner in the same swap: nothing counts twice or leaks. */
#define STEER_HOLD_COUNTED	(1u << 31)	/* holds +1 on its owner */
#define STEER_HOLD_LOBBY	(1u << 30)	/* owner: pool id's lobby (waiting) */
#define STEER_HOLD_STRAY	(1u << 29)	/* owner: pool id, taken by no worker */
#define STEER_HOLD_ID		0xffffu		/* the worker or pool id */

/* recent_picks.worker_id of a flow sent to pool id's lobby: a repeat
 * (a SYN-cookie ACK above all) must meet the lobby listener again */
#define STEER_LOBBY_PICK	(1u << 30)
/* recent_picks.worker_id recorded at the close, not at the pick: a late
 * segment, or a new SYN that reuses the 4-tuple, so it is checked against
 * the pool's admission (a pick's repeat, a SYN-cookie ACK, was admitted) */
#define STEER_CLOSED_FLOW	(1u << 29)

/* pool_lobbies: array, key = pool id. Config (userspace). A lobby is a
 * listening socket every lobby-aware worker of the pool also accepts from;
 * its socket is lobby_socks[pool id]. A map of its own: upgrade carries a
 * map over only in the same layout, and creates one the running version
 * lacks. */
struct steer_lobby {
	__u32 in_use;
	__u32 gen;		/* matches lobby_stats.gen and the lobby tag's gen */
	__u32 backlog;		/* listen()'s backlog when registered, for operators (the
				 * kernel reads the live one from the socket) */
	__u32 family_mask;	/* STEER_FAMILY_* the listener can take */
	__u32 pid;		/* the process that held it when registered */
	__u16 port;		/* host order */
	__u16 pad;
	__u8 addr[16];		/* IPv4-mapped for IPv4 */
	__u64 cookie;		/* the listener's socket cookie */
};

/* lobby_stats: array, key = pool id. Kernel-owned, updated atomically. */
struct steer_lobby_stats {
	__s64 waiting;		/* established in the lobby's queue, not yet accepted */
	__s64 stray;		/* taken by a process that is no worker of the pool, open */
	__u64 sent;		/* new connections sk_lookup gave the lobby */
	__u64 taken;		/* accepted from the lobby by a worker of the pool */
	__u64 stray_total;	/* accepted from the lobby by another process */
	__u32 gen;		/* set by userspace when a new lobby takes the slot */
	__u32 gone;		/* kernel saw the listener missing from lobby_socks */
};

/* worker_lobby: array, key = worker id. Kernel-owned (gen by userspace). */
struct steer_worker_lobby {
	__u64 taken;		/* connections it accepted from its pool's lobby */
	__u32 gen;		/* the worker's generation these belong to */
	__u32 pad;
};

/* worker_by_tgid: (process, pool) -> its lobby-aware worker, written by
 * userspace, read by the accept program: who took a lobby connection. */
struct steer_tgid_key {
	__u32 tgid;
	__u32 pool_id;
};

/* ---- steerctl monitor: one record per steering decision ----
 * Off by default. Each running monitor owns a slot: its own ring buffer in
 * monitor_rings and a lease in monitor_ctl that it renews every second. A
 * slot emits while bpf_ktime_get_ns() < its deadline, so a monitor killed
 * with -9 stops costing anything within one lease, with no one to clean
 * up. One ring per reader, not one shared ring: a BPF ring buffer has one
 * consumer position, and two readers of one ring would take each other's
 * records. */
#define STEER_MONITOR_SLOTS	4		/* monitors at once */
#define STEER_MONITOR_RING_BYTES (256 * 1024)	/* per monitor: ~2,900 records */
#define STEER_MONITOR_POLL_MS	50	/* the reader's poll: at most this late */

/* What a decision came to (steer_monitor_event.cause). */
enum steer_monitor_cause {
	STEER_MON_ASSIGNED = 0,	/* the service's own pool took it */
	STEER_MON_REPEAT = 1,	/* the same flow again: back to its worker */
	STEER_MON_FALLBACK = 2,	/* a pool on the fallback chain took it */
	STEER_MON_PROBE = 3,	/* a half-open pool took it as a probe */
	STEER_MON_REFUSED = 4,	/* SK_DROP: refusal says why */
	STEER_MON_LOBBY = 5,	/* every worker busy: to the pool's lobby to wait */
	STEER_MON_CAUSE_COUNT,
};

/* Why the service's own pool passed the connection on (steer_monitor_event.why):
 * to its fallback, or to a refusal. */
enum steer_monitor_why {
	STEER_WHY_NONE = 0,
	STEER_WHY_CIRCUIT = 1,	/* circuit open, or half-open with no probe left */
	STEER_WHY_QUOTA = 2,	/* admission quota spent */
	STEER_WHY_RATE = 3,	/* token bucket empty */
	STEER_WHY_NO_WORKER = 4,	/* no usable member */
	STEER_WHY_GONE = 5,	/* the worker picked had closed its listener */
	STEER_WHY_ASSIGN = 6,	/* bpf_sk_assign() refused the listener */
	STEER_WHY_NO_POOL = 7,	/* the pool is not in use */
	STEER_WHY_COUNT,
};

/* One record in a monitor's ring. Addresses as steer_flow holds them
 * (network order, IPv4 as IPv4-mapped); ports host order. */
struct steer_monitor_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 client[4];
	__u32 service[4];	/* the address the client dialled */
	__u16 client_port;
	__u16 service_port;
	__u32 service_id;
	__u32 first_pool;	/* the service's pool */
	__u32 pool;		/* the pool that took it, or the last one tried */
	__u32 worker;		/* STEER_NONE when refused */
	__u8 cause;		/* enum steer_monitor_cause */
	__u8 why;		/* enum steer_monitor_why: the first pool's hand-over */
	__u8 refusal;		/* enum steer_refusal when refused */
	__u8 hops;		/* pools tried after the first */
};

/* A monitor's slot: its lease and rate limit (set by steerctl). */
struct steer_monitor_slot {
	__u64 deadline_ns;	/* emits while bpf_ktime_get_ns() < this; 0 = free */
	__u32 rate;		/* records per second per CPU */
	__u32 burst;		/* records at once per CPU */
};

/* monitor_ctl: mmapable array, one entry, written by steerctl one field at
 * a time (several monitors write it). deadline_ns is the latest of the
 * slots' deadlines: the one test every decision pays while no one watches. */
struct steer_monitor_ctl {
	__u64 deadline_ns;
	struct steer_monitor_slot slot[STEER_MONITOR_SLOTS];
};

/* monitor_cpu: per-CPU, one entry. Kernel-owned; a monitor reads its
 * slot's counters as a baseline when it starts. */
struct steer_monitor_cpu_slot {
	__u64 tat_ns;		/* rate limit: when the next record is due (GCRA) */
	__u64 emitted;		/* records written to the ring */
	__u64 dropped;		/* over the rate, or the ring was full */
};
struct steer_monitor_cpu {
	struct steer_monitor_cpu_slot slot[STEER_MONITOR_SLOTS];
};

#endif /* STEER_H */
