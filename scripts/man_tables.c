// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * man_tables - writes the man pages' generated lists from steerd's tables,
 * between each page's markers (`make docs`): steer.conf(5)'s settings from
 * the config schema, steerd(8)'s metrics from the metrics table.
 * Usage: man_tables [--check] PAGE...	(steer.conf.5, steerd.8)
 * Exit 0: up to date (or rewritten); 1: one differs (--check); 2: cannot.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include "config_schema.h"
#include "metrics.h"

static const struct page {
	const char *name;	/* the page's file name */
	int (*update)(const char *path, bool write);
	const char *what;
} pages[] = {
	{ "steer.conf.5", conf_schema_doc_update, "settings list differs from the schema" },
	{ "steerd.8", metrics_doc_update, "metrics list differs from the metrics table" },
};

static int update(const char *path, bool check)
{
	char copy[4096];
	const char *name;
	int ret;

	snprintf(copy, sizeof(copy), "%s", path);
	name = basename(copy);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (strcmp(name, pages[i].name))
			continue;
		ret = pages[i].update(path, !check);
		if (ret < 0)
			fprintf(stderr, "Error: %s: cannot read or write it, or it has no markers\n",
				path);
		else if (ret)
			fprintf(stderr, "%s: the %s; run make docs\n", path, pages[i].what);
		return ret < 0 ? 2 : ret;
	}
	fprintf(stderr, "Error: %s: no generated list for this page\n", path);
	return 2;
}

int main(int argc, char **argv)
{
	bool check = argc > 1 && !strcmp(argv[1], "--check");
	int worst = 0, ret;

	if (argc < 2 + check) {
		fprintf(stderr, "Usage: %s [--check] PAGE...\n", argv[0]);
		return 2;
	}
	for (int i = 1 + check; i < argc; i++)
		if ((ret = update(argv[i], check)) > worst)
			worst = ret;
	return worst;
}
