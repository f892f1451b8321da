/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* metrics.h - Prometheus text exposition (format 0.0.4) and a tiny HTTP
 * endpoint that serves it.
 *
 * Building the text, one family at a time:
 *
 *	struct metrics_buf *b = metrics_buf_new();
 *	metrics_family(b, "steer_worker_outstanding", "gauge", "Open connections.");
 *	metrics_sample(b, "steer_worker_outstanding", 3, "pool", "agents", "worker", "a1", NULL);
 *	metrics_sample(b, "steer_worker_outstanding", 0, "pool", "agents", "worker", "a2", NULL);
 *	metrics_family(b, "steer_worker_steered_total", "counter", "Connections steered.");
 *	...
 *	text = metrics_buf_text(b, &len);	NULL: misuse or no memory, see metrics_buf_error
 *	metrics_server_publish(srv, text, len);
 *	metrics_buf_free(b);
 *
 * The builder only writes valid text: HELP and TYPE once per family, each
 * family's samples together under it, names checked, label values and HELP
 * escaped. A mistake (a bad or repeated name, a sample outside its family,
 * a counter not ending in _total, no HELP text) is sticky: metrics_buf_text
 * then returns NULL, so a half-valid page is never served. Values are printed with "%g"
 * in the C locale's format; steerd must not setlocale(LC_NUMERIC).
 *
 * The server runs libmicrohttpd with its own thread. GET (or HEAD) of
 * /metrics returns the last published text; any other path is 404, other
 * methods 405, and /metrics before the first publish 503.
 */
#ifndef STEER_METRICS_H
#define STEER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "steer.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Connections the endpoint holds: a scrape is one small request. Per
 * client address first, so that one local user holding connections open
 * cannot starve a scraper from another address; the idle timeout closes
 * what sends nothing. A client with many addresses (any local user has all
 * of 127.0.0.0/8) that keeps each connection busy is bounded only by the
 * global limit: firewall the port (e.g. nftables `meta skuid`) where local
 * users are not trusted. */
#define METRICS_MAX_CONNECTIONS		256
#define METRICS_MAX_PER_ADDRESS		4
#define METRICS_IDLE_TIMEOUT_S		5
#define METRICS_CONN_MEMORY		(16 * 1024)	/* request buffer per connection */

struct metrics_buf;

struct metrics_buf *metrics_buf_new(void);
void metrics_buf_free(struct metrics_buf *b);	/* NULL is fine */

/* Starts a family: type is "gauge" or "counter" (whose name must end in
 * _total); help is required (promtool's lint wants it). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/* One sample of the current family: name, value, then label name/value
 * pairs ending with NULL. A NULL label value is written as "". */
void metrics_sample(struct metrics_buf *b, const char *name, double value, ...)
	__attribute__((sentinel));

/* The same with n labels in arrays. */
void metrics_sample_v(struct metrics_buf *b, const char *name, double value, size_t n,
		      const char *const keys[], const char *const values[]);

/* The text so far, NUL-terminated; NULL after a mistake or a failed
 * allocation. len (may be NULL) gets its length. */
const char *metrics_buf_text(const struct metrics_buf *b, size_t *len);

/* The first mistake, or NULL. */
const char *metrics_buf_error(const struct metrics_buf *b);

/* One service's kernel counters, as the metrics show them. */
struct metrics_service {
	char name[STEER_NAME_LEN];
	struct steer_service_stats st;
	struct steer_service_refusals rf;
};

/* Every service in the maps into out (STEER_MAX_SERVICES entries); returns
 * how many. */
struct steer_maps;
size_t metrics_read_services(const struct steer_maps *m, struct metrics_service *out);

/* The families steer_service_lookups_total{service} and
 * steer_service_refused_total{service,cause}: one sample per cause
 * (steer_refusal_names), so their sum is the service's refusals. */
void metrics_services(struct metrics_buf *b, const struct metrics_service *s, size_t n);

struct metrics_server;

/* Listens on addr (IPv4 or IPv6; port 0 picks one, see metrics_server_port).
 * Returns NULL with a reason in err. */
struct metrics_server *metrics_server_start(const struct sockaddr *addr, socklen_t len, char *err,
					    size_t errlen);

/* The port it listens on, in host order. */
uint16_t metrics_server_port(const struct metrics_server *s);

/* The address it was started on, as given (a reload compares it). */
const struct sockaddr *metrics_server_addr(const struct metrics_server *s, socklen_t *len);

/* Serves a copy of text from now on. Thread-safe; requests in flight finish
 * with the text they started with. Returns 0, or -ENOMEM (the old text
 * stays). */
int metrics_server_publish(struct metrics_server *s, const char *text, size_t len);

/* Stops the thread, closes every connection and frees s. NULL is fine. */
void metrics_server_stop(struct metrics_server *s);

#endif
