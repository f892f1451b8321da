/*
 * agent - sample steer worker speaking minimal HTTP/1.1 (enough for curl,
 * wrk, loadgen and HAProxy health checks).
 *
 * Build (from scripts/bench):
 *   make bench-tools   (build/agent; the Makefile lists its sources)
 *
 * Usage:
 *   agent --listen IP:PORT [--name NAME] [--mode fcfs|ps] [--slots N]
 *         [--backlog N] [--reuseport] [--procs N] [--health-status S]
 *         [--lobby IP:PORT | --lobby-fd FD]
 *
 * Requests: any method (HEAD gets no body) on
 *   /health            answered 200 (or --health-status S: a worker that
 *                      serves but fails its health checks) as soon as read
 *   /ANY?ms=M&cpu=C    C ms of thread CPU time, then M ms of sleep, then 200
 * The 200 body is "NAME\n" (header X-Worker: NAME too). Keep-alive unless
 * "Connection: close" (or HTTP/1.0 without keep-alive). Pipelined requests
 * on one connection are served in order.
 *
 * Modes:
 *   fcfs  one request in progress at a time, CPU burnt inline (a
 *         single-threaded agent). While busy the agent does not accept, so
 *         new connections wait in the kernel accept queue in order; requests
 *         on already open keep-alive connections wait in a FIFO.
 *   ps    up to --slots N (default 64) requests in progress at once (CPU
 *         burnt by N pool threads, so the kernel shares the cores); more
 *         requests wait in the accept queue / FIFO as above.
 * The agent accepts only while in-progress + queued requests < slots.
 *
 * --procs N (N > 1) forks N workers after listen(): they share the one
 * listening socket (one kernel accept queue, a central queue in front of
 * all of them), each with its own loop, slots and pool, named NAME.1 ..
 * NAME.N. In fcfs mode every idle worker waits on the listener (a free
 * worker always sees a queued connection); in ps mode they wait with
 * EPOLLEXCLUSIVE (one wake-up per connection). SIGTERM to the first
 * process stops them all.
 *
 * Lobby (steer issue 10; the protocol is in the README, "Lobby-aware
 * workers"): with --lobby IP:PORT (the agent creates the pool's lobby
 * listener, once, before --procs forks) or --lobby-fd FD (a listening
 * socket it inherited: a launcher, systemd), the agent also accepts from
 * the lobby, which every lobby-aware worker of the pool shares. It takes
 * from its own listener first and from the lobby only while it holds
 * fewer than --slots connections (fcfs: 1, so only when idle); in lobby
 * mode "busy" counts open connections, as steer's outstanding does. With
 * --procs N each process is its own worker: process i listens on PORT+i-1
 * and all share the one lobby. SIGUSR1 drains: no more lobby accepts (the
 * own listener is still served; steer's `worker drain` stops that side);
 * SIGUSR2 undrains. Each response carries "X-Via: own|lobby"; on exit each
 * process prints "stats NAME own N lobby N max_conns N" on stderr.
 *
 * Prints "ready PID" on stdout once listening; SIGTERM/SIGINT exit 0.
 */
#include "cli.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP 8192
#define OUT_CAP 512
#define NAME_MAX_LEN 64
#define MAX_SLOTS 4096
#define MAX_WORK_MS 3600000.0 /* 1 h per request component */
#define MAX_EVENTS 128
#define MAX_PROCS 64

enum mode { MODE_FCFS, MODE_PS };

struct opts {
	struct sockaddr_in addr;
	char name[NAME_MAX_LEN + 1];
	enum mode mode;
	unsigned slots;
	int backlog;
	bool reuseport;
	unsigned procs;
	int health_status; /* what /health answers */
	int lobby_fd;      /* inherited lobby listener, or -1 */
	bool lobby_create; /* --lobby: create it at lobby_addr */
	struct sockaddr_in lobby_addr;
};

/* What an epoll_event's data.ptr points at: the first member of each. */
enum src { SRC_LISTEN, SRC_LOBBY, SRC_TIMER, SRC_SIGNAL, SRC_POOL, SRC_CONN };

enum cstate { CS_READING, CS_QUEUED, CS_ACTIVE, CS_WRITING, CS_CLOSED };

struct conn {
	enum src src; /* SRC_CONN; must be first */
	int fd;
	enum cstate st;
	bool peer_gone;  /* read saw EOF or an error */
	bool keep_alive; /* of the current request */
	bool head;
	bool via_lobby;  /* accepted from the lobby */
	double ms, cpu;  /* work of the current request */
	uint64_t deadline_ns;
	size_t in_len, out_len, out_off;
	struct conn *qnext;       /* pending FIFO, pool queues, graveyard */
	struct conn *prev, *next; /* all connections */
	char in[IN_CAP];
	char out[OUT_CAP];
};

