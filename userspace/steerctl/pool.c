// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pool.c - steerctl pool add|set|del|list|quota|rate|lobby: a set of
 * workers, its policy, its fallback, its admission limits and its lobby. */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "defaults.h"
#include "netaddr.h"
#include "state.h"

enum { PA_NAME, PA_POLICY, PA_FALLBACK };

#define POLICY_HELP "how a worker is picked"

static const struct opt pool_add_opts[] = {
	[PA_NAME] = { .arg = "NAME", .type = OPT_NAME, .what = "pool", .help = "the pool" },
	[PA_POLICY] = { .flag = "policy", .arg = "POLICY", .type = OPT_POLICY,
			.flags = OPT_DEFAULT, .def = STEER_POLICY_LEAST_CONN, .help = POLICY_HELP },
	[PA_FALLBACK] = { .flag = "fallback", .arg = "POOL", .type = OPT_STR,
			  .help = "where its connections go when it cannot take them" },
};

static int do_pool_add(struct ctl *c, const struct optval *v)
{
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return pool_add(&c->maps, v[PA_NAME].s, (uint32_t)v[PA_POLICY].u,
			v[PA_FALLBACK].given ? v[PA_FALLBACK].s : NULL, c->err);
}

static const struct opt pool_set_opts[] = {
	[PA_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the pool" },
	[PA_POLICY] = { .flag = "policy", .arg = "POLICY", .type = OPT_POLICY, .alt = 1,
			.help = POLICY_HELP },
	[PA_FALLBACK] = { .flag = "fallback", .arg = "POOL|none", .type = OPT_STR, .alt = 2,
			  .help = "another fallback, or none" },
};

static int do_pool_set(struct ctl *c, const struct optval *v)
{
	uint32_t policy = (uint32_t)v[PA_POLICY].u;
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return pool_set(&c->maps, v[PA_NAME].s, v[PA_POLICY].given ? &policy : NULL,
			v[PA_FALLBACK].given ? v[PA_FALLBACK].s : NULL, c->err);
}

static const struct opt pool_name_opt[] = {
	{ .arg = "NAME", .type = OPT_STR, .help = "the pool" },
};

static const struct opt pool_quota_opts[] = {
	{ .arg = "NAME", .type = OPT_STR, .help = "the pool" },
	{ .arg = "N", .what = "quota", .type = OPT_U64, .flags = OPT_OFF, .max = STEER_QUOTA_MAX,
	  .help = "admissions left" },
};

static int do_pool_quota(struct ctl *c, const struct optval *v)
{
	int ret;

	if ((ret = ctl_open_maps(c)))
		return ret;
	return pool_set_quota(&c->maps, v[0].s, !v[1].off, (int64_t)v[1].u, c->err);
}

enum { PR_NAME, PR_RATE, PR_BURST };

static const struct opt pool_rate_opts[] = {
	[PR_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the pool" },
	[PR_RATE] = { .arg = "RATE", .what = "rate", .type = OPT_POSITIVE, .flags = OPT_OFF,
		      .dmax = STEER_RATE_MAX, .help = "connections per second" },
	[PR_BURST] = { .flag = "burst", .arg = "B", .type = OPT_U32, .min = STEER_BURST_MIN,
		       .max = STEER_BURST_MAX, .help = "bucket size; default one second's worth" },
};

static int do_pool_rate(struct ctl *c, const struct optval *v)
{
	double rate = v[PR_RATE].off ? 0 : v[PR_RATE].d;
	uint32_t burst = (uint32_t)v[PR_BURST].u;
	int ret;

	if (!v[PR_BURST].given)	/* one second's worth */
		burst = rate < 1 ? 1 : rate >= STEER_BURST_MAX ? STEER_BURST_MAX : (uint32_t)rate;
	if ((ret = ctl_open_maps(c)))
		return ret;
	return pool_set_rate(&c->maps, v[PR_NAME].s, !v[PR_RATE].off, rate, burst, c->err);
}

enum { PL_NAME, PL_ADDR, PL_PID, PL_FD, PL_OFF };

static const char *const off_word[] = { "off", NULL };

static const struct opt pool_lobby_opts[] = {
	[PL_NAME] = { .arg = "NAME", .type = OPT_STR, .help = "the pool" },
	[PL_ADDR] = LISTENER_ADDR_OPT(1, "the listening socket there is the lobby"),
	[PL_PID] = LISTENER_PID_OPT(2, "a process that holds the lobby's socket"),
	[PL_FD] = LISTENER_FD_OPT(2, "the lobby's fd in that process"),
	[PL_OFF] = { .type = OPT_CHOICE, .choices = off_word, .alt = 3,
		     .help = "no lobby: connections go to workers only" },
};

static int do_pool_lobby(struct ctl *c, const struct optval *v)
{
	struct listener l;
	int ret;

	if (v[PL_OFF].given) {
		if ((ret = ctl_open_maps(c)))
			return ret;
		return pool_set_lobby(&c->maps, v[PL_NAME].s, NULL, c->err);
	}
	if ((ret = ctl_take_listener(c, &v[PL_ADDR], &v[PL_PID], &v[PL_FD], &l)))
		return ret;
	return pool_set_lobby(&c->maps, v[PL_NAME].s, &l, c->err);
}

/* The pool's lobby as -j shows it: null, or its address and counts. */
static void print_lobby_json(struct json *j, struct ctl *c, uint32_t id)
{
	struct steer_lobby_stats st;
	struct steer_lobby lb;
	char where[NETADDR_ENDPOINT_LEN];

	if (pool_lobby_read(&c->maps, id, &lb, &st) || !lb.in_use) {
		json_null(j, "lobby");
		return;
	}
	netaddr_format_endpoint(lb.addr, lb.port, where, sizeof(where));
	json_object_begin(j, "lobby");
	json_string(j, "addr", where);
	json_string(j, "state", pool_lobby_alive(&c->maps, id) ? "up" : "gone");
	json_uint(j, "pid", lb.pid);
	json_uint(j, "backlog", lb.backlog);
	json_int(j, "waiting", st.gen == lb.gen ? st.waiting : 0);
	json_uint(j, "sent", st.gen == lb.gen ? st.sent : 0);
	json_uint(j, "taken", st.gen == lb.gen ? st.taken : 0);
	/* accepted by a process that is no lobby-aware worker of the pool */
	json_int(j, "unattributed", st.gen == lb.gen ? st.stray : 0);
	json_uint(j, "unattributed_total", st.gen == lb.gen ? st.stray_total : 0);
	json_object_end(j);
}

/* The lobbies under the pools table, when there is one. */
static void print_lobbies_text(struct ctl *c, const struct steer_pool *pools)
{
	char where[NETADDR_ENDPOINT_LEN];
	struct steer_lobby_stats st;
	struct steer_lobby lb;
	bool header = false;

	for (uint32_t i = 0; pools && i < STEER_MAX_POOLS; i++) {
		if (!pools[i].in_use || pool_lobby_read(&c->maps, i, &lb, &st) || !lb.in_use)
			continue;
		if (st.gen != lb.gen)
			memset(&st, 0, sizeof(st));
		if (!header) {
			printf("\n%-16s %-22s %-5s %7s %7s %10s %10s %12s\n", "LOBBY_POOL", "LOBBY",
			       "STATE", "WAITING", "BACKLOG", "SENT", "TAKEN", "UNATTRIBUTED");
			header = true;
		}
		netaddr_format_endpoint(lb.addr, lb.port, where, sizeof(where));
		printf("%-16s %-22s %-5s %7lld %7u %10llu %10llu %12lld\n", pools[i].name, where,
		       pool_lobby_alive(&c->maps, i) ? "up" : "gone", (long long)st.waiting,
		       lb.backlog, (unsigned long long)st.sent, (unsigned long long)st.taken,
		       (long long)st.stray);
	}
}

static void print_pool_json(struct json *j, struct ctl *c, uint32_t id,
			    const struct steer_pool *p, const char *fallback,
			    const struct steer_pool_stats *st, const struct steer_pool_limits *lim,
			    const struct steer_pool_budget *bud)
{
	json_object_begin(j, NULL);
	json_string(j, "name", p->name);
	json_string(j, "policy", policy_name(p->policy));
	if (p->fallback == STEER_NONE)
		json_null(j, "fallback");
	else
		json_string(j, "fallback", fallback);
	json_uint(j, "workers", p->nworkers);
	json_uint(j, "table_len", p->table_len);
	json_uint(j, "selected", st->selected);
	json_uint(j, "fallback_out", st->fallback_out);
	json_uint(j, "refused", st->refused);
	json_string(j, "circuit", circuit_name(p->circuit));
	json_uint(j, "circuit_forced", p->circuit_forced);
	json_uint(j, "circuit_fleet", p->circuit_fleet);
	json_uint(j, "circuit_out", st->circuit_out);
	json_uint(j, "probes", st->probes);
	if (bud->quota_on)
		json_int(j, "quota_left", bud->quota_left > 0 ? bud->quota_left : 0);
	else
		json_null(j, "quota_left");
	if (lim->rate_on)
		json_uint(j, "rate_milli", lim->rate_milli);
	else
		json_null(j, "rate_milli");
	json_uint(j, "spilled", st->spilled);
	json_string(j, "owner", owner_name(p->owner));
	if (p->quota_set)
		json_uint(j, "quota", p->quota_conf);
	else
		json_null(j, "quota");
	print_lobby_json(j, c, id);
	json_object_end(j);
}

static void print_pool_text(const struct steer_pool *p, const char *fallback,
			    const struct steer_pool_stats *st, const struct steer_pool_budget *bud,
			    bool *header)
{
	char quota[24];

	if (!*header) {
		printf("%-16s %-12s %-16s %7s %10s %12s %8s %-10s %10s %8s\n", "POOL", "POLICY",
		       "FALLBACK", "WORKERS", "SELECTED", "FALLBACK_OUT", "REFUSED", "CIRCUIT",
		       "QUOTA_LEFT", "SPILLED");
		*header = true;
	}
	snprintf(quota, sizeof(quota), bud->quota_on ? "%lld" : "-",
		 (long long)(bud->quota_left > 0 ? bud->quota_left : 0));
	/* open for the fleet while this host's own breaker is closed */
	printf("%-16s %-12s %-16s %7u %10llu %12llu %8llu %-10s %10s %8llu\n", p->name,
	       policy_name(p->policy), fallback, p->nworkers, (unsigned long long)st->selected,
	       (unsigned long long)st->fallback_out, (unsigned long long)st->refused,
	       p->circuit_fleet ? "fleet-open" : circuit_name(p->circuit), quota,
	       (unsigned long long)st->spilled);
}

void print_pools(struct ctl *c, struct json *j)
{
	struct steer_pool *p = calloc(1, sizeof(*p));
	struct steer_pool_limits lim;
	struct steer_pool_budget bud;
	struct steer_pool_stats st;
	char fallback[STEER_NAME_LEN];
	bool header = false;

	if (!p)
		return;
	if (j)
		json_array_begin(j, "pools");
	const struct steer_pool *pools = ctl_table(c, MAP_POOLS);

	for (uint32_t i = 0; pools && i < STEER_MAX_POOLS; i++) {
		if (!pools[i].in_use)
			continue;
		*p = pools[i];
		if (bpf_map_lookup_elem(c->maps.fd[MAP_POOL_STATS], &i, &st))
			memset(&st, 0, sizeof(st));
		if (pool_limits_read(&c->maps, i, &lim))
			memset(&lim, 0, sizeof(lim));
		if (pool_budget_read(&c->maps, i, &bud))
			memset(&bud, 0, sizeof(bud));
		pool_name_of(c, p->fallback, fallback, sizeof(fallback));
		if (j)
			print_pool_json(j, c, i, p, fallback, &st, &lim, &bud);
		else
			print_pool_text(p, fallback, &st, &bud, &header);
	}
	if (j)
		json_array_end(j);
	else
		print_lobbies_text(c, pools);
	free(p);
}

/* pool remaining POOL --tokens N --reset S: the provider's rate-limit
 * headers, to steerd by the report datagram (no maps needed) */
enum { PM_NAME, PM_TOKENS, PM_RESET, PM_SOCKET };
static const struct opt pool_remaining_opts[] = {
	[PM_NAME] = { .arg = "NAME", .type = OPT_NAME, .what = "pool", .help = "the pool" },
	[PM_TOKENS] = { .flag = "tokens", .arg = "N", .type = OPT_U64, .max = STEER_TOKENS_MAX,
			.alt = 1, .help = "tokens the provider says are left" },
	[PM_RESET] = { .flag = "reset", .arg = "S", .type = OPT_U32, .max = STEER_TOKEN_RESET_S_MAX,
		       .alt = 1, .help = "seconds until the provider's window resets" },
	[PM_SOCKET] = { .flag = "socket", .arg = "PATH", .type = OPT_STR, .env = "STEER_SOCKET",
			.sdef = STEER_DAEMON_SOCKET, .help = "steerd's report socket" },
};

static int do_pool_remaining(struct ctl *c, const struct optval *v)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "@pool %s remaining %llu reset %llu", v[PM_NAME].s,
		 (unsigned long long)v[PM_TOKENS].u, (unsigned long long)v[PM_RESET].u);
	return ctl_report_send(c, v[PM_SOCKET].s, msg);
}

