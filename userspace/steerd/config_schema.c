// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config_schema.c - steer.conf's blocks and settings, one table per block,
 * in the order the loader reads them (a check defaults to daemon.interval_ms,
 * a fallback to "maintenance" needs the maintenance block) and the order
 * steer.conf(5) lists them. Ranges and defaults are defaults.h's.
 */
#include <string.h>
#include "config_hooks.h"
#include "config_schema.h"
#include "defaults.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))
#define BLOCK(p, rows, ...) { .path = (p), .fields = (rows), .nfields = ARRAY_LEN(rows), __VA_ARGS__ }
/* a row of struct T's member M */
#define AT(T, M)	.off = offsetof(T, M), .size = sizeof(((T *)0)->M)
#define PRESENT(T, M)	.present = offsetof(T, M) + 1
#define LINE(T)		.line = offsetof(T, line) + 1
#define OPT_LIMIT_(x)	#x
#define OPT_LIMIT(x)	OPT_LIMIT_(x)
#define RANGE(lo, hi)	.min = (lo), .max = (hi)

/* ---- pools[].workers[].check ---- */
static const char *const check_types[] = { "tcp", "http", NULL };

static const struct conf_field check_fields[] = {
	{ "type", CONF_T_ENUM, AT(struct conf_check, type), .choices = check_types,
	  .def_str = "tcp", .note = "; an agent check is its own block",
	  .check = conf_check_http_only,
	  .help = "tcp: connect() succeeds; http: GET path answers with status expect" },
	{ "port", CONF_T_UINT, AT(struct conf_check, port), RANGE(1, UINT16_MAX),
	  .def_from = CONF_DEF_WORKER_PORT, .help = "Port to check on the worker's address" },
	{ "path", CONF_T_STRING, AT(struct conf_check, path), .def_str = STEER_CHECK_PATH_DEFAULT,
	  .help = "HTTP only: the request path; no spaces or control characters" },
	{ "expect", CONF_T_UINT, AT(struct conf_check, expect),
	  RANGE(STEER_HTTP_STATUS_MIN, STEER_HTTP_STATUS_MAX), .def = STEER_CHECK_EXPECT_DEFAULT,
	  .help = "HTTP only: the status that passes" },
	{ "interval_ms", CONF_T_UINT, AT(struct conf_check, interval_ms),
	  RANGE(STEER_INTERVAL_MS_MIN, STEER_INTERVAL_MS_MAX), .def_from = CONF_DEF_INTERVAL,
	  .help = "Milliseconds between checks" },
	{ "timeout_ms", CONF_T_UINT, AT(struct conf_check, timeout_ms),
	  RANGE(STEER_TIMEOUT_MS_MIN, STEER_TIMEOUT_MS_MAX), .def = STEER_TIMEOUT_MS_DEFAULT,
	  .help = "Milliseconds a check may take, connect included" },
	{ "rise", CONF_T_UINT, AT(struct conf_check, rise), RANGE(1, STEER_RISE_FALL_MAX),
	  .def = STEER_RISE_DEFAULT, .help = "Consecutive successes that bring a worker up" },
	{ "fall", CONF_T_UINT, AT(struct conf_check, fall), RANGE(1, STEER_RISE_FALL_MAX),
	  .def = STEER_FALL_DEFAULT, .help = "Consecutive failures that take it down" },
	{ "slowstart_s", CONF_T_UINT, AT(struct conf_check, slowstart_s),
	  RANGE(0, STEER_SLOWSTART_S_MAX),
	  .help = "Seconds over which a worker that came back up ramps to its full weight" },
};
static const struct conf_block check_block =
	BLOCK("pools[].workers[].check", check_fields, PRESENT(struct conf_check, enabled),
	      .finish = conf_check_http_path,
	      .help = "A health check; without this block the worker is not checked");

