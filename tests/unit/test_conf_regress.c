// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Regressions found by breaking issue 8's config schema (break8):
 *
 * - socket_group = "" and socket_mode = "" loaded before the schema tables
 *   (eb8d0a0) as "not given": no chown, the default mode. The tables
 *   refused both, so a file that loaded before stopped loading.
 * - An @include whose name starts with '/' is read by libconfig 1.5 under
 *   the include directory like any other ("DIR//sub/x.inc"), while the lint
 *   looked at "/sub/x.inc" itself: the file libconfig read went unchecked,
 *   so its 5000000000 loaded as 705032704, and a FIFO there blocked the
 *   loader (steerd's event loop) for ever.
 * - Since issue 9 @include is read by steer, not libconfig: "/sub/x.inc" is
 *   that absolute path (absolute includes work), still linted, and a FIFO
 *   there is still refused at once.
 * - Found by the fuzzer in review: the lint followed every @include to
 *   libconfig's depth of 10, so a file that includes itself five times was
 *   read 5^11 times (steerd --check ran for minutes; a SIGHUP would have
 *   stalled the daemon) before libconfig said "nesting too deep".
 * - Found by break9 (brk2): steer's scan and libconfig's scanner could
 *   disagree on what is an @include, and libconfig then read one itself
 *   (a FIFO blocked the loader, a directory made flex exit the process):
 *   an included file that ends inside a string ('x = "') turns the
 *   including file's strings inside out, so an "@include" steer saw inside
 *   a string reached libconfig at a line's start; and the rest of a
 *   directive's line (`@include "a" @include "b"`) was put on a line of its
 *   own, where its @include was at a line's start. A directive without a
 *   quoted name (`@include pools.conf`) was dropped from the text silently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "config.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\n";
}

static void test_empty_socket_access(void **state)
{
	struct steer_config c = {};
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load_string("daemon = { socket_group = \"\"; socket_mode = \"\"; };",
					    &c, err, sizeof(err)), 0);
	assert_false(c.has_socket_group);
	assert_int_equal(c.socket_mode, STEER_DAEMON_SOCKET_MODE);
	config_free(&c);
	/* each alone, and the others' values untouched */
	assert_int_equal(config_load_string("daemon = { socket_group = \"\"; socket_mode = \"0600\"; };",
					    &c, err, sizeof(err)), 0);
	assert_false(c.has_socket_group);
	assert_int_equal(c.socket_mode, 0600);
	config_free(&c);
	assert_int_equal(config_load_string("daemon = { socket_group = \"0\"; socket_mode = \"\"; };",
					    &c, err, sizeof(err)), 0);
	assert_true(c.has_socket_group);
	assert_int_equal(c.socket_gid, 0);
	assert_int_equal(c.socket_mode, STEER_DAEMON_SOCKET_MODE);
	config_free(&c);
	/* still a string: a number is refused as before */
	assert_int_equal(config_load_string("daemon = { socket_mode = 0; };", &c, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "daemon.socket_mode"));
}

struct dir {
	char path[64];
};

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));
	char p[128];

	snprintf(d->path, sizeof(d->path), "/tmp/test_conf_regress.XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(p, sizeof(p), "%s/sub", d->path);
	mkdir(p, 0700);
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd))
		return -1;
	free(d);
	return 0;
}

static const char *alarm_why;

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("config_load did not return: %s", alarm_why);
}

/* an absolute @include is that path, linted like any other; a FIFO there
 * is refused at once, and "/sub/..." is not under the top file's directory */
static void test_slash_include(void **state)
{
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128], fifo[128], text[256];

	put(d->path, "sub/big.inc", "pools = ( { name = \"a\"; quota = 5000000000; } );\n");
	snprintf(text, sizeof(text), "\n@include \"%s/sub/big.inc\"\n", d->path);
	put(d->path, "top.conf", text);
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	if (!config_load(top, &c, err, sizeof(err))) {
		/* it loaded: then with the value written, not a cut one */
		assert_int_equal(c.npools, 1);
		assert_true(c.pools[0].quota == 5000000000ull);
		config_free(&c);
	} else {
		assert_non_null(strstr(err, "sub/big.inc:1: integer 5000000000"));
	}
	put(d->path, "top.conf", "@include \"/sub/big.inc\"\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "top.conf:1: @include \"/sub/big.inc\": No such file"));

	snprintf(fifo, sizeof(fifo), "%s/sub/fifo", d->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof(text), "@include \"%s\"\n", fifo);
	put(d->path, "top.conf", text);
	alarm_why = "it blocked on a FIFO that an @include names";
	signal(SIGALRM, on_alarm);
	alarm(5);
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	alarm(0);
	assert_non_null(strstr(err, "not a regular file"));
}

/* a file that includes itself, again and again: refused at once */
static void test_self_include(void **state)
{
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128];

	put(d->path, "self.conf", "@include \"self.conf\"\n@include \"self.conf\"\n"
				  "@include \"self.conf\"\n@include \"self.conf\"\n"
				  "@include \"self.conf\"\n");
	snprintf(top, sizeof(top), "%s/self.conf", d->path);
	alarm_why = "the lint reads a self-including file once per path through it";
	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	alarm(0);
	assert_non_null(strstr(err, "self.conf:1: @include \"self.conf\": a loop"));
	/* and through another file, and a file read twice */
	put(d->path, "a.conf", "@include \"b.conf\"\n");
	put(d->path, "b.conf", "\n@include \"a.conf\"\n");
	snprintf(top, sizeof(top), "%s/a.conf", d->path);
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "b.conf:2: @include \"a.conf\": a loop"));
	put(d->path, "a.conf", "@include \"c.conf\"\n@include \"c.conf\"\n");
	put(d->path, "c.conf", "# nothing\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a.conf:2: @include \"c.conf\": "));
	assert_non_null(strstr(err, "c.conf was read already"));
}

