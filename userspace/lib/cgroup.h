/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* cgroup.h - where cgroup v2 is mounted: /sys/fs/cgroup on pure v2 hosts,
 * /sys/fs/cgroup/unified on hybrid ones; read from /proc/mounts. No libbpf
 * here, so the resource sampler can use it without dragging libbpf along. */
#ifndef STEER_CGROUP_H
#define STEER_CGROUP_H

#include <stddef.h>

/* 0, or a negative errno (-ENOENT when no cgroup v2 is mounted) */
int cgroup2_mount(char *buf, size_t len);

#endif
