/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* inet.bpf.h - the socket constants the programs test (vmlinux.h has
 * types, not #defines) and the family of a packet in steer's terms. */
#ifndef STEER_INET_BPF_H
#define STEER_INET_BPF_H

#include <bpf/bpf_endian.h>
#include "steer.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6

/* word 2 of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), network order */
#define V4_MAPPED_WORD	bpf_htonl(0xffff)

/* STEER_FAMILY_V4 or STEER_FAMILY_V6: an IPv4 packet always comes as AF_INET */
static __always_inline __u32 lookup_family(const struct bpf_sk_lookup *ctx)
{
	return ctx->family == AF_INET ? STEER_FAMILY_V4 : STEER_FAMILY_V6;
}

#endif /* STEER_INET_BPF_H */
