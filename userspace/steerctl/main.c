// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * steerctl - the operator's control of steer: load the programs, declare
 * services, pools and workers, drain, and read the state. Commands follow
 * bpftool: `steerctl [-j] OBJECT COMMAND [ARGS]`, `Error: ...` on failure,
 * exit 2 for bad input (and nothing changed), 1 when the system fails.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <bpf/bpf.h>
#include "errfmt.h"
#include "json.h"
#include "loader.h"
#include "parse.h"
#include "sockets.h"
#include "state.h"

#define DEFAULT_WEIGHT 100

struct ctl {
	bool json;
	const char *bpffs;
	struct steer_paths paths;
	struct steer_maps maps;
	char err[STEER_ERR_LEN];
};

struct cmd {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
};

static int usage_error(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return STEER_EINPUT;
}

static int run_cmd(struct ctl *c, const struct cmd *cmds, const char *what, int argc, char **argv)
{
	if (argc < 1)
		return usage_error(c, "missing %s command (see 'steerctl help')", what);
	for (const struct cmd *k = cmds; k->name; k++)
		if (!strcmp(argv[0], k->name))
			return k->fn(c, argc, argv);
	snprintf(c->err, sizeof(c->err), "unknown %s command '%s' (see 'steerctl help')", what, argv[0]);
	return STEER_EINPUT;
}

static int open_maps(struct ctl *c)
{
	return steer_maps_open(&c->paths, &c->maps, c->err);
}

/* getopt_long over one command's options; positional args are collected. */
static int parse_opts(struct ctl *c, int argc, char **argv, const struct option *opts,
		      int (*on_opt)(struct ctl *c, int opt, const char *val, void *data), void *data,
		      char **pos, int npos)
{
	char shortopts[] = "+";
	int opt, n = 0;

	optind = 1;
	opterr = 0;
	for (;;) {
		opt = getopt_long(argc, argv, shortopts, opts, NULL);
		if (opt == -1) {
			if (optind >= argc)
				break;
			if (n >= npos)
				return usage_error(c, "unexpected argument '%s'", argv[optind]);
			pos[n++] = argv[optind++];
			continue;
		}
		if (opt == '?' || opt == ':')
			return usage_error(c, "unknown or incomplete option '%s'", argv[optind - 1]);
		if (on_opt(c, opt, optarg, data))
			return STEER_EINPUT;
	}
	if (n < npos)
		return usage_error(c, "missing argument (see 'steerctl help')");
	return STEER_OK;
}

/* ---- load / unload ---------------------------------------------------- */

struct load_args {
	const char *netns;
	const char *cgroup;
};

static int load_opt(struct ctl *c, int opt, const char *val, void *data)
{
	struct load_args *a = data;

	(void)c;
	if (opt == 'n')
		a->netns = val;
	else
		a->cgroup = val;
	return 0;
}

static int do_load(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct load_args a = {};
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, load_opt, &a, NULL, 0)))
		return ret;
	return steer_load(&c->paths, a.netns, a.cgroup, c->err);
}

static int do_upgrade(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "upgrade takes no arguments");
	return steer_upgrade(&c->paths, c->err);
}

static int do_unload(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "unload takes no arguments");
	return steer_unload(&c->paths, c->err);
}

/* ---- service ---------------------------------------------------------- */

struct service_args {
	const char *prefix;
	const char *port;
	const char *pool;
};

static int service_opt(struct ctl *c, int opt, const char *val, void *data)
{
	struct service_args *a = data;

	(void)c;
	if (opt == 'x')
		a->prefix = val;
	else if (opt == 'p')
		a->port = val;
	else
		a->pool = val;
	return 0;
}

