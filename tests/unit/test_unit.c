// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for the pure userspace modules: parsers, tables, JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "json.h"
#include "parse.h"
#include "table.h"
#include "bucket.h"

static void test_names(void **state)
{
	char err[STEER_ERR_LEN];

	(void)state;
	assert_int_equal(parse_name("api-v2.blue_1", "pool", err), 0);
	assert_int_equal(parse_name("", "pool", err), -1);
	assert_int_equal(parse_name("has space", "pool", err), -1);
	assert_non_null(strstr(err, "pool name 'has space'"));
	assert_int_equal(parse_name("0123456789012345678901234567890", "w", err), 0);
	assert_int_equal(parse_name("01234567890123456789012345678901", "w", err), -1);
}

static void test_numbers(void **state)
{
	char err[STEER_ERR_LEN];
	uint32_t v;

	(void)state;
	assert_int_equal(parse_u32("10000", "weight", 0, 10000, &v, err), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(parse_u32("10001", "weight", 0, 10000, &v, err), -1);
	assert_int_equal(parse_u32("-1", "weight", 0, 10000, &v, err), -1);
	assert_int_equal(parse_u32("12x", "weight", 0, 10000, &v, err), -1);
	assert_int_equal(parse_u32("", "weight", 0, 10000, &v, err), -1);
	assert_int_equal(parse_u32("99999999999999999999", "n", 0, UINT32_MAX, &v, err), -1);
}

static void test_prefixes(void **state)
{
	char err[STEER_ERR_LEN], buf[64];
	struct steer_prefix p;

	(void)state;
	assert_int_equal(parse_prefix("10.1.0.0/16", &p, err), 0);
	assert_int_equal(p.family, STEER_FAMILY_V4);
	assert_int_equal(p.prefixlen, 16);
	assert_int_equal(prefix_mapped_len(&p), 112);
	assert_int_equal(p.addr[10], 0xff);
	assert_int_equal(p.addr[12], 10);
	netaddr_format(p.addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.0");
	assert_int_equal(parse_prefix("10.1.0.1", &p, err), 0);
	assert_int_equal(p.prefixlen, 32);
	assert_int_equal(parse_prefix("2001:db8::/32", &p, err), 0);
	assert_int_equal(p.family, STEER_FAMILY_V6);
	assert_int_equal(prefix_mapped_len(&p), 32);
	assert_int_equal(parse_prefix("10.1.0.1/16", &p, err), -1);
	assert_non_null(strstr(err, "host bits"));
	assert_int_equal(parse_prefix("10.0.0.0/33", &p, err), -1);
	assert_int_equal(parse_prefix("2001:db8::/129", &p, err), -1);
	assert_int_equal(parse_prefix("nonsense/8", &p, err), -1);
	/* IPv4-mapped IPv6 is IPv4 in another spelling: refused, with the IPv4 form */
	assert_int_equal(parse_prefix("::ffff:0.0.0.0/96", &p, err), -1);
	assert_non_null(strstr(err, "IPv4-mapped"));
	assert_non_null(strstr(err, "(0.0.0.0/0)"));
	assert_int_equal(parse_prefix("::ffff:10.0.0.0/104", &p, err), -1);
	assert_non_null(strstr(err, "(10.0.0.0/8)"));
	assert_int_equal(parse_prefix("::ffff:10.1.2.3", &p, err), -1);
	assert_non_null(strstr(err, "(10.1.2.3/32)"));
	assert_int_equal(parse_prefix("::ffff:0:0/96", &p, err), -1);
	assert_int_equal(parse_prefix("::ffff:10.0.0.0/100", &p, err), -1);
	assert_non_null(strstr(err, "host bits"));
	/* prefixes around the mapped space are IPv6 and stay so */
	assert_int_equal(parse_prefix("::/0", &p, err), 0);
	assert_int_equal(p.family, STEER_FAMILY_V6);
	assert_int_equal(parse_prefix("::/80", &p, err), 0);
	assert_int_equal(parse_prefix("::fffe:0:0/96", &p, err), 0);
	assert_int_equal(parse_prefix("::1:ffff:0:0/96", &p, err), 0);
	assert_int_equal(parse_prefix("::ffff:0:0/95", &p, err), -1);
	assert_non_null(strstr(err, "host bits"));
}

/* The refill against exact 128-bit arithmetic: whole microseconds at
 * rate, capped at the burst, for the extremes the config takes. */
static __u64 refill_exact(__u64 tokens, __u64 burst, __u64 rate, __u64 elapsed_ns)
{
	unsigned __int128 add = (unsigned __int128)(elapsed_ns / 1000) * rate / 1000000;

	if (tokens >= burst)
		return burst;
	return add >= burst - tokens ? burst : tokens + (__u64)add;
}

static void test_bucket_refill(void **state)
{
	const __u64 rates[] = { 1, 999, 1000, 200000, 184000000ull, 1000000000ull,
				10000000000ull, 1000000000000ull };	/* x1000: up to 1e9/s */
	const __u64 bursts[] = { 1000, 5000, 1000000ull, 10000000000ull, 4294967295000ull };
	const __u64 elapsed[] = { 0, 1, 999, 1000, 1001, 123456789ull, 1840000000ull,
				  18400000000ull, 25000000000ull, 99000000000ull, 1ull << 62 };
	__u64 used, t, seed = 42;

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++)
		for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++)
			for (size_t e = 0; e < sizeof(elapsed) / sizeof(elapsed[0]); e++)
				for (__u64 f = 0; f <= 4; f++) {
					__u64 tok = bursts[b] / 4 * f;

					t = bucket_refill(tok, bursts[b], rates[r], elapsed[e], &used);
					assert_true(t <= bursts[b]);
					assert_true(t >= tok || tok > bursts[b]);
					assert_int_equal(t, refill_exact(tok, bursts[b], rates[r],
									 elapsed[e]));
					assert_true(used <= elapsed[e]);
				}
	/* 1e9/s, burst 1e9, empty, 1 s idle: full (the old product wrapped) */
	assert_int_equal(bucket_refill(0, 1000000000000ull, 1000000000000ull, 1000000000ull, &used),
			 1000000000000ull);
	/* 200,000/s, empty, 50 s: full */
	assert_int_equal(bucket_refill(0, 5000, 200000000ull, 50000000000ull, &used), 5000);
	/* random cases */
	for (int i = 0; i < 200000; i++) {
		__u64 burst, rate, tok, el;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		burst = 1000 + (seed >> 20) % 4294967295000ull;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		rate = 1 + (seed >> 24) % 1000000000000ull;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		tok = (seed >> 16) % (burst + 1);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		el = (seed >> (seed & 31));
		t = bucket_refill(tok, burst, rate, el, &used);
		assert_int_equal(t, refill_exact(tok, burst, rate, el));
	}
	/* steps of 1.5 us at 1e6/s carry their half microseconds: 1,000
	 * steps accrue 1,500 us of tokens, not 1,000 */
	t = 0;
	{
		__u64 clock = 0, now = 0;

		for (int i = 0; i < 1000; i++) {
			now += 1500;
			t = bucket_refill(t, 1ull << 40, 1000000000ull, now - clock, &used);
			clock += used;
		}
	}
	assert_int_equal(t, 1500ull * 1000);
}

