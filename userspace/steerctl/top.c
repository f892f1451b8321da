// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * top.c - steerctl top: the live view, as top(1) and HAProxy's stats page
 * give it: services, then each pool with its workers under it, refreshed
 * in place. Every refresh reads each map whole, in one batch
 * (state_read_all), and rates are the counters' deltas between two
 * refreshes over CLOCK_MONOTONIC. It never takes the writers' lock while it
 * runs, so steerd and steerctl go on writing beside it.
 *
 * On a terminal: the alternate screen, cursor home, each line cleared to
 * its end, cut at the terminal's width and height (never wrapped); the
 * terminal is restored on q, SIGINT, SIGTERM, SIGHUP and SIGQUIT. Anywhere
 * else (a pipe, a file): one plain frame per refresh, as `top -b`. Names
 * from the maps are printed escaped (errfmt), so a name with a newline or
 * an ESC cannot move the cursor.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"
#include "defaults.h"
#include "errfmt.h"
#include "netaddr.h"
#include "state.h"

#define ESC_NAME_LEN	(STEER_NAME_LEN * 4 + 1)	/* every byte as \xNN */
#define NAME_COL_MIN	12

/* ---- one read of the maps --------------------------------------------- */

struct frame {
	double t;			/* CLOCK_MONOTONIC, seconds */
	bool loaded;
	ino_t maps;			/* the pins it was read from: rates only within one load */
	char why[STEER_ERR_LEN];	/* not loaded: why, when it is not plain */
	struct steer_service *svc;
	struct steer_service_stats *svc_st;
	struct steer_service_refusals *svc_rf;
	struct steer_pool *pool;
	struct steer_pool_stats *pool_st;
	struct steer_pool_limits *pool_lim;
	struct steer_pool_budget *pool_bud;
	struct steer_worker *wrk;
	struct steer_worker_stats *wrk_st;
	bool *alive;			/* the worker's listener is in worker_socks */
};

/* the maps a frame holds, each read whole */
static const struct {
	enum steer_map_id map;
	size_t off;
} frame_maps[] = {
	{ MAP_SERVICES, offsetof(struct frame, svc) },
	{ MAP_SERVICE_STATS, offsetof(struct frame, svc_st) },
	{ MAP_SERVICE_REFUSALS, offsetof(struct frame, svc_rf) },
	{ MAP_POOLS, offsetof(struct frame, pool) },
	{ MAP_POOL_STATS, offsetof(struct frame, pool_st) },
	{ MAP_POOL_LIMITS, offsetof(struct frame, pool_lim) },
	{ MAP_POOL_BUDGETS, offsetof(struct frame, pool_bud) },
	{ MAP_WORKERS, offsetof(struct frame, wrk) },
	{ MAP_WORKER_STATS, offsetof(struct frame, wrk_st) },
};

static void **frame_slot(struct frame *f, size_t i)
{
	return (void **)((char *)f + frame_maps[i].off);
}

static void frame_free(struct frame *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(frame_maps); i++)
		free(*frame_slot(f, i));
	free(f->alive);
	memset(f, 0, sizeof(*f));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int frame_read(struct ctl *c, struct frame *f)
{
	frame_free(f);
	f->t = now_s();
	f->loaded = true;
	for (size_t i = 0; i < ARRAY_SIZE(frame_maps); i++) {
		if (!(*frame_slot(f, i) = state_read_all(&c->maps, frame_maps[i].map))) {
			snprintf(c->err, sizeof(c->err), "cannot read map %s: %s",
				 steer_map_names[frame_maps[i].map], strerror(errno));
			return STEER_ESYS;
		}
	}
	if (!(f->alive = calloc(STEER_MAX_WORKERS, sizeof(*f->alive)))) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return STEER_ESYS;
	}
	/* a SOCKMAP has no batch lookup: one per worker in use, not per slot */
	for (uint32_t id = 0; id < STEER_MAX_WORKERS; id++)
		f->alive[id] = f->wrk[id].in_use && worker_listener_alive(&c->maps, id);
	return STEER_OK;
}

