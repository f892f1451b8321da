/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the steer test tools sworker.c and sclient.c.
 *
 * Header-only: every function is static inline so each tool is built from a
 * single .c file and unused helpers do not trigger warnings.
 */
#ifndef STEER_TEST_TOOLS_COMMON_H
#define STEER_TEST_TOOLS_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "netaddr.h"	/* userspace/lib: linked in by the Makefile */

#define EXIT_USAGE 2

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- error reporting ---------------------------------------------------- */

static inline void verror(const char *fmt, va_list ap)
{
	fputs("Error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Bad command line: one line on stderr, exit 2. */
__attribute__((noreturn, format(printf, 1, 2)))
static inline void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

/* Runtime failure: one line on stderr, exit 1. */
__attribute__((noreturn, format(printf, 1, 2)))
static inline void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

/* Report an option getopt_long() rejected (optstring must start with ':'). */
__attribute__((noreturn))
static inline void bad_option(int ret, int opt, char **argv, int optind_now)
{
	const char *arg = argv[optind_now - 1];

	if (ret == ':')
		usage_error("option %s requires an argument", arg);
	if (opt)
		usage_error("unknown option -%c", opt);
	usage_error("unknown option %s", arg);
}

/* ---- numbers ------------------------------------------------------------ */

/* Strict decimal parse of the whole string into [min, max]. */
static inline int parse_ulong(const char *s, unsigned long min,
			      unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- addresses ---------------------------------------------------------- */

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;	/* what netaddr_to_sockaddr fills */
};

/* "IPv4:PORT" + "[IPv6]:PORT" + brackets + NUL, with room to spare. */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 16)

static inline socklen_t sa_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

static inline void sa_set_port(union sockaddr_any *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in.sin_port = htons(port);
}

static inline uint16_t sa_port(const union sockaddr_any *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port
						  : a->in.sin_port);
}

/* Numeric IP without port: "1.2.3.4", "::1" or "[::1]". Port is set to 0. */
static inline int parse_ip(const char *s, union sockaddr_any *a)
{
	struct steer_endpoint ep = { .port = 0 };
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(s);

	memset(a, 0, sizeof(*a));
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (netaddr_parse_ip(buf, ep.addr, &ep.family))
		return -1;
	netaddr_to_sockaddr(&ep, &a->ss);
	return 0;
}

/* "IPv4:PORT" or "[IPv6]:PORT", PORT strictly decimal in 1..65535. */
static inline int parse_addr_port(const char *s, union sockaddr_any *a)
{
	const char *colon = strrchr(s, ':');
	struct steer_endpoint ep;
	unsigned long port;

	if (!colon || parse_ulong(colon + 1, 1, 65535, &port) ||
	    netaddr_parse_endpoint(s, &ep, NULL))
		return -1;
	netaddr_to_sockaddr(&ep, &a->ss);
	return 0;
}

/* Format as "IP:PORT" / "[IP]:PORT" into buf (ADDR_STRLEN bytes). */
static inline void format_addr(const union sockaddr_any *a, char *buf,
			       size_t len)
{
	if (a->sa.sa_family == AF_INET6 || a->sa.sa_family == AF_INET)
		netaddr_format_sockaddr(&a->sa, buf, len);
	else
		snprintf(buf, len, "-");
}

/* ---- sockets and process setup ------------------------------------------ */

/* Make close() send a RST instead of a FIN. */
static inline int set_linger_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Raise RLIMIT_NOFILE to the hard limit; return the resulting soft limit. */
static inline rlim_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		fatal("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			fprintf(stderr, "warning: cannot raise RLIMIT_NOFILE: %s\n",
				strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/*
 * Deliver SIGTERM, SIGINT and SIGUSR1 through a signalfd and ignore
 * SIGPIPE. Dispositions are reset first because a shell starts background
 * jobs with SIGINT ignored.
 */
static inline int setup_signalfd(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1 };
	sigset_t set;
	size_t i;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		signal(sigs[i], SIG_DFL);
		sigaddset(&set, sigs[i]);
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		fatal("sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		fatal("signalfd: %s", strerror(errno));
	return fd;
}

/* Next pending signal number from a signalfd, or 0 if none. */
static inline int read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

/* ---- time and timers ---------------------------------------------------- */

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define TIMER_IDLE SIZE_MAX

/* Embed in an object; find the object back with container_of(). */
struct timer {
	uint64_t deadline; /* now_ms() value */
	size_t pos;        /* index in the heap, TIMER_IDLE when not armed */
};

/* Binary min-heap of timers ordered by deadline. */
struct timer_heap {
	struct timer **v;
	size_t len, cap;
};

static inline void timer_init(struct timer *t)
{
	t->deadline = 0;
	t->pos = TIMER_IDLE;
}

static inline bool timer_armed(const struct timer *t)
{
	return t->pos != TIMER_IDLE;
}

static inline void heap_place(struct timer_heap *h, size_t i, struct timer *t)
{
	h->v[i] = t;
	t->pos = i;
}

static inline void heap_sift_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline <= t->deadline)
			break;
		heap_place(h, i, h->v[parent]);
		i = parent;
	}
	heap_place(h, i, t);
}

static inline void heap_sift_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->len)
			break;
		if (c + 1 < h->len && h->v[c + 1]->deadline < h->v[c]->deadline)
			c++;
		if (t->deadline <= h->v[c]->deadline)
			break;
		heap_place(h, i, h->v[c]);
		i = c;
	}
	heap_place(h, i, t);
}

static inline void timer_stop(struct timer_heap *h, struct timer *t)
{
	size_t i = t->pos;
	struct timer *last;

	if (i == TIMER_IDLE)
		return;
	t->pos = TIMER_IDLE;
	last = h->v[--h->len];
	if (i == h->len)
		return;
	h->v[i] = last;
	last->pos = i;
	heap_sift_up(h, i);
	heap_sift_down(h, last->pos);
}

/* (Re)arm t to fire at deadline. Exits on out-of-memory. */
static inline void timer_start(struct timer_heap *h, struct timer *t,
			       uint64_t deadline)
{
	timer_stop(h, t);
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct timer **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			fatal("out of memory");
		h->v = v;
		h->cap = cap;
	}
	t->deadline = deadline;
	h->v[h->len] = t;
	t->pos = h->len++;
	heap_sift_up(h, t->pos);
}

/* Earliest timer if it is due at time now, else NULL. */
static inline struct timer *timer_due(const struct timer_heap *h, uint64_t now)
{
	return h->len && h->v[0]->deadline <= now ? h->v[0] : NULL;
}

/* epoll_wait() timeout until the earliest timer (-1: wait forever). */
static inline int timer_wait_ms(const struct timer_heap *h, uint64_t now)
{
	uint64_t d;

	if (!h->len)
		return -1;
	if (h->v[0]->deadline <= now)
		return 0;
	d = h->v[0]->deadline - now;
	return d > INT_MAX ? INT_MAX : (int)d;
}

#endif /* STEER_TEST_TOOLS_COMMON_H */
