/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* state.h - services, pools and workers by name, on top of the pinned maps.
 * Every operation validates first and writes last, so bad input changes
 * nothing; it returns an steer_rc and leaves a one-line reason in err. */
#ifndef STEER_STATE_H
#define STEER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "loader.h"
#include "parse.h"
#include "sockets.h"

/* The named maps as arrays indexed by id (STEER_MAX_SERVICES, _POOLS,
 * _WORKERS records), from the snapshot: read in one batch the first time
 * while the writers' lock is held, kept exact by this process's writes
 * (and so changing under the caller's feet as it writes), forgotten at
 * unlock. NULL without the lock, or when it cannot be read. The lookups
 * below use it the same way, so a command or a reconcile pass costs one
 * read per map plus its writes, whatever the number of objects. */
const struct steer_service *state_services(const struct steer_maps *m);
const struct steer_pool *state_pools(const struct steer_maps *m);
const struct steer_worker *state_workers(const struct steer_maps *m);
/* A whole array map of max records of size into out: one batch syscall
 * where the kernel can, else one lookup per key. */
int steer_read_array(int fd, uint32_t max, size_t size, void *out);
/* For a reader (a listing, a metrics scrape, top): a copy of a whole array
 * map, indexed by id, in one read: a named map (MAP_SERVICES, MAP_POOLS,
 * MAP_WORKERS) or a stats map; a per-CPU map of counters (service_stats,
 * service_refusals) comes back summed, one record per id as the map's
 * struct. malloc'd (free() it); NULL for a map of another type or when it
 * cannot be read. */
void *state_read_all(const struct steer_maps *m, enum steer_map_id map);

int pool_find(const struct steer_maps *m, const char *name, uint32_t *id, struct steer_pool *out,
	      char *err);
int worker_find(const struct steer_maps *m, const char *name, uint32_t *id,
		struct steer_worker *out, char *err);
int service_find(const struct steer_maps *m, const char *name, uint32_t *id,
		 struct steer_service *out, char *err);

/* Objects this process creates get owner (enum steer_owner); steerctl
 * leaves the default, operator. */
void state_set_owner(uint32_t owner);
const char *owner_name(uint32_t owner);
/* Mark an existing object as owner's (steerd adopting one its file names). */
int pool_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err);
int worker_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err);
int service_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err);

int pool_add(const struct steer_maps *m, const char *name, uint32_t policy, const char *fallback,
	     char *err);
/* policy: NULL keeps it; fallback: NULL keeps it, "none" clears it */
int pool_set(const struct steer_maps *m, const char *name, const uint32_t *policy,
	     const char *fallback, char *err);
int pool_del(const struct steer_maps *m, const char *name, char *err);
/* Admission limits. quota: on with n admissions left, or off. rate: on
 * with rate (connections/s) and burst, or off. */
int pool_set_quota(const struct steer_maps *m, const char *name, bool on, int64_t n, char *err);
/* A budget steerd grants itself (a global quota, tokens): pool id's quota
 * switched on at 0 left if it is off, so that it admits nothing before the
 * first grant; the configured quota (quota_set) is left alone. */
int pool_quota_hold(const struct steer_maps *m, uint32_t id, char *err);
/* The same on a pool_budgets entry already mapped (steerd's mmap). */
void pool_budget_hold(struct steer_pool_budget *b);
/* A pool steerd now leases for had a local quota: its budget to 0, on, and
 * the local grant's record (quota_set) cleared, so that this runs once. */
int pool_quota_to_lease(const struct steer_maps *m, const char *name, char *err);
/* pool_budgets, every pool's entry, mapped for single-field atomic stores
 * (a map write would put back a copy of the whole value, undoing what the
 * kernel spent since); NULL on failure, errno set. */
struct steer_pool_budget *pool_budgets_map(const struct steer_maps *m);
void pool_budgets_unmap(struct steer_pool_budget *b);
int pool_set_rate(const struct steer_maps *m, const char *name, bool on, double rate,
		  uint32_t burst, char *err);
/* Who sets a circuit: steerd leaves alone a circuit an operator forced,
 * until the operator releases it (`steerctl circuit POOL auto`). */
enum circuit_setter {
	CIRCUIT_BY_DAEMON,
	CIRCUIT_FORCE,		/* operator: hold this state */
	CIRCUIT_RELEASE,	/* operator: closed, and steerd decides again */
	CIRCUIT_BY_FLEET,	/* steerd, for the fleet (as by the daemon, marked circuit_fleet) */
};
/* probes: half-open probe connections allowed */
int pool_set_circuit(const struct steer_maps *m, const char *name, uint32_t circuit,
		     enum circuit_setter who, uint32_t probes, char *err);
