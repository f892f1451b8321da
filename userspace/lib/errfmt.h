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
/* The length of the UTF-8 character at s (1 for ASCII, NUL included), or
 * 0 when the bytes there are not UTF-8 (a stray byte, an overlong form, a
 * surrogate, past U+10FFFF, cut short). JSON and Prometheus' text format
 * must be UTF-8: their writers put such a byte as the text \xNN. */
size_t errfmt_utf8_len(const char *s);
/* "PREFIX" + escaped msg + "\n" on f, as one write */
void errfmt_print(FILE *f, const char *prefix, const char *msg);

#endif
