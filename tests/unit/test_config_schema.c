// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests (cmocka) for steer.conf's schema tables (config_schema.c),
 * driven by the tables themselves so that a new row is covered by adding
 * it: every row's default is what loads when it is absent, every numeric
 * row accepts its min and max and refuses one step beyond each, a misspelt
 * setting in every block is answered with the setting meant, and the
 * settings list in docs/man/steer.conf.5 is what the tables print. Hostile
 * values (unicode, newlines, integers past 2^64, 1e400) are refused with
 * one printable line.
 *
 * A new block needs a line in `blocks` below (how to write it in a file and
 * where it loads to); the test fails until it has one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "man_page.h"
#include "config_schema.h"
#include "errfmt.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\n";	/* libconfig 1.5's own, see test_config.c */
}

#define WORKER_AT	"name = \"w\"; addr = \"127.0.0.1:9000\"; "
#define WORKER_PORT	9000

/* Each block: a config with the block's body at %s, and where it loads. */
struct block_case {
	const char *path;
	const char *text;
	void *(*at)(struct steer_config *c);
};

static void *at_top(struct steer_config *c) { return c; }
static void *at_maint(struct steer_config *c) { return &c->maintenance; }
static void *at_fleet(struct steer_config *c) { return &c->fleet; }
static void *at_pool(struct steer_config *c) { return &c->pools[0]; }
static void *at_circuit(struct steer_config *c) { return &c->pools[0].circuit; }
static void *at_worker(struct steer_config *c) { return &c->pools[0].workers[0]; }
static void *at_check(struct steer_config *c) { return &c->pools[0].workers[0].check; }
static void *at_agent(struct steer_config *c) { return &c->pools[0].workers[0].agent; }
static void *at_service(struct steer_config *c) { return &c->services[0]; }

static const struct block_case blocks[] = {
	{ "", "%s", at_top },
	{ "daemon", "daemon = { %s };", at_top },
	{ "maintenance", "maintenance = { %s };", at_maint },
	{ "fleet", "fleet = { %s };", at_fleet },
	/* a fleet, for global_quota */
	{ "pools[]", "fleet = { redis = \"127.0.0.1:6379\"; host_id = \"h\"; }; pools = ( { %s } );",
	  at_pool },
	{ "pools[].circuit", "pools = ( { name = \"p\"; circuit = { %s }; } );", at_circuit },
	{ "pools[].workers[]", "pools = ( { name = \"p\"; workers = ( { %s } ); } );", at_worker },
	{ "pools[].workers[].check",
	  "pools = ( { name = \"p\"; workers = ( { " WORKER_AT "check = { %s }; } ); } );", at_check },
	{ "pools[].workers[].agent",
	  "pools = ( { name = \"p\"; workers = ( { " WORKER_AT "agent = { %s }; } ); } );", at_agent },
	{ "services[]", "pools = ( { name = \"p\"; } ); services = ( { %s } );", at_service },
};

/* Rows that mean something only next to another setting. */
static const struct {
	const char *path, *name, *with;
} needs[] = {
	{ "pools[]", "burst", "rate = 250.0; " },
	{ "pools[]", "window_s", "global_quota = 100; " },
	{ "pools[]", "static_share", "global_quota = 100; " },
	{ "pools[]", "chunk", "global_quota = 100; " },
	{ "pools[]", "token_window_s", "tokens_per_min = 100; " },
	{ "pools[].workers[].check", "expect", "type = \"http\"; " },
};
#define BURST_WITH	250

static const struct block_case *case_of(const struct conf_block *b)
{
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		if (!strcmp(blocks[i].path, b->path))
			return &blocks[i];
	fail_msg("block '%s' has no case in test_config_schema.c's blocks[]", b->path);
	return NULL;
}

/* A valid value for a required row, by type. */
static void sample(const struct conf_field *f, char *buf, size_t len)
{
	switch (f->type) {
	case CONF_T_NAME:
		snprintf(buf, len, "\"%s\"", !strcmp(f->kind, "pool") ? "p" : f->kind);
		break;
	case CONF_T_ENDPOINT:
		snprintf(buf, len, "\"127.0.0.1:%d\"", WORKER_PORT);
		break;
	case CONF_T_PREFIX:
		snprintf(buf, len, "\"10.0.0.1\"");
		break;
	default:
		snprintf(buf, len, "%.0f", f->min > 0 ? f->min : 1);
		break;
	}
}

