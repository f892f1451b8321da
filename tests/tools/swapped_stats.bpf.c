// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* swapped_stats.bpf.c - a worker_stats of the same size, type and entries
 * as steer's, with its members in another order: what a version that
 * reorders a state map's value would have pinned. 12_upgrade pins it in
 * place of the real one and expects upgrade to refuse it by its BTF (the
 * sizes alone match). bpftool prog loadall needs a program: one that does
 * nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "steer.h"

struct swapped_worker_stats {
	__u32 gen;		/* steer's last two members first */
	__u32 gone;
	__s64 outstanding;
	__u64 selected, established, steered, closed, aborted, steered_closed, steered_aborted;
	__u32 pending[2];
	__u32 pending_epoch[2];
};

_Static_assert(sizeof(struct swapped_worker_stats) == sizeof(struct steer_worker_stats),
	       "the same size as steer's: only the BTF tells them apart");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct swapped_worker_stats);
} worker_stats SEC(".maps");

SEC("socket")
int nothing(void *ctx)
{
	(void)ctx;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
