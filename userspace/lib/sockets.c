// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sockios.h>
#include "loader.h"
#include "sockets.h"

#define TCP_LISTEN_STATE 0x0A
#define MAX_CANDIDATES 8

/* One row of /proc/net/tcp{,6}: the address is printed as the raw 32-bit
 * words of the network-order address. */
static int parse_proc_row(const char *line, int v6, uint8_t addr[16], uint16_t *port,
			  unsigned *state, unsigned long *inode)
{
	char local[64];
	unsigned p;

	if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", local, &p, state,
		   inode) != 4)
		return -1;
	memset(addr, 0, 16);
	if (!v6) {
		uint32_t w = (uint32_t)strtoul(local, NULL, 16);

		netaddr_map4(addr, &w);
	} else {
		if (strlen(local) != 32)
			return -1;
		for (int i = 0; i < 4; i++) {
			char word[9];
			uint32_t w;

			memcpy(word, local + i * 8, 8);
			word[8] = '\0';
			w = (uint32_t)strtoul(word, NULL, 16);
			memcpy(addr + i * 4, &w, 4);
		}
	}
	*port = (uint16_t)p;
	return 0;
}

/* Inodes of listeners on ep: exact address matches, or failing those,
 * wildcard ones. Returns how many, -1 on error. */
static int find_listener_inodes(const struct steer_endpoint *ep, unsigned long *inodes)
{
	const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned long wild[MAX_CANDIDATES];
	int nexact = 0, nwild = 0;
	char line[512];

	for (int v6 = 0; v6 < 2; v6++) {
		FILE *f = fopen(files[v6], "r");

		if (!f)
			continue;	/* no IPv6 on this host */
		while (fgets(line, sizeof(line), f)) {
			uint8_t addr[16];
			uint16_t port;
			unsigned state;
			unsigned long inode;

			if (parse_proc_row(line, v6, addr, &port, &state, &inode) ||
			    state != TCP_LISTEN_STATE || port != ep->port)
				continue;
			if (!memcmp(addr, ep->addr, 16) && nexact < MAX_CANDIDATES)
				inodes[nexact++] = inode;
			else if (netaddr_is_wildcard(addr) && nwild < MAX_CANDIDATES)
				wild[nwild++] = inode;
		}
		fclose(f);
	}
	if (nexact)
		return nexact;
	memcpy(inodes, wild, sizeof(wild[0]) * (size_t)nwild);
	return nwild;
}

/* First (pid, fd) holding socket inode. With skip, not pid skip nor pid 1:
 * systemd holds every socket unit's fd, it is not the worker. */
