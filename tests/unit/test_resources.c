// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for resources.c: real samples of this process and of a
 * child in a cgroup v2 of its own (root needed for that part, else skipped),
 * and the health factor on synthetic samples; and for lib/cgroup.c's CPU
 * allowance (weight auto) on a fake tree and its weight scale. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <mntent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "cgroup.h"
#include "defaults.h"
#include "resources.h"

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void busy_for_ms(unsigned ms)
{
	volatile uint64_t sink = 0;
	uint64_t end = mono_us() + ms * 1000ull;

	while (mono_us() < end)
		for (int i = 0; i < 10000; i++)
			sink += (uint64_t)i;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void test_sample_self(void **state)
{
	struct resource_sample a, b;
	struct rlimit rl;
	char err[256], path[PATH_MAX];
	bool own;

	(void)state;
	assert_int_equal(resource_sample(getpid(), &a, err, sizeof(err)), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(a.fd_limit, rl.rlim_cur > UINT32_MAX ? UINT32_MAX : rl.rlim_cur);
	assert_true(a.fds >= 3 && a.fds < a.fd_limit);
	assert_true(a.cpu_cores >= 1 && a.cpu_cores <= sysconf(_SC_NPROCESSORS_CONF));
	assert_true(a.mem_bytes > 0 && a.mem_bytes <= a.mem_limit);
	assert_true(a.cpu_psi >= 0 && a.cpu_psi <= 1 && a.mem_psi >= 0 && a.mem_psi <= 1);
	/* in the root cgroup or a shared one the figures must come from /proc */
	if (!resource_cgroup_of(getpid(), path, sizeof(path), &own) && !own)
		assert_false(a.from_cgroup);

	busy_for_ms(200);
	assert_int_equal(resource_sample(getpid(), &b, err, sizeof(err)), 0);
	assert_true(b.at_us - a.at_us >= 200000);
	/* 200 ms on a CPU, less what a loaded host took; ticks are 10 ms */
	assert_true(b.cpu_usec - a.cpu_usec >= 100000);
	assert_true(resource_cpu_util(&a, &b) > 0);
}

static void test_sample_fds(void **state)
{
	struct resource_sample a, b;
	char err[256];
	int fd;

	(void)state;
	assert_int_equal(resource_sample(getpid(), &a, err, sizeof(err)), 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(resource_sample(getpid(), &b, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(b.fds, a.fds + 1);
}

static void test_sample_gone(void **state)
{
	struct resource_sample s;
	char err[256];
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(resource_sample(pid, &s, err, sizeof(err)), -ESRCH);
	assert_non_null(strstr(err, "gone"));
}

/* comm may hold spaces and parentheses; /proc/PID/stat is parsed past them */
static void test_sample_odd_comm(void **state)
{
	struct resource_sample s;
	char err[256];
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "w) 1 2 (x");
		busy_for_ms(100);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], err, 1), 1);
	close(p[0]);
	assert_int_equal(resource_sample(pid, &s, err, sizeof(err)), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* 100 ms busy: a misparse would read ppid or flags instead */
	assert_true(s.cpu_usec >= 50000 && s.cpu_usec < 10000000);
}

/* ---- cgroup files, on a fake tree ---- */

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_cgroup_files(void **state)
{
	char root[] = "/tmp/steer-test-cg-XXXXXX", a[PATH_MAX], b[PATH_MAX], cmd[PATH_MAX + 16];
	uint64_t mem = 64ull << 30, bytes = 0;
	double cores = 2;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(a, sizeof(a), "%s/a", root);
	snprintf(b, sizeof(b), "%s/a/b", root);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	put_file(a, "memory.max", "1073741824\n");
	put_file(a, "cpu.max", "max 100000\n");
	put_file(b, "cpu.max", "150000 100000\n");
	put_file(b, "memory.max", "max\n");
	put_file(b, "memory.high", "536870912\n");
	put_file(b, "memory.current", "400000000\n");
	put_file(b, "memory.stat", "anon 1\ninactive_anon 7\nactive_file 5\ninactive_file 100000000\n");
	put_file(b, "cpu.pressure", "some avg10=12.50 avg60=1.00 avg300=0.00 total=5\n"
				    "full avg10=3.00 avg60=0.00 avg300=0.00 total=1\n");

	resource_cgroup_limits(root, b, &cores, &mem);
	assert_true(cores > 1.49 && cores < 1.51);
	assert_int_equal(mem, 536870912);

	/* the mount root counts: under a cgroup namespace it is the container's */
	put_file(root, "memory.max", "268435456\n");
	mem = 64ull << 30;
	resource_cgroup_limits(root, b, &cores, &mem);
	assert_int_equal(mem, 268435456);
	resource_cgroup_limits(root, root, &cores, &mem);
	assert_int_equal(mem, 268435456);

	/* tighter already: left alone */
	cores = 1;
	mem = 1000;
	resource_cgroup_limits(root, b, &cores, &mem);
	assert_true(cores == 1 && mem == 1000);

	assert_int_equal(resource_cgroup_mem(b, &bytes), 0);
	assert_int_equal(bytes, 300000000);
	assert_int_equal(resource_cgroup_mem(a, &bytes), -1);	/* no memory controller */

	assert_true(resource_psi_some(b, "cpu.pressure") > 0.1249 &&
		    resource_psi_some(b, "cpu.pressure") < 0.1251);
	assert_true(resource_psi_some(b, "memory.pressure") == 0);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

/* ---- the CPU allowance weight auto takes (lib/cgroup.c), on a fake tree ---- */

struct tree {
	char root[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
};

static int tree_setup(void **state)
{
	static struct tree t;

	snprintf(t.root, sizeof(t.root), "/tmp/steer-cgroup-test.XXXXXX");
	if (!mkdtemp(t.root))
		return -1;
	snprintf(t.a, sizeof(t.a), "%s/a", t.root);
	snprintf(t.b, sizeof(t.b), "%s/a/b", t.root);
	if (mkdir(t.a, 0755) || mkdir(t.b, 0755))
		return -1;
	*state = &t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_allowance_sources(void **state)
{
	struct tree *t = *state;
	struct cpu_allowance a;

	/* nothing anywhere: the host */
	cpu_allowance_at(t->root, t->b, &a);
	assert_int_equal(a.source, CPU_FROM_HOST);
	assert_true(a.cpus == (double)sysconf(_SC_NPROCESSORS_ONLN));

	/* a cpuset up the tree, the nearest wins */
	put_file(t->root, "cpuset.cpus.effective", "0-63\n");
	put_file(t->a, "cpuset.cpus.effective", "0-3,8,10-11\n");
	cpu_allowance_at(t->root, t->b, &a);
	assert_int_equal(a.source, CPU_FROM_CPUSET);
	assert_true(a.cpus == 7);
	assert_string_equal(a.dir, t->a);

	/* cpu.max "max" is no limit; a quota anywhere up the tree wins over the
	 * cpuset, the tightest of them, and may exceed the host's CPUs */
	put_file(t->b, "cpu.max", "max 100000\n");
	cpu_allowance_at(t->root, t->b, &a);
	assert_int_equal(a.source, CPU_FROM_CPUSET);
	put_file(t->a, "cpu.max", "6400000 100000\n");
	cpu_allowance_at(t->root, t->b, &a);
	assert_int_equal(a.source, CPU_FROM_CPU_MAX);
	assert_true(a.cpus == 64);
	put_file(t->b, "cpu.max", "800000 100000\n");
	cpu_allowance_at(t->root, t->b, &a);
	assert_true(a.cpus == 8);
	assert_string_equal(cpu_source_name(a.source), "cpu.max");

	/* garbage is ignored, not read as 0 */
	put_file(t->b, "cpu.max", "lots\n");
	put_file(t->a, "cpu.max", "-5 100000\n");
	put_file(t->a, "cpuset.cpus.effective", "3-1\n");
	cpu_allowance_at(t->root, t->b, &a);
	assert_int_equal(a.source, CPU_FROM_CPUSET);
	assert_true(a.cpus == 64);	/* the root's */
}

static void test_weight_scale(void **state)
{
	(void)state;
	assert_int_equal(weight_of_cpus(8), 8 * STEER_WEIGHT_PER_CPU);
	assert_int_equal(weight_of_cpus(64), 64 * STEER_WEIGHT_PER_CPU);
	assert_int_equal(weight_of_cpus(0.5), STEER_WEIGHT_PER_CPU / 2);
	assert_int_equal(weight_of_cpus(0.001), 1);	/* any CPU gets some */
	assert_int_equal(weight_of_cpus(0), 1);
	assert_int_equal(weight_of_cpus(-1), 1);
	assert_int_equal(weight_of_cpus(NAN), 1);
	assert_int_equal(weight_of_cpus(1e12), STEER_WEIGHT_MAX);
}

static void test_allowance_of_self(void **state)
{
	struct cpu_allowance a;

	(void)state;
	assert_int_equal(cpu_allowance_of(getpid(), &a), 0);
	assert_true(a.cpus > 0);
	assert_int_equal(cpu_allowance_of(INT32_MAX, &a), -ESRCH);
}

/* ---- a child in a cgroup of its own ---- */

struct cg_fixture {
	char dir[PATH_MAX];
	pid_t busy, other;
};

static int cgroup2_root(char *buf, size_t len)
{
	struct mntent *ent;
	FILE *f = setmntent("/proc/mounts", "r");
	int ret = -1;

	if (!f)
		return -1;
	while ((ent = getmntent(f)))
		if (!strcmp(ent->mnt_type, "cgroup2")) {
			snprintf(buf, len, "%s", ent->mnt_dir);
			ret = 0;
			break;
		}
	endmntent(f);
	return ret;
}

/* Forks a child that joins dir and then spins (busy) or sleeps. Returns once
 * the child is in: it tells us through a pipe. */
static pid_t spawn_in(const char *dir, bool busy)
{
	char path[PATH_MAX + 16], c;
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(1);
		close(fd);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;) {
			if (busy)
				busy_for_ms(1000);
			else
				pause();
		}
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(p[0]);
	return pid;
}

static int cg_setup(void **state)
{
	struct cg_fixture *f = calloc(1, sizeof(*f));
	char root[PATH_MAX];

	if (!f)
		return -1;
	*state = f;
	if (geteuid() != 0 || cgroup2_root(root, sizeof(root)))
		return 0;	/* the test skips */
	snprintf(f->dir, sizeof(f->dir), "%s/steer-test-res-%d", root, (int)getpid());
	if (mkdir(f->dir, 0755))
		f->dir[0] = '\0';
	return 0;
}

static void reap(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static int cg_teardown(void **state)
{
	struct cg_fixture *f = *state;
	int ret = 0;

	reap(&f->busy);
	reap(&f->other);
	/* a reaped child can take a moment to leave the cgroup's count */
	for (int i = 0; f->dir[0] && i < 50; i++) {
		if (!rmdir(f->dir) || errno == ENOENT)
			break;
		if (errno != EBUSY) {
			ret = -1;
			break;
		}
		sleep_ms(20);
	}
	free(f);
	return ret;
}

static void test_sample_cgroup(void **state)
{
	struct cg_fixture *f = *state;
	struct resource_sample a, b, c;
	char err[256], path[PATH_MAX];
	double util;
	bool own;

	if (!f->dir[0])
		skip();
	f->busy = spawn_in(f->dir, true);
	assert_true(f->busy > 0);

	assert_int_equal(resource_cgroup_of(f->busy, path, sizeof(path), &own), 0);
	assert_string_equal(path, f->dir);
	assert_true(own);

	assert_int_equal(resource_sample(f->busy, &a, err, sizeof(err)), 0);
	assert_true(a.from_cgroup);
	sleep_ms(300);
	assert_int_equal(resource_sample(f->busy, &b, err, sizeof(err)), 0);
	assert_true(b.from_cgroup);
	/* one spinning thread: about one core's worth of the capacity */
	util = resource_cpu_util(&a, &b) * b.cpu_cores;
	print_message("cgroup child: %.3f cores over %.0f ms\n", util,
		      (double)(b.at_us - a.at_us) / 1000);
	assert_true(util > 0.6 && util < 1.15);

	/* a second process makes the cgroup shared: back to /proc */
	f->other = spawn_in(f->dir, false);
	assert_true(f->other > 0);
	assert_int_equal(resource_cgroup_of(f->busy, path, sizeof(path), &own), 0);
	assert_false(own);
	assert_int_equal(resource_sample(f->busy, &c, err, sizeof(err)), 0);
	assert_false(c.from_cgroup);
	/* a change of source gives no rate */
	assert_true(resource_cpu_util(&b, &c) < 0);
}

static void test_cgroup_root(void **state)
{
	char path[PATH_MAX], root[PATH_MAX];
	bool own = true;

	(void)state;
	if (cgroup2_root(root, sizeof(root)))
		skip();
	/* pid 1 may sit in a child cgroup (containers); only the prefix is sure */
	assert_int_equal(resource_cgroup_of(getpid(), path, sizeof(path), &own), 0);
	assert_memory_equal(path, root, strlen(root));
	assert_int_equal(resource_cgroup_of(getpid(), path, 4, &own), -ENAMETOOLONG);
}

/* ---- the factor, on synthetic samples ---- */

#define LIMIT 1000000ull

/* At t_ms, cpu fraction of 2 cores used since the previous call of the
 * same series, memory and fd use as fractions of their limits. */
struct series {
	uint64_t t_us, cpu_usec;
};

static struct resource_sample next(struct series *sr, double cpu, double mem, double fd)
{
	const uint64_t step = 1000000;	/* 1 s */

	sr->t_us += step;
	sr->cpu_usec += (uint64_t)(cpu * 2 * (double)step);
	return (struct resource_sample){
		.at_us = sr->t_us,
		.cpu_usec = sr->cpu_usec,
		.cpu_cores = 2,
		.mem_bytes = (uint64_t)(mem * LIMIT),
		.mem_limit = LIMIT,
		.fds = (uint32_t)(fd * 1000),
		.fd_limit = 1000,
	};
}

static uint32_t feed(struct resource_state *st, struct series *sr, const struct resource_policy *p,
		     double cpu, double mem, double fd)
{
	struct resource_sample s = next(sr, cpu, mem, fd);

	return resource_factor(st, &s, p);
}

static void test_factor_idle(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };

	(void)state;
	resource_policy_default(&p);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.1, 0.01), 1000);
	for (int i = 0; i < 5; i++)
		assert_int_equal(feed(&st, &sr, &p, 0.2, 0.3, 0.05), 1000);
}

static void test_factor_cpu(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };

	(void)state;
	resource_policy_default(&p);
	assert_int_equal(feed(&st, &sr, &p, 1, 0.1, 0), 1000);	/* no rate yet */
	assert_int_equal(feed(&st, &sr, &p, 1, 0.1, 0), 50);	/* the floor */
	assert_int_equal(feed(&st, &sr, &p, 1, 0.1, 0), 50);

	/* between the knee and cpu_high the line: 70% -> 1 - 0.95 * 0.2 / 0.4 */
	p.alpha = 1;
	assert_int_equal(feed(&st, &sr, &p, 0.7, 0.1, 0), 525);
	assert_int_equal(feed(&st, &sr, &p, 0.5, 0.1, 0), 1000);
	/* above cpu_high it is the floor too */
	assert_int_equal(feed(&st, &sr, &p, 0.95, 0.1, 0), 50);
}

static void test_factor_mem_and_psi(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };
	struct resource_sample s;

	(void)state;
	resource_policy_default(&p);
	p.alpha = 1;
	feed(&st, &sr, &p, 0, 0, 0);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.65, 0), 525);	/* 0.5 .. 0.8 line */
	assert_int_equal(feed(&st, &sr, &p, 0, 0.8, 0), 50);

	s = next(&sr, 0, 0.1, 0);
	s.cpu_psi = 0.3;
	assert_int_equal(resource_factor(&st, &s, &p), 700);
	s = next(&sr, 0, 0.1, 0);
	s.mem_psi = 0.99;
	assert_int_equal(resource_factor(&st, &s, &p), 50);	/* never below the floor */
}

