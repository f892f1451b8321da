// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config.c - steerd's configuration file. libconfig does the syntax; this
 * file walks the tree, rejects every setting it does not know (so a typo
 * such as `wieght` is an error, not a silent default), checks types and
 * ranges, fills in defaults and checks the names that refer to each other.
 * It builds a private copy and hands it over only when all of it is valid.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "config.h"

#define STRING_FILE	"<string>"
#define PATH_LEN	128	/* "pools[63].workers[1023].check.interval_ms" fits */

struct loader {
	const char *file;	/* for settings and errors that carry no file name */
	char *err;
	size_t errlen;
	struct steer_config *c;	/* being built; its lookups see what is loaded so far */
	size_t nworkers;	/* across all pools, against STEER_MAX_WORKERS */
};

static const char *const top_keys[] = { "daemon", "maintenance", "pools", "services", NULL };
static const char *const daemon_keys[] = { "interval_ms", "metrics", "socket", "socket_group",
					   "socket_mode", NULL };
static const char *const maintenance_keys[] = { "listen", "status", "retry_after", "body", NULL };
static const char *const pool_keys[] = { "name", "policy", "fallback", "circuit", "quota", "rate",
					 "burst", "eject_max", "workers", NULL };
static const char *const circuit_keys[] = { "threshold", "window_s", "min_requests", "cooldown_s",
					    "half_open_probes", NULL };
static const char *const worker_keys[] = { "name", "addr", "weight", "maxconn", "check", "agent",
					   "resources", NULL };
static const char *const check_keys[] = { "type", "port", "path", "expect", "interval_ms",
					  "timeout_ms", "rise", "fall", "slowstart_s", NULL };
static const char *const agent_keys[] = { "port", "interval_ms", "timeout_ms", NULL };
static const char *const service_keys[] = { "name", "prefix", "port", "pool", NULL };

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* One line, whatever a quoted value holds: strings may span lines. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
}

/* "pools[0].workers[1].weight": the setting as the user wrote it. */
static void path_of(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;

	buf[0] = '\0';
	if (!parent)
		return;
	path_of(parent, buf, len);
	n = strlen(buf);
	if (config_setting_is_list(parent) || config_setting_is_array(parent))
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
	else
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
}

static const char *file_of(const struct loader *l, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);

	return f ? f : l->file;
}

/* err = "FILE:LINE: SETTING: message"; always returns -1. */
static int fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	char path[PATH_LEN], msg[STEER_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_of(s, path, sizeof(path));
	set_err(l->err, l->errlen, "%s:%u: %s%s%s", file_of(l, s), config_setting_source_line(s),
		path, path[0] ? ": " : "", msg);
	return -1;
}

/* Edit distance with adjacent swaps, for "did you mean". */
static unsigned int distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned int d[STEER_NAME_LEN][STEER_NAME_LEN];

	if (n >= STEER_NAME_LEN || m >= STEER_NAME_LEN)
		return UINT_MAX;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			unsigned int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m];
}

static bool is_key(const char *name, const char *const *keys)
{
	for (; *keys; keys++)
		if (!strcmp(name, *keys))
			return true;
	return false;
}

static int unknown_key(struct loader *l, const config_setting_t *s, const char *const *keys)
{
	const char *name = config_setting_name(s), *best = NULL;
	unsigned int best_d = UINT_MAX;
	char list[STEER_ERR_LEN] = "";
	size_t n = 0;

	for (const char *const *k = keys; *k; k++) {
		unsigned int d = distance(name, *k);

		if (d < best_d) {
			best_d = d;
			best = *k;
		}
		n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *k);
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	/* Two edits catch the usual typo without offering "port" for "path". */
	if (best && best_d <= 2 && best_d < strlen(best) / 2 + 1)
		return fail(l, s, "unknown setting; did you mean '%s'?", best);
	return fail(l, s, "unknown setting (known here: %s)", list);
}

/* Every child of group g must be one of keys. */
static int known_keys(struct loader *l, const config_setting_t *g, const char *const *keys)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);

		if (!is_key(config_setting_name(s), keys))
			return unknown_key(l, s, keys);
	}
	return 0;
}

static int require(struct loader *l, const config_setting_t *g, const char *key)
{
	if (config_setting_get_member(g, key))
		return 0;
	return fail(l, g, "missing required setting '%s'", key);
}

/* A group of known keys: s itself (a list element) ... */
static int as_group(struct loader *l, const config_setting_t *s, const char *const *keys)
{
	if (!config_setting_is_group(s))
		return fail(l, s, "must be a group { ... }");
	return known_keys(l, s, keys);
}

/* ... or the member key of g; *out = NULL when it is absent. */
static int get_group(struct loader *l, const config_setting_t *g, const char *key,
		     const char *const *keys, const config_setting_t **out)
{
	*out = config_setting_get_member(g, key);
	return *out ? as_group(l, *out, keys) : 0;
}