/* An error after an @include names the line of the including file; one
 * inside names the included file's. */
static void test_include_lines(void **state)
{
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128];

	put(d->path, "p.inc", "# pools\npools = ( { name = \"a\"; } );\n");
	put(d->path, "top.conf", "# top\n  @include \"p.inc\" # comment\ndaemon = {\n interval_ms = 1; };\n");
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "top.conf:4: daemon.interval_ms: "));
	put(d->path, "top.conf", "# top\n  @include \"p.inc\" # comment\ndaemon = {\n interval_ms = 100; };\n");
	put(d->path, "p.inc", "# pools\n\npools = ( { name = \"a\";\n wieght = 1; } );\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	if (!strstr(err, "p.inc:4: pools[0].wieght: "))
		fail_msg("%s", err);
	put(d->path, "p.inc", "pools = ( { name = \"a\" } ;\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "p.inc:1: syntax error"));
}

/* include_dir: *.conf in name order, lists merged, others once */
static void test_include_dir(void **state)
{
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128];

	put(d->path, "top.conf", "include_dir = \"sub\";\npools = ( { name = \"m\"; } );\n");
	put(d->path, "sub/20-b.conf", "pools = ( { name = \"b\"; } );\n"
				      "services = ( { name = \"sb\"; prefix = \"10.0.0.2/32\"; port = 80; pool = \"b\"; } );\n");
	put(d->path, "sub/10-a.conf", "pools = ( { name = \"a\"; } );\n"
				      "services = ( { name = \"sa\"; prefix = \"10.0.0.1/32\"; port = 80; pool = \"a\"; } );\n");
	put(d->path, "sub/.hidden.conf", "this is not read");
	put(d->path, "sub/notes.txt", "nor this");
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	if (config_load(top, &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c.npools, 3);
	assert_string_equal(c.pools[0].name, "m");
	assert_string_equal(c.pools[1].name, "a");
	assert_string_equal(c.pools[2].name, "b");
	assert_int_equal(c.nservices, 2);
	assert_string_equal(c.services[0].name, "sa");
	config_free(&c);
	/* a setting that is not a list, twice: refused with both places */
	put(d->path, "sub/30-d.conf", "\ndaemon = { interval_ms = 100; };\n");
	put(d->path, "top.conf", "include_dir = \"sub\";\ndaemon = { interval_ms = 200; };\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sub/30-d.conf:2: daemon: set already at "));
	assert_non_null(strstr(err, "top.conf:2 "));
	unlink(strcat(strcpy(top, d->path), "/sub/30-d.conf"));
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	/* a directory there, and a missing include_dir: refused by name */
	mkdir(strcat(strcpy(err, d->path), "/sub/x.conf"), 0700);
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sub/x.conf:0: not a regular file"));
	put(d->path, "top.conf", "include_dir = \"nowhere\";\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "top.conf:1: include_dir: "));
	assert_non_null(strstr(err, "nowhere: No such file"));
}

/* what libconfig would read itself must be refused: here a FIFO, which
 * would block the loader */
static void test_include_desync(void **state)
{
	static const char *const tops[][2] = {
		/* an included file that ends inside a string or a comment */
		{ "@include \"open.inc\"\ny = \"\n@include \"%s\"\nz = \" # \"\n",
		  "open.inc:1: a string opened here is not closed" },
		{ "@include \"comment.inc\"\n", "comment.inc:2: a comment opened here is not closed" },
		/* text after a directive on its line */
		{ "@include \"empty.inc\" @include \"%s\"\n",
		  "top.conf:1: @include \"empty.inc\": only a comment may follow" },
		{ "# x\n@include %s\n", "top.conf:2: @include: the file's name must follow in double quotes" },
		{ "@include \"%s\n", "top.conf:1: @include: the file's name must follow in double quotes" },
	};
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128], fifo[128], text[512];

	put(d->path, "open.inc", "x = \"\n");
	put(d->path, "comment.inc", "# a\n/* b\n c\n");
	put(d->path, "empty.inc", "# nothing\n");
	snprintf(fifo, sizeof(fifo), "%s/sub/fifo", d->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	alarm_why = "libconfig read an @include steer did not see, a FIFO";
	signal(SIGALRM, on_alarm);
	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		snprintf(text, sizeof(text), tops[i][0], fifo);
		put(d->path, "top.conf", text);
		alarm(5);
		assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
		alarm(0);
		if (!strstr(err, tops[i][1]))
			fail_msg("case %zu: %s", i, err);
	}
	/* still fine: a comment after a directive, CRLF lines, an @include in
	 * a string or a comment (not one), a string that spans lines */
	put(d->path, "p.inc", "pools = ( { name = \"a\"; } );\r\n");
	put(d->path, "top.conf", "@include \"p.inc\"  # pools\r\n"
				 "/* @include \"nothing\"\n@include \"nothing\" */\r\n"
				 "daemon = { socket_group = \"a\n@include \\\"x\\\" b\"; };\r\n");
	assert_int_equal(config_load(top, &c, err, sizeof(err)), -1);
	if (!strstr(err, "top.conf:4: daemon.socket_group: "))
		fail_msg("%s", err);
	put(d->path, "top.conf", "@include \"p.inc\" /* pools */\r\n# @include \"x\"\n");
	if (config_load(top, &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c.npools, 1);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_socket_access),
		cmocka_unit_test_setup_teardown(test_slash_include, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_self_include, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_include_lines, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_include_dir, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_include_desync, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
