// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * redis.c - hiredis async on steerd's epoll loop (see redis.h). hiredis
 * asks for read and write interest through its ev hooks; they become
 * epoll_ctl calls on the connection's socket, whose events come back to
 * rconn_on_event. Each command is a struct pending in send order, so the
 * oldest is the first to miss its deadline; the timerfd is armed for the
 * earliest of that deadline, the connect's, and the next reconnect.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/async.h>
#include "daemon.h"
#include "log.h"
#include "netaddr.h"
#include "redis.h"

enum rstate { RC_DOWN, RC_CONNECTING, RC_UP };

struct pending {			/* a command sent, its reply not yet here */
	struct rconn *c;
	rconn_reply_fn fn;		/* NULL: the handshake (AUTH or PING) */
	void *priv;
	uint64_t sent_ms;
	struct pending *prev, *next;
};

struct sub {
	char *channel;
	rconn_reply_fn fn;
	void *priv;
};

struct rconn {
	struct daemon *d;
	struct conf_fleet conf;
	bool subscriber, closed;
	char name[80];
	redisAsyncContext *ac;
	enum rstate state;
	bool down_logged;		/* this outage is logged */
	int fd;				/* ac's socket, while watched */
	uint32_t events;
	bool watched;
	int timerfd;
	struct source io_src, timer_src;	/* first members: container_of */
	uint64_t connect_deadline, next_connect, backoff_ms;
	unsigned int seed;
	struct pending *head, *tail;
	struct sub subs[STEER_REDIS_SUBS_MAX];
	size_t nsubs;
	rconn_state_fn state_fn;
	void *state_priv;
	struct rconn *next_dead;
};

/* closed connections, freed between two batches of events (rconn_reap):
 * an event later in the batch may still point at one */
static struct rconn *graveyard;

#define container_of(p, T, m)	((T *)((char *)(p) - offsetof(T, m)))

static void arm_timer(struct rconn *c);
static void start_connect(struct rconn *c);

const char *rconn_name(const struct rconn *c)
{
	return c ? c->name : "redis";
}

bool rconn_up(const struct rconn *c)
{
	return c && !c->closed && c->state == RC_UP && c->ac;
}

/* ---- epoll, for hiredis' ev hooks ---- */
static void set_events(struct rconn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &c->io_src };

	c->events = events;
	if (c->fd < 0)
		return;
	if (epoll_ctl(c->d->epfd, c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev))
		log_warn("%s: epoll_ctl: %s", c->name, strerror(errno));
	else
		c->watched = true;
}

static void ev_add_read(void *p) { struct rconn *c = p; set_events(c, c->events | EPOLLIN); }
static void ev_del_read(void *p) { struct rconn *c = p; set_events(c, c->events & ~EPOLLIN); }
static void ev_add_write(void *p) { struct rconn *c = p; set_events(c, c->events | EPOLLOUT); }
static void ev_del_write(void *p) { struct rconn *c = p; set_events(c, c->events & ~EPOLLOUT); }