/* A list ( ... ) of at most max elements; *out = NULL when absent. */
static int get_list(struct loader *l, const config_setting_t *g, const char *key, int max,
		    const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	*out = NULL;
	if (!s)
		return 0;
	if (!config_setting_is_list(s))
		return fail(l, s, "must be a list ( { ... }, ... )");
	if (config_setting_length(s) > max)
		return fail(l, s, "has %d entries; at most %d", config_setting_length(s), max);
	*out = s;
	return 0;
}

/* The getters below leave *out alone when the key is absent, so the caller
 * sets the default first. */
static int get_string(struct loader *l, const config_setting_t *g, const char *key,
		      const char **out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(l, s, "must be a string in double quotes");
	*out = config_setting_get_string(s);
	return 0;
}

static int get_text(struct loader *l, const config_setting_t *g, const char *key, char *buf,
		    size_t size)
{
	const char *v = NULL;
	size_t n;

	if (get_string(l, g, key, &v))
		return -1;
	if (!v)
		return 0;
	n = strlen(v);
	if (n >= size)
		return fail(l, config_setting_get_member(g, key),
			    "is %zu characters long; at most %zu", n, size - 1);
	memcpy(buf, v, n + 1);
	return 0;
}

static int get_name(struct loader *l, const config_setting_t *g, const char *key,
		    const char *what, char out[STEER_NAME_LEN])
{
	char perr[STEER_ERR_LEN];
	const char *v = NULL;

	if (get_string(l, g, key, &v))
		return -1;
	if (!v)
		return 0;
	if (parse_name(v, what, perr))
		return fail(l, config_setting_get_member(g, key), "%s", perr);
	strcpy(out, v);
	return 0;
}

static int get_endpoint(struct loader *l, const config_setting_t *g, const char *key,
			struct steer_endpoint *out)
{
	char perr[STEER_ERR_LEN];
	const char *v = NULL;

	if (get_string(l, g, key, &v))
		return -1;
	if (v && parse_endpoint(v, out, perr))
		return fail(l, config_setting_get_member(g, key), "%s", perr);
	return 0;
}

