// SPDX-License-Identifier: GPL-2.0
/*
 * sworker - TCP test worker for the steer test suite.
 *
 * Listens on one address, greets every accepted connection with "NAME\n"
 * and then obeys one command line from the client:
 *
 *   fin        close the connection normally (FIN)
 *   rst        abort the connection (SO_LINGER {1,0} + close: RST)
 *   sleep MS   wait MS milliseconds, write "done\n", close (FIN)
 *
 * Any other line is ignored; client EOF or error closes the connection.
 * Single-threaded, non-blocking, epoll driven.
 *
 * Lobby mode (steer's lobby, `steerctl pool lobby`): --lobby-from PID takes
 * a copy of the one listening socket process PID holds (pidfd_getfd) and
 * accepts from it too; --slots N serves at most N connections at once,
 * accepting from its own listener first and from the lobby only while it
 * has a free slot, as a lobby-aware worker must.
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define NAME_MAX_LEN  200
#define LINE_MAX_LEN  256
#define MAX_EVENTS    256
#define ACCEPT_BATCH  256
#define SLEEP_MAX_MS  (24UL * 3600 * 1000)
#define BACKLOG_DFLT  4096

struct options {
	union sockaddr_any addr;
	char default_name[16];
	const char *name;
	int backlog;
	bool no_accept;
	bool reuseport;
	bool v6only;
	bool listen_fds;   /* take fd 3, passed by systemd's protocol */
	unsigned long slots;     /* connections at once; 0: no limit */
	unsigned long lobby_pid; /* the process holding the lobby socket; 0: none */
};

/* What an epoll event refers to: the listener, the signalfd or a conn. */
enum source_kind { SRC_LISTENER, SRC_SIGNAL, SRC_CONN };

struct source {
	enum source_kind kind;
	int fd;
};

enum conn_state {
	CONN_OPEN,      /* waiting for a command */
	CONN_SLEEPING,  /* "sleep MS" timer armed */
	CONN_CLOSING,   /* flushing "done\n", close once written */
};

struct conn {
	struct source src;
	struct conn *prev, *next;
	struct timer timer;
	enum conn_state state;
	bool want_out;            /* EPOLLOUT registered */
	size_t in_len;
	char in[LINE_MAX_LEN];
	size_t out_off, out_len;
	char out[NAME_MAX_LEN + 2];
};

