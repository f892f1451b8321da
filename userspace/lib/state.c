// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "records.h"
#include "state.h"
#include "table.h"

/* The owner that objects this process creates get (steerd sets its own). */
static uint32_t writer_owner = STEER_OWNER_OPERATOR;

void state_set_owner(uint32_t owner)
{
	writer_owner = owner;
}

const char *owner_name(uint32_t owner)
{
	return owner == STEER_OWNER_STEERD ? "steerd" : "operator";
}

static int sys_error(char *err, const char *what)
{
	snprintf(err, STEER_ERR_LEN, "cannot %s: %s", what, strerror(errno));
	return STEER_ESYS;
}

static int find_record(const struct steer_maps *m, const struct record_kind *k, const char *name,
		       uint32_t *id, void *out, char *err)
{
	if (!find_named(m, k, name, id, out))
		return STEER_OK;
	snprintf(err, STEER_ERR_LEN, "%s '%s' does not exist", k->what, name);
	return STEER_EINPUT;
}

int pool_find(const struct steer_maps *m, const char *name, uint32_t *id, struct steer_pool *out,
	      char *err)
{
	return find_record(m, &POOLS, name, id, out, err);
}

int worker_find(const struct steer_maps *m, const char *name, uint32_t *id,
		struct steer_worker *out, char *err)
{
	return find_record(m, &WORKERS, name, id, out, err);
}

int service_find(const struct steer_maps *m, const char *name, uint32_t *id,
		 struct steer_service *out, char *err)
{
	return find_record(m, &SERVICES, name, id, out, err);
}

static int set_owner(const struct steer_maps *m, const struct record_kind *k, const char *name,
		     uint32_t owner, char *err)
{
	char *buf = malloc(k->size);
	uint32_t id;
	int ret;

	if (!buf)
		return sys_error(err, "allocate");
	ret = find_record(m, k, name, &id, buf, err);
	if (!ret && memcmp(buf + k->owner_off, &owner, sizeof(owner))) {
		memcpy(buf + k->owner_off, &owner, sizeof(owner));
		if (map_put(m, k->map, id, buf))
			ret = sys_error(err, "write the owner");
	}
	free(buf);
	return ret;
}

int pool_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err)
{
	return set_owner(m, &POOLS, name, owner, err);
}

int worker_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err)
{
	return set_owner(m, &WORKERS, name, owner, err);
}

int service_set_owner(const struct steer_maps *m, const char *name, uint32_t owner, char *err)
{
	return set_owner(m, &SERVICES, name, owner, err);
}

static int name_taken(const struct steer_maps *m, const struct record_kind *k, const char *name,
		      char *err)
{
	uint32_t id;

	if (find_named(m, k, name, &id, NULL))
		return STEER_OK;
	snprintf(err, STEER_ERR_LEN, "%s '%s' already exists", k->what, name);
	return STEER_EINPUT;
}

/* Resolve a fallback name for pool self_id; refuse loops and chains longer
 * than the kernel follows. */
static int resolve_fallback(const struct steer_maps *m, uint32_t self_id, const char *self,
			    const char *fallback, uint32_t *out, char *err)
{
	struct steer_pool p;
	uint32_t id, hops = 1;
	int ret;

	if (!fallback || !strcmp(fallback, "none")) {
		*out = STEER_NONE;
		return STEER_OK;
	}
	if ((ret = pool_find(m, fallback, &id, &p, err)))
		return ret;
	*out = id;
	for (; id != STEER_NONE; id = p.fallback, hops++) {
		if (id == self_id) {
			snprintf(err, STEER_ERR_LEN, "fallback '%s' would make a loop back to pool '%s'",
				 fallback, self);
			return STEER_EINPUT;
		}
		if (hops >= STEER_MAX_HOPS) {
			snprintf(err, STEER_ERR_LEN, "fallback chain from pool '%s' is longer than %d pools",
				 self, STEER_MAX_HOPS);
			return STEER_EINPUT;
		}
		if (map_get(m, MAP_POOLS, id, &p))
			return sys_error(err, "read pools");
	}
	return STEER_OK;
}

int pool_add(const struct steer_maps *m, const char *name, uint32_t policy, const char *fallback,
	     char *err)
{
	struct steer_pool_limits no_limits = {};
	struct steer_pool_budget no_budget = {};
	struct steer_pool_stats zero = {};
	struct steer_pool *p;
	uint32_t id;
	int ret;

	if ((ret = parse_name(name, "pool", err) ? STEER_EINPUT : STEER_OK) ||
	    (ret = name_taken(m, &POOLS, name, err)))
		return ret;
	if (find_free(m, &POOLS, &id)) {
		snprintf(err, STEER_ERR_LEN, "no room for another pool (at most %d)", STEER_MAX_POOLS);
		return STEER_EINPUT;
	}
	if (!(p = calloc(1, sizeof(*p))))
		return sys_error(err, "allocate");
	if ((ret = resolve_fallback(m, id, name, fallback, &p->fallback, err)))
		goto cleanup;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->policy = policy;
	p->owner = writer_owner;
	p->in_use = 1;
	ret = STEER_OK;
	if (map_put(m, MAP_POOL_STATS, id, &zero) ||
	    bpf_map_update_elem(m->fd[MAP_POOL_LIMITS], &id, &no_limits, BPF_F_LOCK) ||
	    map_put(m, MAP_POOL_BUDGETS, id, &no_budget) ||
	    map_put(m, MAP_POOLS, id, p))
		ret = sys_error(err, "write pools");
cleanup:
	free(p);
	return ret;
}

int pool_set(const struct steer_maps *m, const char *name, const uint32_t *policy,
	     const char *fallback, char *err)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	uint32_t id;
	int ret;

	if (!p)
		return sys_error(err, "allocate");
	if ((ret = pool_find(m, name, &id, p, err)))
		goto cleanup;
	if (fallback && (ret = resolve_fallback(m, id, name, fallback, &p->fallback, err)))
		goto cleanup;
	if (policy)
		p->policy = *policy;
	ret = STEER_OK;
	if (map_put(m, MAP_POOLS, id, p))
		ret = sys_error(err, "write pools");
	else
		ret = pool_rebuild_table(m, id, err);
