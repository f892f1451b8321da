/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * config.h - steerd's configuration file (libconfig syntax), loaded and
 * validated in one go. A config either loads whole or not at all: on error
 * nothing is kept and err holds one line "FILE:LINE: SETTING: what is wrong",
 * where SETTING is the path as written (e.g. pools[0].workers[1].weight).
 * See scripts/steer.conf.example for the format, config_schema.h for the
 * settings as data.
 */
#ifndef STEER_CONFIG_H
#define STEER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "defaults.h"
#include "parse.h"

/* fallback = "maintenance" hands a pool's overflow to the maintenance
 * responder; "none" is the same as no fallback. Neither may name a pool. */
#define CONF_FALLBACK_MAINTENANCE "maintenance"
#define CONF_FALLBACK_NONE	"none"

/* Ranges and defaults are in config_schema.c's tables (from defaults.h);
 * the comments below name the defaults. */
enum conf_check_type {
	CONF_CHECK_TCP = 0,	/* connect() succeeds */
	CONF_CHECK_HTTP = 1,	/* GET path answers with status expect */
};

struct conf_check {
	bool enabled;		/* a check block was given */
	int type;		/* enum conf_check_type; default tcp */
	uint16_t port;		/* default: the worker's port */
	char path[128];		/* http only; default "/" */
	int expect;		/* http only; status 100..599, default 200 */
	uint32_t interval_ms;	/* default: daemon.interval_ms */
	uint32_t timeout_ms;	/* default 1000 */
	uint32_t rise;		/* successes to come up, default 2 */
	uint32_t fall;		/* failures to go down, default 3 */
	uint32_t slowstart_s;	/* ramp after coming up, default 0 (none) */
};

/* HAProxy-style agent check: a TCP port that answers with a line such as
 * "up 75%" or "drain". */
struct conf_agent {
	bool enabled;		/* an agent block was given */
	uint16_t port;		/* required */
	uint32_t interval_ms;	/* default: daemon.interval_ms */
	uint32_t timeout_ms;	/* default 1000 */
};

struct conf_worker {
	char name[STEER_NAME_LEN];	/* unique across all pools */
	struct steer_endpoint addr;	/* its listener, IP:PORT */
	uint32_t weight;		/* 0..STEER_WEIGHT_MAX, default 100 */
	bool weight_auto;		/* weight = "auto": from its CPU allowance */
	uint32_t maxconn;		/* 0 = no cap (default) */
	bool has_slots;
	uint32_t slots;			/* lobby-aware: 1..STEER_SLOTS_MAX at once */
	struct conf_check check;
	struct conf_agent agent;
	bool resources;			/* sample CPU/memory/fds, default true */
	int line;
};

struct conf_circuit {
	double threshold;		/* error share that opens it, (0, 1], default 0.05 */
	uint32_t window_s;		/* default 10 */
	uint32_t min_requests;		/* in the window before it may open, default 20 */
	uint32_t cooldown_s;		/* open before half-open, default 5 */
	uint32_t half_open_probes;	/* default 5 */
};

struct conf_pool {
	char name[STEER_NAME_LEN];
	uint32_t policy;		/* enum steer_policy, default least-conn */
	char fallback[STEER_NAME_LEN];	/* a pool, CONF_FALLBACK_MAINTENANCE, or "" for none */
	struct conf_circuit circuit;
	bool has_quota;
	uint64_t quota;			/* admissions left */
	bool has_rate;
	double rate;			/* connections per second, (0, STEER_RATE_MAX] */
	uint32_t burst;			/* default max(1, rate), rounded down */
	double eject_max;		/* [0, 1], default 0.5 */
	bool has_lobby;
	struct steer_endpoint lobby;	/* the lobby's listening socket, IP:PORT */
	/* fleet (fleet.c): admissions per window shared by every host through
	 * Redis, spent here by leases of chunk; excludes quota */
	bool has_global_quota;
	uint64_t global_quota;
	uint32_t window_s;		/* default 60 */
	uint32_t chunk;			/* default fleet.chunk */
	uint64_t static_share;		/* Redis away: per window_s; default global_quota / expected_hosts, >= 1 */
	bool has_tokens;		/* a token budget: tokens_per_min x token_window_s / 60 a window */
	uint64_t tokens_per_min;
	uint32_t token_window_s;	/* default 60 */
	struct conf_worker *workers;
	size_t nworkers;
	int line;
};

struct conf_service {
	char name[STEER_NAME_LEN];
	struct steer_prefix prefix;
	uint16_t port_lo, port_hi;
	char pool[STEER_NAME_LEN];	/* always a pool of this config */
	int line;
};

struct conf_maintenance {
	bool enabled;			/* a maintenance block was given */
	struct steer_endpoint listen;	/* required when enabled */
	int status;			/* 100..599, default 503 */
	uint32_t retry_after;		/* seconds, default 30 */
	char body[1024];
};

/* fleet = { ... }: the Redis that hosts share global quotas through */
struct conf_fleet {
	bool enabled;			/* the block was given */
	struct steer_endpoint redis;	/* required */
	char host_id[STEER_FLEET_HOST_ID_LEN];	/* default gethostname(); [A-Za-z0-9._-] */
	char password_file[256];	/* "" none */
	char password[STEER_FLEET_PASSWORD_LEN];	/* read from it at load; never logged */
	uint32_t timeout_ms;		/* default 500 */
	uint32_t backoff_max_ms;	/* default 5000 */
	uint32_t expected_hosts;	/* default 1 */
	uint32_t chunk;			/* default 50 */
	bool has_lease_ttl;
	uint32_t lease_ttl_s;		/* default: the pool's window_s */
	char key_prefix[STEER_FLEET_KEY_PREFIX_LEN];	/* default "steer" */
	uint32_t circuit_hosts;		/* default 2 (fleet_circuit.c) */
	uint32_t circuit_ttl_ms;	/* default 3000 (fleet_circuit.c) */
};

struct steer_config {
	char include_dir[256];		/* "" or the directory of *.conf read with the file */
	uint32_t interval_ms;		/* default 1000 */
	bool has_metrics;
	struct steer_endpoint metrics;
	char socket_path[108];		/* sizeof(sun_path); default STEER_DAEMON_SOCKET */
	bool has_socket_group;		/* socket_group given: chown the socket to it */
	gid_t socket_gid;
	uint32_t socket_mode;		/* default STEER_DAEMON_SOCKET_MODE */
	struct conf_maintenance maintenance;
	struct conf_fleet fleet;
	struct conf_pool *pools;
	size_t npools;
	struct conf_service *services;
	size_t nservices;
};

/*
 * 0 on success. -1 on any error, with err = "FILE:LINE: SETTING: message"
 * (one line) and *out left exactly as it was, so a reload that fails keeps
 * the running config. A successful load overwrites *out without freeing it:
 * config_free() the old one first, or load into a fresh struct.
 * Relative @include paths are resolved against the file's directory.
 */
int config_load(const char *path, struct steer_config *out, char *err, size_t errlen);
/* The same from memory, for tests; FILE is shown as "<string>". */
int config_load_string(const char *text, struct steer_config *out, char *err, size_t errlen);
/* Frees what a load allocated and zeroes *c. Safe on a zeroed struct, twice. */
void config_free(struct steer_config *c);

const struct conf_pool *config_find_pool(const struct steer_config *c, const char *name);
/* pool may be NULL; when not, it is set to the worker's pool */
const struct conf_worker *config_find_worker(const struct steer_config *c, const char *name,
					     const struct conf_pool **pool);

#endif