static void ev_cleanup(void *p)
{
	struct rconn *c = p;

	if (c->watched && c->fd >= 0)
		epoll_ctl(c->d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->watched = false;
	c->fd = -1;
	c->events = 0;
}

/* ---- the reader's guard ----
 * hiredis 0.14 aborts the process (assert) on a reply nobody asked for,
 * and on a subscriber's array that is shorter than 3 or whose first two
 * are not strings; it allocates an array of whatever count a header says
 * and buffers a bulk of any length. A broken or hostile server must cost
 * its connection, never steerd: the reader's object functions refuse those
 * replies (NULL is the reader's "out of memory": hiredis drops the
 * connection, every pending callback gets NULL), and rconn_on_event drops
 * a connection whose unparsed input outgrows STEER_REDIS_READBUF_MAX. */
static redisReplyObjectFunctions guarded_fn;
static redisReplyObjectFunctions hiredis_fn;	/* the reader's own */

/* a root reply: is there a command (or a subscription) to take it? */
static bool root_wanted(const struct rconn *c, int type, int elements)
{
	const redisAsyncContext *ac = c->ac;

	if (!ac)
		return false;
	if (ac->replies.head)
		return true;	/* hiredis has a callback waiting for it */
	if (!(ac->c.flags & REDIS_SUBSCRIBED))
		return false;	/* unsolicited: hiredis would assert */
	return type == REDIS_REPLY_ARRAY && elements >= 3;
}

static bool task_ok(const redisReadTask *t, int elements)
{
	const struct rconn *c = t->privdata;
	const redisReadTask *root = t->parent;

	if (!c)
		return true;	/* not one of ours */
	if (t->type == REDIS_REPLY_ARRAY && (elements < 0 || elements > STEER_REDIS_ARRAY_MAX))
		return false;
	if (!root)
		return root_wanted(c, t->type, elements);
	/* a subscriber's kind and channel: hiredis wants two strings */
	if (!root->parent && t->idx < 2 && c->ac && !c->ac->replies.head &&
	    (c->ac->c.flags & REDIS_SUBSCRIBED))
		return t->type == REDIS_REPLY_STRING;
	return true;
}

static void *g_string(const redisReadTask *t, char *s, size_t len)
{
	return task_ok(t, 0) ? hiredis_fn.createString(t, s, len) : NULL;
}

static void *g_array(const redisReadTask *t, int elements)
{
	return task_ok(t, elements) ? hiredis_fn.createArray(t, elements) : NULL;
}

static void *g_integer(const redisReadTask *t, long long v)
{
	return task_ok(t, 0) ? hiredis_fn.createInteger(t, v) : NULL;
}

static void *g_nil(const redisReadTask *t)
{
	return task_ok(t, 0) ? hiredis_fn.createNil(t) : NULL;
}

static void guard_reader(struct rconn *c, redisAsyncContext *ac)
{
	redisReader *r = ac->c.reader;

	if (!guarded_fn.createString) {
		hiredis_fn = *r->fn;
		guarded_fn = hiredis_fn;
		guarded_fn.createString = g_string;
		guarded_fn.createArray = g_array;
		guarded_fn.createInteger = g_integer;
		guarded_fn.createNil = g_nil;
	}
	r->fn = &guarded_fn;
	r->privdata = c;
}

/* ---- state ---- */
static uint64_t jittered(struct rconn *c, uint64_t ms)
{
	/* between half and the whole of it: hosts that lost Redis together
	 * do not come back together */
	return ms / 2 + (uint64_t)rand_r(&c->seed) % (ms / 2 + 1);
}

static void went_down(struct rconn *c, const char *why)
{
	bool was_up = c->state == RC_UP;

	c->state = RC_DOWN;
	if (!c->down_logged) {
		log_warn("%s: down%s: %s; retrying with backoff up to %u ms", c->name,
			 c->subscriber ? " (subscriber)" : "", why, c->conf.backoff_max_ms);
		c->down_logged = true;
	} else {
		log_debug("%s: still down: %s", c->name, why);
	}
	c->next_connect = now_ms() + jittered(c, c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > c->conf.backoff_max_ms ? c->conf.backoff_max_ms
								     : c->backoff_ms * 2;
	if (!c->closed) {
		arm_timer(c);
		if (was_up && c->state_fn)
			c->state_fn(c->d, false, c->state_priv);
	}
}

/* Drop the connection: hiredis calls every pending callback with NULL. */
static void drop(struct rconn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;

	if (!ac)
		return;
	c->ac = NULL;		/* the disconnect callback sees it is ours */
	redisAsyncFree(ac);
	went_down(c, why);
}

/* ---- replies ---- */
static void unlink_pending(struct pending *p)
{
	struct rconn *c = p->c;

	if (p->prev)
		p->prev->next = p->next;
	else
		c->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->tail = p->prev;
}

static void subscribe_all(struct rconn *c);

static void handshake_done(struct rconn *c, redisReply *r)
{
	if (!r)
		return;		/* dropped: went_down() said why */
	if (r->type == REDIS_REPLY_ERROR) {
		char why[160];

		/* Redis' own words, never the password */
		snprintf(why, sizeof(why), "%s refused: %.100s",
			 c->conf.password[0] ? "AUTH" : "PING", r->str);
		drop(c, why);
		return;
	}
	c->state = RC_UP;
	c->backoff_ms = STEER_FLEET_BACKOFF_MIN_MS;
	log_notice("%s: up%s", c->name, c->subscriber ? " (subscriber)" : "");
	c->down_logged = false;
	subscribe_all(c);
	if (c->state_fn && c->ac)
		c->state_fn(c->d, true, c->state_priv);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending *p = privdata;
	struct rconn *c = p->c;

	(void)ac;
	unlink_pending(p);
	if (p->fn)
		p->fn(c->d, reply, p->priv);
	else
		handshake_done(c, reply);
	free(p);
	if (!c->closed)
		arm_timer(c);
}

static void on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct sub *s = privdata;
	struct rconn *c = ac->data;
	redisReply *r = reply;

	if (!r) {		/* this connection's subscription ended */
		if (s->fn)
			s->fn(c ? c->d : NULL, NULL, s->priv);
		return;
	}
	if (!c || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    !r->element[0]->str || strcmp(r->element[0]->str, "message"))
		return;		/* the subscribe confirmation */
	s->fn(c->d, r, s->priv);
}

static struct pending *new_pending(struct rconn *c, rconn_reply_fn fn, void *priv)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c = c;
	p->fn = fn;
	p->priv = priv;
	p->sent_ms = now_ms();
	p->prev = c->tail;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	if (p == c->head)
		arm_timer(c);
	return p;
}

