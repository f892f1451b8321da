// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests (cmocka) for config.c: a full config loads with the values and
 * defaults expected; every kind of mistake fails with FILE:LINE and the name
 * of the setting; truncated and mutated configs never crash or leak (run it
 * under ASan); the shipped scripts/steer.conf.example loads.
 *
 * Usage: test_config [PATH-TO-steer.conf.example]
 * Without an argument the example is found from this file's path, which
 * works when the test was compiled from the top of the repo.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>
#include "config.h"

static const char *example_arg;

/*
 * libconfig before 1.7.3 leaks a string token that a syntax error discards
 * ("x = {\"a\"; };" loses the "a"; hyperrealm/libconfig#142, fixed by #155).
 * That is in the library, and costs one string per failed parse; tell
 * LeakSanitizer so the mutation test can still catch leaks of our own, which
 * would show other allocators (calloc in config.c, config_setting_create).
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

/* Line numbers below matter: error tests refer to them. */
static const char full_text[] =
	"# a full config\n"							/* 1 */
	"daemon = {\n"								/* 2 */
	"  interval_ms = 500;\n"						/* 3 */
	"  metrics = \"127.0.0.1:9110\";\n"					/* 4 */
	"  socket = \"/tmp/steerd.sock\";\n"					/* 5 */
	"};\n"									/* 6 */
	"maintenance = {\n"							/* 7 */
	"  listen = \"127.0.0.1:9199\";\n"					/* 8 */
	"  status = 502;\n"							/* 9 */
	"  retry_after = 60;\n"							/* 10 */
	"  body = \"down\\n\";\n"						/* 11 */
	"};\n"									/* 12 */
	"pools = (\n"								/* 13 */
	"  { name = \"agents\"; policy = \"least-conn\"; fallback = \"basic\";\n"	/* 14 */
	"    circuit = { threshold = 0.1; window_s = 20; min_requests = 30;\n"	/* 15 */
	"                cooldown_s = 7; half_open_probes = 3; };\n"		/* 16 */
	"    quota = 5000000000L;\n"						/* 17 */
	"    rate = 100.5; burst = 20;\n"					/* 18 */
	"    eject_max = 0.25;\n"						/* 19 */
	"    workers = (\n"							/* 20 */
	"      { name = \"a1\"; addr = \"127.0.0.1:9001\"; weight = 150; maxconn = 10;\n" /* 21 */
	"        check = { type = \"http\"; port = 8001; path = \"/health\"; expect = 204;\n" /* 22 */
	"                  interval_ms = 2000; timeout_ms = 300; rise = 4; fall = 5;\n" /* 23 */
	"                  slowstart_s = 10; };\n"				/* 24 */
	"        agent = { port = 9501; interval_ms = 3000; timeout_ms = 400; };\n" /* 25 */
	"        resources = false;\n"						/* 26 */
	"      },\n"								/* 27 */
	"      { name = \"a2\"; addr = \"[::1]:9002\"; check = { type = \"tcp\"; }; }\n" /* 28 */
	"    );\n"								/* 29 */
	"  },\n"								/* 30 */
	"  { name = \"basic\"; policy = \"round-robin\"; fallback = \"maintenance\";\n" /* 31 */
	"    rate = 0.5;\n"							/* 32 */
	"    workers = ( { name = \"b1\"; addr = \"127.0.0.1:9100\"; } );\n"	/* 33 */
	"  },\n"								/* 34 */
	"  { name = \"spare\"; policy = \"hash\"; fallback = \"none\"; }\n"	/* 35 */
	");\n"									/* 36 */
	"services = (\n"							/* 37 */
	"  { name = \"web\"; prefix = \"10.0.0.1/32\"; port = \"80\"; pool = \"agents\"; },\n" /* 38 */
	"  { name = \"range\"; prefix = \"10.0.0.0/24\"; port = \"8000-8009\"; pool = \"basic\"; },\n" /* 39 */
	"  { name = \"v6\"; prefix = \"2001:db8::/32\"; port = 443; pool = \"agents\"; }\n" /* 40 */
	");\n";									/* 41 */

