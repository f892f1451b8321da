/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sockets.h - find a worker's listening socket and take a copy of its fd. */
#ifndef STEER_SOCKETS_H
#define STEER_SOCKETS_H

#include <stdint.h>
#include "parse.h"

struct listener {
	int fd;			/* our copy: close it once it is in the map */
	uint32_t pid;
	uint64_t cookie;
	uint32_t family_mask;	/* STEER_FAMILY_*: what sk_assign accepts */
	uint8_t addr[16];	/* IPv4-mapped for IPv4 */
	uint16_t port;
};

/* The process listening on ep in this network namespace (exact address
 * first, then a wildcard one on the same port). */
int listener_take_by_addr(const struct steer_endpoint *ep, uint64_t netns_ino,
			  struct listener *out, char *err);
int listener_take_by_fd(uint32_t pid, uint32_t fd, uint64_t netns_ino, struct listener *out,
			char *err);
/* fd, passed to this process (sd_listen_fds), into out (which worker_add
 * closes; closed here on error). Its pid is the other process that holds
 * the socket (the worker), not this one nor pid 1 (systemd); 0 if none. */
int listener_take_passed(int fd, uint64_t netns_ino, struct listener *out, char *err);

#endif
