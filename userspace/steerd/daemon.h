/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* daemon.h - steerd's state: what it watches for each configured worker and
 * pool. The kernel maps stay the source of truth for counts and settings;
 * this is only what the daemon needs between ticks. */
#ifndef STEER_DAEMON_H
#define STEER_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "circuit.h"
#include "circuit_share.h"
#include "clock.h"
#include "config.h"
#include "health.h"
#include "loader.h"
#include "maintenance.h"
#include "metrics.h"
#include "resources.h"

/* The pool that the maintenance responder serves in, as a fallback. */
#define MAINTENANCE_POOL	"maintenance"
#define MAINTENANCE_WORKER	"maintenance"
#define MAINTENANCE_WEIGHT	100

enum source_kind { SRC_SIGNAL, SRC_TIMER, SRC_REPORT, SRC_MAINTENANCE, SRC_CHECK, SRC_AGENT,
		   SRC_WATCHDOG, SRC_REDIS, SRC_REDIS_TIMER, SRC_FLEET_TIMER, SRC_BUDGET_WAKE };

/* What an epoll event of a fixed source points at: struct daemon holds
 * these and lives as long as the process. A check's event carries a probe
 * token instead (below), never a pointer into the per-worker array, which
 * a reload replaces. */
struct source {
	enum source_kind kind;
};

struct ring_buffer;		/* libbpf's */

/* A probe token: bit 0 set (a struct source pointer never has it), bit 1
 * agent, bits 2..23 the worker's index in d->workers when the fd was
 * watched, bits 24..63 the run's sequence number (never reused). An event
 * whose index or sequence no longer match is stale and dropped: epoll is
 * level-triggered, so a live fd reports again at the next wait. */
#define PROBE_TOKEN_AGENT	2u
#define PROBE_TOKEN_SLOT_BITS	22
#define PROBE_TOKEN_SEQ_SHIFT	24

static inline uint64_t probe_token(size_t slot, bool agent, uint64_t seq)
{
	return 1 | (agent ? PROBE_TOKEN_AGENT : 0) | ((uint64_t)slot << 2) |
	       (seq << PROBE_TOKEN_SEQ_SHIFT);
}

struct probe {				/* one active check or agent check */
	struct check_run *run;
	int fd;
	uint64_t seq;			/* of the run in flight; 0 = none */
	uint32_t events;		/* what the run waits for */
	uint64_t next_ms;		/* when to start the next one */
};

/* What steerd learns about a worker as it runs: the entry it found in the
 * maps, its checks and their verdicts, its agent, its resources, its
 * ejection window. A reload moves it whole to the new view's worker of the
 * same name (daemon_rebuild_views), so a reload restarts no count. */
struct dworker_live {
	bool present;			/* in the maps, with id below */
	uint32_t id;
	pid_t pid;
	struct probe check, agent;
	struct health_track track;
	enum agent_state agent_state;
	int agent_pct;			/* -1: none */
	struct resource_state res;
	uint32_t res_factor;		/* per-mille */
	uint32_t health;		/* last written to the kernel */
	bool counted;			/* closed, aborted hold a reading of this entry */
	uint64_t closed, aborted;	/* last seen, for deltas */
	struct circuit outlier;		/* this worker alone: open = ejected */
	char last_detail[128];
	bool check_done;		/* a check finished: check_us is its duration */
	uint64_t check_us;
};

struct dworker {
	char name[STEER_NAME_LEN];
	char pool[STEER_NAME_LEN];
	struct conf_worker conf;
	struct dworker_live live;
};

/* A pool's, likewise: its circuit (window included) survives a reload. */
struct dpool_live {
	uint32_t id;
	struct circuit circuit;
	uint64_t reports_ok, reports_err;
	struct circuit_share share;	/* the fleet's view of it (fleet_circuit.c) */
	uint32_t kstate;		/* the state steerd last wrote to the kernel ... */
	bool kfleet;			/* ... and open for the fleet (apply_circuit) */
	bool kread;			/* those two were read from the kernel once */
	uint64_t kcheck_ms;		/* next look at a circuit open for the fleet */
};

struct dpool {
	char name[STEER_NAME_LEN];
	double eject_max;		/* share of the pool that may be ejected at once */
	struct dpool_live live;
};

