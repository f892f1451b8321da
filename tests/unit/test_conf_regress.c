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
 * - Found by the fuzzer in review: the lint followed every @include to
 *   libconfig's depth of 10, so a file that includes itself five times was
 *   read 5^11 times (steerd --check ran for minutes; a SIGHUP would have
 *   stalled the daemon) before libconfig said "nesting too deep".
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

/* "/sub/big.inc" is DIR/sub/big.inc to libconfig 1.5: checked there too */
static void test_slash_include(void **state)
{
	struct dir *d = *state;
	struct steer_config c = {};
	char err[512] = "", top[128], fifo[128];

	put(d->path, "sub/big.inc", "pools = ( { name = \"a\"; quota = 5000000000; } );\n");
	put(d->path, "top.conf", "@include \"/sub/big.inc\"\n");
	snprintf(top, sizeof(top), "%s/top.conf", d->path);
	if (!config_load(top, &c, err, sizeof(err))) {
		/* it loaded: then with the value written, not a cut one */
		assert_int_equal(c.npools, 1);
		assert_true(c.pools[0].quota == 5000000000ull);
		config_free(&c);
	} else {
		assert_non_null(strstr(err, "5000000000"));
	}

	snprintf(fifo, sizeof(fifo), "%s/sub/fifo", d->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	put(d->path, "top.conf", "@include \"/sub/fifo\"\n");
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
	assert_non_null(strstr(err, "nesting too deep"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_socket_access),
		cmocka_unit_test_setup_teardown(test_slash_include, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_self_include, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