static int get_bool(struct loader *l, const config_setting_t *g, const char *key, bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(l, s, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

/* Whole numbers only: 1.5 for a count is a mistake, not something to round. */
static int get_int(struct loader *l, const config_setting_t *s, long long *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(l, s, "must be a whole number");
	*out = config_setting_get_int64(s);
	return 0;
}

static int get_u32(struct loader *l, const config_setting_t *g, const char *key, uint32_t min,
		   uint32_t max, uint32_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	long long v = 0;

	if (!s)
		return 0;
	if (get_int(l, s, &v))
		return -1;
	if (v < min || v > max)
		return fail(l, s, "%lld is out of range %u..%u", v, min, max);
	*out = (uint32_t)v;
	return 0;
}

static int get_u16(struct loader *l, const config_setting_t *g, const char *key, uint16_t min,
		   uint16_t max, uint16_t *out)
{
	uint32_t v = *out;

	if (get_u32(l, g, key, min, max, &v))
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int get_status(struct loader *l, const config_setting_t *g, const char *key, int *out)
{
	uint32_t v = (uint32_t)*out;

	if (get_u32(l, g, key, 100, 599, &v))
		return -1;
	*out = (int)v;
	return 0;
}

/* A real number in [lo, hi], or (lo, hi] when lo_open; whole numbers are fine. */
static int get_double(struct loader *l, const config_setting_t *g, const char *key, double lo,
		      bool lo_open, double hi, double *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	double v;

	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return fail(l, s, "must be a number");
	}
	/* Written so that NaN and infinity fail too. */
	if (!isfinite(v) || !(lo_open ? v > lo : v >= lo) || !(v <= hi))
		return fail(l, s, "%g is out of range %c%g, %g]", v, lo_open ? '(' : '[', lo, hi);
	*out = v;
	return 0;
}

/* A group name, or its number. */
static int resolve_group(struct loader *l, const config_setting_t *s, const char *name, gid_t *gid)
{
	struct group gr, *found = NULL;
	char buf[4096], *end;
	unsigned long n;

	if (isdigit((unsigned char)name[0])) {
		errno = 0;
		n = strtoul(name, &end, 10);
		if (*end || errno || n >= (gid_t)-1)
			return fail(l, s, "'%s' is not a group name or number", name);
		*gid = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &found) || !found)
		return fail(l, s, "no group '%s' on this system", name);
	*gid = found->gr_gid;
	return 0;
}

/* socket_group = "NAME" | "GID"; socket_mode = "0660" (octal, as text:
 * libconfig has no octal numbers) */
static int load_socket_access(struct loader *l, const config_setting_t *g, struct steer_config *c)
{
	char group[64] = "", mode[8] = "", *end;
	unsigned long m;

	c->socket_mode = CONF_DEFAULT_SOCKET_MODE;
	if (get_text(l, g, "socket_group", group, sizeof(group)) ||
	    get_text(l, g, "socket_mode", mode, sizeof(mode)))
		return -1;
	if (group[0]) {
		if (resolve_group(l, config_setting_get_member(g, "socket_group"), group,
				  &c->socket_gid))
			return -1;
		c->has_socket_group = true;
	}
	if (!mode[0])
		return 0;
	m = strtoul(mode, &end, 8);
	if (*end || mode[0] < '0' || mode[0] > '7' || m > 0777)
		return fail(l, config_setting_get_member(g, "socket_mode"),
			    "'%s' is not a file mode such as \"0660\" (octal, at most 0777)", mode);
	c->socket_mode = (uint32_t)m;
	return 0;
}

/* daemon = { interval_ms; metrics; socket; socket_group; socket_mode; } */
static int load_daemon(struct loader *l, const config_setting_t *root, struct steer_config *c)
{
	const config_setting_t *g;

	c->interval_ms = 1000;
	strcpy(c->socket_path, CONF_DEFAULT_SOCKET);
	c->socket_mode = CONF_DEFAULT_SOCKET_MODE;
	if (get_group(l, root, "daemon", daemon_keys, &g))
		return -1;
	if (!g)
		return 0;
	if (get_u32(l, g, "interval_ms", CONF_INTERVAL_MIN_MS, CONF_INTERVAL_MAX_MS,
		    &c->interval_ms) ||
	    get_endpoint(l, g, "metrics", &c->metrics) ||
	    get_text(l, g, "socket", c->socket_path, sizeof(c->socket_path)) ||
	    load_socket_access(l, g, c))
		return -1;
	c->has_metrics = config_setting_get_member(g, "metrics") != NULL;
	/* steerd runs from /, and a relative path would move with its cwd. */
	if (c->socket_path[0] != '/')
		return fail(l, config_setting_get_member(g, "socket"), "must be an absolute path");
	return 0;
}

/* maintenance = { listen; status; retry_after; body; } */
static int load_maintenance(struct loader *l, const config_setting_t *root,
			    struct conf_maintenance *m)
{
	const config_setting_t *g;

	m->enabled = false;
	m->status = 503;
	m->retry_after = 30;
	strcpy(m->body, "Service under maintenance, please retry later.\n");
	if (get_group(l, root, "maintenance", maintenance_keys, &g))
		return -1;
	if (!g)
		return 0;
	if (require(l, g, "listen") ||
	    get_endpoint(l, g, "listen", &m->listen) ||
	    get_status(l, g, "status", &m->status) ||
	    get_u32(l, g, "retry_after", 0, CONF_RETRY_AFTER_MAX_S, &m->retry_after) ||
	    get_text(l, g, "body", m->body, sizeof(m->body)))
		return -1;
	m->enabled = true;
	return 0;
}

/* The path goes into the request line as is: no spaces, no CR/LF. */
static bool valid_http_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int load_check_type(struct loader *l, const config_setting_t *g, struct conf_check *k)
{
	const char *type = "tcp";
	const char *http_only[] = { "path", "expect" };

	if (get_string(l, g, "type", &type))
		return -1;
	if (!strcmp(type, "tcp"))
		k->type = CONF_CHECK_TCP;
	else if (!strcmp(type, "http"))
		k->type = CONF_CHECK_HTTP;
	else
		return fail(l, config_setting_get_member(g, "type"),
			    "'%s' is unknown (tcp or http; an agent check is its own block)", type);
	if (k->type == CONF_CHECK_HTTP)
		return 0;
	/* A path on a tcp check would be silently unused: say so instead. */
	for (size_t i = 0; i < sizeof(http_only) / sizeof(http_only[0]); i++) {
		const config_setting_t *s = config_setting_get_member(g, http_only[i]);

		if (s)
			return fail(l, s, "applies only to type = \"http\"");
	}
	return 0;
}

/* check = { type; port; path; expect; interval_ms; timeout_ms; rise; fall; slowstart_s; } */
static int load_check(struct loader *l, const config_setting_t *wg, const struct conf_worker *w,
		      struct conf_check *k)
{
	const config_setting_t *g;

	*k = (struct conf_check){
		.type = CONF_CHECK_TCP, .port = w->addr.port, .path = "/", .expect = 200,
		.interval_ms = l->c->interval_ms, .timeout_ms = 1000, .rise = 2, .fall = 3,
	};
	if (get_group(l, wg, "check", check_keys, &g))
		return -1;
	if (!g)
		return 0;
	if (load_check_type(l, g, k) ||
	    get_u16(l, g, "port", 1, 65535, &k->port) ||
	    get_text(l, g, "path", k->path, sizeof(k->path)) ||
	    get_status(l, g, "expect", &k->expect) ||
	    get_u32(l, g, "interval_ms", CONF_INTERVAL_MIN_MS, CONF_INTERVAL_MAX_MS,
		    &k->interval_ms) ||
	    get_u32(l, g, "timeout_ms", CONF_TIMEOUT_MIN_MS, CONF_TIMEOUT_MAX_MS, &k->timeout_ms) ||
	    get_u32(l, g, "rise", 1, CONF_RISE_FALL_MAX, &k->rise) ||
	    get_u32(l, g, "fall", 1, CONF_RISE_FALL_MAX, &k->fall) ||
	    get_u32(l, g, "slowstart_s", 0, CONF_SLOWSTART_MAX_S, &k->slowstart_s))
		return -1;
	if (!valid_http_path(k->path))
		return fail(l, config_setting_get_member(g, "path"),
			    "'%s' must start with '/' and hold no spaces or control characters",
			    k->path);
	k->enabled = true;
	return 0;
}

/* agent = { port; interval_ms; timeout_ms; } */
static int load_agent(struct loader *l, const config_setting_t *wg, struct conf_agent *a)
{
	const config_setting_t *g;

	*a = (struct conf_agent){ .interval_ms = l->c->interval_ms, .timeout_ms = 1000 };
	if (get_group(l, wg, "agent", agent_keys, &g))
		return -1;
	if (!g)
		return 0;
	if (require(l, g, "port") ||
	    get_u16(l, g, "port", 1, 65535, &a->port) ||
	    get_u32(l, g, "interval_ms", CONF_INTERVAL_MIN_MS, CONF_INTERVAL_MAX_MS,
		    &a->interval_ms) ||
	    get_u32(l, g, "timeout_ms", CONF_TIMEOUT_MIN_MS, CONF_TIMEOUT_MAX_MS, &a->timeout_ms))
		return -1;
	a->enabled = true;
	return 0;
}

/* Worker names are unique across all pools: steerctl names them alone. */
/* The worker already loaded at ep, if any: one listener is one worker, so
 * --check refuses what start could only half-apply. */
static const struct conf_worker *worker_at(const struct steer_config *c,
					   const struct steer_endpoint *ep,
					   const struct conf_pool **pool)
{
	for (size_t i = 0; i < c->npools; i++) {
		for (size_t j = 0; j < c->pools[i].nworkers; j++) {
			const struct conf_worker *w = &c->pools[i].workers[j];

			if (w->addr.port != ep->port || w->addr.family != ep->family ||
			    memcmp(w->addr.addr, ep->addr, sizeof(ep->addr)))
				continue;
			*pool = &c->pools[i];
			return w;
		}
	}
	return NULL;
}

static int load_worker(struct loader *l, const config_setting_t *g, struct conf_worker *w)
{
	const struct conf_pool *other_pool;
	const struct conf_worker *other;
	char name[STEER_NAME_LEN];

	w->weight = 100;
	w->resources = true;
	w->line = (int)config_setting_source_line(g);
	if (as_group(l, g, worker_keys) ||
	    require(l, g, "name") || require(l, g, "addr") ||
	    get_name(l, g, "name", "worker", name))
		return -1;
	other = config_find_worker(l->c, name, &other_pool);
	if (other)
		return fail(l, config_setting_get_member(g, "name"),
			    "worker '%s' is already defined at line %d (pool '%s')", name,
			    other->line, other_pool->name);
	strcpy(w->name, name);
	if (get_endpoint(l, g, "addr", &w->addr))
		return -1;
	other = worker_at(l->c, &w->addr, &other_pool);
	if (other)
		return fail(l, config_setting_get_member(g, "addr"),
			    "worker '%s' at line %d (pool '%s') already listens there", other->name,
			    other->line, other_pool->name);
	if (get_u32(l, g, "weight", 0, STEER_WEIGHT_MAX, &w->weight) ||
	    get_u32(l, g, "maxconn", 0, UINT32_MAX, &w->maxconn) ||
	    load_check(l, g, w, &w->check) ||
	    load_agent(l, g, &w->agent) ||
	    get_bool(l, g, "resources", &w->resources))
		return -1;
	return 0;
}

static int load_workers(struct loader *l, const config_setting_t *pg, struct conf_pool *p)
{
	const config_setting_t *list;
	int n;

	if (get_list(l, pg, "workers", STEER_MAX_POOL_WORKERS, &list))
		return -1;
	n = list ? config_setting_length(list) : 0;
	if (n == 0)
		return 0;
	if (l->nworkers + n > STEER_MAX_WORKERS)
		return fail(l, list, "brings the workers of all pools to more than %d",
			    STEER_MAX_WORKERS);
	l->nworkers += n;
	p->workers = calloc(n, sizeof(*p->workers));
	if (!p->workers)
		return fail(l, list, "out of memory");
	/* nworkers grows one by one, so a duplicate check sees only loaded workers. */
	for (int i = 0; i < n; i++) {
		if (load_worker(l, config_setting_get_elem(list, i), &p->workers[i]))
			return -1;
		p->nworkers++;
	}
	return 0;
}

/* circuit = { threshold; window_s; min_requests; cooldown_s; half_open_probes; } */
static int load_circuit(struct loader *l, const config_setting_t *pg, struct conf_circuit *k)
{
	const config_setting_t *g;

	*k = (struct conf_circuit){
		.threshold = 0.05, .window_s = 10, .min_requests = 20, .cooldown_s = 5,
		.half_open_probes = 5,
	};
	if (get_group(l, pg, "circuit", circuit_keys, &g))
		return -1;
	if (!g)
		return 0;
	if (get_double(l, g, "threshold", 0, true, 1, &k->threshold) ||
	    get_u32(l, g, "window_s", 1, CONF_WINDOW_MAX_S, &k->window_s) ||
	    get_u32(l, g, "min_requests", 1, CONF_MIN_REQUESTS_MAX, &k->min_requests) ||
	    get_u32(l, g, "cooldown_s", 1, CONF_COOLDOWN_MAX_S, &k->cooldown_s) ||
	    get_u32(l, g, "half_open_probes", 1, CONF_PROBES_MAX, &k->half_open_probes))
		return -1;
	return 0;
}

static int load_quota(struct loader *l, const config_setting_t *g, struct conf_pool *p)
{
	const config_setting_t *s = config_setting_get_member(g, "quota");
	long long v = 0;

	if (!s)
		return 0;
	if (get_int(l, s, &v))
		return -1;
	if (v < 0)
		return fail(l, s, "%lld must not be negative", v);
	p->has_quota = true;
	p->quota = (uint64_t)v;
	return 0;
}

/* rate = connections per second; burst defaults to one second's worth. */
static int load_rate(struct loader *l, const config_setting_t *g, struct conf_pool *p)
{
	const config_setting_t *burst = config_setting_get_member(g, "burst");

	if (get_double(l, g, "rate", 0, true, CONF_RATE_MAX, &p->rate))
		return -1;
	p->has_rate = config_setting_get_member(g, "rate") != NULL;
	if (!p->has_rate) {
		if (burst)
			return fail(l, burst, "needs a rate");
		return 0;
	}
	p->burst = p->rate < 1 ? 1 : (uint32_t)p->rate;
	return get_u32(l, g, "burst", 1, UINT32_MAX, &p->burst);
}

static int load_policy(struct loader *l, const config_setting_t *g, struct conf_pool *p)
{
	const char *v = NULL;
	char perr[STEER_ERR_LEN];

	p->policy = STEER_POLICY_LEAST_CONN;
	if (get_string(l, g, "policy", &v))
		return -1;
	if (v && parse_policy(v, &p->policy, perr))
		return fail(l, config_setting_get_member(g, "policy"), "%s", perr);
	return 0;
}

/* Only the name here; fallbacks are resolved once every pool is known. */
static int load_fallback(struct loader *l, const config_setting_t *g, struct conf_pool *p)
{
	const char *v = NULL;
	char perr[STEER_ERR_LEN];

	if (get_string(l, g, "fallback", &v))
		return -1;
	if (!v || !strcmp(v, CONF_FALLBACK_NONE))
		return 0;
	if (strcmp(v, CONF_FALLBACK_MAINTENANCE) && parse_name(v, "fallback pool", perr))
		return fail(l, config_setting_get_member(g, "fallback"), "%s", perr);
	strcpy(p->fallback, v);
	return 0;
}

static int load_pool(struct loader *l, const config_setting_t *g, struct conf_pool *p)
{
	const config_setting_t *name_s;
	const struct conf_pool *other;
	char name[STEER_NAME_LEN];

	p->eject_max = 0.5;
	p->line = (int)config_setting_source_line(g);
	if (as_group(l, g, pool_keys) || require(l, g, "name") ||
	    get_name(l, g, "name", "pool", name))
		return -1;
	name_s = config_setting_get_member(g, "name");
	/* fallback = "maintenance" / "none" must mean one thing only. */
	if (!strcmp(name, CONF_FALLBACK_MAINTENANCE) || !strcmp(name, CONF_FALLBACK_NONE))
		return fail(l, name_s, "pool name '%s' is reserved (fallback = \"%s\" has a meaning)",
			    name, name);
	other = config_find_pool(l->c, name);
	if (other)
		return fail(l, name_s, "pool '%s' is already defined at line %d", name, other->line);
	strcpy(p->name, name);
	if (load_policy(l, g, p) ||
	    load_fallback(l, g, p) ||
	    load_circuit(l, g, &p->circuit) ||
	    load_quota(l, g, p) ||
	    load_rate(l, g, p) ||
	    get_double(l, g, "eject_max", 0, false, 1, &p->eject_max) ||
	    load_workers(l, g, p))
		return -1;
	return 0;
}

static int load_pools(struct loader *l, const config_setting_t *root, struct steer_config *c)
{
	const config_setting_t *list;
	int n;

	if (get_list(l, root, "pools", STEER_MAX_POOLS, &list))
		return -1;
	n = list ? config_setting_length(list) : 0;
	if (n == 0)
		return 0;
	/* All slots exist from here on; an unloaded slot has the name "", which
	 * no valid name matches, so lookups during the load see loaded pools only. */
	c->pools = calloc(n, sizeof(*c->pools));
	if (!c->pools)
		return fail(l, list, "out of memory");
	c->npools = n;
	for (int i = 0; i < n; i++)
		if (load_pool(l, config_setting_get_elem(list, i), &c->pools[i]))
			return -1;
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

static int check_fallback_target(struct loader *l, const config_setting_t *root, size_t i)
{
	const struct steer_config *c = l->c;
	const struct conf_pool *p = &c->pools[i];

	if (!p->fallback[0])
		return 0;
	if (!strcmp(p->fallback, CONF_FALLBACK_MAINTENANCE)) {
		if (!c->maintenance.enabled)
			return fail(l, fallback_setting(root, i),
				    "\"maintenance\" needs a maintenance = { listen = ...; } block");
		return 0;
	}
	if (!strcmp(p->fallback, p->name))
		return fail(l, fallback_setting(root, i), "pool '%s' cannot fall back to itself",
			    p->name);
	if (!config_find_pool(c, p->fallback))
		return fail(l, fallback_setting(root, i), "pool '%s' is not defined", p->fallback);
	return 0;
}

/* Every pool a chain from p visits, p and the responder included, must be
 * within the hops the kernel follows; loops are reported before lengths so
 * that a loop never shows up as "too long". */
static int check_fallbacks(struct loader *l, const config_setting_t *root)
{
	const struct steer_config *c = l->c;
	char chain[STEER_ERR_LEN];

	for (size_t i = 0; i < c->npools; i++)
		if (check_fallback_target(l, root, i))
			return -1;
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i], *q = p;

		for (size_t steps = 1; steps <= c->npools; steps++) {
			q = config_find_pool(c, q->fallback);
			if (!q)
				break;	/* none, or the responder */
			if (q != p)
				continue;
			chain_of(c, p, steps, chain, sizeof(chain));
			return fail(l, fallback_setting(root, i), "'%s' makes a loop: %s",
				    p->fallback, chain);
		}
	}
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *q = &c->pools[i];
		int hops = 1;

		for (; q && q->fallback[0]; q = config_find_pool(c, q->fallback))
			hops++;
		if (hops <= STEER_MAX_HOPS)
			continue;
		chain_of(c, &c->pools[i], hops, chain, sizeof(chain));
		return fail(l, fallback_setting(root, i),
			    "the chain %s visits %d pools; the kernel follows at most %d", chain,
			    hops, STEER_MAX_HOPS);
	}
	return 0;
}

