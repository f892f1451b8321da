/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* ref_steer.h - the reference steering program's map keys and values
 * (ref_steer.bpf.c, refsteer.c). Its sizes are steer's own (bpf/steer.h). */
#ifndef REF_STEER_H
#define REF_STEER_H

#include "steer.h"

/* one service: (port, IPv4 address) under a prefix length, as steer's */
struct ref_svc_key {
	__u32 prefixlen;	/* REF_SVC_FIXED_BITS + address bits */
	__u16 port;		/* network order: LPM compares bytes */
	__u16 pad;		/* always 0 */
	__u32 addr;		/* network order */
};
#define REF_SVC_FIXED_BITS	32	/* port and pad: always matched in full */

/* a worker listener's tag, cloned into its children */
struct ref_tag {
	__u32 id;
	__u32 counted;
};

#endif
