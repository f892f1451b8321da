// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics_doc - writes steerd(8)'s list of metrics from steerd's metrics
 * table between the markers in the man page (`make docs`).
 * Usage: metrics_doc [--check] docs/man/steerd.8
 * Exit 0: up to date (or rewritten); 1: differs (--check); 2: cannot.
 */
#include <stdio.h>
#include <string.h>
#include "metrics.h"

int main(int argc, char **argv)
{
	bool check = argc == 3 && !strcmp(argv[1], "--check");
	const char *path = argv[argc - 1];
	int ret;

	if (argc != 2 && !check) {
		fprintf(stderr, "Usage: %s [--check] MANPAGE\n", argv[0]);
		return 2;
	}
	ret = metrics_doc_update(path, !check);
	if (ret < 0)
		fprintf(stderr, "Error: %s: cannot read or write it, or it has no metrics markers\n",
			path);
	else if (ret)
		fprintf(stderr, "%s: the metrics list differs from the table; run make docs\n", path);
	return ret < 0 ? 2 : ret;
}