struct request {
	int status; /* 200, or the error status to answer and close */
	bool keep_alive, head, health;
	double ms, cpu;
	size_t consumed;
};

struct fifo {
	struct conn *head, *tail;
	size_t len;
};

struct pool {
	enum src src; /* SRC_POOL; must be first */
	int efd;      /* eventfd: jobs done */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fifo work, done;
	atomic_bool stop;
	unsigned nthreads;
	pthread_t *threads;
};

struct timer_heap {
	struct conn **v;
	size_t len, cap;
};

struct agent {
	const struct opts *o;
	int ep, lfd, tfd, sfd;
	int lobfd; /* the pool's lobby listener (shared), or -1 */
	enum src listen_src, lobby_src, timer_src, signal_src;
	bool listen_armed, lobby_armed, quit;
	bool draining; /* SIGUSR1: no lobby accepts until SIGUSR2 */
	unsigned nconns; /* open connections */
	unsigned long long taken_own, taken_lobby;
	unsigned max_conns;
	bool exclusive; /* shared listener in ps mode: EPOLLEXCLUSIVE */
	unsigned active;      /* requests in progress */
	struct fifo pending;  /* parsed requests waiting for a slot */
	struct fifo finished; /* jobs whose work is done, to answer */
	struct fifo graveyard;
	struct timer_heap timers;
	struct pool *pool;
	struct conn *conns;
};

/* ---------- small helpers ---------- */

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fifo_push(struct fifo *f, struct conn *c)
{
	c->qnext = NULL;
	if (f->tail)
		f->tail->qnext = c;
	else
		f->head = c;
	f->tail = c;
	f->len++;
}

static struct conn *fifo_pop(struct fifo *f)
{
	struct conn *c = f->head;
	if (!c)
		return NULL;
	f->head = c->qnext;
	if (!f->head)
		f->tail = NULL;
	f->len--;
	c->qnext = NULL;
	return c;
}

static int epoll_add(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Burn `ms` of this thread's CPU time (stops early if *stop is set). */
static void burn_cpu(double ms, atomic_bool *stop)
{
	uint64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + (uint64_t)(ms * 1e6);
	volatile uint64_t x = 1;

	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end) {
		for (int i = 0; i < 2000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			return;
	}
}

/* ---------- argument parsing ---------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: agent --listen IP:PORT [--name NAME] [--mode fcfs|ps] [--slots N]\n"
		"             [--backlog N] [--reuseport] [--procs N] [--health-status S]\n"
		"             [--lobby IP:PORT | --lobby-fd FD]\n"
		"  --listen IP:PORT  address to listen on\n"
		"  --name NAME       worker name returned in responses (default agent-PID)\n"
		"  --mode MODE       fcfs: one request at a time (default); ps: --slots at once\n"
		"  --slots N         ps mode: requests in progress at once (default 64)\n"
		"  --backlog N       listen backlog (default 1024)\n"
		"  --reuseport       set SO_REUSEPORT (several agents on one address)\n"
		"  --procs N         fork N workers sharing one listening socket (NAME.1 ..)\n"
		"  --health-status S what GET /health answers (default 200; 500: serves, fails checks)\n"
		"  --lobby IP:PORT   create the pool's lobby listener there and accept from it too\n"
		"                    (with --procs N: shared by all N, process i on PORT+i-1)\n"
		"  --lobby-fd FD     accept from the inherited lobby listener FD too\n"
		"  SIGUSR1 stops lobby accepts (drain), SIGUSR2 resumes them\n");
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi,
		      unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* An inherited fd must be a listening TCP socket; the lobby is shared,
 * so O_NONBLOCK is set on the one open file every sharer uses. */
static int lobby_fd_check(int fd)
{
	int acc = 0, type = 0;
	socklen_t len = sizeof(acc);
	struct stat st;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) || !acc)
		return -1;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int parse_lobby_opt(struct opts *o, int c, const char *arg)
{
	unsigned long v;

	if (o->lobby_fd >= 0 || o->lobby_create)
		return cli_bad_arg("give one of --lobby and --lobby-fd, once", arg);
	if (c == 'B') {
		if (cli_parse_ip_port(arg, &o->lobby_addr))
			return cli_bad_arg("--lobby must be IPv4:PORT", arg);
		o->lobby_create = true;
		return 0;
	}
	if (parse_uint(arg, 0, INT_MAX, &v) || lobby_fd_check((int)v))
		return cli_bad_arg("--lobby-fd must be an open listening TCP socket", arg);
	o->lobby_fd = (int)v;
	return 0;
}

