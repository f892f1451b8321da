// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for the fleet's circuit rule (circuit_share.c), with
 * three hosts' breakers (circuit.c) and a Redis reduced to its count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "steer.h"
#include "defaults.h"
#include "circuit.h"
#include "circuit_share.h"

#define HOSTS 3
#define NEED 2			/* circuit_hosts */
#define TTL 3000

struct host {
	struct circuit own;
	struct circuit_share share;
	uint32_t kernel;
	bool by_fleet;
};

/* Redis: the open set (the script's answer is its size) */
static bool redis_open[HOSTS];
static uint64_t redis_ms;

static uint32_t redis_write(int h, bool open)
{
	uint32_t n = 0;

	redis_open[h] = open;
	for (int i = 0; i < HOSTS; i++)
		n += redis_open[i];
	return n;
}

/* One round: every host ticks its breaker, writes when due, and every
 * host hears the published count (the message) at once. */
static void round_at(struct host *hs, uint64_t now, bool redis_up)
{
	for (int h = 0; h < HOSTS; h++) {
		struct host *x = &hs[h];
		bool open;

		circuit_tick(&x->own, now);
		open = circuit_share_own_open(x->own.state);
		if (redis_up && circuit_share_due(&x->share, open, now)) {
			uint32_t n;

			circuit_share_sent(&x->share, now, STEER_FLEET_CIRCUIT_SYNC_MS);
			n = redis_write(h, open);
			circuit_share_answer(&x->share, true, open);
			for (int k = 0; k < HOSTS; k++)
				circuit_share_apply(&hs[k].share, n, ++redis_ms, now);
		}
	}
	for (int h = 0; h < HOSTS; h++) {
		bool fleet = circuit_share_fleet_open(&hs[h].share, NEED, TTL, now);

		hs[h].kernel = circuit_share_effective(hs[h].own.state, fleet, &hs[h].by_fleet);
	}
}

static void setup_hosts(struct host *hs, uint64_t now)
{
	struct circuit_params p;

	circuit_params_default(&p);	/* 5%, 20 requests, cooldown 5 s, 5 probes */
	memset(hs, 0, sizeof(*hs) * HOSTS);
	memset(redis_open, 0, sizeof(redis_open));
	for (int h = 0; h < HOSTS; h++)
		circuit_init(&hs[h].own, &p, now);
}

/* A and B trip at t: C is open for the fleet */
static void a_and_b_trip(struct host *hs, uint64_t t)
{
	setup_hosts(hs, t);
	circuit_record(&hs[0].own, t, 0, 30);
	circuit_record(&hs[1].own, t, 0, 30);
	round_at(hs, t, true);
	assert_true(hs[2].by_fleet);
}

static void test_two_hosts_open_the_third(void **state)
{
	struct host hs[HOSTS];
	uint64_t t = 1000000;

	(void)state;
	setup_hosts(hs, t);
	circuit_record(&hs[0].own, t, 0, 30);
	round_at(hs, t, true);
	/* one bad host does not poison the others */
	assert_int_equal(hs[0].kernel, STEER_CIRCUIT_OPEN);
	assert_false(hs[0].by_fleet);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_CLOSED);
	assert_int_equal(hs[2].share.hosts_open, 1);
	circuit_record(&hs[1].own, t + 100, 0, 30);
	round_at(hs, t + 100, true);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_OPEN);
	assert_true(hs[2].by_fleet);
	assert_int_equal(hs[2].own.state, STEER_CIRCUIT_CLOSED);
	assert_false(hs[1].by_fleet);
}

