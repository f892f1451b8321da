/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* man_page.h - for the unit tests that fail on stale docs: a page's
 * generated list is what its table prints (`make docs` writes it). */
#ifndef STEER_TEST_MAN_PAGE_H
#define STEER_TEST_MAN_PAGE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* page (e.g. "docs/man/steerd.8") next to this source tree, or in the
 * working directory when __FILE__ is relative to it */
static inline void assert_man_page_fresh(const char *page, int (*update)(const char *, bool),
					 const char *what)
{
	static const char tail[] = "tests/unit/man_page.h";
	size_t n = strlen(__FILE__), t = strlen(tail);
	char path[4096];
	int ret;

	if (n >= t && !strcmp(__FILE__ + n - t, tail))
		snprintf(path, sizeof(path), "%.*s%s", (int)(n - t), __FILE__, page);
	else
		snprintf(path, sizeof(path), "%s", page);
	ret = update(path, false);
	if (ret < 0)
		fail_msg("%s: cannot read it, or it has no markers", path);
	if (ret)
		fail_msg("%s: its %s differs from the tables; run make docs", path, what);
}

#endif