static int parse_opt(struct opts *o, int c, const char *arg, bool *slots_set,
		     bool *have_listen)
{
	unsigned long v;

	switch (c) {
	case 'B':
	case 'L':
		return parse_lobby_opt(o, c, arg);
	case 'l':
		if (cli_parse_ip_port(arg, &o->addr))
			return cli_bad_arg("--listen must be IPv4:PORT", arg);
		*have_listen = true;
		return 0;
	case 'n':
		if (!name_ok(arg))
			return cli_bad_arg("--name must be 1-64 printable non-space characters", arg);
		strcpy(o->name, arg);
		return 0;
	case 'm':
		if (strcmp(arg, "fcfs") && strcmp(arg, "ps"))
			return cli_bad_arg("--mode must be fcfs or ps", arg);
		o->mode = strcmp(arg, "ps") == 0 ? MODE_PS : MODE_FCFS;
		return 0;
	case 's':
		if (parse_uint(arg, 1, MAX_SLOTS, &v))
			return cli_bad_arg("--slots must be 1..4096", arg);
		o->slots = (unsigned)v;
		*slots_set = true;
		return 0;
	case 'b':
		if (parse_uint(arg, 1, INT_MAX, &v))
			return cli_bad_arg("--backlog must be a positive integer", arg);
		o->backlog = (int)v;
		return 0;
	case 'r':
		o->reuseport = true;
		return 0;
	case 'p':
		if (parse_uint(arg, 1, MAX_PROCS, &v))
			return cli_bad_arg("--procs must be 1..64", arg);
		o->procs = (unsigned)v;
		return 0;
	case 'H':
		if (parse_uint(arg, 200, 599, &v))
			return cli_bad_arg("--health-status must be 200..599", arg);
		o->health_status = (int)v;
		return 0;
	default:
		return -1;
	}
}

static int check_opts(struct opts *o, bool slots_set, bool have_listen)
{
	if (!have_listen) {
		fprintf(stderr, "Error: --listen IP:PORT is required\n");
		return -1;
	}
	if (o->mode == MODE_FCFS && slots_set && o->slots != 1) {
		fprintf(stderr, "Error: --slots needs --mode ps (fcfs serves one request at a time)\n");
		return -1;
	}
	if (o->mode == MODE_FCFS)
		o->slots = 1;
	if (!o->name[0])
		snprintf(o->name, sizeof(o->name), "agent-%d", (int)getpid());
	if (o->procs > 1 && (o->lobby_create || o->lobby_fd >= 0) &&
	    ntohs(o->addr.sin_port) + o->procs - 1 > 65535) {
		fprintf(stderr, "Error: --procs with a lobby needs ports PORT..PORT+N-1 (<= 65535)\n");
		return -1;
	}
	if (o->procs > 1 && strlen(o->name) + 3 > NAME_MAX_LEN) {
		fprintf(stderr, "Error: --name must be at most %d characters with --procs\n",
			NAME_MAX_LEN - 3);
		return -1;
	}
	return 0;
}

/* parse_opt for cli_parse: what was given so far rides along */
struct opt_state {
	struct opts *o;
	bool slots_set, have_listen;
};

static int take_opt(int c, const char *arg, void *ctx)
{
	struct opt_state *st = ctx;

	return parse_opt(st->o, c, arg, &st->slots_set, &st->have_listen);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "slots", required_argument, NULL, 's' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "reuseport", no_argument, NULL, 'r' },
		{ "procs", required_argument, NULL, 'p' },
		{ "health-status", required_argument, NULL, 'H' },
		{ "lobby", required_argument, NULL, 'B' },
		{ "lobby-fd", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opt_state st = { .o = o };

	memset(o, 0, sizeof(*o));
	o->mode = MODE_FCFS;
	o->slots = 64;
	o->backlog = 1024;
	o->procs = 1;
	o->health_status = 200;
	o->lobby_fd = -1;
	if (cli_parse(argc, argv, longopts, usage, take_opt, &st))
		return -1;
	return check_opts(o, st.slots_set, st.have_listen);
}

/* ---------- HTTP request parsing ---------- */

static bool header_is(const char *line, size_t len, const char *name,
		      const char **val, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*val = line + n + 1;
	*vlen = len - n - 1;
	while (*vlen && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	while (*vlen && ((*val)[*vlen - 1] == ' ' || (*val)[*vlen - 1] == '\t'))
		(*vlen)--;
	return true;
}

static bool token_in(const char *val, size_t vlen, const char *tok)
{
	size_t n = strlen(tok);
	for (size_t i = 0; i + n <= vlen; i++)
		if (strncasecmp(val + i, tok, n) == 0)
			return true;
	return false;
}

/* Returns the Content-Length, or -1 if the header is malformed. */
static long parse_content_length(const char *val, size_t vlen)
{
	long v = 0;
	if (vlen == 0 || vlen > 9)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return -1;
		v = v * 10 + (val[i] - '0');
	}
	return v;
}