static void test_full(void **state)
{
	const struct conf_pool *agents, *basic, *spare, *in;
	const struct conf_worker *a1, *a2, *b1;
	struct steer_config c = {};
	char err[STEER_ERR_LEN] = "", buf[64];

	(void)state;
	assert_int_equal(config_load_string(full_text, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_int_equal(c.interval_ms, 500);
	assert_true(c.has_metrics);
	netaddr_format_endpoint(c.metrics.addr, c.metrics.port, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:9110");
	assert_string_equal(c.socket_path, "/tmp/steerd.sock");

	assert_true(c.maintenance.enabled);
	netaddr_format_endpoint(c.maintenance.listen.addr, c.maintenance.listen.port, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:9199");
	assert_int_equal(c.maintenance.status, 502);
	assert_int_equal(c.maintenance.retry_after, 60);
	assert_string_equal(c.maintenance.body, "down\n");

	assert_int_equal(c.npools, 3);
	agents = config_find_pool(&c, "agents");
	basic = config_find_pool(&c, "basic");
	spare = config_find_pool(&c, "spare");
	assert_ptr_equal(agents, &c.pools[0]);
	assert_ptr_equal(basic, &c.pools[1]);
	assert_ptr_equal(spare, &c.pools[2]);
	assert_null(config_find_pool(&c, "nope"));
	assert_null(config_find_pool(&c, ""));

	assert_int_equal(agents->line, 14);
	assert_int_equal(agents->policy, STEER_POLICY_LEAST_CONN);
	assert_string_equal(agents->fallback, "basic");
	assert_true(agents->circuit.threshold > 0.0999 && agents->circuit.threshold < 0.1001);
	assert_int_equal(agents->circuit.window_s, 20);
	assert_int_equal(agents->circuit.min_requests, 30);
	assert_int_equal(agents->circuit.cooldown_s, 7);
	assert_int_equal(agents->circuit.half_open_probes, 3);
	assert_true(agents->has_quota);
	assert_true(agents->quota == 5000000000ull);
	assert_true(agents->has_rate);
	assert_true(agents->rate == 100.5);
	assert_int_equal(agents->burst, 20);
	assert_true(agents->eject_max == 0.25);
	assert_int_equal(agents->nworkers, 2);

	a1 = &agents->workers[0];
	assert_string_equal(a1->name, "a1");
	assert_int_equal(a1->line, 21);
	netaddr_format_endpoint(a1->addr.addr, a1->addr.port, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:9001");
	assert_int_equal(a1->addr.family, STEER_FAMILY_V4);
	assert_int_equal(a1->weight, 150);
	assert_int_equal(a1->maxconn, 10);
	assert_true(a1->check.enabled);
	assert_int_equal(a1->check.type, CONF_CHECK_HTTP);
	assert_int_equal(a1->check.port, 8001);
	assert_string_equal(a1->check.path, "/health");
	assert_int_equal(a1->check.expect, 204);
	assert_int_equal(a1->check.interval_ms, 2000);
	assert_int_equal(a1->check.timeout_ms, 300);
	assert_int_equal(a1->check.rise, 4);
	assert_int_equal(a1->check.fall, 5);
	assert_int_equal(a1->check.slowstart_s, 10);
	assert_true(a1->agent.enabled);
	assert_int_equal(a1->agent.port, 9501);
	assert_int_equal(a1->agent.interval_ms, 3000);
	assert_int_equal(a1->agent.timeout_ms, 400);
	assert_false(a1->resources);

	/* a2: a tcp check with every default; the check interval follows the daemon's */
	a2 = config_find_worker(&c, "a2", &in);
	assert_ptr_equal(a2, &agents->workers[1]);
	assert_ptr_equal(in, agents);
	assert_int_equal(a2->addr.family, STEER_FAMILY_V6);
	assert_int_equal(a2->weight, 100);
	assert_int_equal(a2->maxconn, 0);
	assert_true(a2->check.enabled);
	assert_int_equal(a2->check.type, CONF_CHECK_TCP);
	assert_int_equal(a2->check.port, 9002);
	assert_string_equal(a2->check.path, "/");
	assert_int_equal(a2->check.expect, 200);
	assert_int_equal(a2->check.interval_ms, 500);
	assert_int_equal(a2->check.timeout_ms, 1000);
	assert_int_equal(a2->check.rise, 2);
	assert_int_equal(a2->check.fall, 3);
	assert_int_equal(a2->check.slowstart_s, 0);
	assert_false(a2->agent.enabled);
	assert_true(a2->resources);

	assert_int_equal(basic->policy, STEER_POLICY_ROUND_ROBIN);
	assert_string_equal(basic->fallback, CONF_FALLBACK_MAINTENANCE);
	assert_true(basic->has_rate);
	assert_int_equal(basic->burst, 1);	/* max(1, rate) */
	assert_false(basic->has_quota);
	assert_true(basic->eject_max == 0.5);
	assert_true(basic->circuit.threshold == 0.05);
	assert_int_equal(basic->circuit.window_s, 10);
	assert_int_equal(basic->circuit.min_requests, 20);
	assert_int_equal(basic->circuit.cooldown_s, 5);
	assert_int_equal(basic->circuit.half_open_probes, 5);
	b1 = config_find_worker(&c, "b1", NULL);
	assert_ptr_equal(b1, &basic->workers[0]);
	assert_false(b1->check.enabled);	/* no check block: no active check */
	assert_true(b1->resources);
	assert_null(config_find_worker(&c, "zz", NULL));

	assert_int_equal(spare->policy, STEER_POLICY_HASH);
	assert_string_equal(spare->fallback, "");
	assert_int_equal(spare->nworkers, 0);
	assert_null(spare->workers);

	assert_int_equal(c.nservices, 3);
	assert_string_equal(c.services[0].name, "web");
	assert_int_equal(c.services[0].prefix.prefixlen, 32);
	assert_int_equal(c.services[0].port_lo, 80);
	assert_int_equal(c.services[0].port_hi, 80);
	assert_string_equal(c.services[0].pool, "agents");
	assert_int_equal(c.services[0].line, 38);
	assert_int_equal(c.services[1].port_lo, 8000);
	assert_int_equal(c.services[1].port_hi, 8009);
	assert_string_equal(c.services[1].pool, "basic");
	assert_int_equal(c.services[2].prefix.family, STEER_FAMILY_V6);
	assert_int_equal(c.services[2].port_lo, 443);
	assert_int_equal(c.services[2].port_hi, 443);

	config_free(&c);
	assert_null(c.pools);
	assert_int_equal(c.npools, 0);
	config_free(&c);	/* twice is fine */
}

static void test_defaults(void **state)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN] = "";

	(void)state;
	/* An empty file is a daemon with nothing to do. */
	assert_int_equal(config_load_string("", &c, err, sizeof(err)), 0);
	assert_int_equal(c.interval_ms, 1000);
	assert_false(c.has_metrics);
	assert_string_equal(c.socket_path, STEER_DAEMON_SOCKET);
	assert_false(c.has_socket_group);
	assert_int_equal(c.socket_mode, STEER_DAEMON_SOCKET_MODE);
	assert_false(c.maintenance.enabled);
	assert_int_equal(c.maintenance.status, 503);
	assert_int_equal(c.maintenance.retry_after, 30);
	assert_int_equal(c.npools, 0);
	assert_int_equal(c.nservices, 0);
	config_free(&c);

	assert_int_equal(config_load_string(
		"pools = ( { name = \"p\"; rate = 250;\n"
		"  workers = ( { name = \"w\"; addr = \"127.0.0.1:8080\"; check = {}; } ); } );\n"
		"maintenance = { listen = \"[::1]:9199\"; };\n",
		&c, err, sizeof(err)), 0);
	assert_true(c.maintenance.enabled);
	assert_int_equal(c.maintenance.listen.family, STEER_FAMILY_V6);
	assert_int_equal(c.maintenance.status, 503);
	assert_non_null(strstr(c.maintenance.body, "maintenance"));
	assert_int_equal(c.pools[0].policy, STEER_POLICY_LEAST_CONN);
	assert_string_equal(c.pools[0].fallback, "");
	assert_int_equal(c.pools[0].burst, 250);
	assert_true(c.pools[0].workers[0].check.enabled);
	assert_int_equal(c.pools[0].workers[0].check.type, CONF_CHECK_TCP);
	assert_int_equal(c.pools[0].workers[0].check.port, 8080);
	assert_int_equal(c.pools[0].workers[0].check.interval_ms, 1000);
	config_free(&c);
}

/* A failed load leaves the previous config as it was: a reload keeps running. */
/* Who may report: the socket's group by name or number, its mode in octal. */
static void test_socket_access(void **state)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN] = "";

	(void)state;
	assert_int_equal(config_load_string("daemon = { socket_group = \"root\"; socket_mode = \"0620\"; };",
					    &c, err, sizeof(err)), 0);
	assert_true(c.has_socket_group);
	assert_int_equal(c.socket_gid, 0);
	assert_int_equal(c.socket_mode, 0620);
	config_free(&c);
	assert_int_equal(config_load_string("daemon = { socket_group = \"4242\"; };", &c, err,
					    sizeof(err)), 0);
	assert_true(c.has_socket_group);
	assert_int_equal(c.socket_gid, 4242);
	assert_int_equal(c.socket_mode, STEER_DAEMON_SOCKET_MODE);
	config_free(&c);
}

static void test_failure_keeps_old(void **state)
{
	struct steer_config c = {}, before;
	char err[STEER_ERR_LEN] = "";

	(void)state;
	assert_int_equal(config_load_string(full_text, &c, err, sizeof(err)), 0);
	before = c;
	/* The error is in the last section, after pools were allocated. */
	assert_int_equal(config_load_string(
		"pools = ( { name = \"p\"; workers = ( { name = \"w\"; addr = \"127.0.0.1:1\"; } ); } );\n"
		"services = ( { name = \"s\"; prefix = \"10.0.0.1\"; port = 80; pool = \"q\"; } );\n",
		&c, err, sizeof(err)), -1);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_string_equal(c.pools[0].name, "agents");
	config_free(&c);

	/* No room for the message is not a crash. */
	assert_int_equal(config_load_string("x = 1;", &c, NULL, 0), -1);
	assert_int_equal(config_load_string("x = 1;", &c, err, 1), -1);
	assert_string_equal(err, "");
	assert_int_equal(config_load_string(NULL, &c, err, sizeof(err)), -1);
	assert_int_equal(config_load(NULL, &c, err, sizeof(err)), -1);
}

struct bad_case {
	const char *text;
	int line;
	const char *setting;	/* must appear in err (NULL for syntax errors) */
	const char *what;	/* must appear in err too */
};

#define POOL_P "pools = ( { name = \"p\"; workers = ( { name = \"w\"; addr = \"127.0.0.1:9000\"; } ); } );\n"
#define WORKER(extra) \
	"pools = ( { name = \"p\";\n" \
	"  workers = ( { name = \"w\"; addr = \"127.0.0.1:9000\";\n" \
	"    " extra " } ); } );\n"
#define SERVICE(fields) POOL_P "services = (\n  { " fields " }\n);\n"

static const struct bad_case bad_cases[] = {
	/* syntax, from libconfig */
	{ "daemon = {\n  interval_ms = = 5;\n};\n", 2, NULL, "syntax error" },
	{ "daemon = {\n  interval_ms = 5;\n", 3, NULL, "syntax error" },
	{ "daemon = {\n  socket = \"abc\n};\n", 2, NULL, "a string opened here is not closed" },	/* where it opens */
	{ "daemon = { interval_ms = 5; };\ndaemon = { interval_ms = 6; };\n", 2, NULL, "duplicate" },

	/* unknown settings, at every level */
	{ "\n\npool = ();\n", 3, "pool", "did you mean 'pools'" },
	{ "global = { x = 1; };\n", 1, "global", "unknown setting" },
	{ "daemon = {\n  interva_ms = 5;\n};\n", 2, "daemon.interva_ms", "unknown setting" },
	{ "maintenance = { listen = \"1.2.3.4:5\";\n stats = 503; };\n", 2, "maintenance.stats",
	  "did you mean 'status'" },
	{ "pools = (\n { name = \"a\";\n   polcy = \"hash\"; } );\n", 3, "pools[0].polcy",
	  "did you mean 'policy'" },
	{ "pools = ( { name = \"a\";\n  weight = 5; } );\n", 2, "pools[0].weight",
	  "unknown setting (known here: name, policy" },
	{ "pools = ( { name = \"a\";\n circuit = {\n treshold = 0.1; }; } );\n", 3,
	  "pools[0].circuit.treshold", "did you mean 'threshold'" },
	{ WORKER("wieght = 3;"), 3, "pools[0].workers[0].wieght", "did you mean 'weight'" },
	{ WORKER("check = { type = \"http\";\n pth = \"/\"; };"), 4, "pools[0].workers[0].check.pth",
	  "did you mean 'path'" },
	{ WORKER("agent = { port = 1;\n intervall_ms = 1000; };"), 4,
	  "pools[0].workers[0].agent.intervall_ms", "did you mean 'interval_ms'" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = 80; pool = \"p\"; prot = 1;"), 3,
	  "services[0].prot", "did you mean 'port'" },

	/* wrong types */
	{ "pools = {};\n", 1, "pools", "must be a list" },
	{ "pools = [ 1, 2 ];\n", 1, "pools", "must be a list" },
	{ "pools = (\n \"a\" );\n", 2, "pools[0]", "must be a group" },
	{ "daemon = 5;\n", 1, "daemon", "must be a group" },
	{ "daemon = {\n interval_ms = \"1000\"; };\n", 2, "daemon.interval_ms", "whole number" },
	{ "daemon = {\n interval_ms = 1000.0; };\n", 2, "daemon.interval_ms", "whole number" },
	{ "pools = ( {\n name = 5; } );\n", 2, "pools[0].name", "must be a string" },
	{ WORKER("weight = \"100\";"), 3, "pools[0].workers[0].weight", "whole number" },
	{ WORKER("weight = 1.5;"), 3, "pools[0].workers[0].weight", "whole number" },
	{ WORKER("resources = 1;"), 3, "pools[0].workers[0].resources", "true or false" },
	{ WORKER("check = true;"), 3, "pools[0].workers[0].check", "must be a group" },
	{ "pools = ( { name = \"a\";\n circuit = { threshold = \"x\"; }; } );\n", 2,
	  "pools[0].circuit.threshold", "must be a number" },
	{ "pools = ( { name = \"a\";\n workers = [ ]; } );\n", 2, "pools[0].workers", "must be a list" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = 80.0; pool = \"p\";"), 3,
	  "services[0].port", "port number or a string" },
	{ SERVICE("name = \"s\"; prefix = 10; port = 80; pool = \"p\";"), 3, "services[0].prefix",
	  "must be a string" },

	/* missing required settings */
	{ "pools = ( { policy = \"hash\"; } );\n", 1, "pools[0]", "missing required setting 'name'" },
	{ "pools = ( { name = \"a\";\n workers = (\n { name = \"w\"; } ); } );\n", 3,
	  "pools[0].workers[0]", "missing required setting 'addr'" },
	{ WORKER("agent = { timeout_ms = 5; };"), 3, "pools[0].workers[0].agent",
	  "missing required setting 'port'" },
	{ "maintenance = {\n status = 503; };\n", 1, "maintenance", "missing required setting 'listen'" },
	{ POOL_P "services = (\n { name = \"s\"; prefix = \"10.0.0.1\"; pool = \"p\"; } );\n", 3,
	  "services[0]", "missing required setting 'port'" },

	/* names */
	{ "pools = ( {\n name = \"has space\"; } );\n", 2, "pools[0].name", "may hold only" },
	{ "pools = ( {\n name = \"\"; } );\n", 2, "pools[0].name", "must be 1 to 31" },
	{ "pools = ( {\n name = \"0123456789012345678901234567890123\"; } );\n", 2, "pools[0].name",
	  "must be 1 to 31" },
	{ "pools = ( {\n name = \"maintenance\"; } );\n", 2, "pools[0].name", "reserved" },
	{ WORKER("name = \"w2\";"), 3, NULL, "duplicate setting" },	/* name twice: libconfig */
	{ "pools = ( { name = \"a\"; workers = ( { name = \"w!\"; addr = \"127.0.0.1:1\"; } ); } );\n",
	  1, "pools[0].workers[0].name", "may hold only" },
	{ "pools = ( { name = \"a\"; },\n { name = \"b\"; },\n { name = \"a\"; } );\n", 3,
	  "pools[2].name", "pool 'a' is already defined at line 1" },
	{ "pools = ( { name = \"a\"; workers = ( { name = \"w\"; addr = \"127.0.0.1:1\"; } ); },\n"
	  " { name = \"b\"; workers = (\n"
	  "  { name = \"w\"; addr = \"127.0.0.1:2\"; } ); } );\n",
	  3, "pools[1].workers[0].name", "worker 'w' is already defined at line 1 (pool 'a')" },
	{ "pools = ( { name = \"a\"; workers = (\n { name = \"w\"; addr = \"127.0.0.1:1\"; },\n"
	  " { name = \"w\"; addr = \"127.0.0.1:2\"; } ); } );\n",
	  3, "pools[0].workers[1].name", "already defined at line 2" },
	/* one listener is one worker, across pools too */
	{ "pools = ( { name = \"a\"; workers = ( { name = \"w\"; addr = \"127.0.0.1:1\"; } ); },\n"
	  " { name = \"b\"; workers = (\n"
	  "  { name = \"v\"; addr = \"127.0.0.1:1\"; } ); } );\n",
	  3, "pools[1].workers[0].addr", "worker 'w' at line 1 (pool 'a') already listens there" },
	{ POOL_P "services = (\n { name = \"s\"; prefix = \"10.0.0.1\"; port = 80; pool = \"p\"; },\n"
	  " { name = \"s\"; prefix = \"10.0.0.2\"; port = 80; pool = \"p\"; } );\n",
	  4, "services[1].name", "service 's' is already defined at line 3" },

	/* policy, fallback */
	{ "pools = ( { name = \"a\";\n policy = \"fastest\"; } );\n", 2, "pools[0].policy",
	  "policy 'fastest' is unknown" },
	{ "pools = ( { name = \"a\";\n fallback = \"b\"; } );\n", 2, "pools[0].fallback",
	  "pool 'b' is not defined" },
	{ "pools = ( { name = \"a\";\n fallback = \"a\"; } );\n", 2, "pools[0].fallback",
	  "cannot fall back to itself" },
	{ "pools = ( { name = \"a\";\n fallback = \"b c\"; } );\n", 2, "pools[0].fallback",
	  "may hold only" },
	{ "pools = ( { name = \"a\";\n fallback = \"b\"; },\n { name = \"b\"; fallback = \"a\"; } );\n",
	  2, "pools[0].fallback", "makes a loop: a -> b -> a" },
	{ "pools = ( { name = \"x\"; fallback = \"a\"; },\n { name = \"a\"; fallback = \"b\"; },\n"
	  " { name = \"b\"; fallback = \"c\"; },\n { name = \"c\";\n fallback = \"a\"; } );\n",
	  2, "pools[1].fallback", "makes a loop: a -> b -> c -> a" },
	{ "pools = ( { name = \"a\";\n fallback = \"b\"; }, { name = \"b\"; fallback = \"c\"; },\n"
	  " { name = \"c\"; fallback = \"d\"; }, { name = \"d\"; fallback = \"e\"; },\n"
	  " { name = \"e\"; } );\n",
	  2, "pools[0].fallback", "a -> b -> c -> d -> e visits 5 pools" },
	{ "pools = ( { name = \"a\";\n fallback = \"maintenance\"; } );\n", 2, "pools[0].fallback",
	  "needs a maintenance" },

	/* services */
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = 80; pool = \"q\";"), 3,
	  "services[0].pool", "pool 'q' is not defined" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.300\"; port = 80; pool = \"p\";"), 3,
	  "services[0].prefix", "is not an IPv4 or IPv6 prefix" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1/24\"; port = 80; pool = \"p\";"), 3,
	  "services[0].prefix", "host bits" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.0/33\"; port = 80; pool = \"p\";"), 3,
	  "services[0].prefix", "prefix length" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = \"80-70\"; pool = \"p\";"), 3,
	  "services[0].port", "not a port or port range" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = \"http\"; pool = \"p\";"), 3,
	  "services[0].port", "port 'http'" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = \"1-5000\"; pool = \"p\";"), 3,
	  "services[0].port", "more than 4096" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = 0; pool = \"p\";"), 3,
	  "services[0].port", "out of range 1..65535" },
	{ SERVICE("name = \"s\"; prefix = \"10.0.0.1\"; port = 70000; pool = \"p\";"), 3,
	  "services[0].port", "out of range 1..65535" },
	{ POOL_P "services = (\n { name = \"s\"; prefix = \"10.0.0.0/24\"; port = 80; pool = \"p\"; },\n"
	  " { name = \"t\"; prefix = \"10.0.0.0/24\"; port = \"70-90\"; pool = \"p\"; } );\n",
	  4, "services[1].port", "overlap service 's' at line 3" },

	/* addresses */
	{ WORKER("addr = \"127.0.0.1\";"), 3, NULL, "duplicate" },	/* addr given twice: libconfig */
	{ "pools = ( { name = \"a\"; workers = (\n { name = \"w\"; addr = \"localhost:80\"; } ); } );\n",
	  2, "pools[0].workers[0].addr", "is not an address" },
	{ "pools = ( { name = \"a\"; workers = (\n { name = \"w\"; addr = \"::1:80\"; } ); } );\n",
	  2, "pools[0].workers[0].addr", "is not an address" },
	{ "pools = ( { name = \"a\"; workers = (\n { name = \"w\"; addr = \"127.0.0.1:0\"; } ); } );\n",
	  2, "pools[0].workers[0].addr", "port '0'" },
	{ "daemon = {\n metrics = \"127.0.0.1\"; };\n", 2, "daemon.metrics", "is not an address" },
	{ "maintenance = {\n listen = \"*:80\"; };\n", 2, "maintenance.listen", "is not an address" },

	/* ranges */
	{ WORKER("weight = 10001;"), 3, "pools[0].workers[0].weight", "out of range 0..10000" },
	{ WORKER("weight = -1;"), 3, "pools[0].workers[0].weight", "out of range 0..10000" },
	{ WORKER("maxconn = -1;"), 3, "pools[0].workers[0].maxconn", "out of range" },
	{ "pools = ( { name = \"a\";\n circuit = { threshold = 0; }; } );\n", 2,
	  "pools[0].circuit.threshold", "out of range (0, 1]" },
	{ "pools = ( { name = \"a\";\n circuit = { threshold = 1.01; }; } );\n", 2,
	  "pools[0].circuit.threshold", "out of range (0, 1]" },
	{ "pools = ( { name = \"a\";\n circuit = { window_s = 0; }; } );\n", 2,
	  "pools[0].circuit.window_s", "out of range" },
	{ "pools = ( { name = \"a\";\n rate = 0; } );\n", 2, "pools[0].rate", "out of range (0," },
	{ "pools = ( { name = \"a\";\n rate = -5.0; } );\n", 2, "pools[0].rate", "out of range (0," },
	{ "pools = ( { name = \"a\";\n rate = 1e999; } );\n", 2, "pools[0].rate", "out of range (0," },
	{ "pools = ( { name = \"a\"; rate = 5;\n burst = 0; } );\n", 2, "pools[0].burst",
	  "out of range 1.." },
	{ "pools = ( { name = \"a\";\n burst = 5; } );\n", 2, "pools[0].burst", "needs a rate" },
	{ "pools = ( { name = \"a\";\n quota = -1; } );\n", 2, "pools[0].quota", "must not be negative" },
	/* steerctl's limit too (defaults.h): headroom below the kernel's INT64_MAX */
	{ "pools = ( { name = \"a\";\n quota = 4611686018427387905L; } );\n", 2, "pools[0].quota",
	  "out of range 0..4611686018427387904" },
	{ "pools = ( { name = \"a\";\n eject_max = 1.5; } );\n", 2, "pools[0].eject_max",
	  "out of range [0, 1]" },
	{ "daemon = {\n interval_ms = 49; };\n", 2, "daemon.interval_ms", "out of range 50..60000" },
	{ "daemon = {\n interval_ms = 60001; };\n", 2, "daemon.interval_ms", "out of range 50..60000" },
	{ WORKER("check = {\n interval_ms = 10; };"), 4, "pools[0].workers[0].check.interval_ms",
	  "out of range 50..60000" },
	{ WORKER("check = {\n timeout_ms = 0; };"), 4, "pools[0].workers[0].check.timeout_ms",
	  "out of range 1..60000" },
	{ WORKER("check = {\n timeout_ms = 60001; };"), 4, "pools[0].workers[0].check.timeout_ms",
	  "out of range 1..60000" },
	{ WORKER("agent = { port = 1;\n timeout_ms = 0; };"), 4,
	  "pools[0].workers[0].agent.timeout_ms", "out of range" },
	{ WORKER("check = {\n rise = 0; };"), 4, "pools[0].workers[0].check.rise", "out of range 1.." },
	{ WORKER("check = {\n fall = 0; };"), 4, "pools[0].workers[0].check.fall", "out of range 1.." },
	{ WORKER("check = {\n port = 65536; };"), 4, "pools[0].workers[0].check.port",
	  "out of range 1..65535" },
	{ WORKER("check = { type = \"http\";\n expect = 600; };"), 4,
	  "pools[0].workers[0].check.expect", "out of range 100..599" },
	{ "maintenance = { listen = \"127.0.0.1:1\";\n status = 99; };\n", 2, "maintenance.status",
	  "out of range 100..599" },
	{ "maintenance = { listen = \"127.0.0.1:1\";\n status = 600; };\n", 2, "maintenance.status",
	  "out of range 100..599" },

	/* check specifics */
	{ WORKER("check = {\n type = \"agent\"; };"), 4, "pools[0].workers[0].check.type",
	  "'agent' is unknown (tcp or http" },
	{ WORKER("check = { type = \"http\";\n path = \"health\"; };"), 4,
	  "pools[0].workers[0].check.path", "must start with '/'" },
	{ WORKER("check = { type = \"http\";\n path = \"/a b\"; };"), 4,
	  "pools[0].workers[0].check.path", "no spaces" },
	{ WORKER("check = { type = \"http\";\n path = \"/a\\r\\nHost: x\"; };"), 4,
	  "pools[0].workers[0].check.path", "control characters" },
	{ WORKER("check = {\n path = \"/health\"; };"), 4, "pools[0].workers[0].check.path",
	  "applies only to type = \"http\"" },

	/* libconfig 1.5 would cut these to 705032704 and 100 without a word */
	{ "pools = ( { name = \"a\";\n quota = 5000000000; } );\n", 2, NULL,
	  "5000000000 does not fit in 32 bits" },
	{ "# 99999999999 in a comment, \"and 99999999999\" in a string are fine\n"
	  "pools = ( { name = \"a\"; /* 99999999999 */ workers = (\n"
	  " { name = \"w\"; addr = \"127.0.0.1:1\";\n weight = 4294967396; } ); } );\n",
	  4, NULL, "4294967396 does not fit" },
	{ "pools = ( { name = \"a\";\n quota = 0x80000000; } );\n", 2, NULL, "0x80000000 does not fit" },
	{ "pools = ( { name = \"a\";\n quota = -3000000000; } );\n", 2, NULL, "-3000000000 does not fit" },
	{ "pools = ( { name = \"a\";\n quota = -1L; } );\n", 2, "pools[0].quota", "must not be negative" },

	/* daemon strings */
	{ "daemon = {\n socket = \"run/steerd.sock\"; };\n", 2, "daemon.socket", "absolute path" },
	{ "daemon = {\n socket_mode = \"0860\"; };\n", 2, "daemon.socket_mode", "not a file mode" },
	{ "daemon = {\n socket_mode = \"01777\"; };\n", 2, "daemon.socket_mode", "at most 0777" },
	{ "daemon = {\n socket_mode = \"rw\"; };\n", 2, "daemon.socket_mode", "not a file mode" },
	{ "daemon = {\n socket_mode = 432; };\n", 2, "daemon.socket_mode", "must be a string" },
	{ "daemon = {\n socket_group = \"no-such-group-here\"; };\n", 2, "daemon.socket_group",
	  "no group 'no-such-group-here'" },
	{ "daemon = {\n socket_group = \"12x\"; };\n", 2, "daemon.socket_group",
	  "not a group name or number" },
};

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)))
		fail_msg("got '%s', wanted it to start with '%s'", s, prefix);
}

