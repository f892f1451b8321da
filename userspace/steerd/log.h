/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* log.h - steerd's log lines on stderr, with the <N> level prefixes that
 * journald reads (sd-daemon(3)); plain text when stderr is a terminal.
 * The levels follow HAProxy's: a server going UP is a NOTICE there, one
 * going DOWN an ALERT; here a loss is a warning (the fallback serves on). */
#ifndef STEER_LOG_H
#define STEER_LOG_H

/* syslog(3) severities under names of our own: <syslog.h> defines LOG_ERR */
enum log_level {
	STEER_LOG_ERR = 3,	/* steerd's own failure: a reload refused, a setting not applied */
	STEER_LOG_WARN = 4,	/* a loss of service: a worker down, a circuit open */
	STEER_LOG_NOTICE = 5,	/* a return to service: a worker up, a circuit closed */
	STEER_LOG_INFO = 6,	/* what steerd did: objects added, reloaded */
	STEER_LOG_DEBUG = 7,
};

void log_set_level(enum log_level max);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(STEER_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(STEER_LOG_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(STEER_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(STEER_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(STEER_LOG_DEBUG, __VA_ARGS__)

#endif
