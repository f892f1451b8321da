// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* circuit_share.c - the fleet's circuit rule and its Redis side, pure
 * (see circuit_share.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "steer.h"
#include "circuit_share.h"
#include "clock.h"

/* Expired entries go first, so a host killed -9 drops out circuit_ttl_ms
 * after its last write whoever writes next; the whole key expires too, so
 * a pool no host still names leaves nothing behind. TIME is Redis's
 * clock: the hosts' clocks never meet. Redis 7 replicates a script's
 * effects, so a write after TIME is allowed. */
const char circuit_share_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local ttl = tonumber(ARGV[3])\n"
	"local change = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) > 0\n"
	"if ARGV[2] == '1' then\n"
	"  if redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) > 0 then change = true end\n"
	"  redis.call('PEXPIRE', KEYS[1], ttl)\n"
	"elseif redis.call('ZREM', KEYS[1], ARGV[1]) > 0 then\n"
	"  change = true\n"
	"end\n"
	"local n = redis.call('ZCARD', KEYS[1])\n"
	"if change then\n"
	"  redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. n .. ' ' .. now .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])\n"
	"end\n"
	"return {n, now}\n";

bool circuit_share_own_open(uint32_t own_state)
{
	return own_state != STEER_CIRCUIT_CLOSED;
}

bool circuit_share_fleet_open(const struct circuit_share *s, uint32_t circuit_hosts,
			      uint32_t ttl_ms, uint64_t now)
{
	if (!s->known || ms_since(now, s->seen_local_ms) > ttl_ms)
		return false;	/* Redis away or silent: this host's own breaker only */
	return circuit_hosts > 0 && s->hosts_open >= circuit_hosts;
}

uint32_t circuit_share_effective(uint32_t own_state, bool fleet_open, bool *by_fleet)
{
	*by_fleet = own_state == STEER_CIRCUIT_CLOSED && fleet_open;
	return *by_fleet ? STEER_CIRCUIT_OPEN : own_state;
}

bool circuit_share_due(const struct circuit_share *s, bool own_open, uint64_t now)
{
	if (s->inflight)
		return false;
	return !s->written || s->written_open != own_open || now >= s->next_write_ms;
}

void circuit_share_sent(struct circuit_share *s, uint64_t now, uint32_t sync_ms)
{
	s->inflight = true;
	s->next_write_ms = now + sync_ms;
}

void circuit_share_answer(struct circuit_share *s, bool ok, bool own_open)
{
	s->inflight = false;
	s->written = ok;
	s->written_open = own_open;
}

bool circuit_share_apply(struct circuit_share *s, uint32_t hosts, uint64_t redis_ms,
			 uint64_t now)
{
	bool changed = !s->known || s->hosts_open != hosts;

	/* answers and messages come on two connections: the later Redis
	 * time wins, whichever arrives last */
	if (s->known && redis_ms < s->seen_redis_ms)
		return false;
	s->known = true;
	s->hosts_open = hosts;
	s->seen_redis_ms = redis_ms;
	s->seen_local_ms = now;
	return changed;
}

bool circuit_share_hint(struct circuit_share *s, uint64_t now)
{
	if (s->hint_ms && ms_since(now, s->hint_ms) < STEER_FLEET_CIRCUIT_HINT_MS)
		return false;
	s->hint_ms = now;
	s->next_write_ms = now;	/* due now, or at the tick after the one in flight */
	return !s->inflight;
}

void circuit_share_lost(struct circuit_share *s)
{
	s->known = false;
	s->hosts_open = 0;
	s->seen_redis_ms = 0;
	s->written = false;
}

static int fits(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int circuit_share_key(char *buf, size_t len, const char *prefix, const char *pool)
{
	return fits(snprintf(buf, len, "%s:{%s}:open", prefix, pool), len);
}

int circuit_share_channel(char *buf, size_t len, const char *prefix)
{
	return fits(snprintf(buf, len, "%s:circuit", prefix), len);
}

/* One space-separated field of msg[*at, len): its start and length. */
static const char *field(const char *msg, size_t len, size_t *at, size_t *flen)
{
	size_t start = *at;

	while (*at < len && msg[*at] != ' ')
		(*at)++;
	*flen = *at - start;
	if (*at < len)
		(*at)++;
	return *flen ? msg + start : NULL;
}

static int number(const char *f, size_t flen, uint64_t max, uint64_t *out)
{
	char buf[24], *end;

	if (!f || flen >= sizeof(buf) || f[0] < '0' || f[0] > '9')
		return -1;
	memcpy(buf, f, flen);
	buf[flen] = 0;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return *end || errno || *out > max ? -1 : 0;
}

int circuit_share_parse(const char *msg, size_t len, char *pool, size_t poollen,
			uint32_t *hosts, uint64_t *redis_ms)
{
	size_t at = 0, flen;
	const char *f = field(msg, len, &at, &flen);
	uint64_t n;

	if (!f || flen >= poollen || memchr(f, 0, flen))
		return -1;
	memcpy(pool, f, flen);
	pool[flen] = 0;
	f = field(msg, len, &at, &flen);
	if (number(f, flen, UINT32_MAX, &n))
		return -1;
	*hosts = (uint32_t)n;
	f = field(msg, len, &at, &flen);
	return number(f, flen, UINT64_MAX, redis_ms);
}
