// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * snapshot.c - the named maps (services, pools, workers) read once per
 * command or steerd pass, in one batch each, and indexed by name, so that
 * finding a name or a free slot costs no syscall (a pass over W workers
 * made O(W^2) lookups before).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "records.h"
#include "state.h"

/* find_named() and find_free() read these records generically. */
_Static_assert(offsetof(struct steer_service, in_use) == STEER_NAME_LEN, "service layout");
_Static_assert(offsetof(struct steer_pool, in_use) == STEER_NAME_LEN, "pool layout");
_Static_assert(offsetof(struct steer_worker, in_use) == STEER_NAME_LEN, "worker layout");

const struct record_kind POOLS = { MAP_POOLS, SNAP_POOLS, STEER_MAX_POOLS,
				   sizeof(struct steer_pool), "pool",
				   offsetof(struct steer_pool, owner) };
const struct record_kind WORKERS = { MAP_WORKERS, SNAP_WORKERS, STEER_MAX_WORKERS,
				     sizeof(struct steer_worker), "worker",
				     offsetof(struct steer_worker, owner) };
const struct record_kind SERVICES = { MAP_SERVICES, SNAP_SERVICES, STEER_MAX_SERVICES,
				      sizeof(struct steer_service), "service",
				      offsetof(struct steer_service, owner) };
static const struct record_kind *const KINDS[SNAP_KINDS] = { &SERVICES, &POOLS, &WORKERS };

/* ---- the snapshot: each named map read once, indexed by name ------------
 *
 * Only userspace writes these three maps, and only under the writers'
 * lock, so a copy read while we hold it stays exact as long as our own
 * writes go through it too (map_put does). Each map is read the first time
 * a name is looked up or a slot searched in it, in one batch syscall, and
 * forgotten when the lock is released (steer_maps_unlock). Without the
 * lock (a reader), lookups go to the maps one slot at a time, as before. */

struct snap_kind {
	bool loaded;
	char *rec;		/* max records */
	uint32_t *head;		/* name hash (max buckets) -> first id, or STEER_NONE */
	uint32_t *next;		/* id -> next id in its bucket */
};

struct steer_snapshot {
	struct snap_kind kind[SNAP_KINDS];
};

struct steer_snapshot *steer_snapshot_new(void)
{
	return calloc(1, sizeof(struct steer_snapshot));
}

void steer_snapshot_forget(struct steer_snapshot *s)
{
	for (int k = 0; s && k < SNAP_KINDS; k++)
		s->kind[k].loaded = false;
}

void steer_snapshot_free(struct steer_snapshot *s)
{
	for (int k = 0; s && k < SNAP_KINDS; k++) {
		free(s->kind[k].rec);
		free(s->kind[k].head);
		free(s->kind[k].next);
	}
	free(s);
}

_Static_assert(!(STEER_MAX_POOLS & (STEER_MAX_POOLS - 1)) &&
	       !(STEER_MAX_WORKERS & (STEER_MAX_WORKERS - 1)) &&
	       !(STEER_MAX_SERVICES & (STEER_MAX_SERVICES - 1)), "name_bucket masks");

/* FNV-1a of a name, as a bucket below max (a power of two). */
static uint32_t name_bucket(const char *name, uint32_t max)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < STEER_NAME_LEN && name[i]; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h & (max - 1);
}

static bool rec_in_use(const char *rec)
{
	uint32_t in_use;

	memcpy(&in_use, rec + STEER_NAME_LEN, sizeof(in_use));
	return in_use;
}

static void index_link(struct snap_kind *sk, const struct record_kind *k, uint32_t id)
{
	const char *rec = sk->rec + (size_t)id * k->size;
	uint32_t b;

	if (!rec_in_use(rec))
		return;
	b = name_bucket(rec, k->max);
	sk->next[id] = sk->head[b];
	sk->head[b] = id;
}

