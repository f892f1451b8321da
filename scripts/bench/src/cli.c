// SPDX-License-Identifier: GPL-2.0
/* cli.c - see cli.h */
#include "cli.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cli_bad_arg(const char *msg, const char *val)
{
	fprintf(stderr, "Error: %s: '%s'\n", msg, val);
	return -1;
}

int cli_parse_ip_port(const char *s, struct sockaddr_in *sa)
{
	struct sockaddr_storage ss;
	struct steer_endpoint ep;

	if (netaddr_parse_endpoint(s, &ep, NULL) || ep.family != STEER_FAMILY_V4)
		return -1;
	netaddr_to_sockaddr(&ep, &ss);
	memcpy(sa, &ss, sizeof(*sa));
	return 0;
}

int cli_parse(int argc, char **argv, const struct option *longopts, void (*usage)(FILE *),
	      int (*opt)(int c, const char *arg, void *ctx), void *ctx)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?')
			return cli_bad_arg("unknown option or missing value", argv[optind - 1]);
		if (opt(c, optarg, ctx))
			return -1;
	}
	if (optind < argc)
		return cli_bad_arg("unexpected argument", argv[optind]);
	return 0;
}
