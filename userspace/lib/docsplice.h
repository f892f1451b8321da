/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* docsplice.h - the generated part of a man page: the text between two
 * marker lines, written by a generator from the tables it documents
 * (`make docs`), and compared by the tests that fail on stale docs. */
#ifndef STEER_DOCSPLICE_H
#define STEER_DOCSPLICE_H

#include <stdbool.h>
#include <stdio.h>

/* Is the text of path between begin and end (each a whole line, in that
 * order) what gen prints? 0 yes, or rewritten when write; 1 it differs
 * (and write is false); -1 path cannot be read or written, or lacks a
 * marker. */
int doc_splice(const char *path, const char *begin, const char *end, void (*gen)(FILE *out),
	       bool write);

#endif
