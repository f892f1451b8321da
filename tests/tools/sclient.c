// SPDX-License-Identifier: GPL-2.0
/*
 * sclient - mass TCP client for the steer test suite.
 *
 * Opens N connections (at most CONCURRENCY in progress at once) to one
 * address, reads the worker name each server sends first, then finishes
 * each connection as MODE says. Prints how many connections each worker
 * served and how many failed. Talks to sworker (see sworker.c for the
 * line protocol). Single-threaded, non-blocking, epoll driven.
 */
#include "common.h"

#include <getopt.h>
#include <sys/epoll.h>

#define LINE_MAX_LEN   256
#define MAX_EVENTS     256
#define MAX_CONNS      10000000UL
#define MAX_MS         (7UL * 24 * 3600 * 1000)
#define SLEEP_MAX_MS   (24UL * 3600 * 1000) /* sworker's limit */
#define CONC_DFLT      100
#define TIMEOUT_DFLT   5000
#define ERR_PENDING    (-1) /* result not known yet */
#define ERRNO_BUCKETS  256

enum mode {
	MODE_CLIENT_FIN,
	MODE_CLIENT_RST,
	MODE_SERVER_FIN,
	MODE_SERVER_RST,
	MODE_HOLD,
	MODE_MIXED,
	MODE_SLEEP,
};

enum src_type { SRC_DEFAULT, SRC_ONE, SRC_RANGE };

struct options {
	union sockaddr_any dst;
	unsigned long n;
	unsigned long conc;       /* already resolved: 0 became n */
	enum mode mode;
	unsigned long sleep_ms;   /* MODE_SLEEP */
	unsigned long hold_ms;
	bool has_hold_ms;
	unsigned long timeout_ms;
	bool per_conn;
	enum src_type src_type;
	union sockaddr_any src;   /* SRC_ONE */
	uint32_t range_first;     /* SRC_RANGE, host byte order */
	uint64_t range_size;
	unsigned long src_port;   /* 0: the kernel picks; else connection i binds src_port + i */
};

/* What an epoll event refers to. */
enum source_kind { EV_SIGNAL, EV_STDIN, EV_CONN };

struct source {
	enum source_kind kind;
	int fd;
};

enum phase {
	PH_CONNECTING,  /* non-blocking connect in progress */
	PH_NAME,        /* waiting for the "NAME\n" line */
	PH_WAIT_EOF,    /* command sent, waiting for the server to close */
	PH_HOLD,        /* named and kept open until the run ends */
};

struct conn {
	struct source src;
	struct conn *prev, *next;
	struct timer timer;
	size_t idx;
	enum mode mode;           /* never MODE_MIXED */
	enum phase phase;
	int name;                 /* index in client.names, -1 if none */
	bool got_done;
	size_t len;
	char buf[LINE_MAX_LEN];
};

struct result {
	union sockaddr_any local; /* sa_family 0 if unknown */
	int name;
	int err;                  /* 0 ok, errno, or ERR_PENDING */
};

struct name_count {
	char *name;
	size_t count;             /* successful connections */
};

struct client {
	const struct options *o;
	int epfd;
	struct source signals;
	struct source input;
	struct timer_heap timers;
	struct conn *conns;       /* all open connections */
	struct result *res;
	struct name_count *names;
	size_t nnames, names_cap;
	size_t next;              /* next connection index to start */
	size_t in_flight;         /* open and not yet held */
	size_t finished;          /* results known */
	size_t ok, failed, refused;
	size_t held, lost;
	bool summary_done;
	bool stop;
};

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("Usage: sclient --connect ADDR:PORT -n N [-c CONCURRENCY] [--mode MODE]\n"
	      "               [--hold-ms MS] [--src-range CIDR | --src ADDR]\n"
	      "               [--src-port PORT] [--timeout-ms MS] [--per-conn]\n"
	      "ADDR:PORT is IPv4:PORT or [IPv6]:PORT. MODE is client-fin (default),\n"
	      "client-rst, server-fin, server-rst, hold, mixed or sleep:MS.\n", f);
}

