// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* metrics.c - Prometheus text format 0.0.4, and /metrics over libmicrohttpd.
 * https://prometheus.io/docs/instrumenting/exposition_formats/ */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include <bpf/bpf.h>
#include "errfmt.h"
#include "json.h"
#include "metrics.h"
#include "netaddr.h"

#define METRICS_ERR_LEN	160
#define MAX_LABELS	16

struct metrics_buf {
	char *data;
	size_t len, cap;
	char **families;	/* every family written, to refuse a second one */
	size_t nfamilies;
	const char *current;	/* the family samples may go to (in families) */
	bool failed;
	char err[METRICS_ERR_LEN];
};

static void buf_fail(struct metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keeps the first mistake only: later ones are often its consequences. */
static void buf_fail(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return;
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
}

static bool buf_reserve(struct metrics_buf *b, size_t more)
{
	size_t cap = b->cap;
	char *data;

	if (b->len + more + 1 <= b->cap)
		return true;
	while (cap < b->len + more + 1)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data) {
		buf_fail(b, "out of memory");
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (b->failed || !buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also ". The format is
 * UTF-8 (Prometheus refuses the whole page for one bad label value): a
 * byte that is not is written as the text \xNN. */
static void put_escaped(struct metrics_buf *b, const char *s, bool quote)
{
	char hex[8];

	while (*s) {
		size_t n = errfmt_utf8_len(s);

		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (*s == '"' && quote)
			puts_(b, "\\\"");
		else if (!n) {
			snprintf(hex, sizeof(hex), "\\\\x%02x", (unsigned char)*s);
			puts_(b, hex);
		} else
			put(b, s, n);
		s += n ? n : 1;
	}
}

/* Shortest text that reads back as the same double, so that counters up to
 * 2^53 print as plain integers and 0.1 as 0.1. */
static void put_value(struct metrics_buf *b, double v)
{
	char s[JSON_NUMBER_LEN];

	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (isinf(v))
		snprintf(s, sizeof(s), v > 0 ? "+Inf" : "-Inf");
	else
		json_format_double(v, s, sizeof(s));
	puts_(b, s);
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || (colon && *p == ':');

		if (!ok)
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

struct metrics_buf *metrics_buf_new(void)
{
	struct metrics_buf *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->cap = 4096;
	b->data = malloc(b->cap);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->data[0] = '\0';
	return b;
}

void metrics_buf_free(struct metrics_buf *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nfamilies; i++)
		free(b->families[i]);
	free(b->families);
	free(b->data);
	free(b);
}

static bool family_seen(const struct metrics_buf *b, const char *name)
{
	for (size_t i = 0; i < b->nfamilies; i++)
		if (!strcmp(b->families[i], name))
			return true;
	return false;
}

static const char *family_add(struct metrics_buf *b, const char *name)
{
	char **f = realloc(b->families, (b->nfamilies + 1) * sizeof(*f));
	char *copy;

	if (!f) {
		buf_fail(b, "out of memory");
		return NULL;
	}
	b->families = f;
	copy = strdup(name);
	if (!copy) {
		buf_fail(b, "out of memory");
		return NULL;
	}
	f[b->nfamilies++] = copy;
	return copy;
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	if (b->failed)
		return;
	if (!valid_name(name, true)) {
		buf_fail(b, "bad metric name '%s'", name ? name : "(null)");
		return;
	}
	if (!type || (strcmp(type, "gauge") && strcmp(type, "counter"))) {
		buf_fail(b, "%s: type must be gauge or counter", name);
		return;
	}
	/* Prometheus' convention; promtool's lint insists on it */
	if (!strcmp(type, "counter") && !ends_with(name, "_total")) {
		buf_fail(b, "%s: a counter's name must end in _total", name);
		return;
	}
	/* optional in the format, but promtool's lint wants it */
	if (!help || !*help) {
		buf_fail(b, "%s: no help text", name);
		return;
	}
	if (family_seen(b, name)) {
		buf_fail(b, "%s: family written twice", name);
		return;
	}
	b->current = family_add(b, name);
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, help, false);
	puts_(b, "\n");
	puts_(b, "# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

static bool labels_valid(struct metrics_buf *b, const char *name, size_t n,
			 const char *const keys[])
{
	for (size_t i = 0; i < n; i++) {
		/* names starting with __ are Prometheus' own */
		if (!valid_name(keys[i], false) || !strncmp(keys[i], "__", 2)) {
			buf_fail(b, "%s: bad label name '%s'", name, keys[i] ? keys[i] : "(null)");
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(keys[i], keys[j])) {
				buf_fail(b, "%s: label '%s' given twice", name, keys[i]);
				return false;
			}
	}
	return true;
}

void metrics_sample_v(struct metrics_buf *b, const char *name, double value, size_t n,
		      const char *const keys[], const char *const values[])
{
	if (b->failed)
		return;
	if (!name || !b->current || strcmp(name, b->current)) {
		buf_fail(b, "sample '%s' outside its family (call metrics_family first)",
			 name ? name : "(null)");
		return;
	}
	if (!labels_valid(b, name, n, keys))
		return;
	puts_(b, name);
	for (size_t i = 0; i < n; i++) {
		puts_(b, i ? "," : "{");
		puts_(b, keys[i]);
		puts_(b, "=\"");
		put_escaped(b, values[i] ? values[i] : "", true);
		puts_(b, "\"");
	}
	puts_(b, n ? "} " : " ");
	put_value(b, value);
	puts_(b, "\n");
}

void metrics_sample(struct metrics_buf *b, const char *name, double value, ...)
{
	const char *keys[MAX_LABELS], *values[MAX_LABELS], *k;
	size_t n = 0;
	va_list ap;

	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		if (n == MAX_LABELS) {
			buf_fail(b, "%s: more than %d labels", name, MAX_LABELS);
			va_end(ap);
			return;
		}
		keys[n] = k;
		values[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	metrics_sample_v(b, name, value, n, keys, values);
}

const char *metrics_buf_text(const struct metrics_buf *b, size_t *len)
{
	if (b->failed)
		return NULL;
	if (len)
		*len = b->len;
	return b->data;
}

const char *metrics_buf_error(const struct metrics_buf *b)
{
	return b->failed ? b->err : NULL;
}

/* ---- the HTTP endpoint ---- */

struct metrics_server {
	struct MHD_Daemon *daemon;
	uint16_t port;
	struct sockaddr_storage addr;	/* as given to metrics_server_start */
	socklen_t addrlen;
	pthread_mutex_t lock;		/* guards current and log */
	struct MHD_Response *current;	/* what GET /metrics gets; NULL before the first publish */
	char log[METRICS_ERR_LEN];	/* libmicrohttpd's first message, for start errors */
	uint64_t alive_until_ms;	/* /healthz: 200 before this (CLOCK_MONOTONIC); guarded */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void metrics_server_alive(struct metrics_server *s, uint32_t max_age_ms)
{
	uint64_t until = mono_ms() + max_age_ms;

	pthread_mutex_lock(&s->lock);
	s->alive_until_ms = until;
	pthread_mutex_unlock(&s->lock);
}

/* libmicrohttpd 0.9.77 split from_buffer into _static and _copy. */
static struct MHD_Response *response_static(const char *text)
{
#if MHD_VERSION >= 0x00097701
	return MHD_create_response_from_buffer_static(strlen(text), text);
#else
	return MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
#endif
}

static struct MHD_Response *response_copy(const char *text, size_t len)
{
#if MHD_VERSION >= 0x00097701
	return MHD_create_response_from_buffer_copy(len, text);
#else
	return MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
#endif
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text,
				  const char *allow)
{
	struct MHD_Response *r = response_static(text);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;	/* no memory: libmicrohttpd closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* /healthz: whether the event loop marked itself alive lately. This thread
 * answers even while the loop is stopped, so it must not answer for it. */
static enum MHD_Result reply_health(struct metrics_server *s, struct MHD_Connection *c)
{
	uint64_t now = mono_ms();
	bool alive;

	pthread_mutex_lock(&s->lock);
	alive = now < s->alive_until_ms;
	pthread_mutex_unlock(&s->lock);
	if (alive)
		return reply_text(c, MHD_HTTP_OK, "ok\n", NULL);
	return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "steerd's event loop is not running\n",
			  NULL);
}

/* Runs on libmicrohttpd's thread. The current response is queued under the
 * lock: queueing takes a reference, so a publish that replaces it meanwhile
 * only drops ours and the connection keeps the text it was given. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct metrics_server *s = cls;
	enum MHD_Result ret = MHD_NO;
	bool have;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				  "GET, HEAD");
	if (!strcmp(url, "/healthz"))
		return reply_health(s, c);
	if (strcmp(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found; try /metrics or /healthz\n",
				  NULL);
	pthread_mutex_lock(&s->lock);
	have = s->current != NULL;
	if (have)
		ret = MHD_queue_response(c, MHD_HTTP_OK, s->current);
	pthread_mutex_unlock(&s->lock);
	if (!have)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no metrics yet\n", NULL);
	return ret;
}

/* Keeps libmicrohttpd's first message (e.g. why bind failed) for err,
 * instead of letting it print to stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics_server *s = cls;
	size_t n;

	pthread_mutex_lock(&s->lock);
	if (!s->log[0]) {
		vsnprintf(s->log, sizeof(s->log), fmt, ap);
		n = strlen(s->log);
		while (n && (s->log[n - 1] == '\n' || s->log[n - 1] == ' '))
			s->log[--n] = '\0';
	}
	pthread_mutex_unlock(&s->lock);
}

struct metrics_server *metrics_server_start(const struct sockaddr *addr, socklen_t len, char *err,
					    size_t errlen)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct metrics_server *s;
	char where[NETADDR_ENDPOINT_LEN];
	uint16_t port;

	if (!addr || !((addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
		       (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)))) {
		snprintf(err, errlen, "metrics: need an IPv4 or IPv6 address");
		return NULL;
	}
	netaddr_format_sockaddr(addr, where, sizeof(where));
	port = ntohs(addr->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)addr)->sin6_port
						 : ((const struct sockaddr_in *)addr)->sin_port);
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->addrlen = len < sizeof(s->addr) ? len : sizeof(s->addr);
	memcpy(&s->addr, addr, s->addrlen);
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* limits: see METRICS_MAX_CONNECTIONS. The port argument only names
	 * the port in libmicrohttpd's messages: SOCK_ADDR decides where it
	 * binds. */
	s->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, s,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
				     MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned)METRICS_MAX_PER_ADDRESS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_IDLE_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEMORY,
				     MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, errlen, "metrics: cannot serve on %s: %s", where,
			 s->log[0] ? s->log : "libmicrohttpd failed to start");
		goto fail;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s;

fail:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

uint16_t metrics_server_port(const struct metrics_server *s)
{
	return s->port;
}

const struct sockaddr *metrics_server_addr(const struct metrics_server *s, socklen_t *len)
{
	*len = s->addrlen;
	return (const struct sockaddr *)&s->addr;
}

int metrics_server_publish(struct metrics_server *s, const char *text, size_t len)
{
	struct MHD_Response *r = response_copy(text, len), *old;

	if (!r)
		return -ENOMEM;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE) != MHD_YES) {
		MHD_destroy_response(r);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	old = s->current;
	s->current = r;
	pthread_mutex_unlock(&s->lock);
	/* connections still sending old hold their own reference */
	if (old)
		MHD_destroy_response(old);
	return 0;
}

void metrics_server_stop(struct metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	if (s->current)
		MHD_destroy_response(s->current);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
