/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * defaults.h - every limit and default that steerctl, steer.conf and the
 * docs share, written once. Ranges are inclusive unless named _EXCL. The
 * kernel's own sizes (names, map capacities, the weight scale) are in
 * bpf/steer.h; this header builds on them.
 *
 * steerctl's option tables and steer.conf's schema tables take their ranges
 * and defaults from here, and tests/unit/test_ranges.c checks that both
 * accept exactly these ranges.
 */
#ifndef STEER_DEFAULTS_H
#define STEER_DEFAULTS_H

#include <stdint.h>
#include "steer.h"

/* the release both tools report (--version) and steerd's build_info */
#define STEER_VERSION		"0.8.0"

/* ---- paths ---- */
#define STEER_CONF_PATH		"/etc/steer/steer.conf"
/* steer.conf with its @includes and include_dir: at most this many files
 * and bytes in all, so that a directory of hostile files cannot stall a
 * reload */
#define STEER_CONF_MAX_FILES	4096
#define STEER_CONF_MAX_BYTES	(16u << 20)
#define STEER_CONF_MAX_DEPTH	10		/* @include nesting, libconfig's own limit */
#define STEER_DAEMON_SOCKET	"/run/steer/steerd.sock"	/* steerd's report socket */
#define STEER_DAEMON_SOCKET_MODE 0660		/* owner and group may report */
#define STEER_SOCKET_MODE_MAX	0777

/* ---- a worker ---- */
#define STEER_WEIGHT_DEFAULT	100		/* of 0..STEER_WEIGHT_MAX */
#define STEER_WEIGHT_PER_CPU	100		/* weight auto: per CPU of its allowance */
#define STEER_WEIGHT_AUTO	"auto"		/* the word for it (steerctl, steer.conf) */
#define STEER_LISTEN_FDS_MAX	64		/* worker add --listen-fds: sockets at once */
#define STEER_MAXCONN_DEFAULT	0		/* no cap */
#define STEER_MAXCONN_MAX	UINT32_MAX
#define STEER_DRAIN_TIMEOUT_S_MAX (86400 * 365)	/* steerctl worker drain --wait --timeout */

/* ---- a pool's admission ---- */
#define STEER_QUOTA_MAX		(1ull << 62)	/* admissions; headroom below INT64_MAX */
#define STEER_RATE_MAX		1e9		/* connections per second, (0, max] */
#define STEER_BURST_MIN		1
#define STEER_BURST_MAX		UINT32_MAX	/* default: one second's worth of rate */
#define STEER_EJECT_MAX_DEFAULT	0.5		/* share of a pool health may take down */

/* ---- a pool's circuit breaker ---- */
#define STEER_CIRCUIT_THRESHOLD_DEFAULT	0.05	/* error share that opens it, (0, 1] */
#define STEER_CIRCUIT_WINDOW_S_DEFAULT	10
#define STEER_CIRCUIT_WINDOW_S_MAX	600	/* one bucket a second in steerd: 10 min */
#define STEER_CIRCUIT_MIN_REQUESTS_DEFAULT 20	/* in the window before it may open */
#define STEER_CIRCUIT_MIN_REQUESTS_MAX	1000000
#define STEER_CIRCUIT_COOLDOWN_S_DEFAULT 5	/* open before half-open */
#define STEER_CIRCUIT_COOLDOWN_S_MAX	3600
#define STEER_CIRCUIT_PROBES_DEFAULT	5	/* connections let through half-open */
#define STEER_CIRCUIT_PROBES_MAX	1000
/* shared circuits (steerd fleet_circuit.c): each host writes its own state
 * this often (an open one's entry lives circuit_ttl_ms past a write) */
#define STEER_FLEET_CIRCUIT_SYNC_MS	500
#define STEER_REPORT_COUNT_MAX	(1ull << 40)	/* steerctl report --ok/--errors, one report */

/* ---- steerctl top ---- */
#define STEER_TOP_DELAY_S_DEFAULT	2	/* seconds between refreshes, as watch(1) */
#define STEER_TOP_DELAY_S_MAX		3600