/* ---- pools[].workers[].agent ---- */
static const struct conf_field agent_fields[] = {
	{ "port", CONF_T_UINT, AT(struct conf_agent, port), RANGE(1, UINT16_MAX), .required = true,
	  .def_from = CONF_DEF_NONE, .help = "The agent's TCP port on the worker's address" },
	{ "interval_ms", CONF_T_UINT, AT(struct conf_agent, interval_ms),
	  RANGE(STEER_INTERVAL_MS_MIN, STEER_INTERVAL_MS_MAX), .def_from = CONF_DEF_INTERVAL,
	  .help = "Milliseconds between asks" },
	{ "timeout_ms", CONF_T_UINT, AT(struct conf_agent, timeout_ms),
	  RANGE(STEER_TIMEOUT_MS_MIN, STEER_TIMEOUT_MS_MAX), .def = STEER_TIMEOUT_MS_DEFAULT,
	  .help = "Milliseconds an answer may take" },
};
static const struct conf_block agent_block =
	BLOCK("pools[].workers[].agent", agent_fields, PRESENT(struct conf_agent, enabled),
	      .help = "A HAProxy-style agent check: the port answers a line such as "
		      "\"up 75%\" or \"drain\"");

/* ---- pools[].workers[] ---- */
static const struct conf_field worker_fields[] = {
	{ "name", CONF_T_NAME, AT(struct conf_worker, name), .kind = "worker", .required = true,
	  .check = conf_check_worker_name, .help = "Unique across all pools" },
	{ "addr", CONF_T_ENDPOINT, AT(struct conf_worker, addr), .required = true,
	  .check = conf_check_worker_addr, .help = "Its listener; one worker per listener" },
	{ "weight", CONF_T_UINT, AT(struct conf_worker, weight), RANGE(0, STEER_WEIGHT_MAX),
	  .def = STEER_WEIGHT_DEFAULT, .parse = conf_parse_weight,
	  .help = "Its share against the pool's other workers; \"auto\": "
		  OPT_LIMIT(STEER_WEIGHT_PER_CPU) " per CPU of its CPU allowance (cgroup cpu.max, "
		  "else cpuset.cpus.effective, else the host's online CPUs), again every interval" },
	{ "maxconn", CONF_T_UINT, AT(struct conf_worker, maxconn), RANGE(0, STEER_MAXCONN_MAX),
	  .def = STEER_MAXCONN_DEFAULT, .help = "Open connections at most; 0 = no cap" },
	{ "slots", CONF_T_UINT, AT(struct conf_worker, slots), RANGE(1, STEER_SLOTS_MAX),
	  PRESENT(struct conf_worker, has_slots), .def_from = CONF_DEF_NONE,
	  .help = "Connections it serves at once: it is lobby-aware (also accepts from its "
		  "pool's lobby); none: not lobby-aware" },
	{ "check", CONF_T_GROUP, AT(struct conf_worker, check), .sub = &check_block,
	  .help = "Its health check" },
	{ "agent", CONF_T_GROUP, AT(struct conf_worker, agent), .sub = &agent_block,
	  .help = "Its agent check" },
	{ "resources", CONF_T_BOOL, AT(struct conf_worker, resources), .def = true,
	  .help = "Sample its CPU, memory and file descriptors" },
};
static const struct conf_block worker_block =
	BLOCK("pools[].workers[]", worker_fields, LINE(struct conf_worker),
	      .help = "A worker: one listening socket");

/* ---- pools[].circuit ---- */
static const struct conf_field circuit_fields[] = {
	{ "threshold", CONF_T_DOUBLE, AT(struct conf_circuit, threshold), RANGE(0, 1),
	  .min_excl = true, .def = STEER_CIRCUIT_THRESHOLD_DEFAULT,
	  .help = "Error share over the window that opens it" },
	{ "window_s", CONF_T_UINT, AT(struct conf_circuit, window_s),
	  RANGE(1, STEER_CIRCUIT_WINDOW_S_MAX), .def = STEER_CIRCUIT_WINDOW_S_DEFAULT,
	  .help = "Seconds of the sliding window" },
	{ "min_requests", CONF_T_UINT, AT(struct conf_circuit, min_requests),
	  RANGE(1, STEER_CIRCUIT_MIN_REQUESTS_MAX), .def = STEER_CIRCUIT_MIN_REQUESTS_DEFAULT,
	  .help = "Outcomes in the window before it may open" },
	{ "cooldown_s", CONF_T_UINT, AT(struct conf_circuit, cooldown_s),
	  RANGE(1, STEER_CIRCUIT_COOLDOWN_S_MAX), .def = STEER_CIRCUIT_COOLDOWN_S_DEFAULT,
	  .help = "Seconds open before half-open" },
	{ "half_open_probes", CONF_T_UINT, AT(struct conf_circuit, half_open_probes),
	  RANGE(1, STEER_CIRCUIT_PROBES_MAX), .def = STEER_CIRCUIT_PROBES_DEFAULT,
	  .help = "Good connections half-open that close it" },
};
static const struct conf_block circuit_block =
	BLOCK("pools[].circuit", circuit_fields, .help = "The pool's circuit breaker");

