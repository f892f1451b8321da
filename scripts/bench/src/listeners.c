// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * listeners - many worker listeners in one process, for benchmarks at 1,024
 * workers without 1,024 processes. Listens on IP:PORT .. PORT+N-1, prints
 * "ready PID FIRST_FD" (the listeners hold fds FIRST_FD .. FIRST_FD+N-1),
 * accepts every connection, writes "w<PORT>\n" and closes it. The fds
 * are contiguous even when the process inherited stray fds (they are
 * moved above the highest fd open at start).
 *
 *   make bench-tools   (build/listeners; the Makefile lists its sources)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "netaddr.h"

static int listen_on(const char *ip, int port)
{
	struct steer_endpoint ep = { .port = (uint16_t)port };

	if (netaddr_parse_ip(ip, ep.addr, &ep.family) || ep.family != STEER_FAMILY_V4)
		return -1;
	return netaddr_listen(&ep, 4096);
}

/* The highest fd open now (inherited ones included). */
static int highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int max = 2;

	if (!d)
		return 1023;
	while ((e = readdir(d)))
		if (atoi(e->d_name) > max)
			max = atoi(e->d_name);
	closedir(d);
	return max;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int first = -1, ep, port, n;
	char *colon;

	if (argc != 3 || !(colon = strrchr(argv[1], ':')) || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "Usage: listeners IP:PORT COUNT\n");
		return 2;
	}
	*colon = '\0';
	port = atoi(colon + 1);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ep = epoll_create1(0);
	first = highest_fd() + 1;
	for (int i = 0; i < n; i++) {
		int fd = listen_on(argv[1], port + i);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(port + i) };

		if (fd < 0) {
			fprintf(stderr, "Error: listen on %s:%d: %s\n", argv[1], port + i, strerror(errno));
			return 1;
		}
		if (fd != first + i) {	/* keep FIRST_FD .. FIRST_FD+N-1 contiguous */
			if (dup2(fd, first + i) < 0) {
				fprintf(stderr, "Error: dup2: %s\n", strerror(errno));
				return 1;
			}
			close(fd);
			fd = first + i;
		}
		ev.data.u64 = ((uint64_t)fd << 32) | (uint32_t)(port + i);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	printf("ready %d %d\n", getpid(), first);
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < k; i++) {
			int lfd = (int)(evs[i].data.u64 >> 32), c;
			char name[16];
			int len = snprintf(name, sizeof(name), "w%u\n", (uint32_t)evs[i].data.u64);

			while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				if (write(c, name, (size_t)len) < 0)
					perror("write");
				close(c);
			}
		}
	}
}
