/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* loader.h - load, pin, attach and unload steer; open the pinned maps.
 * Everything lives under <bpffs>/steer so steering needs no process of ours. */
#ifndef STEER_LOADER_H
#define STEER_LOADER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

/* Return codes, also the tools' exit statuses. */
enum steer_rc {
	STEER_OK = 0,
	STEER_ESYS = 1,		/* the system failed us */
	STEER_EINPUT = 2,	/* the operator asked for something invalid */
};

enum steer_map_id {
	MAP_SERVICES_LPM,
	MAP_SERVICES,
	MAP_SERVICE_STATS,
	MAP_SERVICE_REFUSALS,
	MAP_POOLS,
	MAP_POOL_STATS,
	MAP_POOL_LIMITS,
	MAP_POOL_BUDGETS,
	MAP_POOL_TABLES,
	MAP_WORKERS,
	MAP_WORKER_STATS,
	MAP_WORKER_SOCKS,
	MAP_WORKER_TAGS,
	MAP_POOL_LOBBIES,
	MAP_LOBBY_STATS,
	MAP_LOBBY_SOCKS,
	MAP_WORKER_LOBBY,
	MAP_WORKER_BY_TGID,
	MAP_RECENT_PICKS,
	MAP_RECENT_HINTS,
	MAP_RECENT_LAST,
	MAP_MONITOR_RINGS,
	MAP_MONITOR_CTL,
	MAP_MONITOR_CPU,
	MAP_BUDGET_WAKES,
	MAP_COUNT,
};

extern const char *const steer_map_names[MAP_COUNT];

struct steer_paths {
	char root[PATH_MAX];	/* the bpffs mount: /sys/fs/bpf unless told */
	char dir[PATH_MAX];	/* root/steer: the pins, and the writers' lock */
};

struct steer_snapshot;		/* snapshot.c: a copy of the named maps */

struct steer_maps {
	int fd[MAP_COUNT];
	int lock_fd;		/* flock on the pin dir: one writer at a time */
	struct steer_snapshot *snap;	/* valid while lock_fd is held; NULL: none */
	char dir[PATH_MAX];	/* the pin dir, to lock it again */
	uint64_t netns_ino;	/* namespace the sk_lookup link is attached to */
};

/* libbpf's own messages only with $STEER_DEBUG set (2: its debug too) */
void steer_libbpf_quiet(void);
/* bpffs root from opt, else $STEER_BPFFS, else /sys/fs/bpf */
int steer_paths_init(struct steer_paths *p, const char *opt, char *err);
int steer_is_loaded(const struct steer_paths *p);
/*
 * One lock for every writer: an flock on the pin dir root/steer, which load
 * creates before it pins anything and unload never removes. load, unload,
 * upgrade and steer_maps_open (every map writer) take it, so they run one
 * at a time; they take it themselves: call them without holding it (a
 * second flock on another open of the same dir would wait for ourselves).
 * A load that finds steer loaded changes nothing (exit 2, "already
 * loaded"); a load that fails unpins only what it pinned. Pins without
 * links (a load or unload killed half-way) are cleared by the next load.
 * EACCES/EPERM on the pins: "permission denied ... (needs root or
 * CAP_BPF)", STEER_ESYS; no pin dir: "not loaded", STEER_EINPUT.
 */
int steer_load(const struct steer_paths *p, const char *netns, const char *cgroup, char *err);
/* steer_load, and STEER_OK when it finds steer loaded already (*loaded
 * says which), for a daemon that races another loader at start. */
int steer_ensure_loaded(const struct steer_paths *p, const char *netns, const char *cgroup,
			bool *loaded, char *err);
int steer_unload(const struct steer_paths *p, char *err);
/* Load this build's programs into the pinned maps and swap them into the
 * pinned links atomically (bpf_link_update): no connection is refused and
 * no count is reset. The map layouts must match (same steer.h). */
int steer_upgrade(const struct steer_paths *p, char *err);
int steer_maps_open(const struct steer_paths *p, struct steer_maps *m, char *err);
void steer_maps_close(struct steer_maps *m);
/* Let other steerctl/steerd writers in while we only read (drain --wait),
 * and take the lock again around a batch of writes (steerd). */
void steer_maps_unlock(struct steer_maps *m);
int steer_maps_lock(struct steer_maps *m);

/* snapshot.c: the copy that steer_maps_open makes and the lock bounds */
struct steer_snapshot *steer_snapshot_new(void);
void steer_snapshot_forget(struct steer_snapshot *s);
void steer_snapshot_free(struct steer_snapshot *s);

#endif
