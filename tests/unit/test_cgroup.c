// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests (cmocka) for lib/cgroup.c: the CPU allowance that weight auto
 * takes, on a fake cgroup tree (the host's cpu and cpuset controllers may be
 * bound to v1), and the weight scale. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "cgroup.h"
#include "defaults.h"

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_allowance_sources, tree_setup, tree_teardown),
		cmocka_unit_test(test_weight_scale),
		cmocka_unit_test(test_allowance_of_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
