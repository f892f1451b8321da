// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "parse.h"
#include "cgroup.h"
#include "loader.h"
#include "steer.skel.h"

const char *const steer_map_names[MAP_COUNT] = {
	[MAP_SERVICES_LPM] = "services_lpm",
	[MAP_SERVICES] = "services",
	[MAP_SERVICE_STATS] = "service_stats",
	[MAP_SERVICE_REFUSALS] = "service_refusals",
	[MAP_POOLS] = "pools",
	[MAP_POOL_STATS] = "pool_stats",
	[MAP_POOL_LIMITS] = "pool_limits",
	[MAP_POOL_BUDGETS] = "pool_budgets",
	[MAP_POOL_TABLES] = "pool_tables",
	[MAP_WORKERS] = "workers",
	[MAP_WORKER_STATS] = "worker_stats",
	[MAP_WORKER_SOCKS] = "worker_socks",
	[MAP_WORKER_TAGS] = "worker_tags",
	[MAP_POOL_LOBBIES] = "pool_lobbies",
	[MAP_LOBBY_STATS] = "lobby_stats",
	[MAP_LOBBY_SOCKS] = "lobby_socks",
	[MAP_WORKER_LOBBY] = "worker_lobby",
	[MAP_WORKER_BY_TGID] = "worker_by_tgid",
	[MAP_RECENT_PICKS] = "recent_picks",
	[MAP_RECENT_HINTS] = "recent_hints",
	[MAP_RECENT_LAST] = "recent_last",
	[MAP_MONITOR_RINGS] = "monitor_rings",
	[MAP_MONITOR_CTL] = "monitor_ctl",
	[MAP_MONITOR_CPU] = "monitor_cpu",
	[MAP_BUDGET_WAKES] = "budget_wakes",
};

/* sk_lookup, sockops and the lobby's two tracepoint programs (the first
 * read or write of a lobby connection moves it to the worker that took it) */
#define NLINKS	4
#define LINK_FIRST_TRACE	2
static const char *const link_names[NLINKS] = { "lookup", "sockops", "recv", "send" };

/* libbpf writes its own multi-line warnings to stderr; our errors say the
 * same in one line. They are kept for $STEER_DEBUG (verifier logs). */
/* The program of link i (i >= LINK_FIRST_TRACE) */
static struct bpf_program *trace_prog(struct steer_bpf *skel, int i)
{
	return i == LINK_FIRST_TRACE ? skel->progs.steer_recv : skel->progs.steer_send;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!getenv("STEER_DEBUG") || (level == LIBBPF_DEBUG && strcmp(getenv("STEER_DEBUG"), "2")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void steer_libbpf_quiet(void)
{
	libbpf_set_print(libbpf_print);
}

int steer_paths_init(struct steer_paths *p, const char *opt, char *err)
{
	const char *root = opt ? opt : getenv("STEER_BPFFS");

	if (!root || !*root)
		root = "/sys/fs/bpf";
	if (strlen(root) + sizeof("/steer/links/sockops") >= sizeof(p->root)) {
		snprintf(err, STEER_ERR_LEN, "bpffs path '%s' is too long", root);
		return STEER_EINPUT;
	}
	snprintf(p->root, sizeof(p->root), "%s", root);
	snprintf(p->dir, sizeof(p->dir), "%s/steer", root);
	return STEER_OK;
}

static void path_join(char *buf, size_t len, const char *dir, const char *sub, const char *name)
{
	snprintf(buf, len, "%s/%s/%s", dir, sub, name);
}

/* An open of the pins failed with errno: missing means nothing is loaded;
 * denied means we may not look (an unprivileged user), which is not the
 * same and must not read as "not loaded". */
static int open_error(const char *path, char *err)
{
	if (errno == EACCES || errno == EPERM) {
		snprintf(err, STEER_ERR_LEN, "permission denied: cannot open %s (needs root or "
			 "CAP_BPF)", path);
		return STEER_ESYS;
	}
	if (errno == ENOENT || errno == ENOTDIR) {
		snprintf(err, STEER_ERR_LEN, "steer is not loaded at %s (run 'steerctl load')", path);
		return STEER_EINPUT;
	}
	if (errno == ENAMETOOLONG || errno == ELOOP) {	/* a --bpffs no one could use */
		snprintf(err, STEER_ERR_LEN, "cannot use %s: %s", path, strerror(errno));
		return STEER_EINPUT;
	}
	snprintf(err, STEER_ERR_LEN, "cannot open %s: %s", path, strerror(errno));
	return STEER_ESYS;
}

/* The writers' lock: an flock on the pin dir DIR/steer itself. That
 * directory is made before anything is pinned in it and never removed
 * (unload removes only what is inside), so every writer (load, unload,
 * upgrade and each map writer) locks the same inode, loaded or not. */
static int lock_dir(const char *dir, bool create, int *fd, char *err)
{
	if (create && mkdir(dir, 0700) && errno != EEXIST) {
		if (errno == EACCES || errno == EPERM)
			return open_error(dir, err);
		snprintf(err, STEER_ERR_LEN, "cannot create %s: %s", dir, strerror(errno));
		return STEER_ESYS;
	}
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return open_error(dir, err);
	if (flock(*fd, LOCK_EX)) {
		snprintf(err, STEER_ERR_LEN, "cannot lock %s: %s", dir, strerror(errno));
		close(*fd);
		*fd = -1;
		return STEER_ESYS;
	}
	return STEER_OK;
}

static void unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd);
}