static const struct cmd pool_cmds[] = {
	{ .verb = "add", .opts = pool_add_opts, .nopts = ARRAY_SIZE(pool_add_opts),
	  .run = do_pool_add, .help = "a new pool, empty",
	  .doc = "least-conn picks the fewest outstanding connections per unit of weight (an "
		 "exact scan up to " OPT_LIMIT(STEER_SCAN_MAX) " workers, two random choices above); "
		 "round-robin and random are weighted; hash keeps a source address on one worker "
		 "through a Maglev table. A pool with no usable worker, an open circuit or a spent "
		 "quota or rate sends the connection to its fallback, up to " OPT_LIMIT(STEER_MAX_HOPS)
		 " hops; with none the connection is refused at once (RST)." },
	{ .verb = "set", .opts = pool_set_opts, .nopts = ARRAY_SIZE(pool_set_opts),
	  .rule = RULE_ANY, .run = do_pool_set, .help = "change a pool's policy or fallback" },
	{ .verb = "del", .opts = pool_name_opt, .nopts = ARRAY_SIZE(pool_name_opt),
	  .by_name = pool_del, .help = "remove a pool that has no workers" },
	{ .verb = "list", .print = print_pools,
	  .help = "every pool with its counters, circuit and quota (-j: JSON)" },
	{ .verb = "quota", .opts = pool_quota_opts, .nopts = ARRAY_SIZE(pool_quota_opts),
	  .run = do_pool_quota, .help = "admit exactly N more connections, then spill to the fallback" },
	{ .verb = "remaining", .opts = pool_remaining_opts, .nopts = ARRAY_SIZE(pool_remaining_opts),
	  .rule = RULE_EITHER, .run = do_pool_remaining,
	  .help = "tell steerd a provider's tokens left and reset time (its rate-limit headers)",
	  .doc = "For a pool with a token budget (tokens_per_min in steer.conf(5)): --tokens 0 "
		 "spills the pool's next connections to its fallback until --reset seconds have "
		 "passed; more caps what is left of the window's budget. Like report, it needs only "
		 "write permission on steerd's socket." },
	{ .verb = "rate", .opts = pool_rate_opts, .nopts = ARRAY_SIZE(pool_rate_opts),
	  .run = do_pool_rate,
	  .help = "a token bucket of RATE connections per second; above it, spill to the fallback" },
	{ .verb = "lobby", .opts = pool_lobby_opts, .nopts = ARRAY_SIZE(pool_lobby_opts),
	  .rule = RULE_EITHER, .run = do_pool_lobby,
	  .help = "a listening socket as the pool's lobby, where connections wait for a free worker",
	  .doc = "A lobby is one accept queue that every lobby-aware worker of the pool (worker "
		 "--slots) also accepts from, taking from its own listener first and from the lobby "
		 "only while it has a free slot. A new connection goes straight to a worker with a "
		 "free slot (outstanding + pending below its slots; a worker without slots only when "
		 "idle), by the pool's policy; when none has one, it waits in the lobby and the "
		 "first worker that frees up takes it. A lobby whose accept queue is full, whose "
		 "socket closed, or that no lobby-aware worker up and alive serves is skipped: the "
		 "connection goes to a worker as without a lobby. Admission (circuit, quota, rate) "
		 "comes first, as always. --addr and --pid/--fd find the socket as worker add does; "
		 "the same socket again changes nothing; off removes the lobby (connections waiting "
		 "in it stay for the workers to accept)." },
};

const struct object obj_pool = { "pool", pool_cmds, ARRAY_SIZE(pool_cmds) };
