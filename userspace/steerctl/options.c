// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * options.c - the engine behind steerctl's option tables: one pass over
 * argv by the command's table, then its rules, then every value through
 * its type and range; and the synopsis, help and man text from the same
 * tables.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "defaults.h"
#include "loader.h"
#include "options.h"

static int input_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int input_error(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, STEER_ERR_LEN, fmt, ap);
	va_end(ap);
	return STEER_EINPUT;
}

int opt_match(const char *word, const char *const *names, size_t n, const char *what,
	      const char *hint, char *err)
{
	size_t len = strlen(word), found = 0, off = 0;
	char list[STEER_ERR_LEN] = "";
	int hit = -1;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(word, names[i]))
			return (int)i;
	for (size_t i = 0; len && i < n; i++) {
		if (strncmp(word, names[i], len))
			continue;
		hit = (int)i;
		found++;
		off += snprintf(list + off, off < sizeof(list) ? sizeof(list) - off : 0, "%s%s",
				found > 1 ? ", " : "", names[i]);
	}
	if (found == 1)
		return hit;
	if (found > 1)
		input_error(err, "ambiguous %s '%s': %s", what, word, list);
	else
		input_error(err, "unknown %s '%s'%s", what, word, hint ? hint : "");
	return -1;
}

static const char *opt_what(const struct opt *o)
{
	return o->what ? o->what : o->flag ? o->flag : o->arg;
}

static int choice_error(const struct opt *o, const char *text, char *err)
{
	char list[128] = "";
	size_t off = 0, n = 0;

	while (o->choices[n])
		n++;
	for (size_t i = 0; i < n && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s",
				i == 0 ? "" : i + 1 == n ? " or " : ", ", o->choices[i]);
	return input_error(err, "%s '%s' is unknown (%s)", opt_what(o), text, list);
}

const char *opt_word(const struct opt *o)
{
	if (o->flags & OPT_OFF)
		return "off";
	return (o->flags & OPT_AUTO) ? STEER_WEIGHT_AUTO : NULL;
}

int opt_value(const struct opt *o, const char *text, struct optval *v, char *err)
{
	const char *what = opt_what(o), *word = opt_word(o);
	uint32_t u32;
	int rc = 0;

	v->s = text;
	if (word && !strcmp(text, word)) {
		v->off = o->flags & OPT_OFF;
		v->automatic = o->flags & OPT_AUTO;
		return STEER_OK;
	}
	switch (o->type) {
	case OPT_FLAG:
	case OPT_STR:
		break;
	case OPT_NAME:
		rc = parse_name(text, what, err);
		break;
	case OPT_U32:
		rc = parse_u32(text, what, (uint32_t)o->min, (uint32_t)o->max, &u32, err);
		v->u = u32;
		break;
	case OPT_U64:
		rc = parse_u64(text, what, o->max, &v->u, err);
		break;
	case OPT_POSITIVE:
		rc = parse_positive(text, what, o->dmax, &v->d, err);
		break;
	case OPT_POLICY:
		rc = parse_policy(text, &u32, err);
		v->u = u32;
		break;
	case OPT_CHOICE:
		for (v->u = 0; o->choices[v->u]; v->u++)
			if (!strcmp(text, o->choices[v->u]))
				return STEER_OK;
		return choice_error(o, text, err);
	}
	/* the word is a value too: say so (off has said it for long without) */
	if (rc && (o->flags & OPT_AUTO))
		snprintf(err + strlen(err), STEER_ERR_LEN - strlen(err), " or %s", word);
	return rc ? STEER_EINPUT : STEER_OK;
}

/* -L, -L VALUE or -LVALUE: the option whose letter L is */
static int take_letter(const struct cmd *cmd, int argc, char **argv, int *i, struct optval *v,
		       char *err)
{
	const char *arg = argv[*i];

	for (size_t j = 0; j < cmd->nopts; j++) {
		const struct opt *o = &cmd->opts[j];

		if (!o->letter || o->letter != arg[1])
			continue;
		if (o->type == OPT_FLAG && arg[2])
			break;
		v[j].given = true;
		if (o->type == OPT_FLAG)
			return STEER_OK;
		if (arg[2]) {
			v[j].s = arg + 2;
			return STEER_OK;
		}
		if (*i + 1 >= argc)
			break;
		v[j].s = argv[++*i];
		return STEER_OK;
	}
	return input_error(err, "unknown or incomplete option '%s'", arg);
}

