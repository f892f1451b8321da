// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cgroup.h"
#include "defaults.h"

#define PROC_CGROUP_BUF	4096	/* /proc/PID/cgroup: one line per v1 hierarchy */

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

ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

static ssize_t read_in(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return read_small_file(path, buf, size);
}

/* The path after "0::" in /proc/PID/cgroup: the v2 hierarchy's line. */
static int proc_cgroup_rel(pid_t pid, char *rel, size_t len)
{
	char path[64], buf[PROC_CGROUP_BUF], *line, *nl;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3))
			continue;
		return (size_t)snprintf(rel, len, "%s", line + 3) >= len ? -ENAMETOOLONG : 0;
	}
	return -ENOENT;
}

int cgroup2_locate(pid_t pid, char *root, size_t rlen, char *dir, size_t dlen, bool *is_root)
{
	char rel[PATH_MAX];
	int ret;

	ret = proc_cgroup_rel(pid, rel, sizeof(rel));
	if (ret)
		return ret;
	ret = cgroup2_mount(root, rlen);
	if (ret)
		return ret;
	*is_root = !strcmp(rel, "/");
	if ((size_t)snprintf(dir, dlen, "%s%s", root, *is_root ? "" : rel) >= dlen)
		return -ENAMETOOLONG;
	return 0;
}

/* cur one level up, not above root; false at root. */
static bool parent_dir(char *cur, size_t rootlen)
{
	char *slash = strrchr(cur, '/');

	if (strlen(cur) <= rootlen || !slash || (size_t)(slash - cur) < rootlen)
		return false;
	*slash = '\0';
	return true;
}

bool cgroup_cpu_max(const char *root, const char *dir, double *cpus)
{
	char cur[PATH_MAX], buf[64];
	size_t rootlen = strlen(root);
	bool found = false;

	snprintf(cur, sizeof(cur), "%s", dir);
	do {
		long long quota, period;

		/* "max 100000": no limit at this level */
		if (read_in(cur, "cpu.max", buf, sizeof(buf)) >= 0 &&
		    sscanf(buf, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0 &&
		    (!found || (double)quota / (double)period < *cpus)) {
			*cpus = (double)quota / (double)period;
			found = true;
		}
	} while (parent_dir(cur, rootlen));
	return found;
}

/* CPUs in a cpu list such as "0-3,8,10-11\n"; 0 when it is not one. */
static unsigned cpulist_count(const char *s)
{
	unsigned n = 0;

	while (*s && *s != '\n') {
		char *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;

		if (end == s)
			return 0;
		if (*end == '-') {
			s = end + 1;
			hi = strtoul(s, &end, 10);
			if (end == s || hi < lo)
				return 0;
		}
		n += (unsigned)(hi - lo + 1);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return 0;
	}
	return n;
}

/* The nearest cpuset.cpus.effective from dir up to root. */
static bool cgroup_cpuset(const char *root, const char *dir, double *cpus, char *from, size_t len)
{
	char cur[PATH_MAX], buf[PROC_CGROUP_BUF];
	size_t rootlen = strlen(root);

	snprintf(cur, sizeof(cur), "%s", dir);
	do {
		unsigned n;

		if (read_in(cur, "cpuset.cpus.effective", buf, sizeof(buf)) >= 0 &&
		    (n = cpulist_count(buf))) {
			*cpus = n;
			snprintf(from, len, "%s", cur);
			return true;
		}
	} while (parent_dir(cur, rootlen));
	return false;
}

static void host_allowance(struct cpu_allowance *out)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	out->cpus = n > 0 ? (double)n : 1;
	out->source = CPU_FROM_HOST;
	out->dir[0] = '\0';
}

void cpu_allowance_at(const char *root, const char *dir, struct cpu_allowance *out)
{
	if (cgroup_cpu_max(root, dir, &out->cpus)) {
		out->source = CPU_FROM_CPU_MAX;
		snprintf(out->dir, sizeof(out->dir), "%s", dir);
		return;
	}
	if (cgroup_cpuset(root, dir, &out->cpus, out->dir, sizeof(out->dir))) {
		out->source = CPU_FROM_CPUSET;
		return;
	}
	host_allowance(out);
}

int cpu_allowance_of(pid_t pid, struct cpu_allowance *out)
{
	char root[PATH_MAX], dir[PATH_MAX];
	bool is_root;
	int ret = cgroup2_locate(pid, root, sizeof(root), dir, sizeof(dir), &is_root);

	if (ret == -ESRCH)
		return ret;
	if (ret) {
		host_allowance(out);	/* no v2 cgroup: the host is its allowance */
		return 0;
	}
	cpu_allowance_at(root, dir, out);
	return 0;
}

const char *cpu_source_name(enum cpu_source s)
{
	switch (s) {
	case CPU_FROM_CPU_MAX:
		return "cpu.max";
	case CPU_FROM_CPUSET:
		return "cpuset.cpus.effective";
	case CPU_FROM_HOST:
		break;
	}
	return "online CPUs";
}

uint32_t weight_of_cpus(double cpus)
{
	double w = cpus * STEER_WEIGHT_PER_CPU + 0.5;	/* rounded */

	if (!(w >= 1))		/* NaN too */
		return 1;
	return w >= STEER_WEIGHT_MAX ? STEER_WEIGHT_MAX : (uint32_t)w;
}