/* ---- the maps, reopened when steer is loaded again ---------------------- */

/* open the maps and let go of the writers' lock: top only reads */
static int maps_open(struct ctl *c, ino_t *ino)
{
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	steer_maps_unlock(&c->maps);
	*ino = ctl_pin_inode(c, MAP_WORKERS);
	return STEER_OK;
}

/* A frame of the maps as they are now; an empty one while steer is not
 * loaded, or its new pins cannot be opened yet (tried again next time). */
static int frame_take(struct ctl *c, struct frame *f, ino_t *ino)
{
	ino_t now = ctl_pin_inode(c, MAP_WORKERS);

	if (now && now != *ino) {
		steer_maps_close(&c->maps);
		if (maps_open(c, ino)) {
			frame_free(f);
			f->t = now_s();
			snprintf(f->why, sizeof(f->why), "%s", c->err);
			return STEER_OK;
		}
	}
	if (!now) {
		frame_free(f);
		f->t = now_s();
		return STEER_OK;
	}
	if (frame_read(c, f))
		return STEER_ESYS;
	f->maps = *ino;
	return STEER_OK;
}

/* ---- rates -------------------------------------------------------------- */

/* a counter's rate between two frames, or "-" when there is no earlier
 * frame of the same object (first refresh, a slot given to another) */
