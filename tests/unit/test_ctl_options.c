// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for steerctl's option engine (options.c) and its
 * command table: prefixes, required options, rules, ranges, one-line
 * errors. Nothing here opens a map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "ctl.h"
#include "defaults.h"
#include "errfmt.h"
#include "loader.h"

static const char *const names[] = { "service", "status", "pool", "help" };

static void test_match(void **state)
{
	char err[STEER_ERR_LEN];

	(void)state;
	assert_int_equal(opt_match("pool", names, 4, "command", NULL, err), 2);
	assert_int_equal(opt_match("p", names, 4, "command", NULL, err), 2);
	assert_int_equal(opt_match("se", names, 4, "command", NULL, err), 0);
	assert_int_equal(opt_match("s", names, 4, "command", NULL, err), -1);
	assert_string_equal(err, "ambiguous command 's': service, status");
	assert_int_equal(opt_match("x", names, 4, "command", " (hint)", err), -1);
	assert_string_equal(err, "unknown command 'x' (hint)");
	assert_int_equal(opt_match("", names, 4, "command", NULL, err), -1);
}

static void test_exact_wins(void **state)
{
	static const char *const v[] = { "del", "delete" };
	char err[STEER_ERR_LEN];

	(void)state;
	assert_int_equal(opt_match("del", v, 2, "verb", NULL, err), 0);
	assert_int_equal(opt_match("dele", v, 2, "verb", NULL, err), 1);
	assert_int_equal(opt_match("de", v, 2, "verb", NULL, err), -1);
}

/* parse argv (a NULL-terminated list) as object verb's arguments */
static int parse(const char *object, const char *verb, struct optval *v, char *err, ...)
{
	const struct object *obj;
	const struct cmd *cmd = ctl_find_cmd(object, verb, &obj);
	char *argv[16];
	int argc = 0;
	va_list ap;

	assert_non_null(cmd);
	va_start(ap, err);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return opts_parse(obj, cmd, argc, argv, v, err);
}

static void test_parse(void **state)
{
	struct optval v[OPT_MAX];
	char err[STEER_ERR_LEN];

	(void)state;
	assert_int_equal(parse("worker", "add", v, err, "p", "w1", "--addr", "127.0.0.1:1", NULL), 0);
	assert_string_equal(v[0].s, "p");
	assert_string_equal(v[1].s, "w1");
	assert_int_equal(v[2].u, STEER_WEIGHT_DEFAULT);	/* --weight not given */
	assert_false(v[2].given);
	assert_int_equal(parse("worker", "add", v, err, "p", "w1", "--pid=7", "--fd", "3",
			       "--weight", "5", NULL), 0);
	assert_int_equal(v[2].u, 5);
	assert_int_equal(parse("worker", "add", v, err, "p", "w1", "--we", "5", "--addr", "x", NULL), 0);
	assert_int_equal(parse("worker", "set", v, err, "w1", "--weight", "auto", NULL), 0);
	assert_true(v[1].given && v[1].automatic);
	assert_int_equal(parse("worker", "add", v, err, "p", "w1", "--listen-fds", NULL), 0);
	assert_false(v[2].automatic);
	assert_int_equal(parse("worker", "set", v, err, "w1", "--weight", "0", NULL), 0);
	assert_false(v[1].automatic);
	assert_true(v[1].given);
	assert_false(v[2].given);
}

/* exit 2 with want, which main prints as one line (errfmt escapes it) */
static void expect_err(int rc, const char *err, const char *want)
{
	char line[STEER_ERR_LEN * 4];

	assert_int_equal(rc, STEER_EINPUT);
	assert_string_equal(err, want);
	errfmt_escape(line, sizeof(line), err);
	assert_null(strchr(line, '\n'));
}

