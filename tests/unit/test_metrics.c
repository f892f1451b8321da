// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for metrics.c: the text builder (exact output, refused
 * mistakes, and `promtool check metrics` when it is installed), the table
 * (metrics_table.c) over a hand-built view with hostile names, steerd(8)'s
 * METRICS list against it, and the HTTP endpoint (/metrics, /healthz),
 * fetched over real loopback sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "man_page.h"
#include "json.h"
#include "metrics.h"

/* ---- builder ---- */

static struct metrics_buf *sample_page(void)
{
	struct metrics_buf *b = metrics_buf_new();

	assert_non_null(b);
	metrics_family(b, "steer_worker_outstanding", "gauge", "Open connections of a worker.");
	metrics_sample(b, "steer_worker_outstanding", 3, "pool", "agents", "worker", "a1", NULL);
	metrics_sample(b, "steer_worker_outstanding", 0, "pool", "agents", "worker",
		       "we\"ird\\na\nme", NULL);
	metrics_family(b, "steer_worker_steered_total", "counter",
		       "Connections steered.\nA \\ in help.");
	metrics_sample(b, "steer_worker_steered_total", 12345678901234.0, "worker", "a1", NULL);
	metrics_sample(b, "steer_worker_steered_total", 9007199254740993.0, "worker", "a2", NULL);
	metrics_family(b, "steer_up", "gauge", "1 while steerd runs.");
	metrics_sample(b, "steer_up", 1, NULL);
	metrics_family(b, "steer_worker_health_ratio", "gauge", "Health factor, 0..1.");
	metrics_sample(b, "steer_worker_health_ratio", 0.1, "worker", "a1", NULL);
	metrics_sample(b, "steer_worker_health_ratio", 1.0 / 3, "worker", "a2", NULL);
	metrics_sample(b, "steer_worker_health_ratio", NAN, "worker", "a3", NULL);
	metrics_sample(b, "steer_worker_health_ratio", INFINITY, "worker", "", NULL);
	metrics_sample(b, "steer_worker_health_ratio", -INFINITY, "worker", NULL, NULL);
	metrics_sample(b, "steer_worker_health_ratio", -2.5e-7, "worker", "a6", NULL);
	return b;
}

static const char expected_page[] =
	"# HELP steer_worker_outstanding Open connections of a worker.\n"
	"# TYPE steer_worker_outstanding gauge\n"
	"steer_worker_outstanding{pool=\"agents\",worker=\"a1\"} 3\n"
	"steer_worker_outstanding{pool=\"agents\",worker=\"we\\\"ird\\\\na\\nme\"} 0\n"
	"# HELP steer_worker_steered_total Connections steered.\\nA \\\\ in help.\n"
	"# TYPE steer_worker_steered_total counter\n"
	"steer_worker_steered_total{worker=\"a1\"} 12345678901234\n"
	"steer_worker_steered_total{worker=\"a2\"} 9007199254740992\n"
	"# HELP steer_up 1 while steerd runs.\n"
	"# TYPE steer_up gauge\n"
	"steer_up 1\n"
	"# HELP steer_worker_health_ratio Health factor, 0..1.\n"
	"# TYPE steer_worker_health_ratio gauge\n"
	"steer_worker_health_ratio{worker=\"a1\"} 0.1\n"
	"steer_worker_health_ratio{worker=\"a2\"} 0.3333333333333333\n"
	"steer_worker_health_ratio{worker=\"a3\"} NaN\n"
	"steer_worker_health_ratio{worker=\"\"} +Inf\n"
	"steer_worker_health_ratio{worker=\"\"} -Inf\n"
	"steer_worker_health_ratio{worker=\"a6\"} -2.5e-07\n";

static void test_builder_exact(void **state)
{
	struct metrics_buf *b = sample_page();
	const char *text;
	size_t len = 0;

	(void)state;
	text = metrics_buf_text(b, &len);
	assert_null(metrics_buf_error(b));
	assert_non_null(text);
	assert_string_equal(text, expected_page);
	assert_int_equal(len, strlen(expected_page));
	metrics_buf_free(b);
}

