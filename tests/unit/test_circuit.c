// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for the circuit breaker's state machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "steer.h"
#include "circuit.h"

static struct circuit_params params(void)
{
	struct circuit_params p;

	circuit_params_default(&p);	/* 5%, 10 s, 20 requests, 5 s, 5 probes */
	return p;
}

static void test_trips_above_threshold(void **state)
{
	struct circuit_params p = params();
	struct circuit c;
	uint64_t t = 1000000;

	(void)state;
	circuit_init(&c, &p, t);
	/* 10% errors: 10 outcomes are too few to judge, 20 are enough */
	circuit_record(&c, t, 9, 1);
	assert_false(circuit_tick(&c, t));
	circuit_record(&c, t + 1000, 9, 1);
	assert_true(circuit_tick(&c, t + 1000));
	assert_int_equal(c.state, STEER_CIRCUIT_OPEN);
}

static void test_steady_low_rate_never_trips(void **state)
{
	struct circuit_params p = params();
	struct circuit c;
	uint64_t t = 5000000;

	(void)state;
	circuit_init(&c, &p, t);
	for (int s = 0; s < 120; s++) {
		circuit_record(&c, t + s * 1000, 97, 3);	/* 3% */
		assert_false(circuit_tick(&c, t + s * 1000));
	}
	assert_int_equal(c.state, STEER_CIRCUIT_CLOSED);
}

static void test_min_volume(void **state)
{
	struct circuit_params p = params();
	struct circuit c;

	(void)state;
	circuit_init(&c, &p, 0);
	circuit_record(&c, 0, 5, 5);	/* 50% of 10: too few to judge */
	assert_false(circuit_tick(&c, 0));
}

static void test_window_forgets(void **state)
{
	struct circuit_params p = params();
	struct circuit c;
	uint64_t total;

	(void)state;
	circuit_init(&c, &p, 0);
	circuit_record(&c, 0, 0, 15);
	/* eleven seconds later the errors are out of the window */
	circuit_record(&c, 11000, 30, 0);
	assert_true(circuit_error_rate(&c, 11000, &total) == 0.0);
	assert_int_equal(total, 30);
	assert_false(circuit_tick(&c, 11000));
}

static void test_half_open_then_close_or_reopen(void **state)
{
	struct circuit_params p = params();
	struct circuit c;

	(void)state;
	circuit_init(&c, &p, 0);
	circuit_record(&c, 0, 10, 20);
	assert_true(circuit_tick(&c, 0));
	assert_int_equal(c.state, STEER_CIRCUIT_OPEN);
	assert_false(circuit_tick(&c, 4999));		/* cooling down */
	assert_true(circuit_tick(&c, 5000));
	assert_int_equal(c.state, STEER_CIRCUIT_HALF_OPEN);
	circuit_record(&c, 5100, 4, 0);
	assert_false(circuit_tick(&c, 5100));		/* 4 of 5 probes */
	circuit_record(&c, 5200, 1, 0);
	assert_true(circuit_tick(&c, 5200));
	assert_int_equal(c.state, STEER_CIRCUIT_CLOSED);
	/* and again, with a failing probe */
	circuit_record(&c, 6000, 0, 30);
	assert_true(circuit_tick(&c, 6000));
	assert_true(circuit_tick(&c, 11000));
	assert_int_equal(c.state, STEER_CIRCUIT_HALF_OPEN);
	circuit_record(&c, 11100, 2, 1);
	assert_true(circuit_tick(&c, 11100));
	assert_int_equal(c.state, STEER_CIRCUIT_OPEN);
}

/* The circuit-input rule: one sick worker of four failing every check at
 * low traffic (the case that opened the pool's circuit: 3 failures in 21
 * checks) leaves the pool's circuit closed; a majority failing opens it. */
static void test_checks_count_only_pool_wide(void **state)
{
	struct circuit_params p = params();
	struct circuit c;
	uint64_t t = 7000000;

	(void)state;
	assert_false(circuit_checks_pool_wide(0, 0));
	assert_false(circuit_checks_pool_wide(1, 4));
	assert_false(circuit_checks_pool_wide(2, 4));	/* half is not a majority */
	assert_true(circuit_checks_pool_wide(3, 4));
	assert_true(circuit_checks_pool_wide(1, 1));
	assert_false(circuit_checks_pool_wide(1, 2));
	assert_true(circuit_checks_pool_wide(2, 3));

	circuit_init(&c, &p, t);
	for (int round = 0; round < 30; round++, t += 100) {
		circuit_record_check(&c, t, false, 1, 4);	/* the sick one */
		for (int k = 0; k < 3; k++)
			circuit_record_check(&c, t, true, 1, 4);
		assert_false(circuit_tick(&c, t));
	}
	assert_int_equal(c.state, STEER_CIRCUIT_CLOSED);

	/* three of four fail: the pool fails as a whole */
	for (int round = 0; round < 30 && c.state == STEER_CIRCUIT_CLOSED; round++, t += 100) {
		for (int k = 0; k < 3; k++)
			circuit_record_check(&c, t, false, 3, 4);
		circuit_record_check(&c, t, true, 3, 4);
		circuit_tick(&c, t);
	}
	assert_int_equal(c.state, STEER_CIRCUIT_OPEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trips_above_threshold),
		cmocka_unit_test(test_checks_count_only_pool_wide),
		cmocka_unit_test(test_steady_low_rate_never_trips),
		cmocka_unit_test(test_min_volume),
		cmocka_unit_test(test_window_forgets),
		cmocka_unit_test(test_half_open_then_close_or_reopen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