/* ---- pools[] ---- */
static const struct conf_field pool_fields[] = {
	{ "name", CONF_T_NAME, AT(struct conf_pool, name), .kind = "pool", .required = true,
	  .check = conf_check_pool_name, .help = "Unique; not \"maintenance\" or \"none\"" },
	{ "policy", CONF_T_ENUM, AT(struct conf_pool, policy), .parse = conf_parse_policy,
	  .def = STEER_POLICY_LEAST_CONN, .help = "How a worker is picked" },
	{ "fallback", CONF_T_NAME, AT(struct conf_pool, fallback), .parse = conf_parse_fallback,
	  .def_from = CONF_DEF_NONE,
	  .help = "Where overflow goes: a pool, \"maintenance\" or \"none\"" },
	{ "circuit", CONF_T_GROUP, AT(struct conf_pool, circuit), .sub = &circuit_block,
	  .help = "Its circuit breaker" },
	{ "quota", CONF_T_U64, AT(struct conf_pool, quota), RANGE(0, STEER_QUOTA_MAX),
	  PRESENT(struct conf_pool, has_quota), .def_from = CONF_DEF_NONE,
	  .help = "Admissions left; none: no quota" },
	{ "rate", CONF_T_DOUBLE, AT(struct conf_pool, rate), RANGE(0, STEER_RATE_MAX),
	  .min_excl = true, PRESENT(struct conf_pool, has_rate), .def_from = CONF_DEF_NONE,
	  .check = conf_default_burst, .help = "Connections per second; none: no limit" },
	{ "burst", CONF_T_UINT, AT(struct conf_pool, burst), RANGE(STEER_BURST_MIN, STEER_BURST_MAX),
	  .parse = conf_parse_burst, .def_from = CONF_DEF_BURST,
	  .help = "Connections at once above the rate; needs a rate" },
	{ "eject_max", CONF_T_DOUBLE, AT(struct conf_pool, eject_max), RANGE(0, 1),
	  .def = STEER_EJECT_MAX_DEFAULT, .help = "Share of the pool health checks may take down" },
	{ "lobby", CONF_T_ENDPOINT, AT(struct conf_pool, lobby), PRESENT(struct conf_pool, has_lobby),
	  .def_from = CONF_DEF_NONE,
	  .help = "The pool's lobby, IP:PORT: a listening socket its lobby-aware workers also "
		  "accept from, where a connection waits while every worker is busy; none: no "
		  "lobby. Taken when someone listens there, retried every interval" },
	{ "global_quota", CONF_T_U64, AT(struct conf_pool, global_quota), RANGE(1, STEER_QUOTA_MAX),
	  PRESENT(struct conf_pool, has_global_quota), .def_from = CONF_DEF_NONE,
	  .check = conf_pool_global_quota,
	  .help = "Admissions per window_s shared by every host of the fleet (leases through "
		  "Redis); needs the fleet block, excludes quota; none: no global quota" },
	{ "window_s", CONF_T_UINT, AT(struct conf_pool, window_s), RANGE(1, STEER_FLEET_WINDOW_S_MAX),
	  .def = STEER_FLEET_WINDOW_S_DEFAULT, .help = "Seconds of global_quota's window" },
	{ "static_share", CONF_T_U64, AT(struct conf_pool, static_share), RANGE(1, STEER_QUOTA_MAX),
	  .def_from = CONF_DEF_NONE, .check = conf_pool_static_share,
	  .help = "Admissions per window_s this host takes while Redis is away (after the "
		  "lease TTL); default global_quota / fleet.expected_hosts, at least 1" },
	{ "tokens_per_min", CONF_T_U64, AT(struct conf_pool, tokens_per_min),
	  RANGE(1, STEER_TOKENS_MAX), PRESENT(struct conf_pool, has_tokens),
	  .def_from = CONF_DEF_NONE, .check = conf_pool_tokens,
	  .help = "A token budget (steerctl report --tokens): admissions = tokens left / tokens "
		  "per connection; through Redis with a fleet block, else local; excludes quota "
		  "and global_quota; none: no token budget" },
	{ "token_window_s", CONF_T_UINT, AT(struct conf_pool, token_window_s),
	  RANGE(1, STEER_FLEET_WINDOW_S_MAX), .def = STEER_FLEET_WINDOW_S_DEFAULT,
	  .help = "Seconds of the token window: tokens_per_min x token_window_s / 60 a window" },
	{ "chunk", CONF_T_UINT, AT(struct conf_pool, chunk), RANGE(1, STEER_FLEET_CHUNK_MAX),
	  .def_from = CONF_DEF_NONE, .check = conf_pool_fleet_chunk,
	  .help = "Admissions per lease; default fleet.chunk" },
	{ "workers", CONF_T_LIST, AT(struct conf_pool, workers), RANGE(0, STEER_MAX_POOL_WORKERS),
	  .sub = &worker_block, .count_off = offsetof(struct conf_pool, nworkers),
	  .item_size = sizeof(struct conf_worker), .parse = conf_count_workers,
	  .help = "Its workers" },
};
static const struct conf_block pool_block =
	BLOCK("pools[]", pool_fields, LINE(struct conf_pool), .help = "A pool of workers");