static void rate_text(char *buf, size_t len, bool same, uint64_t now, uint64_t before, double dt)
{
	if (!same || dt <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%.1f", now >= before ? (double)(now - before) / dt : 0.0);
}

static bool same_name(const char *a, const char *b)
{
	return !strncmp(a, b, STEER_NAME_LEN);
}

/* a name from the maps (maybe not NUL-terminated), escaped */
static void name_text(char *out, const char name[STEER_NAME_LEN])
{
	char raw[STEER_NAME_LEN + 1];

	memcpy(raw, name, STEER_NAME_LEN);
	raw[STEER_NAME_LEN] = '\0';
	errfmt_escape(out, ESC_NAME_LEN, raw);
}

/* ---- the text of a frame -------------------------------------------------- */

struct view {
	const struct frame *cur, *prev;
	double delay;
	bool paused;
	int name_w;		/* the name column: the longest escaped name */
	FILE *out;		/* the frame's plain lines */
};

static int name_width(const struct frame *f)
{
	char n[ESC_NAME_LEN];
	int w = NAME_COL_MIN;

	for (uint32_t i = 0; f->svc && i < STEER_MAX_SERVICES; i++)
		if (f->svc[i].in_use) {
			name_text(n, f->svc[i].name);
			w = (int)strlen(n) > w ? (int)strlen(n) : w;
		}
	for (uint32_t i = 0; f->wrk && i < STEER_MAX_WORKERS; i++)
		if (f->wrk[i].in_use) {
			name_text(n, f->wrk[i].name);
			w = (int)strlen(n) + 2 > w ? (int)strlen(n) + 2 : w;
		}
	for (uint32_t i = 0; f->pool && i < STEER_MAX_POOLS; i++)
		if (f->pool[i].in_use) {
			name_text(n, f->pool[i].name);
			w = (int)strlen(n) > w ? (int)strlen(n) : w;
		}
	return w;
}

static void count_objects(const struct frame *f, unsigned *ns, unsigned *np, unsigned *nw)
{
	*ns = *np = *nw = 0;
	for (uint32_t i = 0; f->svc && i < STEER_MAX_SERVICES; i++)
		*ns += f->svc[i].in_use != 0;
	for (uint32_t i = 0; f->pool && i < STEER_MAX_POOLS; i++)
		*np += f->pool[i].in_use != 0;
	for (uint32_t i = 0; f->wrk && i < STEER_MAX_WORKERS; i++)
		*nw += f->wrk[i].in_use != 0;
}

static void print_header(const struct view *v)
{
	unsigned ns, np, nw;
	char clock[16] = "";
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	count_objects(v->cur, &ns, &np, &nw);
	fprintf(v->out, "steerctl top - %s, every %gs%s; %u services, %u pools, %u workers\n",
		clock, v->delay, v->paused ? " (paused)" : "", ns, np, nw);
	if (!v->cur->loaded && !*v->cur->why)
		fprintf(v->out, "steer is not loaded\n");
	if (!v->cur->loaded && *v->cur->why) {
		char why[STEER_ERR_LEN * 4];

		errfmt_escape(why, sizeof(why), v->cur->why);
		fprintf(v->out, "steer: %s\n", why);
	}
}

static void print_service(const struct view *v, uint32_t id)
{
	const struct steer_service *s = &v->cur->svc[id];
	const struct frame *p = v->prev;
	bool same = p->svc && p->maps == v->cur->maps && p->svc[id].in_use &&
		    same_name(p->svc[id].name, s->name);
	char name[ESC_NAME_LEN], pool[ESC_NAME_LEN] = "-", addr[64], prefix[80], ports[16];
	char lookups[32], refused[32], why[160];

	name_text(name, s->name);
	if (s->pool_id < STEER_MAX_POOLS && v->cur->pool[s->pool_id].in_use)
		name_text(pool, v->cur->pool[s->pool_id].name);
	netaddr_format(s->addr, addr, sizeof(addr));
	snprintf(prefix, sizeof(prefix), "%s/%u", addr, s->prefixlen);
	snprintf(ports, sizeof(ports), s->port_lo == s->port_hi ? "%u" : "%u-%u", s->port_lo,
		 s->port_hi);
	rate_text(lookups, sizeof(lookups), same, v->cur->svc_st[id].lookups,
		  same ? p->svc_st[id].lookups : 0, v->cur->t - p->t);
	rate_text(refused, sizeof(refused), same, v->cur->svc_st[id].refused,
		  same ? p->svc_st[id].refused : 0, v->cur->t - p->t);
	format_refusals(&v->cur->svc_rf[id], why, sizeof(why));
	fprintf(v->out, "%-*s %-24s %-11s %-*s %10s %10s %8llu %s\n", v->name_w, name, prefix, ports,
		v->name_w, pool, lookups, refused, (unsigned long long)v->cur->svc_st[id].refused,
		why);
}

static void print_pool(const struct view *v, uint32_t id)
{
	const struct steer_pool *pl = &v->cur->pool[id];
	const struct steer_pool_stats *st = &v->cur->pool_st[id];
	const struct steer_pool_budget *bud = &v->cur->pool_bud[id];
	const struct steer_pool_limits *lim = &v->cur->pool_lim[id];
	const struct frame *p = v->prev;
	bool same = p->pool && p->maps == v->cur->maps && p->pool[id].in_use &&
		    same_name(p->pool[id].name, pl->name);
	char name[ESC_NAME_LEN], quota[24], rate[24], selected[32];

	name_text(name, pl->name);
	snprintf(quota, sizeof(quota), bud->quota_on ? "%lld" : "-",
		 (long long)(bud->quota_left > 0 ? bud->quota_left : 0));
	snprintf(rate, sizeof(rate), lim->rate_on ? "%g/s" : "-",
		 (double)lim->rate_milli / (double)STEER_MILLI);
	rate_text(selected, sizeof(selected), same, st->selected, same ? p->pool_st[id].selected : 0,
		  v->cur->t - p->t);
	fprintf(v->out, "%-*s %-11s %-9s %10s %10s %10s %12llu %8llu %8llu\n", v->name_w, name,
		policy_name(pl->policy), circuit_name(pl->circuit), quota, rate, selected,
		(unsigned long long)st->fallback_out, (unsigned long long)st->refused,
		(unsigned long long)st->spilled);
}

static void print_worker(const struct view *v, uint32_t id)
{
	const struct steer_worker *w = &v->cur->wrk[id];
	const struct steer_worker_stats *st = &v->cur->wrk_st[id];
	const struct frame *p = v->prev;
	bool same = p->wrk && p->maps == v->cur->maps && p->wrk[id].in_use &&
		    p->wrk[id].gen == w->gen && same_name(p->wrk[id].name, w->name);
	char name[ESC_NAME_LEN], maxconn[16], conns[32], weight[24];

	name_text(name, w->name);
	snprintf(maxconn, sizeof(maxconn), w->maxconn ? "%u" : "-", w->maxconn);
	rate_text(conns, sizeof(conns), same, st->established, same ? p->wrk_st[id].established : 0,
		  v->cur->t - p->t);
	/* health as a ratio 0..1, the metrics' unit */
	fprintf(v->out, "  %-*s %-6s %9s %6.3f %8.1f %11lld %7llu %7s %7s %4s\n", v->name_w - 2,
		name, state_name(w->state), worker_weight_text(w, weight, sizeof(weight)),
		(double)w->health / STEER_HEALTH_FULL,
		(double)w->weight * w->health / STEER_HEALTH_FULL, (long long)st->outstanding,
		(unsigned long long)worker_stats_pending(st), conns, maxconn,
		st->gone || !v->cur->alive[id] ? "yes" : "-");
}

static void print_frame(struct view *v)
{
	const struct frame *f = v->cur;

	v->name_w = name_width(f);
	print_header(v);
	if (!f->loaded)
		return;
	fprintf(v->out, "\n%-*s %-24s %-11s %-*s %10s %10s %8s %s\n", v->name_w, "SERVICE", "PREFIX",
		"PORTS", v->name_w, "POOL", "LOOKUPS/S", "REFUSED/S", "REFUSED", "BY CAUSE");
	for (uint32_t i = 0; i < STEER_MAX_SERVICES; i++)
		if (f->svc[i].in_use)
			print_service(v, i);
	fprintf(v->out, "\n%-*s %-11s %-9s %10s %10s %10s %12s %8s %8s\n", v->name_w, "POOL",
		"POLICY", "CIRCUIT", "QUOTA_LEFT", "RATE", "SELECTED/S", "FALLBACK_OUT", "REFUSED",
		"SPILLED");
	fprintf(v->out, "  %-*s %-6s %9s %6s %8s %11s %7s %7s %7s %4s\n", v->name_w - 2, "WORKER",
		"STATE", "WEIGHT", "HEALTH", "EFF_W", "OUTSTANDING", "PENDING", "CONN/S", "MAXCONN",
		"GONE");
	for (uint32_t i = 0; i < STEER_MAX_POOLS; i++) {
		if (!f->pool[i].in_use)
			continue;
		print_pool(v, i);
		for (uint32_t k = 0; k < STEER_MAX_WORKERS; k++)
			if (f->wrk[k].in_use && f->wrk[k].pool_id == i)
				print_worker(v, k);
	}
}

/* ---- the terminal ------------------------------------------------------- */

#define CSI "\x1b["

struct term {
	bool tty;		/* stdout is a terminal: draw in place */
	bool keys;		/* stdin is a terminal too: read keys */
	bool entered;
	struct termios saved;
	int cols, rows;
};

static void term_size(struct term *t)
{
	struct winsize ws;

	t->cols = 80;
	t->rows = 24;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
		t->cols = ws.ws_col;
		t->rows = ws.ws_row;
	}
}

