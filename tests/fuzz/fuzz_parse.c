// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_parse - libFuzzer harness for the CLI's parsers (userspace/lib/parse.c).
 *
 * Input: one selector byte (which parser: digit 0-9), then the argument as
 * an operator would type it (cut at the first NUL: argv holds no NUL).
 * Besides the sanitizers, each parser is held to properties; a failed one
 * aborts with the property, the input and what came out:
 *   - accepted: the value is in range, and formatting it the way steerctl
 *     shows it and parsing that again gives the same value;
 *   - refused: err is non-empty, shorter than STEER_ERR_LEN, and as the
 *     tools print it one line of printable text (no control characters,
 *     raw or as UTF-8 C1). "As printed": through errfmt_escape() when the
 *     build has it (userspace/lib/errfmt.c).
 * FUZZ_SKIP=errfmt,roundtrip leaves those properties out, to look past a
 * known failure.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "defaults.h"
#include "parse.h"

#define ARG_MAX_LEN 512		/* longer than any parser's buffer */
#define RATE_MAX 1e9		/* config's CONF_RATE_MAX */

static const char *skip = "";	/* FUZZ_SKIP */

static void print_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fprintf(stderr, *p < 0x20 || *p >= 0x7f || *p == '\\' ? "\\x%02x" : "%c", *p);
}

/* Property ID failed (unless FUZZ_SKIP names it): say what, and abort. */
static void fail(const char *id, const char *what, const char *parser, const char *arg,
		 const char *detail)
{
	if (strstr(skip, id))
		return;
	fprintf(stderr, "PROPERTY FAILED: %s: %s(\"", parser, what);
	print_escaped(arg);
	fprintf(stderr, "\"): ");
	print_escaped(detail);
	fprintf(stderr, "\n");
	abort();
}

/* The tools' escaping of a message, where the build has one. */
size_t errfmt_escape(char *out, size_t len, const char *in) __attribute__((weak));

/* One line the operator can read: printable, no ESC, no CR/LF, no C1. */
static void check_err(const char *parser, const char *arg, const char *err)
{
	char shown[STEER_ERR_LEN * 8];
	size_t n = strnlen(err, STEER_ERR_LEN);

	if (n == 0 || n >= STEER_ERR_LEN)
		fail("err", "refused with an empty or unterminated error", parser, arg, err);
	if (errfmt_escape)
		errfmt_escape(shown, sizeof(shown), err);
	else
		snprintf(shown, sizeof(shown), "%s", err);
	for (const unsigned char *p = (const unsigned char *)shown; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			fail("errfmt", "error is not one line of printable text", parser, arg, shown);
	}
}

static void u32_case(const char *arg, uint32_t min, uint32_t max, char *err)
{
	char again[16];
	uint32_t v, w;

	if (parse_u32(arg, "number", min, max, &v, err)) {
		check_err("parse_u32", arg, err);
		return;
	}
	if (v < min || v > max)
		fail("range", "accepted a value out of range", "parse_u32", arg, "");
	snprintf(again, sizeof(again), "%u", v);
	if (parse_u32(again, "number", min, max, &w, err) || w != v)
		fail("roundtrip", "format -> parse differs", "parse_u32", arg, again);
}

static void u64_case(const char *arg, char *err)
{
	char again[24];
	uint64_t v, w;

	if (parse_u64(arg, "quota", STEER_QUOTA_MAX, &v, err)) {
		check_err("parse_u64", arg, err);
		return;
	}
	if (v > STEER_QUOTA_MAX)
		fail("range", "accepted a value out of range", "parse_u64", arg, "");
	snprintf(again, sizeof(again), "%llu", (unsigned long long)v);
	if (parse_u64(again, "quota", STEER_QUOTA_MAX, &w, err) || w != v)
		fail("roundtrip", "format -> parse differs", "parse_u64", arg, again);
}

static void positive_case(const char *arg, char *err)
{
	char again[40];
	double v, w;

	if (parse_positive(arg, "rate", RATE_MAX, &v, err)) {
		check_err("parse_positive", arg, err);
		return;
	}
	if (!(v > 0) || v > RATE_MAX)
		fail("range", "accepted a value out of range", "parse_positive", arg, "");
	snprintf(again, sizeof(again), "%.17g", v);
	if (parse_positive(again, "rate", RATE_MAX, &w, err) || w != v)
		fail("roundtrip", "format -> parse differs", "parse_positive", arg, again);
}

