// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for lib/netaddr.c: every address parse and format
 * once. Round trips (IPv4, IPv6, IPv4-mapped), sockaddr both ways, the
 * matching of listeners, and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "netaddr.h"
#include "parse.h"

/* s parses, formats back to itself, and parses again to the same. */
static void round_trip(const char *s, uint32_t family)
{
	struct steer_endpoint a, b;
	char buf[NETADDR_ENDPOINT_LEN];

	assert_int_equal(netaddr_parse_endpoint(s, &a, NULL), NETADDR_OK);
	assert_int_equal(a.family, family);
	netaddr_format_endpoint(a.addr, a.port, buf, sizeof(buf));
	assert_string_equal(buf, s);
	assert_int_equal(netaddr_parse_endpoint(buf, &b, NULL), NETADDR_OK);
	assert_true(netaddr_endpoint_equal(&a, &b));
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trip("127.0.0.1:80", STEER_FAMILY_V4);
	round_trip("0.0.0.0:1", STEER_FAMILY_V4);
	round_trip("255.255.255.255:65535", STEER_FAMILY_V4);
	round_trip("[::1]:8080", STEER_FAMILY_V6);
	round_trip("[2001:db8::1]:443", STEER_FAMILY_V6);
	round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", STEER_FAMILY_V6);
}

/* The mapped form: "1.2.3.4" and "[::ffff:1.2.3.4]" hold the same bytes,
 * the family tells them apart; the bytes print as IPv4. */
static void test_mapped(void **state)
{
	struct steer_endpoint v4, m;
	uint8_t want[16] = { [10] = 0xff, [11] = 0xff, [12] = 1, 2, 3, 4 }, built[16];
	struct in_addr ip4 = { .s_addr = htonl(0x01020304) };
	char buf[NETADDR_ENDPOINT_LEN];

	(void)state;
	assert_int_equal(netaddr_parse_endpoint("1.2.3.4:80", &v4, NULL), 0);
	assert_int_equal(netaddr_parse_endpoint("[::ffff:1.2.3.4]:80", &m, NULL), 0);
	assert_memory_equal(v4.addr, want, 16);
	assert_memory_equal(m.addr, want, 16);
	netaddr_map4(built, &ip4);
	assert_memory_equal(built, want, 16);
	assert_true(netaddr_is_mapped(m.addr));
	assert_int_equal(v4.family, STEER_FAMILY_V4);
	assert_int_equal(m.family, STEER_FAMILY_V6);
	assert_false(netaddr_endpoint_equal(&v4, &m));
	assert_true(netaddr_same_endpoint(v4.addr, 80, &m, false));
	netaddr_format_endpoint(m.addr, m.port, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4:80");
}

static void sockaddr_trip(const char *s, int af, const char *shown)
{
	struct steer_endpoint ep, back;
	struct sockaddr_storage ss;
	char buf[NETADDR_ENDPOINT_LEN];
	socklen_t len;

	assert_int_equal(netaddr_parse_endpoint(s, &ep, NULL), 0);
	len = netaddr_to_sockaddr(&ep, &ss);
	assert_int_equal(ss.ss_family, af);
	assert_int_equal(len, af == AF_INET ? sizeof(struct sockaddr_in)
					     : sizeof(struct sockaddr_in6));
	netaddr_format_sockaddr((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, shown);
	assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
	assert_true(netaddr_endpoint_equal(&ep, &back));
}

static void test_sockaddr(void **state)
{
	struct sockaddr sa = { .sa_family = AF_UNIX };
	struct steer_endpoint ep;

	(void)state;
	sockaddr_trip("10.1.2.3:9101", AF_INET, "10.1.2.3:9101");
	sockaddr_trip("[fe80::1]:22", AF_INET6, "[fe80::1]:22");
	/* a mapped IPv6 endpoint stays an AF_INET6 socket address */
	sockaddr_trip("[::ffff:10.0.0.1]:80", AF_INET6, "[::ffff:10.0.0.1]:80");
	assert_int_equal(netaddr_from_sockaddr(&sa, &ep), -1);
}

static void test_wildcard(void **state)
{
	struct steer_endpoint ep, any4, any6;

	(void)state;
	assert_int_equal(netaddr_parse_endpoint("127.0.0.1:9101", &ep, NULL), 0);
	assert_int_equal(netaddr_parse_endpoint("0.0.0.0:9101", &any4, NULL), 0);
	assert_int_equal(netaddr_parse_endpoint("[::]:9101", &any6, NULL), 0);
	assert_true(netaddr_is_wildcard(any4.addr));
	assert_true(netaddr_is_wildcard(any6.addr));
	assert_false(netaddr_is_wildcard(ep.addr));
	assert_true(netaddr_same_endpoint(any4.addr, 9101, &ep, true));
	assert_true(netaddr_same_endpoint(any6.addr, 9101, &ep, true));
	assert_false(netaddr_same_endpoint(any4.addr, 9101, &ep, false));
	assert_false(netaddr_same_endpoint(any4.addr, 9102, &ep, true));
	assert_true(netaddr_same_endpoint(ep.addr, 9101, &ep, false));
}

static void test_hostile(void **state)
{
	static const char *const bad[] = {
		"", ":", ":80", "1.2.3.4", "[::1]", "::1:80", "[1.2.3.4]:80",
		"[::1]x:80", "[::1:80", "::1]:80", "1.2.3.4:80:80", "1.2.3:80", "01.2.3.4:80",
		"1.2.3.4 :80", "[ ::1]:80", "localhost:80", "[]:80", "[[::1]]:80",
		"1.2.3.256:80", "[::1%lo]:80", "[gggg::1]:80",
		"1111111111111111111111111111111111111111111111111111111111111111:80",
	};
	static const char *const bad_port[] = {
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80x", "[::1]:99999999999999999999",
		"1.2.3.4:0x50", "[::1]:-80", "1.2.3.4:", "[::1]:",
	};
	struct steer_endpoint ep;
	const char *port;
	char err[STEER_ERR_LEN];
	uint8_t addr[16];
	uint32_t family;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(netaddr_parse_endpoint(bad[i], &ep, NULL), NETADDR_EFORM);
	for (size_t i = 0; i < sizeof(bad_port) / sizeof(bad_port[0]); i++) {
		port = NULL;
		assert_int_equal(netaddr_parse_endpoint(bad_port[i], &ep, &port), NETADDR_EPORT);
		assert_non_null(port);
		assert_string_equal(port, strrchr(bad_port[i], ':') + 1);
		/* parse_endpoint's message is parse_u32's, as before netaddr */
		assert_int_equal(parse_endpoint(bad_port[i], &ep, err), -1);
		assert_non_null(strstr(err, "is not a whole number from 1 to 65535"));
	}
	assert_int_equal(parse_endpoint("::1:80", &ep, err), -1);
	assert_string_equal(err, "'::1:80' is not an address IP:PORT or [IPv6]:PORT");
	assert_int_equal(netaddr_parse_ip("[::1]", addr, &family), NETADDR_EFORM);
	assert_int_equal(netaddr_parse_ip("", addr, &family), NETADDR_EFORM);
	assert_int_equal(netaddr_parse_ip("::", addr, &family), NETADDR_OK);
	assert_int_equal(family, STEER_FAMILY_V6);
}

/* A buffer too small is cut, never overrun. */
static void test_short_buffer(void **state)
{
	struct steer_endpoint ep;
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(netaddr_parse_endpoint("[2001:db8::1]:443", &ep, NULL), 0);
	netaddr_format_endpoint(ep.addr, ep.port, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_wildcard),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