/* ---- steerd's loop and checks ---- */
#define STEER_INTERVAL_MS_DEFAULT	1000
#define STEER_INTERVAL_MS_MIN		50
#define STEER_INTERVAL_MS_MAX		60000
#define STEER_TIMEOUT_MS_DEFAULT	1000
#define STEER_TIMEOUT_MS_MIN		1
#define STEER_TIMEOUT_MS_MAX		60000
#define STEER_RISE_DEFAULT		2
#define STEER_FALL_DEFAULT		3
#define STEER_RISE_FALL_MAX		100
#define STEER_SLOWSTART_S_MAX		3600
#define STEER_HTTP_STATUS_MIN		100
#define STEER_HTTP_STATUS_MAX		599
#define STEER_CHECK_EXPECT_DEFAULT	200
#define STEER_CHECK_PATH_DEFAULT	"/"

/* ---- the maintenance answer ---- */
#define STEER_MAINT_STATUS_DEFAULT	503
#define STEER_RETRY_AFTER_S_DEFAULT	30
#define STEER_RETRY_AFTER_S_MAX		86400
#define STEER_MAINT_BODY_DEFAULT	"Service under maintenance, please retry later.\n"

/* ---- steerctl monitor ---- */
#define STEER_MONITOR_RATE_DEFAULT	1000	/* records per second per CPU */
#define STEER_MONITOR_RATE_MAX		1000000
#define STEER_MONITOR_COUNT_MAX		UINT32_MAX	/* --count */
#define STEER_MONITOR_LEASE_S		3	/* a monitor killed -9 is off after this */
#define STEER_MONITOR_RENEW_MS		1000	/* lease renewal and drop report */

/* ---- fleet: global quotas by lease through Redis (steerd fleet.c) ---- */
#define STEER_FLEET_TIMEOUT_MS_DEFAULT	500	/* a connect or command slower: Redis is down */
#define STEER_FLEET_BACKOFF_MIN_MS	100	/* reconnect backoff starts here, doubles ... */
#define STEER_FLEET_BACKOFF_MAX_MS_DEFAULT 5000	/* ... up to this (with jitter) */
#define STEER_FLEET_BACKOFF_MAX_MS_MAX	600000
#define STEER_FLEET_HOSTS_DEFAULT	1	/* expected_hosts: for the static share */
#define STEER_FLEET_HOSTS_MAX		10000
#define STEER_FLEET_CHUNK_DEFAULT	50	/* admissions per lease */
#define STEER_FLEET_CHUNK_MAX		1000000
#define STEER_FLEET_LEASE_MAX_FACTOR	4	/* a pool's lease_max: this x its chunk */
#define STEER_FLEET_WINDOW_S_DEFAULT	60	/* global_quota's window; token_window_s's */
#define STEER_FLEET_WINDOW_S_MAX	86400
#define STEER_FLEET_LEASE_TTL_S_MAX	86400
#define STEER_FLEET_KEY_PREFIX_DEFAULT	"steer"
#define STEER_FLEET_KEY_PREFIX_LEN	64	/* NUL included */
#define STEER_FLEET_HOST_ID_LEN		64	/* NUL included */
#define STEER_FLEET_PASSWORD_LEN	512	/* NUL included */
#define STEER_FLEET_CIRCUIT_HOSTS_DEFAULT 2	/* hosts whose circuit is open open it fleet-wide */
#define STEER_FLEET_CIRCUIT_TTL_MS_DEFAULT 3000
#define STEER_FLEET_CIRCUIT_TTL_MS_MAX	600000
#define STEER_FLEET_TICK_MS		100	/* the fleet timer: circuits */
#define STEER_FLEET_BUDGET_MS		STEER_FLEET_TICK_MS	/* ... and the budgets' backstop
						 * look (the kernel wakes steerd: budget_wakes) */
/* a start with nothing in the kernel: the static share once Redis has not
 * answered for this long (or the lease TTL, if shorter) */
#define STEER_FLEET_START_GRACE_MS	3000
#define STEER_FLEET_DRY_KEEP_MS		10000	/* a lease's aim does not shrink this long
						 * after the kernel ran dry */
#define STEER_FLEET_POLL_MS		10	/* a rate sample's least span; a lease's
						 * horizon counts this for steerd's reaction */
#define STEER_TOKENS_MAX		(1ull << 50)	/* tokens_per_min, a report's tokens */
#define STEER_TOKEN_RESET_S_MAX		86400	/* pool remaining --reset */

#endif /* STEER_DEFAULTS_H */