static int do_service_add(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prefix", required_argument, NULL, 'x' },
		{ "port", required_argument, NULL, 'p' },
		{ "pool", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct service_args a = {};
	struct steer_prefix prefix;
	uint16_t lo, hi;
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, service_opt, &a, &name, 1)))
		return ret;
	if (!a.prefix || !a.port || !a.pool)
		return usage_error(c, "service add needs --prefix, --port and --pool");
	if (parse_name(name, "service", c->err) || parse_prefix(a.prefix, &prefix, c->err) ||
	    parse_port_range(a.port, &lo, &hi, c->err))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	return service_add(&c->maps, name, &prefix, lo, hi, a.pool, c->err);
}

static int no_opt(struct ctl *c, int opt, const char *val, void *data)
{
	(void)c; (void)opt; (void)val; (void)data;
	return 0;
}

static const struct option no_opts[] = { { NULL, 0, NULL, 0 } };

static int do_service_del(struct ctl *c, int argc, char **argv)
{
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, &name, 1)) || (ret = open_maps(c)))
		return ret;
	return service_del(&c->maps, name, c->err);
}

static void pool_name_of(const struct steer_maps *m, uint32_t id, char *buf, size_t len)
{
	struct steer_pool *p = calloc(1, sizeof(*p));

	snprintf(buf, len, "-");
	if (p && id != STEER_NONE && !bpf_map_lookup_elem(m->fd[MAP_POOLS], &id, p) && p->in_use)
		snprintf(buf, len, "%s", p->name);
	free(p);
}

static void print_services(struct ctl *c, struct json *j)
{
	struct steer_service s;
	struct steer_service_stats st;
	char addr[64], pool[STEER_NAME_LEN], ports[16], prefix[80];
	bool header = false;

	if (j)
		json_array_begin(j, "services");
	for (uint32_t i = 0; i < STEER_MAX_SERVICES; i++) {
		if (bpf_map_lookup_elem(c->maps.fd[MAP_SERVICES], &i, &s) || !s.in_use)
			continue;
		service_stats_read(&c->maps, i, &st);
		format_addr(s.addr, addr, sizeof(addr));
		pool_name_of(&c->maps, s.pool_id, pool, sizeof(pool));
		if (j) {
			json_object_begin(j, NULL);
			json_string(j, "name", s.name);
			json_string(j, "address", addr);
			json_uint(j, "prefixlen", s.prefixlen);
			json_uint(j, "port_lo", s.port_lo);
			json_uint(j, "port_hi", s.port_hi);
			json_string(j, "pool", pool);
			json_string(j, "owner", owner_name(s.owner));
			snprintf(prefix, sizeof(prefix), "%s/%u", addr, s.prefixlen);
			json_string(j, "prefix", prefix);
			json_uint(j, "lookups", st.lookups);
			json_uint(j, "refused", st.refused);
			json_object_end(j);
			continue;
		}
		if (!header) {
			printf("%-16s %-24s %-11s %-16s %10s %8s\n", "SERVICE", "PREFIX", "PORTS", "POOL",
			       "LOOKUPS", "REFUSED");
			header = true;
		}
		if (s.port_lo == s.port_hi)
			snprintf(ports, sizeof(ports), "%u", s.port_lo);
		else
			snprintf(ports, sizeof(ports), "%u-%u", s.port_lo, s.port_hi);
		snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), "/%u", s.prefixlen);
		printf("%-16s %-24s %-11s %-16s %10llu %8llu\n", s.name, addr, ports, pool,
		       (unsigned long long)st.lookups, (unsigned long long)st.refused);
	}
	if (j)
		json_array_end(j);
}

static int with_json(struct ctl *c, void (*print)(struct ctl *c, struct json *j))
{
	struct json j;
	int ret;

	if ((ret = open_maps(c)))
		return ret;
	if (!c->json) {
		print(c, NULL);
		return STEER_OK;
	}
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	print(c, &j);
	json_object_end(&j);
	return STEER_OK;
}

static int do_service_list(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "service list takes no arguments");
	return with_json(c, print_services);
}

