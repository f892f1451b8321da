// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* docsplice.c - the generated part of a man page, between markers. */
#include <stdlib.h>
#include <string.h>
#include "docsplice.h"

/* The text of path, or NULL. */
static char *read_all(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

int doc_splice(const char *path, const char *begin_mark, const char *end_mark,
	       void (*gen)(FILE *out), bool write)
{
	char *page = read_all(path), *list = NULL, *begin, *end;
	size_t len = 0;
	FILE *out;
	int ret = -1;

	if (!page)
		return -1;
	begin = strstr(page, begin_mark);
	end = begin ? strstr(begin, end_mark) : NULL;
	out = open_memstream(&list, &len);
	if (!end || !out)
		goto cleanup;
	gen(out);
	if (fclose(out))
		goto cleanup;
	begin += strlen(begin_mark);
	ret = (size_t)(end - begin) != len || memcmp(begin, list, len);
	if (!ret || !write)
		goto cleanup;
	out = fopen(path, "w");
	if (!out) {
		ret = -1;
		goto cleanup;
	}
	fwrite(page, 1, begin - page, out);
	fwrite(list, 1, len, out);
	fputs(end, out);
	ret = fclose(out) ? -1 : 0;
cleanup:
	free(list);
	free(page);
	return ret;
}