/* --flag VALUE or --flag=VALUE (a unique prefix of the flag will do) */
static int take_flag(const struct cmd *cmd, int argc, char **argv, int *i, struct optval *v,
		     char *err)
{
	const char *names[OPT_MAX], *arg = argv[*i], *eq = strchr(arg, '=');
	size_t idx[OPT_MAX], n = 0, len = eq ? (size_t)(eq - arg) : strlen(arg);
	char word[64];
	int k;

	if (arg[1] != '-')
		return take_letter(cmd, argc, argv, i, v, err);
	if (len - 2 >= sizeof(word))
		return input_error(err, "unknown or incomplete option '%s'", arg);
	for (size_t j = 0; j < cmd->nopts; j++) {
		if (cmd->opts[j].flag) {
			names[n] = cmd->opts[j].flag;
			idx[n++] = j;
		}
	}
	memcpy(word, arg + 2, len - 2);
	word[len - 2] = '\0';
	k = opt_match(word, names, n, "option", NULL, err);
	if (k < 0 && strncmp(err, "ambiguous", 9))
		return input_error(err, "unknown or incomplete option '%s'", arg);
	if (k < 0)
		return STEER_EINPUT;
	v += idx[k];
	v->given = true;
	if (cmd->opts[idx[k]].type == OPT_FLAG) {
		if (eq)
			return input_error(err, "unknown or incomplete option '%s'", arg);
		return STEER_OK;
	}
	if (eq) {
		v->s = eq + 1;
	} else {
		if (*i + 1 >= argc)
			return input_error(err, "unknown or incomplete option '%s'", arg);
		v->s = argv[++*i];
	}
	return STEER_OK;
}

static void arg_text(char *buf, size_t len, const struct opt *o);

/* a positional (in an alternative) is its word: "off" */
static void flag_text(char *buf, size_t len, const struct opt *o)
{
	if (!o->flag) {
		arg_text(buf, len, o);
		return;
	}
	snprintf(buf, len, "--%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* "--a A and/or --b B", "either --addr IP:PORT or --pid PID --fd FD" */
static void rule_text(const struct cmd *cmd, char *buf, size_t len)
{
	size_t off = 0;
	int last = 0;

	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].alt > last)
			last = cmd->opts[i].alt;
	off += snprintf(buf, len, "%s", cmd->rule == RULE_EITHER ? "either " : "");
	for (int a = 1; a <= last; a++) {
		bool first = true;

		for (size_t i = 0; i < cmd->nopts && off < len; i++) {
			char f[64];

			if (cmd->opts[i].alt != a)
				continue;
			flag_text(f, sizeof(f), &cmd->opts[i]);
			off += snprintf(buf + off, len - off, "%s%s",
					!first ? " " : a == 1 ? "" : a < last ? ", " :
					cmd->rule == RULE_EITHER ? " or " : " and/or ", f);
			first = false;
		}
	}
}

static int check_rule(const struct cmd *cmd, const char *where, const struct optval *v, char *err)
{
	int touched = 0, complete = 0, last = 0;
	char text[160];

	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].alt > last)
			last = cmd->opts[i].alt;
	for (int a = 1; a <= last; a++) {
		bool any = false, all = true;

		for (size_t i = 0; i < cmd->nopts; i++) {
			if (cmd->opts[i].alt != a)
				continue;
			any |= v[i].given;
			all &= v[i].given;
		}
		touched += any;
		complete += any && all;
	}
	if (cmd->rule == RULE_NONE || (cmd->rule == RULE_ANY && touched) ||
	    (cmd->rule == RULE_EITHER && touched == 1 && complete == 1))
		return STEER_OK;
	rule_text(cmd, text, sizeof(text));
	return input_error(err, "%s needs %s", where, text);
}