cleanup:
	free(p);
	return ret;
}

static int lobby_off(const struct steer_maps *m, uint32_t id, char *err);

int pool_del(const struct steer_maps *m, const char *name, char *err)
{
	struct steer_pool *p = calloc(1, sizeof(*p)), *other = calloc(1, sizeof(*p));
	struct steer_service svc;
	uint32_t id;
	int ret;

	if (!p || !other) {
		ret = sys_error(err, "allocate");
		goto cleanup;
	}
	if ((ret = pool_find(m, name, &id, p, err)))
		goto cleanup;
	ret = STEER_EINPUT;
	if (p->nworkers) {
		snprintf(err, STEER_ERR_LEN, "pool '%s' still has %u workers", name, p->nworkers);
		goto cleanup;
	}
	snapshot_prime(m, &SERVICES);	/* the scans read the snapshot when they may */
	snapshot_prime(m, &POOLS);
	for (uint32_t i = 0; i < STEER_MAX_SERVICES; i++) {
		if (!map_get(m, MAP_SERVICES, i, &svc) && svc.in_use && svc.pool_id == id) {
			snprintf(err, STEER_ERR_LEN, "pool '%s' is used by service '%s'", name, svc.name);
			goto cleanup;
		}
	}
	for (uint32_t i = 0; i < STEER_MAX_POOLS; i++) {
		if (!map_get(m, MAP_POOLS, i, other) && other->in_use && other->fallback == id) {
			snprintf(err, STEER_ERR_LEN, "pool '%s' is the fallback of pool '%s'", name,
				 other->name);
			goto cleanup;
		}
	}
	if ((ret = lobby_off(m, id, err)))
		goto cleanup;
	memset(p, 0, sizeof(*p));
	ret = map_put(m, MAP_POOLS, id, p) ? sys_error(err, "write pools") : STEER_OK;
cleanup:
	free(p);
	free(other);
	return ret;
}

int pool_limits_read(const struct steer_maps *m, uint32_t id, struct steer_pool_limits *out)
{
	return bpf_map_lookup_elem_flags(m->fd[MAP_POOL_LIMITS], &id, out, BPF_F_LOCK);
}

int pool_budget_read(const struct steer_maps *m, uint32_t id, struct steer_pool_budget *out)
{
	return bpf_map_lookup_elem(m->fd[MAP_POOL_BUDGETS], &id, out);
}

#define BUDGETS_LEN	(STEER_MAX_POOLS * sizeof(struct steer_pool_budget))

struct steer_pool_budget *pool_budgets_map(const struct steer_maps *m)
{
	void *b = mmap(NULL, BUDGETS_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		       m->fd[MAP_POOL_BUDGETS], 0);

	return b == MAP_FAILED ? NULL : b;
}

void pool_budgets_unmap(struct steer_pool_budget *b)
{
	if (b)
		munmap(b, BUDGETS_LEN);
}

/* The budget (on: n left) and, in pools, the local grant it records
 * (recorded: quota_set and quota_conf; not: both cleared). */
static int quota_write(const struct steer_maps *m, const char *name, bool on, int64_t n,
		       bool recorded, char *err)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	struct steer_pool_budget *b;
	uint32_t id;
	int ret;

	if (!p)
		return sys_error(err, "allocate");
	if ((ret = pool_find(m, name, &id, p, err)))
		goto cleanup;
	if (!(b = pool_budgets_map(m))) {
		ret = sys_error(err, "map pool_budgets");
		goto cleanup;
	}
	/* the budget before the switch, so the kernel never spends a stale one */
	if (on)
		__atomic_store_n(&b[id].quota_left, n, __ATOMIC_SEQ_CST);
	__atomic_store_n(&b[id].quota_on, on, __ATOMIC_SEQ_CST);
	pool_budgets_unmap(b);
	/* What was granted, recorded last: a grant cut short before this is
	 * made again, one recorded is never made twice (steerd compares it). */
	p->quota_set = on && recorded;
	p->quota_conf = on && recorded ? (uint64_t)n : 0;
	ret = map_put(m, MAP_POOLS, id, p) ? sys_error(err, "write pools") : STEER_OK;
cleanup:
	free(p);
	return ret;
}

int pool_set_quota(const struct steer_maps *m, const char *name, bool on, int64_t n, char *err)
{
	return quota_write(m, name, on, n, true, err);
}

/* A pool whose budget steerd now leases (a global quota or tokens) had a
 * local quota: what is left of it is no lease. The budget goes to 0, on,
 * and the local grant's record is cleared, so this runs once. */
int pool_quota_to_lease(const struct steer_maps *m, const char *name, char *err)
{
	return quota_write(m, name, true, 0, false, err);
}

int pool_quota_hold(const struct steer_maps *m, uint32_t id, char *err)
{
	struct steer_pool_budget *b;

	if (id >= STEER_MAX_POOLS) {
		snprintf(err, STEER_ERR_LEN, "pool id %u is out of range", id);
		return STEER_EINPUT;
	}
	if (!(b = pool_budgets_map(m)))
		return sys_error(err, "map pool_budgets");
	pool_budget_hold(&b[id]);
	pool_budgets_unmap(b);
	return STEER_OK;
}