static void test_factor_cut(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };

	(void)state;
	resource_policy_default(&p);
	/* memory: in at 0.96, still out at 0.9 (above mem_resume), back at 0.8 */
	assert_int_equal(feed(&st, &sr, &p, 0, 0.96, 0), 0);
	assert_true(st.cut);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.9, 0), 0);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.9, 0), 0);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.8, 0), 50);	/* back, at what it says */
	assert_false(st.cut);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.9, 0), 50);	/* 0.9 alone does not cut */

	/* fds: the same rule with their own thresholds */
	memset(&st, 0, sizeof(st));
	assert_int_equal(feed(&st, &sr, &p, 0, 0.1, 0.5), 1000);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.1, 0.95), 0);
	assert_int_equal(feed(&st, &sr, &p, 0, 0.1, 0.9), 0);
	assert_true(feed(&st, &sr, &p, 0, 0.1, 0.8) > 0);

	/* an unknown limit never cuts */
	{
		struct resource_sample s = next(&sr, 0, 0, 0);

		memset(&st, 0, sizeof(st));
		s.mem_limit = 0;
		s.fd_limit = 0;
		s.mem_bytes = LIMIT;
		assert_int_equal(resource_factor(&st, &s, &p), 1000);
	}
}

static void test_factor_hysteresis(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };
	struct resource_sample s;

	(void)state;
	resource_policy_default(&p);
	p.alpha = 1;	/* see hysteresis alone */
	feed(&st, &sr, &p, 0, 0, 0);
	assert_int_equal(feed(&st, &sr, &p, 0.7, 0, 0), 525);
	assert_int_equal(feed(&st, &sr, &p, 0.71, 0, 0), 525);	/* raw 501: too small a change */
	assert_int_equal(feed(&st, &sr, &p, 0.69, 0, 0), 525);	/* raw 549 */
	assert_int_equal(feed(&st, &sr, &p, 0.75, 0, 0), 406);	/* 119 away */
	assert_int_equal(feed(&st, &sr, &p, 0.54, 0, 0), 905);
	assert_int_equal(feed(&st, &sr, &p, 0.53, 0, 0), 905);	/* raw 929: 24 away */
	assert_int_equal(feed(&st, &sr, &p, 0.4, 0, 0), 1000);	/* full is always published */

	/* a sample with no rate (same instant) changes nothing */
	s = next(&sr, 0.75, 0, 0);
	s.at_us = st.prev.at_us;
	s.cpu_usec = st.prev.cpu_usec;
	assert_int_equal(resource_factor(&st, &s, &p), 1000);
	/* nor does one of a restarted worker (a new pid), until the next */
	s = next(&sr, 0.75, 0, 0);
	s.pid = 4242;
	assert_int_equal(resource_factor(&st, &s, &p), 1000);
	s = next(&sr, 0.75, 0, 0);
	s.pid = 4242;
	assert_int_equal(resource_factor(&st, &s, &p), 406);
}

