// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include "cgroup.h"

int cgroup2_mount(char *buf, size_t len)
{
	struct mntent *ent;
	FILE *f = setmntent("/proc/mounts", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while ((ent = getmntent(f))) {
		if (strcmp(ent->mnt_type, "cgroup2"))
			continue;
		ret = (size_t)snprintf(buf, len, "%s", ent->mnt_dir) >= len ? -ENAMETOOLONG : 0;
		break;
	}
	endmntent(f);
	return ret;
}
