/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* netaddr.h - every address parse and format, once: the tools, the daemon,
 * the test tools and the benchmarks all go through these. No messages
 * here: a caller says what was wrong in its own words (parse.c for the
 * operator's, "Error: ..." in the tools).
 *
 * An address is held as the maps hold it: 16 bytes, IPv4 in the
 * IPv4-mapped form ::ffff:a.b.c.d, with its family beside it (the bytes
 * of "1.2.3.4" and "::ffff:1.2.3.4" are the same; the family is not). */
#ifndef STEER_NETADDR_H
#define STEER_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "steer.h"

/* Room for "[IPv6]:PORT" and its NUL. */
#define NETADDR_ENDPOINT_LEN	(INET6_ADDRSTRLEN + 8)

struct steer_endpoint {
	uint8_t addr[16];	/* IPv4-mapped for IPv4 */
	uint32_t family;	/* STEER_FAMILY_V4 / _V6 */
	uint16_t port;		/* host order */
};

/* Results of the parsers: 0, or what was wrong. */
enum netaddr_error {
	NETADDR_OK = 0,
	NETADDR_EFORM = -1,	/* not IP:PORT / [IPv6]:PORT / an IP at all */
	NETADDR_EPORT = -2,	/* the form is right, the port is not 1..65535 */
};

/* addr = ::ffff:ip4 (ip4: 4 bytes, network order) */
void netaddr_map4(uint8_t addr[16], const void *ip4);
/* addr is IPv4-mapped (::ffff:0:0/96) */
bool netaddr_is_mapped(const uint8_t addr[16]);
/* 0.0.0.0 (mapped) or ::, what a wildcard listener is bound to */
bool netaddr_is_wildcard(const uint8_t addr[16]);

/* A numeric IPv4 or IPv6 address, no brackets: 0 or NETADDR_EFORM. */
int netaddr_parse_ip(const char *s, uint8_t addr[16], uint32_t *family);
/* "IPv4:PORT" or "[IPv6]:PORT" (IPv6 only in brackets, IPv4 never), PORT
 * decimal 1..65535. NETADDR_EPORT sets *port_text (may be NULL) to the
 * port as written, for the caller's message. */
int netaddr_parse_endpoint(const char *s, struct steer_endpoint *out, const char **port_text);

/* "10.0.0.1", "2001:db8::1": a mapped address prints as IPv4. */
void netaddr_format(const uint8_t addr[16], char *buf, size_t len);
/* "10.0.0.1:80", "[2001:db8::1]:80" (NETADDR_ENDPOINT_LEN is enough) */
void netaddr_format_endpoint(const uint8_t addr[16], uint16_t port, char *buf, size_t len);
/* The same for a socket address, by its family: an AF_INET6 one prints in
 * brackets even when it holds a mapped IPv4 address. */
void netaddr_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/* ep as a socket address of its family, port set; returns its length. */
socklen_t netaddr_to_sockaddr(const struct steer_endpoint *ep, struct sockaddr_storage *ss);
/* An AF_INET or AF_INET6 socket address as an endpoint: -1 for another
 * family. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct steer_endpoint *out);

/* A non-blocking, close-on-exec TCP listener on ep (SO_REUSEADDR), with
 * this backlog: its fd, or -1 with errno set. */
int netaddr_listen(const struct steer_endpoint *ep, int backlog);

/* Does the listener at (laddr, lport) stand for ep? The same port and the
 * same 16 bytes, or with wildcard also a listener bound to 0.0.0.0 or ::
 * (it takes ep's connections too): how a worker in the maps is matched
 * to a configured address. */
bool netaddr_same_endpoint(const uint8_t laddr[16], uint16_t lport,
			   const struct steer_endpoint *ep, bool wildcard);
/* Two configured endpoints are one: family, address and port ("1.2.3.4"
 * and "::ffff:1.2.3.4" differ). */
bool netaddr_endpoint_equal(const struct steer_endpoint *a, const struct steer_endpoint *b);

#endif /* STEER_NETADDR_H */
