// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for errfmt.c: every error line is one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "errfmt.h"

static void expect(const char *in, const char *want)
{
	char out[256];

	assert_int_equal(errfmt_escape(out, sizeof(out), in), strlen(want));
	assert_string_equal(out, want);
}

static void test_escapes(void **state)
{
	(void)state;
	expect("worker 'w1' does not exist", "worker 'w1' does not exist");
	expect("a\nb", "a\\nb");
	expect("a\r\n\tb", "a\\r\\n\\tb");
	expect("back\\slash", "back\\\\slash");
	expect("\x1b[31mred", "\\x1b[31mred");
	expect("\x7f\x01", "\\x7f\\x01");
	expect("caf\xc3\xa9", "caf\\xc3\\xa9");		/* é */
	expect("\xe2\x80\xae", "\\xe2\\x80\\xae");	/* RIGHT-TO-LEFT OVERRIDE */
	expect("", "");
}

/* A short buffer cuts at a whole escape and stays NUL-terminated. */
static void test_cut(void **state)
{
	char out[6];

	(void)state;
	assert_int_equal(errfmt_escape(out, sizeof(out), "ab\ncd"), 5);
	assert_string_equal(out, "ab\\nc");
	assert_int_equal(errfmt_escape(out, sizeof(out), "abc\x01"), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(errfmt_escape(out, 1, "abc"), 0);
	assert_string_equal(out, "");
}

static void test_print_one_line(void **state)
{
	char buf[256] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(f);
	errfmt_print(f, "Error: ", "pool '\nx\n' does not exist\n");
	fclose(f);
	assert_string_equal(buf, "Error: pool '\\nx\\n' does not exist\\n\n");
}

static void test_utf8_len(void **state)
{
	static const struct { const char *s; size_t n; } cases[] = {
		{ "a", 1 }, { "", 1 }, { "\xc3\xa9", 2 }, { "\xe2\x82\xac", 3 },
		{ "\xf0\x9f\x98\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 },
		{ "\xff", 0 }, { "\x80", 0 }, { "\xc0\xaf", 0 }, { "\xc3", 0 },
		{ "\xe0\x80\xaf", 0 }, { "\xed\xa0\x80", 0 }, { "\xf4\x90\x80\x80", 0 },
		{ "\xe2\x82", 0 }, { "\xf0\x9f\x98", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(errfmt_utf8_len(cases[i].s), cases[i].n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_print_one_line),
		cmocka_unit_test(test_utf8_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