static void test_recovery_closes_everywhere(void **state)
{
	struct host hs[HOSTS];
	uint64_t t = 2000000;

	(void)state;
	a_and_b_trip(hs, t);
	/* the cool-down: A and B go half-open and probe; C stays open, no probes */
	t += STEER_CIRCUIT_COOLDOWN_S_DEFAULT * 1000;
	round_at(hs, t, true);
	assert_int_equal(hs[0].kernel, STEER_CIRCUIT_HALF_OPEN);
	assert_int_equal(hs[1].kernel, STEER_CIRCUIT_HALF_OPEN);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_OPEN);
	assert_int_equal(hs[2].share.hosts_open, 2);	/* half-open still counts */
	/* A's probes succeed: A closes, the count falls under 2, C closes */
	circuit_record(&hs[0].own, t + 100, STEER_CIRCUIT_PROBES_DEFAULT, 0);
	round_at(hs, t + 100, true);
	assert_int_equal(hs[0].kernel, STEER_CIRCUIT_CLOSED);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_CLOSED);
	assert_int_equal(hs[1].kernel, STEER_CIRCUIT_HALF_OPEN);
	/* B's probe fails: B open again alone (1 < 2), the others stay closed */
	circuit_record(&hs[1].own, t + 200, 0, 1);
	round_at(hs, t + 200, true);
	assert_int_equal(hs[1].kernel, STEER_CIRCUIT_OPEN);
	assert_int_equal(hs[0].kernel, STEER_CIRCUIT_CLOSED);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_CLOSED);
}

static void test_redis_away_means_local_only(void **state)
{
	struct host hs[HOSTS];
	uint64_t t = 3000000;

	(void)state;
	a_and_b_trip(hs, t);
	/* Redis lost: the connection says so ... */
	circuit_share_lost(&hs[2].share);
	round_at(hs, t + 100, false);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_CLOSED);
	assert_int_equal(hs[0].kernel, STEER_CIRCUIT_OPEN);	/* its own breaker */
	/* ... or it goes silent: a count older than the ttl is no count */
	round_at(hs, t + 200, true);
	assert_true(hs[2].by_fleet);
	round_at(hs, t + 200 + TTL + 1, false);
	assert_false(hs[2].by_fleet);
	assert_int_equal(hs[2].kernel, STEER_CIRCUIT_CLOSED);
	/* back: it writes again at once (written was reset) */
	circuit_share_lost(&hs[0].share);
	assert_true(circuit_share_due(&hs[0].share, true, t + 200 + TTL + 2));
}

static void test_writes_when_due(void **state)
{
	struct circuit_share s = {};
	uint64_t t = 10000;

	(void)state;
	assert_true(circuit_share_due(&s, false, t));	/* never written */
	circuit_share_sent(&s, t, STEER_FLEET_CIRCUIT_SYNC_MS);
	assert_false(circuit_share_due(&s, true, t));	/* one in flight at a time */
	circuit_share_answer(&s, true, false);
	assert_false(circuit_share_due(&s, false, t + 1));
	assert_true(circuit_share_due(&s, true, t + 1));	/* a change: at once */
	assert_true(circuit_share_due(&s, false, t + STEER_FLEET_CIRCUIT_SYNC_MS));
	circuit_share_sent(&s, t, STEER_FLEET_CIRCUIT_SYNC_MS);
	circuit_share_answer(&s, false, false);	/* failed: again */
	assert_true(circuit_share_due(&s, false, t + 1));
}

static void test_later_redis_time_wins(void **state)
{
	struct circuit_share s = {};

	(void)state;
	assert_true(circuit_share_apply(&s, 2, 500, 1));
	assert_false(circuit_share_apply(&s, 1, 400, 2));	/* older: dropped */
	assert_int_equal(s.hosts_open, 2);
	assert_true(circuit_share_apply(&s, 1, 600, 3));
	assert_false(circuit_share_apply(&s, 1, 600, 4));
	assert_int_equal(s.seen_local_ms, 4);	/* but fresh */
	assert_false(circuit_share_fleet_open(&s, 0, TTL, 4));	/* 0 hosts: never */
	assert_true(circuit_share_fleet_open(&s, 1, TTL, 4));
	/* an answer stamped after the tick's own now (a callback's now_ms())
	 * is fresh, not 584 million years old */
	assert_true(circuit_share_fleet_open(&s, 1, TTL, 3));
}

