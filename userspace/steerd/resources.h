/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* resources.h - sample a worker's CPU, memory and fd use, and turn two
 * consecutive samples into a health factor (per-mille) for steerd to
 * publish in the worker's `health` field.
 *
 *	struct resource_state st = { 0 };	once per worker; zero it again
 *						when the worker's pid changes
 *	every interval:
 *		if (resource_sample(pid, &s, err, sizeof(err)) == 0)
 *			health = resource_factor(&st, &s, &policy);
 *
 * Sources. When the worker has a cgroup v2 cgroup to itself (see
 * resource_cgroup_of) its usage comes from the cgroup: cpu.stat usage_usec,
 * memory.current less inactive_file, cpu.pressure and memory.pressure.
 * Otherwise it comes from /proc/PID and pressure is 0: a shared cgroup's
 * counters would charge the worker with its neighbours' use. Limits
 * (cpu.max, memory.max, memory.high) are read from the worker's cgroup and
 * every ancestor up to the mount point, tightest wins, whether or not the
 * cgroup is its own: a limit on a shared group still bounds the worker. A
 * controller that is not enabled for the cgroup (on hybrid hosts memory and
 * cpu are often bound to v1) just has no files; then the /proc figure or the
 * host's capacity is used.
 *
 * The factor (STEER_HEALTH_FULL = 1000 is full health):
 *
 *	cpu = d(cpu_usec) / (d(at_us) * cpu_cores)	clamped to 0..1
 *	mem = mem_bytes / mem_limit
 *	fd  = fds / fd_limit
 *
 *	Hard cut, factor 0 ("no new connection until it recovers"):
 *		enter when mem >= mem_cut or fd >= fd_cut;
 *		leave only when mem < mem_resume and fd < fd_resume.
 *
 *	Otherwise:
 *		ramp(u, high) = 1				u <= 0.5 (RESOURCE_KNEE)
 *			      = 0.05 (RESOURCE_FLOOR)		u >= high
 *			      = linear from 1 down to 0.05	in between
 *		raw = max(0.05, min(ramp(cpu, cpu_high), ramp(mem, mem_high),
 *				    1 - cpu_psi, 1 - mem_psi))
 *		smoothed = alpha * raw + (1 - alpha) * smoothed	(the first raw as is)
 *
 *	Published: round(smoothed * 1000), only when it is at least
 *	hysteresis_permille away from the last published value, or the worker
 *	leaves the cut, or it reaches either end (1000 or the floor, 50);
 *	otherwise the last published value stays. The first call publishes
 *	1000 (0 if cut): one sample gives no CPU rate.
 *
 * Outside a cut the factor never drops below 50, so 0 always means the cut
 * and a busy worker still takes a trickle of connections. fds only cut, they
 * do not taper: a worker near its fd limit is fine until it is not.
 */
#ifndef STEER_RESOURCES_H
#define STEER_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RESOURCE_KNEE	0.5	/* full weight up to this use of cpu / memory */
#define RESOURCE_FLOOR	0.05	/* lowest factor outside a cut */

struct resource_sample {
	pid_t pid;			/* who was sampled: a new pid gives no CPU rate */
	uint64_t at_us;			/* CLOCK_MONOTONIC */
	bool from_cgroup;		/* usage from the worker's own cgroup v2, else /proc/PID */
	uint64_t cpu_usec;		/* cumulative CPU time: cpu.stat usage_usec, or utime+stime
					 * of /proc/PID/stat (all threads) */
	double cpu_cores;		/* CPU capacity: the CPUs the process may run on
					 * (sched_getaffinity), lowered to cpu.max quota/period */
	uint64_t mem_bytes;		/* memory.current - inactive_file, or VmRSS */
	uint64_t mem_limit;		/* lowest memory.max / memory.high up the tree, at most
					 * total RAM (sysinfo) */
	double cpu_psi, mem_psi;	/* cpu.pressure / memory.pressure "some avg10" as a
					 * fraction 0..1; 0 when not available */
	uint32_t fds, fd_limit;		/* entries in /proc/PID/fd; RLIMIT_NOFILE soft limit
					 * from /proc/PID/limits */
};

/* The cgroup v2 directory of pid: the hierarchy's mount point (found in
 * /proc/mounts) joined with the "0::/path" line of /proc/PID/cgroup, e.g.
 * "/sys/fs/cgroup/system.slice/agent@1.service". *own (may be NULL) says
 * whether pid has it to itself: it is not the root cgroup and cgroup.procs
 * lists only pid's process (its thread group leader, when pid is a thread).
 * Returns 0, -ESRCH when the process is gone, -ENOENT when there is no
 * cgroup v2 hierarchy or pid is in none, -ENAMETOOLONG, or another -errno. */
int resource_cgroup_of(pid_t pid, char *path, size_t len, bool *own);

/* One sample of pid (a process or a thread of it). Returns 0, or -errno with
 * a message in err: -ESRCH when the process is gone. Missing cgroup or
 * pressure files are not errors; unreadable /proc/PID files are. */
int resource_sample(pid_t pid, struct resource_sample *out, char *err, size_t errlen);

struct resource_policy {
	double cpu_high;		/* cpu use where the factor reaches the floor */
	double mem_high;		/* memory use where the factor reaches the floor */
	double mem_cut, mem_resume;	/* enter / leave the hard cut */
	double fd_cut, fd_resume;
	double alpha;			/* smoothing weight of the newest sample, 0 < alpha <= 1 */
	uint32_t hysteresis_permille;	/* smallest change worth publishing */
};

/* cpu_high 0.9, mem_high 0.8, mem_cut 0.95, mem_resume 0.85, fd_cut 0.95,
 * fd_resume 0.85, alpha 0.5, hysteresis 50 */
void resource_policy_default(struct resource_policy *p);

struct resource_state {
	bool have_prev;
	struct resource_sample prev;
	bool have_smoothed;		/* smoothed holds a value (needs two samples) */
	double smoothed;		/* 0..1 */
	bool cut;
	uint32_t published;		/* last value returned */
};

/* Feeds sample s (the next one of the same worker); returns the factor to
 * publish, 0..1000. See the top of this file for the formula. */
uint32_t resource_factor(struct resource_state *st, const struct resource_sample *s,
			 const struct resource_policy *p);

/* The cgroup readers resource_sample uses, exposed for tests on a fake tree
 * (this host's controllers may not be enabled in v2) and for logs.
 * Lowers *cores to the tightest cpu.max quota/period and *mem to the
 * tightest memory.max / memory.high of dir and its ancestors up to root
 * (included: in a cgroup namespace the mount root has the container's). */
void resource_cgroup_limits(const char *root, const char *dir, double *cores, uint64_t *mem);
/* memory.current less memory.stat's inactive_file; -1 without the files. */
int resource_cgroup_mem(const char *dir, uint64_t *bytes);
/* "some avg10" of dir/name (cpu.pressure, memory.pressure) as 0..1; 0 when
 * absent or unsupported. */
double resource_psi_some(const char *dir, const char *name);

/* The formula's parts, for logs and tests: cpu use between two samples
 * (-1 when it cannot be known: no time passed, the counter went back or
 * changed source, or the pid changed), and raw for given utilisations. */
double resource_cpu_util(const struct resource_sample *prev, const struct resource_sample *s);
double resource_raw(double cpu, double mem, double cpu_psi, double mem_psi,
		    const struct resource_policy *p);

#endif
