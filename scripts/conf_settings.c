// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * conf_settings - writes steer.conf(5)'s settings list from steerd's schema
 * tables between the markers in the man page (`make docs`).
 * Usage: conf_settings [--check] docs/man/steer.conf.5
 * Exit 0: up to date (or rewritten); 1: differs (--check); 2: cannot.
 */
#include <stdio.h>
#include <string.h>
#include "config_schema.h"

int main(int argc, char **argv)
{
	bool check = argc == 3 && !strcmp(argv[1], "--check");
	const char *path = argv[argc - 1];
	int ret;

	if (argc != 2 && !check) {
		fprintf(stderr, "Usage: %s [--check] MANPAGE\n", argv[0]);
		return 2;
	}
	ret = conf_schema_doc_update(path, !check);
	if (ret < 0)
		fprintf(stderr, "Error: %s: cannot read or write it, or it has no settings markers\n",
			path);
	else if (ret)
		fprintf(stderr, "%s: the settings list differs from the schema; run make docs\n",
			path);
	return ret < 0 ? 2 : ret;
}
