/*
 * sim.h - dispatch simulation core of jsqsim (kept apart so test_bench can
 * check it on hand-computed cases).
 *
 * K servers, each serving one job at a time in FIFO order, no preemption.
 * Jobs arrive in non-decreasing arrival order; a job's wait is the time from
 * its arrival to the start of its service. Policies:
 *   jsq     join the server with the fewest jobs (queued + in service);
 *           a job finishing exactly at an arrival instant has left;
 *           ties go to the lowest index
 *   rr      job i goes to server i mod K
 *   random  uniform server from a PRNG seeded with `seed`
 *   central one shared FIFO queue: a job goes to the first server to be
 *           free (an idle server with the lowest index, if any)
 *   jiq     join-idle-queue (Lu et al. 2011; steer's lobby): a job goes
 *           straight to an idle server (the lowest index) if there is one,
 *           else to one lobby FIFO that a server drains when it frees
 *           (its own queue first: always empty here, as a server gets a
 *           direct job only while idle). Simulated apart from central, by
 *           events; with one-at-a-time servers and exact idleness it must
 *           give central's waits, the bound a lobby can reach.
 *
 * Not a program: compiled into jsqsim and test_bench.
 */
#ifndef STEER_BENCH_SIM_H
#define STEER_BENCH_SIM_H

#include <stddef.h>
#include <stdint.h>

enum sim_policy { SIM_JSQ, SIM_RR, SIM_RANDOM, SIM_CENTRAL, SIM_JIQ, SIM_NPOLICIES };

struct sim_job {
	uint64_t arrival_ns;
	uint64_t service_ns;
};

struct sim_out {
	uint64_t wait_ns;
	unsigned server;
};

const char *sim_policy_name(enum sim_policy p);
/* Returns 0 and sets *p, or -1 for an unknown name. */
int sim_policy_parse(const char *name, enum sim_policy *p);
/* Simulates n jobs on k >= 1 servers; out[i] is job i's result.
 * Returns 0, or -1 on allocation failure or bad arguments. */
int sim_run(enum sim_policy p, unsigned k, uint64_t seed,
	    const struct sim_job *jobs, size_t n, struct sim_out *out);

#endif