void pool_budget_hold(struct steer_pool_budget *b)
{
	if (__atomic_load_n(&b->quota_on, __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&b->quota_left, 0, __ATOMIC_SEQ_CST);	/* the budget before the switch */
	__atomic_store_n(&b->quota_on, 1, __ATOMIC_SEQ_CST);
}

int pool_set_rate(const struct steer_maps *m, const char *name, bool on, double rate,
		  uint32_t burst, char *err)
{
	struct steer_pool_limits lim = {};
	uint32_t id;
	int ret;

	if ((ret = pool_find(m, name, &id, NULL, err)))
		return ret;
	lim.rate_on = on;
	lim.rate_milli = on ? (uint64_t)(rate * STEER_MILLI + 0.5) : 0;
	lim.burst_milli = on ? (uint64_t)burst * STEER_MILLI : 0;
	/* start full, as after a long idle time */
	lim.tokens_milli = lim.burst_milli;
	lim.refill_ns = 0;
	if (bpf_map_update_elem(m->fd[MAP_POOL_LIMITS], &id, &lim, BPF_F_LOCK))
		return sys_error(err, "write pool_limits");
	return STEER_OK;
}

int pool_set_circuit(const struct steer_maps *m, const char *name, uint32_t circuit,
		     enum circuit_setter who, uint32_t probes, char *err)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	struct steer_pool_budget *b;
	uint32_t id;
	int ret;

	if (!p)
		return sys_error(err, "allocate");
	if ((ret = pool_find(m, name, &id, p, err)))
		goto cleanup;
	ret = STEER_OK;
	if ((who == CIRCUIT_BY_DAEMON || who == CIRCUIT_BY_FLEET) && p->circuit_forced)
		goto cleanup;	/* an operator's word stands until `circuit auto` */
	if (who == CIRCUIT_RELEASE)
		circuit = STEER_CIRCUIT_CLOSED;
	/* probes first, so a half-open circuit never sees a stale budget */
	if (!(b = pool_budgets_map(m))) {
		ret = sys_error(err, "map pool_budgets");
		goto cleanup;
	}
	__atomic_store_n(&b[id].probes_left, circuit == STEER_CIRCUIT_HALF_OPEN ? probes : 0,
			 __ATOMIC_SEQ_CST);
	pool_budgets_unmap(b);
	p->circuit = circuit;
	p->circuit_forced = who == CIRCUIT_FORCE;
	p->circuit_fleet = who == CIRCUIT_BY_FLEET;
	if (map_put(m, MAP_POOLS, id, p))
		ret = sys_error(err, "write pools");
cleanup:
	free(p);
	return ret;
}

const char *circuit_name(uint32_t circuit)
{
	switch (circuit) {
	case STEER_CIRCUIT_CLOSED: return "closed";
	case STEER_CIRCUIT_OPEN: return "open";
	case STEER_CIRCUIT_HALF_OPEN: return "half-open";
	default: return "unknown";
	}
}

/* Effective weight of a worker for the pool tables: none unless up. */
static uint32_t table_weight(const struct steer_worker *w)
{
	if (!w->in_use || w->state != STEER_WORKER_UP)
		return 0;
	return w->weight * w->health;
}

int pool_rebuild_table(const struct steer_maps *m, uint32_t pool_id, char *err)
{
	struct table_member *members = NULL;
	struct steer_worker *workers = NULL;
	uint32_t *keys = NULL, *table = NULL, len = 0, count;
	struct steer_pool *p = calloc(1, sizeof(*p));
	int ret = STEER_ESYS;

	if (!p || map_get(m, MAP_POOLS, pool_id, p))
		goto sys;
	if (p->policy == STEER_POLICY_LEAST_CONN && p->table_len == 0) {
		ret = STEER_OK;		/* least-conn reads the workers, not a table */
		goto cleanup;
	}
	members = calloc(p->nworkers + 1, sizeof(*members));
	workers = calloc(p->nworkers + 1, sizeof(*workers));
	keys = calloc(STEER_TABLE_SIZE, sizeof(*keys));
	table = calloc(STEER_TABLE_SIZE, sizeof(*table));
	if (!members || !workers || !keys || !table)
		goto sys;
	snapshot_prime(m, &WORKERS);	/* one read for all members */
	for (uint32_t i = 0; i < p->nworkers && i < STEER_MAX_POOL_WORKERS; i++) {
		if (map_get(m, MAP_WORKERS, p->members[i], &workers[i]))
			goto sys;
		members[i].id = p->members[i];
		members[i].weight = table_weight(&workers[i]);
		members[i].name = workers[i].name;
	}
	if (p->policy == STEER_POLICY_HASH) {
		if (table_build_maglev(members, p->nworkers, table, &len))
			goto sys;
	} else if (p->policy != STEER_POLICY_LEAST_CONN) {
		table_build_weighted(members, p->nworkers, table, &len);
	}
	for (uint32_t i = 0; i < len; i++)
		keys[i] = pool_id * STEER_TABLE_SIZE + i;
	count = len;
	if (len && bpf_map_update_batch(m->fd[MAP_POOL_TABLES], keys, table, &count, NULL))
		goto sys;
	/* Shrinking: lower table_len before stale slots could be read. */
	p->table_len = len;
	if (map_put(m, MAP_POOLS, pool_id, p))
		goto sys;
	ret = STEER_OK;
	goto cleanup;
sys:
	ret = sys_error(err, "rebuild the pool table");
cleanup:
	free(p);
	free(members);
	free(workers);
	free(keys);
	free(table);
	return ret;
}

/* The LPM key of (prefix, port), in the one canonical form: the kernel
 * looks packets up by it, and overlap checks compare it. */
static void service_key(const struct steer_prefix *prefix, uint16_t port,
			struct steer_service_key *key)
{
	memset(key, 0, sizeof(*key));
	key->prefixlen = STEER_LPM_FIXED_BITS + prefix->prefixlen;
	key->port = port;
	key->family = (uint8_t)prefix->family;
	if (prefix->family == STEER_FAMILY_V4)
		memcpy(key->addr, prefix->addr + 12, 4);
	else
		memcpy(key->addr, prefix->addr, 16);
}

static void service_prefix(const struct steer_service *s, struct steer_prefix *prefix)
{
	memcpy(prefix->addr, s->addr, 16);
	prefix->prefixlen = s->prefixlen;
	prefix->family = s->family;
}

static int service_key_put(const struct steer_maps *m, const struct steer_prefix *prefix,
			   uint16_t port, const struct steer_service_target *target)
{
	struct steer_service_key key;

	service_key(prefix, port, &key);
	if (!target)
		return bpf_map_delete_elem(m->fd[MAP_SERVICES_LPM], &key);
	return bpf_map_update_elem(m->fd[MAP_SERVICES_LPM], &key, target, BPF_NOEXIST);
}

/* Whether service id's LPM entries for its first and last port are there
 * and point at it: a service_add cut short leaves them missing. */
