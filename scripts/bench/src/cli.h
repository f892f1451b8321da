/*
 * cli.h - the command-line plumbing the benchmark tools share (agent,
 * loadgen, jsqsim): one getopt loop, one error format, one address parser.
 */
#ifndef STEER_BENCH_CLI_H
#define STEER_BENCH_CLI_H

#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>

/* "Error: MSG: 'VAL'" on stderr; returns -1 */
int cli_bad_arg(const char *msg, const char *val);

/* IPv4:PORT into *sa; -1 if malformed */
int cli_parse_ip_port(const char *s, struct sockaddr_in *sa);

/* The ctx of a tool's option callback: its options, and a bit per option
 * it has seen, to tell which required ones are missing. */
struct cli_seen {
	void *opts;
	unsigned seen;
};

/*
 * Walk argv with getopt_long. -h/--help prints usage to stdout and exits 0;
 * every other option goes to opt(c, arg, ctx), which prints its own error
 * and returns -1 to stop. Unknown options, missing values and stray
 * arguments are errors. Returns 0, or -1 after one error line.
 */
int cli_parse(int argc, char **argv, const struct option *longopts, void (*usage)(FILE *),
	      int (*opt)(int c, const char *arg, void *ctx), void *ctx);

#endif /* STEER_BENCH_CLI_H */