static void parse_mode(const char *s, struct options *o)
{
	static const char *const names[] = {
		[MODE_CLIENT_FIN] = "client-fin",
		[MODE_CLIENT_RST] = "client-rst",
		[MODE_SERVER_FIN] = "server-fin",
		[MODE_SERVER_RST] = "server-rst",
		[MODE_HOLD]       = "hold",
		[MODE_MIXED]      = "mixed",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i] && strcmp(s, names[i]) == 0) {
			o->mode = (enum mode)i;
			return;
		}
	}
	if (strncmp(s, "sleep:", 6) == 0 &&
	    parse_ulong(s + 6, 0, SLEEP_MAX_MS, &o->sleep_ms) == 0) {
		o->mode = MODE_SLEEP;
		return;
	}
	usage_error("invalid --mode '%s'", s);
}

/* "a.b.c.d/p": usable host addresses of that IPv4 network. */
static void parse_src_range(const char *s, struct options *o)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long prefix;
	struct in_addr a;
	uint32_t mask, net;
	size_t n;

	n = slash ? (size_t)(slash - s) : 0;
	if (!slash || n == 0 || n >= sizeof(ip) ||
	    parse_ulong(slash + 1, 0, 32, &prefix))
		usage_error("invalid --src-range '%s' (want IPv4/PREFIX)", s);
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		usage_error("invalid --src-range '%s' (want IPv4/PREFIX)", s);
	mask = prefix ? ~0U << (32 - prefix) : 0;
	net = ntohl(a.s_addr) & mask;
	if (prefix >= 31) { /* /31 and /32: every address is a host */
		o->range_first = net;
		o->range_size = 1ULL << (32 - prefix);
	} else { /* skip the network and broadcast addresses */
		o->range_first = net + 1;
		o->range_size = (1ULL << (32 - prefix)) - 2;
	}
	o->src_type = SRC_RANGE;
}