/* port = 80, "80" or "8000-8009" */
static int load_ports(struct loader *l, const config_setting_t *g, struct conf_service *sv)
{
	const config_setting_t *s = config_setting_get_member(g, "port");
	char perr[STEER_ERR_LEN];
	long long v = 0;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		if (v < 1 || v > 65535)
			return fail(l, s, "%lld is out of range 1..65535", v);
		sv->port_lo = sv->port_hi = (uint16_t)v;
		return 0;
	case CONFIG_TYPE_STRING:
		if (parse_port_range(config_setting_get_string(s), &sv->port_lo, &sv->port_hi,
				     perr))
			return fail(l, s, "%s", perr);
		return 0;
	default:
		return fail(l, s, "must be a port number or a string \"P\" or \"P-Q\"");
	}
}

static bool same_prefix(const struct steer_prefix *a, const struct steer_prefix *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* Each (prefix, port) is one LPM key: two services may not claim the same. */
static int check_service_overlap(struct loader *l, const config_setting_t *g, size_t i)
{
	const struct conf_service *sv = &l->c->services[i];
	char addr[64];

	for (size_t j = 0; j < i; j++) {
		const struct conf_service *o = &l->c->services[j];

		if (!same_prefix(&sv->prefix, &o->prefix) || sv->port_hi < o->port_lo ||
		    o->port_hi < sv->port_lo)
			continue;
		format_addr(sv->prefix.addr, addr, sizeof(addr));
		return fail(l, config_setting_get_member(g, "port"),
			    "ports %u-%u on %s/%u overlap service '%s' at line %d", sv->port_lo,
			    sv->port_hi, addr, sv->prefix.prefixlen, o->name, o->line);
	}
	return 0;
}

static int load_service(struct loader *l, const config_setting_t *g, size_t i, size_t *keys)
{
	struct conf_service *sv = &l->c->services[i];
	const config_setting_t *s;
	char perr[STEER_ERR_LEN];
	const char *prefix = NULL;

	sv->line = (int)config_setting_source_line(g);
	if (as_group(l, g, service_keys) ||
	    require(l, g, "name") || require(l, g, "prefix") ||
	    require(l, g, "port") || require(l, g, "pool") ||
	    get_name(l, g, "name", "service", sv->name))
		return -1;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(l->c->services[j].name, sv->name))
			return fail(l, config_setting_get_member(g, "name"),
				    "service '%s' is already defined at line %d", sv->name,
				    l->c->services[j].line);
	if (get_string(l, g, "prefix", &prefix))
		return -1;
	if (parse_prefix(prefix, &sv->prefix, perr))
		return fail(l, config_setting_get_member(g, "prefix"), "%s", perr);
	if (load_ports(l, g, sv) || check_service_overlap(l, g, i))
		return -1;
	*keys += sv->port_hi - sv->port_lo + 1;
	if (*keys > STEER_MAX_SERVICE_KEYS)
		return fail(l, config_setting_get_member(g, "port"),
			    "the ports of all services add up to more than %d", STEER_MAX_SERVICE_KEYS);
	if (get_name(l, g, "pool", "pool", sv->pool))
		return -1;
	s = config_setting_get_member(g, "pool");
	if (!config_find_pool(l->c, sv->pool))
		return fail(l, s, "pool '%s' is not defined", sv->pool);
	return 0;
}

