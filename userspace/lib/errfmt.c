// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <string.h>
#include "errfmt.h"
#include "parse.h"

/* One byte as its escape; returns its length (1 for a plain byte). */
static size_t escape_byte(unsigned char c, char buf[5])
{
	switch (c) {
	case '\n': return (size_t)snprintf(buf, 5, "\\n");
	case '\r': return (size_t)snprintf(buf, 5, "\\r");
	case '\t': return (size_t)snprintf(buf, 5, "\\t");
	case '\\': return (size_t)snprintf(buf, 5, "\\\\");
	}
	if (c < 0x20 || c >= 0x7f)
		return (size_t)snprintf(buf, 5, "\\x%02x", c);
	buf[0] = (char)c;
	buf[1] = '\0';
	return 1;
}

size_t errfmt_escape(char *out, size_t len, const char *in)
{
	size_t n = 0;
	char e[5];

	if (!len)
		return 0;
	for (; *in; in++) {
		size_t k = escape_byte((unsigned char)*in, e);

		if (n + k >= len)
			break;
		memcpy(out + n, e, k);
		n += k;
	}
	out[n] = '\0';
	return n;
}

size_t errfmt_utf8_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = u[0] < 0x80 ? 1 : u[0] >= 0xc2 && u[0] <= 0xdf ? 2 :
		   u[0] >= 0xe0 && u[0] <= 0xef ? 3 : u[0] >= 0xf0 && u[0] <= 0xf4 ? 4 : 0;
	/* the second byte's range: no overlong form, surrogate or > U+10FFFF */
	unsigned char lo = u[0] == 0xe0 ? 0xa0 : u[0] == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = u[0] == 0xed ? 0x9f : u[0] == 0xf4 ? 0x8f : 0xbf;

	if (n < 2)
		return n;
	if (u[1] < lo || u[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (u[i] < 0x80 || u[i] > 0xbf)
			return 0;
	return n;
}

void errfmt_print(FILE *f, const char *prefix, const char *msg)
{
	char line[STEER_ERR_LEN * 8];

	errfmt_escape(line, sizeof(line), msg);
	fprintf(f, "%s%s\n", prefix, line);
}
