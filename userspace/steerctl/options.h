/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * options.h - steerctl's commands and their options as data. Each command
 * is one table of options (flags and positional arguments, in the order
 * they are checked); parsing, the synopsis, `steerctl OBJECT help`, the
 * man page's command list and the messages for a bad value all come from
 * it. No option has code of its own.
 */
#ifndef STEERCTL_OPTIONS_H
#define STEERCTL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "parse.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#define OPT_MAX 10		/* options of one command */
/* a limit from steer.h or defaults.h inside help text: "at most " OPT_LIMIT(X) */
#define OPT_LIMIT_(x) #x
#define OPT_LIMIT(x) OPT_LIMIT_(x)

enum opt_type {
	OPT_FLAG,		/* no value */
	OPT_STR,		/* any text; the command checks it (an address, a path) */
	OPT_NAME,		/* an object's name (parse_name) */
	OPT_U32,		/* a whole number in min..max */
	OPT_U64,		/* a whole number in 0..max */
	OPT_POSITIVE,		/* a number above 0 and at most dmax */
	OPT_POLICY,		/* a pool's policy (parse_policy) */
	OPT_CHOICE,		/* one of choices[] */
};

enum {
	OPT_REQUIRED = 1 << 0,	/* a flag that must be given (positionals always are) */
	OPT_OFF = 1 << 1,	/* the word "off" is a value too */
	OPT_DEFAULT = 1 << 2,	/* def (or sdef) holds when the flag is not given */
	OPT_AUTO = 1 << 3,	/* the word "auto" is a value too */
};

struct opt {
	const char *flag;	/* "weight" for --weight; NULL for a positional */
	char letter;		/* 'd' for -d too (with a value: -d 2 or -d2); 0: none */
	const char *arg;	/* what the value is called: "W", "IP:PORT" */
	const char *help;
	enum opt_type type;
	unsigned int flags;
	const char *what;	/* the value's name in messages (default: flag) */
	uint64_t min, max;	/* OPT_U32, OPT_U64 */
	double dmax;		/* OPT_POSITIVE */
	uint64_t def;		/* with OPT_DEFAULT (OPT_POSITIVE: whole numbers only) */
	const char *sdef;	/* OPT_STR's default, after $env */
	const char *env;
	const char *const *choices;	/* OPT_CHOICE, NULL-terminated */
	int alt;		/* its alternative in the command's rule (1, 2, ...) */
	const char *with;	/* only together with this flag */
};

/* What a command needs of its alternatives (opts with alt != 0). */
enum opt_rule {
	RULE_NONE,
	RULE_ANY,		/* at least one of them */
	RULE_EITHER,		/* all the options of exactly one alternative */
};

/* One option's value after parsing; a flag not given holds its default. */
struct optval {
	bool given;
	bool off;		/* OPT_OFF: "off" was given */
	bool automatic;		/* OPT_AUTO: "auto" was given */
	const char *s;		/* the text as given (or the default text) */
	uint64_t u;		/* OPT_U32, OPT_U64, OPT_POLICY, OPT_CHOICE (index) */
	double d;		/* OPT_POSITIVE */
};

struct ctl;
struct json;
struct steer_maps;

struct cmd {
	const char *verb;	/* NULL: the object is the command (`steerctl status`) */
	const char *help;	/* one line, for OBJECT help */
	const char *doc;	/* the man page's paragraph (may be NULL) */
	const struct opt *opts;
	size_t nopts;
	enum opt_rule rule;
	int (*run)(struct ctl *c, const struct optval *v);
	/* a view instead of run: printed as text, or with -j as JSON */
	void (*print)(struct ctl *c, struct json *j);
	/* or a state.h call on the first positional (pool_del, ...) */
	int (*by_name)(const struct steer_maps *m, const char *name, char *err);
};

struct object {
	const char *name;
	const struct cmd *cmds;
	size_t ncmds;
};

/* Every object, in the order `steerctl help` shows them. */
extern const struct object *const ctl_objects[];
extern const size_t ctl_nobjects;

/* The index of word among names: an exact match, else the one name it
 * begins. Otherwise -1 with "unknown WHAT 'word'" or "ambiguous WHAT
 * 'word': a, b" in err (hint is added to the unknown case). */
int opt_match(const char *word, const char *const *names, size_t n, const char *what,
	      const char *hint, char *err);

/* The word an option takes besides its type's values ("off", "auto"), or NULL. */
const char *opt_word(const struct opt *o);

/* Parse argv (after the verb) by cmd's table into v[cmd->nopts]. 0, or
 * STEER_EINPUT with a one-line reason in err. */
int opts_parse(const struct object *obj, const struct cmd *cmd, int argc, char **argv,
	       struct optval *v, char *err);
/* One value through its option's type, range and "off". */
int opt_value(const struct opt *o, const char *text, struct optval *v, char *err);

/* Look up a command, then one of its options by flag ("weight") or by a
 * positional's arg ("RATE"); NULL if there is none. */
const struct cmd *ctl_find_cmd(const char *object, const char *verb, const struct object **obj);
const struct opt *cmd_find_opt(const struct cmd *cmd, const char *flag);
/* For tests (test_ranges.c): parse text as the value of object verb's flag.
 * 0, or STEER_EINPUT with the message steerctl would print in err. */
int steerctl_parse_value(const char *object, const char *verb, const char *flag,
			 const char *text, struct optval *out, char *err);

/* "steerctl worker add POOL NAME (--addr IP:PORT | --pid PID --fd FD) ..." */
void opts_synopsis(FILE *f, const struct object *o, const struct cmd *cmd);
/* The range and default of an option: "0 to 10000, default 100" */
void opt_range(const struct opt *o, char *buf, size_t len);
/* `steerctl OBJECT help` */
void opts_object_help(FILE *f, const struct object *o);
/* `steerctl help --man`: the COMMANDS section of steerctl(8) in roff */
void opts_man(FILE *f);

#endif