bool service_keys_live(const struct steer_maps *m, uint32_t id, const struct steer_service *s)
{
	struct steer_service_target t;
	struct steer_service_key key;
	struct steer_prefix prefix;

	service_prefix(s, &prefix);
	service_key(&prefix, s->port_lo, &key);
	if (bpf_map_lookup_elem(m->fd[MAP_SERVICES_LPM], &key, &t) || t.service_id != id)
		return false;
	service_key(&prefix, s->port_hi, &key);
	return !bpf_map_lookup_elem(m->fd[MAP_SERVICES_LPM], &key, &t) && t.service_id == id;
}

/* Refuse a service that another one's LPM keys overlap (the same canonical
 * prefix and a common port), or whose keys do not fit in services_lpm
 * beside the others'. Checked before anything is written. */
static int service_overlap(const struct steer_maps *m, const struct steer_prefix *prefix,
			   uint16_t lo, uint16_t hi, char *err)
{
	struct steer_service_key want, have;
	struct steer_prefix other;
	struct steer_service s;
	uint32_t used = 0, more = (uint32_t)hi - lo + 1;

	service_key(prefix, 0, &want);
	snapshot_prime(m, &SERVICES);
	for (uint32_t i = 0; i < STEER_MAX_SERVICES; i++) {
		if (map_get(m, MAP_SERVICES, i, &s) || !s.in_use)
			continue;
		service_prefix(&s, &other);
		service_key(&other, 0, &have);
		if (!memcmp(&want, &have, sizeof(want)) && s.port_lo <= hi && lo <= s.port_hi) {
			snprintf(err, STEER_ERR_LEN, "service '%s' already covers that prefix and port",
				 s.name);
			return STEER_EINPUT;
		}
		used += (uint32_t)s.port_hi - s.port_lo + 1;
	}
	if (used + more > STEER_MAX_SERVICE_KEYS) {
		snprintf(err, STEER_ERR_LEN,
			 "no room for %u more (prefix, port) keys: %u of %d are in use by services",
			 more, used, STEER_MAX_SERVICE_KEYS);
		return STEER_EINPUT;
	}
	return STEER_OK;
}

int service_add(const struct steer_maps *m, const char *name, const struct steer_prefix *prefix,
		uint16_t lo, uint16_t hi, const char *pool, char *err)
{
	struct steer_service_refusals *zero;	/* the larger per-CPU value */
	struct steer_service svc = {};
	struct steer_service_target target;
	uint32_t id, port;
	int ret, ncpu = libbpf_num_possible_cpus();

	if (parse_name(name, "service", err))
		return STEER_EINPUT;
	if ((ret = name_taken(m, &SERVICES, name, err)) ||
	    (ret = pool_find(m, pool, &target.pool_id, NULL, err)) ||
	    (ret = service_overlap(m, prefix, lo, hi, err)))
		return ret;
	if (find_free(m, &SERVICES, &id)) {
		snprintf(err, STEER_ERR_LEN, "no room for another service (at most %d)",
			 STEER_MAX_SERVICES);
		return STEER_EINPUT;
	}
	snprintf(svc.name, sizeof(svc.name), "%s", name);
	svc.in_use = 1;
	svc.pool_id = target.pool_id;
	memcpy(svc.addr, prefix->addr, 16);
	svc.prefixlen = prefix->prefixlen;
	svc.family = prefix->family;
	svc.port_lo = lo;
	svc.port_hi = hi;
	svc.owner = writer_owner;
	target.service_id = id;
	zero = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*zero));
	if (!zero || map_put(m, MAP_SERVICE_STATS, id, zero) ||
	    map_put(m, MAP_SERVICE_REFUSALS, id, zero) || map_put(m, MAP_SERVICES, id, &svc)) {
		free(zero);
		return sys_error(err, "write services");
	}
	free(zero);
	/* The LPM entries go last: they are what makes the service live. */
	for (port = lo; port <= hi; port++) {
		if (service_key_put(m, prefix, (uint16_t)port, &target)) {
			/* full although the count said there was room: keys that
			 * no service accounts for (written by hand?) */
			if (errno == ENOSPC || errno == E2BIG) {
				snprintf(err, STEER_ERR_LEN, "services_lpm is full (%d keys)",
					 STEER_MAX_SERVICE_KEYS);
				ret = STEER_EINPUT;
			} else {
				ret = sys_error(err, "write services_lpm");
			}
			while (port-- > lo)
				service_key_put(m, prefix, (uint16_t)port, NULL);
			memset(&svc, 0, sizeof(svc));
			map_put(m, MAP_SERVICES, id, &svc);
			return ret;
		}
	}
	return STEER_OK;
}

int service_set_pool(const struct steer_maps *m, const char *name, const char *pool, char *err)
{
	struct steer_service_target target;
	struct steer_service_key key;
	struct steer_service svc;
	struct steer_prefix prefix;
	int ret;

	if ((ret = service_find(m, name, &target.service_id, &svc, err)) ||
	    (ret = pool_find(m, pool, &target.pool_id, NULL, err)))
		return ret;
	svc.pool_id = target.pool_id;
	if (map_put(m, MAP_SERVICES, target.service_id, &svc))
		return sys_error(err, "write services");
	/* each key switches atomically; a key that is missing stays missing
	 * (service_keys_live finds it, and the service is added again) */
	service_prefix(&svc, &prefix);
	for (uint32_t port = svc.port_lo; port <= svc.port_hi; port++) {
		service_key(&prefix, (uint16_t)port, &key);
		if (bpf_map_update_elem(m->fd[MAP_SERVICES_LPM], &key, &target, BPF_EXIST) &&
		    errno != ENOENT)
			return sys_error(err, "write services_lpm");
	}
	return STEER_OK;
}

int service_del(const struct steer_maps *m, const char *name, char *err)
{
	struct steer_service svc;
	struct steer_prefix prefix;
	uint32_t id;
	int ret;

	if ((ret = service_find(m, name, &id, &svc, err)))
		return ret;
	service_prefix(&svc, &prefix);
	for (uint32_t port = svc.port_lo; port <= svc.port_hi; port++)
		service_key_put(m, &prefix, (uint16_t)port, NULL);
	memset(&svc, 0, sizeof(svc));
	return map_put(m, MAP_SERVICES, id, &svc) ? sys_error(err, "write services") : STEER_OK;
}

