// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for health.c: checks against real servers on loopback,
 * driven by an epoll loop like steerd's, and the rise/fall state machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "health.h"

#define GIVE_UP_MS	5000	/* no test check or server waits longer than this */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */
/* Servers                                                             */

/* A socket bound to an ephemeral loopback port; listening unless told not
 * to, in which case the port is ours but refuses connections. */
static int loopback_socket(int family, bool listening, struct sockaddr_storage *ss,
			   socklen_t *len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		*len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)ss, *len) || getsockname(fd, (struct sockaddr *)ss, len) ||
	    (listening && listen(fd, 16))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Serves one connection from a thread: reads the request head if told to,
 * sends parts[] with a pause between them, then closes, or first waits for
 * the client to close if told to hold. */
struct server {
	const char *parts[4];
	int pause_ms;
	bool read_request;
	bool hold;
	char request[512];
	int lfd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	pthread_t thread;
};

static void read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
}

static void wait_for_close(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[256];

	while (poll(&pfd, 1, GIVE_UP_MS) == 1 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
	int cfd;

	if (poll(&pfd, 1, GIVE_UP_MS) != 1)
		return NULL;
	cfd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return NULL;
	if (s->read_request)
		read_head(cfd, s->request, sizeof(s->request));
	for (int i = 0; i < 4 && s->parts[i]; i++) {
		if (i)
			usleep((useconds_t)s->pause_ms * 1000);
		if (write(cfd, s->parts[i], strlen(s->parts[i])) < 0)
			break;
	}
	if (s->hold)
		wait_for_close(cfd);
	close(cfd);
	return NULL;
}

static void server_start(struct server *s, int family)
{
	s->lfd = loopback_socket(family, true, &s->addr, &s->addrlen);
	assert_true(s->lfd >= 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

/* ------------------------------------------------------------------ */
/* Driving checks                                                      */

static struct check_spec make_spec(enum check_type type, const struct sockaddr_storage *addr,
				   socklen_t len, uint32_t timeout_ms)
{
	struct check_spec spec = { .type = type, .addrlen = len, .timeout_ms = timeout_ms };

	memcpy(&spec.addr, addr, sizeof(spec.addr));
	return spec;
}

/* One check to its end, the way steerd runs them: epoll with a 10 ms tick,
 * revents = 0 on the ticks, events re-armed after each step. */
static void run_check(const struct check_spec *spec, struct check_result *res)
{
	uint64_t give_up = now_ms() + GIVE_UP_MS;
	struct epoll_event ev = { 0 };
	struct check_run *run;
	uint32_t events;
	int ep, fd, done = 0;

	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	run = check_start(spec, now_ms(), &fd, &events);
	assert_non_null(run);
	assert_true(events != 0);
	ev.events = events;
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	while (!done) {
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 10);

		assert_true(n >= 0);
		assert_true(now_ms() < give_up);
		done = check_step(run, n > 0 ? out.events : 0, now_ms(), res, &events);
		if (done)
			break;
		ev.events = events;
		assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev), 0);
	}
	assert_int_equal(events, 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0);
	check_free(run);
	close(ep);
}

/* The same with timer ticks only and no epoll at all. */
static void run_check_ticks(const struct check_spec *spec, struct check_result *res)
{
	uint64_t give_up = now_ms() + GIVE_UP_MS;
	struct check_run *run;
	uint32_t events;
	int fd;

	run = check_start(spec, now_ms(), &fd, &events);
	assert_non_null(run);
	while (!check_step(run, 0, now_ms(), res, &events)) {
		assert_true(now_ms() < give_up);
		usleep(2000);
	}
	check_free(run);
}

/* ------------------------------------------------------------------ */
/* TCP                                                                 */

