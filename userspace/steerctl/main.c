// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * steerctl - the operator's control of steer: load the programs, declare
 * services, pools and workers, drain, and read the state. Commands follow
 * bpftool: `steerctl [-j] OBJECT COMMAND [ARGS]`, `Error: ...` on failure,
 * exit 2 for bad input (and nothing changed), 1 when the system fails.
 * The commands are in commands.c and one file per object; main is alone
 * here so that the rest links into unit tests (build/libsteerctl.a).
 */
#include <stdio.h>
#include <bpf/libbpf.h>
#include "ctl.h"
#include "defaults.h"
#include "errfmt.h"

int main(int argc, char **argv)
{
	struct ctl c;
	int ret;

	ctl_init(&c);
	ret = ctl_global_opts(&c, &argc, argv);
	if (!ret && c.version) {
		printf("steerctl %s (libbpf %s)\n", STEER_VERSION, libbpf_version_string());
		return 0;
	}
	if (!ret)
		ret = steer_paths_init(&c.paths, c.bpffs, c.err);
	if (!ret)
		ret = ctl_dispatch(&c, argc - 1, argv + 1);
	ctl_done(&c);
	if (ret && c.json) {
		/* escaped as on stderr: the output is printable ASCII, valid JSON */
		char shown[STEER_ERR_LEN * 4];

		errfmt_escape(shown, sizeof(shown), c.err);
		json_error(stdout, c.pretty, shown);
	} else if (ret)
		errfmt_print(stderr, "Error: ", c.err);
	return ret;
}