struct worker {
	int epfd;
	struct source listener;
	struct source lobby;      /* fd -1: no lobby */
	struct source signals;
	size_t slots;             /* 0: no limit */
	bool accepting;           /* the listeners are in the epoll set */
	bool no_accept;           /* --no-accept: never */
	const char *name;
	size_t name_len;
	struct timer_heap timers;
	struct conn *conns;       /* doubly linked list of open connections */
	size_t nopen;
	bool accept_paused;       /* out of fds: listener removed from epoll */
	bool accept_warned;       /* warn about that only once */
	bool stop;
};

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("Usage: sworker (--listen ADDR:PORT | --listen-fds) [--name NAME] [--backlog N]\n"
	      "               [--no-accept] [--reuseport] [--v6only]\n"
	      "               [--slots N] [--lobby-from PID]\n"
	      "--listen-fds: serve the socket passed as fd 3 (LISTEN_PID, LISTEN_FDS).\n"
	      "ADDR:PORT is IPv4:PORT or [IPv6]:PORT. Prints 'ready PID' once\n"
	      "listening; SIGUSR1 prints 'open N' on stderr.\n", f);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_NO_ACCEPT = 256, OPT_REUSEPORT, OPT_V6ONLY, OPT_LISTEN_FDS, OPT_SLOTS,
	       OPT_LOBBY_FROM };
	static const struct option longopts[] = {
		{ "listen",    required_argument, NULL, 'l' },
		{ "name",      required_argument, NULL, 'N' },
		{ "backlog",   required_argument, NULL, 'b' },
		{ "no-accept", no_argument,       NULL, OPT_NO_ACCEPT },
		{ "reuseport", no_argument,       NULL, OPT_REUSEPORT },
		{ "v6only",    no_argument,       NULL, OPT_V6ONLY },
		{ "listen-fds", no_argument,      NULL, OPT_LISTEN_FDS },
		{ "slots",     required_argument, NULL, OPT_SLOTS },
		{ "lobby-from", required_argument, NULL, OPT_LOBBY_FROM },
		{ "help",      no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL;
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->backlog = BACKLOG_DFLT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:N:b:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'N':
			if (!valid_name(optarg))
				usage_error("invalid --name '%s' (1-%d printable characters, no spaces)",
					    optarg, NAME_MAX_LEN);
			o->name = optarg;
			break;
		case 'b':
			if (parse_ulong(optarg, 0, INT_MAX, &v))
				usage_error("invalid --backlog '%s'", optarg);
			o->backlog = (int)v;
			break;
		case OPT_NO_ACCEPT:
			o->no_accept = true;
			break;
		case OPT_REUSEPORT:
			o->reuseport = true;
			break;
		case OPT_V6ONLY:
			o->v6only = true;
			break;
		case OPT_LISTEN_FDS:
			o->listen_fds = true;
			break;
		case OPT_SLOTS:
			if (parse_ulong(optarg, 1, INT_MAX, &o->slots))
				usage_error("invalid --slots '%s'", optarg);
			break;
		case OPT_LOBBY_FROM:
			if (parse_ulong(optarg, 1, INT_MAX, &o->lobby_pid))
				usage_error("invalid --lobby-from '%s'", optarg);
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
	if (o->listen_fds && !listen) {
		o->name = o->name ? o->name : "w";
		return;
	}
	if (!listen)
		usage_error("--listen ADDR:PORT is required");
	if (parse_addr_port(listen, &o->addr))
		usage_error("invalid --listen address '%s' (want IPv4:PORT or [IPv6]:PORT)",
			    listen);
	if (o->v6only && o->addr.sa.sa_family != AF_INET6)
		usage_error("--v6only needs an IPv6 --listen address");
	if (!o->name) {
		snprintf(o->default_name, sizeof(o->default_name), "w%u",
			 sa_port(&o->addr));
		o->name = o->default_name;
	}
}

/* ---- setup -------------------------------------------------------------- */

static void set_opt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)))
		fatal("setsockopt(%s): %s", what, strerror(errno));
}

/* sd_listen_fds(3): fd 3, when it was passed to this very process */
static int passed_listener(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");

	if (!pid || !n || atoi(pid) != getpid() || atoi(n) < 1)
		fatal("--listen-fds: no socket passed (LISTEN_PID %s, LISTEN_FDS %s)",
		      pid ? pid : "unset", n ? n : "unset");
	if (fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) || fcntl(3, F_SETFD, FD_CLOEXEC))
		fatal("fd 3: %s", strerror(errno));
	return 3;
}

static int open_listener(const struct options *o)
{
	char addr[ADDR_STRLEN];
	int fd;

	if (o->listen_fds)
		return passed_listener();
	format_addr(&o->addr, addr, sizeof(addr));
	fd = socket(o->addr.sa.sa_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	set_opt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (o->reuseport)
		set_opt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
	if (o->addr.sa.sa_family == AF_INET6)
		set_opt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, o->v6only,
			    "IPV6_V6ONLY");
	if (bind(fd, &o->addr.sa, sa_len(&o->addr)))
		fatal("bind %s: %s", addr, strerror(errno));
	if (listen(fd, o->backlog))
		fatal("listen %s: %s", addr, strerror(errno));
	return fd;
}

static void ep_ctl(struct worker *w, int op, struct source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(w->epfd, op, s->fd, &ev))
		fatal("epoll_ctl: %s", strerror(errno));
}

/* ---- lobby ---------------------------------------------------------------- */

/* The one socket process pid holds, copied with pidfd_getfd. */
static int lobby_take(unsigned long pid)
{
	char dir[64], path[320], link[64];
	int pidfd, fd = -1, found = -1;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%lu/fd", pid);
	if (!(d = opendir(dir)))
		fatal("--lobby-from %lu: %s", pid, strerror(errno));
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strncmp(link, "socket:", 7)) {
			if (found >= 0)
				fatal("--lobby-from %lu: more than one socket", pid);
			found = atoi(e->d_name);
		}
	}
	closedir(d);
	if (found < 0)
		fatal("--lobby-from %lu: no socket", pid);
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd >= 0)
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, found, 0);
	if (fd < 0)
		fatal("--lobby-from %lu: cannot copy fd %d: %s", pid, found, strerror(errno));
	close(pidfd);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
		fatal("lobby fd: %s", strerror(errno));
	return fd;
}

