// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for lease.c: the lease and token arithmetic and the
 * kernel budget's CAS add / exchange. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "defaults.h"
#include "lease.h"

static void test_grant(void **state)
{
	(void)state;
	assert_int_equal(lease_grant(300, 0, 20), 20);
	assert_int_equal(lease_grant(300, 290, 20), 10);
	assert_int_equal(lease_grant(300, 300, 20), 0);
	assert_int_equal(lease_grant(300, 400, 20), 0);	/* never below 0 */
	/* the bound: hosts that each take chunks never pass the quota */
	uint64_t granted = 0;
	for (int i = 0; i < 100; i++)
		granted += lease_grant(300, granted, 7);
	assert_int_equal(granted, 300);
}

static void test_wanted(void **state)
{
	(void)state;
	assert_true(lease_wanted(9, 20));
	assert_false(lease_wanted(10, 20));
	assert_true(lease_wanted(-3, 20));	/* spills left it below 0 */
	assert_true(lease_wanted(0, 1));
	assert_false(lease_wanted(1, 1));
}

/* what a host aims to hold: chunk idle, the rate's horizon in a burst,
 * doubled while dry, never above max */
static void test_hold(void **state)
{
	(void)state;
	assert_int_equal(lease_hold(0, 33, false, 20, 20, 80), 20);
	assert_int_equal(lease_hold(1.0, 33, false, 20, 20, 80), 33);
	assert_int_equal(lease_hold(0.5, 33, true, 20, 20, 80), 40);	/* dry: twice the last */
	assert_int_equal(lease_hold(0.5, 33, true, 40, 20, 80), 80);
	assert_int_equal(lease_hold(50, 33, true, 80, 20, 80), 80);	/* the bound */
	assert_int_equal(lease_hold(0.01, 33, false, 80, 20, 20), 20);
	/* the rate: up at once, down by a tenth of the gap a look */
	assert_true(lease_rate(0, 100, 10) == 10.0);
	assert_true(lease_rate(10, 0, 10) == 9.0);
	assert_true(lease_rate(10, 200, 10) == 20.0);
	assert_true(lease_rate(3, 0, 0) == 3.0);
}

static void test_window(void **state)
{
	uint64_t left;

	(void)state;
	assert_int_equal(lease_window(60000, 60, &left), 1);
	assert_int_equal(left, 60000);
	assert_int_equal(lease_window(119999, 60, &left), 1);
	assert_int_equal(left, 1);
	assert_int_equal(token_budget(600, 10), 100);
	assert_int_equal(token_budget(1, 1), 0);
	assert_int_equal(token_budget(60, 1), 1);
	assert_int_equal(token_budget(59, 1), 0);
	assert_int_equal(token_budget(100, 7), 11);
	/* no overflow at the limits: 2^50 x 86400 is more than 2^64 */
	assert_true(token_budget(STEER_TOKENS_MAX, STEER_FLEET_WINDOW_S_MAX) ==
		    STEER_TOKENS_MAX / 60 * STEER_FLEET_WINDOW_S_MAX +
		    STEER_TOKENS_MAX % 60 * STEER_FLEET_WINDOW_S_MAX / 60);
}

static void test_estimate(void **state)
{
	double e = 0;

	(void)state;
	e = token_estimate(e, 100, 1);			/* seeded by the first */
	assert_true(e == 100);
	e = token_estimate(e, 200, 1);			/* then EWMA 0.2 */
	assert_true(e > 119.99 && e < 120.01);
	assert_true(token_estimate(e, 5, 0) == e);	/* no connection: no sample */
	assert_int_equal(token_admissions(1000, 100, 7), 10);
	assert_int_equal(token_admissions(-5, 100, 7), 0);
	assert_int_equal(token_admissions(1000, 0, 7), 7);
	assert_int_equal(token_admissions(10, 0.01, 7), 10);	/* at least a token each */
}

static void test_budget_atomics(void **state)
{
	int64_t left = -4;

	(void)state;
	assert_int_equal(budget_add(&left, 10), -4);
	assert_int_equal(left, 10);			/* max(cur, 0) + n */
	assert_int_equal(budget_add(&left, 5), 10);
	assert_int_equal(left, 15);
	assert_int_equal(budget_swap(&left, 3), 15);
	assert_int_equal(left, 3);
	assert_int_equal(budget_trim(&left, 5), 0);	/* holds less: untouched */
	assert_int_equal(left, 3);
	assert_int_equal(budget_trim(&left, 1), 2);
	assert_int_equal(left, 1);
	left = -3;					/* spills below 0: nothing to take */
	assert_int_equal(budget_trim(&left, 0), 0);
	assert_int_equal(left, -3);
}

/* a window's turn: the carry charged to the new window is kept, less what
 * the kernel spent of it since the look; never more than it holds */
static void test_budget_carry(void **state)
{
	int64_t left = 6;

	(void)state;
	/* carry 10 all charged, 4 spent since: the 6 left stay, grant on top */
	assert_int_equal(budget_carry(&left, 10, 10, 20), 6);
	assert_int_equal(left, 26);
	/* only 5 of 10 charged (the window was nearly spent), 4 spent: 1 kept */
	left = 6;
	assert_int_equal(budget_carry(&left, 10, 5, 0), 6);
	assert_int_equal(left, 1);
	/* spent more than was charged: none kept */
	left = 2;
	budget_carry(&left, 10, 5, 3);
	assert_int_equal(left, 3);
	/* spilling below 0: the grant */
	left = -4;
	assert_int_equal(budget_carry(&left, 10, 10, 7), -4);
	assert_int_equal(left, 7);
	/* it holds more than the carry (a grant after the look): at most the charge */
	left = 30;
	budget_carry(&left, 10, 10, 0);
	assert_int_equal(left, 10);
}

static void test_release(void **state)
{
	uint64_t tok = 100, conns = 3, back = 0;

	(void)state;
	assert_int_equal(token_release(&tok, &conns, 1), 33);
	assert_int_equal(tok, 67);
	assert_int_equal(conns, 2);
	/* more than it holds: what is left, and nothing after */
	back = token_release(&tok, &conns, 5);
	assert_int_equal(back, 67);
	assert_int_equal(tok, 0);
	assert_int_equal(conns, 0);
	assert_int_equal(token_release(&tok, &conns, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_estimate),
		cmocka_unit_test(test_budget_atomics),
		cmocka_unit_test(test_budget_carry),
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