static void index_unlink(struct snap_kind *sk, const struct record_kind *k, uint32_t id)
{
	const char *rec = sk->rec + (size_t)id * k->size;
	uint32_t *at;

	if (!rec_in_use(rec))
		return;
	for (at = &sk->head[name_bucket(rec, k->max)]; *at != STEER_NONE; at = &sk->next[*at]) {
		if (*at == id) {
			*at = sk->next[id];
			return;
		}
	}
}

int steer_read_array(int fd, uint32_t max, size_t size, void *out)
{
	uint32_t *keys = calloc(max, sizeof(*keys)), count = max, batch;
	int ret = 0;

	if (!keys)
		return -1;
	if ((!bpf_map_lookup_batch(fd, NULL, &batch, keys, out, &count, NULL) || errno == ENOENT) &&
	    count == max)
		goto done;
	for (uint32_t i = 0; i < max && !ret; i++)
		ret = bpf_map_lookup_elem(fd, &i, (char *)out + i * size);
done:
	free(keys);
	return ret;
}

static int snap_load(const struct steer_maps *m, const struct record_kind *k,
		     struct snap_kind *sk)
{
	if (!sk->rec) {
		sk->rec = malloc((size_t)k->max * k->size);
		sk->head = malloc(k->max * sizeof(*sk->head));
		sk->next = malloc(k->max * sizeof(*sk->next));
	}
	if (!sk->rec || !sk->head || !sk->next ||
	    steer_read_array(m->fd[k->map], k->max, k->size, sk->rec))
		return -1;
	memset(sk->head, 0xff, k->max * sizeof(*sk->head));
	/* from the top, so that each bucket lists its ids in ascending order */
	for (uint32_t id = k->max; id-- > 0;)
		index_link(sk, k, id);
	sk->loaded = true;
	return 0;
}

/* The snapshot of kind k: read now if load and we hold the lock, else
 * only if it is already. NULL: go to the map. */
static struct snap_kind *snap_of(const struct steer_maps *m, const struct record_kind *k,
				 bool load)
{
	struct snap_kind *sk;

	if (!m->snap || m->lock_fd < 0)
		return NULL;
	sk = &m->snap->kind[k->snap];
	if (!sk->loaded && (!load || snap_load(m, k, sk)))
		return NULL;
	return sk;
}

static const struct record_kind *kind_of_map(int map)
{
	for (int k = 0; k < SNAP_KINDS; k++)
		if (KINDS[k]->map == map)
			return KINDS[k];
	return NULL;
}

int map_get(const struct steer_maps *m, int map, uint32_t key, void *val)
{
	const struct record_kind *k = kind_of_map(map);
	struct snap_kind *sk = k ? snap_of(m, k, false) : NULL;

	if (!sk || key >= k->max)
		return bpf_map_lookup_elem(m->fd[map], &key, val);
	memcpy(val, sk->rec + (size_t)key * k->size, k->size);
	return 0;
}

/* To the map first, then to the snapshot, which stays the map's copy. */
int map_put(const struct steer_maps *m, int map, uint32_t key, const void *val)
{
	const struct record_kind *k = kind_of_map(map);
	struct snap_kind *sk = k ? snap_of(m, k, false) : NULL;

	if (bpf_map_update_elem(m->fd[map], &key, val, BPF_ANY))
		return -1;
	if (sk && key < k->max) {
		index_unlink(sk, k, key);
		memcpy(sk->rec + (size_t)key * k->size, val, k->size);
		index_link(sk, k, key);
	}
	return 0;
}

const struct steer_service *state_services(const struct steer_maps *m)
{
	struct snap_kind *sk = snap_of(m, &SERVICES, true);

	return sk ? (const struct steer_service *)sk->rec : NULL;
}

const struct steer_pool *state_pools(const struct steer_maps *m)
{
	struct snap_kind *sk = snap_of(m, &POOLS, true);

	return sk ? (const struct steer_pool *)sk->rec : NULL;
}

const struct steer_worker *state_workers(const struct steer_maps *m)
{
	struct snap_kind *sk = snap_of(m, &WORKERS, true);

	return sk ? (const struct steer_worker *)sk->rec : NULL;
}