/* ---- services[] ---- */
static const struct conf_field service_fields[] = {
	{ "name", CONF_T_NAME, AT(struct conf_service, name), .kind = "service", .required = true,
	  .check = conf_check_service_name, .help = "Unique" },
	{ "prefix", CONF_T_PREFIX, AT(struct conf_service, prefix), .required = true,
	  .help = "The destination addresses" },
	{ "port", CONF_T_PORTS, .off = offsetof(struct conf_service, port_lo),
	  .size = 2 * sizeof(uint16_t), RANGE(1, UINT16_MAX), .required = true,
	  .check = conf_check_service_ports, .help = "The destination port or ports" },
	{ "pool", CONF_T_NAME, AT(struct conf_service, pool), .kind = "pool", .required = true,
	  .check = conf_check_service_pool, .help = "The pool that takes its connections" },
};
_Static_assert(offsetof(struct conf_service, port_hi) ==
	       offsetof(struct conf_service, port_lo) + sizeof(uint16_t), "PORTS: lo, then hi");
static const struct conf_block service_block =
	BLOCK("services[]", service_fields, LINE(struct conf_service),
	      .help = "What to steer: destination prefix and ports to a pool");

/* ---- maintenance ---- */
static const struct conf_field maintenance_fields[] = {
	{ "listen", CONF_T_ENDPOINT, AT(struct conf_maintenance, listen), .required = true,
	  .help = "The responder's address" },
	{ "status", CONF_T_UINT, AT(struct conf_maintenance, status),
	  RANGE(STEER_HTTP_STATUS_MIN, STEER_HTTP_STATUS_MAX), .def = STEER_MAINT_STATUS_DEFAULT,
	  .help = "The HTTP status it answers" },
	{ "retry_after", CONF_T_UINT, AT(struct conf_maintenance, retry_after),
	  RANGE(0, STEER_RETRY_AFTER_S_MAX), .def = STEER_RETRY_AFTER_S_DEFAULT,
	  .help = "Seconds, in its Retry-After header" },
	{ "body", CONF_T_STRING, AT(struct conf_maintenance, body),
	  .def_str = STEER_MAINT_BODY_DEFAULT, .help = "The body it answers" },
};
static const struct conf_block maintenance_block =
	BLOCK("maintenance", maintenance_fields, PRESENT(struct conf_maintenance, enabled),
	      .help = "The maintenance responder; a pool reaches it with "
		      "fallback = \"maintenance\"");