/* Applies one header line; returns the body length it declares (>= 0),
 * -1 for "no body info", or -2 for an unsupported/malformed header. */
static long apply_header(const char *line, size_t len, struct request *rq)
{
	const char *val;
	size_t vlen;

	if (header_is(line, len, "Connection", &val, &vlen)) {
		if (token_in(val, vlen, "close"))
			rq->keep_alive = false;
		else if (token_in(val, vlen, "keep-alive"))
			rq->keep_alive = true;
	} else if (header_is(line, len, "Content-Length", &val, &vlen)) {
		long cl = parse_content_length(val, vlen);
		return cl < 0 ? -2 : cl;
	} else if (header_is(line, len, "Transfer-Encoding", &val, &vlen)) {
		return -2;
	}
	return -1;
}

static int parse_work_ms(const char *s, size_t len, double *out)
{
	char buf[32], *end;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	double v = strtod(buf, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > MAX_WORK_MS)
		return -1;
	*out = v;
	return 0;
}

static int parse_query(const char *q, size_t len, struct request *rq)
{
	const char *p = q, *end = q + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		size_t n = (size_t)(stop - p);

		if (n > 3 && strncmp(p, "ms=", 3) == 0) {
			if (parse_work_ms(p + 3, n - 3, &rq->ms))
				return -1;
		} else if (n > 4 && strncmp(p, "cpu=", 4) == 0) {
			if (parse_work_ms(p + 4, n - 4, &rq->cpu))
				return -1;
		}
		p = stop + 1;
	}
	return 0;
}

/* "METHOD SP TARGET SP HTTP/1.x" */
static int parse_request_line(const char *line, size_t len, struct request *rq)
{
	const char *sp1 = memchr(line, ' ', len), *sp2, *target, *qm;
	size_t tlen;

	if (!sp1 || sp1 == line)
		return -1;
	target = sp1 + 1;
	sp2 = memchr(target, ' ', len - (size_t)(target - line));
	if (!sp2 || sp2 == target || *target != '/')
		return -1;
	if ((size_t)(line + len - (sp2 + 1)) != 8 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -1;
	rq->keep_alive = sp2[8] == '1';
	rq->head = sp1 - line == 4 && strncmp(line, "HEAD", 4) == 0;
	tlen = (size_t)(sp2 - target);
	qm = memchr(target, '?', tlen);
	size_t plen = qm ? (size_t)(qm - target) : tlen;
	rq->health = plen == 7 && strncmp(target, "/health", 7) == 0;
	if (qm && !rq->health)
		return parse_query(qm + 1, tlen - plen - 1, rq);
	return 0;
}

static int parse_headers(const char *p, const char *end, struct request *rq,
			 long *body)
{
	*body = 0;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		long r = apply_header(p, len, rq);
		if (r == -2)
			return -1;
		if (r >= 0)
			*body = r;
		p += len + 2;
	}
	return 0;
}

/* Returns 1 with *rq filled, 0 if more bytes are needed, -1 on a bad
 * request (rq->status says which answer to send before closing). */
static int parse_request(const char *buf, size_t len, struct request *rq)
{
	const char *hend = memmem(buf, len, "\r\n\r\n", 4), *eol;
	long body;

	memset(rq, 0, sizeof(*rq));
	rq->status = 400;
	if (!hend)
		return len >= IN_CAP ? (rq->status = 431, -1) : 0;
	eol = memmem(buf, (size_t)(hend - buf) + 2, "\r\n", 2);
	if (parse_request_line(buf, (size_t)(eol - buf), rq))
		return -1;
	if (parse_headers(eol + 2, hend + 2, rq, &body))
		return (rq->status = 501, -1);
	rq->consumed = (size_t)(hend - buf) + 4 + (size_t)body;
	if (rq->consumed > IN_CAP)
		return (rq->status = 413, -1);
	if (rq->consumed > len)
		return 0;
	rq->status = 200;
	return 1;
}

/* ---------- timers ---------- */

static int heap_push(struct timer_heap *h, struct conn *c)
{
	if (h->len == h->cap) {
		size_t ncap = h->cap ? 2 * h->cap : 64;
		struct conn **nv = realloc(h->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		h->v = nv;
		h->cap = ncap;
	}
	size_t i = h->len++;
	while (i && h->v[(i - 1) / 2]->deadline_ns > c->deadline_ns) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = c;
	return 0;
}

static struct conn *heap_pop(struct timer_heap *h)
{
	struct conn *top = h->v[0], *last = h->v[--h->len];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = l;
		if (l >= h->len)
			break;
		if (l + 1 < h->len && h->v[l + 1]->deadline_ns < h->v[l]->deadline_ns)
			m = l + 1;
		if (h->v[m]->deadline_ns >= last->deadline_ns)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->len)
		h->v[i] = last;
	return top;
}