/* The config with block b holding its required rows (but skip), what
 * skip needs, and extra. */
static void config_text(const struct conf_block *b, const struct conf_field *skip,
			const char *extra, char *out, size_t len)
{
	char body[1024] = "", v[64];
	size_t n = 0;

	for (size_t i = 0; skip && i < sizeof(needs) / sizeof(needs[0]); i++)
		if (!strcmp(needs[i].path, b->path) && !strcmp(needs[i].name, skip->name))
			n += snprintf(body + n, sizeof(body) - n, "%s", needs[i].with);
	for (size_t i = 0; i < b->nfields; i++) {
		if (!b->fields[i].required || &b->fields[i] == skip)
			continue;
		sample(&b->fields[i], v, sizeof(v));
		n += snprintf(body + n, sizeof(body) - n, "%s = %s; ", b->fields[i].name, v);
	}
	snprintf(body + n, sizeof(body) - n, "%s", extra);
	snprintf(out, len, case_of(b)->text, body);
}

/* "pools[0].workers[0].check.rise" */
static void setting_path(const struct conf_block *b, const struct conf_field *f, char *out,
			 size_t len)
{
	size_t n = 0;

	for (const char *p = b->path; *p && n + 4 < len; p++) {
		out[n++] = *p;
		if (*p == '[')
			out[n++] = '0';
	}
	snprintf(out + n, len - n, "%s%s", n ? "." : "", f->name);
}

static void assert_one_printable_line(const char *err)
{
	char shown[STEER_ERR_LEN * 4];

	for (const unsigned char *p = (const unsigned char *)err; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail_msg("a control character in '%s'", err);
	errfmt_escape(shown, sizeof(shown), err);
	for (const unsigned char *p = (const unsigned char *)shown; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			fail_msg("not printable once escaped: '%s'", shown);
}

static int load(const char *text, struct steer_config *c, char *err)
{
	err[0] = '\0';
	return config_load_string(text, c, err, STEER_ERR_LEN);
}

static void assert_loads(const char *text, struct steer_config *c)
{
	char err[STEER_ERR_LEN];

	if (load(text, c, err))
		fail_msg("refused: %s\nfor: %s", err, text);
}

static void assert_refused(const char *text, const char *setting, const char *what)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN];

	if (!load(text, &c, err))
		fail_msg("loaded, but should fail: %s", text);
	if (strncmp(err, "<string>:", 9) || (setting && !strstr(err, setting)) ||
	    (what && !strstr(err, what)))
		fail_msg("got '%s', wanted '%s' and '%s'\nfor: %s", err, setting ? setting : "",
			 what ? what : "", text);
	assert_one_printable_line(err);
	assert_int_equal(c.npools, 0);
}

static double stored(const struct conf_field *f, const void *obj)
{
	const char *p = (const char *)obj + f->off;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	double d;
	int i;

	switch (f->type) {
	case CONF_T_DOUBLE:
		memcpy(&d, p, sizeof(d));
		return d;
	case CONF_T_BOOL:
		return *(const bool *)p;
	case CONF_T_ENUM:
		memcpy(&i, p, sizeof(i));
		return i;
	default:
		break;
	}
	if (f->size == sizeof(u16)) {
		memcpy(&u16, p, sizeof(u16));
		return u16;
	}
	if (f->size == sizeof(u32)) {
		memcpy(&u32, p, sizeof(u32));
		return u32;
	}
	memcpy(&u64, p, sizeof(u64));
	return (double)u64;
}