/* The worker already steering to this listener, if any, but skip. */
static int listener_in_use(const struct steer_maps *m, uint64_t cookie, uint32_t skip, char *err)
{
	struct steer_worker w;

	snapshot_prime(m, &WORKERS);
	for (uint32_t i = 0; i < STEER_MAX_WORKERS; i++) {
		if (i != skip && !map_get(m, MAP_WORKERS, i, &w) && w.in_use && w.cookie == cookie) {
			snprintf(err, STEER_ERR_LEN, "that socket is already worker '%s'", w.name);
			return STEER_EINPUT;
		}
	}
	return STEER_OK;
}

bool worker_listener_alive(const struct steer_maps *m, uint32_t id)
{
	uint64_t cookie;

	return !bpf_map_lookup_elem(m->fd[MAP_WORKER_SOCKS], &id, &cookie) || errno != ENOENT;
}

/* The same listener, fully written: its socket in the map, the
 * generation of its counts the entry's own. */
static bool same_listener(const struct steer_maps *m, uint32_t id, const struct steer_worker *w,
			  const struct listener *l)
{
	struct steer_worker_stats st;
	uint64_t cookie;

	return w->cookie == l->cookie && !bpf_map_lookup_elem(m->fd[MAP_WORKER_SOCKS], &id, &cookie) &&
	       cookie == l->cookie && !map_get(m, MAP_WORKER_STATS, id, &st) && st.gen == w->gen;
}

static int lobby_in_use(const struct steer_maps *m, uint64_t cookie, uint32_t skip, char *err);

/* ---- the lobby: which process is which lobby-aware worker ---- */

/* worker_by_tgid's key for worker w: its process in its pool */
static struct steer_tgid_key tgid_key(const struct steer_worker *w)
{
	return (struct steer_tgid_key){ .tgid = w->pid, .pool_id = w->pool_id };
}

/* A lobby-aware worker id with process pid in pool_id: refused when
 * another live lobby-aware worker of the pool is that process, as the
 * kernel tells who took a lobby connection by its process alone. */
/* The kernel names the process that takes a lobby connection by its tgid
 * in the host's (initial) pid namespace, the one whose inode is this
 * constant of the kernel's (PROC_PID_INIT_INO). */
#define HOST_PID_NS_INO 0xEFFFFFFCu

/* A pid steerctl saw (by /proc or --pid) is the kernel's: it runs in the
 * host's pid namespace (or cannot tell). */
static bool pids_are_the_kernels(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) || st.st_ino == HOST_PID_NS_INO;
}

static int tgid_check(const struct steer_maps *m, uint32_t pool_id, uint32_t pid, uint32_t id,
		      uint32_t slots, char *err)
{
	struct steer_tgid_key k = { .tgid = pid, .pool_id = pool_id };
	struct steer_worker w;
	uint32_t other;

	if (!slots)
		return STEER_OK;
	/* without its process, every connection it takes from the lobby
	 * would be unattributed while the worker looks free; init (systemd
	 * holding a socket unit's fd while its service restarts) is never it */
	if (pid <= 1) {
		snprintf(err, STEER_ERR_LEN, "a lobby-aware worker (--slots) needs its process, and "
			 "no other process than init holds that socket: name it with --pid and --fd");
		return STEER_EINPUT;
	}
	if (!pids_are_the_kernels()) {
		snprintf(err, STEER_ERR_LEN, "a lobby-aware worker (--slots) cannot be added from a "
			 "pid namespace other than the host's (the kernel knows its process by the "
			 "host's pid): run steerctl or steerd in the host's pid namespace");
		return STEER_EINPUT;
	}
	if (bpf_map_lookup_elem(m->fd[MAP_WORKER_BY_TGID], &k, &other) || other == id)
		return STEER_OK;
	/* a stale entry (that worker gone or changed) is taken over */
	if (map_get(m, MAP_WORKERS, other, &w) || !w.in_use || !w.slots || w.pid != pid ||
	    w.pool_id != pool_id || !worker_listener_alive(m, other))
		return STEER_OK;
	snprintf(err, STEER_ERR_LEN, "process %u is already lobby-aware worker '%s' of this pool "
		 "(one process can be one lobby-aware worker of a pool)", pid, w.name);
	return STEER_EINPUT;
}

/* worker_by_tgid after worker id changed from was to now (either NULL):
 * the old process's entry goes if it was this worker's, the new one's is
 * written when now is lobby-aware with a known process. */
static int tgid_sync(const struct steer_maps *m, uint32_t id, const struct steer_worker *was,
		     const struct steer_worker *now)
{
	struct steer_tgid_key k;
	uint32_t other;

	if (was && was->slots && was->pid) {
		k = tgid_key(was);
		if (!bpf_map_lookup_elem(m->fd[MAP_WORKER_BY_TGID], &k, &other) && other == id)
			bpf_map_delete_elem(m->fd[MAP_WORKER_BY_TGID], &k);
	}
	if (!now || !now->slots || !now->pid)
		return 0;
	k = tgid_key(now);
	return bpf_map_update_elem(m->fd[MAP_WORKER_BY_TGID], &k, &id, BPF_ANY);
}

/* Put id in its pool's members (once), then rebuild the pool's table. */
static int pool_link(const struct steer_maps *m, uint32_t pool_id, uint32_t id, char *err)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	bool member = false;
	int ret = STEER_OK;

	if (!p || map_get(m, MAP_POOLS, pool_id, p)) {
		free(p);
		return sys_error(err, "read pools");
	}
	for (uint32_t i = 0; i < p->nworkers && i < STEER_MAX_POOL_WORKERS; i++)
		member |= p->members[i] == id;
	if (!member && p->nworkers >= STEER_MAX_POOL_WORKERS) {
		snprintf(err, STEER_ERR_LEN, "pool '%s' is full (%d workers)", p->name,
			 STEER_MAX_POOL_WORKERS);
		ret = STEER_EINPUT;
	} else if (!member) {
		p->members[p->nworkers++] = id;
		if (map_put(m, MAP_POOLS, pool_id, p))
			ret = sys_error(err, "write pools");
	}
	free(p);
	return ret ? ret : pool_rebuild_table(m, pool_id, err);
}