static int do_service(struct ctl *c, int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_service_add },
		{ "del", do_service_del },
		{ "list", do_service_list },
		{ NULL, NULL },
	};

	return run_cmd(c, cmds, "service", argc - 1, argv + 1);
}

/* ---- pool ------------------------------------------------------------- */

struct pool_args {
	const char *policy;
	const char *fallback;
};

static int pool_opt(struct ctl *c, int opt, const char *val, void *data)
{
	struct pool_args *a = data;

	(void)c;
	if (opt == 'p')
		a->policy = val;
	else
		a->fallback = val;
	return 0;
}

static const struct option pool_opts[] = {
	{ "policy", required_argument, NULL, 'p' },
	{ "fallback", required_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

static int do_pool_add(struct ctl *c, int argc, char **argv)
{
	struct pool_args a = {};
	uint32_t policy = STEER_POLICY_LEAST_CONN;
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, pool_opts, pool_opt, &a, &name, 1)))
		return ret;
	if (parse_name(name, "pool", c->err) || (a.policy && parse_policy(a.policy, &policy, c->err)))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	return pool_add(&c->maps, name, policy, a.fallback, c->err);
}

static int do_pool_set(struct ctl *c, int argc, char **argv)
{
	struct pool_args a = {};
	uint32_t policy;
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, pool_opts, pool_opt, &a, &name, 1)))
		return ret;
	if (!a.policy && !a.fallback)
		return usage_error(c, "pool set needs --policy or --fallback");
	if (a.policy && parse_policy(a.policy, &policy, c->err))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	return pool_set(&c->maps, name, a.policy ? &policy : NULL, a.fallback, c->err);
}

static int do_pool_del(struct ctl *c, int argc, char **argv)
{
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, &name, 1)) || (ret = open_maps(c)))
		return ret;
	return pool_del(&c->maps, name, c->err);
}

#define MAX_QUOTA (1ull << 62)
#define MAX_RATE 1e7

/* pool quota NAME N|off */
static int do_pool_quota(struct ctl *c, int argc, char **argv)
{
	char *pos[2];
	uint64_t n = 0;
	bool on;
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, pos, 2)))
		return ret;
	on = strcmp(pos[1], "off") != 0;
	if (on && parse_u64(pos[1], "quota", MAX_QUOTA, &n, c->err))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	return pool_set_quota(&c->maps, pos[0], on, (int64_t)n, c->err);
}

static int burst_opt(struct ctl *c, int opt, const char *val, void *data)
{
	(void)c;
	(void)opt;
	*(const char **)data = val;
	return 0;
}

/* pool rate NAME RATE|off [--burst B] */
static int do_pool_rate(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "burst", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *burst_arg = NULL;
	uint32_t burst = 0;
	double rate = 0;
	char *pos[2];
	bool on;
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, burst_opt, &burst_arg, pos, 2)))
		return ret;
	on = strcmp(pos[1], "off") != 0;
	if (on && parse_positive(pos[1], "rate", MAX_RATE, &rate, c->err))
		return STEER_EINPUT;
	if (burst_arg && parse_u32(burst_arg, "burst", 1, 10000000, &burst, c->err))
		return STEER_EINPUT;
	if (!burst_arg)
		burst = rate < 1 ? 1 : (uint32_t)rate;	/* one second's worth */
	if ((ret = open_maps(c)))
		return ret;
	return pool_set_rate(&c->maps, pos[0], on, rate, burst, c->err);
}

