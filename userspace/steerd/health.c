// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include "health.h"
#include "netaddr.h"
#include "steer.h"

#define REQUEST_MAX	512	/* "GET <path> HTTP/1.0" + headers: well under this */
#define REPLY_MAX	512	/* a status line or an agent line; more is cut */
#define AGENT_PCT_MAX	1000	/* HAProxy lets an agent raise a weight above 100% */
#define SLOWSTART_FLOOR	10	/* per-mille: a worker in slow start still gets some */

/* check_step() polls the socket itself on a timer tick and treats both
 * kinds of bits alike. */
_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR &&
	       POLLHUP == EPOLLHUP, "poll and epoll bits differ");

enum phase { PHASE_CONNECT, PHASE_SEND, PHASE_RECV, PHASE_DONE };

struct check_run {
	enum check_type type;
	enum phase phase;
	int fd;
	int connect_err;	/* connect() failed at once; the first step reports it */
	int expect_status;
	uint32_t timeout_ms;
	uint64_t start_ms, deadline_ms;
	uint64_t start_us;	/* for elapsed_us: the caller's now_ms is only as fine as its tick */
	char request[REQUEST_MAX];
	size_t request_len, request_off;
	char reply[REPLY_MAX];
	size_t reply_len;
	struct check_result res;
};

/* ------------------------------------------------------------------ */
/* Spec checks and the request                                         */

static bool addr_ok(const struct check_spec *s)
{
	if (s->addrlen > sizeof(s->addr))
		return false;
	if (s->addr.ss_family == AF_INET)
		return s->addrlen >= sizeof(struct sockaddr_in);
	if (s->addr.ss_family == AF_INET6)
		return s->addrlen >= sizeof(struct sockaddr_in6);
	return false;
}

/* The path goes into the request line as is, so it must not be able to
 * end that line early or smuggle in a header. Empty means "/". */
static bool path_ok(const char *p)
{
	size_t n = strnlen(p, CHECK_PATH_LEN);

	if (n == CHECK_PATH_LEN)
		return false;	/* not terminated */
	if (n && p[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	}
	return true;
}

static bool spec_ok(const struct check_spec *s)
{
	if (!addr_ok(s))
		return false;
	switch (s->type) {
	case CHECK_TCP:
	case CHECK_AGENT:
		return true;
	case CHECK_HTTP:
		return path_ok(s->path) && (s->expect_status == 0 ||
					    (s->expect_status >= 100 && s->expect_status <= 599));
	}
	return false;
}

static void build_request(struct check_run *run, const struct check_spec *spec)
{
	char host[NETADDR_ENDPOINT_LEN];
	int n;

	/* "127.0.0.1:8080" or "[::1]:8080": the port goes in because workers
	 * do not listen on the default one */
	netaddr_format_sockaddr((const struct sockaddr *)&spec->addr, host, sizeof(host));
	n = snprintf(run->request, sizeof(run->request),
		     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: steerd\r\nConnection: close\r\n\r\n",
		     spec->path[0] ? spec->path : "/", host);
	run->request_len = (size_t)n;	/* path and host are bounded: it fits */
}

/* Errors from connect() that are about the target or the way to it, and so
 * a failed check. Anything else (no ephemeral port, no buffers) is ours. */
static bool target_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case ETIMEDOUT:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case EACCES:	/* a firewall, or a cgroup connect hook, said no */
	case EPERM:
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */

/* The first line of a reply, fit for a log: control bytes become '?',
 * surrounding blanks go. Returns the length written. */
static size_t copy_line(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = 0;

	while (len && (*src == ' ' || *src == '\t')) {
		src++;
		len--;
	}
	for (size_t i = 0; i < len && src[i] != '\n' && src[i] != '\r' && n + 1 < size; i++)
		dst[n++] = (src[i] < ' ' || src[i] == 0x7f) ? '?' : src[i];
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\t'))
		n--;
	dst[n] = '\0';
	return n;
}

/* CLOCK_MONOTONIC in microseconds: only to time a check for the metrics
 * (steer_worker_check_duration_seconds); every decision uses now_ms. */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void finish(struct check_run *run, uint64_t now_ms)
{
	uint64_t now_us = mono_us();

	run->phase = PHASE_DONE;
	run->res.elapsed_ms = now_ms > run->start_ms ? (uint32_t)(now_ms - run->start_ms) : 0;
	run->res.elapsed_us = now_us > run->start_us ? now_us - run->start_us : 0;
}

__attribute__((format(printf, 4, 5)))
static void finish_with(struct check_run *run, uint64_t now_ms, bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->res.detail, sizeof(run->res.detail), fmt, ap);
	va_end(ap);
	run->res.ok = ok;
	finish(run, now_ms);
}

