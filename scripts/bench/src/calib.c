/*
 * calib - how fast this machine does the kernel round trips every
 * connection pays: ns per getppid() system call and per clock_gettime()
 * (vDSO), median of 7 runs of 200,000. Gives the benchmark numbers a scale
 * (CPU vulnerability mitigations and virtualisation show up here first).
 *
 *   cc -O2 -o calib calib.c    (run.sh builds it into build/)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define N 200000
#define RUNS 7

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	double sys[RUNS], clk[RUNS], t;

	for (int r = 0; r < RUNS; r++) {
		t = now_ns();
		for (int i = 0; i < N; i++)
			syscall(SYS_getppid);
		sys[r] = (now_ns() - t) / N;
		t = now_ns();
		for (int i = 0; i < N; i++)
			now_ns();
		clk[r] = (now_ns() - t) / N;
	}
	qsort(sys, RUNS, sizeof(double), cmp);
	qsort(clk, RUNS, sizeof(double), cmp);
	printf("syscall_ns %.0f\nclock_gettime_ns %.0f\n", sys[RUNS / 2], clk[RUNS / 2]);
	return 0;
}