static void test_tcp_ok(void **state)
{
	struct sockaddr_storage ss;
	struct check_result res;
	struct check_spec spec;
	socklen_t len;
	int lfd;

	(void)state;
	/* the kernel completes the handshake; nobody needs to accept */
	lfd = loopback_socket(AF_INET, true, &ss, &len);
	assert_true(lfd >= 0);
	spec = make_spec(CHECK_TCP, &ss, len, 1000);
	run_check(&spec, &res);
	assert_true(res.ok);
	assert_int_equal(res.agent_state, AGENT_NONE);
	assert_int_equal(res.agent_weight_pct, -1);
	assert_string_equal(res.detail, "connected");

	memset(&res, 0xaa, sizeof(res));
	run_check_ticks(&spec, &res);
	assert_true(res.ok);
	assert_string_equal(res.detail, "connected");
	close(lfd);
}

static void test_tcp_refused(void **state)
{
	struct sockaddr_storage ss;
	struct check_result res;
	struct check_spec spec;
	socklen_t len;
	int fd;

	(void)state;
	/* bound but not listening: the port stays ours and refuses */
	fd = loopback_socket(AF_INET, false, &ss, &len);
	assert_true(fd >= 0);
	spec = make_spec(CHECK_TCP, &ss, len, 1000);
	run_check(&spec, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "connect: Connection refused");
	assert_true(res.elapsed_ms < 100);

	run_check_ticks(&spec, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "connect: Connection refused");
	close(fd);
}

