#!/bin/bash
# cost.sh - kernel cost of steer's programs, from bpf_stats: ns per
# sk_lookup decision at 4, 64 and 1,024 workers (least-conn and
# round-robin), and sockops ns per connection. Private netns; loopback only.
# Usage: scripts/bench/cost.sh [CONNECTIONS]   (root; `make bench-tools` first)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
STEERCTL=$TOP/build/steerctl
SCLIENT=$TOP/tests/tools/sclient
LISTENERS=$TOP/build/listeners
CONNS=${1:-20000}

if [ -z "${STEER_BENCH_INNER:-}" ]; then
	cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	export STEER_BENCH_CGROUP=$cgroot/steer-bench-$$ STEER_BENCH_INNER=1
	mkdir "$STEER_BENCH_CGROUP"
	old_stats=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	rc=0
	unshare --net --mount --propagation private -- \
		bash -c 'echo $$ > "$STEER_BENCH_CGROUP/cgroup.procs" && exec bash "$0" "$@"' "$0" "$@" || rc=$?
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	echo 1 > "$STEER_BENCH_CGROUP/cgroup.kill" 2>/dev/null || true
	sleep 0.2
	rmdir "$STEER_BENCH_CGROUP" 2>/dev/null || true
	exit $rc
fi

ip link set lo up
tmp=$(mktemp -d /tmp/steer-bench.XXXXXX)
export STEER_BPFFS=$tmp/bpffs
mkdir -p "$STEER_BPFFS"
mount -t bpf bpf "$STEER_BPFFS"
trap 'kill $(jobs -p) 2>/dev/null || true; "$STEERCTL" unload 2>/dev/null; umount "$STEER_BPFFS"; rm -rf "$tmp"' EXIT

prog_stats() {	# name -> "run_time_ns run_cnt"
	bpftool -j prog show | jq -r --arg n "$1" \
		'[.[] | select(.name == $n)][0] | "\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

measure() {	# workers policy
	local n=$1 policy=$2 pid fd a b c d
	"$STEERCTL" load --cgroup "$STEER_BENCH_CGROUP"
	"$STEERCTL" pool add p --policy "$policy"
	"$STEERCTL" service add s --prefix 127.10.0.1/32 --port 80 --pool p
	rm -f "$tmp/ready"
	"$LISTENERS" 127.0.0.1:20000 "$n" > "$tmp/ready" &
	until [ -s "$tmp/ready" ]; do sleep 0.05; done
	read -r _ pid fd < "$tmp/ready"
	for i in $(seq 0 $((n - 1))); do
		"$STEERCTL" worker add p "w$i" --pid "$pid" --fd $((fd + i))
	done
	"$SCLIENT" --connect 127.10.0.1:80 -n 2000 -c 50 > /dev/null	# warm up
	read -r a b <<< "$(prog_stats steer_lookup)"
	read -r c d <<< "$(prog_stats steer_sockops)"
	"$SCLIENT" --connect 127.10.0.1:80 -n "$CONNS" -c 50 --src-range 127.20.0.0/16 > "$tmp/out"
	read -r a2 b2 <<< "$(prog_stats steer_lookup)"
	read -r c2 d2 <<< "$(prog_stats steer_sockops)"
	awk -v n="$n" -v p="$policy" -v rt=$((a2 - a)) -v rc=$((b2 - b)) -v st=$((c2 - c)) -v sc=$((d2 - d)) \
		-v conns="$CONNS" -v ok="$(awk '$1 == "ok" { print $2 }' "$tmp/out")" \
		'BEGIN { printf "%-8d %-12s %10.0f %12d %14.0f %12.1f %10.0f %8d\n", n, p, rt / rc, rc, st / conns, sc / conns, st / sc, ok }'
	kill %1 2>/dev/null || true
	wait %1 2>/dev/null || true
	"$STEERCTL" unload
}

printf "%-8s %-12s %10s %12s %14s %12s %10s %8s\n" workers policy lookup_ns lookup_runs \
	sockops_ns/conn calls/conn ns/call ok
for n in ${COST_WORKERS:-4 64 1024}; do
	for policy in least-conn round-robin; do
		measure "$n" "$policy"
	done
done