int steer_is_loaded(const struct steer_paths *p)
{
	char path[PATH_MAX];

	path_join(path, sizeof(path), p->dir, "links", "lookup");
	return access(path, F_OK) == 0;
}

/* Mount bpffs at root unless it already is one (a fresh machine has none). */
static bool is_bpffs(const char *root)
{
	struct statfs st;

	return !statfs(root, &st) && st.f_type == BPF_FS_MAGIC;
}

/* Two loads on a fresh machine must not both mount: they take turns on a
 * lock of the directory underneath, and the second sees the first's mount. */
static int ensure_bpffs(const char *root, char *err)
{
	int fd = -1, ret = STEER_ESYS;

	if (is_bpffs(root))
		return STEER_OK;
	if (mkdir(root, 0700) && errno != EEXIST)
		goto out;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX))
		goto out;
	if (is_bpffs(root) || !mount("bpf", root, "bpf", 0, "mode=0700"))
		ret = STEER_OK;
out:
	if (ret)
		snprintf(err, STEER_ERR_LEN, "cannot mount bpffs at %s: %s", root, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

static int make_dirs(const struct steer_paths *p, char *err)
{
	const char *subs[] = { "/maps", "/links" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", p->dir, subs[i]);
		if (mkdir(path, 0700) && errno != EEXIST) {
			snprintf(err, STEER_ERR_LEN, "cannot create %s: %s", path, strerror(errno));
			return STEER_ESYS;
		}
	}
	return STEER_OK;
}

/* Take back the pins this load made, and only those. */
static void unpin_ours(struct steer_bpf *skel, struct bpf_link *links[NLINKS])
{
	struct bpf_map *map;

	for (int i = 0; i < NLINKS; i++)
		if (links[i] && bpf_link__pin_path(links[i]))
			bpf_link__unpin(links[i]);
	bpf_object__for_each_map(map, skel->obj)
		if (!bpf_map__is_internal(map) && bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
}

/* Pin maps first, then links: steer counts as loaded once links/lookup is
 * there. On failure, what was pinned here is unpinned again. */
static int pin_all(struct steer_bpf *skel, const struct steer_paths *p,
		   struct bpf_link *links[NLINKS], char *err)
{
	char path[PATH_MAX];
	struct bpf_map *map;

	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;	/* .rodata and friends: the programs' own */
		path_join(path, sizeof(path), p->dir, "maps", bpf_map__name(map));
		if (bpf_map__pin(map, path))
			goto fail;
	}
	/* lookup last: steer counts as loaded once links/lookup is there */
	for (int i = NLINKS - 1; i >= 0; i--) {
		path_join(path, sizeof(path), p->dir, "links", link_names[i]);
		if (bpf_link__pin(links[i], path))
			goto fail;
	}
	return STEER_OK;
fail:
	snprintf(err, STEER_ERR_LEN, "cannot pin %s: %s", path, strerror(errno));
	unpin_ours(skel, links);
	return STEER_ESYS;
}

static int unlink_pin(const char *path, char *err)
{
	if (unlink(path) && errno != ENOENT) {
		snprintf(err, STEER_ERR_LEN, "cannot remove %s: %s", path, strerror(errno));
		return STEER_ESYS;
	}
	return STEER_OK;
}

/* Every pin of ours under the pin dir, links first: traffic returns to
 * the kernel's own lookup at once. Call with the lock held. */
static int remove_pins(const struct steer_paths *p, char *err)
{
	char path[PATH_MAX];
	int ret = STEER_OK;

	for (size_t i = 0; i < sizeof(link_names) / sizeof(link_names[0]); i++) {
		path_join(path, sizeof(path), p->dir, "links", link_names[i]);
		ret |= unlink_pin(path, err);
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		path_join(path, sizeof(path), p->dir, "maps", steer_map_names[i]);
		ret |= unlink_pin(path, err);
	}
	snprintf(path, sizeof(path), "%s/links", p->dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/maps", p->dir);
	rmdir(path);
	return ret ? STEER_ESYS : STEER_OK;
}

/* Anything of a load there: its links or its maps directory. */
static bool any_pins(const struct steer_paths *p)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/maps", p->dir);
	return steer_is_loaded(p) || access(path, F_OK) == 0;
}

static int open_target(const char *path, const char *what, char *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		snprintf(err, STEER_ERR_LEN, "cannot open %s %s: %s", what, path, strerror(errno));
	return fd;
}

int steer_load(const struct steer_paths *p, const char *netns, const char *cgroup, char *err)
{
	struct bpf_link *links[NLINKS] = { NULL };
	struct steer_bpf *skel = NULL;
	char cgroot[PATH_MAX];
	int netns_fd = -1, cg_fd = -1, lock_fd = -1, ret = STEER_ESYS;

	if (!cgroup) {
		if (cgroup2_mount(cgroot, sizeof(cgroot))) {
			snprintf(err, STEER_ERR_LEN, "no cgroup v2 hierarchy in /proc/mounts");
			return STEER_ESYS;
		}
		cgroup = cgroot;
	}
	netns_fd = open_target(netns ? netns : "/proc/self/ns/net", "network namespace", err);
	if (netns_fd < 0)
		return STEER_EINPUT;
	cg_fd = open_target(cgroup, "cgroup", err);
	if (cg_fd < 0) {
		ret = STEER_EINPUT;
		goto cleanup;
	}
	if ((ret = ensure_bpffs(p->root, err)) || (ret = lock_dir(p->dir, true, &lock_fd, err)))
		goto cleanup;
	if (steer_is_loaded(p)) {
		snprintf(err, STEER_ERR_LEN, "steer is already loaded at %s", p->dir);
		ret = STEER_EINPUT;
		goto cleanup;
	}
	/* Pins without links: a load or unload killed half-way (we hold
	 * the lock, so no one is at work on them). Start clean. */
	if ((ret = remove_pins(p, err)))
		goto cleanup;
	ret = STEER_ESYS;
	skel = steer_bpf__open_and_load();
	if (!skel) {
		snprintf(err, STEER_ERR_LEN, "cannot load the BPF programs: %s", strerror(errno));
		goto cleanup;
	}
	links[0] = bpf_program__attach_netns(skel->progs.steer_lookup, netns_fd);
	if (!links[0]) {
		snprintf(err, STEER_ERR_LEN, "cannot attach sk_lookup to the network namespace: %s",
			 strerror(errno));
		goto cleanup;
	}
	links[1] = bpf_program__attach_cgroup(skel->progs.steer_sockops, cg_fd);
	if (!links[1]) {
		snprintf(err, STEER_ERR_LEN, "cannot attach sockops to cgroup %s: %s", cgroup,
			 strerror(errno));
		goto cleanup;
	}
	for (int i = LINK_FIRST_TRACE; i < NLINKS; i++) {
		links[i] = bpf_program__attach_trace(trace_prog(skel, i));
		if (!links[i]) {
			snprintf(err, STEER_ERR_LEN, "cannot attach the %s tracepoint program: %s",
				 link_names[i], strerror(errno));
			goto cleanup;
		}
	}
	if ((ret = make_dirs(p, err)) || (ret = pin_all(skel, p, links, err)))
		goto cleanup;
	ret = STEER_OK;
cleanup:
	/* The pins keep the links and maps alive once we let go. */
	for (int i = 0; i < NLINKS; i++)
		bpf_link__destroy(links[i]);
	steer_bpf__destroy(skel);
	if (cg_fd >= 0)
		close(cg_fd);
	close(netns_fd);
	unlock_dir(lock_fd);
	return ret;
}

int steer_ensure_loaded(const struct steer_paths *p, const char *netns, const char *cgroup,
			bool *loaded, char *err)
{
	int ret = steer_load(p, netns, cgroup, err);

	*loaded = ret == STEER_OK;
	if (ret == STEER_EINPUT && steer_is_loaded(p))
		return STEER_OK;	/* someone else's load won: fine by us */
	return ret;
}

/* Maps that hold only hints or a passing view, never state: when a new
 * version changes their layout, upgrade starts them empty instead of
 * refusing (a running monitor then stops with an error and is started
 * again). */
static bool map_holds_hints(const struct bpf_map *map)
{
	static const char *const hints[] = { "recent_picks", "recent_hints", "recent_last",
					     "monitor_rings", "monitor_ctl", "monitor_cpu",
					     "budget_wakes" };

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (!strcmp(bpf_map__name(map), hints[i]))
			return true;
	return false;
}

static bool same_layout(const struct bpf_map *map, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	return info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	       info.value_size == bpf_map__value_size(map) &&
	       info.max_entries == bpf_map__max_entries(map) &&
	       info.map_flags == bpf_map__map_flags(map);
}

/* Point every map of skel at the pinned one, so the new programs use the
 * running state. A map the running version lacks, or a hint map whose
 * layout changed, is created new and pinned once the programs are swapped
 * (*repin). A state map whose layout changed is refused: its contents would
 * be lost, and nothing has been touched yet. */
static int reuse_pinned_maps(struct steer_bpf *skel, const struct steer_paths *p, bool *repin,
			     char *err)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int i = 0;

	bpf_object__for_each_map(map, skel->obj) {
		int fd, ret;

		if (bpf_map__is_internal(map))
			continue;
		if (i >= MAP_COUNT) {
			snprintf(err, STEER_ERR_LEN, "the new programs have more maps than steerctl knows");
			return STEER_ESYS;
		}
		repin[i] = false;
		path_join(path, sizeof(path), p->dir, "maps", bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0 && errno == ENOENT) {
			repin[i++] = true;
			continue;
		}
		if (fd < 0) {
			snprintf(err, STEER_ERR_LEN, "cannot open pinned map %s: %s", path, strerror(errno));
			return STEER_ESYS;
		}
		if (!same_layout(map, fd)) {
			close(fd);
			if (!map_holds_hints(map)) {
				snprintf(err, STEER_ERR_LEN,
					 "map %s changed layout in this version: its state cannot be "
					 "carried over (unload and load)", path);
				return STEER_EINPUT;
			}
			repin[i++] = true;
			continue;
		}
		ret = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (ret) {
			snprintf(err, STEER_ERR_LEN, "cannot reuse map %s: %s", path, strerror(-ret));
			return STEER_ESYS;
		}
		i++;
	}
	return STEER_OK;
}

