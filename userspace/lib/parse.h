/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* parse.h - validating parsers for what operators type. Each returns 0 on
 * success or -1 after writing a one-line reason into err. */
#ifndef STEER_PARSE_H
#define STEER_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "steer.h"
#include "netaddr.h"

#define STEER_ERR_LEN 256

struct steer_prefix {
	uint8_t addr[16];	/* IPv4-mapped for IPv4 */
	uint32_t prefixlen;	/* as written: 0..32 or 0..128 */
	uint32_t family;	/* STEER_FAMILY_V4 / _V6 */
};


int parse_name(const char *s, const char *what, char *err);
int parse_u32(const char *s, const char *what, uint32_t min, uint32_t max, uint32_t *out, char *err);
int parse_u64(const char *s, const char *what, uint64_t max, uint64_t *out, char *err);
/* a decimal number > 0 and <= max, such as a rate */
int parse_positive(const char *s, const char *what, double max, double *out, char *err);
int parse_prefix(const char *s, struct steer_prefix *out, char *err);
int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi, char *err);
int parse_endpoint(const char *s, struct steer_endpoint *out, char *err);
int parse_policy(const char *s, uint32_t *out, char *err);

const char *policy_name(uint32_t policy);
const char *state_name(uint32_t state);
/* mapped-space prefix length of a prefix as written */
uint32_t prefix_mapped_len(const struct steer_prefix *p);

#endif
