/*
 * loadgen - open-loop HTTP load generator for steer benchmarks.
 *
 * Build (from scripts/bench):
 *   make bench-tools   (build/loadgen; the Makefile lists its sources)
 *
 * Usage:
 *   loadgen --connect IP:PORT --rate R --duration S [--seed N] [--mix SPEC]
 *           [--src-range CIDR] [--out FILE.csv] [--timeout-ms MS] [--json]
 *
 * Sends the trace of trace.h (Poisson arrivals at R/s for S s, sizes from
 * --mix, default 0.95:1,0.05:100; seed default 1): request i opens a new
 * connection at its scheduled time (never waiting for earlier responses),
 * sends "GET /?ms=M HTTP/1.1" with Connection: close, reads the whole
 * response and closes. Latency runs from the SCHEDULED send time, so a
 * late sender or slow connect counts against the server side and there is
 * no coordinated omission. With --src-range, request i binds the i-th host
 * address of the range (round robin; IP_BIND_ADDRESS_NO_PORT); without it
 * the kernel picks the source. A request fails on connect/IO errors, a
 * non-200 status, a short response, or no full answer within --timeout-ms
 * (default 10000) of its scheduled time.
 *
 * Report (stdout): per class (short = smallest size of the mix, long =
 * the rest) count, ok, errors and latency p50/p99/p99.9/max in us
 * (hist.h, <= 1% error; max exact); responses per worker (the body's first
 * line); errors per kind; send lag (actual - scheduled send start); rates.
 * --json prints the same as one JSON object instead. --out writes one CSV
 * row per request: id,class,scheduled_us,latency_us,worker,error where
 * latency_us is the time to the answer or to the failure.
 *
 * Single-threaded, non-blocking, epoll. Exit 0 after the run (even with
 * request errors), 1 on a local failure, 2 on bad arguments.
 */
#include "cli.h"
#include "hist.h"
#include "trace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 50000000.0
#define MAX_NAMES 256
#define NAME_LEN 64
#define RESP_HDR_CAP 2048
#define MAX_EVENTS 256

enum err_kind {
	ERR_NONE,
	ERR_SOCKET,
	ERR_BIND,
	ERR_CONNECT,
	ERR_RESET,
	ERR_TIMEOUT,
	ERR_HTTP,
	ERR_PROTO,
	ERR_EOF,
	ERR_COUNT
};

static const char *const err_names[ERR_COUNT] = {
	"", "socket", "bind", "connect", "reset", "timeout", "http", "proto", "eof",
};

enum req_state { RS_NEW, RS_INFLIGHT, RS_DONE };

struct opts {
	const char *connect_str;
	struct sockaddr_in dst;
	double rate, duration;
	uint64_t seed;
	struct mix mix;
	bool have_src;
	uint32_t src_first, src_count; /* host byte order */
	const char *out_path;
	uint64_t timeout_ns;
	bool json;
};

/* One in-flight connection. */
struct flight {
	int fd;
	bool connected, hdr_done;
	size_t sent, reqlen, hlen, nlen;
	long clen; /* -1: unknown, read to EOF */
	long body;
	int status;
	char req[128];
	char hdr[RESP_HDR_CAP + 1]; /* NUL-terminated */
	char name[NAME_LEN];
};

struct req {
	struct trace_req t;
	uint64_t lat_ns;
	struct flight *f;
	uint16_t worker; /* index + 1 into names, 0 = none */
	uint16_t status;
	uint8_t err;
	uint8_t state;
};

struct names {
	unsigned n;
	char name[MAX_NAMES][NAME_LEN];
	uint64_t count[MAX_NAMES];
};

struct stats {
	struct hist lat[CLASS_COUNT]; /* us, successes */
	uint64_t count[CLASS_COUNT], errors[CLASS_COUNT];
	uint64_t err_count[ERR_COUNT];
	int err_first_errno[ERR_COUNT];
	struct hist lag; /* us, actual - scheduled send start */
	struct names names;
	uint64_t sent;
	uint64_t last_send_ns, last_done_ns; /* relative to t0 */
};

struct lg {
	const struct opts *o;
	struct req *reqs;
	size_t n, next, oldest, inflight;
	int ep;
	uint64_t t0;
	struct stats *st;
};