/* The new programs read recent_picks only while a flow was recorded
 * moments ago (recent_last): the running version may have recorded one
 * just now, and may not keep recent_last at all. STEER_RECENT_SWAPPED makes
 * the new programs' first decision stamp its own clock (ours may be
 * another, in a time namespace). Written before the swap and again after
 * it, for what the old sockops recorded until its link moved. */
static int mark_swapped(int recent_last_fd, char *err)
{
	struct steer_recent_last last = { .stamp_ms = STEER_RECENT_SWAPPED };
	__u32 zero = 0;

	if (bpf_map_update_elem(recent_last_fd, &zero, &last, BPF_ANY)) {
		snprintf(err, STEER_ERR_LEN, "cannot mark recent_last: %s", strerror(errno));
		return STEER_ESYS;
	}
	return STEER_OK;
}

/* Pin the maps reuse_pinned_maps() left to be created, over any old pin. */
static int pin_new_maps(struct steer_bpf *skel, const struct steer_paths *p, const bool *repin,
			char *err)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int i = 0;

	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map) || i >= MAP_COUNT || !repin[i++])
			continue;
		path_join(path, sizeof(path), p->dir, "maps", bpf_map__name(map));
		if ((unlink(path) && errno != ENOENT) || bpf_map__pin(map, path)) {
			snprintf(err, STEER_ERR_LEN, "cannot pin the new map %s: %s", path,
				 strerror(errno));
			return STEER_ESYS;
		}
	}
	return STEER_OK;
}

