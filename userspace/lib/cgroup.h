/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* cgroup.h - a process's cgroup v2 directory and its CPU allowance. cgroup
 * v2 is mounted at /sys/fs/cgroup on pure v2 hosts, /sys/fs/cgroup/unified
 * on hybrid ones; read from /proc/mounts. No libbpf here, so the resource
 * sampler can use it without dragging libbpf along.
 *
 * The CPU allowance (what `weight auto` derives a worker's weight from):
 *	1. the tightest cpu.max quota/period of its cgroup and every ancestor
 *	   up to the mount point, both included ("max": no limit there);
 *	2. else the CPUs in cpuset.cpus.effective of its cgroup, or the
 *	   nearest ancestor that has the file;
 *	3. else the host's online CPUs.
 * A quota above the host's CPUs counts as written: a cgroup given 64 CPUs'
 * worth gets 8 times the weight of one given 8, on any host. */
#ifndef STEER_CGROUP_H
#define STEER_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0, or a negative errno (-ENOENT when no cgroup v2 is mounted) */
int cgroup2_mount(char *buf, size_t len);

/* A small file read whole, NUL-terminated: its length, or -errno. */
ssize_t read_small_file(const char *path, char *buf, size_t size);

/* The v2 mount point (root), and pid's cgroup directory under it: root
 * joined with the "0::/path" line of /proc/PID/cgroup (root itself for the
 * root cgroup, *is_root). 0, -ESRCH when the process is gone, -ENOENT when
 * there is no v2 hierarchy or pid is in none, or another -errno. */
int cgroup2_locate(pid_t pid, char *root, size_t rlen, char *dir, size_t dlen, bool *is_root);

/* Lowers *cpus to the tightest cpu.max quota/period of dir and its
 * ancestors up to root (both included). True when some cpu.max limits it. */
bool cgroup_cpu_max(const char *root, const char *dir, double *cpus);

enum cpu_source {
	CPU_FROM_CPU_MAX,	/* cpu.max quota/period */
	CPU_FROM_CPUSET,	/* cpuset.cpus.effective */
	CPU_FROM_HOST,		/* the host's online CPUs */
};

struct cpu_allowance {
	double cpus;
	enum cpu_source source;
	char dir[PATH_MAX];	/* the cgroup it was read from ("" for the host) */
};

/* pid's CPU allowance (see the top of this file). 0, or -ESRCH when the
 * process is gone; a process without a v2 cgroup gets the host's CPUs. */
int cpu_allowance_of(pid_t pid, struct cpu_allowance *out);
/* The same from a cgroup directory (tests use a fake tree). */
void cpu_allowance_at(const char *root, const char *dir, struct cpu_allowance *out);
const char *cpu_source_name(enum cpu_source s);

/* cpus * STEER_WEIGHT_PER_CPU, rounded, within 1..STEER_WEIGHT_MAX: a
 * worker with any CPU gets some connections. */
uint32_t weight_of_cpus(double cpus);

#endif