static int load_services(struct loader *l, const config_setting_t *root, struct steer_config *c)
{
	const config_setting_t *list;
	size_t keys = 0;
	int n;

	if (get_list(l, root, "services", STEER_MAX_SERVICES, &list))
		return -1;
	n = list ? config_setting_length(list) : 0;
	if (n == 0)
		return 0;
	c->services = calloc(n, sizeof(*c->services));
	if (!c->services)
		return fail(l, list, "out of memory");
	c->nservices = n;
	for (int i = 0; i < n; i++)
		if (load_service(l, config_setting_get_elem(list, i), i, &keys))
			return -1;
	return 0;
}

/* Order matters: checks default to daemon.interval_ms, and a fallback to
 * "maintenance" needs the maintenance block. */
static int load_tree(struct loader *l, const config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg);

	if (known_keys(l, root, top_keys) ||
	    load_daemon(l, root, l->c) ||
	    load_maintenance(l, root, &l->c->maintenance) ||
	    load_pools(l, root, l->c) ||
	    check_fallbacks(l, root) ||
	    load_services(l, root, l->c))
		return -1;
	return 0;
}

/*
 * libconfig 1.5 (Debian 12's) reads an integer without an L suffix with
 * atoi(): "quota = 5000000000;" loads as 705032704, and 4294967396 as 100,
 * both valid and both wrong. Later versions make such literals 64-bit. When
 * the library at hand cuts them (probed once), the text is scanned for such
 * literals after libconfig accepted its syntax. This is a token scan, not a
 * parser: it knows comments, strings, names, numbers and @include, no more.
 */
