// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "errfmt.h"
#include "log.h"

static enum log_level max_level = STEER_LOG_INFO;

void log_set_level(enum log_level max)
{
	max_level = max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {
		[STEER_LOG_ERR] = "error", [STEER_LOG_WARN] = "warning",
		[STEER_LOG_NOTICE] = "notice", [STEER_LOG_INFO] = "info",
		[STEER_LOG_DEBUG] = "debug",
	};
	char raw[1024], line[sizeof(raw) * 4];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* one record per line for journald, whatever a name or file held */
	errfmt_escape(line, sizeof(line), raw);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "steerd: %s: %s\n", names[level], line);
	else
		fprintf(stderr, "<%d>%s\n", level, line);
}