static void test_builder_arrays_and_growth(void **state)
{
	const char *keys[] = { "pool", "worker" }, *vals[] = { "p", "w" };
	struct metrics_buf *b = metrics_buf_new();
	const char *text;
	size_t len;

	(void)state;
	metrics_family(b, "steer_x", "gauge", "x");
	/* well past the first 4 KiB */
	for (int i = 0; i < 2000; i++)
		metrics_sample_v(b, "steer_x", i, 2, keys, vals);
	text = metrics_buf_text(b, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "\nsteer_x{pool=\"p\",worker=\"w\"} 1999\n"));
	metrics_buf_free(b);
	metrics_buf_free(NULL);
}

/* Each mistake makes the whole page unavailable, with the first reason. */
static void expect_refused(void (*build)(struct metrics_buf *), const char *why)
{
	struct metrics_buf *b = metrics_buf_new();
	size_t len = 7;

	build(b);
	assert_null(metrics_buf_text(b, &len));
	assert_int_equal(len, 7);
	assert_non_null(metrics_buf_error(b));
	if (!strstr(metrics_buf_error(b), why))
		fail_msg("error '%s' does not mention '%s'", metrics_buf_error(b), why);
	metrics_buf_free(b);
}

static void counter_without_total(struct metrics_buf *b)
{
	metrics_family(b, "steer_steered", "counter", "x");
}

static void sample_outside_family(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", "x");
	metrics_sample(b, "steer_b", 1, NULL);
}

static void sample_before_family(struct metrics_buf *b)
{
	metrics_sample(b, "steer_a", 1, NULL);
}

static void family_twice(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", "x");
	metrics_family(b, "steer_b", "gauge", "x");
	metrics_family(b, "steer_a", "gauge", "x");
}

static void bad_names(struct metrics_buf *b)
{
	metrics_family(b, "steer-a", "gauge", "x");
	metrics_family(b, "steer_b", "summary", "x");	/* not the first: not reported */
}

static void bad_label(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", "x");
	metrics_sample(b, "steer_a", 1, "wor ker", "v", NULL);
}

static void reserved_label(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", "x");
	metrics_sample(b, "steer_a", 1, "__name__", "v", NULL);
}

static void label_twice(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", "x");
	metrics_sample(b, "steer_a", 1, "w", "1", "w", "2", NULL);
}

static void bad_type(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "histogram", "x");
}

static void no_help(struct metrics_buf *b)
{
	metrics_family(b, "steer_a", "gauge", NULL);
}

static void test_builder_mistakes(void **state)
{
	(void)state;
	expect_refused(counter_without_total, "_total");
	expect_refused(sample_outside_family, "outside its family");
	expect_refused(sample_before_family, "outside its family");
	expect_refused(family_twice, "family written twice");
	expect_refused(bad_names, "bad metric name 'steer-a'");
	expect_refused(bad_label, "bad label name 'wor ker'");
	expect_refused(reserved_label, "bad label name '__name__'");
	expect_refused(label_twice, "label 'w' given twice");
	expect_refused(bad_type, "gauge or counter");
	expect_refused(no_help, "no help");
}

/* ---- promtool ---- */