static void test_ports_and_endpoints(void **state)
{
	char err[STEER_ERR_LEN], buf[80];
	struct steer_endpoint ep;
	uint16_t lo, hi;

	(void)state;
	assert_int_equal(parse_port_range("80", &lo, &hi, err), 0);
	assert_true(lo == 80 && hi == 80);
	assert_int_equal(parse_port_range("8000-8010", &lo, &hi, err), 0);
	assert_true(lo == 8000 && hi == 8010);
	assert_int_equal(parse_port_range("90-80", &lo, &hi, err), -1);
	assert_int_equal(parse_port_range("0", &lo, &hi, err), -1);
	assert_int_equal(parse_port_range("1-65535", &lo, &hi, err), -1);	/* span */
	assert_int_equal(parse_endpoint("127.0.0.1:9001", &ep, err), 0);
	assert_int_equal(ep.port, 9001);
	netaddr_format_endpoint(ep.addr, ep.port, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:9001");
	assert_int_equal(parse_endpoint("[::1]:443", &ep, err), 0);
	assert_int_equal(ep.family, STEER_FAMILY_V6);
	netaddr_format_endpoint(ep.addr, ep.port, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:443");
	assert_int_equal(parse_endpoint("::1:443", &ep, err), -1);
	assert_int_equal(parse_endpoint("127.0.0.1", &ep, err), -1);
	assert_int_equal(parse_endpoint("127.0.0.1:0", &ep, err), -1);
}

static void test_policies(void **state)
{
	char err[STEER_ERR_LEN];
	uint32_t p;

	(void)state;
	for (uint32_t i = 0; i < STEER_POLICY_COUNT; i++) {
		assert_int_equal(parse_policy(policy_name(i), &p, err), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(parse_policy("fastest", &p, err), -1);
}

static uint32_t count_id(const uint32_t *table, uint32_t len, uint32_t id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < len; i++)
		n += table[i] == id;
	return n;
}

static void test_weighted_table(void **state)
{
	struct table_member m[] = { { 7, 90, "big" }, { 9, 10, "small" }, { 11, 0, "off" } };
	uint32_t *table = calloc(STEER_TABLE_SIZE, sizeof(*table)), len;

	(void)state;
	table_build_weighted(m, 3, table, &len);
	assert_true(len > 0 && len <= STEER_TABLE_SIZE);
	assert_int_equal(len % 10, 0);	/* whole 9:1 cycles */
	assert_int_equal(count_id(table, len, 7) * 10, len * 9);
	assert_int_equal(count_id(table, len, 11), 0);
	/* smooth: the small worker never gets two slots in a row */
	for (uint32_t i = 1; i < len; i++)
		assert_false(table[i] == 9 && table[i - 1] == 9);
	m[0].weight = m[1].weight = 0;
	table_build_weighted(m, 3, table, &len);
	assert_int_equal(len, 0);
	free(table);
}

static void build_maglev(size_t n, const char **names, uint32_t *table)
{
	struct table_member m[16];
	uint32_t len;

	for (size_t i = 0; i < n; i++)
		m[i] = (struct table_member){ .id = (uint32_t)i + 100, .weight = 1, .name = names[i] };
	assert_int_equal(table_build_maglev(m, n, table, &len), 0);
	assert_int_equal(len, STEER_TABLE_SIZE);
}

static void test_maglev(void **state)
{
	const char *names[] = { "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8" };
	const char *without3[] = { "w1", "w2", "w4", "w5", "w6", "w7", "w8" };
	const char *shuffled[] = { "w8", "w3", "w1", "w7", "w2", "w6", "w4", "w5" };
	uint32_t *a = calloc(STEER_TABLE_SIZE, 4), *b = calloc(STEER_TABLE_SIZE, 4);
	uint32_t moved = 0, lost = 0;

	(void)state;
	build_maglev(8, names, a);
	for (uint32_t id = 100; id < 108; id++) {
		uint32_t n = count_id(a, STEER_TABLE_SIZE, id);

		/* Maglev balances slots to within one of the even share */
		assert_true(n + 1 >= STEER_TABLE_SIZE / 8 && n <= STEER_TABLE_SIZE / 8 + 1);
	}
	build_maglev(8, shuffled, b);
	/* ids differ with order, so compare by name */
	for (uint32_t s = 0; s < STEER_TABLE_SIZE; s++)
		assert_string_equal(names[a[s] - 100], shuffled[b[s] - 100]);
	build_maglev(7, without3, b);
	for (uint32_t s = 0; s < STEER_TABLE_SIZE; s++) {
		const char *before = names[a[s] - 100], *after = without3[b[s] - 100];

		if (!strcmp(before, "w3"))
			lost++;
		else if (strcmp(before, after))
			moved++;
	}
	/* only w3's slots must move; Maglev moves a few others */
	assert_true(lost > 0);
	assert_true(moved * 100 < STEER_TABLE_SIZE * 2);
	free(a);
	free(b);
}

static void test_json(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	(void)state;
	json_init(&j, f);
	json_object_begin(&j, NULL);
	json_string(&j, "name", "a\"b\\c\n");
	json_array_begin(&j, "list");
	json_uint(&j, NULL, 1);
	json_int(&j, NULL, -2);
	json_null(&j, NULL);
	json_array_end(&j);
	json_object_end(&j);
	fclose(f);
	assert_string_equal(buf, "{\"name\":\"a\\\"b\\\\c\\u000a\",\"list\":[1,-2,null]}\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_bucket_refill),
		cmocka_unit_test(test_ports_and_endpoints),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_weighted_table),
		cmocka_unit_test(test_maglev),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