struct daemon {
	const char *conf_path;
	struct steer_config conf;
	struct steer_paths paths;
	struct steer_maps maps;
	struct dworker *workers;
	size_t nworkers;
	struct dpool *pools;
	size_t npools;
	uint64_t probe_seq;		/* last probe sequence number given */
	uint32_t maps_id;		/* kernel id of the workers map our fds point at */
	bool unloaded;			/* the pins are gone: wait for a load */
	/* problems of the last two reconcile passes (hashes), so that one that
	 * persists is logged once, not at every interval */
	uint64_t problems[2][64];
	size_t nproblems[2];
	int epfd, sigfd, timerfd, report_fd;
	int watchdog_fd;	/* -1 unless systemd asked for WATCHDOG=1 pings */
	struct source sig_src, timer_src, report_src, maint_src, watchdog_src;
	struct maintenance maint;
	bool maint_open, maint_watched;
	struct metrics_server *metrics;
	struct metrics_daemon mstat;	/* steerd's own series: reloads, generation */
	struct resource_policy res_policy;
	uint64_t next_sample_ms;
	struct fleet *fleet;		/* fleet.c: NULL without a fleet block */
	struct fpool *budgets;		/* fleet.c: pools with a global_quota or token budget */
	size_t nbudgets;
	struct steer_pool_budget *budget_map;	/* pool_budgets, mmapped while nbudgets */
	int fleet_timerfd;		/* -1 while neither */
	struct source fleet_src;
	struct ring_buffer *wake_ring;	/* budget_wakes (wake.c), while nbudgets */
	struct source wake_src;
};

uint64_t now_ms(void);	/* CLOCK_MONOTONIC; differences through ms_since (clock.h) */
/* d->conf changed (start, reload): carry the daemon's view of each worker
 * and pool it still names over to it; close the checks of the others. */
int daemon_rebuild_views(struct daemon *d);
/* at exit: the views and their checks */
void daemon_free_views(struct daemon *d);
/* Reconcile: make the pinned maps match d->conf, whatever they hold now
 * (after a restart, a kill -9 half-way, an operator's edits). Idempotent:
 * with nothing to do it writes nothing. Logs what it changes; returns the
 * first problem (the pass goes on past it). */
int daemon_reconcile(struct daemon *d, char *err);
/* Are our map fds still the pinned maps? If an unload + load replaced them,
 * open the new ones and reconcile. Cheap enough for every tick. */
void daemon_check_maps(struct daemon *d);
/* A check succeeded while the worker is down: if its listener left the
 * map (the process restarted), take the new one before the check counts. */
void daemon_retake_worker(struct daemon *d, struct dworker *w);
/* The file's desired state as one line of JSON, with the field names and
 * formats of `steerctl -j service|pool|worker list`. */
void daemon_print_desired(const struct steer_config *c, FILE *f);

/* main.c: the event loop's watch on a check's socket; a pool by name */
int watch_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
		uint32_t events, int op);
struct dpool *pool_named(struct daemon *d, const char *name);

/* monitor.c: checks, health factor, outliers, circuits (each tick) */
void run_probes(struct daemon *d, uint64_t now);
/* a check's socket is ready (revents), or its time is up (0) */
void step_probe(struct daemon *d, struct dworker *w, struct probe *pr, bool agent,
		uint32_t revents, uint64_t now);
/* health factors; sample: the resources' interval has come round */
void update_workers(struct daemon *d, uint64_t now, bool sample);
void update_outliers(struct daemon *d, uint64_t now);
void update_circuits(struct daemon *d, uint64_t now);
/* Write p's circuit to the kernel as the fleet rule makes it (its own
 * breaker, or open for the fleet) when that changed, or always when moved
 * (its own breaker changed state: a half-open one needs its probes). */
void apply_circuit(struct daemon *d, struct dpool *p, uint64_t now, bool moved);

/* exporter.c: the maps and steerd's view of them as metrics, published */
void render_metrics(struct daemon *d, uint64_t now);
/* a configuration was loaded: at the start (reload false), or by a reload
 * that took (ok) or not; for steer_daemon_reloads_total and friends */
void exporter_config_loaded(struct daemon *d, bool reload, bool ok);

#endif