/* Accept only with a free slot: the listeners leave the epoll set when
 * every slot is taken and come back when one frees. */
static void set_accepting(struct worker *w)
{
	bool want = !w->slots || w->nopen < w->slots;

	if (want == w->accepting || w->no_accept)
		return;
	w->accepting = want;
	ep_ctl(w, EPOLL_CTL_MOD, &w->listener, want ? EPOLLIN : 0);
	if (w->lobby.fd >= 0)
		ep_ctl(w, EPOLL_CTL_MOD, &w->lobby, want ? EPOLLIN : 0);
}

/* ---- connections -------------------------------------------------------- */

static void conn_close(struct worker *w, struct conn *c, bool rst)
{
	if (rst)
		set_linger_rst(c->src.fd);
	close(c->src.fd); /* also removes it from the epoll set */
	timer_stop(&w->timers, &c->timer);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nopen--;
	free(c);
	if (w->accept_paused) {
		w->accept_paused = false;
		ep_ctl(w, EPOLL_CTL_MOD, &w->listener, EPOLLIN);
	}
	set_accepting(w);
}

static void conn_want_out(struct worker *w, struct conn *c, bool want)
{
	if (c->want_out == want)
		return;
	c->want_out = want;
	ep_ctl(w, EPOLL_CTL_MOD, &c->src, EPOLLIN | (want ? EPOLLOUT : 0));
}

/* Write pending output. Returns false if the connection was closed. */
static bool conn_flush(struct worker *w, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->src.fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_want_out(w, c, true);
			return true;
		}
		if (n <= 0) {
			conn_close(w, c, false);
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	if (c->state == CONN_CLOSING) {
		conn_close(w, c, false);
		return false;
	}
	conn_want_out(w, c, false);
	return true;
}

/* Queue text (always fits: name or "done") and try to send it. */
static bool conn_send(struct worker *w, struct conn *c, const char *s,
		      size_t len)
{
	if (len > sizeof(c->out) - c->out_len)
		len = sizeof(c->out) - c->out_len;
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
	return conn_flush(w, c);
}

static void conn_accepted(struct worker *w, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->src.kind = SRC_CONN;
	c->src.fd = fd;
	c->state = CONN_OPEN;
	timer_init(&c->timer);
	c->next = w->conns;
	if (c->next)
		c->next->prev = c;
	w->conns = c;
	w->nopen++;
	ep_ctl(w, EPOLL_CTL_ADD, &c->src, EPOLLIN);

	memcpy(c->out, w->name, w->name_len);
	c->out[w->name_len] = '\n';
	c->out_len = w->name_len + 1;
	conn_flush(w, c);
}

/* "sleep MS" with MS a plain decimal number. */
static bool parse_sleep(const char *line, unsigned long *ms)
{
	return strncmp(line, "sleep ", 6) == 0 &&
	       parse_ulong(line + 6, 0, SLEEP_MAX_MS, ms) == 0;
}

/* Act on one command line. Returns false if the connection was closed. */
static bool conn_command(struct worker *w, struct conn *c, const char *line)
{
	unsigned long ms;

	if (c->state != CONN_OPEN)
		return true; /* only the first command counts */
	if (strcmp(line, "fin") == 0) {
		conn_close(w, c, false);
		return false;
	}
	if (strcmp(line, "rst") == 0) {
		conn_close(w, c, true);
		return false;
	}
	if (parse_sleep(line, &ms)) {
		c->state = CONN_SLEEPING;
		timer_start(&w->timers, &c->timer, now_ms() + ms);
	}
	return true;
}

/* Split buffered input into lines. Returns false if the conn was closed. */
static bool conn_parse_input(struct worker *w, struct conn *c)
{
	char *start = c->in, *nl;
	size_t left = c->in_len;

	while ((nl = memchr(start, '\n', left))) {
		size_t len = (size_t)(nl - start);

		*nl = '\0';
		if (len && start[len - 1] == '\r')
			start[len - 1] = '\0';
		if (!conn_command(w, c, start))
			return false;
		left -= len + 1;
		start = nl + 1;
	}
	if (left == sizeof(c->in))
		left = 0; /* over-long line: drop it */
	memmove(c->in, start, left);
	c->in_len = left;
	return true;
}