static void timer_rearm(struct agent *a)
{
	struct itimerspec its = { 0 };
	if (a->timers.len) {
		uint64_t d = a->timers.v[0]->deadline_ns;
		its.it_value.tv_sec = (time_t)(d / 1000000000ULL);
		its.it_value.tv_nsec = (long)(d % 1000000000ULL);
		if (d == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(a->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---------- CPU pool (ps mode) ---------- */

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->work.head && !atomic_load(&p->stop))
			pthread_cond_wait(&p->cv, &p->mu);
		if (atomic_load(&p->stop))
			break;
		struct conn *c = fifo_pop(&p->work);
		double cpu = c->cpu;
		pthread_mutex_unlock(&p->mu);
		burn_cpu(cpu, &p->stop);
		pthread_mutex_lock(&p->mu);
		fifo_push(&p->done, c);
		if (write(p->efd, &one, sizeof(one)) < 0)
			perror("Error: eventfd write");
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

static struct pool *pool_create(unsigned n)
{
	struct pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->src = SRC_POOL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->threads = calloc(n, sizeof(*p->threads));
	if (p->efd < 0 || !p->threads) {
		pool_destroy(p);
		return NULL;
	}
	for (; p->nthreads < n; p->nthreads++) {
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p)) {
			pool_destroy(p);
			return NULL;
		}
	}
	return p;
}

static void pool_submit(struct pool *p, struct conn *c)
{
	pthread_mutex_lock(&p->mu);
	fifo_push(&p->work, c);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Moves the pool's finished jobs to `out`. */
static void pool_collect(struct pool *p, struct fifo *out)
{
	uint64_t cnt;
	struct conn *c;

	if (read(p->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		perror("Error: eventfd read");
	pthread_mutex_lock(&p->mu);
	while ((c = fifo_pop(&p->done)))
		fifo_push(out, c);
	pthread_mutex_unlock(&p->mu);
}

/* ---------- connections ---------- */

static struct conn *conn_new(struct agent *a, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->src = SRC_CONN;
	c->fd = fd;
	c->st = CS_READING;
	if (epoll_add(a->ep, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c)) {
		free(c);
		return NULL;
	}
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->nconns++;
	return c;
}

/* Closes the socket now; memory is freed after the current event batch so
 * stale events in it stay harmless. Never called on a conn with a job
 * (QUEUED/ACTIVE) while running: a job always ends by answering. */
static void conn_close(struct agent *a, struct conn *c)
{
	if (c->st == CS_CLOSED)
		return;
	c->st = CS_CLOSED;
	close(c->fd);
	c->fd = -1;
	a->nconns--;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	fifo_push(&a->graveyard, c);
}

/* Reads what fits into the input buffer; notes EOF/errors in peer_gone. */
static void conn_read(struct conn *c)
{
	while (!c->peer_gone && c->in_len < IN_CAP) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
		} else if (n == 0) {
			c->peer_gone = true;
		} else if (errno == EAGAIN) {
			return;
		} else if (errno != EINTR) {
			c->peer_gone = true;
		}
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	default: return "Error";
	}
}

/* Sends what it can. Afterwards the conn is READING (response done and
 * kept alive), WRITING (waiting for EPOLLOUT) or CLOSED. */
static void conn_flush(struct agent *a, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			conn_close(a, c);
			return;
		}
	}
	if (c->keep_alive)
		c->st = CS_READING;
	else
		conn_close(a, c);
}

static void conn_respond(struct agent *a, struct conn *c, int status)
{
	const char *name = a->o->name;
	char body[NAME_MAX_LEN + 16];
	int blen = status == 200 ? snprintf(body, sizeof(body), "%s\n", name)
				 : snprintf(body, sizeof(body), "%s\n", reason(status));
	int n;

	if (status != 200)
		c->keep_alive = false;
	n = snprintf(c->out, OUT_CAP,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\nX-Worker: %s\r\n%s%sConnection: %s\r\n\r\n%s",
		     status, reason(status), blen, name,
		     a->lobfd < 0 ? "" : "X-Via: ",
		     a->lobfd < 0 ? "" : c->via_lobby ? "lobby\r\n" : "own\r\n",
		     c->keep_alive ? "keep-alive" : "close", c->head ? "" : body);
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->st = CS_WRITING;
	conn_flush(a, c);
}

/* ---------- jobs ---------- */

static unsigned queued(const struct agent *a)
{
	return a->active + (unsigned)a->pending.len;
}