static void term_enter(struct term *t)
{
	struct termios raw;

	if (!t->tty || t->entered)
		return;
	if (t->keys && !tcgetattr(STDIN_FILENO, &t->saved)) {
		raw = t->saved;
		/* keys one at a time, unechoed; ^C and ^Z still signal */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		t->keys = false;
	}
	/* the alternate screen, the cursor hidden */
	fputs(CSI "?1049h" CSI "?25l", stdout);
	fflush(stdout);
	t->entered = true;
}

static void term_leave(struct term *t)
{
	if (!t->entered)
		return;
	fputs(CSI "?25h" CSI "?1049l", stdout);
	fflush(stdout);
	if (t->keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	t->entered = false;
}

/* One frame's lines to the screen: from the top left, each cut at the width
 * and cleared to its end, no more lines than rows, the rest cleared. Off a
 * terminal, the lines as they are and a blank line after. False once the
 * output is gone (a closed pipe when SIGPIPE is ignored, a hung-up tty). */
static bool present(const struct term *t, char *text)
{
	int row = 0;

	if (!t->tty) {
		fputs(text, stdout);
		fputc('\n', stdout);
		return !fflush(stdout) && !ferror(stdout);
	}
	fputs(CSI "H", stdout);
	for (char *line = text; *line && row < t->rows; row++) {
		size_t len = strcspn(line, "\n");

		/* no newline after the last row: it would scroll the screen */
		fprintf(stdout, "%s%.*s" CSI "K", row ? "\n" : "",
			(int)(len > (size_t)t->cols ? (size_t)t->cols : len), line);
		line += len + (line[len] == '\n');
	}
	fputs(CSI "J", stdout);
	return !fflush(stdout) && !ferror(stdout);
}

/* STEER_OK, or -1 when no one reads the output any more: the end, as for q */
static int draw(const struct term *t, struct view *v)
{
	char *text = NULL;
	size_t len = 0;
	bool gone;

	if (!(v->out = open_memstream(&text, &len)))
		return STEER_ESYS;
	print_frame(v);
	fclose(v->out);
	v->out = NULL;
	gone = !present(t, text);
	free(text);
	return gone ? -1 : STEER_OK;
}

/* ---- the loop ------------------------------------------------------------- */

enum { TOP_DELAY, TOP_ITERATIONS };

static const struct opt top_opts[] = {
	[TOP_DELAY] = { .flag = "delay", .letter = 'd', .arg = "SECONDS", .type = OPT_POSITIVE,
			.flags = OPT_DEFAULT, .def = STEER_TOP_DELAY_S_DEFAULT,
			.dmax = STEER_TOP_DELAY_S_MAX, .help = "between refreshes" },
	[TOP_ITERATIONS] = { .flag = "iterations", .letter = 'n', .arg = "N", .type = OPT_U32,
			     .min = 1, .max = UINT32_MAX,
			     .help = "exit after N refreshes; without it, run until q" },
};

static int signals_fd(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTSTP);
	sigaddset(&set, SIGCONT);
	if (sigprocmask(SIG_BLOCK, &set, old))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

enum event { EV_NONE, EV_QUIT, EV_REDRAW, EV_REFRESH };

static enum event on_signal(int sfd, struct term *t)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return EV_NONE;
	switch (si.ssi_signo) {
	case SIGWINCH:
		term_size(t);
		return EV_REDRAW;
	case SIGTSTP:
		/* give the terminal back while stopped, take it again after */
		term_leave(t);
		kill(getpid(), SIGSTOP);
		return EV_NONE;
	case SIGCONT:
		term_enter(t);
		term_size(t);
		return EV_REDRAW;
	default:
		return EV_QUIT;
	}
}