static void check_args(struct options *o, const char *connect)
{
	if (!connect)
		usage_error("--connect ADDR:PORT is required");
	if (parse_addr_port(connect, &o->dst))
		usage_error("invalid --connect address '%s' (want IPv4:PORT or [IPv6]:PORT)",
			    connect);
	if (!o->n)
		usage_error("-n N is required");
	if (o->has_hold_ms && o->mode != MODE_HOLD)
		usage_error("--hold-ms needs --mode hold");
	if (o->src_type == SRC_RANGE && o->dst.sa.sa_family != AF_INET)
		usage_error("--src-range needs an IPv4 --connect address");
	if (o->src_type == SRC_ONE &&
	    o->src.sa.sa_family != o->dst.sa.sa_family)
		usage_error("--src and --connect addresses are not the same family");
	if (o->src_port && o->src_type != SRC_ONE)
		usage_error("--src-port needs --src");
	if (o->src_port && o->src_port + o->n - 1 > 65535)
		usage_error("--src-port %lu + -n %lu passes port 65535", o->src_port, o->n);
	if (o->conc == 0 || o->conc > o->n)
		o->conc = o->n;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum {
		OPT_CONNECT = 256, OPT_MODE, OPT_HOLD_MS, OPT_SRC_RANGE,
		OPT_SRC, OPT_TIMEOUT_MS, OPT_PER_CONN, OPT_SRC_PORT,
	};
	static const struct option longopts[] = {
		{ "connect",    required_argument, NULL, OPT_CONNECT },
		{ "mode",       required_argument, NULL, OPT_MODE },
		{ "hold-ms",    required_argument, NULL, OPT_HOLD_MS },
		{ "src-range",  required_argument, NULL, OPT_SRC_RANGE },
		{ "src",        required_argument, NULL, OPT_SRC },
		{ "src-port",   required_argument, NULL, OPT_SRC_PORT },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
		{ "per-conn",   no_argument,       NULL, OPT_PER_CONN },
		{ "help",       no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *connect = NULL;
	int c;

	memset(o, 0, sizeof(*o));
	o->conc = CONC_DFLT;
	o->timeout_ms = TIMEOUT_DFLT;
	o->mode = MODE_CLIENT_FIN;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONNECT:
			connect = optarg;
			break;
		case 'n':
			if (parse_ulong(optarg, 1, MAX_CONNS, &o->n))
				usage_error("invalid -n '%s' (1-%lu)", optarg, MAX_CONNS);
			break;
		case 'c':
			if (parse_ulong(optarg, 0, MAX_CONNS, &o->conc))
				usage_error("invalid -c '%s'", optarg);
			break;
		case OPT_MODE:
			parse_mode(optarg, o);
			break;
		case OPT_HOLD_MS:
			if (parse_ulong(optarg, 0, MAX_MS, &o->hold_ms))
				usage_error("invalid --hold-ms '%s'", optarg);
			o->has_hold_ms = true;
			break;
		case OPT_SRC_RANGE:
			if (o->src_type != SRC_DEFAULT)
				usage_error("use only one of --src-range and --src");
			parse_src_range(optarg, o);
			break;
		case OPT_SRC:
			if (o->src_type != SRC_DEFAULT)
				usage_error("use only one of --src-range and --src");
			if (parse_ip(optarg, &o->src))
				usage_error("invalid --src address '%s'", optarg);
			o->src_type = SRC_ONE;
			break;
		case OPT_SRC_PORT:
			if (parse_ulong(optarg, 1, 65535, &o->src_port))
				usage_error("invalid --src-port '%s'", optarg);
			break;
		case OPT_TIMEOUT_MS:
			if (parse_ulong(optarg, 1, MAX_MS, &o->timeout_ms))
				usage_error("invalid --timeout-ms '%s'", optarg);
			break;
		case OPT_PER_CONN:
			o->per_conn = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			bad_option(c, optopt, argv, optind);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_args(o, connect);
}

/* ---- bookkeeping -------------------------------------------------------- */

static void ep_ctl(struct client *cl, int op, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(cl->epfd, op, s->fd, &ev))
		fatal("epoll_ctl: %s", strerror(errno));
}

static int name_index(struct client *cl, const char *name)
{
	struct name_count *nc;

	for (size_t i = 0; i < cl->nnames; i++)
		if (strcmp(cl->names[i].name, name) == 0)
			return (int)i;
	if (cl->nnames == cl->names_cap) {
		size_t cap = cl->names_cap ? cl->names_cap * 2 : 16;

		nc = realloc(cl->names, cap * sizeof(*nc));
		if (!nc)
			fatal("out of memory");
		cl->names = nc;
		cl->names_cap = cap;
	}
	nc = &cl->names[cl->nnames];
	nc->name = strdup(name);
	if (!nc->name)
		fatal("out of memory");
	nc->count = 0;
	return (int)cl->nnames++;
}

/* Store the final outcome of connection idx. */
static void record(struct client *cl, size_t idx, int err, int name)
{
	struct result *r = &cl->res[idx];

	r->err = err;
	r->name = err ? -1 : name;
	if (err == 0) {
		cl->ok++;
		if (name >= 0)
			cl->names[name].count++;
	} else if (err == ECONNREFUSED) {
		cl->refused++;
	} else {
		cl->failed++;
	}
	cl->finished++;
}

static enum mode conn_mode(const struct options *o, size_t idx)
{
	static const enum mode mixed[] = {
		MODE_CLIENT_FIN, MODE_CLIENT_RST, MODE_SERVER_FIN, MODE_SERVER_RST,
	};

	return o->mode == MODE_MIXED ? mixed[idx % 4] : o->mode;
}

/* Close and forget a connection; its result must already be recorded. */
static void conn_free(struct client *cl, struct conn *c, bool rst)
{
	if (c->src.fd >= 0) {
		if (rst)
			set_linger_rst(c->src.fd);
		close(c->src.fd);
	}
	timer_stop(&cl->timers, &c->timer);
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->phase == PH_HOLD)
		cl->held--;
	else
		cl->in_flight--;
	free(c);
}