static void job_after_cpu(struct agent *a, struct conn *c)
{
	if (c->ms > 0) {
		c->deadline_ns = now_ns(CLOCK_MONOTONIC) + (uint64_t)(c->ms * 1e6);
		if (heap_push(&a->timers, c) == 0) {
			if (a->timers.v[0] == c)
				timer_rearm(a);
			return;
		}
		fprintf(stderr, "Error: out of memory for timers; answering early\n");
	}
	fifo_push(&a->finished, c);
}

static void job_start(struct agent *a, struct conn *c)
{
	c->st = CS_ACTIVE;
	a->active++;
	if (c->cpu > 0 && a->pool) {
		pool_submit(a->pool, c);
		return;
	}
	if (c->cpu > 0)
		burn_cpu(c->cpu, NULL);
	job_after_cpu(a, c);
}

static void job_submit(struct agent *a, struct conn *c)
{
	c->st = CS_QUEUED;
	if (a->active < a->o->slots && !a->pending.head)
		job_start(a, c);
	else
		fifo_push(&a->pending, c);
}

/* Serves the requests on the conn until one has to wait (queued, active,
 * writing) or no complete request is left in the buffer and the socket.
 * Reading here keeps edge-triggered epoll honest when the buffer was full. */
static void conn_process(struct agent *a, struct conn *c)
{
	struct request rq;

	while (c->st == CS_READING) {
		int r = parse_request(c->in, c->in_len, &rq);
		if (r == 0) {
			size_t before = c->in_len;
			conn_read(c);
			if (c->in_len == before)
				break;
			continue;
		}
		c->keep_alive = rq.keep_alive;
		c->head = rq.head;
		if (r < 0) {
			conn_respond(a, c, rq.status);
			return;
		}
		memmove(c->in, c->in + rq.consumed, c->in_len - rq.consumed);
		c->in_len -= rq.consumed;
		c->ms = rq.ms;
		c->cpu = rq.cpu;
		if (rq.health)
			conn_respond(a, c, a->o->health_status);
		else
			job_submit(a, c);
	}
	if (c->st == CS_READING && c->peer_gone)
		conn_close(a, c);
}

static void conn_event(struct agent *a, struct conn *c, uint32_t events)
{
	if (c->st == CS_CLOSED)
		return;
	if ((events & EPOLLOUT) && c->st == CS_WRITING) {
		conn_flush(a, c);
		if (c->st == CS_READING)
			conn_process(a, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		conn_read(c);
		if (c->st == CS_READING)
			conn_process(a, c);
	}
}

/* Answers finished jobs and starts waiting ones, until nothing is left. */
static void jobs_complete(struct agent *a)
{
	struct conn *c;

	while ((c = fifo_pop(&a->finished))) {
		a->active--;
		conn_respond(a, c, 200);
		if (c->st == CS_READING)
			conn_process(a, c);
		while (a->active < a->o->slots && a->pending.head)
			job_start(a, fifo_pop(&a->pending));
	}
}

/* CPU phase finished in the pool: go on with the sleep phase. */
static void pool_done(struct agent *a)
{
	struct fifo done = { 0 };
	struct conn *c;

	pool_collect(a->pool, &done);
	while ((c = fifo_pop(&done)))
		job_after_cpu(a, c);
}

static void timers_expire(struct agent *a)
{
	uint64_t exp, now = now_ns(CLOCK_MONOTONIC);

	if (read(a->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
		perror("Error: timerfd read");
	while (a->timers.len && a->timers.v[0]->deadline_ns <= now)
		fifo_push(&a->finished, heap_pop(&a->timers));
	timer_rearm(a);
}

/* ---------- listening ---------- */

/* What stops accepts: requests in progress + waiting; with a lobby also
 * the open connections, the count steer's "free slot" test uses. */
static unsigned busy(const struct agent *a)
{
	unsigned q = queued(a);
	return a->lobfd >= 0 && a->nconns > q ? a->nconns : q;
}

static bool lobby_open(const struct agent *a)
{
	return a->lobfd >= 0 && !a->draining;
}

/* One non-blocking accept: the fd, or -1 when the queue is empty (EAGAIN:
 * for the shared lobby, another worker may have taken it first). */
static int accept_one(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN)
			perror("Error: accept");
		return -1;
	}
}

static void take_conn(struct agent *a, int fd, bool via_lobby)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = conn_new(a, fd);
	if (!c) {
		perror("Error: new connection");
		close(fd);
		return;
	}
	c->via_lobby = via_lobby;
	if (via_lobby)
		a->taken_lobby++;
	else
		a->taken_own++;
	if (a->nconns > a->max_conns)
		a->max_conns = a->nconns;
	conn_process(a, c);
}

/* Own listener first; the lobby only when the own queue is empty and a
 * slot is free. */
