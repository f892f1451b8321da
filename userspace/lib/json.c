// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <math.h>
#include <stdlib.h>
#include "errfmt.h"
#include "json.h"

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->pretty = false;
	j->depth = 0;
	j->need_comma[0] = false;
}

void json_set_pretty(struct json *j, bool pretty)
{
	j->pretty = pretty;
}

static void newline(struct json *j, int depth)
{
	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < depth; i++)
		fputs("  ", j->out);
}

static void put_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	while (*s) {
		unsigned char c = (unsigned char)*s;
		size_t n = errfmt_utf8_len(s);

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else if (!n)
			fprintf(f, "\\\\x%02x", c);	/* JSON is UTF-8: the byte as text */
		else
			fwrite(s, 1, n, f);
		s += n ? n : 1;
	}
	fputc('"', f);
}

static void put_key(struct json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	if (j->depth > 0)
		newline(j, j->depth);
	j->need_comma[j->depth] = true;
	if (key) {
		put_escaped(j->out, key);
		fputs(j->pretty ? ": " : ":", j->out);
	}
}

static void open_scope(struct json *j, const char *key, char c)
{
	put_key(j, key);
	fputc(c, j->out);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_scope(struct json *j, char c)
{
	if (j->need_comma[j->depth])	/* not empty: the close on a line of its own */
		newline(j, j->depth - 1);
	fputc(c, j->out);
	if (j->depth > 0)
		j->depth--;
	if (j->depth == 0)
		fputc('\n', j->out);
}

void json_object_begin(struct json *j, const char *key) { open_scope(j, key, '{'); }
void json_object_end(struct json *j) { close_scope(j, '}'); }
void json_array_begin(struct json *j, const char *key) { open_scope(j, key, '['); }
void json_array_end(struct json *j) { close_scope(j, ']'); }

void json_string(struct json *j, const char *key, const char *val)
{
	put_key(j, key);
	put_escaped(j->out, val);
}

void json_uint(struct json *j, const char *key, uint64_t val)
{
	put_key(j, key);
	fprintf(j->out, "%llu", (unsigned long long)val);
}

void json_int(struct json *j, const char *key, int64_t val)
{
	put_key(j, key);
	fprintf(j->out, "%lld", (long long)val);
}

void json_format_double(double v, char *s, size_t len)
{
	/* 15 digits always read back as themselves; 17 always suffice */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(s, len, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			return;
	}
}

void json_double(struct json *j, const char *key, double val)
{
	char s[JSON_NUMBER_LEN];

	put_key(j, key);
	if (!isfinite(val)) {	/* JSON has no NaN or Infinity */
		fputs("null", j->out);
		return;
	}
	json_format_double(val, s, sizeof(s));
	fputs(s, j->out);
}

void json_null(struct json *j, const char *key)
{
	put_key(j, key);
	fputs("null", j->out);
}

void json_error(FILE *out, bool pretty, const char *msg)
{
	struct json j;

	json_init(&j, out);
	json_set_pretty(&j, pretty);
	json_object_begin(&j, NULL);
	json_string(&j, "error", msg);
	json_object_end(&j);
}