/* Record the outcome and close. */
static void conn_end(struct client *cl, struct conn *c, int err, bool rst)
{
	record(cl, c->idx, err, c->name);
	conn_free(cl, c, rst);
}

/* ---- starting connections ----------------------------------------------- */

static void source_addr(const struct options *o, size_t idx,
			union sockaddr_any *a)
{
	if (o->src_type == SRC_ONE) {
		*a = o->src;
		if (o->src_port)
			sa_set_port(a, (uint16_t)(o->src_port + idx));
		return;
	}
	memset(a, 0, sizeof(*a));
	a->in.sin_family = AF_INET;
	a->in.sin_addr.s_addr =
		htonl(o->range_first + (uint32_t)(idx % o->range_size));
}

/* Bind to the configured source address, port chosen at connect(). */
static int bind_source(const struct options *o, int fd, size_t idx)
{
	union sockaddr_any a;
	int one = 1;

	if (o->src_type == SRC_DEFAULT)
		return 0;
	source_addr(o, idx, &a);
	/* a fixed port: other sockets (to other addresses) may hold it too */
	if (o->src_port &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		return -1;
	if (!o->src_port &&
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		       sizeof(one)))
		return -1;
	return bind(fd, &a.sa, sa_len(&a));
}

static struct conn *conn_new(struct client *cl, size_t idx)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		fatal("out of memory");
	c->src.kind = EV_CONN;
	c->src.fd = -1;
	c->idx = idx;
	c->mode = conn_mode(cl->o, idx);
	c->phase = PH_CONNECTING;
	c->name = -1;
	timer_init(&c->timer);
	c->next = cl->conns;
	if (c->next)
		c->next->prev = c;
	cl->conns = c;
	cl->in_flight++;
	return c;
}

static void conn_start(struct client *cl, size_t idx)
{
	const struct options *o = cl->o;
	struct conn *c = conn_new(cl, idx);
	socklen_t len = sizeof(cl->res[idx].local);
	int fd, r, err;

	fd = socket(o->dst.sa.sa_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_end(cl, c, errno, false);
		return;
	}
	c->src.fd = fd;
	if (bind_source(o, fd, idx)) {
		conn_end(cl, c, errno, false);
		return;
	}
	r = connect(fd, &o->dst.sa, sa_len(&o->dst));
	err = r ? errno : 0;
	/* The local port is assigned now, even if connect() is pending. */
	if (getsockname(fd, &cl->res[idx].local.sa, &len))
		cl->res[idx].local.sa.sa_family = AF_UNSPEC;
	if (err && err != EINPROGRESS) {
		conn_end(cl, c, err, false);
		return;
	}
	if (r == 0) {
		c->phase = PH_NAME;
		ep_ctl(cl, EPOLL_CTL_ADD, &c->src, EPOLLIN);
	} else {
		ep_ctl(cl, EPOLL_CTL_ADD, &c->src, EPOLLOUT);
	}
	timer_start(&cl->timers, &c->timer, now_ms() + o->timeout_ms);
}

/* Start connections while below the concurrency limit. */
static void fill(struct client *cl)
{
	while (!cl->stop && cl->in_flight < cl->o->conc && cl->next < cl->o->n)
		conn_start(cl, cl->next++);
}

/* ---- per-connection protocol -------------------------------------------- */

static int send_all(int fd, const char *s, size_t len)
{
	ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

	/* A fresh socket's send buffer always takes a short command. */
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : EAGAIN;
}

/*
 * Send the command for MODE and wait for the server to close.
 * Returns false if the connection was ended.
 */