int pool_limits_read(const struct steer_maps *m, uint32_t id, struct steer_pool_limits *out);
int pool_budget_read(const struct steer_maps *m, uint32_t id, struct steer_pool_budget *out);
const char *circuit_name(uint32_t circuit);
int pool_rebuild_table(const struct steer_maps *m, uint32_t pool_id, char *err);

int service_add(const struct steer_maps *m, const char *name, const struct steer_prefix *prefix,
		uint16_t port_lo, uint16_t port_hi, const char *pool, char *err);
int service_del(const struct steer_maps *m, const char *name, char *err);
/* Point a service at another pool in place: its keys never go missing. */
int service_set_pool(const struct steer_maps *m, const char *name, const char *pool, char *err);
/* its LPM entries are in place (a service_add was not cut short) */
bool service_keys_live(const struct steer_maps *m, uint32_t id, const struct steer_service *s);

struct worker_params {
	uint32_t weight;
	uint32_t maxconn;
	bool auto_weight;	/* weight came from its CPU allowance: STEER_WORKER_F_AUTO_WEIGHT */
	uint32_t slots;		/* connections it serves at once, 1..STEER_SLOTS_MAX; 0: not
				 * lobby-aware */
};
/* Takes ownership of l->fd: it is closed before return, in every case.
 * The same name again in the same pool replaces the entry in place when
 * its listener died or the address is the same: the same listener is a
 * no-op (counts kept), a new one starts afresh (new generation, counts 0,
 * state up; owner and health kept). A rerun completes an interrupted add. */
int worker_add(const struct steer_maps *m, const char *pool, const char *name,
	       struct listener *l, const struct worker_params *params, char *err);
/* Any of weight, maxconn, state may be NULL to keep it. A weight given
 * here is the operator's: it ends an auto weight. */
int worker_update(const struct steer_maps *m, const char *name, const uint32_t *weight,
		  const uint32_t *maxconn, const uint32_t *state, char *err);
/* The same with an auto weight (derived from its CPU allowance), marked so
 * in its flags; maxconn may be NULL. */
int worker_update_auto(const struct steer_maps *m, const char *name, uint32_t weight,
		       const uint32_t *maxconn, char *err);
int worker_del(const struct steer_maps *m, const char *name, char *err);
/* Its slots (0: not lobby-aware). A lobby-aware worker is known to the
 * kernel by its process (pid when added): one process may be one
 * lobby-aware worker of a pool, a second is refused. */
int worker_set_slots(const struct steer_maps *m, const char *name, uint32_t slots, char *err);

/* A pool's lobby: a listening socket every lobby-aware worker of the pool
 * also accepts from (takes ownership of l->fd, closed before return), or
 * with l NULL none. The same socket again is a no-op (counts kept). */
int pool_set_lobby(const struct steer_maps *m, const char *name, struct listener *l, char *err);
/* The lobby is registered and its socket is still in lobby_socks. */
bool pool_lobby_alive(const struct steer_maps *m, uint32_t pool_id);
int pool_lobby_read(const struct steer_maps *m, uint32_t pool_id, struct steer_lobby *lb,
		    struct steer_lobby_stats *st);
/* connections worker id took from its pool's lobby (0 for another generation) */
uint64_t worker_lobby_taken(const struct steer_maps *m, uint32_t id,
			    const struct steer_worker_stats *st);
/* The same entry (socket, counts, state) under another name. */
int worker_rename(const struct steer_maps *m, const char *name, const char *new_name, char *err);
/* steerd's health factor (per-mille) for worker id, if it still is name. */
int worker_set_health(const struct steer_maps *m, uint32_t id, const char *name, uint32_t health,
		      char *err);

/* The worker's socket is still in worker_socks (its listener is open). */
bool worker_listener_alive(const struct steer_maps *m, uint32_t id);

int worker_stats_read(const struct steer_maps *m, uint32_t id, struct steer_worker_stats *out);
int service_stats_read(const struct steer_maps *m, uint32_t id, struct steer_service_stats *out);
/* Refusals by cause (per-CPU sums); each field is steer_refusal_names[i]
 * (the field names of struct steer_service_refusals), in enum order. */
int service_refusals_read(const struct steer_maps *m, uint32_t id,
			  struct steer_service_refusals *out);
extern const char *const steer_refusal_names[STEER_REFUSE_COUNT];
/* pending count as the kernel sees it now */
uint64_t worker_stats_pending(const struct steer_worker_stats *s);

#endif
