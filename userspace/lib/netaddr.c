// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* netaddr.c - see netaddr.h. Plain libc: the test tools and the bench
 * tools link this file alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "netaddr.h"

static const uint8_t mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };

void netaddr_map4(uint8_t addr[16], const void *ip4)
{
	memcpy(addr, mapped_prefix, sizeof(mapped_prefix));
	memcpy(addr + 12, ip4, 4);
}

bool netaddr_is_mapped(const uint8_t addr[16])
{
	return !memcmp(addr, mapped_prefix, sizeof(mapped_prefix));
}

bool netaddr_is_wildcard(const uint8_t addr[16])
{
	static const uint8_t v4_any[16] = { [10] = 0xff, [11] = 0xff }, v6_any[16];

	return !memcmp(addr, v4_any, 16) || !memcmp(addr, v6_any, 16);
}

int netaddr_parse_ip(const char *s, uint8_t addr[16], uint32_t *family)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		netaddr_map4(addr, &v4);
		*family = STEER_FAMILY_V4;
		return NETADDR_OK;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = STEER_FAMILY_V6;
		return NETADDR_OK;
	}
	return NETADDR_EFORM;
}

/* Decimal 1..65535 as strtoull reads it (parse.c's parse_u32 does the
 * same): the whole string, no minus sign. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int netaddr_parse_endpoint(const char *s, struct steer_endpoint *out, const char **port_text)
{
	char buf[NETADDR_ENDPOINT_LEN + 8];
	char *host = buf, *colon;

	if (strlen(s) >= sizeof(buf))
		return NETADDR_EFORM;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return NETADDR_EFORM;
		*close = '\0';
		host = buf + 1;
		colon = close + 1;
	} else {
		colon = strrchr(buf, ':');
		if (!colon)
			return NETADDR_EFORM;
		*colon = '\0';
	}
	if (netaddr_parse_ip(host, out->addr, &out->family))
		return NETADDR_EFORM;
	if ((host == buf) != (out->family == STEER_FAMILY_V4))
		return NETADDR_EFORM;	/* IPv6 goes in brackets, IPv4 does not */
	if (parse_port(colon + 1, &out->port)) {
		if (port_text)
			*port_text = s + (colon + 1 - buf);
		return NETADDR_EPORT;
	}
	return NETADDR_OK;
}

void netaddr_format(const uint8_t addr[16], char *buf, size_t len)
{
	if (netaddr_is_mapped(addr))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
}

void netaddr_format_endpoint(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	netaddr_format(addr, ip, sizeof(ip));
	snprintf(buf, len, netaddr_is_mapped(addr) ? "%s:%u" : "[%s]:%u", ip, port);
}

void netaddr_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	}
}

socklen_t netaddr_to_sockaddr(const struct steer_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == STEER_FAMILY_V4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr + 12, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(ep->port);
	memcpy(&sin6->sin6_addr, ep->addr, 16);
	return sizeof(*sin6);
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct steer_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		netaddr_map4(out->addr, &sin->sin_addr);
		out->family = STEER_FAMILY_V4;
		out->port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		memcpy(out->addr, &sin6->sin6_addr, 16);
		out->family = STEER_FAMILY_V6;
		out->port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -1;
}

bool netaddr_same_endpoint(const uint8_t laddr[16], uint16_t lport,
			   const struct steer_endpoint *ep, bool wildcard)
{
	return lport == ep->port &&
	       (!memcmp(laddr, ep->addr, 16) || (wildcard && netaddr_is_wildcard(laddr)));
}

bool netaddr_endpoint_equal(const struct steer_endpoint *a, const struct steer_endpoint *b)
{
	return a->family == b->family && netaddr_same_endpoint(a->addr, a->port, b, false);
}

int netaddr_listen(const struct steer_endpoint *ep, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = netaddr_to_sockaddr(ep, &ss);
	int one = 1, fd, saved;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