/* Attach tracepoint program i and pin its link at path, in place of the
 * running version's (a tracing link cannot swap its program, and bpffs
 * renames nothing): the new link is attached first, then the old pin (and
 * with it the old link) goes, then the new one is pinned; no moment runs
 * without one. Both run for a moment: a lobby child is moved once,
 * whichever moves it (lobby_take). */
static int attach_trace(struct steer_bpf *skel, int i, const char *path, char *err)
{
	struct bpf_link *link = bpf_program__attach_trace(trace_prog(skel, i));
	int ret = STEER_OK;

	if (!link || (unlink(path) && errno != ENOENT) || bpf_link__pin(link, path)) {
		snprintf(err, STEER_ERR_LEN, "cannot attach the program of %s: %s", path,
			 strerror(errno));
		ret = STEER_ESYS;
	}
	bpf_link__destroy(link);
	return ret;
}

int steer_upgrade(const struct steer_paths *p, char *err)
{
	bool repin[MAP_COUNT] = { false };
	struct bpf_program *progs[NLINKS];
	struct steer_bpf *skel;
	char path[PATH_MAX];
	int lock_fd = -1, ret;

	if ((ret = lock_dir(p->dir, false, &lock_fd, err)))
		return ret;
	if (!steer_is_loaded(p)) {
		snprintf(err, STEER_ERR_LEN, "steer is not loaded at %s (run 'steerctl load')", p->dir);
		unlock_dir(lock_fd);
		return STEER_EINPUT;
	}
	skel = steer_bpf__open();
	if (!skel) {
		snprintf(err, STEER_ERR_LEN, "cannot open the BPF programs: %s", strerror(errno));
		unlock_dir(lock_fd);
		return STEER_ESYS;
	}
	if ((ret = reuse_pinned_maps(skel, p, repin, err)))
		goto cleanup;
	ret = STEER_ESYS;
	if (steer_bpf__load(skel)) {
		snprintf(err, STEER_ERR_LEN,
			 "cannot load the new programs against the running maps: %s (a map layout "
			 "changed? then unload and load)", strerror(errno));
		goto cleanup;
	}
	if ((ret = mark_swapped(bpf_map__fd(skel->maps.recent_last), err)))
		goto cleanup;
	ret = STEER_ESYS;
	progs[0] = skel->progs.steer_lookup;
	progs[1] = skel->progs.steer_sockops;
	progs[2] = skel->progs.steer_recv;
	progs[3] = skel->progs.steer_send;
	for (int i = 0; i < NLINKS; i++) {
		int link;

		path_join(path, sizeof(path), p->dir, "links", link_names[i]);
		if (i >= LINK_FIRST_TRACE) {
			/* attached anew (also when the running version had none) */
			if ((ret = attach_trace(skel, i, path, err)))
				goto cleanup;
			continue;
		}
		link = bpf_obj_get(path);
		if (link < 0 || bpf_link_update(link, bpf_program__fd(progs[i]), NULL)) {
			snprintf(err, STEER_ERR_LEN, "cannot swap the program in %s: %s", path,
				 strerror(errno));
			if (link >= 0)
				close(link);
			goto cleanup;
		}
		close(link);
	}
	if ((ret = mark_swapped(bpf_map__fd(skel->maps.recent_last), err)))
		goto cleanup;
	ret = pin_new_maps(skel, p, repin, err);
cleanup:
	steer_bpf__destroy(skel);
	unlock_dir(lock_fd);
	return ret;
}