/* One read per readiness event (level triggered). */
static void conn_readable(struct worker *w, struct conn *c)
{
	ssize_t n = recv(c->src.fd, c->in + c->in_len,
			 sizeof(c->in) - c->in_len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(w, c, false); /* client EOF or error */
		return;
	}
	c->in_len += (size_t)n;
	conn_parse_input(w, c);
}

static void conn_event(struct worker *w, struct conn *c, uint32_t events)
{
	if ((events & EPOLLOUT) && !conn_flush(w, c))
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_readable(w, c);
}

static void sleep_done(struct worker *w, struct conn *c)
{
	c->state = CONN_CLOSING;
	conn_send(w, c, "done\n", 5);
}

static void run_timers(struct worker *w)
{
	uint64_t now = now_ms();
	struct timer *t;

	while ((t = timer_due(&w->timers, now))) {
		timer_stop(&w->timers, t);
		sleep_done(w, container_of(t, struct conn, timer));
	}
}

/* ---- listener and signals ----------------------------------------------- */

/* One connection: from its own listener first, then from the lobby. */
static int accept_one(struct worker *w)
{
	int fd = accept4(w->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && w->lobby.fd >= 0)
		fd = accept4(w->lobby.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	return fd;
}

static void accept_ready(struct worker *w)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd;

		if (w->slots && w->nopen >= w->slots)
			return;	/* every slot taken: the rest wait */
		fd = accept_one(w);
		if (fd >= 0) {
			conn_accepted(w, fd);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Resume when a connection closes. */
			if (!w->accept_warned)
				fprintf(stderr, "warning: accept: %s (%zu open)\n",
					strerror(errno), w->nopen);
			w->accept_warned = true;
			w->accept_paused = true;
			ep_ctl(w, EPOLL_CTL_MOD, &w->listener, 0);
			return;
		}
		/* ECONNABORTED, EINTR, network errors: try the next one. */
	}
}

static void signal_ready(struct worker *w)
{
	int sig;

	while ((sig = read_signal(w->signals.fd))) {
		if (sig == SIGUSR1)
			fprintf(stderr, "open %zu\n", w->nopen);
		else
			w->stop = true;
	}
}

static void dispatch(struct worker *w, const struct epoll_event *ev)
{
	struct source *s = ev->data.ptr;

	switch (s->kind) {
	case SRC_LISTENER:
		if (w->accepting)
			accept_ready(w);
		break;
	case SRC_SIGNAL:
		signal_ready(w);
		break;
	case SRC_CONN:
		conn_event(w, container_of(s, struct conn, src), ev->events);
		break;
	}
}

static void run(struct worker *w)
{
	struct epoll_event evs[MAX_EVENTS];

	while (!w->stop) {
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS,
				   timer_wait_ms(&w->timers, now_ms()));

		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			dispatch(w, &evs[i]);
		run_timers(w);
	}
}

static void shutdown_all(struct worker *w)
{
	while (w->conns)
		conn_close(w, w->conns, false);
	close(w->listener.fd);
	if (w->lobby.fd >= 0)
		close(w->lobby.fd);
	close(w->signals.fd);
	close(w->epfd);
	free(w->timers.v);
}

int main(int argc, char **argv)
{
	struct options opts;
	struct worker w = { 0 };

	parse_args(argc, argv, &opts);
	raise_nofile();

	w.name = opts.name;
	w.name_len = strlen(opts.name);
	w.signals = (struct source){ SRC_SIGNAL, setup_signalfd() };
	w.listener = (struct source){ SRC_LISTENER, open_listener(&opts) };
	w.lobby = (struct source){ SRC_LISTENER, opts.lobby_pid ? lobby_take(opts.lobby_pid) : -1 };
	w.slots = opts.slots;
	w.no_accept = opts.no_accept;
	w.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w.epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	ep_ctl(&w, EPOLL_CTL_ADD, &w.signals, EPOLLIN);
	if (!opts.no_accept) {
		ep_ctl(&w, EPOLL_CTL_ADD, &w.listener, EPOLLIN);
		if (w.lobby.fd >= 0)
			ep_ctl(&w, EPOLL_CTL_ADD, &w.lobby, EPOLLIN);
		w.accepting = true;
	}

	printf("ready %d\n", (int)getpid());
	fflush(stdout);

	run(&w);
	shutdown_all(&w);
	return EXIT_SUCCESS;
}
