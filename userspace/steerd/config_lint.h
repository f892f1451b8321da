/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * config_lint.h - libconfig 1.5 (Debian 12's) reads an integer literal
 * without an L suffix with atoi(), so "quota = 5000000000;" loads as
 * 705032704: valid and wrong. When the library at hand does that (probed
 * once), the loader has the text scanned for such literals after libconfig
 * accepted its syntax, and refuses them with "FILE:LINE: integer ... does
 * not fit in 32 bits ...".
 */
#ifndef STEER_CONFIG_LINT_H
#define STEER_CONFIG_LINT_H

#include <stdbool.h>
#include <stddef.h>

/* true when this libconfig cuts such literals (and the scans below run) */
bool config_lint_needed(void);
/* 0, or -1 with err set. The file and the files it @includes (relative to
 * include_dir when given), which libconfig read already. */
int config_lint_file(const char *path, const char *include_dir, char *err, size_t errlen);
int config_lint_text(const char *text, const char *file, char *err, size_t errlen);
/* Before libconfig reads: every @include names a regular file (or none
 * at all, which libconfig reports), as libconfig 1.5 exits the process on a
 * directory and would block on a FIFO. 0, or -1 with err set. */
int config_lint_includes_file(const char *path, const char *include_dir, char *err,
			      size_t errlen);
int config_lint_includes_text(const char *text, const char *file, char *err, size_t errlen);

#endif
