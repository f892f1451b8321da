// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include "log.h"

static enum log_level max_level = LOG_INFO;

void log_set_level(enum log_level max)
{
	max_level = max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { [LOG_ERR] = "error", [LOG_WARN] = "warning",
					     [LOG_INFO] = "info", [LOG_DEBUG] = "debug" };
	char line[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "steerd: %s: %s\n", names[level], line);
	else
		fprintf(stderr, "<%d>%s\n", level, line);
}
