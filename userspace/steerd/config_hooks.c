// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config_hooks.c - the special rows and the cross-checks of steer.conf's
 * schema (see config_hooks.h). A hook gets the group g, the setting s (NULL
 * when absent) and the block's struct obj; it returns 0 or conf_fail().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config_hooks.h"

CONF_HOOK(conf_parse_policy)
{
	struct conf_pool *p = obj;
	char perr[STEER_ERR_LEN];
	const char *v = NULL;

	if (conf_get_string(x, s, &v))
		return -1;
	return parse_policy(v, &p->policy, perr) ? conf_fail(x, s, "%s", perr) : 0;
}

/* Only the name here; fallbacks are resolved once every pool is known. */
CONF_HOOK(conf_parse_fallback)
{
	struct conf_pool *p = obj;
	char perr[STEER_ERR_LEN];
	const char *v = NULL;

	if (conf_get_string(x, s, &v))
		return -1;
	if (!strcmp(v, CONF_FALLBACK_NONE))
		return 0;
	if (strcmp(v, CONF_FALLBACK_MAINTENANCE) && parse_name(v, "fallback pool", perr))
		return conf_fail(x, s, "%s", perr);
	strcpy(p->fallback, v);
	return 0;
}

/* socket_group = "NAME" | "GID" into a gid_t */
CONF_HOOK(conf_parse_group)
{
	struct group gr, *found = NULL;
	char buf[4096], *end;
	gid_t *gid = CONF_FIELD_PTR(obj, f);
	unsigned long n;
	const char *v = NULL;

	if (conf_get_string(x, s, &v))
		return -1;
	if (strlen(v) > f->maxlen)
		return conf_fail(x, s, "is %zu characters long; at most %zu", strlen(v), f->maxlen);
	if (isdigit((unsigned char)v[0])) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*end || errno || n >= (gid_t)-1)
			return conf_fail(x, s, "'%s' is not a group name or number", v);
		*gid = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(v, &gr, buf, sizeof(buf), &found) || !found)
		return conf_fail(x, s, "no group '%s' on this system", v);
	*gid = found->gr_gid;
	return 0;
}

/* A rate's burst defaults to one second's worth of it ... */
CONF_HOOK(conf_default_burst)
{
	struct conf_pool *p = obj;

	if (p->has_rate)
		p->burst = p->rate < 1 ? 1 : (uint32_t)p->rate;
	return 0;
}

/* ... and a burst without a rate is a mistake. */
CONF_HOOK(conf_parse_burst)
{
	const struct conf_pool *p = obj;

	return p->has_rate ? conf_parse_value(x, s, f, obj) : conf_fail(x, s, "needs a rate");
}

/* weight = N | "auto": "auto" derives it from the worker's CPU allowance,
 * computed again every interval (reconcile.c) */
CONF_HOOK(conf_parse_weight)
{
	struct conf_worker *w = obj;
	const char *v = NULL;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_parse_value(x, s, f, obj);
	if (conf_get_string(x, s, &v))
		return -1;
	if (strcmp(v, STEER_WEIGHT_AUTO))
		return conf_fail(x, s, "\"%s\" is not a whole number %u..%u or \"%s\"", v, 0,
				 STEER_WEIGHT_MAX, STEER_WEIGHT_AUTO);
	w->weight_auto = true;
	w->weight = STEER_WEIGHT_DEFAULT;	/* until its process is known */
	return 0;
}

/* Before a pool's workers load: all pools' workers within the kernel's ids. */
CONF_HOOK(conf_count_workers)
{
	size_t n = (size_t)config_setting_length(s);

	if (x->nworkers + n > STEER_MAX_WORKERS)
		return conf_fail(x, s, "brings the workers of all pools to more than %d",
				 STEER_MAX_WORKERS);
	x->nworkers += n;
	return 0;
}

/* steerd runs from /, and a relative path would move with its cwd. */
CONF_HOOK(conf_check_socket)
{
	const struct steer_config *c = obj;

	if (c->socket_path[0] != '/')
		return conf_fail(x, config_setting_get_member(g, "socket"),
				 "must be an absolute path");
	return 0;
}

/* A path on a tcp check would be silently unused: say so instead. */
CONF_HOOK(conf_check_http_only)
{
	static const char *const http_only[] = { "path", "expect" };
	const struct conf_check *k = obj;

	if (k->type == CONF_CHECK_HTTP)
		return 0;
	for (size_t i = 0; i < sizeof(http_only) / sizeof(http_only[0]); i++) {
		const config_setting_t *h = config_setting_get_member(g, http_only[i]);

		if (h)
			return conf_fail(x, h, "applies only to type = \"http\"");
	}
	return 0;
}