/* ---------- helpers ---------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* "A.B.C.D/LEN" -> usable host addresses (network and broadcast excluded
 * for LEN <= 30). */
static int parse_cidr(const char *s, uint32_t *first, uint32_t *count)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	uint64_t len;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, &in) != 1 || parse_u64(slash + 1, &len) ||
	    len > 32)
		return -1;
	uint32_t mask = len ? ~0u << (32 - len) : 0;
	uint32_t net = ntohl(in.s_addr) & mask;
	uint64_t size = 1ULL << (32 - len);
	*first = len <= 30 ? net + 1 : net;
	*count = (uint32_t)(len <= 30 ? size - 2 : size);
	return 0;
}

/* ---------- arguments ---------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: loadgen --connect IP:PORT --rate R --duration S [--seed N] [--mix SPEC]\n"
		"               [--src-range CIDR] [--out FILE.csv] [--timeout-ms MS] [--json]\n"
		"  --connect IP:PORT  target\n"
		"  --rate R           Poisson arrivals per second (one new connection each)\n"
		"  --duration S       seconds of arrivals\n"
		"  --seed N           trace seed (default 1; jsqsim --seed replays it)\n"
		"  --mix SPEC         PROB:MS,... request sizes (default " MIX_DEFAULT ")\n"
		"  --src-range CIDR   bind request i to the i-th host address, e.g. 127.0.0.0/8\n"
		"  --out FILE.csv     per-request rows id,class,scheduled_us,latency_us,worker,error\n"
		"  --timeout-ms MS    fail a request not answered MS after its schedule (10000)\n"
		"  --json             print the report as one JSON object\n");
}

static int parse_opt(int c, const char *arg, void *ctx)
{
	struct cli_seen *st = ctx;
	struct opts *o = st->opts;
	unsigned *seen = &st->seen;
	const char *why;
	uint64_t u;

	switch (c) {
	case 'c':
		o->connect_str = arg;
		*seen |= 1;
		return cli_parse_ip_port(arg, &o->dst) ? cli_bad_arg("--connect must be IPv4:PORT", arg) : 0;
	case 'r':
		*seen |= 2;
		return parse_double(arg, &o->rate) || o->rate <= 0
			       ? cli_bad_arg("--rate must be > 0", arg) : 0;
	case 'd':
		*seen |= 4;
		return parse_double(arg, &o->duration) || o->duration <= 0
			       ? cli_bad_arg("--duration must be > 0", arg) : 0;
	case 's':
		return parse_u64(arg, &o->seed) ? cli_bad_arg("--seed must be an unsigned integer", arg) : 0;
	case 'm':
		return mix_parse(arg, &o->mix, &why) ? cli_bad_arg(why, arg) : 0;
	case 'S':
		o->have_src = true;
		if (parse_cidr(arg, &o->src_first, &o->src_count) || o->src_count == 0)
			return cli_bad_arg("--src-range must be IPv4/LEN", arg);
		return 0;
	case 'o':
		o->out_path = arg;
		return 0;
	case 't':
		if (parse_u64(arg, &u) || u < 1 || u > 3600000)
			return cli_bad_arg("--timeout-ms must be 1..3600000", arg);
		o->timeout_ns = u * 1000000ULL;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	default:
		return -1;
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "src-range", required_argument, NULL, 'S' },
		{ "out", required_argument, NULL, 'o' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_seen st = { .opts = o };
	const char *why;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->timeout_ns = 10000ULL * 1000000ULL;
	mix_parse(MIX_DEFAULT, &o->mix, &why);
	if (cli_parse(argc, argv, longopts, usage, parse_opt, &st))
		return -1;
	if (st.seen != 7) {
		fprintf(stderr, "Error: --connect, --rate and --duration are required\n");
		return -1;
	}
	if (o->rate * o->duration > MAX_REQUESTS) {
		fprintf(stderr, "Error: rate * duration exceeds %.0f requests\n", MAX_REQUESTS);
		return -1;
	}
	return 0;
}

/* ---------- request lifecycle ---------- */