/* "HTTP/1.1 503 Service Unavailable" -> 503; -1 when it is not a status
 * line. The reason phrase and even the line end may be missing. */
static int parse_status_line(const char *s, size_t len)
{
	size_t i = 5;
	int code = 0;

	if (len < 5 || memcmp(s, "HTTP/", 5))
		return -1;
	while (i < len && s[i] != ' ' && s[i] != '\r' && s[i] != '\n')
		i++;
	if (i >= len || s[i] != ' ')
		return -1;
	while (i < len && s[i] == ' ')
		i++;
	if (len - i < 3)
		return -1;
	for (size_t k = 0; k < 3; k++, i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		code = code * 10 + (s[i] - '0');
	}
	if (i < len && s[i] != ' ' && s[i] != '\r' && s[i] != '\n')
		return -1;
	return code;
}

static void judge_http(struct check_run *run, uint64_t now_ms)
{
	char line[48];
	int status;

	if (!run->reply_len) {
		finish_with(run, now_ms, false, "HTTP: connection closed without a reply");
		return;
	}
	status = parse_status_line(run->reply, run->reply_len);
	if (status < 0) {
		copy_line(line, sizeof(line), run->reply, run->reply_len);
		finish_with(run, now_ms, false, "HTTP: bad status line \"%s\"", line);
		return;
	}
	finish_with(run, now_ms, status == run->expect_status, "HTTP %d", status);
}

/* ------------------------------------------------------------------ */
/* The agent's words (HAProxy agent-check)                             */

static const struct {
	const char *word;
	enum agent_state state;
	bool admin;	/* ready/drain/maint; else up/down/fail/stopped */
} agent_words[] = {
	{ "up", AGENT_UP, false },
	{ "down", AGENT_DOWN, false },
	{ "fail", AGENT_FAIL, false },
	{ "stopped", AGENT_STOPPED, false },
	{ "ready", AGENT_READY, true },
	{ "drain", AGENT_DRAIN, true },
	{ "maint", AGENT_MAINT, true },
};

static const char *const agent_names[] = {
	[AGENT_NONE] = "none",	 [AGENT_UP] = "up",	  [AGENT_DOWN] = "down",
	[AGENT_DRAIN] = "drain", [AGENT_MAINT] = "maint", [AGENT_READY] = "ready",
	[AGENT_FAIL] = "fail",	 [AGENT_STOPPED] = "stopped",
};

const char *agent_state_name(enum agent_state s)
{
	if ((unsigned)s >= sizeof(agent_names) / sizeof(agent_names[0]))
		return "unknown";
	return agent_names[s];
}

static bool agent_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\0';
}

/* "75%" -> 75, -1 when the word is not a percentage we take. */
static int agent_percent(const char *w, size_t n)
{
	int v = 0;

	if (n < 2 || n > 5 || w[n - 1] != '%')
		return -1;
	for (size_t i = 0; i < n - 1; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -1;
		v = v * 10 + (w[i] - '0');
	}
	return v <= AGENT_PCT_MAX ? v : -1;
}