static bool conn_command(struct client *cl, struct conn *c, const char *cmd)
{
	uint64_t wait = cl->o->timeout_ms;
	int err = send_all(c->src.fd, cmd, strlen(cmd));

	if (err) {
		conn_end(cl, c, err, false);
		return false;
	}
	if (c->mode == MODE_SLEEP)
		wait += cl->o->sleep_ms;
	c->phase = PH_WAIT_EOF;
	timer_start(&cl->timers, &c->timer, now_ms() + wait);
	return true;
}

static void conn_hold(struct client *cl, struct conn *c)
{
	timer_stop(&cl->timers, &c->timer);
	record(cl, c->idx, 0, c->name);
	c->phase = PH_HOLD;
	cl->in_flight--;
	cl->held++;
}

/*
 * The worker name arrived: act according to the mode.
 * Returns false if the connection was ended.
 */
static bool conn_named(struct client *cl, struct conn *c, const char *name)
{
	char cmd[32];

	if (!*name) {
		conn_end(cl, c, EPROTO, false);
		return false;
	}
	c->name = name_index(cl, name);
	switch (c->mode) {
	case MODE_CLIENT_FIN:
		conn_end(cl, c, 0, false);
		return false;
	case MODE_CLIENT_RST:
		conn_end(cl, c, 0, true);
		return false;
	case MODE_SERVER_FIN:
		return conn_command(cl, c, "fin\n");
	case MODE_SERVER_RST:
		return conn_command(cl, c, "rst\n");
	case MODE_SLEEP:
		snprintf(cmd, sizeof(cmd), "sleep %lu\n", cl->o->sleep_ms);
		return conn_command(cl, c, cmd);
	case MODE_HOLD:
	case MODE_MIXED: /* never: conn_mode() resolved it */
		break;
	}
	conn_hold(cl, c);
	return true;
}

/*
 * Handle complete lines in the buffer. The first is the name; later ones
 * only matter for sleep mode ("done"). Returns false if the conn is gone.
 */
static bool conn_lines(struct client *cl, struct conn *c)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t linelen = (size_t)(nl - c->buf);

		*nl = '\0';
		if (linelen && c->buf[linelen - 1] == '\r')
			c->buf[linelen - 1] = '\0';
		if (c->phase == PH_NAME) {
			if (!conn_named(cl, c, c->buf))
				return false;
		} else if (strcmp(c->buf, "done") == 0) {
			c->got_done = true;
		}
		c->len -= linelen + 1;
		memmove(c->buf, nl + 1, c->len);
	}
	if (c->len == sizeof(c->buf)) {
		if (c->phase == PH_NAME) {
			conn_end(cl, c, EPROTO, false); /* name too long */
			return false;
		}
		c->len = 0; /* junk: drop it */
	}
	return true;
}

/* Server closed (EOF, err 0) or reset (err) the connection. */
static void conn_closed_by_peer(struct client *cl, struct conn *c, int err)
{
	if (c->phase == PH_HOLD) {
		cl->lost++;
		conn_free(cl, c, false);
		return;
	}
	if (c->phase == PH_NAME)
		err = err ? err : EPROTO; /* closed before sending the name */
	else if (c->mode == MODE_SERVER_RST)
		err = 0;                  /* RST or EOF both fine */
	else if (c->mode == MODE_SLEEP && !err && !c->got_done)
		err = EPROTO;
	conn_end(cl, c, err, false);
}

static void conn_readable(struct client *cl, struct conn *c)
{
	char scratch[LINE_MAX_LEN];
	bool hold = c->phase == PH_HOLD; /* data is unexpected: discard it */
	ssize_t n = hold ? recv(c->src.fd, scratch, sizeof(scratch), 0)
			 : recv(c->src.fd, c->buf + c->len,
				sizeof(c->buf) - c->len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_closed_by_peer(cl, c, n < 0 ? errno : 0);
		return;
	}
	if (!hold) {
		c->len += (size_t)n;
		conn_lines(cl, c);
	}
}