static unsigned name_index(struct names *nm, const char *name)
{
	for (unsigned i = 0; i < nm->n; i++)
		if (strcmp(nm->name[i], name) == 0)
			return i;
	if (nm->n == MAX_NAMES)
		return MAX_NAMES - 1; /* table full: lumped into the last name */
	snprintf(nm->name[nm->n], NAME_LEN, "%s", name);
	return nm->n++;
}

static void req_finish(struct lg *g, size_t id, enum err_kind err, int errnum)
{
	struct req *r = &g->reqs[id];
	struct flight *f = r->f;
	struct stats *st = g->st;
	uint64_t now = now_ns() - g->t0;

	r->lat_ns = now - r->t.sched_ns;
	r->err = (uint8_t)err;
	r->state = RS_DONE;
	if (err == ERR_NONE) {
		unsigned w = name_index(&st->names, f->name);
		st->names.count[w]++;
		r->worker = (uint16_t)(w + 1);
		hist_record(&st->lat[r->t.cls], (r->lat_ns + 500) / 1000);
	} else {
		st->errors[r->t.cls]++;
		if (st->err_count[err]++ == 0)
			st->err_first_errno[err] = errnum;
	}
	if (f) {
		r->status = (uint16_t)f->status;
		close(f->fd);
		free(f);
		r->f = NULL;
		g->inflight--;
	}
	if (now > st->last_done_ns)
		st->last_done_ns = now;
}

static int open_socket(const struct opts *o, size_t id, enum err_kind *err)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*err = ERR_SOCKET;
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->have_src) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(o->src_first + (uint32_t)(id % o->src_count));
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
			*err = ERR_BIND;
			goto fail;
		}
	}
	if (connect(fd, (const struct sockaddr *)&o->dst, sizeof(o->dst)) &&
	    errno != EINPROGRESS) {
		*err = ERR_CONNECT;
		goto fail;
	}
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void req_launch(struct lg *g, size_t id, uint64_t now)
{
	struct req *r = &g->reqs[id];
	struct flight *f = calloc(1, sizeof(*f));
	enum err_kind err = ERR_SOCKET;
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = id };

	g->st->sent++;
	g->st->last_send_ns = now - g->t0;
	hist_record(&g->st->lag, (now - g->t0 - r->t.sched_ns) / 1000);
	r->state = RS_INFLIGHT;
	if (!f) {
		req_finish(g, id, ERR_SOCKET, ENOMEM);
		return;
	}
	f->fd = open_socket(g->o, id, &err);
	if (f->fd < 0 || epoll_ctl(g->ep, EPOLL_CTL_ADD, f->fd, &ev)) {
		int e = errno;
		if (f->fd >= 0)
			close(f->fd);
		free(f);
		req_finish(g, id, err, e);
		return;
	}
	f->clen = -1;
	f->reqlen = (size_t)snprintf(f->req, sizeof(f->req),
				     "GET /?ms=%g HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
				     r->t.ms);
	r->f = f;
	g->inflight++;
}

/* Sends the rest of the request; returns 0, or -1 after finishing it. */
static int req_send(struct lg *g, size_t id, struct flight *f)
{
	while (f->sent < f->reqlen) {
		ssize_t n = send(f->fd, f->req + f->sent, f->reqlen - f->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && errno != EINTR) {
			req_finish(g, id, ERR_RESET, errno);
			return -1;
		}
		if (n > 0)
			f->sent += (size_t)n;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = id };
	epoll_ctl(g->ep, EPOLL_CTL_MOD, f->fd, &ev);
	return 0;
}

static void body_feed(struct flight *f, const char *p, size_t len)
{
	size_t room = NAME_LEN - 1 - f->nlen;
	size_t take = len < room ? len : room;
	memcpy(f->name + f->nlen, p, take);
	f->nlen += take;
	f->name[f->nlen] = '\0';
	f->body += (long)len;
}

static long header_clen(const char *hdr, size_t hlen)
{
	const char *p = hdr;
	const char *end = hdr + hlen;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (len > 15 && strncasecmp(p, "content-length:", 15) == 0)
			return strtol(p + 15, NULL, 10);
		p += len + 2;
	}
	return -1;
}

/* Parses the status line and headers once complete; returns 1 when
 * parsed, 0 if incomplete, -1 if malformed. */