#define MAX_INCLUDE_DEPTH	10	/* libconfig's own limit */

struct int_scan {
	const char *include_dir;	/* as given to libconfig, or NULL */
	char *err;
	size_t errlen;
};

static bool libconfig_cuts_ints(void)
{
	static int cuts = -1;
	config_t cfg;

	if (cuts < 0) {
		config_init(&cfg);
		cuts = config_read_string(&cfg, "x = 2147483648;") &&
		       config_setting_type(config_lookup(&cfg, "x")) == CONFIG_TYPE_INT;
		config_destroy(&cfg);
	}
	return cuts;
}

/* Past the number at p; *bad when it is an int literal that does not fit. */
static const char *skip_number(const char *p, bool *bad)
{
	const char *start = p, *digits;
	bool real = false;

	*bad = false;
	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
		for (digits = p += 2; isxdigit((unsigned char)*p); p++)
			;
		if (*p != 'L') {
			errno = 0;
			*bad = strtoull(digits, NULL, 16) > INT_MAX || errno;
		}
	} else {
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '.')
			for (real = true, p++; isdigit((unsigned char)*p); p++)
				;
		if ((*p == 'e' || *p == 'E') &&
		    (isdigit((unsigned char)p[1]) ||
		     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
			for (real = true, p += 2; isdigit((unsigned char)*p); p++)
				;
		if (!real && *p != 'L') {
			long long v;

			errno = 0;
			v = strtoll(start, NULL, 10);
			*bad = errno || v < INT_MIN || v > INT_MAX;
		}
	}
	while (*p == 'L')
		p++;
	return p;
}