void agent_parse_reply(const char *buf, size_t len, struct check_result *res)
{
	enum agent_state last = AGENT_NONE, oper = AGENT_NONE, admin = AGENT_NONE;
	static const char prefix[] = "agent: ";
	const char *p, *end;
	int pct = -1;

	if (!buf)
		buf = "", len = 0;
	p = buf;
	end = memchr(buf, '\n', len);
	if (!end)
		end = buf + len;
	/* a '#' ends the words: the rest is the agent's description */
	while (p < end && *p != '#') {
		const char *w;
		size_t n;
		int v;

		while (p < end && agent_sep(*p))
			p++;
		w = p;
		while (p < end && !agent_sep(*p) && *p != '#')
			p++;
		n = (size_t)(p - w);
		if (!n)
			continue;
		if ((v = agent_percent(w, n)) >= 0) {
			pct = v;
			continue;
		}
		for (size_t i = 0; i < sizeof(agent_words) / sizeof(agent_words[0]); i++) {
			if (strlen(agent_words[i].word) != n || strncasecmp(w, agent_words[i].word, n))
				continue;
			last = agent_words[i].state;
			*(agent_words[i].admin ? &admin : &oper) = last;
		}
	}
	res->agent_state = last;
	res->agent_weight_pct = pct;
	/* As in HAProxy, the last word of each kind wins: "down up" is up. */
	res->ok = oper != AGENT_DOWN && oper != AGENT_FAIL && oper != AGENT_STOPPED &&
		  admin != AGENT_MAINT;
	memcpy(res->detail, prefix, sizeof(prefix));
	if (!copy_line(res->detail + sizeof(prefix) - 1, sizeof(res->detail) - sizeof(prefix) + 1,
		       buf, (size_t)(end - buf)))
		snprintf(res->detail, sizeof(res->detail), "agent: empty reply");
}

/* ------------------------------------------------------------------ */
/* The phases                                                          */

static uint32_t poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return (uint32_t)pfd.revents;
}

