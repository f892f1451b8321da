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
 * /metrics returns the last published text, /healthz the loop's liveness
 * (metrics_server_alive); any other path is 404, other methods 405, and
 * /metrics before the first publish 503.
 */
#ifndef STEER_METRICS_H
#define STEER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdio.h>
#include "netaddr.h"
#include "resources.h"
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

/* ---- the table (metrics_table.c) ----------------------------------------
 * Every series steerd serves, written once in a table that drives both the
 * page (metrics_render) and the METRICS section of steerd(8) (metrics_doc).
 * The views are plain data: exporter.c fills them from the maps and
 * steerd's state each interval, a test by hand. */

/* One worker of the maps (steerd's or an operator's). */
struct metrics_worker {
	struct steer_worker cfg;
	struct steer_worker_stats st;
	bool stats_ok;
	bool alive;			/* its listener is in the SOCKMAP */
	uint64_t pending;		/* worker_stats_pending now */
	char pool[STEER_NAME_LEN];
	char listener[NETADDR_ENDPOINT_LEN];
	/* steerd's view; all false for a worker its file does not name */
	bool in_file;
	bool checked, check_up;		/* has a health check; its rise/fall verdict */
	bool check_done;		/* a check finished: check_seconds holds its duration */
	double check_seconds;
	bool sampled;			/* res holds its last resource sample */
	struct resource_sample res;
	uint32_t res_factor;		/* per-mille */
	uint64_t lobby_taken;		/* connections it took from its pool's lobby */
};

/* One pool of the maps. */
struct metrics_pool {
	struct steer_pool cfg;
	char fallback[STEER_NAME_LEN];	/* "" when none */
	bool stats_ok, limits_ok, budget_ok;
	struct steer_pool_stats st;
	struct steer_pool_limits lim;
	struct steer_pool_budget bud;
	uint32_t usable;		/* members that may take a new connection now */
	bool lobby_on, lobby_alive;	/* a lobby registered; its socket still open */
	struct steer_lobby lobby;
	struct steer_lobby_stats lobby_st;	/* zero unless of the lobby's generation */
	char lobby_addr[NETADDR_ENDPOINT_LEN];	/* "" when none */
	bool judged;			/* steerd keeps its circuit: the fields below hold */
	double error_ratio;
	uint64_t reports_ok, reports_err;
	uint32_t own_circuit;		/* steerd's own breaker (judged) */
	bool fleet_known;		/* fleet_hosts_open is Redis's count */
	uint32_t fleet_hosts_open;
};

/* One service of the maps. */
struct metrics_service {
	struct steer_service cfg;
	char pool[STEER_NAME_LEN];
	char prefix[NETADDR_ENDPOINT_LEN];	/* "10.0.0.1/32" */
	char ports[16];				/* "80" or "80-89" */
	struct steer_service_stats st;
	struct steer_service_refusals rf;
};

/* steerd itself. */
struct metrics_daemon {
	double start_s;			/* Unix time it started */
	double rendered_s;		/* Unix time of this render: its loop's pulse */
	uint64_t reloads, reload_failures;
	double last_reload_ok_s;	/* Unix time of the last load that took (the start's too) */
	uint64_t generation;		/* loads that took, the start's included */
	char config_hash[17];		/* of the desired state, hex */
	uint64_t maintenance_served;
};

struct metrics_view {
	const struct metrics_worker *w;
	size_t nw;
	const struct metrics_pool *p;
	size_t np;
	const struct metrics_service *s;
	size_t ns;
	struct metrics_daemon d;
};

/* Every family of the table, in its order, with the view's samples. */
void metrics_render(struct metrics_buf *b, const struct metrics_view *v);

/* The table as man(7) text: a tagged paragraph per family (name, type,
 * labels, help), for steerd(8)'s METRICS section. */
void metrics_doc(FILE *out);

/* steerd(8)'s text between METRICS_DOC_BEGIN and METRICS_DOC_END is what
 * metrics_doc prints: 0 yes (or rewritten when write), 1 no, -1 cannot. */
#define METRICS_DOC_BEGIN ".\\\" metrics: begin (make docs writes this list)\n"
#define METRICS_DOC_END ".\\\" metrics: end\n"
int metrics_doc_update(const char *path, bool write);

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

/* The event loop is alive now: GET /healthz answers 200 "ok" until max_age_ms
 * pass without another call, then 503 (a stopped or stuck loop, even while
 * this server's own thread still answers). Before the first call: 503.
 * Thread-safe. */
void metrics_server_alive(struct metrics_server *s, uint32_t max_age_ms);

/* Stops the thread, closes every connection and frees s. NULL is fine. */
void metrics_server_stop(struct metrics_server *s);

#endif