/* Past the closing quote of a string that starts after p's quote; the
 * contents, unescaped as @include reads them, go to buf when it is given. */
static const char *skip_string(const char *p, int *line, char *buf, size_t len)
{
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '\\' || p[1] == '"'))
			p++;
		if (*p == '\n')
			(*line)++;
		if (buf && n + 1 < len)
			buf[n++] = *p;
	}
	if (buf)
		buf[n] = '\0';
	return *p ? p + 1 : p;
}

static int scan_file(struct int_scan *sc, const char *path, int depth);

static int scan_include(struct int_scan *sc, const char **pp, int *line, int depth)
{
	char name[PATH_MAX], full[PATH_MAX];
	const char *p = *pp + strlen("@include");

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"') {
		*pp = p;
		return 0;
	}
	*pp = skip_string(p + 1, line, name, sizeof(name));
	if (sc->include_dir && name[0] != '/')
		snprintf(full, sizeof(full), "%s/%s", sc->include_dir, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	return scan_file(sc, full, depth + 1);
}

static int scan_text(struct int_scan *sc, const char *text, const char *file, int depth)
{
	const char *p = text, *end;
	int line = 1;
	bool bad;

	while (*p) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			p += *p ? 2 : 0;
		} else if (*p == '"') {
			p = skip_string(p + 1, &line, NULL, 0);
		} else if (!strncmp(p, "@include", strlen("@include"))) {
			if (scan_include(sc, &p, &line, depth))
				return -1;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*')
				p++;
		} else if (isdigit((unsigned char)*p) ||
			   ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
			end = skip_number(p, &bad);
			if (bad) {
				set_err(sc->err, sc->errlen,
					"%s:%d: integer %.*s does not fit in 32 bits, and libconfig %d.%d "
					"would silently change it; write %.*sL", file, line,
					(int)(end - p > 24 ? 24 : end - p), p, LIBCONFIG_VER_MAJOR,
					LIBCONFIG_VER_MINOR, (int)(end - p > 24 ? 24 : end - p), p);
				return -1;
			}
			p = end;
		} else {
			p++;
		}
	}
	return 0;
}

