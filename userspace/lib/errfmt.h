/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* errfmt.h - every error and log line is one line: what came from an
 * argument or a file (newlines, escapes, bytes that are not printable
 * ASCII) is written escaped, C style: \n \t \\ \xNN. Used by steerctl's and
 * steerd's "Error: ..." and by steerd's log. */
#ifndef STEER_ERRFMT_H
#define STEER_ERRFMT_H

#include <stddef.h>
#include <stdio.h>

/* Escapes in into out (always NUL-terminated; cut at a whole escape when
 * out is short). Returns the length written. */
size_t errfmt_escape(char *out, size_t len, const char *in);
/* "PREFIX" + escaped msg + "\n" on f, as one write */
void errfmt_print(FILE *f, const char *prefix, const char *msg);

#endif