static enum event on_key(struct view *v)
{
	char k;

	if (read(STDIN_FILENO, &k, 1) != 1)
		return EV_QUIT;		/* the terminal went away */
	switch (k) {
	case 'q':
	case 'Q':
		return EV_QUIT;
	case 'p':
	case 'P':
		v->paused = !v->paused;
		return EV_REDRAW;
	case ' ':
		return EV_REFRESH;
	}
	return EV_NONE;
}

/* Wait for a key, a signal or the next refresh (at `next`; never while
 * paused). */
static enum event wait_event(int sfd, struct term *t, struct view *v, double next)
{
	struct pollfd fds[2] = { { .fd = sfd, .events = POLLIN },
				 { .fd = STDIN_FILENO, .events = POLLIN } };
	double left = next - now_s();
	int ms = v->paused ? -1 : left <= 0 ? 0 : (int)(left * 1000) + 1;
	int n = poll(fds, t->keys ? 2 : 1, ms);

	if (n < 0)
		return errno == EINTR ? EV_NONE : EV_QUIT;
	if (n == 0)
		return EV_REFRESH;
	if (fds[0].revents)
		return on_signal(sfd, t);
	if (fds[1].revents)
		return on_key(v);
	return EV_NONE;
}

static int run_loop(struct ctl *c, struct term *t, struct view *v, uint32_t iterations, int sfd,
		    ino_t *ino)
{
	struct frame frames[2] = { 0 };
	uint32_t done = 0;
	double next = 0;
	int ret = STEER_OK, cur = 0;
	enum event ev = EV_REFRESH;

	while (ev != EV_QUIT) {
		if (ev == EV_REFRESH && !v->paused) {
			cur ^= 1;
			if ((ret = frame_take(c, &frames[cur], ino)))
				break;
			v->cur = &frames[cur];
			v->prev = &frames[cur ^ 1];
			next = frames[cur].t + v->delay;
			done++;
		}
		if (v->cur && (ev == EV_REFRESH || ev == EV_REDRAW) && (ret = draw(t, v))) {
			if (ret < 0)
				ret = STEER_OK;	/* the reader went away: done */
			break;
		}
		if (iterations && done >= iterations)
			break;
		ev = wait_event(sfd, t, v, next);
	}
	frame_free(&frames[0]);
	frame_free(&frames[1]);
	return ret;
}

