/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * records.h - inside libsteer: the named records (services, pools,
 * workers) as state.c reads and writes them, through the snapshot of
 * snapshot.c. Not for the tools: they use state.h.
 */
#ifndef STEER_RECORDS_H
#define STEER_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "loader.h"
#include "steer.h"

/* The three kinds of named record, for find_record() and name_taken(). */
struct record_kind {
	int map;
	int snap;		/* index in struct steer_snapshot */
	uint32_t max;
	size_t size;
	const char *what;
	size_t owner_off;
};

enum { SNAP_SERVICES, SNAP_POOLS, SNAP_WORKERS, SNAP_KINDS };

extern const struct record_kind SERVICES, POOLS, WORKERS;

/* One record of a map: from the snapshot when there is one, else the map. */
int map_get(const struct steer_maps *m, int map, uint32_t key, void *val);
/* To the map, then to the snapshot, which stays the map's copy. */
int map_put(const struct steer_maps *m, int map, uint32_t key, const void *val);
/* Read k's map into the snapshot now, if we hold the lock (one batch). */
void snapshot_prime(const struct steer_maps *m, const struct record_kind *k);
/* The in-use record named name: 0 with *id (and *out, if not NULL), else -1. */
int find_named(const struct steer_maps *m, const struct record_kind *k, const char *name,
	       uint32_t *id, void *out);
/* The first slot not in use: 0 with *id, else -1. */
int find_free(const struct steer_maps *m, const struct record_kind *k, uint32_t *id);

#endif /* STEER_RECORDS_H */