static bool find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096], file[4200];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
		snprintf(file, sizeof(file), "%s/%s", n ? dir : ".", prog);
		if (!access(file, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* Exit status of `promtool check metrics` on text (stdin); its complaints
 * go to our stderr unless quiet. */
static int promtool_check(const char *text, bool quiet)
{
	FILE *p = popen(quiet ? "promtool check metrics >/dev/null 2>&1" : "promtool check metrics 1>&2",
			"w");
	int st;

	assert_non_null(p);
	fputs(text, p);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_promtool(void **state)
{
	struct metrics_buf *b;

	(void)state;
	if (!find_in_path("promtool"))
		skip();
	b = sample_page();
	assert_int_equal(promtool_check(metrics_buf_text(b, NULL), false), 0);
	metrics_buf_free(b);
	/* and it does catch what the builder refuses to write */
	assert_int_not_equal(promtool_check("# HELP a x\n# TYPE a counter\na 1\n", true), 0);
	assert_int_not_equal(promtool_check("# HELP a x\n# TYPE a gauge\na{w=\"a\nb\"} 1\n", true), 0);
}

/* ---- the table: a hand-built view rendered ---- */

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define assert_line(text, line) \
	do { if (!has_line(text, line)) fail_msg("no line '%s' in:\n%s", line, text); } while (0)

static void view_fill(struct metrics_worker *w, struct metrics_pool *p, struct metrics_service *s,
		      struct metrics_view *v)
{
	snprintf(p[0].cfg.name, STEER_NAME_LEN, "web");
	p[0].stats_ok = p[0].budget_ok = p[0].limits_ok = true;
	p[0].st.selected = 10;
	p[0].st.spilled = 2;
	p[0].bud.quota_on = 1;
	p[0].bud.quota_left = -3;	/* the kernel overshoots: shown as 0 */
	p[0].cfg.quota_set = 1;
	p[0].cfg.quota_conf = 100;
	p[0].lim.rate_on = 1;
	p[0].lim.rate_milli = 2500;
	p[0].lim.burst_milli = 5000;
	p[0].usable = 1;
	p[0].fleet = (struct metrics_budget){ .on = true, .leased = true, .source = "static_share",
					      .grants = 3, .granted = 60, .remaining_known = true,
					      .global_remaining = 40 };
	snprintf(p[1].cfg.name, STEER_NAME_LEN, "b\"ack\nup\\é");
	p[1].cfg.circuit = STEER_CIRCUIT_OPEN;
	p[1].cfg.circuit_forced = 1;
	p[1].judged = true;
	p[1].error_ratio = 0.25;
	snprintf(p[0].fallback, STEER_NAME_LEN, "%s", p[1].cfg.name);

	snprintf(w[0].cfg.name, STEER_NAME_LEN, "w1");
	snprintf(w[0].pool, STEER_NAME_LEN, "web");
	w[0].cfg.weight = 100;
	w[0].cfg.health = 560;	/* 100 x 0.56 in doubles is 56.00000000000001 */
	w[0].alive = w[0].stats_ok = true;
	w[0].st.outstanding = 3;
	w[0].st.aborted = 1;
	w[0].pending = 2;
	w[0].checked = w[0].check_up = w[0].check_done = true;
	w[0].check_seconds = 0.000125;
	snprintf(w[1].cfg.name, STEER_NAME_LEN, "w2");
	snprintf(w[1].pool, STEER_NAME_LEN, "web");
	w[1].cfg.state = STEER_WORKER_DRAIN;
	w[1].alive = w[1].stats_ok = true;
	snprintf(w[2].cfg.name, STEER_NAME_LEN, "w3");
	snprintf(w[2].pool, STEER_NAME_LEN, "%s", p[1].cfg.name);
	w[2].alive = false;	/* gone */

	snprintf(s[0].cfg.name, STEER_NAME_LEN, "svc");
	snprintf(s[0].pool, STEER_NAME_LEN, "web");
	s[0].st.lookups = 7;
	s[0].rf.no_worker = 2;
	s[0].rf.hops_exhausted = 1;
	*v = (struct metrics_view){ .w = w, .nw = 3, .p = p, .np = 2, .s = s, .ns = 1 };
	v->d.reloads = 4;
	v->d.fleet = true;
	v->d.reload_failures = 1;
	v->d.generation = 4;
	snprintf(v->d.config_hash, sizeof(v->d.config_hash), "0123456789abcdef");
}

static void test_render(void **state)
{
	static struct metrics_worker w[3];
	static struct metrics_pool p[2];
	static struct metrics_service s[1];
	struct metrics_view v;
	struct metrics_buf *b = metrics_buf_new();
	const char *text;

	(void)state;
	view_fill(w, p, s, &v);
	metrics_render(b, &v);
	text = metrics_buf_text(b, NULL);
	if (!text)
		fail_msg("%s", metrics_buf_error(b));
	assert_line(text, "steer_worker_effective_weight{pool=\"web\",worker=\"w1\"} 56");
	assert_line(text, "steer_worker_health_ratio{pool=\"web\",worker=\"w1\"} 0.56");
	assert_line(text, "steer_worker_outstanding{pool=\"web\",worker=\"w1\"} 3");
	assert_line(text, "steer_worker_pending{pool=\"web\",worker=\"w1\"} 2");
	assert_line(text, "steer_worker_resets_total{pool=\"web\",worker=\"w1\"} 1");
	assert_line(text, "steer_worker_check_up{pool=\"web\",worker=\"w1\"} 1");
	assert_line(text,
		    "steer_worker_check_duration_seconds{pool=\"web\",worker=\"w1\"} 0.000125");
	assert_null(strstr(text, "steer_worker_check_up{pool=\"web\",worker=\"w2\"}"));
	/* one-hot states */
	assert_line(text, "steer_worker_state{pool=\"web\",worker=\"w2\",state=\"drain\"} 1");
	assert_line(text, "steer_worker_state{pool=\"web\",worker=\"w2\",state=\"up\"} 0");
	assert_line(text, "steer_worker_state{pool=\"b\\\"ack\\nup\\\\é\",worker=\"w3\",state=\"gone\"} 1");
	assert_line(text, "steer_worker_up{pool=\"b\\\"ack\\nup\\\\é\",worker=\"w3\"} 0");
	assert_line(text, "steer_pool_circuit_state{pool=\"b\\\"ack\\nup\\\\é\",state=\"open\"} 1");
	assert_line(text, "steer_pool_circuit_state{pool=\"b\\\"ack\\nup\\\\é\",state=\"closed\"} 0");
	assert_line(text, "steer_pool_circuit_forced{pool=\"b\\\"ack\\nup\\\\é\"} 1");
	assert_line(text, "steer_pool_circuit_state{pool=\"web\",state=\"closed\"} 1");
	assert_line(text, "steer_pool_error_ratio{pool=\"b\\\"ack\\nup\\\\é\"} 0.25");
	assert_null(strstr(text, "steer_pool_error_ratio{pool=\"web\"}"));
	/* admission */
	assert_line(text, "steer_pool_quota_left{pool=\"web\"} 0");
	assert_line(text, "steer_pool_quota{pool=\"web\"} 100");
	assert_line(text, "steer_pool_rate{pool=\"web\"} 2.5");
	assert_line(text, "steer_pool_rate_burst{pool=\"web\"} 5");
	assert_null(strstr(text, "steer_pool_quota_left{pool=\"b"));
	assert_line(text, "steer_pool_usable_workers{pool=\"web\"} 1");
	assert_line(text, "steer_pool_info{pool=\"web\",policy=\"least-conn\","
			  "fallback=\"b\\\"ack\\nup\\\\é\",owner=\"operator\",lobby=\"\"} 1");
	/* refusals by cause: every cause, summing to the service's refusals */
	assert_line(text, "steer_service_lookups_total{service=\"svc\"} 7");
	assert_line(text, "steer_service_refused_total{service=\"svc\",cause=\"no_worker\"} 2");
	assert_line(text, "steer_service_refused_total{service=\"svc\",cause=\"hops_exhausted\"} 1");
	assert_line(text, "steer_service_refused_total{service=\"svc\",cause=\"assign_failed\"} 0");
	/* fleet: budgets */
	assert_line(text, "steer_fleet_redis_up 0");
	assert_line(text, "steer_fleet_lease_grants_total{pool=\"web\"} 3");
	assert_line(text, "steer_fleet_lease_admissions_total{pool=\"web\"} 60");
	assert_line(text, "steer_pool_budget_source{pool=\"web\",source=\"static_share\"} 1");
	assert_line(text, "steer_pool_budget_source{pool=\"web\",source=\"lease\"} 0");
	assert_line(text, "steer_fleet_global_remaining{pool=\"web\"} 40");
	assert_null(strstr(text, "steer_pool_tokens_left{pool=\"web\"}"));
	assert_null(strstr(text, "steer_pool_budget_source{pool=\"b"));
	assert_line(text, "steer_daemon_reloads_total 4");
	assert_line(text, "steer_daemon_reload_failures_total 1");
	assert_line(text, "steer_daemon_config_info{hash=\"0123456789abcdef\"} 1");
	assert_null(strstr(text, "\nsteer_daemon_last_reload_success_timestamp_seconds "));
	if (find_in_path("promtool"))
		assert_int_equal(promtool_check(text, false), 0);
	metrics_buf_free(b);
}

/* Numbers in -j output: shortest round trip, so 0.85 and 56 read as written. */
static void test_json_double(void **state)
{
	char s[JSON_NUMBER_LEN];

	(void)state;
	json_format_double(850 / 1000.0, s, sizeof(s));
	assert_string_equal(s, "0.85");
	json_format_double(100 * 0.56, s, sizeof(s));
	assert_string_equal(s, "56.00000000000001");	/* why w_effective uses integers */
	json_format_double(56, s, sizeof(s));
	assert_string_equal(s, "56");
	json_format_double(0.1, s, sizeof(s));
	assert_string_equal(s, "0.1");
	json_format_double(9007199254740993.0, s, sizeof(s));
	assert_string_equal(s, "9007199254740992");
	json_format_double(1.0 / 3, s, sizeof(s));
	assert_true(strtod(s, NULL) == 1.0 / 3);
}

/* docs/man/steerd.8's METRICS list is what the table prints. */
static void test_man_page(void **state)
{
	(void)state;
	assert_man_page_fresh("docs/man/steerd.8", metrics_doc_update, "METRICS list");
}

/* ---- server ---- */

struct reply {
	int status;
	char ctype[128];
	char *body;
	size_t body_len;
};

static int connect_to(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct timeval tv = { .tv_sec = 5 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		len = sizeof(*a);
	}
	/* a hung server fails the test instead of hanging it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* One HTTP/1.1 request with Connection: close; reads to EOF. */
static int http_request(int family, uint16_t port, const char *method, const char *path,
			struct reply *r)
{
	char req[256], *buf = NULL, *hdr_end, *ct;
	size_t len = 0, cap = 0;
	int fd = connect_to(family, port), n;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
		     method, path);
	if (write(fd, req, (size_t)n) != n)
		goto fail;
	for (;;) {
		ssize_t got;

		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap ? cap * 2 : 8192));

			if (!nb)
				goto fail;
			buf = nb;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0)
			goto fail;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	fd = -1;
	if (!buf)
		return -1;
	buf[len] = '\0';
	hdr_end = strstr(buf, "\r\n\r\n");
	if (!hdr_end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
		goto fail;
	*hdr_end = '\0';
	ct = strcasestr(buf, "\r\nContent-Type: ");
	if (ct)
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)strcspn(ct + 16, "\r"), ct + 16);
	r->body_len = len - (size_t)(hdr_end + 4 - buf);
	r->body = malloc(r->body_len + 1);
	if (!r->body)
		goto fail;
	memcpy(r->body, hdr_end + 4, r->body_len);
	r->body[r->body_len] = '\0';
	free(buf);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

static struct metrics_server *start_loopback(int family, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	if (family == AF_INET6)
		return metrics_server_start((struct sockaddr *)&a6, sizeof(a6), err, errlen);
	return metrics_server_start((struct sockaddr *)&a4, sizeof(a4), err, errlen);
}

/* a server on an IPv4 loopback port of the kernel's choice, or the test fails */
static struct metrics_server *serve_any_port(uint16_t *port)
{
	struct metrics_server *s;
	char err[256];

	s = start_loopback(AF_INET, 0, err, sizeof(err));
	if (!s)
		fail_msg("%s", err);
	*port = metrics_server_port(s);
	return s;
}

static void test_server(void **state)
{
	const char *v1 = "# HELP steer_up x\n# TYPE steer_up gauge\nsteer_up 1\n";
	const char *v2 = "# HELP steer_up x\n# TYPE steer_up gauge\nsteer_up 0\n";
	struct metrics_server *s, *s2;
	struct reply r;
	char err[256];
	uint16_t port;

	(void)state;
	s = serve_any_port(&port);
	assert_true(port > 0);

	assert_int_equal(http_request(AF_INET, port, "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 503);
	reply_free(&r);

	assert_int_equal(metrics_server_publish(s, v1, strlen(v1)), 0);
	assert_int_equal(http_request(AF_INET, port, "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(r.body, v1);
	reply_free(&r);

	assert_int_equal(metrics_server_publish(s, v2, strlen(v2)), 0);
	assert_int_equal(http_request(AF_INET, port, "GET", "/metrics?x=1", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, v2);
	reply_free(&r);

	assert_int_equal(http_request(AF_INET, port, "HEAD", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);

	assert_int_equal(http_request(AF_INET, port, "GET", "/", &r), 0);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_int_equal(http_request(AF_INET, port, "GET", "/metricsx", &r), 0);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_int_equal(http_request(AF_INET, port, "POST", "/metrics", &r), 0);
	assert_int_equal(r.status, 405);
	reply_free(&r);

	/* the port is taken: a clear error, not a crash */
	s2 = start_loopback(AF_INET, port, err, sizeof(err));
	assert_null(s2);
	if (!strstr(err, "127.0.0.1:") || !strstr(err, "in use"))
		fail_msg("unexpected error: %s", err);
	print_message("taken port: %s\n", err);

	metrics_server_stop(s);
	metrics_server_stop(NULL);
	/* stopped means closed */
	assert_int_not_equal(http_request(AF_INET, port, "GET", "/metrics", &r), 0);
}

/* /healthz follows the loop's marks, not the server thread's own life. */
static void test_healthz(void **state)
{
	struct metrics_server *s;
	struct reply r;
	uint16_t port;

	(void)state;
	s = serve_any_port(&port);
	assert_int_equal(http_request(AF_INET, port, "GET", "/healthz", &r), 0);
	assert_int_equal(r.status, 503);	/* the loop never said so */
	reply_free(&r);
	metrics_server_alive(s, 300);
	assert_int_equal(http_request(AF_INET, port, "GET", "/healthz", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	reply_free(&r);
	usleep(400 * 1000);
	assert_int_equal(http_request(AF_INET, port, "GET", "/healthz", &r), 0);
	assert_int_equal(r.status, 503);	/* no mark for longer than allowed */
	reply_free(&r);
	metrics_server_stop(s);
}

/* A TCP connection to 127.0.0.1:port from the loopback address src. */
static int connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &from.sin_addr);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One client address holding connections cannot starve another: past
 * METRICS_MAX_PER_ADDRESS its connections are closed, and a scrape from
 * another address is answered. */
static void test_server_per_address(void **state)
{
	const char *text = "# HELP steer_up x\n# TYPE steer_up gauge\nsteer_up 1\n";
	const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	int held[METRICS_MAX_PER_ADDRESS], extra, fd;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	const struct sockaddr *bound;
	struct metrics_server *s;
	char err[256], buf[512];
	socklen_t len;
	ssize_t n;

	(void)state;
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = metrics_server_start((struct sockaddr *)&a4, sizeof(a4), err, sizeof(err));
	assert_non_null(s);
	bound = metrics_server_addr(s, &len);
	assert_int_equal(len, sizeof(a4));
	assert_memory_equal(bound, &a4, sizeof(a4));
	assert_int_equal(metrics_server_publish(s, text, strlen(text)), 0);
	for (int i = 0; i < METRICS_MAX_PER_ADDRESS; i++) {
		held[i] = connect_from("127.0.0.1", metrics_server_port(s));
		assert_true(held[i] >= 0);
		assert_int_equal(write(held[i], "GET /metrics HTTP/1.1\r\n", 24), 24);
	}
	/* one too many from that address: closed at once, unanswered */
	extra = connect_from("127.0.0.1", metrics_server_port(s));
	assert_true(extra >= 0);
	n = read(extra, buf, sizeof(buf));
	assert_true(n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));
	close(extra);
	/* another address is served while they are held */
	fd = connect_from("127.0.0.2", metrics_server_port(s));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	close(fd);
	for (int i = 0; i < METRICS_MAX_PER_ADDRESS; i++)
		close(held[i]);
	metrics_server_stop(s);
}

static void test_server_bad_addr(void **state)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	char err[256];

	(void)state;
	assert_null(metrics_server_start((struct sockaddr *)&a4, 4, err, sizeof(err)));
	assert_non_null(strstr(err, "IPv4 or IPv6"));
	a4.sin_family = AF_UNIX;
	assert_null(metrics_server_start((struct sockaddr *)&a4, sizeof(a4), err, sizeof(err)));
}

static void test_server_ipv6(void **state)
{
	const char *v = "# HELP steer_up x\n# TYPE steer_up gauge\nsteer_up 1\n";
	struct metrics_server *s;
	struct reply r;
	char err[256];

	(void)state;
	s = start_loopback(AF_INET6, 0, err, sizeof(err));
	if (!s) {
		print_message("no IPv6 loopback (%s)\n", err);
		skip();
	}
	assert_int_equal(metrics_server_publish(s, v, strlen(v)), 0);
	assert_int_equal(http_request(AF_INET6, metrics_server_port(s), "GET", "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, v);
	reply_free(&r);
	metrics_server_stop(s);
}

/* Publishing while scrapes are in flight: every body is one whole version. */
#define BIG_LEN	(256 * 1024)

struct publisher {
	struct metrics_server *s;
	volatile int stop;
	int count;
};

static void *publish_loop(void *arg)
{
	struct publisher *p = arg;
	char *text = malloc(BIG_LEN);

	if (!text)
		return NULL;
	while (!p->stop) {
		memset(text, 'a' + p->count % 26, BIG_LEN);
		if (metrics_server_publish(p->s, text, BIG_LEN))
			break;
		p->count++;
		usleep(200);
	}
	free(text);
	return NULL;
}

static void test_server_concurrent(void **state)
{
	struct publisher p = { 0 };
	pthread_t t;
	char err[256];
	struct reply r;
	int seen_versions = 0;
	char last = 0;

	(void)state;
	p.s = start_loopback(AF_INET, 0, err, sizeof(err));
	if (!p.s)
		fail_msg("%s", err);
	metrics_server_publish(p.s, "", 0);
	assert_int_equal(pthread_create(&t, NULL, publish_loop, &p), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(http_request(AF_INET, metrics_server_port(p.s), "GET", "/metrics",
					      &r), 0);
		assert_int_equal(r.status, 200);
		if (r.body_len) {
			assert_int_equal(r.body_len, BIG_LEN);
			for (size_t j = 1; j < r.body_len; j++)
				if (r.body[j] != r.body[0])
					fail_msg("torn body at %zu", j);
			if (r.body[0] != last)
				seen_versions++;
			last = r.body[0];
		}
		reply_free(&r);
	}
	p.stop = 1;
	pthread_join(t, NULL);
	metrics_server_stop(p.s);
	print_message("%d publishes, %d distinct versions fetched\n", p.count, seen_versions);
	assert_true(seen_versions >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_exact),
		cmocka_unit_test(test_builder_arrays_and_growth),
		cmocka_unit_test(test_builder_mistakes),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_json_double),
		cmocka_unit_test(test_man_page),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_server_per_address),
		cmocka_unit_test(test_server_bad_addr),
		cmocka_unit_test(test_server_ipv6),
		cmocka_unit_test(test_server_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