static void conn_connected(struct client *cl, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->src.fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		conn_end(cl, c, err, false);
		return;
	}
	c->phase = PH_NAME;
	ep_ctl(cl, EPOLL_CTL_MOD, &c->src, EPOLLIN);
}

static void conn_event(struct client *cl, struct conn *c, uint32_t events)
{
	if (c->phase == PH_CONNECTING)
		conn_connected(cl, c);
	else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_readable(cl, c);
}

static void run_timers(struct client *cl)
{
	uint64_t now = now_ms();
	struct timer *t;

	while ((t = timer_due(&cl->timers, now)))
		conn_end(cl, container_of(t, struct conn, timer), ETIMEDOUT,
			 false);
}

/* ---- signals, stdin, output --------------------------------------------- */

static void signal_ready(struct client *cl)
{
	int sig;

	while ((sig = read_signal(cl->signals.fd))) {
		if (sig == SIGUSR1)
			fprintf(stderr, "progress started %zu open %zu ok %zu failed %zu refused %zu\n",
				cl->next, cl->in_flight + cl->held, cl->ok,
				cl->failed, cl->refused);
		else
			cl->stop = true;
	}
}

static void stdin_ready(struct client *cl)
{
	char buf[4096];
	ssize_t n = read(cl->input.fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		epoll_ctl(cl->epfd, EPOLL_CTL_DEL, cl->input.fd, NULL);
		cl->stop = true;
	}
}

/*
 * Hold until stdin reaches EOF. A stdin epoll cannot watch (/dev/null, a
 * regular file: e.g. a background job of a shell script) is ignored, so
 * only SIGTERM/SIGINT end the hold then.
 */
static void watch_stdin(struct client *cl)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cl->input };

	cl->input = (struct source){ EV_STDIN, STDIN_FILENO };
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) &&
	    errno != EPERM && errno != EBADF)
		fatal("epoll_ctl(stdin): %s", strerror(errno));
}

static void dispatch(struct client *cl, const struct epoll_event *ev)
{
	struct source *s = ev->data.ptr;

	switch (s->kind) {
	case EV_SIGNAL:
		signal_ready(cl);
		break;
	case EV_STDIN:
		stdin_ready(cl);
		break;
	case EV_CONN:
		conn_event(cl, container_of(s, struct conn, src), ev->events);
		break;
	}
}

