/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* maintenance.h - steerd's own listener that answers every connection with
 * a fixed HTTP response (default 503 + Retry-After): a fallback that tells
 * clients to come back rather than resetting them. */
#ifndef STEER_MAINTENANCE_H
#define STEER_MAINTENANCE_H

#include <stddef.h>
#include <stdint.h>
#include "parse.h"

struct maintenance {
	int fd;			/* listening socket */
	struct steer_endpoint listen;	/* where fd listens */
	char *response;
	size_t len;
	uint64_t served;
};

int maintenance_open(struct maintenance *m, const struct steer_endpoint *ep, int status,
		     uint32_t retry_after, const char *body, char *err);
/* The answer alone (m->response, m->len), for a reload that changes it:
 * the old one is freed on success, kept on failure. */
int maintenance_set_response(struct maintenance *m, int status, uint32_t retry_after,
			     const char *body, char *err);
/* Accept what is waiting and answer it; call when fd is readable. */
void maintenance_serve(struct maintenance *m);
void maintenance_close(struct maintenance *m);

#endif