static void print_pools(struct ctl *c, struct json *j)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	struct steer_pool_limits lim;
	struct steer_pool_budget bud;
	struct steer_pool_stats st;
	char fallback[STEER_NAME_LEN], quota[24];
	bool header = false;

	if (!p)
		return;
	if (j)
		json_array_begin(j, "pools");
	for (uint32_t i = 0; i < STEER_MAX_POOLS; i++) {
		if (bpf_map_lookup_elem(c->maps.fd[MAP_POOLS], &i, p) || !p->in_use)
			continue;
		if (bpf_map_lookup_elem(c->maps.fd[MAP_POOL_STATS], &i, &st))
			memset(&st, 0, sizeof(st));
		if (pool_limits_read(&c->maps, i, &lim))
			memset(&lim, 0, sizeof(lim));
		if (pool_budget_read(&c->maps, i, &bud))
			memset(&bud, 0, sizeof(bud));
		pool_name_of(&c->maps, p->fallback, fallback, sizeof(fallback));
		snprintf(quota, sizeof(quota), bud.quota_on ? "%lld" : "-",
			 (long long)(bud.quota_left > 0 ? bud.quota_left : 0));
		if (j) {
			json_object_begin(j, NULL);
			json_string(j, "name", p->name);
			json_string(j, "policy", policy_name(p->policy));
			if (p->fallback == STEER_NONE)
				json_null(j, "fallback");
			else
				json_string(j, "fallback", fallback);
			json_uint(j, "workers", p->nworkers);
			json_uint(j, "table_len", p->table_len);
			json_uint(j, "selected", st.selected);
			json_uint(j, "fallback_out", st.fallback_out);
			json_uint(j, "refused", st.refused);
			json_string(j, "circuit", circuit_name(p->circuit));
			json_uint(j, "circuit_forced", p->circuit_forced);
			json_uint(j, "circuit_out", st.circuit_out);
			json_uint(j, "probes", st.probes);
			if (bud.quota_on)
				json_int(j, "quota_left", bud.quota_left > 0 ? bud.quota_left : 0);
			else
				json_null(j, "quota_left");
			if (lim.rate_on)
				json_uint(j, "rate_milli", lim.rate_milli);
			else
				json_null(j, "rate_milli");
			json_uint(j, "spilled", st.spilled);
			json_string(j, "owner", owner_name(p->owner));
			if (p->quota_set)
				json_uint(j, "quota", p->quota_conf);
			else
				json_null(j, "quota");
			json_object_end(j);
			continue;
		}
		if (!header) {
			printf("%-16s %-12s %-16s %7s %10s %12s %8s %-9s %10s %8s\n", "POOL", "POLICY",
			       "FALLBACK", "WORKERS", "SELECTED", "FALLBACK_OUT", "REFUSED", "CIRCUIT",
			       "QUOTA_LEFT", "SPILLED");
			header = true;
		}
		printf("%-16s %-12s %-16s %7u %10llu %12llu %8llu %-9s %10s %8llu\n", p->name,
		       policy_name(p->policy), fallback, p->nworkers, (unsigned long long)st.selected,
		       (unsigned long long)st.fallback_out, (unsigned long long)st.refused,
		       circuit_name(p->circuit), quota, (unsigned long long)st.spilled);
	}
	if (j)
		json_array_end(j);
	free(p);
}

static int do_pool_list(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "pool list takes no arguments");
	return with_json(c, print_pools);
}

static int do_pool(struct ctl *c, int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_pool_add },
		{ "set", do_pool_set },
		{ "del", do_pool_del },
		{ "list", do_pool_list },
		{ "quota", do_pool_quota },
		{ "rate", do_pool_rate },
		{ NULL, NULL },
	};

	return run_cmd(c, cmds, "pool", argc - 1, argv + 1);
}

/* ---- worker ----------------------------------------------------------- */

struct worker_args {
	const char *addr;
	const char *pid;
	const char *fd;
	const char *weight;
	const char *maxconn;
	const char *timeout;
	bool wait;
};

static int worker_opt(struct ctl *c, int opt, const char *val, void *data)
{
	struct worker_args *a = data;

	(void)c;
	switch (opt) {
	case 'a': a->addr = val; break;
	case 'p': a->pid = val; break;
	case 'f': a->fd = val; break;
	case 'w': a->weight = val; break;
	case 'm': a->maxconn = val; break;
	case 't': a->timeout = val; break;
	case 'W': a->wait = true; break;
	}
	return 0;
}

