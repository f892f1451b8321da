// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"

static const char *const policy_names[STEER_POLICY_COUNT] = {
	[STEER_POLICY_LEAST_CONN] = "least-conn",
	[STEER_POLICY_ROUND_ROBIN] = "round-robin",
	[STEER_POLICY_RANDOM] = "random",
	[STEER_POLICY_HASH] = "hash",
};

int parse_name(const char *s, const char *what, char *err)
{
	size_t n = strlen(s);

	if (n == 0 || n >= STEER_NAME_LEN) {
		snprintf(err, STEER_ERR_LEN, "%s name '%s' must be 1 to %d characters", what, s,
			 STEER_NAME_LEN - 1);
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
			snprintf(err, STEER_ERR_LEN,
				 "%s name '%s' may hold only letters, digits, '-', '_' and '.'", what, s);
			return -1;
		}
	}
	return 0;
}

int parse_u32(const char *s, const char *what, uint32_t min, uint32_t max, uint32_t *out, char *err)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max) {
		snprintf(err, STEER_ERR_LEN, "%s '%s' is not a whole number from %u to %u", what, s,
			 min, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int parse_u64(const char *s, const char *what, uint64_t max, uint64_t *out, char *err)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v > max) {
		snprintf(err, STEER_ERR_LEN, "%s '%s' is not a whole number from 0 to %llu", what, s,
			 (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

int parse_positive(const char *s, const char *what, double max, double *out, char *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v > 0) || v > max) {
		snprintf(err, STEER_ERR_LEN, "%s '%s' is not a number above 0 and at most %g", what, s,
			 max);
		return -1;
	}
	*out = v;
	return 0;
}

/* An IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96) names IPv4 addresses
 * in another spelling; services hold each family apart, so refuse it and
 * say the IPv4 form. */
static int mapped_prefix(const struct steer_prefix *p, const char *s, char *err)
{
	char v4[INET6_ADDRSTRLEN];

	netaddr_format(p->addr, v4, sizeof(v4));	/* mapped: the IPv4 form */
	snprintf(err, STEER_ERR_LEN,
		 "prefix '%s' is IPv4-mapped IPv6: write the IPv4 form (%s/%u) instead", s, v4,
		 p->prefixlen - 96);
	return -1;
}

int parse_prefix(const char *s, struct steer_prefix *out, char *err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint32_t max;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (netaddr_parse_ip(buf, out->addr, &out->family))
		goto bad;
	max = out->family == STEER_FAMILY_V4 ? 32 : 128;
	out->prefixlen = max;
	if (slash && parse_u32(slash + 1, "prefix length", 0, max, &out->prefixlen, err))
		return -1;
	/* Host bits must be zero, as `ip route` insists. */
	for (uint32_t bit = prefix_mapped_len(out); bit < 128; bit++) {
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			snprintf(err, STEER_ERR_LEN, "prefix '%s' has host bits set", s);
			return -1;
		}
	}
	if (out->family == STEER_FAMILY_V6 && netaddr_is_mapped(out->addr) && out->prefixlen >= 96)
		return mapped_prefix(out, s, err);
	return 0;
bad:
	snprintf(err, STEER_ERR_LEN, "'%s' is not an IPv4 or IPv6 prefix (ADDR/LEN)", s);
	return -1;
}

uint32_t prefix_mapped_len(const struct steer_prefix *p)
{
	return p->family == STEER_FAMILY_V4 ? 96 + p->prefixlen : p->prefixlen;
}

int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi, char *err)
{
	char buf[32];
	char *dash;
	uint32_t a, b;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_u32(buf, "port", 1, 65535, &a, err))
		return -1;
	b = a;
	if (dash && parse_u32(dash + 1, "port", 1, 65535, &b, err))
		return -1;
	if (b < a)
		goto bad;
	if (b - a + 1 > STEER_MAX_PORT_SPAN) {
		snprintf(err, STEER_ERR_LEN, "port range '%s' spans more than %d ports", s,
			 STEER_MAX_PORT_SPAN);
		return -1;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	snprintf(err, STEER_ERR_LEN, "'%s' is not a port or port range (P or P-Q, P <= Q)", s);
	return -1;
}

int parse_endpoint(const char *s, struct steer_endpoint *out, char *err)
{
	const char *port = NULL;
	uint32_t unused;

	switch (netaddr_parse_endpoint(s, out, &port)) {
	case NETADDR_OK:
		return 0;
	case NETADDR_EPORT:	/* parse_u32 says what is wrong with it */
		if (parse_u32(port, "port", 1, 65535, &unused, err))
			return -1;
		break;
	default:
		break;
	}
	snprintf(err, STEER_ERR_LEN, "'%s' is not an address IP:PORT or [IPv6]:PORT", s);
	return -1;
}

int parse_policy(const char *s, uint32_t *out, char *err)
{
	for (uint32_t i = 0; i < STEER_POLICY_COUNT; i++) {
		if (!strcmp(s, policy_names[i])) {
			*out = i;
			return 0;
		}
	}
	snprintf(err, STEER_ERR_LEN,
		 "policy '%s' is unknown (least-conn, round-robin, random or hash)", s);
	return -1;
}

const char *policy_name(uint32_t policy)
{
	return policy < STEER_POLICY_COUNT ? policy_names[policy] : "unknown";
}

const char *state_name(uint32_t state)
{
	switch (state) {
	case STEER_WORKER_UP: return "up";
	case STEER_WORKER_DRAIN: return "drain";
	case STEER_WORKER_DOWN: return "down";
	default: return "unknown";
	}
}
