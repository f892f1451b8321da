// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* resources.c - a worker's resource use from cgroup v2 or /proc, and the
 * health factor derived from it. The formula is documented in resources.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysinfo.h>
#include "cgroup.h"
#include "resources.h"
#include "steer.h"

#define FILE_BUF	4096	/* every file we parse fits; /proc/PID/status is ~1.5 KiB */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A /proc/PID file that vanished means the process did. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = read_small_file(path, buf, size);
	return n == -ENOENT ? -ESRCH : n;
}

static ssize_t read_at(const char *dir, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return read_small_file(path, buf, size);
}

/* The value after "key" at the start of a line ("key value" or "key: value"). */
static const char *find_key(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; *p; p++) {
		if (!strncmp(p, key, klen) && (p[klen] == ' ' || p[klen] == '\t' || p[klen] == ':'))
			return p + klen + 1;
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	return NULL;
}

static int key_u64(const char *text, const char *key, uint64_t *v)
{
	const char *p = find_key(text, key);
	char *end;

	if (!p)
		return -1;
	errno = 0;
	*v = strtoull(p, &end, 10);
	return end == p || errno ? -1 : 0;
}

/* A cgroup limit file: a number, or "max" for none (UINT64_MAX). */
static int read_limit(const char *dir, const char *name, uint64_t *v)
{
	char buf[64], *end;

	if (read_at(dir, name, buf, sizeof(buf)) < 0)
		return -1;
	if (!strncmp(buf, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return end == buf || errno ? -1 : 0;
}

/* The thread group (process) pid belongs to; cgroup.procs lists those. */
static int proc_tgid(pid_t pid, pid_t *tgid)
{
	char buf[FILE_BUF];
	uint64_t v;
	ssize_t n = read_proc(pid, "status", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	if (key_u64(buf, "Tgid", &v))
		return -EIO;
	*tgid = (pid_t)v;
	return 0;
}

/* True when cgroup.procs of dir lists tgid and nothing else. */
static bool cgroup_only_proc(const char *dir, pid_t tgid)
{
	char path[PATH_MAX], line[32];
	bool seen = false, other = false;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!other && fgets(line, sizeof(line), f)) {
		if (atoi(line) == tgid)
			seen = true;
		else
			other = true;
	}
	fclose(f);
	return seen && !other;
}

int resource_cgroup_of(pid_t pid, char *path, size_t len, bool *own)
{
	char root[PATH_MAX];
	bool is_root;
	pid_t tgid = 0;
	int ret;

	if (own)
		*own = false;
	ret = proc_tgid(pid, &tgid);
	if (ret)
		return ret;
	ret = cgroup2_locate(pid, root, sizeof(root), path, len, &is_root);
	if (ret)
		return ret;
	if (own)
		*own = !is_root && cgroup_only_proc(path, tgid);
	return 0;
}

/* "some avg10=1.48 avg60=..." -> 0.0148; 0 when absent or unsupported
 * (psi=0 on the kernel command line, or cgroup.pressure turned off). */
double resource_psi_some(const char *dir, const char *name)
{
	char buf[256];
	const char *p;
	double v;

	if (read_at(dir, name, buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "some avg10=");
	if (!p || sscanf(p, "some avg10=%lf", &v) != 1 || v < 0)
		return 0;
	return v >= 100 ? 1 : v / 100;
}

static int cgroup_cpu_usec(const char *dir, uint64_t *usec)
{
	char buf[FILE_BUF];

	if (read_at(dir, "cpu.stat", buf, sizeof(buf)) < 0)
		return -1;
	return key_u64(buf, "usage_usec", usec);
}

/* memory.current counts page cache, which fills a cgroup up to its limit
 * and is reclaimed only there; a worker that reads files would look full.
 * Like the kubelet's "working set", leave out the inactive file pages. */
int resource_cgroup_mem(const char *dir, uint64_t *bytes)
{
	char buf[FILE_BUF];
	uint64_t cur, inactive = 0;

	if (read_limit(dir, "memory.current", &cur) || cur == UINT64_MAX)
		return -1;
	if (read_at(dir, "memory.stat", buf, sizeof(buf)) >= 0)
		key_u64(buf, "inactive_file", &inactive);
	*bytes = cur > inactive ? cur - inactive : 0;
	return 0;
}

/* Tightest cpu.max and memory.max/memory.high from dir up to the root,
 * both included. */
void resource_cgroup_limits(const char *root, const char *dir, double *cores, uint64_t *mem)
{
	char cur[PATH_MAX];
	size_t rootlen = strlen(root);
	double quota_cpus = 0;

	/* the quota lowers the CPUs it may run on, never raises them */
	if (cgroup_cpu_max(root, dir, &quota_cpus) && quota_cpus < *cores)
		*cores = quota_cpus;
	snprintf(cur, sizeof(cur), "%s", dir);
	for (;;) {
		uint64_t v;
		char *slash;

		if (!read_limit(cur, "memory.max", &v) && v < *mem)
			*mem = v;
		if (!read_limit(cur, "memory.high", &v) && v < *mem)
			*mem = v;
		slash = strrchr(cur, '/');
		if (strlen(cur) <= rootlen || !slash || (size_t)(slash - cur) < rootlen)
			break;
		*slash = '\0';
	}
}

/* utime + stime of the whole thread group, in microseconds. */
static int proc_cpu_usec(pid_t pid, uint64_t *usec)
{
	char buf[FILE_BUF];
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	const char *p;
	ssize_t n = read_proc(pid, "stat", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	/* comm may hold spaces and parentheses: fields resume after the last ')' */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	*usec = (uint64_t)(ut + st) * 1000000 / (uint64_t)hz;
	return 0;
}

static int proc_rss(pid_t pid, uint64_t *bytes)
{
	char buf[FILE_BUF];
	uint64_t kb = 0;
	ssize_t n = read_proc(pid, "status", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	key_u64(buf, "VmRSS", &kb);	/* absent for a zombie or kernel thread: 0 */
	*bytes = kb * 1024;
	return 0;
}

static int proc_fd_count(pid_t pid, uint32_t *count)
{
	char path[64];
	struct dirent *d;
	uint32_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	*count = n;
	return 0;
}

/* Soft limit from "Max open files  1024  1048576  files". */
static int proc_nofile(pid_t pid, uint32_t *limit)
{
	char buf[FILE_BUF], *end;
	const char *p;
	unsigned long long v;
	ssize_t n = read_proc(pid, "limits", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	p = strstr(buf, "Max open files");
	if (!p)
		return -EIO;
	p += strlen("Max open files");
	p += strspn(p, " \t");
	if (!strncmp(p, "unlimited", 9)) {
		*limit = UINT32_MAX;
		return 0;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (end == p || errno)
		return -EIO;
	*limit = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

/* CPUs pid may run on; the set is sized for the host's CPUs, not 1024. */
static int affinity_cpus(pid_t pid, double *cores)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int ret = 0;

	for (int tries = 0; tries < 4; tries++, ncpu *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpu);
		size_t size = CPU_ALLOC_SIZE(ncpu);

		if (!set)
			return -ENOMEM;
		CPU_ZERO_S(size, set);
		if (!sched_getaffinity(pid, size, set)) {
			*cores = CPU_COUNT_S(size, set);
			CPU_FREE(set);
			return 0;
		}
		ret = -errno;
		CPU_FREE(set);
		if (ret != -EINVAL)	/* EINVAL: the kernel's mask is larger */
			break;
	}
	return ret;
}

static uint64_t total_ram(void)
{
	struct sysinfo si;

	if (sysinfo(&si))
		return 0;
	return (uint64_t)si.totalram * si.mem_unit;
}

/* Usage from the worker's own cgroup; false leaves /proc to fill it in. */
static bool sample_cgroup(const char *dir, struct resource_sample *out)
{
	if (cgroup_cpu_usec(dir, &out->cpu_usec))
		return false;
	out->from_cgroup = true;
	out->cpu_psi = resource_psi_some(dir, "cpu.pressure");
	out->mem_psi = resource_psi_some(dir, "memory.pressure");
	return true;
}

int resource_sample(pid_t pid, struct resource_sample *out, char *err, size_t errlen)
{
	char root[PATH_MAX], dir[PATH_MAX];
	const char *file;	/* the /proc/PID file being read; NULL: affinity */
	bool have_cg, is_root = true, own = false;
	pid_t tgid = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->at_us = now_us();
	file = "status";
	ret = proc_tgid(pid, &tgid);
	if (ret)
		goto fail;
	/* Without a cgroup v2 hierarchy everything comes from /proc. */
	have_cg = !cgroup2_locate(pid, root, sizeof(root), dir, sizeof(dir), &is_root);
	own = have_cg && !is_root && cgroup_only_proc(dir, tgid);

	file = NULL;
	ret = affinity_cpus(pid, &out->cpu_cores);
	if (ret)
		goto fail;
	out->mem_limit = total_ram();
	/* The mount root too: in a container with a cgroup namespace it is the
	 * container's cgroup, where the runtime puts its limits. */
	if (have_cg)
		resource_cgroup_limits(root, dir, &out->cpu_cores, &out->mem_limit);

	if (!own || !sample_cgroup(dir, out)) {
		file = "stat";
		ret = proc_cpu_usec(pid, &out->cpu_usec);
		if (ret)
			goto fail;
	}
	if (!out->from_cgroup || resource_cgroup_mem(dir, &out->mem_bytes)) {
		file = "status";
		ret = proc_rss(pid, &out->mem_bytes);
		if (ret)
			goto fail;
	}

	file = "fd";
	ret = proc_fd_count(pid, &out->fds);
	if (ret)
		goto fail;
	file = "limits";
	ret = proc_nofile(pid, &out->fd_limit);
	if (ret)
		goto fail;
	return 0;

fail:
	if (ret == -ESRCH)
		snprintf(err, errlen, "process %d is gone", (int)pid);
	else if (file)
		snprintf(err, errlen, "process %d: cannot read /proc/%d/%s: %s", (int)pid, (int)pid,
			 file, strerror(-ret));
	else
		snprintf(err, errlen, "process %d: cannot read its CPU affinity: %s", (int)pid,
			 strerror(-ret));
	return ret;
}

void resource_policy_default(struct resource_policy *p)
{
	*p = (struct resource_policy){
		.cpu_high = 0.9,
		.mem_high = 0.8,
		.mem_cut = 0.95,
		.mem_resume = 0.85,
		.fd_cut = 0.95,
		.fd_resume = 0.85,
		.alpha = 0.5,
		.hysteresis_permille = 50,
	};
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double min2(double a, double b)
{
	return a < b ? a : b;
}

/* 1 up to the knee, the floor from high on, a straight line in between.
 * With high at or below the knee it is a step at high. */
static double ramp(double u, double high)
{
	if (u >= high)
		return RESOURCE_FLOOR;
	if (u <= RESOURCE_KNEE)
		return 1;
	return 1 - (1 - RESOURCE_FLOOR) * (u - RESOURCE_KNEE) / (high - RESOURCE_KNEE);
}

/* An unknown limit (0) never cuts. */
static double ratio(uint64_t used, uint64_t limit)
{
	return limit ? (double)used / (double)limit : 0;
}

double resource_cpu_util(const struct resource_sample *prev, const struct resource_sample *s)
{
	double cores = s->cpu_cores > 0 ? s->cpu_cores : 1;

	/* A counter that changed source or went back (a restarted worker, a
	 * new process in the cgroup, the cgroup shared) says nothing about
	 * this interval. */
	if (s->pid != prev->pid || s->at_us <= prev->at_us || s->cpu_usec < prev->cpu_usec ||
	    s->from_cgroup != prev->from_cgroup)
		return -1;
	return clamp01((double)(s->cpu_usec - prev->cpu_usec) /
		       ((double)(s->at_us - prev->at_us) * cores));
}

double resource_raw(double cpu, double mem, double cpu_psi, double mem_psi,
		    const struct resource_policy *p)
{
	double raw = 1;

	raw = min2(raw, ramp(cpu, p->cpu_high));
	raw = min2(raw, ramp(mem, p->mem_high));
	raw = min2(raw, 1 - clamp01(cpu_psi));
	raw = min2(raw, 1 - clamp01(mem_psi));
	return raw < RESOURCE_FLOOR ? RESOURCE_FLOOR : raw;
}

static bool update_cut(struct resource_state *st, const struct resource_sample *s,
		       const struct resource_policy *p)
{
	double mem = ratio(s->mem_bytes, s->mem_limit);
	double fd = ratio(s->fds, s->fd_limit);

	if (st->cut)
		st->cut = mem >= p->mem_resume || fd >= p->fd_resume;
	else
		st->cut = mem >= p->mem_cut || fd >= p->fd_cut;
	return st->cut;
}

/* Keeps smoothing through a cut, so that a worker leaving it comes back at
 * what its load says (often the floor), not at full weight. */
static void update_smoothed(struct resource_state *st, const struct resource_sample *s,
			    const struct resource_policy *p)
{
	double alpha = p->alpha > 0 && p->alpha <= 1 ? p->alpha : 1;
	double cpu = resource_cpu_util(&st->prev, s), raw;

	if (cpu < 0)
		return;
	raw = resource_raw(cpu, ratio(s->mem_bytes, s->mem_limit), s->cpu_psi, s->mem_psi, p);
	st->smoothed = st->have_smoothed ? alpha * raw + (1 - alpha) * st->smoothed : raw;
	st->have_smoothed = true;
}

static uint32_t publish(struct resource_state *st, uint32_t v)
{
	st->published = v;
	return v;
}

uint32_t resource_factor(struct resource_state *st, const struct resource_sample *s,
			 const struct resource_policy *p)
{
	const uint32_t floor_pm = (uint32_t)(RESOURCE_FLOOR * STEER_HEALTH_FULL + 0.5);
	bool first = !st->have_prev, was_cut = st->cut;
	uint32_t want, diff;

	if (!first)
		update_smoothed(st, s, p);
	st->prev = *s;
	st->have_prev = true;
	if (update_cut(st, s, p))
		return publish(st, 0);
	if (first)
		return publish(st, STEER_HEALTH_FULL);
	want = st->have_smoothed ? (uint32_t)(clamp01(st->smoothed) * STEER_HEALTH_FULL + 0.5)
				 : STEER_HEALTH_FULL;
	diff = want > st->published ? want - st->published : st->published - want;
	if (was_cut || diff >= p->hysteresis_permille || want == STEER_HEALTH_FULL || want == floor_pm)
		return publish(st, want);
	return st->published;
}
