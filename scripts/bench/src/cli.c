// SPDX-License-Identifier: GPL-2.0
/* cli.c - see cli.h */
#include "cli.h"

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
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
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
