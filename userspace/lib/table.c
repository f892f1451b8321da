// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "steer.h"
#include "table.h"

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Weights divided by their common divisor: 90/10 becomes 9/1. */
static uint64_t reduced_total(const struct table_member *m, size_t n, uint32_t *divisor)
{
	uint32_t g = 0;
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		if (m[i].weight)
			g = gcd(m[i].weight, g);
	*divisor = g ? g : 1;
	for (size_t i = 0; i < n; i++)
		total += m[i].weight / *divisor;
	return total;
}

void table_build_weighted(const struct table_member *m, size_t n, uint32_t *table, uint32_t *len)
{
	uint32_t divisor;
	uint64_t total = reduced_total(m, n, &divisor);
	int64_t *current;

	*len = 0;
	if (!total || !(current = calloc(n ? n : 1, sizeof(*current))))
		return;
	/* Whole cycles when they fit, so the cursor wrapping keeps the ratio. */
	*len = total <= STEER_TABLE_SIZE ? (uint32_t)(total * (STEER_TABLE_SIZE / total))
					 : STEER_TABLE_SIZE;
	for (uint32_t slot = 0; slot < *len; slot++) {
		size_t best = n;

		for (size_t i = 0; i < n; i++) {
			if (!m[i].weight)
				continue;
			current[i] += m[i].weight / divisor;
			if (best == n || current[i] > current[best])
				best = i;
		}
		current[best] -= (int64_t)total;
		table[slot] = m[best].id;
	}
	free(current);
}

static uint64_t fnv1a(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	/* final avalanche (splitmix64) so close names spread apart */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct table_member *)a)->name, ((const struct table_member *)b)->name);
}

int table_build_maglev(const struct table_member *members, size_t n, uint32_t *table,
		       uint32_t *len)
{
	const uint32_t size = STEER_TABLE_SIZE;
	struct table_member *m = NULL;
	uint32_t divisor, filled = 0;
	uint64_t total = reduced_total(members, n, &divisor);
	uint32_t *offset = NULL, *skip = NULL, *next = NULL;
	int ret = -1;

	*len = 0;
	if (!total)
		return 0;
	/* Fill order is part of Maglev's result: a canonical order makes the
	 * same set of workers give the same table, whatever order they came in. */
	m = malloc(n * sizeof(*m));
	if (!m)
		return -1;
	memcpy(m, members, n * sizeof(*m));
	qsort(m, n, sizeof(*m), by_name);
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	if (!offset || !skip || !next)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		offset[i] = (uint32_t)(fnv1a(m[i].name, 0x5eed) % size);
		skip[i] = (uint32_t)(fnv1a(m[i].name, 0x51dd) % (size - 1)) + 1;
	}
	for (uint32_t s = 0; s < size; s++)
		table[s] = STEER_NONE;
	/* Each round a member claims as many of its preferred free slots as
	 * its reduced weight; equal weights give plain Maglev. */
	while (filled < size) {
		for (size_t i = 0; i < n && filled < size; i++) {
			for (uint32_t turn = 0; turn < m[i].weight / divisor && filled < size; turn++) {
				uint32_t s;

				do {
					s = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % size);
					next[i]++;
				} while (table[s] != STEER_NONE);
				table[s] = m[i].id;
				filled++;
			}
		}
	}
	*len = size;
	ret = 0;
cleanup:
	free(m);
	free(offset);
	free(skip);
	free(next);
	return ret;
}
