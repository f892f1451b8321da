/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* daemon.h - steerd's state: what it watches for each configured worker and
 * pool. The kernel maps stay the source of truth for counts and settings;
 * this is only what the daemon needs between ticks. */
#ifndef STEER_DAEMON_H
#define STEER_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "circuit.h"
#include "config.h"
#include "health.h"
#include "loader.h"
#include "maintenance.h"
#include "metrics.h"
#include "resources.h"

/* The pool that the maintenance responder serves in, as a fallback. */
#define MAINTENANCE_POOL	"maintenance"
#define MAINTENANCE_WORKER	"maintenance"

enum source_kind { SRC_SIGNAL, SRC_TIMER, SRC_REPORT, SRC_MAINTENANCE, SRC_CHECK, SRC_AGENT };

/* What an epoll event points at. */
struct source {
	enum source_kind kind;
	struct dworker *worker;
};

struct probe {				/* one active check or agent check */
	struct check_run *run;
	int fd;
	uint64_t next_ms;		/* when to start the next one */
	struct source src;
};

struct dworker {
	char name[STEER_NAME_LEN];
	char pool[STEER_NAME_LEN];
	struct conf_worker conf;
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
	uint64_t closed, aborted;	/* last seen, for deltas */
	struct circuit outlier;		/* this worker alone: open = ejected */
	char last_detail[128];
};

struct dpool {
	char name[STEER_NAME_LEN];
	uint32_t id;
	struct circuit circuit;
	double eject_max;		/* share of the pool that may be ejected at once */
	uint64_t reports_ok, reports_err;
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
	int epfd, sigfd, timerfd, report_fd;
	struct source sig_src, timer_src, report_src, maint_src;
	struct maintenance maint;
	bool maint_open, maint_watched;
	struct metrics_server *metrics;
	struct resource_policy res_policy;
	uint64_t next_sample_ms;
};

uint64_t now_ms(void);
/* Bring the maps in line with d->conf (newly loaded); old is the config
 * applied before (NULL at start). Logs what it changes. */
int daemon_apply(struct daemon *d, const struct steer_config *old, char *err);
/* Look for workers that were missing (their process not listening yet). */
void daemon_retry_missing(struct daemon *d);

#endif