static void accept_some(struct agent *a)
{
	while (busy(a) < a->o->slots) {
		bool lobby = false;
		int fd = accept_one(a->lfd);

		if (fd < 0 && lobby_open(a)) {
			fd = accept_one(a->lobfd);
			lobby = true;
		}
		if (fd < 0)
			return;
		take_conn(a, fd, lobby);
	}
}

/* Level-triggered lobby interest while a slot is free and not draining:
 * every idle worker sees a waiting connection (a wake-up that loses the
 * race gets EAGAIN). */
static void lobby_update(struct agent *a)
{
	bool want = lobby_open(a) && busy(a) < a->o->slots;
	struct epoll_event ev = { .events = want ? EPOLLIN : 0,
				  .data.ptr = &a->lobby_src };

	if (a->lobfd < 0 || want == a->lobby_armed)
		return;
	if (epoll_ctl(a->ep, EPOLL_CTL_MOD, a->lobfd, &ev) == 0)
		a->lobby_armed = want;
}

/* Listen for new connections only while there is a free slot, so excess
 * connections queue in the kernel, in order. */
static void listen_update(struct agent *a)
{
	bool want = busy(a) < a->o->slots;
	struct epoll_event ev = { .events = want ? EPOLLIN : 0,
				  .data.ptr = &a->listen_src };

	lobby_update(a);
	if (want == a->listen_armed)
		return;
	if (a->exclusive) {
		/* EPOLLEXCLUSIVE cannot be modified: remove and add again
		 * (the add reports a connection already queued). */
		ev.events |= EPOLLEXCLUSIVE;
		if (epoll_ctl(a->ep, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, a->lfd, &ev) == 0)
			a->listen_armed = want;
		return;
	}
	if (epoll_ctl(a->ep, EPOLL_CTL_MOD, a->lfd, &ev) == 0)
		a->listen_armed = want;
}

static int listen_socket(const struct sockaddr_in *addr, bool reuseport, int backlog)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	char ip[NETADDR_ENDPOINT_LEN];

	if (fd < 0) {
		perror("Error: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		perror("Error: SO_REUSEPORT");
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) ||
	    listen(fd, backlog)) {
		netaddr_format_sockaddr((const struct sockaddr *)addr, ip, sizeof(ip));
		fprintf(stderr, "Error: cannot listen on %s: %s\n", ip, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---------- setup, loop, teardown ---------- */

static int signal_fd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	/* blocked before any thread starts, so the pool inherits the mask */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int agent_setup(struct agent *a, const struct opts *o, int lfd, int lobfd)
{
	memset(a, 0, sizeof(*a));
	a->o = o;
	a->lfd = a->tfd = a->sfd = a->ep = -1;
	a->lobfd = lobfd;
	a->listen_src = SRC_LISTEN;
	a->lobby_src = SRC_LOBBY;
	a->timer_src = SRC_TIMER;
	a->signal_src = SRC_SIGNAL;
	a->sfd = signal_fd();
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->sfd < 0 || a->ep < 0 || a->tfd < 0) {
		perror("Error: setup");
		return -1;
	}
	if (o->mode == MODE_PS && !(a->pool = pool_create(o->slots))) {
		fprintf(stderr, "Error: cannot start %u CPU threads\n", o->slots);
		return -1;
	}
	a->lfd = lfd;
	a->exclusive = o->procs > 1 && o->mode == MODE_PS && lobfd < 0;
	if (epoll_add(a->ep, a->lfd, EPOLLIN | (a->exclusive ? EPOLLEXCLUSIVE : 0),
		      &a->listen_src) ||
	    epoll_add(a->ep, a->tfd, EPOLLIN, &a->timer_src) ||
	    epoll_add(a->ep, a->sfd, EPOLLIN, &a->signal_src) ||
	    (a->pool && epoll_add(a->ep, a->pool->efd, EPOLLIN, a->pool)) ||
	    (lobfd >= 0 && epoll_add(a->ep, lobfd, EPOLLIN, &a->lobby_src))) {
		perror("Error: epoll_ctl");
		return -1;
	}
	a->listen_armed = true;
	a->lobby_armed = lobfd >= 0;
	return 0;
}

static void free_graveyard(struct agent *a)
{
	struct conn *c = a->graveyard.head, *next;

	a->graveyard.head = a->graveyard.tail = NULL;
	a->graveyard.len = 0;
	for (; c; c = next) {
		next = c->qnext;
		free(c);
	}
}

/* SIGTERM/SIGINT quit; SIGUSR1 drains the lobby side, SIGUSR2 undrains. */
static void signal_event(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			a->draining = true;
		else if (si.ssi_signo == SIGUSR2)
			a->draining = false;
		else
			a->quit = true;
	}
}