/* Find a named, in-use entry of an array map of records that start with
 * name[] and in_use, as steer_service, steer_pool and steer_worker do:
 * through the snapshot's index, else one lookup per slot. */
int find_named(const struct steer_maps *m, const struct record_kind *k, const char *name,
	       uint32_t *id, void *out)
{
	struct snap_kind *sk = snap_of(m, k, true);
	char *buf;
	int ret = -1;

	for (uint32_t i = sk ? sk->head[name_bucket(name, k->max)] : STEER_NONE; i != STEER_NONE;
	     i = sk->next[i]) {
		const char *rec = sk->rec + (size_t)i * k->size;

		if (strncmp(rec, name, STEER_NAME_LEN))
			continue;
		*id = i;
		if (out)
			memcpy(out, rec, k->size);
		return 0;
	}
	if (sk || !(buf = malloc(k->size)))
		return -1;
	for (uint32_t i = 0; i < k->max; i++) {
		if (map_get(m, k->map, i, buf))
			break;
		if (rec_in_use(buf) && !strncmp(buf, name, STEER_NAME_LEN)) {
			*id = i;
			if (out)
				memcpy(out, buf, k->size);
			ret = 0;
			break;
		}
	}
	free(buf);
	return ret;
}

/* First slot whose in_use is 0. */
int find_free(const struct steer_maps *m, const struct record_kind *k, uint32_t *id)
{
	char *buf = malloc(k->size);
	int ret = -1;

	if (!buf)
		return -1;
	snap_of(m, k, true);	/* the scan reads the snapshot, when there may be one */
	for (uint32_t i = 0; i < k->max && ret; i++) {
		if (map_get(m, k->map, i, buf))
			break;
		if (!rec_in_use(buf)) {
			*id = i;
			ret = 0;
		}
	}
	free(buf);
	return ret;
}

void snapshot_prime(const struct steer_maps *m, const struct record_kind *k)
{
	snap_of(m, k, true);
}

/* Any other array map, its size from the kernel: a per-CPU one (of 64-bit
 * counters only) comes back summed over the CPUs, one value per key. */
static void *read_other_array(const struct steer_maps *m, enum steer_map_id map)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);
	uint64_t *all = NULL, *sum = NULL;
	size_t n, per, ncpu = 1;

	if (bpf_obj_get_info_by_fd(m->fd[map], &info, &len) || !info.max_entries ||
	    (info.type != BPF_MAP_TYPE_ARRAY && info.type != BPF_MAP_TYPE_PERCPU_ARRAY))
		return NULL;
	if (info.type == BPF_MAP_TYPE_ARRAY) {
		void *out = calloc(info.max_entries, info.value_size);

		if (out && steer_read_array(m->fd[map], info.max_entries, info.value_size, out)) {
			free(out);
			out = NULL;
		}
		return out;
	}
	if (info.value_size % sizeof(*sum) || libbpf_num_possible_cpus() <= 0)
		return NULL;
	ncpu = (size_t)libbpf_num_possible_cpus();
	n = info.value_size / sizeof(*sum);
	per = ncpu * n;		/* the kernel's per-key stride, in counters */
	all = calloc((size_t)info.max_entries * per, sizeof(*all));
	sum = calloc((size_t)info.max_entries * n, sizeof(*sum));
	if (!all || !sum ||
	    steer_read_array(m->fd[map], info.max_entries, per * sizeof(*all), all)) {
		free(sum);
		sum = NULL;
		goto cleanup;
	}
	for (size_t key = 0; key < info.max_entries; key++)
		for (size_t i = 0; i < per; i++)
			sum[key * n + i % n] += all[key * per + i];
cleanup:
	free(all);
	return sum;
}

void *state_read_all(const struct steer_maps *m, enum steer_map_id map)
{
	const struct record_kind *k = kind_of_map(map);
	void *out;

	if (!k)
		return read_other_array(m, map);
	out = calloc(k->max, k->size);
	if (out && steer_read_array(m->fd[map], k->max, k->size, out)) {
		free(out);
		out = NULL;
	}
	return out;
}