static int parse_worker_numbers(struct ctl *c, const struct worker_args *a, uint32_t *weight,
				uint32_t *maxconn)
{
	if (a->weight && parse_u32(a->weight, "weight", 0, STEER_WEIGHT_MAX, weight, c->err))
		return STEER_EINPUT;
	if (a->maxconn && parse_u32(a->maxconn, "maxconn", 0, UINT32_MAX, maxconn, c->err))
		return STEER_EINPUT;
	return STEER_OK;
}

static int do_worker_add(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "pid", required_argument, NULL, 'p' },
		{ "fd", required_argument, NULL, 'f' },
		{ "weight", required_argument, NULL, 'w' },
		{ "maxconn", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker_params params = { .weight = DEFAULT_WEIGHT, .maxconn = 0 };
	struct worker_args a = {};
	struct steer_endpoint ep;
	struct listener l;
	uint32_t pid, fd;
	char *pos[2];
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, worker_opt, &a, pos, 2)))
		return ret;
	if (!a.addr == !(a.pid && a.fd) || (a.addr && (a.pid || a.fd)))
		return usage_error(c, "worker add needs either --addr IP:PORT or --pid PID --fd FD%s",
				   "");
	if (parse_name(pos[1], "worker", c->err) ||
	    parse_worker_numbers(c, &a, &params.weight, &params.maxconn))
		return STEER_EINPUT;
	if (a.addr && parse_endpoint(a.addr, &ep, c->err))
		return STEER_EINPUT;
	if (!a.addr && (parse_u32(a.pid, "pid", 1, INT32_MAX, &pid, c->err) ||
			parse_u32(a.fd, "fd", 0, INT32_MAX, &fd, c->err)))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	ret = a.addr ? listener_take_by_addr(&ep, c->maps.netns_ino, &l, c->err)
		     : listener_take_by_fd(pid, fd, c->maps.netns_ino, &l, c->err);
	if (ret)
		return ret;
	return worker_add(&c->maps, pos[0], pos[1], &l, &params, c->err);
}

static int do_worker_set(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "weight", required_argument, NULL, 'w' },
		{ "maxconn", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker_args a = {};
	uint32_t weight, maxconn;
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, worker_opt, &a, &name, 1)))
		return ret;
	if (!a.weight && !a.maxconn)
		return usage_error(c, "worker set needs --weight or --maxconn");
	if (parse_worker_numbers(c, &a, &weight, &maxconn))
		return STEER_EINPUT;
	if ((ret = open_maps(c)))
		return ret;
	return worker_update(&c->maps, name, a.weight ? &weight : NULL, a.maxconn ? &maxconn : NULL,
			     NULL, c->err);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poll until the worker's last connection closes. */
static int wait_drained(struct ctl *c, const char *name, uint32_t timeout)
{
	struct steer_worker_stats st;
	struct steer_worker w;
	double deadline = now_s() + timeout;
	uint32_t id;
	int ret;

	steer_maps_unlock(&c->maps);
	for (;;) {
		if ((ret = worker_find(&c->maps, name, &id, &w, c->err)))
			return ret;
		if (worker_stats_read(&c->maps, id, &st))
			return usage_error(c, "cannot read worker_stats for '%s'", name);
		if (st.outstanding <= 0)
			return STEER_OK;
		if (timeout && now_s() >= deadline) {
			snprintf(c->err, sizeof(c->err), "worker '%s' still has %lld connections after %u s",
				 name, (long long)st.outstanding, timeout);
			return STEER_ESYS;
		}
		usleep(50 * 1000);
	}
}

static int do_worker_drain(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t state = STEER_WORKER_DRAIN, timeout = 0;
	struct worker_args a = {};
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, opts, worker_opt, &a, &name, 1)))
		return ret;
	if (a.timeout && !a.wait)
		return usage_error(c, "--timeout goes with --wait");
	if (a.timeout && parse_u32(a.timeout, "timeout", 1, 86400 * 365, &timeout, c->err))
		return STEER_EINPUT;
	if ((ret = open_maps(c)) || (ret = worker_update(&c->maps, name, NULL, NULL, &state, c->err)))
		return ret;
	return a.wait ? wait_drained(c, name, timeout) : STEER_OK;
}

