// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_ranges - steerctl and steer.conf accept the same values for every
 * setting they share: the option table and the schema row agree on range
 * and default, and steerctl's parser takes the config's bounds and refuses
 * what lies just beyond them (the config's own parser is walked against
 * its table by test_config_schema).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "config.h"
#include "config_schema.h"
#include "defaults.h"
#include "options.h"

struct shared {
	const char *object, *verb, *flag;	/* steerctl OBJECT VERB --flag (or positional) */
	const char *block, *setting;		/* steer.conf's block path and setting */
	bool same_default;			/* a default both sides apply */
};

static const struct shared shared[] = {
	{ "worker", "add", "weight", "pools[].workers[]", "weight", true },
	{ "worker", "set", "weight", "pools[].workers[]", "weight", false },
	{ "worker", "add", "maxconn", "pools[].workers[]", "maxconn", true },
	{ "worker", "set", "maxconn", "pools[].workers[]", "maxconn", false },
	{ "pool", "quota", "N", "pools[]", "quota", false },
	{ "pool", "rate", "RATE", "pools[]", "rate", false },
	{ "pool", "rate", "burst", "pools[]", "burst", false },
};

static void lookup(const struct shared *s, const struct opt **o, const struct conf_field **f)
{
	const struct cmd *cmd = ctl_find_cmd(s->object, s->verb, NULL);

	if (!cmd)
		fail_msg("no command steerctl %s %s", s->object, s->verb);
	*o = cmd_find_opt(cmd, s->flag);
	*f = conf_schema_lookup(s->block, s->setting);
	if (!*o)
		fail_msg("steerctl %s %s has no %s", s->object, s->verb, s->flag);
	if (!*f)
		fail_msg("steer.conf has no %s.%s", s->block, s->setting);
}

/* the CLI option's range as numbers: min (and whether it is excluded), max */
static void cli_range(const struct opt *o, double *min, bool *excl, double *max)
{
	*excl = o->type == OPT_POSITIVE;
	*min = o->type == OPT_POSITIVE ? 0 : (double)o->min;
	*max = o->type == OPT_POSITIVE ? o->dmax : (double)o->max;
}

static void test_tables_agree(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(shared); i++) {
		const struct shared *s = &shared[i];
		const struct opt *o;
		const struct conf_field *f;
		double min, max;
		bool excl;

		lookup(s, &o, &f);
		cli_range(o, &min, &excl, &max);
		if (min != f->min || max != f->max || excl != f->min_excl)
			fail_msg("%s %s %s: steerctl %s%.17g..%.17g, steer.conf %s%.17g..%.17g",
				 s->object, s->verb, s->flag, excl ? "above " : "", min, max,
				 f->min_excl ? "above " : "", f->min, f->max);
		if (s->same_default && (!(o->flags & OPT_DEFAULT) || (double)o->def != f->def))
			fail_msg("%s %s %s: default %llu, steer.conf's %.17g", s->object, s->verb,
				 s->flag, (unsigned long long)o->def, f->def);
	}
}

/* text for v + delta the parsers read exactly: integers in 64-bit
 * arithmetic (2^62 + 1 is no double), reals to 17 digits, one step away */
static void number_text(double v, int delta, bool integer, char *buf, size_t len)
{
	if (integer)
		snprintf(buf, len, "%lld", (long long)(uint64_t)v + delta);
	else
		snprintf(buf, len, "%.17g", delta ? nextafter(v, delta * INFINITY) : v);
}

static bool cli_takes(const struct shared *s, const char *text)
{
	char err[STEER_ERR_LEN];
	struct optval v;

	return steerctl_parse_value(s->object, s->verb, s->flag, text, &v, err) == 0;
}

static void test_cli_takes_config_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(shared); i++) {
		const struct shared *s = &shared[i];
		const struct opt *o;
		const struct conf_field *f;
		bool integer;
		char lo[64], hi[64], below[64], above[64];

		lookup(s, &o, &f);
		integer = o->type != OPT_POSITIVE;
		number_text(f->min, 0, integer, lo, sizeof(lo));
		number_text(f->max, 0, integer, hi, sizeof(hi));
		number_text(f->min, -1, integer, below, sizeof(below));
		number_text(f->max, 1, integer, above, sizeof(above));
		if (f->min_excl ? cli_takes(s, lo) : !cli_takes(s, lo))
			fail_msg("%s %s %s: the config's min %s %s", s->object, s->verb, s->flag, lo,
				 f->min_excl ? "is taken (excluded there)" : "is refused");
		if (!cli_takes(s, hi))
			fail_msg("%s %s %s: the config's max %s is refused", s->object, s->verb,
				 s->flag, hi);
		if (cli_takes(s, above))
			fail_msg("%s %s %s: %s, above the config's max, is taken", s->object, s->verb,
				 s->flag, above);
		if (f->min > 0 && cli_takes(s, below))
			fail_msg("%s %s %s: %s, below the config's min, is taken", s->object, s->verb,
				 s->flag, below);
	}
}

/* one socket path for steerctl report and steerd */
static void test_socket_default(void **state)
{
	const struct cmd *cmd = ctl_find_cmd("report", NULL, NULL);
	const struct opt *o;
	const struct conf_field *f = conf_schema_lookup("daemon", "socket");

	(void)state;
	assert_non_null(cmd);
	o = cmd_find_opt(cmd, "socket");
	assert_non_null(o);
	assert_non_null(f);
	assert_string_equal(o->sdef, STEER_DAEMON_SOCKET);
	assert_string_equal(f->def_str, STEER_DAEMON_SOCKET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_agree),
		cmocka_unit_test(test_cli_takes_config_bounds),
		cmocka_unit_test(test_socket_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