/* Write worker id for listener l. A new listener starts afresh: a new
 * generation (children of the old one no longer touch its counts), counts
 * zero, state up. The order makes every prefix harmless and completed by
 * a rerun: counts, tag and socket first (invisible, or unusable while the
 * generations differ), the named entry next, pool membership last. */
static int write_worker(const struct steer_maps *m, uint32_t id, uint32_t pool_id,
			const char *name, const struct listener *l,
			const struct worker_params *params, const struct steer_worker *was)
{
	struct steer_worker_stats stats;
	struct steer_worker_tag tag = {};
	struct steer_worker w = {};
	uint64_t sock = (uint64_t)l->fd;
	bool keep = was && same_listener(m, id, was, l);

	if (map_get(m, MAP_WORKER_STATS, id, &stats))
		return -1;
	if (!keep) {
		uint32_t gen = stats.gen + 1;

		struct steer_worker_lobby wl = { .gen = gen };

		memset(&stats, 0, sizeof(stats));
		stats.gen = gen;
		if (map_put(m, MAP_WORKER_LOBBY, id, &wl) || map_put(m, MAP_WORKER_STATS, id, &stats))
			return -1;
	}
	tag.worker_id = id;
	tag.gen = stats.gen;
	tag.port = l->port;
	if (bpf_map_update_elem(m->fd[MAP_WORKER_TAGS], &l->fd, &tag, BPF_ANY) ||
	    bpf_map_update_elem(m->fd[MAP_WORKER_SOCKS], &id, &sock, BPF_ANY))
		return -1;
	snprintf(w.name, sizeof(w.name), "%s", name);
	w.in_use = 1;
	w.pool_id = pool_id;
	/* DOWN is a delete cut short: adding again brings it back */
	w.state = keep && was->state != STEER_WORKER_DOWN ? was->state : STEER_WORKER_UP;
	w.weight = params->weight;
	w.flags = params->auto_weight ? STEER_WORKER_F_AUTO_WEIGHT : 0;
	/* health is steerd's: a restarted worker comes up by its checks */
	w.health = was ? was->health : STEER_HEALTH_FULL;
	w.maxconn = params->maxconn;
	w.slots = (uint16_t)params->slots;
	w.family_mask = l->family_mask;
	w.gen = stats.gen;
	w.pid = l->pid;
	w.port = l->port;
	memcpy(w.addr, l->addr, 16);
	w.cookie = l->cookie;
	w.owner = was ? was->owner : writer_owner;
	if (map_put(m, MAP_WORKERS, id, &w))
		return -1;
	return tgid_sync(m, id, was, &w);
}

/* Which slot name gets: its own entry when it may be replaced (its
 * listener died, or this is the same address again), else a free one. */
static int worker_slot(const struct steer_maps *m, const char *name, uint32_t pool_id,
		       const struct listener *l, uint32_t *id, struct steer_worker *was,
		       bool *existing, char *err)
{
	*existing = !find_named(m, &WORKERS, name, id, was);
	if (*existing) {
		bool alive = worker_listener_alive(m, *id);
		bool same_addr = was->port == l->port && !memcmp(was->addr, l->addr, 16);

		if (alive && !same_addr) {
			snprintf(err, STEER_ERR_LEN, "worker '%s' already exists", name);
			return STEER_EINPUT;
		}
		if (was->pool_id != pool_id) {
			snprintf(err, STEER_ERR_LEN, "worker '%s' belongs to another pool", name);
			return STEER_EINPUT;
		}
		return listener_in_use(m, l->cookie, *id, err);
	}
	if (listener_in_use(m, l->cookie, STEER_NONE, err))
		return STEER_EINPUT;
	if (find_free(m, &WORKERS, id)) {
		snprintf(err, STEER_ERR_LEN, "no room for another worker (at most %d)",
			 STEER_MAX_WORKERS);
		return STEER_EINPUT;
	}
	return STEER_OK;
}

int worker_add(const struct steer_maps *m, const char *pool_name, const char *name,
	       struct listener *l, const struct worker_params *params, char *err)
{
	struct steer_pool *pool = calloc(1, sizeof(*pool));
	struct steer_worker was;
	uint32_t id, pool_id;
	bool existing;
	int ret;

	if (!pool) {
		ret = sys_error(err, "allocate");
		goto cleanup;
	}
	ret = STEER_EINPUT;
	if (parse_name(name, "worker", err))
		goto cleanup;
	if ((ret = pool_find(m, pool_name, &pool_id, pool, err)) ||
	    (ret = worker_slot(m, name, pool_id, l, &id, &was, &existing, err)) ||
	    (ret = lobby_in_use(m, l->cookie, STEER_NONE, err)) ||
	    (ret = tgid_check(m, pool_id, l->pid, id, params->slots, err)))
		goto cleanup;
	if (!existing && pool->nworkers >= STEER_MAX_POOL_WORKERS) {
		snprintf(err, STEER_ERR_LEN, "pool '%s' is full (%d workers)", pool_name,
			 STEER_MAX_POOL_WORKERS);
		ret = STEER_EINPUT;
		goto cleanup;
	}
	if (write_worker(m, id, pool_id, name, l, params, existing ? &was : NULL)) {
		ret = sys_error(err, "add the worker");
		goto cleanup;
	}
	ret = pool_link(m, pool_id, id, err);
cleanup:
	/* Never keep the worker's socket: when it dies it must leave the map. */
	close(l->fd);
	l->fd = -1;
	free(pool);
	return ret;
}

static int update_worker(const struct steer_maps *m, const char *name, const uint32_t *weight,
			 bool auto_weight, const uint32_t *maxconn, const uint32_t *state,
			 char *err)
{
	struct steer_worker w;
	uint32_t id;
	int ret;

	if ((ret = worker_find(m, name, &id, &w, err)))
		return ret;
	if (weight) {
		w.weight = *weight;
		w.flags = auto_weight ? w.flags | STEER_WORKER_F_AUTO_WEIGHT
				      : w.flags & ~STEER_WORKER_F_AUTO_WEIGHT;
	}
	if (maxconn)
		w.maxconn = *maxconn;
	if (state)
		w.state = *state;
	if (map_put(m, MAP_WORKERS, id, &w))
		return sys_error(err, "write workers");
	return pool_rebuild_table(m, w.pool_id, err);
}