/* "--prefix ADDR/LEN, --port P[-Q] and --pool POOL": the required flags missing */
static size_t missing_text(const struct cmd *cmd, const struct optval *v, char *buf, size_t len)
{
	size_t n = 0, total = 0, off = 0;

	for (size_t i = 0; i < cmd->nopts; i++)
		total += (cmd->opts[i].flags & OPT_REQUIRED) && !v[i].given;
	for (size_t i = 0; i < cmd->nopts && off < len; i++) {
		char f[64];

		if (!(cmd->opts[i].flags & OPT_REQUIRED) || v[i].given)
			continue;
		flag_text(f, sizeof(f), &cmd->opts[i]);
		n++;
		off += snprintf(buf + off, len - off, "%s%s",
				n == 1 ? "" : n == total ? " and " : ", ", f);
	}
	return total;
}

static int check_given(const struct cmd *cmd, const char *where, const char *object,
		       const struct optval *v, char *err)
{
	char missing[160];

	/* a positional in an alternative (pool lobby POOL off) is the rule's */
	for (size_t i = 0; i < cmd->nopts; i++)
		if (!cmd->opts[i].flag && !cmd->opts[i].alt && !v[i].given)
			return input_error(err, "missing %s (see 'steerctl %s help')",
					   cmd->opts[i].arg ? cmd->opts[i].arg : "argument", object);
	if (missing_text(cmd, v, missing, sizeof(missing)))
		return input_error(err, "%s needs %s", where, missing);
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct opt *o = &cmd->opts[i];
		const struct opt *w = o->with ? cmd_find_opt(cmd, o->with) : NULL;

		if (w && v[i].given && !v[w - cmd->opts].given)
			return input_error(err, "--%s goes with --%s", o->flag, o->with);
	}
	return check_rule(cmd, where, v, err);
}

static void set_default(const struct opt *o, struct optval *v)
{
	if (o->flags & OPT_DEFAULT) {
		v->u = o->def;
		v->d = (double)o->def;
	}
	if (o->sdef)
		v->s = o->env && getenv(o->env) ? getenv(o->env) : o->sdef;
}

int opts_parse(const struct object *obj, const struct cmd *cmd, int argc, char **argv,
	       struct optval *v, char *err)
{
	size_t next = 0;
	bool dashdash = false;
	char where[64];
	int ret;

	snprintf(where, sizeof(where), "%s%s%s", obj->name, cmd->verb ? " " : "",
		 cmd->verb ? cmd->verb : "");
	memset(v, 0, sizeof(*v) * cmd->nopts);
	if (!cmd->nopts && argc > 0)
		return input_error(err, "%s takes no arguments", where);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && !strcmp(a, "--")) {
			dashdash = true;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			if ((ret = take_flag(cmd, argc, argv, &i, v, err)))
				return ret;
		} else {
			while (next < cmd->nopts && cmd->opts[next].flag)
				next++;
			if (next >= cmd->nopts)
				return input_error(err, "unexpected argument '%s'", a);
			v[next].given = true;
			v[next++].s = a;
		}
	}
	if ((ret = check_given(cmd, where, obj->name, v, err)))
		return ret;
	for (size_t i = 0; i < cmd->nopts; i++) {
		if (!v[i].given)
			set_default(&cmd->opts[i], &v[i]);
		else if ((ret = opt_value(&cmd->opts[i], v[i].s, &v[i], err)))
			return ret;
	}
	return STEER_OK;
}

const struct cmd *ctl_find_cmd(const char *object, const char *verb, const struct object **obj)
{
	for (size_t i = 0; i < ctl_nobjects; i++) {
		const struct object *o = ctl_objects[i];

		if (strcmp(o->name, object))
			continue;
		for (size_t j = 0; j < o->ncmds; j++) {
			const char *v = o->cmds[j].verb;

			if ((!v && !verb) || (v && verb && !strcmp(v, verb))) {
				if (obj)
					*obj = o;
				return &o->cmds[j];
			}
		}
	}
	return NULL;
}

const struct opt *cmd_find_opt(const struct cmd *cmd, const char *flag)
{
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct opt *o = &cmd->opts[i];

		if ((o->flag && !strcmp(o->flag, flag)) || (!o->flag && o->arg && !strcmp(o->arg, flag)))
			return o;
	}
	return NULL;
}