static void expect_error(const char *text, int line, const char *setting, const char *what)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN] = "", prefix[32];

	if (config_load_string(text, &c, err, sizeof(err)) != -1)
		fail_msg("loaded, but should fail:\n%s", text);
	snprintf(prefix, sizeof(prefix), "<string>:%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)) ||
	    (setting && !strstr(err, setting)) || !strstr(err, what))
		fail_msg("got    '%s'\nwanted '%s' with '%s' and '%s'\nfor:\n%s", err, prefix,
			 setting ? setting : "", what, text);
	assert_null(strchr(err, '\n'));	/* one line */
	assert_int_equal(c.npools, 0);	/* untouched */
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error(bad_cases[i].text, bad_cases[i].line, bad_cases[i].setting,
			     bad_cases[i].what);
}

/* Text grows by appending; aborts on ENOMEM, which is fine in a test. */
struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	t->len += n;
}

static void text_init(struct text *t)
{
	t->cap = 4096;
	t->len = 0;
	t->s = malloc(t->cap);
	assert_non_null(t->s);
	t->s[0] = '\0';
}

/* pools = ( npools pools of nworkers each ); one pool or worker a line. */
static char *make_pools(int npools, int nworkers)
{
	struct text t;

	text_init(&t);
	text_add(&t, "pools = (\n");
	for (int p = 0; p < npools; p++) {
		text_add(&t, "{ name = \"p%d\"; workers = (\n", p);
		for (int w = 0; w < nworkers; w++)
			text_add(&t, "{ name = \"w%d-%d\"; addr = \"127.1.%d.1:%d\"; }%s\n", p, w,
				 p, 1000 + w, w + 1 < nworkers ? "," : "");
		text_add(&t, ") }%s\n", p + 1 < npools ? "," : "");
	}
	text_add(&t, ");\n");
	return t.s;
}