static void test_errors(void **state)
{
	struct optval v[OPT_MAX];
	char err[STEER_ERR_LEN];

	(void)state;
	expect_err(parse("worker", "add", v, err, "p", "w1", NULL), err,
		   "worker add needs either --addr IP:PORT, --pid PID --fd FD or --listen-fds");
	expect_err(parse("worker", "add", v, err, "p", "w1", "--pid", "1", NULL), err,
		   "worker add needs either --addr IP:PORT, --pid PID --fd FD or --listen-fds");
	expect_err(parse("worker", "add", v, err, "p", "w1", "--addr", "x", "--fd", "1", NULL), err,
		   "worker add needs either --addr IP:PORT, --pid PID --fd FD or --listen-fds");
	expect_err(parse("worker", "add", v, err, "p", NULL), err,
		   "missing NAME (see 'steerctl worker help')");
	expect_err(parse("worker", "set", v, err, "w1", NULL), err,
		   "worker set needs --weight W, --maxconn N and/or --slots N");
	expect_err(parse("worker", "set", v, err, "w1", "--weight", "10001", NULL), err,
		   "weight '10001' is not a whole number from 0 to 10000 or auto");
	expect_err(parse("worker", "add", v, err, "p", "w1", "--listen-fds", "--addr", "x", NULL),
		   err, "worker add needs either --addr IP:PORT, --pid PID --fd FD or --listen-fds");
	expect_err(parse("worker", "set", v, err, "w1", "--weight", NULL), err,
		   "unknown or incomplete option '--weight'");
	expect_err(parse("worker", "set", v, err, "w1", "w2", "--weight", "1", NULL), err,
		   "unexpected argument 'w2'");
	expect_err(parse("worker", "drain", v, err, "w1", "--timeout", "3", NULL), err,
		   "--timeout goes with --wait");
	expect_err(parse("worker", "drain", v, err, "w1", "--wait=1", NULL), err,
		   "unknown or incomplete option '--wait=1'");
	expect_err(parse("service", "add", v, err, "s", "--prefix", "1.2.3.4/32", "--port", "80",
			 NULL), err, "service add needs --pool POOL");
	expect_err(parse("service", "add", v, err, "s", NULL), err,
		   "service add needs --prefix ADDR/LEN, --port P[-Q] and --pool POOL");
	expect_err(parse("service", "list", v, err, "x", NULL), err, "service list takes no arguments");
	expect_err(parse("pool", "add", v, err, "r", "--bogus", NULL), err,
		   "unknown or incomplete option '--bogus'");
	expect_err(parse("pool", "add", v, err, "r\nx", NULL), err,
		   "pool name 'r\nx' may hold only letters, digits, '-', '_' and '.'");
	expect_err(parse("circuit", NULL, v, err, "p", "shut", NULL), err,
		   "circuit state 'shut' is unknown (open, close or auto)");
	expect_err(parse("report", NULL, v, err, "w1", NULL), err,
		   "report needs --ok N, --errors M and/or --tokens T");
}

static void test_off_and_ranges(void **state)
{
	struct optval v;
	char err[STEER_ERR_LEN];

	(void)state;
	assert_int_equal(steerctl_parse_value("pool", "rate", "RATE", "off", &v, err), 0);
	assert_true(v.off);
	assert_int_equal(steerctl_parse_value("pool", "rate", "RATE", "1e9", &v, err), 0);
	assert_true(v.d == STEER_RATE_MAX);
	expect_err(steerctl_parse_value("pool", "rate", "RATE", "1000000001", &v, err), err,
		   "rate '1000000001' is not a number above 0 and at most 1e+09");
	assert_int_equal(steerctl_parse_value("pool", "rate", "burst", "4294967295", &v, err), 0);
	assert_int_equal(v.u, STEER_BURST_MAX);
	assert_int_equal(steerctl_parse_value("pool", "rate", "burst", "4294967296", &v, err), 2);
	assert_int_equal(steerctl_parse_value("pool", "rate", "burst", "0", &v, err), 2);
	assert_int_equal(steerctl_parse_value("pool", "quota", "N", "4611686018427387904", &v, err), 0);
	assert_int_equal(steerctl_parse_value("pool", "quota", "N", "4611686018427387905", &v, err), 2);
	assert_int_equal(steerctl_parse_value("worker", "add", "weight", "-1", &v, err), 2);
	assert_int_equal(steerctl_parse_value("worker", "add", "nosuch", "1", &v, err), 2);
}

/* The defaults come from defaults.h, and every table's options fit OPT_MAX. */
static void test_tables(void **state)
{
	const struct opt *o;

	(void)state;
	o = cmd_find_opt(ctl_find_cmd("worker", "add", NULL), "weight");
	assert_int_equal(o->def, STEER_WEIGHT_DEFAULT);
	assert_int_equal(o->max, STEER_WEIGHT_MAX);
	o = cmd_find_opt(ctl_find_cmd("report", NULL, NULL), "socket");
	assert_string_equal(o->sdef, STEER_DAEMON_SOCKET);
	for (size_t i = 0; i < ctl_nobjects; i++)
		for (size_t j = 0; j < ctl_objects[i]->ncmds; j++)
			assert_true(ctl_objects[i]->cmds[j].nopts <= OPT_MAX);
}

static void test_dispatch(void **state)
{
	char *amb[] = { "worker", "d", "w1", NULL }, *unk[] = { "frob", NULL };
	struct ctl c;

	(void)state;
	ctl_init(&c);
	assert_int_equal(ctl_dispatch(&c, 3, amb), STEER_EINPUT);
	assert_string_equal(c.err, "ambiguous worker command 'd': drain, del");
	assert_int_equal(ctl_dispatch(&c, 1, unk), STEER_EINPUT);
	assert_string_equal(c.err, "unknown steerctl command 'frob' (see 'steerctl help')");
	ctl_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_exact_wins),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_off_and_ranges),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