static int do_worker_undrain(struct ctl *c, int argc, char **argv)
{
	uint32_t state = STEER_WORKER_UP;
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, &name, 1)) || (ret = open_maps(c)))
		return ret;
	return worker_update(&c->maps, name, NULL, NULL, &state, c->err);
}

static int do_worker_del(struct ctl *c, int argc, char **argv)
{
	char *name;
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, &name, 1)) || (ret = open_maps(c)))
		return ret;
	return worker_del(&c->maps, name, c->err);
}

/* Gone: the kernel failed to pick it, or its listener closed, which takes
 * its SOCKMAP entry with it: seen at once, before any connection tries it. */
static bool worker_gone(const struct ctl *c, uint32_t id, const struct steer_worker_stats *st)
{
	uint64_t cookie;

	return st->gone || (bpf_map_lookup_elem(c->maps.fd[MAP_WORKER_SOCKS], &id, &cookie) &&
			    errno == ENOENT);
}

static const char *worker_state_shown(const struct ctl *c, uint32_t id,
				      const struct steer_worker *w,
				      const struct steer_worker_stats *st)
{
	return worker_gone(c, id, st) ? "gone" : state_name(w->state);
}

static void print_workers(struct ctl *c, struct json *j)
{
	struct steer_worker_stats st;
	struct steer_worker w;
	char pool[STEER_NAME_LEN], where[80], maxconn[16];
	bool header = false;

	if (j)
		json_array_begin(j, "workers");
	for (uint32_t i = 0; i < STEER_MAX_WORKERS; i++) {
		if (bpf_map_lookup_elem(c->maps.fd[MAP_WORKERS], &i, &w) || !w.in_use)
			continue;
		if (worker_stats_read(&c->maps, i, &st))
			memset(&st, 0, sizeof(st));
		pool_name_of(&c->maps, w.pool_id, pool, sizeof(pool));
		format_endpoint(w.addr, w.port, where, sizeof(where));
		if (j) {
			json_object_begin(j, NULL);
			json_string(j, "name", w.name);
			json_string(j, "pool", pool);
			json_string(j, "listener", where);
			if (worker_gone(c, i, &st))
				json_null(j, "pid");	/* its listener is closed: no owner */
			else
				json_uint(j, "pid", w.pid);
			json_string(j, "state", worker_state_shown(c, i, &w, &st));
			json_uint(j, "weight", w.weight);
			json_uint(j, "health", w.health);
			json_uint(j, "maxconn", w.maxconn);
			json_int(j, "outstanding", st.outstanding);
			json_uint(j, "pending", worker_stats_pending(&st));
			json_uint(j, "selected", st.selected);
			json_uint(j, "steered", st.steered);
			json_uint(j, "established", st.established);
			json_uint(j, "closed", st.closed);
			json_string(j, "owner", owner_name(w.owner));
			json_string(j, "addr", where);
			json_object_end(j);
			continue;
		}
		if (!header) {
			printf("%-16s %-12s %-22s %-6s %6s %6s %7s %11s %7s %9s\n", "WORKER", "POOL",
			       "LISTENER", "STATE", "WEIGHT", "HEALTH", "MAXCONN", "OUTSTANDING",
			       "PENDING", "STEERED");
			header = true;
		}
		snprintf(maxconn, sizeof(maxconn), w.maxconn ? "%u" : "-", w.maxconn);
		printf("%-16s %-12s %-22s %-6s %6u %6u %7s %11lld %7llu %9llu\n", w.name, pool, where,
		       worker_state_shown(c, i, &w, &st), w.weight, w.health, maxconn,
		       (long long)st.outstanding, (unsigned long long)worker_stats_pending(&st),
		       (unsigned long long)st.steered);
	}
	if (j)
		json_array_end(j);
}