static int sent(struct rconn *c, struct pending *p, int ret)
{
	if (ret == REDIS_OK)
		return 0;
	unlink_pending(p);	/* hiredis did not take it: no callback comes */
	free(p);
	arm_timer(c);
	return -1;
}

static int vcommand(struct rconn *c, rconn_reply_fn fn, void *priv, const char *fmt, va_list ap)
{
	struct pending *p;

	if (!c->ac || !(p = new_pending(c, fn, priv)))
		return -1;
	return sent(c, p, redisvAsyncCommand(c->ac, on_reply, p, fmt, ap));
}

int rconn_command(struct rconn *c, rconn_reply_fn fn, void *priv, const char *fmt, ...)
{
	va_list ap;
	int ret;

	if (!rconn_up(c) || c->subscriber)
		return -1;
	va_start(ap, fmt);
	ret = vcommand(c, fn, priv, fmt, ap);
	va_end(ap);
	return ret;
}

int rconn_command_argv(struct rconn *c, rconn_reply_fn fn, void *priv, int argc,
		       const char **argv, const size_t *lens)
{
	struct pending *p;

	if (!rconn_up(c) || c->subscriber || !(p = new_pending(c, fn, priv)))
		return -1;
	return sent(c, p, redisAsyncCommandArgv(c->ac, on_reply, p, argc, argv, lens));
}

static void subscribe_one(struct rconn *c, struct sub *s)
{
	if (c->ac && redisAsyncCommand(c->ac, on_message, s, "SUBSCRIBE %s", s->channel) != REDIS_OK)
		log_warn("%s: cannot subscribe to %s", c->name, s->channel);
}

static void subscribe_all(struct rconn *c)
{
	for (size_t i = 0; i < c->nsubs; i++)
		subscribe_one(c, &c->subs[i]);
}

