/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* json.h - a small streaming JSON writer for `-j` output. A NULL key
 * means "inside an array". */
#ifndef STEER_JSON_H
#define STEER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *out;
	bool pretty;		/* one member a line, indented (bpftool's -p) */
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *out);
void json_set_pretty(struct json *j, bool pretty);
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_string(struct json *j, const char *key, const char *val);
void json_uint(struct json *j, const char *key, uint64_t val);
void json_int(struct json *j, const char *key, int64_t val);
void json_null(struct json *j, const char *key);
/* A finite number, in the shortest text that reads back as the same
 * double (0.85, not 0.84999999999999998; 56, not 56.000000000000007). */
void json_double(struct json *j, const char *key, double val);
#define JSON_NUMBER_LEN 32
/* That text, into s (JSON_NUMBER_LEN is enough). */
void json_format_double(double v, char *s, size_t len);
/* {"error": msg} as the whole output, for -j: the error is data too */
void json_error(FILE *out, bool pretty, const char *msg);

#endif
