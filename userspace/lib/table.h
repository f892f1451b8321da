/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* table.h - per-pool slot tables that the kernel indexes in O(1):
 * a weighted interleave for round-robin and random, Maglev for hash. */
#ifndef STEER_TABLE_H
#define STEER_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_member {
	uint32_t id;		/* worker id written into the slots */
	uint32_t weight;	/* 0 = not in the table */
	const char *name;	/* Maglev places a worker by its name, so a worker
				 * that leaves and returns gets its slots back */
};

/* Smooth weighted round-robin order over whole weight cycles. Fills
 * table[0..*len) with *len <= STEER_TABLE_SIZE; *len = 0 when no member
 * has a weight. */
void table_build_weighted(const struct table_member *m, size_t n, uint32_t *table, uint32_t *len);

/* Weighted Maglev over STEER_TABLE_SIZE (prime) slots; returns -1 on ENOMEM. */
int table_build_maglev(const struct table_member *m, size_t n, uint32_t *table, uint32_t *len);

#endif