int steerctl_parse_value(const char *object, const char *verb, const char *flag,
			 const char *text, struct optval *out, char *err)
{
	const struct cmd *cmd = ctl_find_cmd(object, verb, NULL);
	const struct opt *o = cmd ? cmd_find_opt(cmd, flag) : NULL;

	if (!o)
		return input_error(err, "steerctl %s %s has no option '%s'", object,
				   verb ? verb : "", flag);
	memset(out, 0, sizeof(*out));
	out->given = true;
	return opt_value(o, text, out, err);
}

/* ---- text from the tables ---------------------------------------------- */

static void arg_text(char *buf, size_t len, const struct opt *o)
{
	size_t off = 0;

	if (o->type == OPT_CHOICE && !o->arg) {
		for (size_t i = 0; o->choices[i] && off < len; i++)
			off += snprintf(buf + off, len - off, "%s%s", i ? "|" : "", o->choices[i]);
		return;
	}
	snprintf(buf, len, "%s%s%s", o->arg ? o->arg : "", opt_word(o) ? "|" : "",
		 opt_word(o) ? opt_word(o) : "");
}

static void print_flag(FILE *f, const struct cmd *cmd, const struct opt *o, bool brackets,
		       bool space)
{
	char arg[96];

	arg_text(arg, sizeof(arg), o);
	fprintf(f, "%s%s", space ? " " : "", brackets ? "[" : "");
	if (o->letter)
		fprintf(f, "-%c|", o->letter);
	fprintf(f, "--%s%s%s", o->flag, *arg ? " " : "", arg);
	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].with && !strcmp(cmd->opts[i].with, o->flag))
			print_flag(f, cmd, &cmd->opts[i], true, true);
	if (brackets)
		fputc(']', f);
}

void opts_synopsis(FILE *f, const struct object *obj, const struct cmd *cmd)
{
	bool either = cmd->rule == RULE_EITHER;
	int last = 0;

	fprintf(f, "steerctl %s%s%s", obj->name, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
	for (size_t i = 0; i < cmd->nopts; i++) {
		char arg[96];

		if (cmd->opts[i].alt > last)
			last = cmd->opts[i].alt;
		if (cmd->opts[i].flag || cmd->opts[i].alt)
			continue;
		arg_text(arg, sizeof(arg), &cmd->opts[i]);
		fprintf(f, " %s", arg);
	}
	for (int a = 1; either && a <= last; a++) {
		bool first = true;

		fprintf(f, "%s", a == 1 ? " (" : " | ");
		for (size_t i = 0; i < cmd->nopts; i++) {
			if (cmd->opts[i].alt == a && !cmd->opts[i].flag) {
				char arg[96];

				arg_text(arg, sizeof(arg), &cmd->opts[i]);
				fprintf(f, "%s%s", first ? "" : " ", arg);
				first = false;
			} else if (cmd->opts[i].alt == a) {
				print_flag(f, cmd, &cmd->opts[i], false, !first);
				first = false;
			}
		}
	}
	if (either && last)
		fputc(')', f);
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct opt *o = &cmd->opts[i];

		if (o->flag && !o->with && !(either && o->alt))
			print_flag(f, cmd, o, !(o->flags & OPT_REQUIRED), true);
	}
}

void opt_range(const struct opt *o, char *buf, size_t len)
{
	bool def = o->flags & OPT_DEFAULT;
	char d[64] = "", off[16] = "";

	if (opt_word(o))
		snprintf(off, sizeof(off), " or %s", opt_word(o));
	if (def && o->type == OPT_POLICY)
		snprintf(d, sizeof(d), ", default %s", policy_name((uint32_t)o->def));
	else if (def)
		snprintf(d, sizeof(d), ", default %llu", (unsigned long long)o->def);
	switch (o->type) {
	case OPT_U32:
	case OPT_U64:
		snprintf(buf, len, "%llu to %llu%s%s", (unsigned long long)o->min,
			 (unsigned long long)o->max, off, d);
		break;
	case OPT_POSITIVE:
		snprintf(buf, len, "above 0 to %.0f%s%s", o->dmax, off, d);
		break;
	case OPT_POLICY:
		snprintf(buf, len, "%s, %s, %s or %s%s", policy_name(0), policy_name(1),
			 policy_name(2), policy_name(3), d);
		break;
	case OPT_NAME:
		snprintf(buf, len, "1 to %d of letters, digits, '-', '_' and '.'",
			 STEER_NAME_LEN - 1);
		break;
	case OPT_STR:
		if (o->sdef)
			snprintf(buf, len, "default %s%s%s", o->env ? "$" : "", o->env ? o->env : "",
				 o->env ? ", else " : "");
		else
			*buf = '\0';
		if (o->sdef)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s", o->sdef);
		break;
	default:
		*buf = '\0';
	}
}