/* a message only makes the host ask, at most once per HINT_MS: a forged
 * "1000000 hosts" never becomes the count, a flood costs Redis nothing more */
static void test_message_is_a_hint(void **state)
{
	struct circuit_share s = {};
	uint64_t t = 1000;

	(void)state;
	assert_true(circuit_share_apply(&s, 0, 500, t));
	circuit_share_sent(&s, t, STEER_FLEET_CIRCUIT_SYNC_MS);
	circuit_share_answer(&s, true, false);
	assert_false(circuit_share_due(&s, false, t + 1));
	assert_true(circuit_share_hint(&s, t + 1));
	assert_int_equal(s.hosts_open, 0);	/* nothing taken from the message */
	assert_true(circuit_share_due(&s, false, t + 1));
	circuit_share_sent(&s, t + 1, STEER_FLEET_CIRCUIT_SYNC_MS);
	assert_false(circuit_share_hint(&s, t + 2));	/* within HINT_MS */
	assert_false(circuit_share_hint(&s, t + 1 + STEER_FLEET_CIRCUIT_HINT_MS));	/* in flight */
	circuit_share_answer(&s, true, false);
	/* ... but due at the next tick */
	assert_true(circuit_share_due(&s, false, t + 1 + STEER_FLEET_CIRCUIT_HINT_MS));
}

static void test_names_and_messages(void **state)
{
	char buf[STEER_NAME_LEN + 80], pool[STEER_NAME_LEN];
	char long_pool[STEER_NAME_LEN];
	uint64_t ms;
	uint32_t n;
	const char *m;

	(void)state;
	memset(long_pool, 'p', sizeof(long_pool) - 1);
	long_pool[sizeof(long_pool) - 1] = 0;
	assert_int_equal(circuit_share_key(buf, sizeof(buf), "steer", long_pool), 0);
	assert_int_equal(strlen(buf), strlen("steer:{}:open") + STEER_NAME_LEN - 1);
	assert_int_equal(circuit_share_key(buf, 10, "steer", "web"), -1);
	assert_int_equal(circuit_share_channel(buf, sizeof(buf), "a.b"), 0);
	assert_string_equal(buf, "a.b:circuit");

	m = "web 2 1796146829633 host-b 1";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), 0);
	assert_string_equal(pool, "web");
	assert_int_equal(n, 2);
	assert_true(ms == 1796146829633ull);
	snprintf(buf, sizeof(buf), "%s 0 1 h 0", long_pool);
	assert_int_equal(circuit_share_parse(buf, strlen(buf), pool, sizeof(pool), &n, &ms), 0);
	assert_string_equal(pool, long_pool);
	/* hostile: too long a pool, no count, a negative or huge one, NUL, empty */
	snprintf(buf, sizeof(buf), "%sp 0 1 h 0", long_pool);
	assert_int_equal(circuit_share_parse(buf, strlen(buf), pool, sizeof(pool), &n, &ms), -1);
	m = "web";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), -1);
	m = "web -1 5";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), -1);
	m = "web 4294967296 5";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), -1);
	m = "web 2x 5";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), -1);
	assert_int_equal(circuit_share_parse("we\0b 1 5", 8, pool, sizeof(pool), &n, &ms), -1);
	assert_int_equal(circuit_share_parse("", 0, pool, sizeof(pool), &n, &ms), -1);
	m = "web 1 99999999999999999999999";
	assert_int_equal(circuit_share_parse(m, strlen(m), pool, sizeof(pool), &n, &ms), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_hosts_open_the_third),
		cmocka_unit_test(test_recovery_closes_everywhere),
		cmocka_unit_test(test_redis_away_means_local_only),
		cmocka_unit_test(test_writes_when_due),
		cmocka_unit_test(test_later_redis_time_wins),
		cmocka_unit_test(test_message_is_a_hint),
		cmocka_unit_test(test_names_and_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
