// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* status.c - the programs (steerctl load|unload|upgrade) and the one view
 * of everything (steerctl status). */
#include "ctl.h"

enum { LO_NETNS, LO_CGROUP };

static const struct opt load_opts[] = {
	[LO_NETNS] = { .flag = "netns", .arg = "PATH", .type = OPT_STR,
		       .help = "the network namespace for sk_lookup (default: ours)" },
	[LO_CGROUP] = { .flag = "cgroup", .arg = "PATH", .type = OPT_STR,
			.help = "the cgroup v2 for sockops (default: its root)" },
};

static int do_load(struct ctl *c, const struct optval *v)
{
	return steer_load(&c->paths, v[LO_NETNS].s, v[LO_CGROUP].s, c->err);
}

static int do_unload(struct ctl *c, const struct optval *v)
{
	(void)v;
	return steer_unload(&c->paths, c->err);
}

static int do_upgrade(struct ctl *c, const struct optval *v)
{
	(void)v;
	return steer_upgrade(&c->paths, c->err);
}

static void print_status(struct ctl *c, struct json *j)
{
	print_services(c, j);
	if (!j)
		putchar('\n');
	print_pools(c, j);
	if (!j)
		putchar('\n');
	print_workers(c, j);
}

static const struct cmd load_cmds[] = {
	{ .opts = load_opts, .nopts = ARRAY_SIZE(load_opts), .run = do_load,
	  .help = "load the programs, pin the maps and links, attach them",
	  .doc = "sk_lookup goes to the network namespace, sockops to a cgroup v2. The workers "
		 "must be inside that cgroup for their connections to be counted." },
};
static const struct cmd unload_cmds[] = {
	{ .run = do_unload, .help = "detach both programs and remove every pin",
	  .doc = "Connections already open are not touched." },
};
static const struct cmd upgrade_cmds[] = {
	{ .run = do_upgrade, .help = "swap in this build's programs, keeping maps and counts",
	  .doc = "This build's programs are loaded against the pinned maps and swapped into the "
		 "pinned links with bpf_link_update: no lookup misses and no count resets. A map "
		 "the running version lacks is created; recent_picks, which only holds hints, "
		 "starts empty if its layout changed. If a map that holds state changed layout, "
		 "upgrade names it, exits 2 and changes nothing." },
};
static const struct cmd status_cmds[] = {
	{ .print = print_status,
	  .help = "services, pools and workers in one view (-j: JSON)" },
};

const struct object obj_load = { "load", load_cmds, ARRAY_SIZE(load_cmds) };
const struct object obj_unload = { "unload", unload_cmds, ARRAY_SIZE(unload_cmds) };
const struct object obj_upgrade = { "upgrade", upgrade_cmds, ARRAY_SIZE(upgrade_cmds) };
const struct object obj_status = { "status", status_cmds, ARRAY_SIZE(status_cmds) };
