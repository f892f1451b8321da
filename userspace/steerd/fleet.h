/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fleet.h - hosts sharing admission budgets through one Redis: a pool's
 * global_quota is spent here in leases of chunk admissions granted by an
 * atomic script, added to the kernel's pool_budgets as they come; a token
 * budget (tokens_per_min) is turned into admissions by an estimate of the
 * tokens a connection costs. Redis away: the current lease is spent until
 * fleet.lease_ttl_s, then the pool's static share per window. See the
 * README's "Fleet" section for the bounds.
 *
 * d->fleet exists while the file has a fleet block (its Redis connections:
 * cmd for commands, sub in subscribe mode, for fleet_circuit.c); the pools'
 * budget state (d->budgets) while a pool has a global_quota or a token
 * budget, with or without a fleet.
 */
#ifndef STEER_FLEET_H
#define STEER_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "redis.h"

struct daemon;

/* where a pool's kernel budget comes from now (steer_pool_budget_source) */
enum budget_source { BUDGET_LEASE, BUDGET_STATIC, BUDGET_LOCAL, BUDGET_PROVIDER, BUDGET_SOURCES };

struct fleet {
	struct conf_fleet conf;		/* what cmd and sub were opened with */
	struct rconn *cmd, *sub;
	void *circuit;			/* fleet_circuit.c's own state */
	uint64_t redis_down_since;	/* 0 while up */
	char sha[48];			/* the lease script's SCRIPT LOAD answer, "" unknown */
	char tsha[48];			/* the token script's */
	unsigned int returns_out;	/* at exit: returns not answered yet */
	uint64_t circuit_at;		/* fleet_circuit_tick's last, every STEER_FLEET_TICK_MS */
};

/* a pool with a global_quota or token budget: fleet.c's view of it */
struct fpool {
	char name[STEER_NAME_LEN];
	uint32_t id;			/* kernel pool id; valid when found */
	bool found;
	struct conf_pool conf;		/* its settings (workers not kept) */
	enum budget_source source;
	bool shared;			/* through Redis: a global_quota, or tokens with a fleet */
	bool inflight;			/* a lease request is out */
	uint64_t req_seq;		/* its number: a reply finds its pool by it */
	bool returning;			/* at exit: a return is out */
	bool started;			/* its start taken (find_pool): a reload keeps the rest */
	bool start_held;		/* the kernel held a budget at that start */
	uint64_t window;		/* Redis' window index of the current lease; 0 none */
	uint64_t window_granted;	/* granted to this process in window, less given back:
					 * never more goes back (the kernel's leftover at a
					 * start may be no lease of that window) */
	uint32_t asked;			/* what the lease in flight asked for ... */
	double asked_est;		/* ... and at what estimate (tokens) */
	uint64_t refused_until;		/* a reply refused: Redis away for this pool till then */
	uint64_t refused_since;		/* the first refusal of this run of them (now_ms) */
	uint64_t window_end;		/* local deadline of that window (now_ms), from
					 * when the lease was asked: never after Redis' */
	/* the kernel's budget at the last look or send before window_end (or
	 * just after a grant or a give-back): all that it can still spend of
	 * the window's lease past its end, the carry a request takes
	 * (carry_sent), which the next window is charged */
	int64_t look_left;
	int64_t carry_sent;
	uint64_t granted_at;		/* when the last lease came (now_ms) */
	bool exhausted;			/* the window's global quota is spent: wait for its end */
	uint64_t static_end;		/* static share: end of its local window */
	uint64_t grants, granted;	/* leases taken, admissions granted by them */
	/* in Redis after the last grant: below 0 when the fleet's reported
	 * tokens overshot the budget, so a flag says whether it is known */
	int64_t global_remaining;
	bool remaining_known;
	/* a lease's size follows the rate the kernel spends (lease_size) */
	int64_t held;			/* the kernel's budget after our last look or add */
	uint64_t spent;			/* spent since measured_at */
	uint64_t measured_at;
	uint64_t spent_at;		/* the last look that saw the kernel spend */
	double rate;			/* admissions per ms, rising at once, falling slowly */
	uint64_t spent_total;		/* ever, for look_rate */
	uint64_t looked_at, look_spent;	/* the last look, and spent_total then */
	double look_rate;		/* admissions per ms between the last two looks */
	bool dry;			/* the last look found it spent: the rate is more */
	uint64_t dry_at;		/* when a look last found it so (keep_dry_aim) */
	uint32_t hold;			/* what it aims to hold (lease_hold) */
	uint64_t sent_at;
	int64_t spill_mark;		/* the kernel's budget then: below it, spills since */
	double rtt_ms;			/* the lease script's round trip */
	uint32_t hosts;			/* fleet.expected_hosts: a lease's share at the end */
	uint64_t returned;		/* given back after a burst */
	/* tokens */
	double per_conn;		/* tokens per connection estimate, 0 none yet */
	uint64_t token_window;		/* local token window index */
	uint64_t token_window_end;
	uint64_t tokens_used;		/* reported this window */
	uint64_t token_conns;		/* connections those reports covered */
	uint64_t token_granted;		/* admissions given to the kernel this window */
	uint64_t token_budget;		/* of a window */
	int64_t tokens_left;		/* of the window's budget (the fleet's when shared) */
	uint64_t spill_until;		/* provider said 0 remaining: spill until its reset */
	bool provider_capped;		/* its remaining count capped this window's budget */
	uint64_t reports;		/* token reports taken */
	/* tokens through Redis: what goes to the fleet's count with the next
	 * script (and what the one in flight took, back if it fails) */
	uint64_t tokens_unsent, tokens_sent;	/* reported here */
	uint64_t release_unsent, release_sent;	/* reservations those reports settle */
	int64_t cap_unsent;		/* the provider's remaining count, -1 none */
	uint64_t res_tokens, res_conns;	/* reserved in this window for admissions unreported */
};