/* ---- fleet ---- */
static const struct conf_field fleet_fields[] = {
	{ "redis", CONF_T_ENDPOINT, AT(struct conf_fleet, redis), .required = true,
	  .help = "The Redis every host shares, IP:PORT" },
	{ "host_id", CONF_T_STRING, AT(struct conf_fleet, host_id), .def_from = CONF_DEF_NONE,
	  .check = conf_fleet_host_id,
	  .help = "This host's name in the fleet: letters, digits, '.', '_', '-'; default "
		  "gethostname()" },
	{ "password_file", CONF_T_STRING, AT(struct conf_fleet, password_file), .empty_absent = true,
	  .def_from = CONF_DEF_NONE, .check = conf_fleet_password,
	  .help = "A file holding Redis' password (one line), read at load and sent by AUTH; "
		  "none: no AUTH" },
	{ "timeout_ms", CONF_T_UINT, AT(struct conf_fleet, timeout_ms),
	  RANGE(STEER_TIMEOUT_MS_MIN, STEER_TIMEOUT_MS_MAX), .def = STEER_FLEET_TIMEOUT_MS_DEFAULT,
	  .help = "A connect or command slower than this counts as Redis down" },
	{ "backoff_max_ms", CONF_T_UINT, AT(struct conf_fleet, backoff_max_ms),
	  RANGE(STEER_FLEET_BACKOFF_MIN_MS, STEER_FLEET_BACKOFF_MAX_MS_MAX),
	  .def = STEER_FLEET_BACKOFF_MAX_MS_DEFAULT,
	  .help = "Reconnects back off from " OPT_LIMIT(STEER_FLEET_BACKOFF_MIN_MS)
		  " ms, doubling with jitter, up to this" },
	{ "expected_hosts", CONF_T_UINT, AT(struct conf_fleet, expected_hosts),
	  RANGE(1, STEER_FLEET_HOSTS_MAX), .def = STEER_FLEET_HOSTS_DEFAULT,
	  .help = "Hosts sharing the quotas: a pool's static_share is global_quota / this" },
	{ "chunk", CONF_T_UINT, AT(struct conf_fleet, chunk), RANGE(1, STEER_FLEET_CHUNK_MAX),
	  .def = STEER_FLEET_CHUNK_DEFAULT, .help = "Admissions per lease, the pools' default" },
	{ "lease_ttl_s", CONF_T_UINT, AT(struct conf_fleet, lease_ttl_s),
	  RANGE(1, STEER_FLEET_LEASE_TTL_S_MAX), PRESENT(struct conf_fleet, has_lease_ttl),
	  .def_from = CONF_DEF_NONE,
	  .help = "Seconds a lease may still be spent while Redis is unreachable, then the "
		  "static share; default: the pool's window_s" },
	{ "key_prefix", CONF_T_STRING, AT(struct conf_fleet, key_prefix),
	  .def_str = STEER_FLEET_KEY_PREFIX_DEFAULT, .check = conf_fleet_key_prefix,
	  .help = "The Redis keys' prefix: letters, digits, '.', '_', '-', ':'" },
	{ "circuit_hosts", CONF_T_UINT, AT(struct conf_fleet, circuit_hosts),
	  RANGE(1, STEER_FLEET_HOSTS_MAX), .def = STEER_FLEET_CIRCUIT_HOSTS_DEFAULT,
	  .help = "Hosts whose own circuit of a pool is open that open it fleet-wide" },
	{ "circuit_ttl_ms", CONF_T_UINT, AT(struct conf_fleet, circuit_ttl_ms),
	  RANGE(STEER_FLEET_BACKOFF_MIN_MS, STEER_FLEET_CIRCUIT_TTL_MS_MAX),
	  .def = STEER_FLEET_CIRCUIT_TTL_MS_DEFAULT,
	  .help = "Milliseconds a host's open circuit counts fleet-wide unless renewed" },
};
static const struct conf_block fleet_block =
	BLOCK("fleet", fleet_fields, PRESENT(struct conf_fleet, enabled),
	      .help = "The fleet: hosts sharing global quotas and circuits through one Redis");