static int cmp_names(const void *a, const void *b)
{
	const struct name_count *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static void print_workers(const struct client *cl)
{
	const struct name_count **sorted;

	sorted = malloc((cl->nnames + 1) * sizeof(*sorted));
	if (!sorted)
		fatal("out of memory");
	for (size_t i = 0; i < cl->nnames; i++)
		sorted[i] = &cl->names[i];
	qsort(sorted, cl->nnames, sizeof(*sorted), cmp_names);
	for (size_t i = 0; i < cl->nnames; i++)
		if (sorted[i]->count)
			printf("worker %s %zu\n", sorted[i]->name,
			       sorted[i]->count);
	free(sorted);
}

static void print_summary(struct client *cl)
{
	char addr[ADDR_STRLEN];

	if (cl->o->per_conn) {
		for (size_t i = 0; i < cl->o->n; i++) {
			const struct result *r = &cl->res[i];

			format_addr(&r->local, addr, sizeof(addr));
			printf("conn %zu %s %s\n", i, addr,
			       r->name >= 0 ? cl->names[r->name].name : "-");
		}
	}
	print_workers(cl);
	printf("ok %zu failed %zu refused %zu\n", cl->ok, cl->failed,
	       cl->refused);
	fflush(stdout);
	cl->summary_done = true;
}

/* One stderr line per failure reason, to help debug a failing test. */
static void print_errors(const struct client *cl)
{
	size_t counts[ERRNO_BUCKETS] = { 0 };

	for (size_t i = 0; i < cl->o->n; i++) {
		int e = cl->res[i].err;

		if (e > 0 && e != ECONNREFUSED)
			counts[e < ERRNO_BUCKETS ? e : 0]++;
	}
	for (int e = 0; e < ERRNO_BUCKETS; e++)
		if (counts[e])
			fprintf(stderr, "failed %zu: %s\n", counts[e],
				e ? strerror(e) : "other error");
}

/* Interrupted before the end: unfinished connections count as failed. */
static void fail_unfinished(struct client *cl)
{
	struct conn *c, *next;

	for (c = cl->conns; c; c = next) {
		next = c->next;
		if (c->phase != PH_HOLD)
			conn_end(cl, c, EINTR, false);
	}
	for (size_t i = 0; i < cl->o->n; i++)
		if (cl->res[i].err == ERR_PENDING)
			record(cl, i, EINTR, -1);
}

/* ---- main loop ---------------------------------------------------------- */

static int wait_ms(const struct client *cl, uint64_t hold_until)
{
	uint64_t now = now_ms();
	int t = timer_wait_ms(&cl->timers, now);

	if (hold_until) {
		uint64_t h = hold_until > now ? hold_until - now : 0;

		if (t < 0 || h < (uint64_t)t)
			t = h > INT_MAX ? INT_MAX : (int)h;
	}
	return t;
}

/* Summary time: the run is over, or the hold phase begins. */
static uint64_t all_finished(struct client *cl)
{
	print_summary(cl);
	if (cl->o->mode != MODE_HOLD) {
		cl->stop = true;
		return 0;
	}
	if (cl->o->has_hold_ms)
		return now_ms() + cl->o->hold_ms + 1; /* never 0 */
	watch_stdin(cl);
	return 0;
}

static void run(struct client *cl)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t hold_until = 0;

	fill(cl);
	while (!cl->stop) {
		int n;

		if (!cl->summary_done && cl->finished == cl->o->n) {
			hold_until = all_finished(cl);
			if (cl->stop)
				break;
		}
		n = epoll_wait(cl->epfd, evs, MAX_EVENTS, wait_ms(cl, hold_until));
		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			dispatch(cl, &evs[i]);
		run_timers(cl);
		fill(cl);
		if (hold_until && now_ms() >= hold_until)
			break;
	}
}

static void client_init(struct client *cl, const struct options *o)
{
	memset(cl, 0, sizeof(*cl));
	cl->o = o;
	cl->res = calloc(o->n, sizeof(*cl->res));
	if (!cl->res)
		fatal("out of memory");
	for (size_t i = 0; i < o->n; i++) {
		cl->res[i].err = ERR_PENDING;
		cl->res[i].name = -1;
	}
	cl->signals = (struct source){ EV_SIGNAL, setup_signalfd() };
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	ep_ctl(cl, EPOLL_CTL_ADD, &cl->signals, EPOLLIN);
}

static void client_cleanup(struct client *cl)
{
	while (cl->conns)
		conn_free(cl, cl->conns, false);
	for (size_t i = 0; i < cl->nnames; i++)
		free(cl->names[i].name);
	free(cl->names);
	free(cl->res);
	free(cl->timers.v);
	close(cl->signals.fd);
	close(cl->epfd);
}

int main(int argc, char **argv)
{
	struct options opts;
	struct client cl;
	rlim_t nofile;
	int status;

	parse_args(argc, argv, &opts);
	nofile = raise_nofile();
	if (opts.conc + 16 > nofile ||
	    (opts.mode == MODE_HOLD && opts.n + 16 > nofile))
		fprintf(stderr, "warning: open file limit %lu may be too low\n",
			(unsigned long)nofile);

	client_init(&cl, &opts);
	run(&cl);
	if (!cl.summary_done) {
		fail_unfinished(&cl);
		print_summary(&cl);
	}
	print_errors(&cl);
	if (cl.lost)
		fprintf(stderr, "lost %zu\n", cl.lost);
	status = cl.ok == opts.n ? EXIT_SUCCESS : EXIT_FAILURE;
	client_cleanup(&cl);
	return status;
}