int rconn_subscribe(struct rconn *c, const char *channel, rconn_reply_fn fn, void *priv)
{
	struct sub *s;

	if (!c || !c->subscriber || c->nsubs >= STEER_REDIS_SUBS_MAX || !fn)
		return -1;
	s = &c->subs[c->nsubs];
	if (!(s->channel = strdup(channel)))
		return -1;
	s->fn = fn;
	s->priv = priv;
	c->nsubs++;
	if (rconn_up(c))
		subscribe_one(c, s);
	return 0;
}

void rconn_on_state(struct rconn *c, rconn_state_fn fn, void *priv)
{
	if (!c)
		return;
	c->state_fn = fn;
	c->state_priv = priv;
}

/* ---- connect ---- */
static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;
	struct pending *p;
	int ret;

	if (!c || c->ac != ac)
		return;
	if (status != REDIS_OK) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", ac->errstr[0] ? ac->errstr : "failed");
		c->ac = NULL;	/* hiredis frees it after this */
		went_down(c, why);
		return;
	}
	/* idle connections too notice a peer that went away */
	redisEnableKeepAlive((redisContext *)&ac->c);
	if (!(p = new_pending(c, NULL, NULL))) {
		drop(c, "out of memory");
		return;
	}
	if (c->conf.password[0])
		ret = redisAsyncCommand(c->ac, on_reply, p, "AUTH %s", c->conf.password);
	else
		ret = redisAsyncCommand(c->ac, on_reply, p, "PING");
	if (sent(c, p, ret))
		drop(c, "cannot send the handshake");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;
	char why[160];

	if (!c || c->ac != ac)
		return;		/* our own drop() */
	snprintf(why, sizeof(why), "%s", status == REDIS_OK ? "closed" :
		 ac->errstr[0] ? ac->errstr : "connection lost");
	c->ac = NULL;
	went_down(c, why);
}

static void start_connect(struct rconn *c)
{
	char ip[64];
	redisAsyncContext *ac;

	netaddr_format(c->conf.redis.addr, ip, sizeof(ip));
	ac = redisAsyncConnect(ip, c->conf.redis.port);
	if (!ac || ac->err) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		went_down(c, why);
		return;
	}
	c->ac = ac;
	ac->data = c;
	guard_reader(c, ac);
	c->fd = ac->c.fd;
	c->watched = false;
	c->events = 0;
	ac->ev.data = c;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	c->state = RC_CONNECTING;
	c->connect_deadline = now_ms() + c->conf.timeout_ms;
	/* after the hooks: this asks for the write event that says connected */
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	arm_timer(c);
}

/* ---- the timer ---- */
static uint64_t next_deadline(const struct rconn *c)
{
	uint64_t t = UINT64_MAX;

	if (c->state == RC_DOWN)
		return c->next_connect;
	if (c->state == RC_CONNECTING)
		t = c->connect_deadline;
	if (c->head && c->head->sent_ms + c->conf.timeout_ms < t)
		t = c->head->sent_ms + c->conf.timeout_ms;
	return t;
}

static void arm_timer(struct rconn *c)
{
	struct itimerspec its = { 0 };
	uint64_t t = next_deadline(c), now = now_ms(), in;

	if (t != UINT64_MAX) {
		in = t > now ? t - now : 1;
		its.it_value.tv_sec = (time_t)(in / 1000);
		its.it_value.tv_nsec = (long)(in % 1000) * 1000000L;
	}
	timerfd_settime(c->timerfd, 0, &its, NULL);
}

/* A deadline is Redis's, not steerd's: a loop busy elsewhere (a reload
 * storm, a loaded host) can see the timer and the answer that beat it in
 * one batch, the timer first. What already waits on the socket is taken
 * before a deadline is judged, so a late look is never a timeout. */
