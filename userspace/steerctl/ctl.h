/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* ctl.h - what steerctl's object files share: the run's state, the object
 * tables, and the helpers that every command uses. */
#ifndef STEERCTL_CTL_H
#define STEERCTL_CTL_H

#include <stdbool.h>
#include <sys/types.h>
#include "json.h"
#include "loader.h"
#include "options.h"
#include "parse.h"

struct ctl {
	bool json;
	bool pretty;		/* -p: -j, indented */
	bool version;		/* -V: print the version, nothing else */
	const char *bpffs;
	struct steer_paths paths;
	struct steer_maps maps;
	/* whole maps read once per command (ctl_table), freed by ctl_done */
	void *table[MAP_COUNT];
	char err[STEER_ERR_LEN];
};

extern const struct object obj_load, obj_unload, obj_upgrade, obj_status, obj_top, obj_monitor,
	obj_service, obj_pool, obj_worker, obj_circuit, obj_report;

void ctl_init(struct ctl *c);
/* -j/--json and --bpffs may stand anywhere: taken out of argv */
int ctl_global_opts(struct ctl *c, int *argc, char **argv);
/* steerctl OBJECT [VERB] ARGS, help included */
int ctl_dispatch(struct ctl *c, int argc, char **argv);
void ctl_done(struct ctl *c);

int ctl_error(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_open_maps(struct ctl *c);
/* report.c: one datagram to steerd's report socket (no maps needed) */
int ctl_report_send(struct ctl *c, const char *path, const char *msg);
/* the inode of MAP's pin, 0 when there is none: another after an unload
 * and a load, so a long-running command knows its maps went away */
ino_t ctl_pin_inode(const struct ctl *c, enum steer_map_id map);
/* open the maps, then print as text or, with -j, as one JSON object */
int ctl_with_json(struct ctl *c, void (*print)(struct ctl *c, struct json *j));
/* The whole array map in one read (one batch syscall where the kernel can),
 * kept for the rest of the command: a listing costs a read per map, not
 * one per slot. NULL when it cannot be read. */
const void *ctl_table(struct ctl *c, enum steer_map_id map);
void pool_name_of(struct ctl *c, uint32_t id, char *buf, size_t len);
/* "auto:800" for a weight derived from its CPU allowance, else "800" */
const char *worker_weight_text(const struct steer_worker *w, char *buf, size_t len);

/* The options that may stand anywhere in argv (ctl_global_opts takes them out). */
enum global { GLOBAL_JSON, GLOBAL_PRETTY, GLOBAL_VERSION, GLOBAL_BPFFS, GLOBAL_COUNT };
struct global_opt {
	const char *flag;	/* "-j", or NULL */
	const char *long_flag;	/* "--json" */
	bool takes_dir;		/* the next word is its value */
};
extern const struct global_opt ctl_globals[GLOBAL_COUNT];
/* the global option word is, or -1 */
int ctl_global_of(const char *word);

/* An object (index in ctl_objects; ctl_nobjects for "help") or one of obj's
 * verbs (index in obj->cmds; obj->ncmds for "help") by exact name or unique
 * prefix; -1 with "unknown ..." or "ambiguous ..." in err. */
int ctl_match_object(const char *word, char *err);
int ctl_match_verb(const struct object *obj, const char *word, char *err);

/* help --complete WORD...: what may follow, one a line (complete.c) */
int ctl_complete(int argc, char **argv);

void print_services(struct ctl *c, struct json *j);
/* "no_worker=3,admission=2": the refusal causes that happened, or "-" */
struct steer_service_refusals;
void format_refusals(const struct steer_service_refusals *rf, char *out, size_t len);
void print_pools(struct ctl *c, struct json *j);
/* The options that name a listening socket (worker add, pool lobby): alt_
 * is their alternative, --pid and --fd going together. */
#define LISTENER_ADDR_OPT(alt_, help_) { .flag = "addr", .arg = "IP:PORT", .type = OPT_STR, \
	.alt = (alt_), .help = (help_) }
#define LISTENER_PID_OPT(alt_, help_) { .flag = "pid", .arg = "PID", .type = OPT_U32, .min = 1, \
	.max = INT32_MAX, .alt = (alt_), .help = (help_) }
#define LISTENER_FD_OPT(alt_, help_) { .flag = "fd", .arg = "FD", .type = OPT_U32, \
	.max = INT32_MAX, .alt = (alt_), .help = (help_) }

struct listener;
/* The listening socket --addr, or --pid and --fd, name (worker add, pool
 * lobby); opens the maps first. */
int ctl_take_listener(struct ctl *c, const struct optval *addr, const struct optval *pid,
		      const struct optval *fd, struct listener *l);
void print_workers(struct ctl *c, struct json *j);

#endif