static int parse_head(struct flight *f)
{
	const char *end = memmem(f->hdr, f->hlen, "\r\n\r\n", 4);
	size_t hl;
	int status;

	if (!end)
		return f->hlen >= RESP_HDR_CAP ? -1 : 0;
	hl = (size_t)(end - f->hdr) + 4;
	if (sscanf(f->hdr, "HTTP/1.%*1[01] %3d", &status) != 1)
		return -1;
	f->status = status;
	f->clen = header_clen(f->hdr, hl);
	f->hdr_done = true;
	body_feed(f, f->hdr + hl, f->hlen - hl);
	return 1;
}

static bool resp_complete(const struct flight *f)
{
	return f->hdr_done && f->clen >= 0 && f->body >= f->clen;
}

static void resp_done(struct lg *g, size_t id, struct flight *f, bool eof)
{
	if (!f->hdr_done) {
		req_finish(g, id, f->hlen ? ERR_EOF : ERR_RESET, 0);
		return;
	}
	if (eof && f->clen >= 0 && f->body < f->clen) {
		req_finish(g, id, ERR_EOF, 0);
		return;
	}
	f->name[strcspn(f->name, "\r\n")] = '\0';
	req_finish(g, id, f->status == 200 ? ERR_NONE : ERR_HTTP, 0);
}

static void req_read(struct lg *g, size_t id, struct flight *f)
{
	char scratch[4096];

	for (;;) {
		char *dst = f->hdr_done ? scratch : f->hdr + f->hlen;
		size_t room = f->hdr_done ? sizeof(scratch) : RESP_HDR_CAP - f->hlen;
		ssize_t n = read(f->fd, dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			req_finish(g, id, ERR_RESET, errno);
			return;
		}
		if (n == 0) {
			resp_done(g, id, f, true);
			return;
		}
		if (f->hdr_done) {
			body_feed(f, scratch, (size_t)n);
		} else {
			f->hlen += (size_t)n;
			f->hdr[f->hlen] = '\0';
			if (parse_head(f) < 0) {
				req_finish(g, id, ERR_PROTO, 0);
				return;
			}
		}
		if (resp_complete(f)) {
			resp_done(g, id, f, false);
			return;
		}
	}
}

static int sock_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len))
		return errno;
	return e;
}