static void catch_up(struct rconn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = 0 };
	uint32_t events = 0;

	if (!c->ac || !c->watched || !c->events)
		return;
	pfd.events = (short)((c->events & EPOLLIN ? POLLIN : 0) | (c->events & EPOLLOUT ? POLLOUT : 0));
	if (poll(&pfd, 1, 0) != 1)
		return;
	events |= pfd.revents & POLLIN ? EPOLLIN : 0;
	events |= pfd.revents & POLLOUT ? EPOLLOUT : 0;
	events |= pfd.revents & POLLERR ? EPOLLERR : 0;
	events |= pfd.revents & POLLHUP ? EPOLLHUP : 0;
	rconn_on_event(&c->io_src, events);
}

static void on_timer(struct rconn *c)
{
	uint64_t expirations, now = now_ms();

	if (read(c->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	if (c->state != RC_DOWN) {
		catch_up(c);
		if (c->closed)
			return;
	}
	if (c->state == RC_DOWN && now >= c->next_connect)
		start_connect(c);
	else if (c->state == RC_CONNECTING && now >= c->connect_deadline)
		drop(c, "no answer within timeout_ms (connect and handshake)");
	else if (c->head && now >= c->head->sent_ms + c->conf.timeout_ms)
		drop(c, "a command got no reply within timeout_ms");
	if (!c->closed)
		arm_timer(c);
}

void rconn_on_event(struct source *src, uint32_t events)
{
	struct rconn *c;
	redisAsyncContext *ac;

	if (src->kind == SRC_REDIS_TIMER) {
		c = container_of(src, struct rconn, timer_src);
		if (!c->closed)
			on_timer(c);
		return;
	}
	c = container_of(src, struct rconn, io_src);
	if (c->closed || !(ac = c->ac))
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		redisAsyncHandleRead(ac);
		/* a reply of ours is a few bytes: more unparsed input is a
		 * server flooding us */
		if (c->ac == ac && ac->c.reader->len - ac->c.reader->pos > STEER_REDIS_READBUF_MAX) {
			drop(c, "a reply larger than STEER_REDIS_READBUF_MAX");
			return;
		}
	}
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->ac == ac)
		redisAsyncHandleWrite(ac);
}

struct rconn *rconn_open(struct daemon *d, const struct conf_fleet *f, bool subscriber)
{
	struct rconn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	char ep[80];

	if (!c)
		return NULL;
	c->d = d;
	c->conf = *f;
	c->subscriber = subscriber;
	c->fd = -1;
	c->io_src.kind = SRC_REDIS;
	c->timer_src.kind = SRC_REDIS_TIMER;
	c->backoff_ms = STEER_FLEET_BACKOFF_MIN_MS;
	c->seed = (unsigned int)getpid() ^ (unsigned int)now_ms() ^ (unsigned int)(uintptr_t)c;
	netaddr_format_endpoint(f->redis.addr, f->redis.port, ep, sizeof(ep));
	snprintf(c->name, sizeof(c->name), "redis %s", ep);
	c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = &c->timer_src;
	if (c->timerfd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->timerfd, &ev)) {
		log_err("%s: cannot set up its timer: %s", c->name, strerror(errno));
		if (c->timerfd >= 0)
			close(c->timerfd);
		free(c);
		return NULL;
	}
	c->down_logged = false;
	start_connect(c);
	return c;
}

void rconn_close(struct rconn *c)
{
	redisAsyncContext *ac;

	if (!c || c->closed)
		return;
	c->closed = true;
	if ((ac = c->ac)) {
		c->ac = NULL;
		/* pending and subscription callbacks get NULL now; ac->data
		 * stays so a subscription's callback finds the daemon */
		redisAsyncFree(ac);
	}
	close(c->timerfd);	/* and out of the epoll set */
	c->next_dead = graveyard;
	graveyard = c;
}

void rconn_reap(void)
{
	while (graveyard) {
		struct rconn *c = graveyard;

		graveyard = c->next_dead;
		for (size_t i = 0; i < c->nsubs; i++)
			free(c->subs[i].channel);
		free(c);
	}
}
