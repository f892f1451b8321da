/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* clock.h - steerd's millisecond clock arithmetic. */
#ifndef STEERD_CLOCK_H
#define STEERD_CLOCK_H

#include <stdint.h>

/* ms from then to now, 0 if then is later. A time stamped with now_ms()
 * in a callback is later than the now its tick took first, and the
 * unsigned difference the other way round is 584 million years (it took
 * the static share at a start with Redis up, and let a fleet-open circuit
 * close for a tick). */
static inline uint64_t ms_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

#endif /* STEERD_CLOCK_H */