static void print_opt_help(FILE *f, const struct opt *o)
{
	char name[96], arg[96], range[160];

	arg_text(arg, sizeof(arg), o);
	if (o->flag)
		snprintf(name, sizeof(name), "%s%s%s--%s%s%s", o->letter ? "-" : "",
			 o->letter ? (char[2]){ o->letter, '\0' } : "", o->letter ? ", " : "",
			 o->flag, *arg ? " " : "", arg);
	else
		snprintf(name, sizeof(name), "%s", arg);
	opt_range(o, range, sizeof(range));
	/* two spaces at least between a long name and its help */
	fprintf(f, "      %-*s %s%s%s%s\n", strlen(name) < 18 ? 18 : (int)strlen(name) + 1, name,
		o->help ? o->help : "", *range ? " (" : "", range, *range ? ")" : "");
}

void opts_object_help(FILE *f, const struct object *obj)
{
	for (size_t i = 0; i < obj->ncmds; i++) {
		const struct cmd *cmd = &obj->cmds[i];

		fprintf(f, "%s", i ? "\n  " : "Usage:\n  ");
		opts_synopsis(f, obj, cmd);
		fprintf(f, "\n      %s\n", cmd->help);
		for (size_t j = 0; j < cmd->nopts; j++)
			print_opt_help(f, &cmd->opts[j]);
	}
}

/* roff: a '-' is \-, a '\' is \e, and no line may begin with '.' or '\'' */
static void roff(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			fputs("\\-", f);
		else if (*s == '\\')
			fputs("\\e", f);
		else
			fputc(*s, f);
	}
}

static void man_opt(FILE *f, const struct opt *o, bool first)
{
	char arg[96], range[160];

	opt_range(o, range, sizeof(range));
	arg_text(arg, sizeof(arg), o);
	fputs(first ? ".RS\n" : ".br\n", f);
	if (o->letter)
		fprintf(f, "\\fB\\-%c\\fR, ", o->letter);
	fputs(o->flag ? "\\fB\\-\\-" : "\\fI", f);
	roff(f, o->flag ? o->flag : arg);
	fputs(o->flag && *arg ? "\\fR \\fI" : "", f);
	roff(f, o->flag ? arg : "");
	fputs("\\fR: ", f);
	roff(f, o->help ? o->help : "");
	if (*range) {
		fputs(" (", f);
		roff(f, range);
		fputs(")", f);
	}
	fputs("\n", f);
}

static void man_cmd(FILE *f, const struct object *obj, const struct cmd *cmd)
{
	char *syn = NULL;
	size_t len;
	FILE *m = open_memstream(&syn, &len);

	if (!m)
		return;
	opts_synopsis(m, obj, cmd);
	fclose(m);
	fputs(".TP\n.B ", f);
	roff(f, syn + strlen("steerctl "));
	fputs("\n", f);
	free(syn);
	/* the one-line help as a sentence, then the paragraph */
	fputc(toupper((unsigned char)cmd->help[0]), f);
	roff(f, cmd->help + 1);
	fputs(cmd->doc ? ". " : ".", f);
	roff(f, cmd->doc ? cmd->doc : "");
	fputs("\n", f);
	for (size_t j = 0; j < cmd->nopts; j++)
		man_opt(f, &cmd->opts[j], j == 0);
	if (cmd->nopts)
		fputs(".RE\n", f);
}

void opts_man(FILE *f)
{
	fputs(".\\\" generated by `steerctl help --man` from the option tables\n", f);
	for (size_t i = 0; i < ctl_nobjects; i++)
		for (size_t j = 0; j < ctl_objects[i]->ncmds; j++)
			man_cmd(f, ctl_objects[i], &ctl_objects[i]->cmds[j]);
}
