// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * complete.c - `steerctl help --complete WORD...`: the words that may come
 * after WORD..., one a line, for the shell's completion (scripts/completion/).
 * Read from the same tables as parsing and help, so completion cannot
 * drift from the commands. Objects and verbs resolve by prefix as they do
 * on the command line.
 */
#include <stdio.h>
#include <string.h>
#include "ctl.h"

static const struct object *object_of(const char *word)
{
	char err[STEER_ERR_LEN];
	int k = ctl_match_object(word, err);

	return k < 0 || (size_t)k == ctl_nobjects ? NULL : ctl_objects[k];
}

static const struct cmd *verb_of(const struct object *obj, const char *word)
{
	char err[STEER_ERR_LEN];
	int k = ctl_match_verb(obj, word, err);

	return k < 0 || (size_t)k == obj->ncmds ? NULL : &obj->cmds[k];
}

/* the option the word names ("--weight"), if it is one of cmd's flags */
static const struct opt *flag_of(const struct cmd *cmd, const char *word)
{
	if (strncmp(word, "--", 2))
		return NULL;
	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].flag && !strcmp(cmd->opts[i].flag, word + 2))
			return &cmd->opts[i];
	return NULL;
}

static void print_values(const struct opt *o)
{
	if (o->type == OPT_POLICY)
		for (uint32_t p = 0; p < STEER_POLICY_COUNT; p++)
			printf("%s\n", policy_name(p));
	/* an OPT_CHOICE's values, or the names an OPT_STR list takes (monitor --cause) */
	for (size_t i = 0; o->choices && o->choices[i]; i++)
		printf("%s\n", o->choices[i]);
	if (opt_word(o))
		printf("%s\n", opt_word(o));
}

/* after OBJECT [VERB]: a value for the flag just typed, or the flags */
static void complete_cmd(const struct cmd *cmd, int argc, char **argv)
{
	const struct opt *last = argc ? flag_of(cmd, argv[argc - 1]) : NULL;

	if (last && last->type != OPT_FLAG) {
		print_values(last);
		return;
	}
	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].flag)
			printf("--%s\n", cmd->opts[i].flag);
}

int ctl_complete(int argc, char **argv)
{
	const struct object *obj;
	int i = 0, g;

	while (i < argc && (g = ctl_global_of(argv[i])) >= 0)
		i += ctl_globals[g].takes_dir ? 2 : 1;
	argc -= i;
	argv += i;
	if (argc == 0) {
		for (size_t k = 0; k < ctl_nobjects; k++)
			printf("%s\n", ctl_objects[k]->name);
		printf("help\n");
		for (int g = 0; g < GLOBAL_COUNT; g++) {
			if (ctl_globals[g].flag)
				printf("%s\n", ctl_globals[g].flag);
			printf("%s\n", ctl_globals[g].long_flag);
		}
		return STEER_OK;
	}
	if (!(obj = object_of(argv[0])))
		return STEER_OK;
	if (!obj->cmds[0].verb) {
		complete_cmd(&obj->cmds[0], argc - 1, argv + 1);
		return STEER_OK;
	}
	if (argc == 1) {
		for (size_t k = 0; k < obj->ncmds; k++)
			printf("%s\n", obj->cmds[k].verb);
		printf("help\n");
		return STEER_OK;
	}
	const struct cmd *cmd = verb_of(obj, argv[1]);

	if (cmd)
		complete_cmd(cmd, argc - 2, argv + 2);
	return STEER_OK;
}