int steer_unload(const struct steer_paths *p, char *err)
{
	int lock_fd = -1, ret;

	if ((ret = lock_dir(p->dir, false, &lock_fd, err)))
		return ret;
	if (!any_pins(p)) {
		snprintf(err, STEER_ERR_LEN, "steer is not loaded at %s", p->dir);
		unlock_dir(lock_fd);
		return STEER_EINPUT;
	}
	/* the pin dir itself stays: it is the lock */
	ret = remove_pins(p, err);
	unlock_dir(lock_fd);
	return ret;
}

static int netns_of_link(const struct steer_paths *p, uint64_t *ino, char *err)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	path_join(path, sizeof(path), p->dir, "links", "lookup");
	fd = bpf_obj_get(path);
	if (fd < 0 && (errno == EACCES || errno == EPERM))
		return open_error(path, err);
	if (fd < 0) {
		snprintf(err, STEER_ERR_LEN, "steer is not loaded at %s (run 'steerctl load')", p->dir);
		return STEER_EINPUT;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		snprintf(err, STEER_ERR_LEN, "cannot read the sk_lookup link: %s", strerror(errno));
		close(fd);
		return STEER_ESYS;
	}
	*ino = info.netns.netns_ino;
	close(fd);
	return STEER_OK;
}

int steer_maps_open(const struct steer_paths *p, struct steer_maps *m, char *err)
{
	char path[PATH_MAX];
	int ret;

	for (int i = 0; i < MAP_COUNT; i++)
		m->fd[i] = -1;
	m->lock_fd = -1;
	m->snap = steer_snapshot_new();	/* none: every lookup reads the maps */
	snprintf(m->dir, sizeof(m->dir), "%s", p->dir);
	/* lock first: an unload or load in progress finishes before we look */
	if ((ret = lock_dir(p->dir, false, &m->lock_fd, err)) ||
	    (ret = netns_of_link(p, &m->netns_ino, err))) {
		steer_maps_close(m);
		return ret;
	}
	for (int i = 0; i < MAP_COUNT; i++) {
		path_join(path, sizeof(path), p->dir, "maps", steer_map_names[i]);
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			ret = STEER_ESYS;
			if (errno == EACCES || errno == EPERM)
				ret = open_error(path, err);
			else
				snprintf(err, STEER_ERR_LEN, "cannot open pinned map %s: %s", path,
					 strerror(errno));
			steer_maps_close(m);
			return ret;
		}
	}
	return STEER_OK;
}

int steer_maps_lock(struct steer_maps *m)
{
	if (m->lock_fd >= 0)
		return 0;
	m->lock_fd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->lock_fd < 0)
		return -1;
	if (flock(m->lock_fd, LOCK_EX)) {
		close(m->lock_fd);
		m->lock_fd = -1;
		return -1;
	}
	return 0;
}

void steer_maps_unlock(struct steer_maps *m)
{
	/* others may write once we let go: our copy is no longer exact */
	steer_snapshot_forget(m->snap);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	m->lock_fd = -1;
}

void steer_maps_close(struct steer_maps *m)
{
	steer_maps_unlock(m);
	steer_snapshot_free(m->snap);
	m->snap = NULL;
	for (int i = 0; i < MAP_COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
}