static void name_case(const char *arg, char *err)
{
	size_t n = strlen(arg);

	if (parse_name(arg, "worker", err)) {
		check_err("parse_name", arg, err);
		return;
	}
	if (n == 0 || n >= STEER_NAME_LEN)
		fail("range", "accepted a name of a bad length", "parse_name", arg, "");
	for (const char *p = arg; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *p))
			fail("range", "accepted a name with a bad character", "parse_name", arg, "");
}

/* steerctl shows a service's prefix as netaddr_format(addr) "/" prefixlen */
static void prefix_case(const char *arg, char *err)
{
	struct steer_prefix p, q;
	char again[INET6_ADDRSTRLEN + 8];

	if (parse_prefix(arg, &p, err)) {
		check_err("parse_prefix", arg, err);
		return;
	}
	if (p.prefixlen > (p.family == STEER_FAMILY_V4 ? 32u : 128u))
		fail("range", "accepted a prefix length out of range", "parse_prefix", arg, "");
	netaddr_format(p.addr, again, sizeof(again));
	snprintf(again + strlen(again), sizeof(again) - strlen(again), "/%u", p.prefixlen);
	if (parse_prefix(again, &q, err))
		fail("roundtrip", "the prefix as listed does not parse again", "parse_prefix", arg, again);
	if (q.family != p.family || q.prefixlen != p.prefixlen || memcmp(q.addr, p.addr, 16))
		fail("roundtrip", "format -> parse differs", "parse_prefix", arg, again);
}

static void port_range_case(const char *arg, char *err)
{
	char again[16];
	uint16_t lo, hi, lo2, hi2;

	if (parse_port_range(arg, &lo, &hi, err)) {
		check_err("parse_port_range", arg, err);
		return;
	}
	if (lo == 0 || hi < lo || hi - lo + 1 > STEER_MAX_PORT_SPAN)
		fail("range", "accepted a bad range", "parse_port_range", arg, "");
	if (lo == hi)
		snprintf(again, sizeof(again), "%u", lo);
	else
		snprintf(again, sizeof(again), "%u-%u", lo, hi);
	if (parse_port_range(again, &lo2, &hi2, err) || lo2 != lo || hi2 != hi)
		fail("roundtrip", "format -> parse differs", "parse_port_range", arg, again);
}

/* steerctl shows a worker's listener with netaddr_format_endpoint */
static void endpoint_case(const char *arg, char *err)
{
	struct steer_endpoint e, f;
	char again[INET6_ADDRSTRLEN + 16];

	if (parse_endpoint(arg, &e, err)) {
		check_err("parse_endpoint", arg, err);
		return;
	}
	if (e.port == 0)
		fail("range", "accepted port 0", "parse_endpoint", arg, "");
	netaddr_format_endpoint(e.addr, e.port, again, sizeof(again));
	if (parse_endpoint(again, &f, err))
		fail("roundtrip", "the endpoint as listed does not parse again", "parse_endpoint", arg, again);
	if (f.family != e.family || f.port != e.port || memcmp(f.addr, e.addr, 16))
		fail("roundtrip", "format -> parse differs", "parse_endpoint", arg, again);
}

static void policy_case(const char *arg, char *err)
{
	uint32_t v;

	if (parse_policy(arg, &v, err)) {
		check_err("parse_policy", arg, err);
		return;
	}
	if (v >= STEER_POLICY_COUNT || strcmp(policy_name(v), arg))
		fail("range", "policy_name of the result is not the input", "parse_policy", arg, "");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("FUZZ_SKIP");

	(void)argc;
	(void)argv;
	skip = s ? s : "";
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char arg[ARG_MAX_LEN + 1], err[STEER_ERR_LEN];
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1 > ARG_MAX_LEN ? ARG_MAX_LEN : size - 1;
	memcpy(arg, data + 1, n);
	arg[n] = '\0';	/* and cut at the first NUL, as argv would */
	memset(err, 0, sizeof(err));
	switch ((uint8_t)(data[0] - (uint8_t)'0') % 10) {	/* "0name", "6::/0" ... */
	case 0: name_case(arg, err); break;
	case 1: u32_case(arg, 1, 65535, err); break;		/* a port */
	case 2: u32_case(arg, 0, STEER_WEIGHT_MAX, err); break;	/* a weight */
	case 3: u32_case(arg, 0, UINT32_MAX, err); break;	/* maxconn */
	case 4: u64_case(arg, err); break;
	case 5: positive_case(arg, err); break;
	case 6: prefix_case(arg, err); break;
	case 7: port_range_case(arg, err); break;
	case 8: endpoint_case(arg, err); break;
	case 9: policy_case(arg, err); break;
	}
	return 0;
}