/* The path goes into the request line as is: no spaces, no CR/LF. */
CONF_HOOK(conf_check_http_path)
{
	const struct conf_check *k = obj;
	const char *p = k->path;

	if (p[0] == '/') {
		while (*p && (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f)
			p++;
		if (!*p)
			return 0;
	}
	return conf_fail(x, config_setting_get_member(g, "path"),
			 "'%s' must start with '/' and hold no spaces or control characters",
			 k->path);
}

/* The pools before p: all slots exist, the ones not loaded yet are zeroes. */
static const struct conf_pool *pool_before(const struct steer_config *c,
					   const struct conf_pool *p, const char *name)
{
	for (const struct conf_pool *q = c->pools; q < p; q++)
		if (!strcmp(q->name, name))
			return q;
	return NULL;
}

CONF_HOOK(conf_check_pool_name)
{
	const struct conf_pool *p = obj, *other;

	/* fallback = "maintenance" / "none" must mean one thing only. */
	if (!strcmp(p->name, CONF_FALLBACK_MAINTENANCE) || !strcmp(p->name, CONF_FALLBACK_NONE))
		return conf_fail(x, s, "pool name '%s' is reserved (fallback = \"%s\" has a meaning)",
				 p->name, p->name);
	other = pool_before(x->c, p, p->name);
	if (other)
		return conf_fail(x, s, "pool '%s' is already defined at line %d", p->name,
				 other->line);
	return 0;
}

/* Another worker than w that matches: by name, or by listener when ep. */
static const struct conf_worker *other_worker(const struct steer_config *c,
					      const struct conf_worker *w,
					      const struct steer_endpoint *ep,
					      const struct conf_pool **pool)
{
	for (size_t i = 0; i < c->npools; i++) {
		for (size_t j = 0; j < c->pools[i].nworkers; j++) {
			const struct conf_worker *o = &c->pools[i].workers[j];

			if (o == w || !o->name[0])
				continue;
			if (ep ? !netaddr_endpoint_equal(&o->addr, ep) : strcmp(o->name, w->name))
				continue;
			*pool = &c->pools[i];
			return o;
		}
	}
	return NULL;
}

/* Worker names are unique across all pools: steerctl names them alone. */
CONF_HOOK(conf_check_worker_name)
{
	const struct conf_worker *w = obj, *other;
	const struct conf_pool *in;

	other = other_worker(x->c, w, NULL, &in);
	if (other)
		return conf_fail(x, s, "worker '%s' is already defined at line %d (pool '%s')",
				 w->name, other->line, in->name);
	return 0;
}

/* One listener is one worker, so --check refuses what start could only
 * half-apply. */
CONF_HOOK(conf_check_worker_addr)
{
	const struct conf_worker *w = obj, *other;
	const struct conf_pool *in;

	other = other_worker(x->c, w, &w->addr, &in);
	if (other)
		return conf_fail(x, s, "worker '%s' at line %d (pool '%s') already listens there",
				 other->name, other->line, in->name);
	return 0;
}

static const config_setting_t *fallback_setting(const config_setting_t *root, size_t i)
{
	const config_setting_t *list = config_setting_get_member(root, "pools");

	return config_setting_get_member(config_setting_get_elem(list, i), "fallback");
}

/* "a -> b -> c": the chain of fallbacks from p, at most steps long. */
static void chain_of(const struct steer_config *c, const struct conf_pool *p, int steps,
		     char *buf, size_t len)
{
	size_t n = snprintf(buf, len, "%s", p->name);

	while (steps-- > 0 && p && p->fallback[0] && n < len) {
		n += snprintf(buf + n, len - n, " -> %s", p->fallback);
		p = config_find_pool(c, p->fallback);
	}
}

static int check_fallback_target(struct conf_ctx *x, const config_setting_t *root, size_t i)
{
	const struct steer_config *c = x->c;
	const struct conf_pool *p = &c->pools[i];

	if (!p->fallback[0])
		return 0;
	if (!strcmp(p->fallback, CONF_FALLBACK_MAINTENANCE)) {
		if (!c->maintenance.enabled)
			return conf_fail(x, fallback_setting(root, i),
					 "\"maintenance\" needs a maintenance = { listen = ...; } block");
		return 0;
	}
	if (!strcmp(p->fallback, p->name))
		return conf_fail(x, fallback_setting(root, i),
				 "pool '%s' cannot fall back to itself", p->name);
	if (!config_find_pool(c, p->fallback))
		return conf_fail(x, fallback_setting(root, i), "pool '%s' is not defined",
				 p->fallback);
	return 0;
}

static int check_fallback_loops(struct conf_ctx *x, const config_setting_t *root)
{
	const struct steer_config *c = x->c;
	char chain[STEER_ERR_LEN];

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i], *q = p;

		for (size_t steps = 1; steps <= c->npools; steps++) {
			q = config_find_pool(c, q->fallback);
			if (!q)
				break;	/* none, or the responder */
			if (q != p)
				continue;
			chain_of(c, p, steps, chain, sizeof(chain));
			return conf_fail(x, fallback_setting(root, i), "'%s' makes a loop: %s",
					 p->fallback, chain);
		}
	}
	return 0;
}