/* A file libconfig read already; one it cannot read now is not our error. */
static int scan_file(struct int_scan *sc, const char *path, int depth)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (depth > MAX_INCLUDE_DEPTH)
		return 0;
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* getdelim with NUL reads the whole text of any sane config file. */
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		fclose(f);
		return 0;
	}
	fclose(f);
	ret = scan_text(sc, text, path, depth);
	free(text);
	return ret;
}

static int load_parsed(const config_t *cfg, const char *file, struct steer_config *out,
		       char *err, size_t errlen)
{
	struct steer_config c = {};
	struct loader l = { .file = file, .err = err, .errlen = errlen, .c = &c };

	if (load_tree(&l, cfg)) {
		config_free(&c);
		return -1;
	}
	*out = c;
	return 0;
}

static void syntax_error(const config_t *cfg, const char *file, char *err, size_t errlen)
{
	const char *f = config_error_file(cfg);
	const char *text = config_error_text(cfg);

	set_err(err, errlen, "%s:%d: %s", f ? f : file, config_error_line(cfg),
		text ? text : "cannot parse");
}

int config_load(const char *path, struct steer_config *out, char *err, size_t errlen)
{
	struct int_scan sc;
	char *dir = NULL;
	struct stat st;
	config_t cfg;
	int ret = -1;

	if (!path || !out) {
		set_err(err, errlen, "%s:0: no file or no output", path ? path : "(null)");
		return -1;
	}
	/* Only a regular file: libconfig says just "file I/O error" for a
	 * directory, and opening a FIFO would block the daemon. */
	if (stat(path, &st)) {
		set_err(err, errlen, "%s:0: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s:0: not a regular file", path);
		return -1;
	}
	dir = strdup(path);
	if (!dir) {
		set_err(err, errlen, "%s:0: out of memory", path);
		return -1;
	}
	config_init(&cfg);
	/* "@include" is relative to the file's directory, not to our cwd. */
	config_set_include_dir(&cfg, dirname(dir));
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			set_err(err, errlen, "%s:0: %s", path, strerror(errno));
		else
			syntax_error(&cfg, path, err, errlen);
		goto cleanup;
	}
	sc = (struct int_scan){ .include_dir = config_get_include_dir(&cfg), .err = err,
				.errlen = errlen };
	if (libconfig_cuts_ints() && scan_file(&sc, path, 0))
		goto cleanup;
	ret = load_parsed(&cfg, path, out, err, errlen);
cleanup:
	config_destroy(&cfg);
	free(dir);
	return ret;
}

int config_load_string(const char *text, struct steer_config *out, char *err, size_t errlen)
{
	struct int_scan sc = { .err = err, .errlen = errlen };
	config_t cfg;
	int ret = -1;

	if (!text || !out) {
		set_err(err, errlen, STRING_FILE ":0: no text or no output");
		return -1;
	}
	config_init(&cfg);
	if (!config_read_string(&cfg, text)) {
		syntax_error(&cfg, STRING_FILE, err, errlen);
		goto cleanup;
	}
	if (libconfig_cuts_ints() && scan_text(&sc, text, STRING_FILE, 0))
		goto cleanup;
	ret = load_parsed(&cfg, STRING_FILE, out, err, errlen);
cleanup:
	config_destroy(&cfg);
	return ret;
}

void config_free(struct steer_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].workers);
	free(c->pools);
	free(c->services);
	memset(c, 0, sizeof(*c));
}

const struct conf_pool *config_find_pool(const struct steer_config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

const struct conf_worker *config_find_worker(const struct steer_config *c, const char *name,
					     const struct conf_pool **pool)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->npools; i++) {
		for (size_t j = 0; j < c->pools[i].nworkers; j++) {
			if (strcmp(c->pools[i].workers[j].name, name))
				continue;
			if (pool)
				*pool = &c->pools[i];
			return &c->pools[i].workers[j];
		}
	}
	return NULL;
}