static int do_top(struct ctl *c, const struct optval *o)
{
	struct term t = { .tty = isatty(STDOUT_FILENO), .keys = isatty(STDIN_FILENO) };
	struct view v = { .delay = o[TOP_DELAY].d };
	sigset_t old;
	ino_t ino;
	int ret, sfd;

	if (c->json)
		return ctl_error(c, "top has no JSON output (see 'steerctl -j status')");
	if ((ret = maps_open(c, &ino)))
		return ret;
	if ((sfd = signals_fd(&old)) < 0) {
		snprintf(c->err, sizeof(c->err), "signalfd: %s", strerror(errno));
		return STEER_ESYS;
	}
	t.keys = t.keys && t.tty;
	/* a frame in one write: no line by line flicker on a terminal */
	if (t.tty)
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	term_size(&t);
	term_enter(&t);
	ret = run_loop(c, &t, &v, o[TOP_ITERATIONS].given ? (uint32_t)o[TOP_ITERATIONS].u : 0, sfd,
		       &ino);
	term_leave(&t);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static const struct cmd top_cmds[] = {
	{ .opts = top_opts, .nopts = ARRAY_SIZE(top_opts), .run = do_top,
	  .help = "a live view of services, pools and workers, refreshed in place",
	  .doc = "Per service: lookups/s, refusals/s and refusals by cause; per pool: policy, "
		 "circuit, quota left, rate limit, selected/s, fallback_out, refused, spilled; per "
		 "worker, under its pool: state, weight, health, effective weight, outstanding, "
		 "pending, connections/s, maxconn, gone. Rates are the counters' change between "
		 "two refreshes; - until there are two. Keys: q quits, p pauses, space refreshes "
		 "now. When standard output is not a terminal, one plain frame is printed per "
		 "refresh (as top -b). It reads each map in one batch per refresh and never holds "
		 "the writers' lock." },
};

const struct object obj_top = { "top", top_cmds, ARRAY_SIZE(top_cmds) };
