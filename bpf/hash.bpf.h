/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* hash.bpf.h - the 32-bit mix behind the hash policy and the flow tags */
#ifndef STEER_HASH_BPF_H
#define STEER_HASH_BPF_H

#define STEER_HASH_SEED	0x9747b28c

/* One word into h: the murmur3 finaliser. */
static __always_inline __u32 mix32(__u32 h, __u32 w)
{
	h ^= w;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	return h ^ (h >> 16);
}

#endif /* STEER_HASH_BPF_H */
