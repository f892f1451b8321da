// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * commands.c - the command table: every object, found by name or by a
 * prefix that names only one (bpftool style: `steerctl w l`), its verb
 * the same way, then the verb's option table; `steerctl help` and
 * `steerctl OBJECT help` from the same tables.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "errfmt.h"
#include "state.h"

const struct object *const ctl_objects[] = {
	&obj_load, &obj_unload, &obj_upgrade, &obj_status, &obj_top, &obj_monitor,
	&obj_service, &obj_pool, &obj_worker, &obj_circuit, &obj_report,
};
const size_t ctl_nobjects = ARRAY_SIZE(ctl_objects);

#define HELP "help"

int ctl_error(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return STEER_EINPUT;
}

int ctl_open_maps(struct ctl *c)
{
	return steer_maps_open(&c->paths, &c->maps, c->err);
}

ino_t ctl_pin_inode(const struct ctl *c, enum steer_map_id map)
{
	char path[PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/maps/%s", c->paths.dir, steer_map_names[map]);
	return stat(path, &st) ? 0 : st.st_ino;
}

int ctl_with_json(struct ctl *c, void (*print)(struct ctl *c, struct json *j))
{
	struct json j;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	if (!c->json) {
		print(c, NULL);
		return STEER_OK;
	}
	json_init(&j, stdout);
	json_set_pretty(&j, c->pretty);
	json_object_begin(&j, NULL);
	print(c, &j);
	json_object_end(&j);
	return STEER_OK;
}

const void *ctl_table(struct ctl *c, enum steer_map_id map)
{
	if (!c->table[map])
		c->table[map] = state_read_all(&c->maps, map);
	return c->table[map];
}

void pool_name_of(struct ctl *c, uint32_t id, char *buf, size_t len)
{
	const struct steer_pool *pools = ctl_table(c, MAP_POOLS);

	snprintf(buf, len, "-");
	if (pools && id < STEER_MAX_POOLS && pools[id].in_use)
		snprintf(buf, len, "%s", pools[id].name);
}

static void print_help(bool man)
{
	if (man) {
		opts_man(stdout);
		return;
	}
	printf("Usage: steerctl [-j|--json] [-p|--pretty] [--bpffs DIR] OBJECT COMMAND [ARGS]\n"
	       "       steerctl -V|--version\n\n");
	for (size_t i = 0; i < ctl_nobjects; i++) {
		for (size_t j = 0; j < ctl_objects[i]->ncmds; j++) {
			printf("  ");
			opts_synopsis(stdout, ctl_objects[i], &ctl_objects[i]->cmds[j]);
			printf("\n");
		}
	}
	printf("\nOBJECT := {");
	for (size_t i = 0; i < ctl_nobjects; i++)
		printf(" %s%s", ctl_objects[i]->name, i + 1 < ctl_nobjects ? " |" : " }\n");
	printf("'steerctl OBJECT help' gives each command's options, their ranges and defaults.\n"
	       "Pins live under DIR/steer (DIR: --bpffs, $STEER_BPFFS or /sys/fs/bpf).\n"
	       "-j prints JSON (an error too: {\"error\": ...} on stdout, same exit code); -p indents it.\n");
}

/* steerctl help [--man], -h, --help */
static int is_help(const char *word)
{
	return !strcmp(word, HELP) || !strcmp(word, "-h") || !strcmp(word, "--help");
}

static int run_cmd(struct ctl *c, const struct object *obj, const struct cmd *cmd, int argc,
		   char **argv)
{
	struct optval v[OPT_MAX];
	int ret;

	if ((ret = opts_parse(obj, cmd, argc, argv, v, c->err)))
		return ret;
	if (cmd->print)
		return ctl_with_json(c, cmd->print);
	if (cmd->by_name)
		return (ret = ctl_open_maps(c)) ? ret : cmd->by_name(&c->maps, v[0].s, c->err);
	return cmd->run(c, v);
}

int ctl_match_object(const char *word, char *err)
{
	const char *names[ARRAY_SIZE(ctl_objects) + 1];
	size_t n = 0;

	for (size_t i = 0; i < ctl_nobjects; i++)
		names[n++] = ctl_objects[i]->name;
	names[n++] = HELP;
	return opt_match(word, names, n, "steerctl command", " (see 'steerctl help')", err);
}

int ctl_match_verb(const struct object *obj, const char *word, char *err)
{
	const char *names[16];
	char hint[64], what[48];
	size_t n = 0;

	for (size_t i = 0; i < obj->ncmds && n < ARRAY_SIZE(names) - 1; i++)
		names[n++] = obj->cmds[i].verb;
	names[n++] = HELP;
	snprintf(hint, sizeof(hint), " (see 'steerctl %s help')", obj->name);
	snprintf(what, sizeof(what), "%s command", obj->name);
	return opt_match(word, names, n, what, hint, err);
}

/* OBJECT VERB ARGS, or OBJECT ARGS for an object that is its own command;
 * `OBJECT help` prints the object's commands. */
static int run_object(struct ctl *c, const struct object *obj, int argc, char **argv)
{
	int k;

	if (argc == 1 && !strcmp(argv[0], HELP)) {
		opts_object_help(stdout, obj);
		return STEER_OK;
	}
	if (!obj->cmds[0].verb)
		return run_cmd(c, obj, &obj->cmds[0], argc, argv);
	if (argc < 1)
		return ctl_error(c, "missing %s command (see 'steerctl %s help')", obj->name,
				 obj->name);
	k = ctl_match_verb(obj, argv[0], c->err);
	if (k < 0)
		return STEER_EINPUT;
	if ((size_t)k == obj->ncmds) {
		opts_object_help(stdout, obj);
		return STEER_OK;
	}
	return run_cmd(c, obj, &obj->cmds[k], argc - 1, argv + 1);
}

int ctl_dispatch(struct ctl *c, int argc, char **argv)
{
	int k;

	if (argc < 1)
		return ctl_error(c, "missing steerctl command (see 'steerctl help')");
	if (is_help(argv[0]) && argc > 1 && !strcmp(argv[1], "--complete"))
		return ctl_complete(argc - 2, argv + 2);
	if (is_help(argv[0])) {
		print_help(argc > 1 && !strcmp(argv[1], "--man"));
		return STEER_OK;
	}
	k = ctl_match_object(argv[0], c->err);
	if (k < 0)
		return STEER_EINPUT;
	if ((size_t)k == ctl_nobjects) {
		print_help(false);
		return STEER_OK;
	}
	return run_object(c, ctl_objects[k], argc - 1, argv + 1);
}

const struct global_opt ctl_globals[] = {
	[GLOBAL_JSON] = { "-j", "--json", false },
	[GLOBAL_PRETTY] = { "-p", "--pretty", false },
	[GLOBAL_VERSION] = { "-V", "--version", false },
	[GLOBAL_BPFFS] = { NULL, "--bpffs", true },
};

int ctl_global_of(const char *word)
{
	for (int g = 0; g < GLOBAL_COUNT; g++)
		if ((ctl_globals[g].flag && !strcmp(word, ctl_globals[g].flag)) ||
		    !strcmp(word, ctl_globals[g].long_flag))
			return g;
	return -1;
}

int ctl_global_opts(struct ctl *c, int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		int g = ctl_global_of(argv[i]);

		if (g == GLOBAL_BPFFS && ++i >= *argc)
			return ctl_error(c, "--bpffs needs a directory");
		if (g < 0 && !strncmp(argv[i], "--bpffs=", 8)) {
			g = GLOBAL_BPFFS;
			argv[i] += 8;
		}
		switch (g) {
		case GLOBAL_JSON: c->json = true; break;
		case GLOBAL_PRETTY: c->json = c->pretty = true; break;
		case GLOBAL_VERSION: c->version = true; break;
		case GLOBAL_BPFFS: c->bpffs = argv[i]; break;
		default: argv[out++] = argv[i]; break;
		}
	}
	*argc = out;
	argv[out] = NULL;
	return STEER_OK;
}

void ctl_init(struct ctl *c)
{
	memset(c, 0, sizeof(*c));
	c->maps.lock_fd = -1;
	for (int i = 0; i < MAP_COUNT; i++)
		c->maps.fd[i] = -1;
	steer_libbpf_quiet();
}

void ctl_done(struct ctl *c)
{
	for (int i = 0; i < MAP_COUNT; i++)
		free(c->table[i]);
	steer_maps_close(&c->maps);
}