/* ---- daemon: its settings are steer_config's own ---- */
static const struct conf_field daemon_fields[] = {
	{ "interval_ms", CONF_T_UINT, AT(struct steer_config, interval_ms),
	  RANGE(STEER_INTERVAL_MS_MIN, STEER_INTERVAL_MS_MAX), .def = STEER_INTERVAL_MS_DEFAULT,
	  .help = "Sampling period, and the checks' default" },
	{ "metrics", CONF_T_ENDPOINT, AT(struct steer_config, metrics),
	  PRESENT(struct steer_config, has_metrics), .help = "The Prometheus endpoint" },
	{ "socket", CONF_T_STRING, AT(struct steer_config, socket_path),
	  .def_str = STEER_DAEMON_SOCKET,
	  .help = "Absolute path of the unix datagram socket for steerctl report" },
	{ "socket_group", CONF_T_STRING, AT(struct steer_config, socket_gid), .maxlen = 63,
	  .empty_absent = true,
	  PRESENT(struct steer_config, has_socket_group), .parse = conf_parse_group,
	  .def_from = CONF_DEF_NONE, .help = "The socket's group, by name or number" },
	{ "socket_mode", CONF_T_OCTAL, AT(struct steer_config, socket_mode), .maxlen = 7,
	  .empty_absent = true,
	  RANGE(0, STEER_SOCKET_MODE_MAX), .def = STEER_DAEMON_SOCKET_MODE,
	  .help = "The socket's mode, octal as text (libconfig has no octal numbers)" },
};
static const struct conf_block daemon_block =
	BLOCK("daemon", daemon_fields, .finish = conf_check_socket, .help = "The daemon itself");

/* ---- the top ---- */
static const struct conf_field root_fields[] = {
	{ "include_dir", CONF_T_STRING, AT(struct steer_config, include_dir), .empty_absent = true,
	  .help = "A directory whose *.conf files are read, in name order, as part of this "
		  "file: their pools and services add to the lists; any other setting is set "
		  "in one file only. Relative to this file's directory; only in the main file" },
	{ "daemon", CONF_T_GROUP, .off = 0, .sub = &daemon_block, .help = "The daemon itself" },
	{ "maintenance", CONF_T_GROUP, AT(struct steer_config, maintenance),
	  .sub = &maintenance_block, .help = "The maintenance responder" },
	/* before pools: a pool's global_quota and chunk read it */
	{ "fleet", CONF_T_GROUP, AT(struct steer_config, fleet), .sub = &fleet_block,
	  .help = "The fleet's Redis" },
	{ "pools", CONF_T_LIST, AT(struct steer_config, pools), RANGE(0, STEER_MAX_POOLS),
	  .sub = &pool_block, .count_off = offsetof(struct steer_config, npools),
	  .item_size = sizeof(struct conf_pool), .check = conf_check_fallbacks,
	  .help = "The pools" },
	{ "services", CONF_T_LIST, AT(struct steer_config, services), RANGE(0, STEER_MAX_SERVICES),
	  .sub = &service_block, .count_off = offsetof(struct steer_config, nservices),
	  .item_size = sizeof(struct conf_service), .help = "The services" },
};
const struct conf_block conf_schema_root = BLOCK("", root_fields, .help = "Steer.conf");

const struct conf_field *conf_schema_field(const struct conf_block *b, const char *name)
{
	for (size_t i = 0; b && name && i < b->nfields; i++)
		if (!strcmp(b->fields[i].name, name))
			return &b->fields[i];
	return NULL;
}

static int walk(const struct conf_block *b, int (*fn)(const struct conf_block *, void *),
		void *arg)
{
	int ret = fn(b, arg);

	for (size_t i = 0; !ret && i < b->nfields; i++)
		if (b->fields[i].sub)
			ret = walk(b->fields[i].sub, fn, arg);
	return ret;
}

int conf_schema_walk(int (*fn)(const struct conf_block *b, void *arg), void *arg)
{
	return walk(&conf_schema_root, fn, arg);
}

struct find {
	const char *path;
	const struct conf_block *found;
};

static int find_block(const struct conf_block *b, void *arg)
{
	struct find *f = arg;

	if (strcmp(b->path, f->path))
		return 0;
	f->found = b;
	return 1;
}

const struct conf_block *conf_schema_block(const char *path)
{
	struct find f = { .path = path };

	if (path)
		conf_schema_walk(find_block, &f);
	return f.found;
}

const struct conf_field *conf_schema_lookup(const char *path, const char *name)
{
	return conf_schema_field(conf_schema_block(path), name);
}

bool conf_field_numeric(const struct conf_field *f)
{
	return f->type == CONF_T_UINT || f->type == CONF_T_U64 || f->type == CONF_T_DOUBLE;
}
