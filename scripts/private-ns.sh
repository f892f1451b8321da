# scripts/private-ns.sh - sourced by the demo, the tests and the benchmarks:
# run the calling script in namespaces of its own, so that nothing of the
# host's network, BPF state or cgroups is touched.
#
# private_ns_enter NAME SCRIPT [ARGS...]
#   Outside: makes the cgroup v2 <root>/steer-NAME-PID, runs SCRIPT ARGS
#   again under `unshare --net --mount` inside that cgroup and waits; then
#   kills whatever is left in the cgroup, removes it (children first) and
#   exits with the script's status. A function private_ns_outer_cleanup, if
#   the caller defines one, runs first. Inside: brings lo up and returns.
#   STEER_PRIVATE_CGROUP names the cgroup on both sides.
# private_ns_bpffs DIR: a bpffs of our own at DIR, exported as STEER_BPFFS.

private_ns_enter() {
	local name=$1 cgroot rc=0
	shift
	if [ -n "${STEER_PRIVATE_INNER:-}" ]; then
		ip link set lo up
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || { echo "Error: $(basename "$1") needs root" >&2; exit 1; }
	cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$cgroot" ] || { echo "Error: no cgroup v2 hierarchy is mounted" >&2; exit 1; }
	export STEER_PRIVATE_CGROUP=$cgroot/steer-$name-$$ STEER_PRIVATE_INNER=1
	mkdir "$STEER_PRIVATE_CGROUP"
	trap 'private_ns_remove; exit 130' INT TERM
	unshare --net --mount --propagation private -- \
		bash -c 'echo $$ > "$STEER_PRIVATE_CGROUP/cgroup.procs" && exec bash "$0" "$@"' "$@" ||
		rc=$?
	private_ns_remove
	exit $rc
}

private_ns_remove() {
	if declare -F private_ns_outer_cleanup > /dev/null; then
		private_ns_outer_cleanup
	fi
	# only processes this run started live there
	echo 1 > "$STEER_PRIVATE_CGROUP/cgroup.kill" 2> /dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		find "$STEER_PRIVATE_CGROUP" -depth -type d -exec rmdir {} + 2> /dev/null || true
		[ -d "$STEER_PRIVATE_CGROUP" ] || return 0
		sleep 0.2
	done
}

private_ns_bpffs() {
	export STEER_BPFFS=$1
	mkdir -p "$STEER_BPFFS"
	mount -t bpf bpf "$STEER_BPFFS"
}