static void dispatch(struct agent *a, void *ptr, uint32_t events)
{
	switch (*(enum src *)ptr) {
	case SRC_LISTEN:
	case SRC_LOBBY:
		accept_some(a);
		break;
	case SRC_TIMER:
		timers_expire(a);
		break;
	case SRC_POOL:
		pool_done(a);
		break;
	case SRC_SIGNAL:
		signal_event(a);
		break;
	case SRC_CONN:
		conn_event(a, ptr, events);
		break;
	}
	jobs_complete(a);
}

static int agent_run(struct agent *a, bool say_ready)
{
	struct epoll_event ev[MAX_EVENTS];

	if (say_ready) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
	}
	while (!a->quit) {
		int n = epoll_wait(a->ep, ev, MAX_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("Error: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++)
			dispatch(a, ev[i].data.ptr, ev[i].events);
		listen_update(a);
		free_graveyard(a);
	}
	return 0;
}

/* Every live conn is on a->conns (jobs never outlive their conn), so
 * closing those frees everything; job lists are then dropped unread. */
static void agent_teardown(struct agent *a)
{
	struct conn *c;

	pool_destroy(a->pool);
	if (a->lobfd >= 0)
		fprintf(stderr, "stats %s own %llu lobby %llu max_conns %u\n", a->o->name,
			a->taken_own, a->taken_lobby, a->max_conns);
	for (c = a->conns; c; c = a->conns)
		conn_close(a, c);
	free_graveyard(a);
	free(a->timers.v);
	if (a->lfd >= 0)
		close(a->lfd);
	if (a->lobfd >= 0)
		close(a->lobfd);
	if (a->tfd >= 0)
		close(a->tfd);
	if (a->sfd >= 0)
		close(a->sfd);
	if (a->ep >= 0)
		close(a->ep);
}

/* --procs: forks workers 2..N; returns this process's index (0 = the
 * first, which keeps the children's pids), or -1. */
static int fork_procs(struct opts *o, pid_t *kids)
{
	char base[NAME_MAX_LEN + 1];
	pid_t parent = getpid();
	unsigned idx = 0;

	strcpy(base, o->name);
	for (unsigned i = 1; i < o->procs; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("Error: fork");
			return -1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			idx = i;
			break;
		}
		kids[i] = pid;
	}
	snprintf(o->name, sizeof(o->name), "%s.%u", base, idx + 1);
	return (int)idx;
}

static void stop_procs(const struct opts *o, const pid_t *kids)
{
	for (unsigned i = 1; i < o->procs; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	for (unsigned i = 1; i < o->procs; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
}

/* With a lobby every process is a worker of its own: process i listens
 * on PORT+i. All are bound before the fork (a failure stops everything,
 * and "ready" means every one listens); each process keeps only its own. */
static int own_listeners(const struct opts *o, int *lfds)
{
	struct sockaddr_in addr = o->addr;

	for (unsigned i = 0; i < o->procs; i++) {
		addr.sin_port = htons((uint16_t)(ntohs(o->addr.sin_port) + i));
		lfds[i] = listen_socket(&addr, o->reuseport, o->backlog);
		if (lfds[i] < 0) {
			while (i--)
				close(lfds[i]);
			return -1;
		}
	}
	return 0;
}

static int keep_own(const struct opts *o, int *lfds, int idx)
{
	for (unsigned i = 0; i < o->procs; i++)
		if ((int)i != idx)
			close(lfds[i]);
	return lfds[idx];
}

int main(int argc, char **argv)
{
	pid_t kids[MAX_PROCS] = { 0 };
	int lfds[MAX_PROCS];
	struct opts o;
	struct agent a;
	int rc, lfd = -1, lobfd, idx = 0;
	bool lobby;

	if (parse_args(argc, argv, &o))
		return 2;
	lobby = o.lobby_create || o.lobby_fd >= 0;
	lobfd = o.lobby_create ? listen_socket(&o.lobby_addr, false, o.backlog) : o.lobby_fd;
	if (lobby && (lobfd < 0 || own_listeners(&o, lfds)))
		return 1;
	if (!lobby && (lfd = listen_socket(&o.addr, o.reuseport, o.backlog)) < 0)
		return 1;
	if (o.procs > 1 && (idx = fork_procs(&o, kids)) < 0) {
		stop_procs(&o, kids);
		return 1;
	}
	if (lobby)
		lfd = keep_own(&o, lfds, idx);
	if (agent_setup(&a, &o, lfd, lobfd)) {
		agent_teardown(&a);
		if (idx == 0)
			stop_procs(&o, kids);
		return 1;
	}
	rc = agent_run(&a, idx == 0);
	agent_teardown(&a);
	if (idx == 0)
		stop_procs(&o, kids);
	return rc;
}
