/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * circuit_share.h - a pool's circuit shared by a fleet, the pure part: the
 * rule that turns the fleet's count into the kernel's state, when a host
 * writes its own state to Redis, the names and the script. fleet_circuit.c
 * runs it over steerd's Redis connections; monitor.c applies its verdict.
 *
 * The rule: each host publishes its own breaker (open or half-open count as
 * "open": it tripped and is still judging). A pool is open fleet-wide while
 * circuit_hosts or more hosts publish it open, and Redis answers now; then a
 * host whose own breaker is closed writes OPEN to the kernel ("open by the
 * fleet"). A host whose own breaker tripped keeps its own state, half-open
 * and probes included: only those hosts probe, and their recovery (own
 * breakers closing) is what brings the count under circuit_hosts and
 * closes the others. Without Redis a host has its own breaker only.
 */
#ifndef STEER_CIRCUIT_SHARE_H
#define STEER_CIRCUIT_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The script, one EVAL per write: KEYS[1] the pool's set of open hosts;
 * ARGV host_id, "1" (own open) or "0", ttl_ms, channel, pool. Entries past
 * their expiry (Redis TIME) are dropped first; a change (ours or an
 * expiry) is published on the channel as a message (circuit_share_parse).
 * Returns { hosts open now, Redis time in ms }. */
extern const char circuit_share_lua[];

/* What this host knows of a pool's fleet circuit. Zero: nothing yet. */
struct circuit_share {
	bool known;		/* hosts_open is Redis's answer (since seen_local_ms) */
	uint32_t hosts_open;	/* hosts whose own breaker is not closed */
	uint64_t seen_redis_ms;	/* Redis time of that count: an older one is dropped */
	uint64_t seen_local_ms;	/* our clock when it came */
	bool written;		/* a write of ours took ... */
	bool written_open;	/* ... with this state */
	bool inflight;		/* a write waits for its answer */
	uint64_t next_write_ms;	/* the periodic write (refresh and backstop read) */
	uint64_t hint_ms;	/* when a message last made us ask */
};

/* A message on the channel is a hint, never the count: whoever can PUBLISH
 * could forge one ("1000000 hosts", another pool's name, a Redis time far
 * ahead that would make every later answer look old). It makes the host
 * ask the script at once, at most once per STEER_FLEET_CIRCUIT_HINT_MS a
 * pool (a flood of messages costs Redis no more), and the script's answer
 * is what the host applies. */
#define STEER_FLEET_CIRCUIT_HINT_MS	20
/* A message named this pool: true when a write (and so a read) is to go
 * out now; when one is in flight, the next tick's write follows instead. */
bool circuit_share_hint(struct circuit_share *s, uint64_t now);

/* Own breaker state (enum steer_circuit) as this host publishes it. */
bool circuit_share_own_open(uint32_t own_state);
/* Open fleet-wide now: a count no older than ttl_ms says circuit_hosts
 * or more hosts see the pool open. */
bool circuit_share_fleet_open(const struct circuit_share *s, uint32_t circuit_hosts,
			      uint32_t ttl_ms, uint64_t now);
/* The state the kernel gets; *by_fleet: open only because of the fleet. */
uint32_t circuit_share_effective(uint32_t own_state, bool fleet_open, bool *by_fleet);
/* Is a write due: none in flight, and our state is not the one Redis has
 * or the periodic write has come round? */
bool circuit_share_due(const struct circuit_share *s, bool own_open, uint64_t now);
/* A write went out (its answer comes to circuit_share_answer). */
void circuit_share_sent(struct circuit_share *s, uint64_t now, uint32_t sync_ms);
/* A write's answer; ok false: it failed (sent again at the next tick). */
void circuit_share_answer(struct circuit_share *s, bool ok, bool own_open);
/* A count from Redis at redis_ms, from a write's answer or a message;
 * true when it changed what this host knows. */
bool circuit_share_apply(struct circuit_share *s, uint32_t hosts, uint64_t redis_ms,
			 uint64_t now);
/* Redis is gone (or back): forget the count; write again at once. */
void circuit_share_lost(struct circuit_share *s);

/* "<prefix>:{<pool>}:open": the hash tag keeps a pool's keys in one slot. */
int circuit_share_key(char *buf, size_t len, const char *prefix, const char *pool);
/* "<prefix>:circuit": one channel for every pool (messages name theirs). */
int circuit_share_channel(char *buf, size_t len, const char *prefix);
/* A message: "<pool> <hosts> <redis_ms> <host_id> <0|1>"; 0 when it is one,
 * with pool (poollen bytes) and the count. */
int circuit_share_parse(const char *msg, size_t len, char *pool, size_t poollen,
			uint32_t *hosts, uint64_t *redis_ms);

#endif