static void test_tcp_ipv6(void **state)
{
	struct sockaddr_storage ss;
	struct check_result res;
	struct check_spec spec;
	socklen_t len;
	int lfd;

	(void)state;
	lfd = loopback_socket(AF_INET6, true, &ss, &len);
	if (lfd < 0)
		skip();	/* no ::1 here */
	spec = make_spec(CHECK_TCP, &ss, len, 1000);
	run_check(&spec, &res);
	assert_true(res.ok);
	close(lfd);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

static void http_check(struct server *s, int family, const char *path, int expect,
		       uint32_t timeout_ms, struct check_result *res)
{
	struct check_spec spec;

	server_start(s, family);
	spec = make_spec(CHECK_HTTP, &s->addr, s->addrlen, timeout_ms);
	if (path)
		snprintf(spec.path, sizeof(spec.path), "%s", path);
	spec.expect_status = expect;
	run_check(&spec, res);
	server_stop(s);
}

static void test_http_ok(void **state)
{
	struct server s = { .parts = { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
			    .read_request = true };
	struct check_result res;
	char want[256];

	(void)state;
	http_check(&s, AF_INET, "/health?full=1", 0, 1000, &res);
	assert_true(res.ok);
	assert_string_equal(res.detail, "HTTP 200");
	snprintf(want, sizeof(want),
		 "GET /health?full=1 HTTP/1.0\r\nHost: 127.0.0.1:%u\r\nUser-Agent: steerd\r\n"
		 "Connection: close\r\n\r\n",
		 ntohs(((struct sockaddr_in *)&s.addr)->sin_port));
	assert_string_equal(s.request, want);
}

static void test_http_default_path(void **state)
{
	struct server s = { .parts = { "HTTP/1.0 200 OK\r\n\r\n" }, .read_request = true };
	struct check_result res;

	(void)state;
	http_check(&s, AF_INET, NULL, 0, 1000, &res);
	assert_true(res.ok);
	assert_true(!strncmp(s.request, "GET / HTTP/1.0\r\n", 16));
}

static void test_http_503(void **state)
{
	struct server s = { .parts = { "HTTP/1.1 503 Service Unavailable\r\n\r\n" },
			    .read_request = true };
	struct check_result res;

	(void)state;
	http_check(&s, AF_INET, "/", 0, 1000, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "HTTP 503");

	memset(&s, 0, sizeof(s));
	s.parts[0] = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
	s.read_request = true;
	http_check(&s, AF_INET, "/", 503, 1000, &res);
	assert_true(res.ok);
	assert_string_equal(res.detail, "HTTP 503");

	/* and then 200 is the wrong answer */
	memset(&s, 0, sizeof(s));
	s.parts[0] = "HTTP/1.1 200 OK\r\n\r\n";
	s.read_request = true;
	http_check(&s, AF_INET, "/", 503, 1000, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "HTTP 200");
}

static void test_http_split_status(void **state)
{
	struct server s = { .parts = { "HTTP/1.1 2", "00 O", "K\r\n\r\n" },
			    .pause_ms = 40,
			    .read_request = true };
	struct check_result res;

	(void)state;
	http_check(&s, AF_INET, "/", 0, 1000, &res);
	assert_true(res.ok);
	assert_string_equal(res.detail, "HTTP 200");
	assert_true(res.elapsed_ms >= 70);
}

static void test_http_ipv6(void **state)
{
	struct server s = { .parts = { "HTTP/1.0 204 No Content\r\n\r\n" }, .read_request = true };
	struct sockaddr_storage ss;
	struct check_result res;
	socklen_t len;
	int probe;

	(void)state;
	probe = loopback_socket(AF_INET6, true, &ss, &len);
	if (probe < 0)
		skip();
	close(probe);
	http_check(&s, AF_INET6, "/", 204, 1000, &res);
	assert_true(res.ok);
	assert_non_null(strstr(s.request, "\r\nHost: [::1]:"));
}

static void test_http_bad_replies(void **state)
{
	struct server s = { .parts = { "SSH-2.0-OpenSSH_9.2\r\n" }, .read_request = true };
	struct check_result res;

	(void)state;
	http_check(&s, AF_INET, "/", 0, 1000, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "HTTP: bad status line \"SSH-2.0-OpenSSH_9.2\"");

	memset(&s, 0, sizeof(s));
	s.read_request = true;	/* reads, then closes without a word */
	http_check(&s, AF_INET, "/", 0, 1000, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "HTTP: connection closed without a reply");

	/* a status line cut short by EOF still has its code */
	memset(&s, 0, sizeof(s));
	s.parts[0] = "HTTP/1.0 200";
	s.read_request = true;
	http_check(&s, AF_INET, "/", 0, 1000, &res);
	assert_true(res.ok);
}

static void test_http_timeout(void **state)
{
	struct server s = { .read_request = true, .hold = true };	/* never answers */
	struct check_result res;

	(void)state;
	http_check(&s, AF_INET, "/", 0, 200, &res);
	assert_false(res.ok);
	assert_string_equal(res.detail, "timeout after 200 ms");
	assert_true(res.elapsed_ms >= 200);
	assert_true(res.elapsed_ms < 1000);
}

static void test_start_errors(void **state)
{
	struct sockaddr_storage ss;
	struct check_spec spec;
	socklen_t len;
	uint32_t events;
	int fd;

	(void)state;
	fd = loopback_socket(AF_INET, false, &ss, &len);
	assert_true(fd >= 0);
	close(fd);

	spec = make_spec(CHECK_HTTP, &ss, len, 100);
	snprintf(spec.path, sizeof(spec.path), "/x HTTP/1.0\r\nEvil: 1");
	errno = 0;
	assert_null(check_start(&spec, 0, &fd, &events));
	assert_int_equal(errno, EINVAL);
	snprintf(spec.path, sizeof(spec.path), "health");	/* no leading '/' */
	assert_null(check_start(&spec, 0, &fd, &events));
	memset(spec.path, 'a', sizeof(spec.path));	/* not terminated */
	spec.path[0] = '/';
	assert_null(check_start(&spec, 0, &fd, &events));
	spec.path[0] = '\0';
	spec.expect_status = 42;
	assert_null(check_start(&spec, 0, &fd, &events));
	spec.expect_status = 600;
	assert_null(check_start(&spec, 0, &fd, &events));

	spec = make_spec(CHECK_TCP, &ss, len, 100);
	spec.addr.ss_family = AF_UNIX;
	errno = 0;
	assert_null(check_start(&spec, 0, &fd, &events));
	assert_int_equal(errno, EINVAL);
	spec = make_spec(CHECK_TCP, &ss, 4, 100);	/* addrlen too short */
	assert_null(check_start(&spec, 0, &fd, &events));
	spec = make_spec((enum check_type)7, &ss, len, 100);
	assert_null(check_start(&spec, 0, &fd, &events));
}

/* A finished check keeps its result; the deadline is start + timeout. */
static void test_step_after_done(void **state)
{
	struct sockaddr_storage ss;
	struct check_result res, again;
	struct check_spec spec;
	struct check_run *run;
	uint32_t events;
	socklen_t len;
	int fd, lfd;

	(void)state;
	lfd = loopback_socket(AF_INET, false, &ss, &len);
	assert_true(lfd >= 0);
	spec = make_spec(CHECK_TCP, &ss, len, 0);
	run = check_start(&spec, 1000, &fd, &events);
	assert_non_null(run);
	assert_int_equal(events, EPOLLOUT);
	assert_int_equal(check_deadline_ms(run), 1000 + CHECK_DEFAULT_TIMEOUT_MS);
	/* a tick far past the deadline: an answer already there still counts */
	usleep(20000);
	assert_int_equal(check_step(run, 0, 1000 + 5000, &res, &events), 1);
	assert_string_equal(res.detail, "connect: Connection refused");
	assert_int_equal(res.elapsed_ms, 5000);
	assert_int_equal(check_step(run, 0, 9999, &again, &events), 1);
	assert_memory_equal(&res, &again, sizeof(res));
	check_free(run);
	check_free(NULL);
	close(lfd);
}

/* ------------------------------------------------------------------ */
/* Agent                                                               */

struct agent_case {
	const char *reply;
	bool hold;		/* keep the connection open after the reply */
	bool ok;
	enum agent_state state;
	int pct;
	const char *detail;
};

static void test_agent_replies(void **state)
{
	static const struct agent_case cases[] = {
		{ "up 75%\n", true, true, AGENT_UP, 75, "agent: up 75%" },
		{ "drain\n", true, true, AGENT_DRAIN, -1, "agent: drain" },
		{ "down#maintenance\n", true, false, AGENT_DOWN, -1, "agent: down#maintenance" },
		{ "maint", false, false, AGENT_MAINT, -1, "agent: maint" },	/* then EOF */
		{ "50%", false, true, AGENT_NONE, 50, "agent: 50%" },
		{ "ready,80%\n", true, true, AGENT_READY, 80, "agent: ready,80%" },
		{ "fail\r\n", true, false, AGENT_FAIL, -1, "agent: fail" },
		{ "stopped\n", true, false, AGENT_STOPPED, -1, "agent: stopped" },
		{ "hello there\n", true, true, AGENT_NONE, -1, "agent: hello there" },
		{ "", false, true, AGENT_NONE, -1, "agent: empty reply" },
		/* only the first line counts */
		{ "up\ndown\n", true, true, AGENT_UP, -1, "agent: up" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct agent_case *c = &cases[i];
		struct server s = { .parts = { c->reply[0] ? c->reply : NULL }, .hold = c->hold };
		struct check_result res;
		struct check_spec spec;

		server_start(&s, AF_INET);
		spec = make_spec(CHECK_AGENT, &s.addr, s.addrlen, 1000);
		run_check(&spec, &res);
		server_stop(&s);
		assert_int_equal(res.ok, c->ok);
		assert_int_equal(res.agent_state, c->state);
		assert_int_equal(res.agent_weight_pct, c->pct);
		assert_string_equal(res.detail, c->detail);
	}
}

static void test_agent_no_answer(void **state)
{
	struct server s = { .hold = true };	/* says nothing */
	struct sockaddr_storage ss;
	struct check_result res;
	struct check_spec spec;
	socklen_t len;
	int fd;

	(void)state;
	server_start(&s, AF_INET);
	spec = make_spec(CHECK_AGENT, &s.addr, s.addrlen, 150);
	run_check(&spec, &res);
	server_stop(&s);
	assert_false(res.ok);
	assert_int_equal(res.agent_state, AGENT_NONE);
	assert_int_equal(res.agent_weight_pct, -1);
	assert_string_equal(res.detail, "timeout after 150 ms");

	fd = loopback_socket(AF_INET, false, &ss, &len);
	assert_true(fd >= 0);
	spec = make_spec(CHECK_AGENT, &ss, len, 1000);
	run_check(&spec, &res);
	close(fd);
	assert_false(res.ok);
	assert_int_equal(res.agent_state, AGENT_NONE);
	assert_int_equal(res.agent_weight_pct, -1);
	assert_string_equal(res.detail, "connect: Connection refused");
}

static void parse(const char *s, struct check_result *res)
{
	memset(res, 0, sizeof(*res));
	agent_parse_reply(s, strlen(s), res);
}

static void test_agent_parse(void **state)
{
	struct check_result r;

	(void)state;
	parse("UP\t 100%", &r);
	assert_true(r.ok && r.agent_state == AGENT_UP && r.agent_weight_pct == 100);
	parse("Drain", &r);
	assert_true(r.ok && r.agent_state == AGENT_DRAIN);
	parse("maxconn:30 up", &r);	/* known to HAProxy, not used here */
	assert_true(r.ok && r.agent_state == AGENT_UP && r.agent_weight_pct == -1);
	parse("0%", &r);
	assert_true(r.ok && r.agent_weight_pct == 0);
	parse("150%", &r);	/* HAProxy allows raising a weight */
	assert_int_equal(r.agent_weight_pct, 150);
	parse("1001% 10.5% -5% %", &r);	/* not percentages we take */
	assert_int_equal(r.agent_weight_pct, -1);
	parse("25% 60%", &r);
	assert_int_equal(r.agent_weight_pct, 60);
	/* operational and administrative words are separate; last of each wins */
	parse("down ready", &r);
	assert_false(r.ok);
	assert_int_equal(r.agent_state, AGENT_READY);
	parse("down up", &r);
	assert_true(r.ok);
	parse("maint ready", &r);
	assert_true(r.ok);
	parse("up maint", &r);
	assert_false(r.ok);
	assert_int_equal(r.agent_state, AGENT_MAINT);
	parse("#down", &r);	/* only a description */
	assert_true(r.ok && r.agent_state == AGENT_NONE);
	parse("up # down stopped", &r);
	assert_true(r.ok && r.agent_state == AGENT_UP);
	parse("upx downy", &r);	/* whole words only */
	assert_true(r.ok && r.agent_state == AGENT_NONE);
	parse("  \x01up\x7f  ", &r);
	assert_string_equal(r.detail, "agent: ?up?");
	{
		char nul[] = { 'd', 'o', 'w', 'n', '\0', 'u', 'p' };	/* NUL separates */

		memset(&r, 0, sizeof(r));
		agent_parse_reply(nul, sizeof(nul), &r);
		assert_true(r.ok && r.agent_state == AGENT_UP);
		assert_string_equal(r.detail, "agent: down?up");
	}
	{
		char longline[600];

		memset(longline, 'x', sizeof(longline));
		memcpy(longline, "down ", 5);
		agent_parse_reply(longline, sizeof(longline), &r);
		assert_false(r.ok);
		assert_int_equal(strlen(r.detail), CHECK_DETAIL_LEN - 1);
	}
	assert_string_equal(agent_state_name(AGENT_MAINT), "maint");
	assert_string_equal(agent_state_name(AGENT_NONE), "none");
	assert_string_equal(agent_state_name((enum agent_state)99), "unknown");
}

/* ------------------------------------------------------------------ */
/* Rise / fall / slow start                                            */

static void test_track_rise_fall(void **state)
{
	struct health_track t;
	uint64_t now = 1000;

	(void)state;
	health_track_init(&t, 2, 3, true, now);
	assert_true(t.up);
	/* fall=3: two failures are not enough, a success resets the count */
	assert_false(health_track_update(&t, false, now++));
	assert_false(health_track_update(&t, false, now++));
	assert_false(health_track_update(&t, true, now++));
	assert_false(health_track_update(&t, false, now++));
	assert_false(health_track_update(&t, false, now++));
	assert_true(health_track_update(&t, false, now++));
	assert_false(t.up);
	assert_false(health_track_update(&t, false, now++));	/* already down */
	/* rise=2 */
	assert_false(health_track_update(&t, true, now++));
	assert_false(health_track_update(&t, false, now++));
	assert_false(health_track_update(&t, true, now++));
	assert_true(health_track_update(&t, true, now));
	assert_true(t.up);
	assert_int_equal(t.up_since_ms, now);
	assert_false(health_track_update(&t, true, now + 1));	/* already up */
	assert_int_equal(t.up_since_ms, now);

	/* a worker known to be down needs the full rise */
	health_track_init(&t, 2, 3, false, 0);
	assert_false(t.up);
	assert_int_equal(health_slowstart_permille(&t, 0, 0), 0);
	assert_false(health_track_update(&t, true, 1));
	assert_true(health_track_update(&t, true, 2));

	/* 0 counts as 1 */
	health_track_init(&t, 0, 0, true, 0);
	assert_true(health_track_update(&t, false, 1));
	assert_true(health_track_update(&t, true, 2));
}

static void test_track_slowstart(void **state)
{
	struct health_track t;

	(void)state;
	/* set up at start: no ramp, like HAProxy at startup */
	health_track_init(&t, 1, 1, true, 5000);
	assert_int_equal(health_slowstart_permille(&t, 5000, 10000), 1000);

	assert_true(health_track_update(&t, false, 6000));
	assert_int_equal(health_slowstart_permille(&t, 6000, 10000), 0);
	assert_true(health_track_update(&t, true, 10000));	/* back up at 10 s */
	assert_int_equal(health_slowstart_permille(&t, 10000, 10000), 10);	/* the floor */
	assert_int_equal(health_slowstart_permille(&t, 10050, 10000), 10);
	assert_int_equal(health_slowstart_permille(&t, 10200, 10000), 20);
	assert_int_equal(health_slowstart_permille(&t, 12500, 10000), 250);
	assert_int_equal(health_slowstart_permille(&t, 15000, 10000), 500);	/* half */
	assert_int_equal(health_slowstart_permille(&t, 19999, 10000), 999);
	assert_int_equal(health_slowstart_permille(&t, 20000, 10000), 1000);	/* full */
	assert_int_equal(health_slowstart_permille(&t, 99999, 10000), 1000);
	assert_int_equal(health_slowstart_permille(&t, 15000, 0), 1000);	/* off */
	assert_int_equal(health_slowstart_permille(&t, 9000, 10000), 10);	/* clock behind */
}

/* ------------------------------------------------------------------ */
/* No fd leaks on any path                                             */

static void test_no_fd_leak(void **state)
{
	struct sockaddr_storage ss;
	struct check_result res;
	struct check_spec spec;
	socklen_t len;
	int before, fd;

	(void)state;
	before = count_fds();
	for (int i = 0; i < 5; i++) {
		struct server ok = { .parts = { "HTTP/1.0 200 OK\r\n\r\n" }, .read_request = true };
		struct server mute = { .read_request = true, .hold = true };
		struct server agent = { .parts = { "down\n" }, .hold = true };

		http_check(&ok, AF_INET, "/", 0, 1000, &res);
		assert_true(res.ok);
		http_check(&mute, AF_INET, "/", 0, 50, &res);
		assert_false(res.ok);
		server_start(&agent, AF_INET);
		spec = make_spec(CHECK_AGENT, &agent.addr, agent.addrlen, 1000);
		run_check(&spec, &res);
		server_stop(&agent);
		assert_false(res.ok);

		fd = loopback_socket(AF_INET, false, &ss, &len);
		assert_true(fd >= 0);
		spec = make_spec(CHECK_HTTP, &ss, len, 1000);
		run_check(&spec, &res);
		assert_false(res.ok);
		spec.path[0] = 'x';	/* refused at start: nothing may stay open */
		assert_null(check_start(&spec, 0, &fd, &(uint32_t){ 0 }));
		close(fd);
	}
	assert_int_equal(count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_ok),
		cmocka_unit_test(test_tcp_refused),
		cmocka_unit_test(test_tcp_ipv6),
		cmocka_unit_test(test_http_ok),
		cmocka_unit_test(test_http_default_path),
		cmocka_unit_test(test_http_503),
		cmocka_unit_test(test_http_split_status),
		cmocka_unit_test(test_http_ipv6),
		cmocka_unit_test(test_http_bad_replies),
		cmocka_unit_test(test_http_timeout),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_step_after_done),
		cmocka_unit_test(test_agent_replies),
		cmocka_unit_test(test_agent_no_answer),
		cmocka_unit_test(test_agent_parse),
		cmocka_unit_test(test_track_rise_fall),
		cmocka_unit_test(test_track_slowstart),
		cmocka_unit_test(test_no_fd_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
