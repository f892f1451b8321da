/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * config_lint.h - steer.conf's text before libconfig parses it.
 *
 * @include is ours, not libconfig's: libconfig 1.5 (Debian 12's) puts its
 * include directory before every name, an absolute one too ("DIR//etc/x"),
 * exits the process on a directory and blocks on a FIFO. So the loader
 * reads the file and every file it @includes itself, refuses what is not a
 * regular file, a loop, a file read twice, and hands libconfig one text,
 * with a map from its lines back to FILE:LINE.
 *
 * While reading, each file's text is scanned for integer literals that
 * libconfig 1.5 would cut to 32 bits ("quota = 5000000000;" loads as
 * 705032704 there) and refuses them with "FILE:LINE: integer ... does not
 * fit in 32 bits ...", when the library at hand does that (probed once).
 */
#ifndef STEER_CONFIG_LINT_H
#define STEER_CONFIG_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* composite lines from `at` on come from `file`, its line `line` on */
struct conf_span {
	unsigned int at, line;
	const char *file;
};

/* Files read, the texts' composites and their maps: one per load. */
struct conf_text {
	char *text;			/* the last conf_text_read's, @includes in place */
	size_t len, cap;
	unsigned int out_line;		/* the composite's current line */
	struct conf_span *spans;
	size_t nspans, spans_cap;
	/* every file read in this load (names owned; the identity is what
	 * makes a file read once, whatever name it goes by) */
	struct conf_file { char *name; dev_t dev; ino_t ino; bool open; } *files;
	size_t nfiles, files_cap;
	size_t bytes;			/* read in all, against STEER_CONF_MAX_BYTES */
	const char *base;		/* relative @include names are under it; NULL: cwd */
};

/* true when this libconfig cuts such literals (and the scan runs) */
bool config_lint_needed(void);
/* Read path (a file) or text (named name) with its @includes into t->text,
 * which starts afresh; the files read stay listed for the next call. 0, or
 * -1 with err "FILE:LINE: ..." */
int conf_text_read(struct conf_text *t, const char *path, char *err, size_t errlen);
int conf_text_string(struct conf_text *t, const char *text, const char *name, char *err,
		     size_t errlen);
/* The file and line of composite line `line` (of the last read). */
void conf_text_where(const struct conf_text *t, unsigned int line, const char **file,
		     unsigned int *fline);
void conf_text_free(struct conf_text *t);

#endif