static int do_worker_list(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "worker list takes no arguments");
	return with_json(c, print_workers);
}

static int do_worker(struct ctl *c, int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", do_worker_add },
		{ "set", do_worker_set },
		{ "drain", do_worker_drain },
		{ "undrain", do_worker_undrain },
		{ "del", do_worker_del },
		{ "list", do_worker_list },
		{ NULL, NULL },
	};

	return run_cmd(c, cmds, "worker", argc - 1, argv + 1);
}

/* ---- report ------------------------------------------------------------ */

#define DEFAULT_SOCKET "/run/steer/steerd.sock"

struct report_args {
	const char *ok;
	const char *errors;
	const char *socket;
};

static int report_opt(struct ctl *c, int opt, const char *val, void *data)
{
	struct report_args *a = data;

	(void)c;
	if (opt == 'o')
		a->ok = val;
	else if (opt == 'e')
		a->errors = val;
	else
		a->socket = val;
	return 0;
}

/* report WORKER --ok N --errors M: what the application saw, for steerd's
 * circuit breaker; one datagram to its socket. It needs only that socket
 * (daemon.socket_group/socket_mode say who may write it), not the BPF
 * maps, so an unprivileged application can report; steerd checks the
 * name and logs a report for a worker it does not know. */
static int do_report(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ok", required_argument, NULL, 'o' },
		{ "errors", required_argument, NULL, 'e' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct report_args a = {};
	uint64_t ok = 0, errors = 0;
	char msg[128], *name;
	int ret, fd;

	if ((ret = parse_opts(c, argc, argv, opts, report_opt, &a, &name, 1)))
		return ret;
	if (!a.ok && !a.errors)
		return usage_error(c, "report needs --ok N and/or --errors M");
	if (parse_name(name, "worker", c->err) ||
	    (a.ok && parse_u64(a.ok, "ok", 1ull << 40, &ok, c->err)) ||
	    (a.errors && parse_u64(a.errors, "errors", 1ull << 40, &errors, c->err)))
		return STEER_EINPUT;
	if (!a.socket)
		a.socket = getenv("STEER_SOCKET") ? getenv("STEER_SOCKET") : DEFAULT_SOCKET;
	if (strlen(a.socket) >= sizeof(sun.sun_path))
		return usage_error(c, "socket path '%s' is too long", a.socket);
	memcpy(sun.sun_path, a.socket, strlen(a.socket));
	snprintf(msg, sizeof(msg), "%s ok %llu errors %llu", name, (unsigned long long)ok,
		 (unsigned long long)errors);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(c->err, sizeof(c->err), "cannot reach steerd at %s: %s", a.socket,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return STEER_ESYS;
	}
	close(fd);
	return STEER_OK;
}

/* ---- circuit ---------------------------------------------------------- */

/* circuit POOL open|close|auto */
static int do_circuit(struct ctl *c, int argc, char **argv)
{
	enum circuit_setter who = CIRCUIT_FORCE;
	uint32_t circuit = STEER_CIRCUIT_CLOSED;
	char *pos[2];
	int ret;

	if ((ret = parse_opts(c, argc, argv, no_opts, no_opt, NULL, pos, 2)))
		return ret;
	if (!strcmp(pos[1], "open"))
		circuit = STEER_CIRCUIT_OPEN;
	else if (!strcmp(pos[1], "auto"))
		who = CIRCUIT_RELEASE;
	else if (strcmp(pos[1], "close"))
		return usage_error(c, "circuit state '%s' is unknown (open, close or auto)", pos[1]);
	if ((ret = open_maps(c)))
		return ret;
	return pool_set_circuit(&c->maps, pos[0], circuit, who, 0, c->err);
}

/* ---- status / help ---------------------------------------------------- */

static void print_status(struct ctl *c, struct json *j)
{
	print_services(c, j);
	if (!j)
		putchar('\n');
	print_pools(c, j);
	if (!j)
		putchar('\n');
	print_workers(c, j);
}

static int do_status(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error(c, "status takes no arguments");
	return with_json(c, print_status);
}

static int do_help(struct ctl *c, int argc, char **argv)
{
	(void)c; (void)argc; (void)argv;
	printf("Usage: steerctl [-j|--json] [--bpffs DIR] OBJECT COMMAND [ARGS]\n"
	       "\n"
	       "  steerctl load [--netns PATH] [--cgroup PATH]\n"
	       "  steerctl unload\n"
	       "  steerctl upgrade\n"
	       "  steerctl status\n"
	       "  steerctl service add NAME --prefix ADDR/LEN --port P[-Q] --pool POOL\n"
	       "  steerctl service del NAME\n"
	       "  steerctl service list\n"
	       "  steerctl pool add NAME [--policy POLICY] [--fallback POOL]\n"
	       "  steerctl pool set NAME [--policy POLICY] [--fallback POOL|none]\n"
	       "  steerctl pool del NAME\n"
	       "  steerctl pool list\n"
	       "  steerctl pool quota NAME N|off\n"
	       "  steerctl pool rate NAME RATE|off [--burst B]\n"
	       "  steerctl circuit POOL open|close|auto\n"
	       "  steerctl report WORKER [--ok N] [--errors M] [--socket PATH]\n"
	       "  steerctl worker add POOL NAME (--addr IP:PORT | --pid PID --fd FD)\n"
	       "                      [--weight W] [--maxconn N]\n"
	       "  steerctl worker set NAME [--weight W] [--maxconn N]\n"
	       "  steerctl worker drain NAME [--wait [--timeout S]]\n"
	       "  steerctl worker undrain NAME\n"
	       "  steerctl worker del NAME\n"
	       "  steerctl worker list\n"
	       "\n"
	       "POLICY := least-conn | round-robin | random | hash   (default least-conn)\n"
	       "W := 0..%d (default %d; 0 = no new connections)   N := 0 (no cap) or more\n"
	       "Pins live under DIR/steer (DIR: --bpffs, $STEER_BPFFS or /sys/fs/bpf).\n",
	       STEER_WEIGHT_MAX, DEFAULT_WEIGHT);
	return STEER_OK;
}

/* Global options may stand anywhere; take them out before dispatch. */
static int take_global_opts(struct ctl *c, int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			c->json = true;
		} else if (!strcmp(argv[i], "--bpffs")) {
			if (++i >= *argc)
				return usage_error(c, "--bpffs needs a directory");
			c->bpffs = argv[i];
		} else if (!strncmp(argv[i], "--bpffs=", 8)) {
			c->bpffs = argv[i] + 8;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	argv[out] = NULL;
	return STEER_OK;
}

int main(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "load", do_load },
		{ "unload", do_unload },
		{ "upgrade", do_upgrade },
		{ "status", do_status },
		{ "service", do_service },
		{ "pool", do_pool },
		{ "worker", do_worker },
		{ "circuit", do_circuit },
		{ "report", do_report },
		{ "help", do_help },
		{ "-h", do_help },
		{ "--help", do_help },
		{ NULL, NULL },
	};
	struct ctl c = { .maps = { .lock_fd = -1 } };
	int ret;

	for (int i = 0; i < MAP_COUNT; i++)
		c.maps.fd[i] = -1;
	steer_libbpf_quiet();
	ret = take_global_opts(&c, &argc, argv);
	if (!ret)
		ret = steer_paths_init(&c.paths, c.bpffs, c.err);
	if (!ret)
		ret = run_cmd(&c, cmds, "steerctl", argc - 1, argv + 1);
	steer_maps_close(&c.maps);
	if (ret)
		errfmt_print(stderr, "Error: ", c.err);
	return ret;
}