/* At start and after every reload: open, re-create (what the connections
 * were opened with changed: redis, password, timeouts, host_id, key_prefix)
 * or close the fleet; take the pools' budgets over (their state goes on);
 * arm the fleet timer. */
int fleet_apply(struct daemon *d);
/* At exit (SIGTERM): the unspent leases back to their windows (a bounded
 * wait of timeout_ms for Redis' answer), then close. */
void fleet_stop(struct daemon *d);
/* From the fleet timer, every STEER_FLEET_BUDGET_MS: circuits, and the
 * budgets' backstop look (the kernel wakes steerd for a lease: wake.h). */
void fleet_tick(struct daemon *d, uint64_t now);
void fleet_on_timer(struct daemon *d);
/* The report datagram's token parts (main.c read_reports). */
void fleet_report_tokens(struct daemon *d, const char *pool, uint64_t tokens, uint64_t conns);
int fleet_pool_remaining(struct daemon *d, const char *pool, uint64_t remaining,
			 uint32_t reset_s);
/* For the exporter: the pools' budget state, by index (NULL past the end). */
const struct fpool *fleet_pool_at(const struct daemon *d, size_t i);
bool fleet_redis_up(const struct daemon *d);
const char *budget_source_name(enum budget_source s);

/* budgets.c, for fleet.c: the pools' budgets as the file says (start,
 * reload), spent and refilled every tick, given back at exit */
int budgets_apply(struct daemon *d);
/* Every pool's look (the fleet timer's backstop) */
void budgets_tick(struct daemon *d, uint64_t now);
/* The kernel's wake-up (wake.c): pool id's lease ran low, or out */
void budgets_woken(struct daemon *d, uint32_t id, uint64_t now);
/* The maps were replaced (unload + load): pool_budgets mmapped again, the
 * pools found again (their leases went with the old map) */
void budgets_maps_replaced(struct daemon *d);
void budgets_stop(struct daemon *d);
void budgets_redis_up(struct daemon *d);

#endif