static void test_limits(void **state)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN], *text;
	struct text t;

	(void)state;
	/* exactly at the limits: loads */
	text = make_pools(STEER_MAX_POOLS, 1);
	assert_int_equal(config_load_string(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.npools, STEER_MAX_POOLS);
	config_free(&c);
	free(text);
	text = make_pools(1, STEER_MAX_POOL_WORKERS);
	assert_int_equal(config_load_string(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.pools[0].nworkers, STEER_MAX_POOL_WORKERS);
	config_free(&c);
	free(text);

	/* one over */
	text = make_pools(STEER_MAX_POOLS + 1, 1);
	expect_error(text, 1, "pools", "has 65 entries; at most 64");
	free(text);
	text = make_pools(1, STEER_MAX_POOL_WORKERS + 1);
	expect_error(text, 2, "pools[0].workers", "has 1025 entries; at most 1024");
	free(text);
	/* 5 x 1000 workers: each pool is fine, all of them are not */
	text = make_pools(5, 1000);
	expect_error(text, 2 + 4 * 1002, "pools[4].workers", "more than 4096");
	free(text);

	text_init(&t);
	text_add(&t, "%s", POOL_P "services = (\n");
	for (int i = 0; i <= STEER_MAX_SERVICES; i++)
		text_add(&t, "{ name = \"s%d\"; prefix = \"10.0.%d.%d\"; port = 80; pool = \"p\"; }%s\n",
			 i, i / 256, i % 256, i < STEER_MAX_SERVICES ? "," : "");
	text_add(&t, ");\n");
	expect_error(t.s, 2, "services", "at most 256");
	free(t.s);

	/* 17 services of 4096 ports: more LPM entries than the map holds */
	text_init(&t);
	text_add(&t, "%s", POOL_P "services = (\n");
	for (int i = 0; i < 17; i++)
		text_add(&t, "{ name = \"s%d\"; prefix = \"10.0.0.%d\"; port = \"1-4096\"; pool = \"p\"; }%s\n",
			 i, i, i < 16 ? "," : "");
	text_add(&t, ");\n");
	expect_error(t.s, 19, "services[16].port", "more than 65536");
	free(t.s);

	/* body: 1023 characters fit, 1024 do not */
	for (int n = 1023; n <= 1024; n++) {
		text_init(&t);
		text_add(&t, "maintenance = { listen = \"127.0.0.1:1\";\n body = \"");
		for (int i = 0; i < n; i++)
			text_add(&t, "x");
		text_add(&t, "\"; };\n");
		if (n == 1023) {
			assert_int_equal(config_load_string(t.s, &c, err, sizeof(err)), 0);
			assert_int_equal(strlen(c.maintenance.body), 1023);
			config_free(&c);
		} else {
			expect_error(t.s, 2, "maintenance.body", "1024 characters long; at most 1023");
		}
		free(t.s);
	}

	/* socket: sun_path holds 107 characters */
	text_init(&t);
	text_add(&t, "daemon = {\n socket = \"/");
	for (int i = 0; i < 107; i++)
		text_add(&t, "s");
	text_add(&t, "\"; };\n");
	expect_error(t.s, 2, "daemon.socket", "at most 107");
	free(t.s);
}

/* ---- files ---- */

static char tmpdir[] = "/tmp/steer-config-test.XXXXXX";

static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int files_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int files_teardown(void **state)
{
	static const char *const names[] = { "good.conf", "bad.conf", "main.conf", "pools.conf",
					     "main2.conf", "pools2.conf", "dir.conf" };
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

static void test_files(void **state)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN], path[256], want[300];
	int cwd, ret;

	(void)state;
	write_file("good.conf", full_text, path, sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.npools, 3);
	config_free(&c);

	/* FILE:LINE names the file as given */
	write_file("bad.conf", "daemon = {\n  interval_ms = 1;\n};\n", path, sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: daemon.interval_ms: ", path);
	assert_prefix(err, want);
	write_file("bad.conf", "daemon = {\n  interval_ms = ;\n};\n", path, sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: syntax error", path);
	assert_string_equal(err, want);

	/* not there, not a file: an error, not an exit from inside libconfig */
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.conf:0: No such file"));
	assert_int_equal(config_load(tmpdir, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));

	/* @include is relative to the including file, and errors name the file they are in */
	write_file("pools.conf", POOL_P, path, sizeof(path));
	write_file("main.conf", "daemon = { interval_ms = 100; };\n@include \"pools.conf\"\n",
		   path, sizeof(path));
	cwd = open(".", O_RDONLY | O_DIRECTORY);
	assert_true(cwd >= 0);
	assert_int_equal(chdir("/"), 0);
	ret = config_load(path, &c, err, sizeof(err));
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(c.npools, 1);
	assert_string_equal(c.pools[0].workers[0].name, "w");
	config_free(&c);
	write_file("pools2.conf", "pools = ( { name = \"a\";\n  polcy = 1; } );\n", path, sizeof(path));
	write_file("main2.conf", "@include \"pools2.conf\"\n", path, sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pools2.conf:2: pools[0].polcy: "));

	/* an @include of a directory is refused (libconfig 1.5 would exit the process) */
	write_file("dir.conf", "daemon = { interval_ms = 100; };\n@include \".\"\n", path,
		   sizeof(path));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: @include \".\": not a regular file", path);
	assert_string_equal(err, want);
	assert_int_equal(config_load_string("@include \"/\"\n", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "<string>:1: @include \"/\": not a regular file");
}

static void test_example_file(void **state)
{
	static const char tail[] = "tests/unit/test_config.c";
	const struct conf_pool *agents, *basic;
	struct steer_config c = {};
	char err[STEER_ERR_LEN], path[4096];
	size_t n = strlen(__FILE__), t = strlen(tail);

	(void)state;
	if (example_arg)
		snprintf(path, sizeof(path), "%s", example_arg);
	else if (n >= t && !strcmp(__FILE__ + n - t, tail))
		snprintf(path, sizeof(path), "%.*sscripts/steer.conf.example", (int)(n - t), __FILE__);
	else
		snprintf(path, sizeof(path), "scripts/steer.conf.example");
	if (config_load(path, &c, err, sizeof(err)))
		fail_msg("%s (pass the example's path as the first argument)", err);
	agents = config_find_pool(&c, "agents");
	basic = config_find_pool(&c, "basic");
	assert_non_null(agents);
	assert_non_null(basic);
	assert_string_equal(agents->fallback, "basic");
	assert_string_equal(basic->fallback, CONF_FALLBACK_MAINTENANCE);
	assert_true(c.maintenance.enabled);
	assert_true(agents->nworkers >= 2);
	assert_true(c.nservices >= 1);
	config_free(&c);
}

/* ---- robustness: truncated and mutated configs ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: the same sequence on every libc */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* 0 or -1 with "<string>:..." in err; a loaded config is sane and freed. */
static void load_any(const char *text, const char *how, size_t where)
{
	struct steer_config c = {};
	char err[STEER_ERR_LEN] = "";
	int ret = config_load_string(text, &c, err, sizeof(err));

	if (ret == 0) {
		if (c.npools > STEER_MAX_POOLS || c.nservices > STEER_MAX_SERVICES)
			fail_msg("%s at %zu: loaded more than the limits", how, where);
		for (size_t i = 0; i < c.nservices; i++)
			if (!config_find_pool(&c, c.services[i].pool))
				fail_msg("%s at %zu: service to unknown pool", how, where);
		config_free(&c);
		return;
	}
	if (ret != -1 || strncmp(err, "<string>:", 9) || strlen(err) <= 9 || strchr(err, '\n'))
		fail_msg("%s at %zu: ret %d err '%s'", how, where, ret, err);
}

static void test_truncated(void **state)
{
	size_t len = strlen(full_text);
	char *buf = malloc(len + 1);

	(void)state;
	assert_non_null(buf);
	for (size_t cut = 0; cut <= len; cut++) {
		memcpy(buf, full_text, cut);
		buf[cut] = '\0';
		load_any(buf, "truncated", cut);
	}
	free(buf);
}

static void test_mutated(void **state)
{
	static const char interesting[] = "{}()[];=,\"\\#/*@-.:0123456789\n aeLx";
	size_t len = strlen(full_text);
	char *buf = malloc(len + 8);

	(void)state;
	assert_non_null(buf);
	rng_state = 0x5eed5eed12345678ull;
	for (int i = 0; i < 2000; i++) {
		size_t pos = rng() % len, n = len;
		char ch;

		/* half the time a character the grammar cares about, else any byte but NUL */
		if (rng() % 2)
			ch = interesting[rng() % (sizeof(interesting) - 1)];
		else
			ch = (char)(1 + rng() % 255);
		memcpy(buf, full_text, len + 1);
		switch (rng() % 3) {
		case 0:		/* replace */
			buf[pos] = ch;
			break;
		case 1:		/* insert */
			memmove(buf + pos + 1, buf + pos, len - pos + 1);
			buf[pos] = ch;
			n++;
			break;
		default:	/* delete */
			memmove(buf + pos, buf + pos + 1, len - pos);
			n--;
			break;
		}
		assert_int_equal(strlen(buf), n);
		load_any(buf, "mutated", pos);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_socket_access),
		cmocka_unit_test(test_failure_keeps_old),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test_setup_teardown(test_files, files_setup, files_teardown),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_mutated),
	};

	if (argc > 1)
		example_arg = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
