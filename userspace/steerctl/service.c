// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* service.c - steerctl service add|del|list: an address prefix and a port
 * range whose new connections go to a pool. */
#include <string.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "state.h"

enum { SA_NAME, SA_PREFIX, SA_PORT, SA_POOL };

static const struct opt service_add_opts[] = {
	[SA_NAME] = { .arg = "NAME", .type = OPT_NAME, .what = "service", .help = "the service" },
	[SA_PREFIX] = { .flag = "prefix", .arg = "ADDR/LEN", .type = OPT_STR,
			.flags = OPT_REQUIRED, .help = "IPv4 or IPv6 prefix it serves" },
	[SA_PORT] = { .flag = "port", .arg = "P[-Q]", .type = OPT_STR, .flags = OPT_REQUIRED,
		      .help = "a port or a range of at most " OPT_LIMIT(STEER_MAX_PORT_SPAN) },
	[SA_POOL] = { .flag = "pool", .arg = "POOL", .type = OPT_STR, .flags = OPT_REQUIRED,
		      .help = "the pool its connections go to" },
};

static int do_service_add(struct ctl *c, const struct optval *v)
{
	struct steer_prefix prefix;
	uint16_t lo, hi;
	int ret;

	if (parse_prefix(v[SA_PREFIX].s, &prefix, c->err) ||
	    parse_port_range(v[SA_PORT].s, &lo, &hi, c->err))
		return STEER_EINPUT;
	if ((ret = ctl_open_maps(c)))
		return ret;
	return service_add(&c->maps, v[SA_NAME].s, &prefix, lo, hi, v[SA_POOL].s, c->err);
}

static const struct opt service_del_opts[] = {
	{ .arg = "NAME", .type = OPT_STR, .help = "the service" },
};

static void print_service_json(struct json *j, const struct steer_service *s,
			       const char *addr, const char *pool,
			       const struct steer_service_stats *st,
			       const struct steer_service_refusals *rf)
{
	const __u64 *cause = (const __u64 *)rf;
	char prefix[80];

	json_object_begin(j, NULL);
	json_string(j, "name", s->name);
	json_string(j, "address", addr);
	json_uint(j, "prefixlen", s->prefixlen);
	json_uint(j, "port_lo", s->port_lo);
	json_uint(j, "port_hi", s->port_hi);
	json_string(j, "pool", pool);
	json_string(j, "owner", owner_name(s->owner));
	snprintf(prefix, sizeof(prefix), "%s/%u", addr, s->prefixlen);
	json_string(j, "prefix", prefix);
	json_uint(j, "lookups", st->lookups);
	json_uint(j, "refused", st->refused);
	json_object_begin(j, "refusals");
	for (int k = 0; k < STEER_REFUSE_COUNT; k++)
		json_uint(j, steer_refusal_names[k], cause[k]);
	json_object_end(j);
	json_object_end(j);
}

/* "no_worker=3,admission=2": the causes that happened, or "-" */
void format_refusals(const struct steer_service_refusals *rf, char *out, size_t len)
{
	const __u64 *cause = (const __u64 *)rf;
	size_t n = 0;

	snprintf(out, len, "-");
	for (int k = 0; k < STEER_REFUSE_COUNT && n < len; k++)
		if (cause[k])
			n += snprintf(out + n, len - n, "%s%s=%llu", n ? "," : "",
				      steer_refusal_names[k], (unsigned long long)cause[k]);
}

static void print_service_text(const struct steer_service *s, const char *addr,
			       const char *pool, const struct steer_service_stats *st,
			       const struct steer_service_refusals *rf, bool *header)
{
	char ports[16], prefix[80], why[160];

	if (!*header) {
		printf("%-16s %-24s %-11s %-16s %10s %8s %s\n", "SERVICE", "PREFIX", "PORTS", "POOL",
		       "LOOKUPS", "REFUSED", "WHY");
		*header = true;
	}
	if (s->port_lo == s->port_hi)
		snprintf(ports, sizeof(ports), "%u", s->port_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", s->port_lo, s->port_hi);
	snprintf(prefix, sizeof(prefix), "%s/%u", addr, s->prefixlen);
	format_refusals(rf, why, sizeof(why));
	printf("%-16s %-24s %-11s %-16s %10llu %8llu %s\n", s->name, prefix, ports, pool,
	       (unsigned long long)st->lookups, (unsigned long long)st->refused, why);
}

void print_services(struct ctl *c, struct json *j)
{
	struct steer_service s;
	struct steer_service_stats st;
	struct steer_service_refusals rf;
	char addr[64], pool[STEER_NAME_LEN];
	bool header = false;

	if (j)
		json_array_begin(j, "services");
	const struct steer_service *services = ctl_table(c, MAP_SERVICES);

	for (uint32_t i = 0; services && i < STEER_MAX_SERVICES; i++) {
		if (!services[i].in_use)
			continue;
		s = services[i];
		service_stats_read(&c->maps, i, &st);
		if (service_refusals_read(&c->maps, i, &rf))
			memset(&rf, 0, sizeof(rf));
		netaddr_format(s.addr, addr, sizeof(addr));
		pool_name_of(c, s.pool_id, pool, sizeof(pool));
		if (j)
			print_service_json(j, &s, addr, pool, &st, &rf);
		else
			print_service_text(&s, addr, pool, &st, &rf, &header);
	}
	if (j)
		json_array_end(j);
}

static const struct cmd service_cmds[] = {
	{ .verb = "add", .opts = service_add_opts, .nopts = ARRAY_SIZE(service_add_opts),
	  .run = do_service_add, .help = "send new connections to PREFIX and PORT to POOL",
	  .doc = "The longest prefix wins, within the packet's family: an IPv6 prefix (even ::/0) "
		 "never takes IPv4 traffic. An IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96) is "
		 "refused: write the IPv4 form. Traffic that matches no service is left to the "
		 "kernel. All services together hold at most " OPT_LIMIT(STEER_MAX_SERVICE_KEYS)
		 " (prefix, port) keys." },
	{ .verb = "del", .opts = service_del_opts, .nopts = ARRAY_SIZE(service_del_opts),
	  .by_name = service_del, .help = "remove a service; its connections go on" },
	{ .verb = "list", .print = print_services,
	  .help = "every service with its lookups and refusals (-j: JSON)" },
};

const struct object obj_service = { "service", service_cmds, ARRAY_SIZE(service_cmds) };
