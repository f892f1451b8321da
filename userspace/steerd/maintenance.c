// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "loader.h"
#include "maintenance.h"
#include "netaddr.h"

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unavailable";
	}
}

int maintenance_set_response(struct maintenance *m, int status, uint32_t retry_after,
			     const char *body, char *err)
{
	char *text;
	int n;

	n = snprintf(NULL, 0, "HTTP/1.1 %d %s\r\nRetry-After: %u\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     status, reason(status), retry_after, strlen(body), body);
	text = malloc((size_t)n + 1);
	if (!text) {
		snprintf(err, STEER_ERR_LEN, "out of memory");
		return STEER_ESYS;
	}
	snprintf(text, (size_t)n + 1,
		 "HTTP/1.1 %d %s\r\nRetry-After: %u\r\nContent-Type: text/plain\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		 status, reason(status), retry_after, strlen(body), body);
	free(m->response);
	m->response = text;
	m->len = (size_t)n;
	return STEER_OK;
}

int maintenance_open(struct maintenance *m, const struct steer_endpoint *ep, int status,
		     uint32_t retry_after, const char *body, char *err)
{
	char where[80];

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->listen = *ep;
	if (maintenance_set_response(m, status, retry_after, body, err))
		return STEER_ESYS;
	m->fd = netaddr_listen(ep, 4096);
	if (m->fd < 0) {
		netaddr_format_endpoint(ep->addr, ep->port, where, sizeof(where));
		snprintf(err, STEER_ERR_LEN, "cannot listen on %s for the maintenance responder: %s",
			 where, strerror(errno));
		free(m->response);
		m->response = NULL;
		return STEER_ESYS;
	}
	return STEER_OK;
}

void maintenance_serve(struct maintenance *m)
{
	int c;

	/* The answer fits one segment; a client that does not read it still
	 * gets it in its receive buffer before our FIN. */
	while ((c = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (send(c, m->response, m->len, MSG_NOSIGNAL) >= 0)
			m->served++;
		shutdown(c, SHUT_WR);
		close(c);
	}
}

void maintenance_close(struct maintenance *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->response);
	m->fd = -1;
	m->response = NULL;
}