/* Every pool a chain from p visits, p and the responder included, must be
 * within the hops the kernel follows; loops are reported before lengths so
 * that a loop never shows up as "too long". */
CONF_HOOK(conf_check_fallbacks)
{
	const struct steer_config *c = x->c;
	char chain[STEER_ERR_LEN];

	for (size_t i = 0; i < c->npools; i++)
		if (check_fallback_target(x, g, i))
			return -1;
	if (check_fallback_loops(x, g))
		return -1;
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *q = &c->pools[i];
		int hops = 1;

		for (; q && q->fallback[0]; q = config_find_pool(c, q->fallback))
			hops++;
		if (hops <= STEER_MAX_HOPS)
			continue;
		chain_of(c, &c->pools[i], hops, chain, sizeof(chain));
		return conf_fail(x, fallback_setting(g, i),
				 "the chain %s visits %d pools; the kernel follows at most %d",
				 chain, hops, STEER_MAX_HOPS);
	}
	return 0;
}

CONF_HOOK(conf_check_service_name)
{
	const struct conf_service *sv = obj;

	for (const struct conf_service *o = x->c->services; o < sv; o++)
		if (!strcmp(o->name, sv->name))
			return conf_fail(x, s, "service '%s' is already defined at line %d",
					 sv->name, o->line);
	return 0;
}

static bool same_prefix(const struct steer_prefix *a, const struct steer_prefix *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* Each (prefix, port) is one LPM key: two services may not claim the same,
 * and all of them fit in the map. */
CONF_HOOK(conf_check_service_ports)
{
	const struct conf_service *sv = obj;
	size_t keys = sv->port_hi - sv->port_lo + 1;
	char addr[64];

	for (const struct conf_service *o = x->c->services; o < sv; o++) {
		keys += o->port_hi - o->port_lo + 1;
		if (!same_prefix(&sv->prefix, &o->prefix) || sv->port_hi < o->port_lo ||
		    o->port_hi < sv->port_lo)
			continue;
		netaddr_format(sv->prefix.addr, addr, sizeof(addr));
		return conf_fail(x, s, "ports %u-%u on %s/%u overlap service '%s' at line %d",
				 sv->port_lo, sv->port_hi, addr, sv->prefix.prefixlen, o->name,
				 o->line);
	}
	if (keys > STEER_MAX_SERVICE_KEYS)
		return conf_fail(x, s, "the ports of all services add up to more than %d",
				 STEER_MAX_SERVICE_KEYS);
	return 0;
}

CONF_HOOK(conf_check_service_pool)
{
	const struct conf_service *sv = obj;

	if (!config_find_pool(x->c, sv->pool))
		return conf_fail(x, s, "pool '%s' is not defined", sv->pool);
	return 0;
}

/* ---- fleet ---- */

/* host_id: what names this host in Redis keys and logs; gethostname()
 * when not given. Letters, digits, '.', '_' and '-' only. */
static bool fleet_word(const char *v, const char *extra)
{
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr(extra, *v))
			return false;
	return true;
}

CONF_HOOK(conf_fleet_host_id)
{
	struct conf_fleet *fl = obj;

	if (!s && gethostname(fl->host_id, sizeof(fl->host_id) - 1))
		snprintf(fl->host_id, sizeof(fl->host_id), "localhost");
	fl->host_id[sizeof(fl->host_id) - 1] = '\0';
	if (!fl->host_id[0] || !fleet_word(fl->host_id, "._-"))
		return conf_fail(x, s ? s : g, "'%s' is not a host name (letters, digits, '.', "
				 "'_' and '-'; at most %d)%s", fl->host_id, STEER_FLEET_HOST_ID_LEN - 1,
				 s ? "" : ": gethostname() gave it; set host_id");
	return 0;
}