static void req_event(struct lg *g, size_t id, uint32_t events)
{
	struct flight *f = g->reqs[id].f;

	if (!f)
		return; /* finished earlier in this batch */
	if (!f->connected) {
		int e = sock_error(f->fd);
		if (e) {
			req_finish(g, id, ERR_CONNECT, e);
			return;
		}
		f->connected = true;
	}
	if (f->sent < f->reqlen) {
		if (req_send(g, id, f) || f->sent < f->reqlen)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		req_read(g, id, f);
}

/* ---------- main loop ---------- */

static uint64_t req_deadline(const struct lg *g, size_t id)
{
	return g->t0 + g->reqs[id].t.sched_ns + g->o->timeout_ns;
}

static void expire(struct lg *g, uint64_t now)
{
	while (g->oldest < g->next && g->reqs[g->oldest].state == RS_DONE)
		g->oldest++;
	for (size_t i = g->oldest; i < g->next && req_deadline(g, i) <= now; i++)
		if (g->reqs[i].state == RS_INFLIGHT)
			req_finish(g, i, ERR_TIMEOUT, ETIMEDOUT);
}

static void launch_due(struct lg *g, uint64_t now)
{
	while (g->next < g->n && g->t0 + g->reqs[g->next].t.sched_ns <= now) {
		req_launch(g, g->next, now);
		g->next++;
		now = now_ns();
	}
}

/* Time until the next scheduled send or timeout, for epoll_pwait2. */
static struct timespec wait_time(const struct lg *g, uint64_t now)
{
	uint64_t wake = UINT64_MAX;
	struct timespec ts = { 0 };

	if (g->next < g->n)
		wake = g->t0 + g->reqs[g->next].t.sched_ns;
	if (g->oldest < g->next && req_deadline(g, g->oldest) < wake)
		wake = req_deadline(g, g->oldest);
	if (wake > now) {
		uint64_t d = wake - now;
		ts.tv_sec = (time_t)(d / 1000000000ULL);
		ts.tv_nsec = (long)(d % 1000000000ULL);
	}
	return ts;
}

static int run(struct lg *g)
{
	struct epoll_event ev[MAX_EVENTS];

	g->t0 = now_ns();
	while (g->next < g->n || g->inflight) {
		uint64_t now = now_ns();
		launch_due(g, now);
		now = now_ns();
		expire(g, now);
		struct timespec ts = wait_time(g, now);
		int k = epoll_pwait2(g->ep, ev, MAX_EVENTS, &ts, NULL);
		if (k < 0 && errno != EINTR) {
			perror("Error: epoll_pwait2");
			return -1;
		}
		for (int i = 0; i < k; i++)
			req_event(g, (size_t)ev[i].data.u64, ev[i].events);
	}
	return 0;
}

/* ---------- output ---------- */

static void err_label(const struct req *r, char *buf, size_t len)
{
	if (r->err == ERR_HTTP)
		snprintf(buf, len, "http_%u", r->status);
	else
		snprintf(buf, len, "%s", err_names[r->err]);
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int write_csv(const struct lg *g, const char *path)
{
	FILE *f = fopen(path, "w");
	char label[32];

	if (!f) {
		fprintf(stderr, "Error: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fputs("id,class,scheduled_us,latency_us,worker,error\n", f);
	for (size_t i = 0; i < g->n; i++) {
		const struct req *r = &g->reqs[i];
		err_label(r, label, sizeof(label));
		fprintf(f, "%zu,%s,%llu,%llu,", i, class_name(r->t.cls),
			(unsigned long long)(r->t.sched_ns / 1000),
			(unsigned long long)(r->lat_ns / 1000));
		csv_field(f, r->worker ? g->st->names.name[r->worker - 1] : "");
		fprintf(f, ",%s\n", label);
	}
	if (fclose(f)) {
		fprintf(stderr, "Error: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static double rate_of(uint64_t count, uint64_t span_ns)
{
	return span_ns ? (double)count / ((double)span_ns / 1e9) : 0.0;
}

static uint64_t total_ok(const struct stats *st)
{
	uint64_t ok = 0;
	for (int c = 0; c < CLASS_COUNT; c++)
		ok += st->lat[c].total;
	return ok;
}

static void print_json_class(const struct stats *st, int c)
{
	const struct hist *h = &st->lat[c];
	printf("\"%s\":{\"count\":%llu,\"ok\":%llu,\"errors\":%llu,"
	       "\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,"
	       "\"mean_us\":%.1f}",
	       class_name((enum req_class)c), (unsigned long long)st->count[c],
	       (unsigned long long)h->total, (unsigned long long)st->errors[c],
	       (unsigned long long)hist_percentile(h, 50),
	       (unsigned long long)hist_percentile(h, 99),
	       (unsigned long long)hist_percentile(h, 99.9),
	       (unsigned long long)h->max, hist_mean(h));
}

static void print_json(const struct lg *g)
{
	const struct stats *st = g->st;
	const struct opts *o = g->o;
	char mix[256];

	mix_format(&o->mix, mix, sizeof(mix));
	printf("{\"target\":");
	json_str(o->connect_str);
	printf(",\"rate\":%g,\"duration_s\":%g,\"seed\":%llu,\"mix\":\"%s\","
	       "\"requests\":%zu,\"sent\":%llu,\"ok\":%llu,"
	       "\"sent_rate\":%.2f,\"ok_rate\":%.2f,"
	       "\"send_lag_p99_us\":%llu,\"send_lag_max_us\":%llu,\"classes\":{",
	       o->rate, o->duration, (unsigned long long)o->seed, mix, g->n,
	       (unsigned long long)st->sent, (unsigned long long)total_ok(st),
	       rate_of(st->sent, st->last_send_ns), rate_of(total_ok(st), st->last_done_ns),
	       (unsigned long long)hist_percentile(&st->lag, 99),
	       (unsigned long long)st->lag.max);
	for (int c = 0; c < CLASS_COUNT; c++) {
		printf(c ? "," : "");
		print_json_class(st, c);
	}
	printf("},\"workers\":{");
	for (unsigned i = 0; i < st->names.n; i++) {
		printf(i ? "," : "");
		json_str(st->names.name[i]);
		printf(":%llu", (unsigned long long)st->names.count[i]);
	}
	printf("},\"errors\":{");
	for (int e = 1, first = 1; e < ERR_COUNT; e++) {
		if (!st->err_count[e])
			continue;
		printf("%s\"%s\":%llu", first ? "" : ",", err_names[e],
		       (unsigned long long)st->err_count[e]);
		first = 0;
	}
	printf("}}\n");
}

static void print_human(const struct lg *g)
{
	const struct stats *st = g->st;
	const struct opts *o = g->o;
	char mix[256];

	mix_format(&o->mix, mix, sizeof(mix));
	printf("loadgen %s rate %g/s duration %g s seed %llu mix %s\n",
	       o->connect_str, o->rate, o->duration, (unsigned long long)o->seed, mix);
	printf("requests %zu sent %llu ok %llu  sent_rate %.1f/s ok_rate %.1f/s"
	       "  send_lag p99 %llu us max %llu us\n",
	       g->n, (unsigned long long)st->sent, (unsigned long long)total_ok(st),
	       rate_of(st->sent, st->last_send_ns), rate_of(total_ok(st), st->last_done_ns),
	       (unsigned long long)hist_percentile(&st->lag, 99),
	       (unsigned long long)st->lag.max);
	printf("%-6s %8s %8s %8s %10s %10s %10s %10s %10s\n", "class", "count", "ok",
	       "errors", "p50_us", "p99_us", "p99.9_us", "max_us", "mean_us");
	for (int c = 0; c < CLASS_COUNT; c++) {
		const struct hist *h = &st->lat[c];
		printf("%-6s %8llu %8llu %8llu %10llu %10llu %10llu %10llu %10.0f\n",
		       class_name((enum req_class)c), (unsigned long long)st->count[c],
		       (unsigned long long)h->total, (unsigned long long)st->errors[c],
		       (unsigned long long)hist_percentile(h, 50),
		       (unsigned long long)hist_percentile(h, 99),
		       (unsigned long long)hist_percentile(h, 99.9),
		       (unsigned long long)h->max, hist_mean(h));
	}
	for (unsigned i = 0; i < st->names.n; i++)
		printf("worker %-24s %llu\n", st->names.name[i],
		       (unsigned long long)st->names.count[i]);
	for (int e = 1; e < ERR_COUNT; e++)
		if (st->err_count[e])
			printf("error %-10s %llu (first: %s)\n", err_names[e],
			       (unsigned long long)st->err_count[e],
			       st->err_first_errno[e] ? strerror(st->err_first_errno[e]) : "-");
}

/* ---------- setup ---------- */

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct req *load_trace(const struct opts *o, struct stats *st, size_t *n)
{
	struct trace_req *t = trace_generate(o->seed, o->rate, o->duration, &o->mix, n);
	struct req *reqs = t ? calloc(*n ? *n : 1, sizeof(*reqs)) : NULL;

	if (reqs)
		for (size_t i = 0; i < *n; i++) {
			reqs[i].t = t[i];
			st->count[t[i].cls]++;
		}
	free(t);
	return reqs;
}

static void stats_init(struct stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int c = 0; c < CLASS_COUNT; c++)
		hist_init(&st->lat[c]);
	hist_init(&st->lag);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct lg g = { .o = &o, .ep = -1 };
	int rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake up on schedule, not 50 us late */
	raise_nofile();
	g.st = malloc(sizeof(*g.st));
	if (g.st)
		stats_init(g.st);
	g.reqs = g.st ? load_trace(&o, g.st, &g.n) : NULL;
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!g.reqs || g.ep < 0) {
		fprintf(stderr, "Error: setup failed: %s\n", g.ep < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	if (run(&g))
		goto out;
	if (o.json)
		print_json(&g);
	else
		print_human(&g);
	rc = o.out_path && write_csv(&g, o.out_path) ? 1 : 0;
out:
	for (size_t i = 0; g.reqs && i < g.n; i++)
		if (g.reqs[i].f) {
			close(g.reqs[i].f->fd);
			free(g.reqs[i].f);
		}
	if (g.ep >= 0)
		close(g.ep);
	free(g.reqs);
	free(g.st);
	return rc;
}
