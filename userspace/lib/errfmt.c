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

void errfmt_print(FILE *f, const char *prefix, const char *msg)
{
	char line[STEER_ERR_LEN * 8];

	errfmt_escape(line, sizeof(line), msg);
	fprintf(f, "%s%s\n", prefix, line);
}