CONF_HOOK(conf_fleet_key_prefix)
{
	const struct conf_fleet *fl = obj;

	if (!fl->key_prefix[0] || !fleet_word(fl->key_prefix, "._-:"))
		return conf_fail(x, s, "'%s' is not a key prefix (letters, digits, '.', '_', '-' "
				 "and ':')", fl->key_prefix);
	return 0;
}

/* password_file: read now, so a reload with a bad one keeps what runs.
 * One line; a final newline is not part of it. Never put it in a message. */
CONF_HOOK(conf_fleet_password)
{
	struct conf_fleet *fl = obj;
	struct stat st;
	ssize_t n;
	int fd;

	fl->password[0] = '\0';
	if (!s)
		return 0;
	fd = open(fl->password_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return conf_fail(x, s, "%s: %s", fl->password_file, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return conf_fail(x, s, "%s: not a regular file", fl->password_file);
	}
	n = read(fd, fl->password, sizeof(fl->password));
	close(fd);
	if (n < 0)
		return conf_fail(x, s, "%s: %s", fl->password_file, strerror(errno));
	if ((size_t)n >= sizeof(fl->password)) {
		memset(fl->password, 0, sizeof(fl->password));
		return conf_fail(x, s, "%s: longer than %zu bytes", fl->password_file,
				 sizeof(fl->password) - 2);
	}
	fl->password[n] = '\0';
	if (n > 0 && fl->password[n - 1] == '\n')
		fl->password[--n] = '\0';
	if (n > 0 && fl->password[n - 1] == '\r')
		fl->password[--n] = '\0';
	if (!n || strlen(fl->password) != (size_t)n || strpbrk(fl->password, "\r\n")) {
		memset(fl->password, 0, sizeof(fl->password));
		return conf_fail(x, s, "%s: %s", fl->password_file,
				 n ? "must hold one line (no newline or NUL inside)" : "is empty");
	}
	return 0;
}

/* A row of a pool's fleet settings that needs another one given. */
static int needs(struct conf_ctx *x, const config_setting_t *g, const char *row, bool have,
		 const char *what)
{
	const config_setting_t *s = config_setting_get_member(g, row);

	return s && !have ? conf_fail(x, s, "needs %s", what) : 0;
}

/* global_quota: shared through the fleet's Redis, so it needs the fleet
 * block (above pools in the schema: it is loaded first); a pool has one
 * admission budget, so it excludes quota. */
CONF_HOOK(conf_pool_global_quota)
{
	const struct conf_pool *p = obj;

	if (!s)
		return 0;
	if (p->has_quota)
		return conf_fail(x, s, "excludes quota (a pool has one admission budget)");
	if (!x->c->fleet.enabled)
		return conf_fail(x, s, "needs a fleet block (fleet = { redis = \"IP:PORT\"; })");
	return 0;
}

/* chunk defaults to fleet.chunk; both it and window_s need a budget to
 * cut into leases */
CONF_HOOK(conf_pool_fleet_chunk)
{
	struct conf_pool *p = obj;

	if (!s)
		p->chunk = x->c->fleet.enabled ? x->c->fleet.chunk : STEER_FLEET_CHUNK_DEFAULT;
	if (needs(x, g, "window_s", p->has_global_quota, "global_quota"))
		return -1;
	return needs(x, g, "chunk", p->has_global_quota || p->has_tokens,
		     "global_quota or tokens_per_min");
}

/* what a host admits per window while Redis is away */
CONF_HOOK(conf_pool_static_share)
{
	struct conf_pool *p = obj;
	uint32_t hosts = x->c->fleet.enabled ? x->c->fleet.expected_hosts : 1;

	if (needs(x, g, "static_share", p->has_global_quota, "global_quota"))
		return -1;
	if (!s && p->has_global_quota)
		p->static_share = p->global_quota / (hosts ? hosts : 1);
	if (p->has_global_quota && !p->static_share)
		p->static_share = 1;
	return 0;
}

/* tokens_per_min: one admission budget per pool, so not with quota or
 * global_quota; without a fleet block it is spent locally */
CONF_HOOK(conf_pool_tokens)
{
	const struct conf_pool *p = obj;

	if (needs(x, g, "token_window_s", p->has_tokens, "tokens_per_min"))
		return -1;
	if (!s)
		return 0;
	if (p->has_quota || p->has_global_quota)
		return conf_fail(x, s, "excludes %s (a pool has one admission budget)",
				 p->has_quota ? "quota" : "global_quota");
	return 0;
}
