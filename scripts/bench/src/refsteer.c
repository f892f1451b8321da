// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * refsteer - loads the reference steering program (ref_steer.bpf.c) next to
 * a loaded steer and swaps either pair of programs into steer's own pinned
 * links (bpf_link_update), so exactly one sk_lookup and one sockops run at
 * a time, against the same worker listeners, in the same namespace.
 *
 *   refsteer load DIR LINKS IP:PORT PID FD N
 *       load the reference for service IP:PORT (IPv4) with the N listeners
 *       PID holds as FD..FD+N-1; pin its programs in DIR as ref_lookup and
 *       ref_sockops, and the programs now in steer's links (LINKS: the pin
 *       dir of steer's links) as steer_lookup and steer_sockops
 *   refsteer use ref|steer DIR LINKS
 *       put that pair into steer's links
 *
 *   make bench-tools   (build/refsteer)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ref_steer.h"
#include "sockets.h"
#include "ref_steer.skel.h"

static const char *const progs[] = { "lookup", "sockops" };

static int fail(const char *what)
{
	fprintf(stderr, "Error: %s: %s\n", what, strerror(errno));
	return 1;
}

static void pin_path(char *buf, size_t len, const char *dir, const char *who, const char *prog)
{
	snprintf(buf, len, "%s/%s_%s", dir, who, prog);
}

/* pin the program now in steer's link LINKS/prog as DIR/steer_prog */
static int pin_steer_prog(const char *dir, const char *links, const char *prog)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	char path[4096];
	int link, fd;

	snprintf(path, sizeof(path), "%s/%s", links, prog);
	link = bpf_obj_get(path);
	if (link < 0)
		return fail(path);
	if (bpf_obj_get_info_by_fd(link, &info, &len))
		return fail("link info");
	close(link);
	fd = bpf_prog_get_fd_by_id(info.prog_id);
	if (fd < 0)
		return fail("steer's program");
	pin_path(path, sizeof(path), dir, "steer", prog);
	if (bpf_obj_pin(fd, path))
		return fail(path);
	close(fd);
	return 0;
}

static int do_load(char **argv)
{
	const char *dir = argv[0], *links = argv[1];
	struct ref_svc_key key = { .prefixlen = REF_SVC_FIXED_BITS + 32 };
	char *colon = strrchr(argv[2], ':'), err[STEER_ERR_LEN], path[4096];
	uint32_t pid = (uint32_t)atoi(argv[3]), fd0 = (uint32_t)atoi(argv[4]), zero = 0;
	int n = atoi(argv[5]), ret = 1;
	struct ref_steer_bpf *skel;
	struct stat ns;

	if (!colon || n <= 0 || n > STEER_MAX_POOL_WORKERS) {
		fprintf(stderr, "Error: bad service or count\n");
		return 2;
	}
	*colon = '\0';
	key.port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, argv[2], &key.addr) != 1) {
		fprintf(stderr, "Error: bad IPv4 address %s\n", argv[2]);
		return 2;
	}
	if (stat("/proc/self/ns/net", &ns))
		return fail("netns");
	skel = ref_steer_bpf__open_and_load();
	if (!skel)
		return fail("load ref_steer");
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ref_services), &key, &zero, BPF_ANY)) {
		fail("service");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct ref_tag tag = { .id = (uint32_t)i };
		struct listener l;
		uint64_t v;
		uint32_t k = (uint32_t)i;

		if (listener_take_by_fd(pid, fd0 + (uint32_t)i, (uint64_t)ns.st_ino, &l, err)) {
			fprintf(stderr, "Error: %s\n", err);
			goto out;
		}
		v = (uint64_t)l.fd;
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ref_tags), &l.fd, &tag, BPF_ANY) ||
		    bpf_map_update_elem(bpf_map__fd(skel->maps.ref_socks), &k, &v, BPF_ANY)) {
			fail("listener into the maps");
			close(l.fd);
			goto out;
		}
		close(l.fd);	/* the map holds it; it must go when the worker closes it */
	}
	skel->bss->ref_n = (uint32_t)n;
	pin_path(path, sizeof(path), dir, "ref", "lookup");
	if (bpf_program__pin(skel->progs.ref_lookup, path)) {
		fail(path);
		goto out;
	}
	pin_path(path, sizeof(path), dir, "ref", "sockops");
	if (bpf_program__pin(skel->progs.ref_sockops, path)) {
		fail(path);
		goto out;
	}
	ret = pin_steer_prog(dir, links, "lookup") || pin_steer_prog(dir, links, "sockops");
out:
	ref_steer_bpf__destroy(skel);
	return ret;
}

static int do_use(char **argv)
{
	const char *who = argv[0], *dir = argv[1], *links = argv[2];
	char path[4096];

	if (strcmp(who, "ref") && strcmp(who, "steer")) {
		fprintf(stderr, "Error: use ref or steer, not %s\n", who);
		return 2;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		int link, prog;

		snprintf(path, sizeof(path), "%s/%s", links, progs[i]);
		link = bpf_obj_get(path);
		if (link < 0)
			return fail(path);
		pin_path(path, sizeof(path), dir, who, progs[i]);
		prog = bpf_obj_get(path);
		if (prog < 0)
			return fail(path);
		if (bpf_link_update(link, prog, NULL))
			return fail("bpf_link_update");
		close(prog);
		close(link);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "load"))
		return do_load(argv + 2);
	if (argc == 5 && !strcmp(argv[1], "use"))
		return do_use(argv + 2);
	fprintf(stderr, "Usage: refsteer load DIR LINKS IP:PORT PID FD N\n"
			"       refsteer use ref|steer DIR LINKS\n");
	return 2;
}