int worker_update(const struct steer_maps *m, const char *name, const uint32_t *weight,
		  const uint32_t *maxconn, const uint32_t *state, char *err)
{
	return update_worker(m, name, weight, false, maxconn, state, err);
}

int worker_update_auto(const struct steer_maps *m, const char *name, uint32_t weight,
		       const uint32_t *maxconn, char *err)
{
	return update_worker(m, name, &weight, true, maxconn, NULL, err);
}

int worker_rename(const struct steer_maps *m, const char *name, const char *new_name, char *err)
{
	struct steer_worker w;
	uint32_t id;
	int ret;

	if (parse_name(new_name, "worker", err))
		return STEER_EINPUT;
	if ((ret = worker_find(m, name, &id, &w, err)) || (ret = name_taken(m, &WORKERS, new_name, err)))
		return ret;
	snprintf(w.name, sizeof(w.name), "%s", new_name);
	if (map_put(m, MAP_WORKERS, id, &w))
		return sys_error(err, "write workers");
	/* hash tables are built in name order */
	return pool_rebuild_table(m, w.pool_id, err);
}

int worker_del(const struct steer_maps *m, const char *name, char *err)
{
	struct steer_pool *pool = calloc(1, sizeof(*pool));
	struct steer_worker w;
	uint32_t id;
	int ret;

	if (!pool)
		return sys_error(err, "allocate");
	if ((ret = worker_find(m, name, &id, &w, err)))
		goto cleanup;
	/* Stop new connections first, then unlink from the pool. */
	w.state = STEER_WORKER_DOWN;
	ret = STEER_ESYS;
	if (map_put(m, MAP_WORKERS, id, &w) || map_get(m, MAP_POOLS, w.pool_id, pool))
		goto sys;
	for (uint32_t i = 0; i < pool->nworkers && i < STEER_MAX_POOL_WORKERS; i++) {
		if (pool->members[i] == id) {
			pool->members[i] = pool->members[--pool->nworkers];
			break;
		}
	}
	if (map_put(m, MAP_POOLS, w.pool_id, pool))
		goto sys;
	if ((ret = pool_rebuild_table(m, w.pool_id, err)))
		goto cleanup;
	bpf_map_delete_elem(m->fd[MAP_WORKER_SOCKS], &id);	/* gone already if it died */
	tgid_sync(m, id, &w, NULL);
	memset(&w, 0, sizeof(w));
	ret = map_put(m, MAP_WORKERS, id, &w) ? sys_error(err, "write workers") : STEER_OK;
	goto cleanup;
sys:
	ret = sys_error(err, "delete the worker");
cleanup:
	free(pool);
	return ret;
}

int worker_set_health(const struct steer_maps *m, uint32_t id, const char *name, uint32_t health,
		      char *err)
{
	struct steer_worker w;

	if (map_get(m, MAP_WORKERS, id, &w))
		return sys_error(err, "read workers");
	if (!w.in_use || strncmp(w.name, name, STEER_NAME_LEN)) {
		snprintf(err, STEER_ERR_LEN, "worker '%s' is gone", name);
		return STEER_EINPUT;
	}
	if (w.health == health)
		return STEER_OK;
	w.health = health;
	if (map_put(m, MAP_WORKERS, id, &w))
		return sys_error(err, "write workers");
	return pool_rebuild_table(m, w.pool_id, err);
}

int worker_stats_read(const struct steer_maps *m, uint32_t id, struct steer_worker_stats *out)
{
	return map_get(m, MAP_WORKER_STATS, id, out);
}

/* A per-CPU value of 64-bit counters only, summed over the CPUs into out
 * (size bytes). */
static int percpu_sum(const struct steer_maps *m, int map, uint32_t id, void *out, size_t size)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *sum = out, *percpu;

	memset(out, 0, size);
	if (ncpu <= 0 || !(percpu = calloc((size_t)ncpu, size)))
		return -1;
	if (map_get(m, map, id, percpu)) {
		free(percpu);
		return -1;
	}
	for (size_t i = 0; i < (size_t)ncpu * (size / sizeof(*sum)); i++)
		sum[i % (size / sizeof(*sum))] += percpu[i];
	free(percpu);
	return 0;
}

int service_stats_read(const struct steer_maps *m, uint32_t id, struct steer_service_stats *out)
{
	return percpu_sum(m, MAP_SERVICE_STATS, id, out, sizeof(*out));
}

int service_refusals_read(const struct steer_maps *m, uint32_t id,
			  struct steer_service_refusals *out)
{
	return percpu_sum(m, MAP_SERVICE_REFUSALS, id, out, sizeof(*out));
}

const char *const steer_refusal_names[STEER_REFUSE_COUNT] = {
	[STEER_REFUSE_NO_POOL] = "no_pool",
	[STEER_REFUSE_HOPS] = "hops_exhausted",
	[STEER_REFUSE_ADMISSION] = "admission",
	[STEER_REFUSE_NO_WORKER] = "no_worker",
	[STEER_REFUSE_GONE] = "listener_gone",
	[STEER_REFUSE_ASSIGN] = "assign_failed",
};

uint64_t worker_stats_pending(const struct steer_worker_stats *s)
{
	struct timespec ts;
	uint32_t epoch, prev;
	uint64_t n = 0;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	epoch = (uint32_t)(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) >>
			   STEER_PENDING_SHIFT);
	prev = epoch - 1;
	if (s->pending_epoch[epoch & 1] == epoch)
		n += s->pending[epoch & 1];
	if (s->pending_epoch[prev & 1] == prev)
		n += s->pending[prev & 1];
	return n;
}

int worker_set_slots(const struct steer_maps *m, const char *name, uint32_t slots, char *err)
{
	struct steer_worker w, was;
	uint32_t id;
	int ret;

	if (slots > STEER_SLOTS_MAX) {
		snprintf(err, STEER_ERR_LEN, "slots %u is out of range (1..%u)", slots,
			 STEER_SLOTS_MAX);
		return STEER_EINPUT;
	}
	if ((ret = worker_find(m, name, &id, &w, err)) ||
	    (ret = tgid_check(m, w.pool_id, w.pid, id, slots, err)))
		return ret;
	was = w;
	w.slots = (uint16_t)slots;
	if (map_put(m, MAP_WORKERS, id, &w) || tgid_sync(m, id, &was, &w))
		return sys_error(err, "write workers");
	return STEER_OK;
}