/* What f holds when absent; false when it has no value to compare. */
static bool expected_default(const struct steer_config *c, const struct conf_field *f,
			     double *want)
{
	switch (f->def_from) {
	case CONF_DEF_INTERVAL:
		*want = c->interval_ms;
		return true;
	case CONF_DEF_WORKER_PORT:
		*want = WORKER_PORT;
		return true;
	case CONF_DEF_BURST:
		*want = BURST_WITH;
		return true;
	case CONF_DEF_NONE:
		return false;
	case CONF_DEF_CONST:
		break;
	}
	if (f->type == CONF_T_ENUM && f->choices) {
		for (int i = 0; f->choices[i]; i++)
			if (!strcmp(f->choices[i], f->def_str))
				*want = i;
		return true;
	}
	return f->type == CONF_T_UINT || f->type == CONF_T_U64 || f->type == CONF_T_DOUBLE ||
	       f->type == CONF_T_BOOL || f->type == CONF_T_OCTAL || f->type == CONF_T_ENUM;
}

static void check_default(const struct conf_block *b, const struct conf_field *f)
{
	struct steer_config c = {};
	char text[2048];
	const char *got;
	double want = f->def;

	if (f->required || f->type == CONF_T_GROUP || f->type == CONF_T_LIST)
		return;
	config_text(b, f, "", text, sizeof(text));
	assert_loads(text, &c);
	if (f->type == CONF_T_STRING && f->def_str) {
		got = (const char *)case_of(b)->at(&c) + f->off;
		if (strcmp(got, f->def_str))
			fail_msg("%s.%s: '%s' loaded, default '%s'", b->path, f->name, got,
				 f->def_str);
	} else if (expected_default(&c, f, &want) && stored(f, case_of(b)->at(&c)) != want) {
		fail_msg("%s.%s: %g loaded, default %g", b->path, f->name,
			 stored(f, case_of(b)->at(&c)), want);
	}
	config_free(&c);
}

/* v as libconfig reads it: an L past 32 bits, a float for fractions.
 * (long double: 2^62 + 1 is a whole number there.) */
static void number(const struct conf_field *f, long double v, char *buf, size_t len)
{
	if (f->type != CONF_T_DOUBLE || v == (long long)v)
		snprintf(buf, len, "%.0Lf%s", v, v > INT32_MAX || v < INT32_MIN ? "L" : "");
	else
		snprintf(buf, len, "%.17Lg", v);
}

static void try_value(const struct conf_block *b, const struct conf_field *f, long double v,
		      bool ok)
{
	struct steer_config c = {};
	char text[2048], val[64], assign[128], path[128];

	number(f, v, val, sizeof(val));
	snprintf(assign, sizeof(assign), "%s = %s;", f->name, val);
	config_text(b, f, assign, text, sizeof(text));
	setting_path(b, f, path, sizeof(path));
	if (!ok) {
		assert_refused(text, path, f->type == CONF_T_U64 && v < 0 ? "must not be negative" :
						"out of range");
		return;
	}
	assert_loads(text, &c);
	if (stored(f, case_of(b)->at(&c)) != (double)v)
		fail_msg("%s: %s loaded as %g", path, val, stored(f, case_of(b)->at(&c)));
	config_free(&c);
}

static void check_range(const struct conf_block *b, const struct conf_field *f)
{
	if (!conf_field_numeric(f))
		return;
	try_value(b, f, f->min, !f->min_excl);
	try_value(b, f, f->max, true);
	try_value(b, f, (long double)f->min - 1, false);
	try_value(b, f, (long double)f->max + 1, false);
	if (f->min_excl)
		try_value(b, f, f->min + (f->max - f->min) / 2, true);
}

static int each_row(const struct conf_block *b, void *arg)
{
	void (*fn)(const struct conf_block *, const struct conf_field *) = arg;

	for (size_t i = 0; i < b->nfields; i++)
		fn(b, &b->fields[i]);
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	conf_schema_walk(each_row, (void *)check_default);
}

static void test_ranges(void **state)
{
	(void)state;
	conf_schema_walk(each_row, (void *)check_range);
}

/* In every block, its longest name with two letters swapped. */
static int misspell(const struct conf_block *b, void *arg)
{
	const struct conf_field *f = &b->fields[0];
	char typo[64], assign[96], text[2048], want[96];

	(void)arg;
	for (size_t i = 1; i < b->nfields; i++)
		if (strlen(b->fields[i].name) > strlen(f->name))
			f = &b->fields[i];
	snprintf(typo, sizeof(typo), "%s", f->name);
	typo[1] = f->name[2];
	typo[2] = f->name[1];
	snprintf(assign, sizeof(assign), "%s = 1;", typo);
	config_text(b, NULL, assign, text, sizeof(text));
	snprintf(want, sizeof(want), "unknown setting; did you mean '%s'?", f->name);
	assert_refused(text, typo, want);
	return 0;
}