static void test_factor_smoothing(void **state)
{
	struct resource_policy p;
	struct resource_state st = { 0 };
	struct series sr = { 0 };
	uint32_t last = 1000, v;

	(void)state;
	resource_policy_default(&p);
	p.hysteresis_permille = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(feed(&st, &sr, &p, 0, 0, 0), 1000);
	/* from 1 towards 0.525, halving the distance each step */
	v = feed(&st, &sr, &p, 0.7, 0, 0);
	assert_true(v >= 762 && v <= 763);
	for (int i = 0; i < 30; i++) {
		v = feed(&st, &sr, &p, 0.7, 0, 0);
		assert_true(v <= last);
		last = v;
	}
	assert_int_equal(v, 525);
	assert_true(st.smoothed > 0.524 && st.smoothed < 0.526);

	/* with hysteresis it settles within one step of the target */
	resource_policy_default(&p);
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 3; i++)
		feed(&st, &sr, &p, 0, 0, 0);
	for (int i = 0; i < 30; i++)
		v = feed(&st, &sr, &p, 0.7, 0, 0);
	assert_true(v >= 525 && v < 525 + 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_self),
		cmocka_unit_test(test_sample_fds),
		cmocka_unit_test(test_sample_gone),
		cmocka_unit_test(test_sample_odd_comm),
		cmocka_unit_test(test_cgroup_files),
		cmocka_unit_test(test_cgroup_root),
		cmocka_unit_test_setup_teardown(test_allowance_sources, tree_setup, tree_teardown),
		cmocka_unit_test(test_weight_scale),
		cmocka_unit_test(test_allowance_of_self),
		cmocka_unit_test_setup_teardown(test_sample_cgroup, cg_setup, cg_teardown),
		cmocka_unit_test(test_factor_idle),
		cmocka_unit_test(test_factor_cpu),
		cmocka_unit_test(test_factor_mem_and_psi),
		cmocka_unit_test(test_factor_cut),
		cmocka_unit_test(test_factor_hysteresis),
		cmocka_unit_test(test_factor_smoothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