uint64_t worker_lobby_taken(const struct steer_maps *m, uint32_t id,
			    const struct steer_worker_stats *st)
{
	struct steer_worker_lobby wl;

	if (bpf_map_lookup_elem(m->fd[MAP_WORKER_LOBBY], &id, &wl) || wl.gen != st->gen)
		return 0;
	return wl.taken;
}

int pool_lobby_read(const struct steer_maps *m, uint32_t pool_id, struct steer_lobby *lb,
		    struct steer_lobby_stats *st)
{
	if (bpf_map_lookup_elem(m->fd[MAP_POOL_LOBBIES], &pool_id, lb))
		return -1;
	if (st && bpf_map_lookup_elem(m->fd[MAP_LOBBY_STATS], &pool_id, st))
		return -1;
	return 0;
}

bool pool_lobby_alive(const struct steer_maps *m, uint32_t pool_id)
{
	struct steer_lobby lb;
	uint64_t cookie;

	return !pool_lobby_read(m, pool_id, &lb, NULL) && lb.in_use &&
	       !bpf_map_lookup_elem(m->fd[MAP_LOBBY_SOCKS], &pool_id, &cookie) &&
	       cookie == lb.cookie;
}

/* No lobby for pool id: the kernel stops sending to it first (in_use),
 * then its socket leaves the map. Connections waiting in it stay the
 * workers' to accept. */
static int lobby_off(const struct steer_maps *m, uint32_t id, char *err)
{
	struct steer_lobby lb = {};

	if (!pool_lobby_read(m, id, &lb, NULL) && !lb.in_use)
		return STEER_OK;
	lb.in_use = 0;
	if (bpf_map_update_elem(m->fd[MAP_POOL_LOBBIES], &id, &lb, BPF_ANY))
		return sys_error(err, "write pool_lobbies");
	bpf_map_delete_elem(m->fd[MAP_LOBBY_SOCKS], &id);	/* gone already if it closed */
	return STEER_OK;
}

/* The socket is no worker's listener and no other pool's lobby. */
static int lobby_socket_free(const struct steer_maps *m, uint32_t id, uint64_t cookie, char *err)
{
	if (listener_in_use(m, cookie, STEER_NONE, err))
		return STEER_EINPUT;
	return lobby_in_use(m, cookie, id, err);
}

/* The pool whose lobby the socket is, but skip: an error naming it. */
static int lobby_in_use(const struct steer_maps *m, uint64_t cookie, uint32_t skip, char *err)
{
	const struct steer_pool *pools = state_pools(m);
	struct steer_lobby lb;
	struct steer_pool p;

	for (uint32_t i = 0; i < STEER_MAX_POOLS; i++) {
		if (i == skip || pool_lobby_read(m, i, &lb, NULL) || !lb.in_use || lb.cookie != cookie)
			continue;
		if (pools)
			p = pools[i];
		else if (map_get(m, MAP_POOLS, i, &p))
			continue;
		snprintf(err, STEER_ERR_LEN, "that socket is already the lobby of pool '%s'", p.name);
		return STEER_EINPUT;
	}
	return STEER_OK;
}

/* listen()'s backlog, from TCP_INFO (a listener reports it as tcpi_sacked) */
static uint32_t listener_backlog(int fd)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? 0 : ti.tcpi_sacked;
}

/* Write pool id's lobby for listener l. A new socket starts afresh: a new
 * generation (children of an older lobby no longer touch its counts),
 * counts zero. Counts and tag first, the socket next, the config (which
 * makes the kernel use it) last. */
static int lobby_write(const struct steer_maps *m, uint32_t id, const struct listener *l)
{
	struct steer_lobby_stats st = {};
	struct steer_worker_tag tag = {};
	struct steer_lobby lb = {};
	uint64_t sock = (uint64_t)l->fd;

	if (bpf_map_lookup_elem(m->fd[MAP_LOBBY_STATS], &id, &st))
		return -1;
	lb.gen = st.gen + 1;
	memset(&st, 0, sizeof(st));
	st.gen = lb.gen;
	tag.worker_id = STEER_HOLD_LOBBY | id;
	tag.gen = lb.gen;
	tag.port = l->port;
	tag.lobby = 1;
	if (bpf_map_update_elem(m->fd[MAP_LOBBY_STATS], &id, &st, BPF_ANY) ||
	    bpf_map_update_elem(m->fd[MAP_WORKER_TAGS], &l->fd, &tag, BPF_ANY) ||
	    bpf_map_update_elem(m->fd[MAP_LOBBY_SOCKS], &id, &sock, BPF_ANY))
		return -1;
	lb.in_use = 1;
	lb.backlog = listener_backlog(l->fd);
	lb.family_mask = l->family_mask;
	lb.pid = l->pid;
	lb.port = l->port;
	memcpy(lb.addr, l->addr, 16);
	lb.cookie = l->cookie;
	return bpf_map_update_elem(m->fd[MAP_POOL_LOBBIES], &id, &lb, BPF_ANY);
}

int pool_set_lobby(const struct steer_maps *m, const char *name, struct listener *l, char *err)
{
	struct steer_lobby lb;
	uint32_t id;
	int ret;

	if (!l)
		return (ret = pool_find(m, name, &id, NULL, err)) ? ret : lobby_off(m, id, err);
	if ((ret = pool_find(m, name, &id, NULL, err)) ||
	    (ret = lobby_socket_free(m, id, l->cookie, err)))
		goto cleanup;
	/* the same socket, alive: nothing to do, its counts go on */
	if (pool_lobby_alive(m, id) && !pool_lobby_read(m, id, &lb, NULL) && lb.cookie == l->cookie)
		goto cleanup;
	if (lobby_write(m, id, l))
		ret = sys_error(err, "set the lobby");
cleanup:
	/* never keep the lobby's socket: when it closes it must leave the map */
	close(l->fd);
	l->fd = -1;
	return ret;
}