static void test_did_you_mean(void **state)
{
	(void)state;
	conf_schema_walk(misspell, NULL);
}

static void test_lookup(void **state)
{
	const struct conf_field *f;

	(void)state;
	f = conf_schema_lookup("pools[].workers[]", "weight");
	assert_non_null(f);
	assert_true(f->min == 0 && f->max == STEER_WEIGHT_MAX && f->def == STEER_WEIGHT_DEFAULT);
	f = conf_schema_lookup("pools[]", "rate");
	assert_non_null(f);
	assert_true(f->min_excl && f->max == STEER_RATE_MAX);
	assert_null(conf_schema_lookup("pools[]", "wieght"));
	assert_null(conf_schema_lookup("pool", "name"));
	assert_null(conf_schema_lookup(NULL, NULL));
	assert_ptr_equal(conf_schema_block(""), &conf_schema_root);
}

static void test_hostile(void **state)
{
	static const struct {
		const char *text, *setting, *what;
	} cases[] = {
		{ "pools = ( { name = \"w\xc3\xb6rker\"; } );", "pools[0].name", "may hold only" },
		{ "pools = ( { name = \"\xe2\x80\xae" "evil\"; } );", "pools[0].name", NULL },
		{ "pools = ( { name = \"a\nb\"; } );", "pools[0].name", "may hold only" },
		{ "daemon = { socket = \"/run/a\nb\x1b[2J\"; socket_mode = \"0\n6\"; };",
		  "daemon.socket_mode", "not a file mode" },
		{ "pools = ( { name = \"p\"; workers = ( { " WORKER_AT
		  "check = { type = \"http\"; path = \"/a\r\nHost: x\"; }; } ); } );",
		  "check.path", "control characters" },
		{ "pools = ( { name = \"p\";\n quota = 99999999999999999999999; } );", NULL,
		  "does not fit in 64 bits" },
		{ "pools = ( { name = \"p\"; quota = 18446744073709551617L; } );", NULL,
		  "18446744073709551617L does not fit in 64 bits" },
		{ "pools = ( { name = \"p\"; quota = 0x10000000000000000L; } );", NULL,
		  "does not fit in 64 bits" },
		{ "pools = ( { name = \"p\"; quota = -9223372036854775808L; } );", "pools[0].quota",
		  "must not be negative" },
		{ "pools = ( { name = \"p\"; rate = 1e400; } );", "pools[0].rate", "out of range" },
		{ "pools = ( { name = \"p\"; rate = -1e400; } );", "pools[0].rate", "out of range" },
		{ "pools = ( { name = \"p\"; eject_max = 1e-400; } );", NULL, NULL },
		{ "pools = ( { name = \"p\"; circuit = { threshold = 1e400; }; } );",
		  "pools[0].circuit.threshold", "out of range" },
		{ "maintenance = { listen = \"127.0.0.1:1\"; body = \"\xff\xfe\"; status = 99; };",
		  "maintenance.status", "out of range" },
		{ "daemon = { metrics = \"127.0.0.1:9\xc3\xa9\"; };", "daemon.metrics", NULL },
	};
	struct steer_config c = {};
	char err[STEER_ERR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!load(cases[i].text, &c, err)) {
			/* 1e-400 is 0, which eject_max allows */
			assert_non_null(strstr(cases[i].text, "1e-400"));
			config_free(&c);
			continue;
		}
		if ((cases[i].setting && !strstr(err, cases[i].setting)) ||
		    (cases[i].what && !strstr(err, cases[i].what)))
			fail_msg("got '%s' for case %zu", err, i);
		assert_one_printable_line(err);
	}
}

/* docs/man/steer.conf.5's settings list is what the tables print. */
static void test_man_page(void **state)
{
	(void)state;
	assert_man_page_fresh("docs/man/steer.conf.5", conf_schema_doc_update, "settings list");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_did_you_mean),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_man_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
