// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* report.c - steerctl report WORKER --ok N --errors M: what the
 * application saw, for steerd's circuit breaker; one datagram to its
 * socket. It needs only that socket (daemon.socket_group/socket_mode say
 * who may write it), not the BPF maps, so an unprivileged application can
 * report; steerd checks the name and logs a report for a worker it does
 * not know. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "ctl.h"
#include "defaults.h"

enum { RE_WORKER, RE_OK, RE_ERRORS, RE_TOKENS, RE_SOCKET };

static const struct opt report_opts[] = {
	[RE_WORKER] = { .arg = "WORKER", .type = OPT_NAME, .what = "worker", .help = "the worker" },
	[RE_OK] = { .flag = "ok", .arg = "N", .type = OPT_U64, .max = STEER_REPORT_COUNT_MAX,
		    .alt = 1, .help = "requests that went well" },
	[RE_ERRORS] = { .flag = "errors", .arg = "M", .type = OPT_U64,
			.max = STEER_REPORT_COUNT_MAX, .alt = 2, .help = "requests that failed" },
	[RE_TOKENS] = { .flag = "tokens", .arg = "T", .type = OPT_U64, .max = STEER_TOKENS_MAX,
			.alt = 3, .help = "tokens those requests cost (the pool's token budget)" },
	[RE_SOCKET] = { .flag = "socket", .arg = "PATH", .type = OPT_STR, .env = "STEER_SOCKET",
			.sdef = STEER_DAEMON_SOCKET, .help = "steerd's report socket" },
};

/* One datagram to steerd's report socket at path. */
int ctl_report_send(struct ctl *c, const char *path, const char *msg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return ctl_error(c, "socket path '%s' is too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(c->err, sizeof(c->err), "cannot reach steerd at %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return STEER_ESYS;
	}
	close(fd);
	return STEER_OK;
}

static int do_report(struct ctl *c, const struct optval *v)
{
	char msg[160];
	int n;

	n = snprintf(msg, sizeof(msg), "%s ok %llu errors %llu", v[RE_WORKER].s,
		     (unsigned long long)v[RE_OK].u, (unsigned long long)v[RE_ERRORS].u);
	if (v[RE_TOKENS].given)
		snprintf(msg + n, sizeof(msg) - n, " tokens %llu", (unsigned long long)v[RE_TOKENS].u);
	return ctl_report_send(c, v[RE_SOCKET].s, msg);
}

static const struct cmd report_cmds[] = {
	{ .opts = report_opts, .nopts = ARRAY_SIZE(report_opts), .rule = RULE_ANY,
	  .run = do_report, .help = "tell steerd the outcomes the application saw",
	  .doc = "They feed the pool's circuit breaker and the worker's outlier ejection. It needs "
		 "only write permission on steerd's socket (socket_group and socket_mode in "
		 "steer.conf(5)), not root or the BPF maps; steerd checks the worker's name and "
		 "logs a report for one it does not know." },
};

const struct object obj_report = { "report", report_cmds, ARRAY_SIZE(report_cmds) };