static int find_socket_owner(unsigned long inode, pid_t skip, uint32_t *pid, uint32_t *fd)
{
	char want[64], path[300], target[64];
	struct dirent *p, *f;
	DIR *proc = opendir("/proc");
	int found = -1;

	if (!proc)
		return -1;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while (found && (p = readdir(proc))) {
		DIR *fds;

		if (p->d_name[0] < '1' || p->d_name[0] > '9' ||
		    (skip && (atoi(p->d_name) == skip || atoi(p->d_name) == 1)))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		if (!(fds = opendir(path)))
			continue;
		while ((f = readdir(fds))) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, f->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (!strcmp(target, want)) {
				*pid = (uint32_t)atoi(p->d_name);
				*fd = (uint32_t)atoi(f->d_name);
				found = 0;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

static int sock_int_opt(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, level, name, val, &len);
}

/* A listening TCP socket of the steered namespace, or a reason why not. */
static int inspect_listener(int fd, uint64_t netns_ino, struct listener *out, char *err)
{
	struct sockaddr_storage ss;
	struct steer_endpoint ep;
	socklen_t len = sizeof(ss);
	int domain, proto, type, listening, v6only = 0, nsfd;
	struct stat st;

	if (sock_int_opt(fd, SOL_SOCKET, SO_DOMAIN, &domain) ||
	    sock_int_opt(fd, SOL_SOCKET, SO_TYPE, &type) ||
	    sock_int_opt(fd, SOL_SOCKET, SO_PROTOCOL, &proto) ||
	    sock_int_opt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) ||
	    (domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM ||
	    proto != IPPROTO_TCP || !listening) {
		snprintf(err, STEER_ERR_LEN, "fd is not a listening TCP socket");
		return STEER_EINPUT;
	}
	nsfd = ioctl(fd, SIOCGSKNS);
	if (nsfd < 0 || fstat(nsfd, &st)) {
		snprintf(err, STEER_ERR_LEN, "cannot read the socket's network namespace: %s",
			 strerror(errno));
		if (nsfd >= 0)
			close(nsfd);
		return STEER_ESYS;
	}
	close(nsfd);
	if ((uint64_t)st.st_ino != netns_ino) {
		snprintf(err, STEER_ERR_LEN,
			 "socket belongs to another network namespace than the one steer is attached to");
		return STEER_EINPUT;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &out->cookie, &(socklen_t){ sizeof(out->cookie) })) {
		snprintf(err, STEER_ERR_LEN, "cannot read the socket: %s", strerror(errno));
		return STEER_ESYS;
	}
	if (netaddr_from_sockaddr((struct sockaddr *)&ss, &ep)) {
		snprintf(err, STEER_ERR_LEN, "fd is not a listening TCP socket");
		return STEER_EINPUT;
	}
	memcpy(out->addr, ep.addr, sizeof(out->addr));
	out->port = ep.port;
	out->family_mask = STEER_FAMILY_V4;
	if (domain == AF_INET6) {
		sock_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only);
		/* sk_assign hands IPv4 to an IPv6 socket unless it is v6only */
		out->family_mask = STEER_FAMILY_V6 | (v6only ? 0 : STEER_FAMILY_V4);
	}
	out->fd = fd;
	return STEER_OK;
}

int listener_take_by_fd(uint32_t pid, uint32_t fd, uint64_t netns_ino, struct listener *out,
			char *err)
{
	int pidfd, sock, ret;

	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0) {
		snprintf(err, STEER_ERR_LEN, "no process %u: %s", pid, strerror(errno));
		return STEER_EINPUT;
	}
	sock = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	close(pidfd);
	if (sock < 0) {
		snprintf(err, STEER_ERR_LEN, "cannot take fd %u of process %u: %s", fd, pid,
			 strerror(errno));
		return errno == EBADF ? STEER_EINPUT : STEER_ESYS;
	}
	ret = inspect_listener(sock, netns_ino, out, err);
	if (ret) {
		close(sock);
		return ret;
	}
	out->pid = pid;
	return STEER_OK;
}

int listener_take_by_addr(const struct steer_endpoint *ep, uint64_t netns_ino,
			  struct listener *out, char *err)
{
	unsigned long inodes[MAX_CANDIDATES];
	char where[NETADDR_ENDPOINT_LEN];
	uint32_t pid, fd;
	int n = find_listener_inodes(ep, inodes);

	netaddr_format_endpoint(ep->addr, ep->port, where, sizeof(where));
	if (n <= 0) {
		snprintf(err, STEER_ERR_LEN, "no TCP listener on %s in this network namespace", where);
		return STEER_EINPUT;
	}
	if (n > 1) {
		snprintf(err, STEER_ERR_LEN,
			 "%d listeners on %s (a reuseport group?): name one with --pid and --fd", n,
			 where);
		return STEER_EINPUT;
	}
	/* init (systemd) holds every socket unit's fd: the worker is another
	 * holder when there is one (its pid is the one the lobby needs) */
	if (find_socket_owner(inodes[0], getpid(), &pid, &fd) &&
	    find_socket_owner(inodes[0], 0, &pid, &fd)) {
		snprintf(err, STEER_ERR_LEN, "no process holds the listener on %s", where);
		return STEER_EINPUT;
	}
	return listener_take_by_fd(pid, fd, netns_ino, out, err);
}

int listener_take_passed(int fd, uint64_t netns_ino, struct listener *out, char *err)
{
	uint32_t owner = 0, ofd;
	struct stat st;
	int ret = inspect_listener(fd, netns_ino, out, err);

	if (ret) {
		close(fd);
		return ret;
	}
	if (!fstat(fd, &st))
		find_socket_owner((unsigned long)st.st_ino, getpid(), &owner, &ofd);
	out->pid = owner;
	return STEER_OK;
}
