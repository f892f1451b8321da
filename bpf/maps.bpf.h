/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* maps.bpf.h - every map steer uses, one comment each. Keys and values live
 * in steer.h so userspace and bpftool see the same named fields. */
#ifndef STEER_MAPS_BPF_H
#define STEER_MAPS_BPF_H

#include "steer.h"

/* (port, address prefix) -> service and pool: the sk_lookup entry point.
 * A port range is stored as one entry per port. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, STEER_MAX_SERVICE_KEYS);
	__type(key, struct steer_service_key);
	__type(value, struct steer_service_target);
} services_lpm SEC(".maps");

/* service id -> name, prefix, ports, pool (config, for the CLI and bpftool) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct steer_service);
} services SEC(".maps");

/* service id -> lookups and refusals, per CPU: written on every SYN
 * (kernel-owned; zeroed by userspace when a service takes the slot) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct steer_service_stats);
} service_stats SEC(".maps");

/* service id -> refusals by cause (enum steer_refusal), per CPU
 * (kernel-owned; zeroed by userspace when a service takes the slot) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct steer_service_refusals);
} service_refusals SEC(".maps");

/* pool id -> name, policy, fallback and member worker ids (config) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct steer_pool);
} pools SEC(".maps");

/* pool id -> round-robin cursor and admission / hand-over counters
 * (kernel-owned) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct steer_pool_stats);
} pool_stats SEC(".maps");

/* pool id -> the rate's token bucket, under a spin lock (the quota and
 * probe budgets are in pool_budgets) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct steer_pool_limits);
} pool_limits SEC(".maps");

/* pool id -> admission quota and half-open probe budget (steer_pool_budget);
 * mmapable, so userspace sets one field without rewriting the others */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct steer_pool_budget);
} pool_budgets SEC(".maps");

/* pool id * STEER_TABLE_SIZE + slot -> worker id: the weighted table for
 * round-robin and random, the Maglev table for hash; built in userspace */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS * STEER_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} pool_tables SEC(".maps");

/* worker id -> name, pool, state, weight, health, cap, listener (config) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct steer_worker);
} workers SEC(".maps");

/* worker id -> outstanding and pending counts, connection counters
 * (kernel-owned; gen is set by userspace when the slot is reused) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct steer_worker_stats);
} worker_stats SEC(".maps");

/* worker id -> the worker's listening socket. The kernel drops the entry when
 * the socket closes, so a dead worker leaves the map by itself. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} worker_socks SEC(".maps");

/* listener socket -> worker tag; cloned into every accepted child */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct steer_worker_tag);
} worker_tags SEC(".maps");

/* pool id -> its lobby: address, generation, backlog (config; steer.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct steer_lobby);
} pool_lobbies SEC(".maps");

/* pool id -> the lobby's waiting, taken and sent counts (kernel-owned;
 * gen is set by userspace when a new lobby takes the slot) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct steer_lobby_stats);
} lobby_stats SEC(".maps");

/* pool id -> the lobby's listening socket; like worker_socks, the entry
 * leaves by itself when the listener closes */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, STEER_MAX_POOLS);
	__type(key, __u32);
	__type(value, __u64);
} lobby_socks SEC(".maps");

/* worker id -> connections it took from its pool's lobby (kernel-owned) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct steer_worker_lobby);
} worker_lobby SEC(".maps");

/* (tgid, pool id) -> the lobby-aware worker that process is: the accept
 * program's answer to "who took this lobby connection" (userspace) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, struct steer_tgid_key);
	__type(value, __u32);
} worker_by_tgid SEC(".maps");

/* hash(4-tuple) -> a set of the flows (exact 4-tuples) picked or closed
 * moments ago and their workers, so a repeat meets the same listener
 * (recent.bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_RECENT_SETS);
	__type(key, __u32);
	__type(value, struct steer_recent_set);
} recent_picks SEC(".maps");

/* set of recent_picks -> a byte of each way's tag and the next way to
 * fill: read first, so that recent_picks is read only when a byte matches
 * (recent.bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_RECENT_SETS);
	__type(key, __u32);
	__type(value, struct steer_recent_hint);
} recent_hints SEC(".maps");

/* 0 -> when a flow was last recorded in recent_picks: a decision long
 * after reads no hint and no set (recent.bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_recent_last);
} recent_last SEC(".maps");

/* steerctl monitor: slot -> that monitor's ring buffer of decision records
 * (steer_monitor_event). steerctl creates a ring of its own and puts it in
 * a free slot; an empty slot is skipped. */
struct steer_monitor_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STEER_MONITOR_RING_BYTES);
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, STEER_MONITOR_SLOTS);
	__type(key, __u32);
	__array(values, struct steer_monitor_ring);
} monitor_rings SEC(".maps");

/* 0 -> the monitors' leases and rate limits (steer_monitor_ctl); mmapable,
 * so each monitor renews its own lease without rewriting the others' */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct steer_monitor_ctl);
} monitor_ctl SEC(".maps");

/* 0 -> per CPU and slot: rate-limit state, records emitted and dropped
 * (kernel-owned) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_monitor_cpu);
} monitor_cpu SEC(".maps");

/* steerd's wake-up: the id of a pool whose quota_left an admission took
 * to its wake_at or to 0 (pool_budgets). steerd reads it with libbpf's
 * ring_buffer on the pin; nobody reading, records wait or are dropped
 * (steerd's backstop look at the budgets covers them). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STEER_BUDGET_WAKES_BYTES);
} budget_wakes SEC(".maps");

#endif /* STEER_MAPS_BPF_H */
