// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* budgets.c - the pools' global quotas and token budgets (see fleet.h). */
#include "daemon.h"
#include "fleet.h"

int budgets_apply(struct daemon *d)
{
	(void)d;
	return 0;
}

void budgets_tick(struct daemon *d, uint64_t now)
{
	(void)d;
	(void)now;
}

void budgets_stop(struct daemon *d)
{
	(void)d;
}