/* Moves on to the next phase once connected; fails the check if not. */
static void connect_step(struct check_run *run, uint32_t revents, uint64_t now_ms)
{
	const uint32_t ready = EPOLLOUT | EPOLLERR | EPOLLHUP;
	socklen_t len = sizeof(int);
	int err = run->connect_err;

	if (!err) {
		/* SO_ERROR is also 0 while the handshake is still going on, so
		 * look at the socket first if epoll did not just tell us. */
		if (!(revents & ready))
			revents = poll_now(run->fd, POLLOUT);
		if (!(revents & ready))
			return;
		if (getsockopt(run->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
	}
	if (err) {
		finish_with(run, now_ms, false, "connect: %s", strerror(err));
		return;
	}
	switch (run->type) {
	case CHECK_TCP:
		finish_with(run, now_ms, true, "connected");
		break;
	case CHECK_HTTP:
		run->phase = PHASE_SEND;
		break;
	case CHECK_AGENT:
		run->phase = PHASE_RECV;
		break;
	}
}

/* Sends what it can of the request; moves on once all of it is out. */
static void send_step(struct check_run *run, uint64_t now_ms)
{
	while (run->request_off < run->request_len) {
		ssize_t n = send(run->fd, run->request + run->request_off,
				 run->request_len - run->request_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			finish_with(run, now_ms, false, "send: %s", strerror(errno));
			return;
		}
		run->request_off += (size_t)n;
	}
	run->phase = PHASE_RECV;
}

/* Reads until a whole line, EOF or a full buffer, then judges the reply. */
static void recv_step(struct check_run *run, uint64_t now_ms)
{
	for (;;) {
		size_t room = sizeof(run->reply) - run->reply_len;
		char *at = run->reply + run->reply_len;
		ssize_t n;

		if (!room)
			break;
		n = recv(run->fd, at, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			finish_with(run, now_ms, false, "recv: %s", strerror(errno));
			return;
		}
		if (n == 0)
			break;	/* EOF: judge what came */
		run->reply_len += (size_t)n;
		if (memchr(at, '\n', (size_t)n))
			break;
	}
	if (run->type == CHECK_HTTP) {
		judge_http(run, now_ms);
		return;
	}
	agent_parse_reply(run->reply, run->reply_len, &run->res);
	finish(run, now_ms);
}

static uint32_t phase_events(enum phase phase)
{
	switch (phase) {
	case PHASE_CONNECT:
	case PHASE_SEND:
		return EPOLLOUT;
	case PHASE_RECV:
		return EPOLLIN | EPOLLRDHUP;
	case PHASE_DONE:
		break;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */

struct check_run *check_start(const struct check_spec *spec, uint64_t now_ms, int *fd,
			      uint32_t *events)
{
	struct check_run *run;
	int err;

	if (!spec || !fd || !events || !spec_ok(spec)) {
		errno = EINVAL;
		return NULL;
	}
	run = calloc(1, sizeof(*run));
	if (!run)
		return NULL;
	run->type = spec->type;
	run->phase = PHASE_CONNECT;
	run->expect_status = spec->expect_status ? spec->expect_status : CHECK_DEFAULT_STATUS;
	run->timeout_ms = spec->timeout_ms ? spec->timeout_ms : CHECK_DEFAULT_TIMEOUT_MS;
	run->start_ms = now_ms;
	run->start_us = mono_us();
	run->deadline_ms = now_ms + run->timeout_ms;
	run->res.agent_state = AGENT_NONE;
	run->res.agent_weight_pct = -1;
	if (run->type == CHECK_HTTP)
		build_request(run, spec);

	run->fd = socket(spec->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 IPPROTO_TCP);
	if (run->fd < 0)
		goto fail;
	if (connect(run->fd, (const struct sockaddr *)&spec->addr, spec->addrlen) &&
	    errno != EINPROGRESS && errno != EINTR) {
		if (!target_error(errno))
			goto fail;
		/* Kept for the first step, so that every outcome about the
		 * target comes out of check_step the same way. */
		run->connect_err = errno;
	}
	*fd = run->fd;
	*events = phase_events(run->phase);
	return run;
fail:
	err = errno;
	check_free(run);
	errno = err;
	return NULL;
}

int check_step(struct check_run *run, uint32_t revents, uint64_t now_ms, struct check_result *res,
	       uint32_t *events)
{
	/* Each phase hands over to the next as soon as it is done, so one
	 * call goes as far as the socket allows. On a tick, send() and recv()
	 * just say EAGAIN when it is not ready. */
	if (run->phase == PHASE_CONNECT)
		connect_step(run, revents, now_ms);
	if (run->phase == PHASE_SEND)
		send_step(run, now_ms);
	if (run->phase == PHASE_RECV)
		recv_step(run, now_ms);
	if (run->phase != PHASE_DONE && now_ms >= run->deadline_ms)
		finish_with(run, now_ms, false, "timeout after %u ms", run->timeout_ms);
	if (run->phase != PHASE_DONE) {
		*events = phase_events(run->phase);
		return 0;
	}
	*res = run->res;
	*events = 0;
	return 1;
}

uint64_t check_deadline_ms(const struct check_run *run)
{
	return run->deadline_ms;
}

void check_free(struct check_run *run)
{
	if (!run)
		return;
	if (run->fd >= 0)
		close(run->fd);
	free(run);
}

/* ------------------------------------------------------------------ */
/* Rise / fall / slow start                                            */

void health_track_init(struct health_track *t, uint32_t rise, uint32_t fall, bool up,
		       uint64_t now_ms)
{
	memset(t, 0, sizeof(*t));
	t->rise = rise ? rise : 1;
	t->fall = fall ? fall : 1;
	t->up = up;
	t->up_since_ms = up ? now_ms : 0;
}

bool health_track_update(struct health_track *t, bool ok, uint64_t now_ms)
{
	if (ok) {
		t->fail_streak = 0;
		if (t->ok_streak < UINT32_MAX)
			t->ok_streak++;
		if (t->up || t->ok_streak < t->rise)
			return false;
		t->up = true;
		t->ramp = true;
		t->up_since_ms = now_ms;
		return true;
	}
	t->ok_streak = 0;
	if (t->fail_streak < UINT32_MAX)
		t->fail_streak++;
	if (!t->up || t->fail_streak < t->fall)
		return false;
	t->up = false;
	return true;
}

uint32_t health_slowstart_permille(const struct health_track *t, uint64_t now_ms,
				   uint32_t slowstart_ms)
{
	uint64_t since;
	uint32_t f;

	if (!t->up)
		return 0;
	if (!slowstart_ms || !t->ramp || now_ms >= t->up_since_ms + slowstart_ms)
		return STEER_HEALTH_FULL;
	since = now_ms > t->up_since_ms ? now_ms - t->up_since_ms : 0;
	f = (uint32_t)(since * STEER_HEALTH_FULL / slowstart_ms);
	return f < SLOWSTART_FLOOR ? SLOWSTART_FLOOR : f;
}
