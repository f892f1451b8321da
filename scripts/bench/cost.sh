#!/bin/bash
# cost.sh - kernel cost of steer's programs, from bpf_stats (run_time_ns /
# run_cnt of our own programs, found through our pinned links):
#   - ns per sk_lookup decision at 4, 64 and 1,024 workers (least-conn and
#     round-robin);
#   - sockops ns per connection on the server side (the clients run outside
#     the cgroup sockops is attached to, as remote clients would);
#   - two reference rows: "unmatched" (a connection to an address no
#     service covers: the LPM miss every other connection pays) and
#     "client-in-cg" (clients inside the cgroup too: sockops per
#     connection counting the calls for the client's own, non-worker
#     socket).
# Each row is the median of REPS batches of CONNECTIONS connections after a
# warm-up. Private netns; loopback only.
#
# Usage: scripts/bench/cost.sh [CONNECTIONS]   (root; `make all tools bench-tools` first)
#   COST_WORKERS="4 64 1024"  worker counts;  COST_REPS=3  batches per row
#
# Monitor mode (COST_MONITOR=1): sk_lookup cost at 4 workers, least-conn,
# with steerctl monitor off, on (a monitor reading every record: --rate
# COST_MONITOR_RATE, default 1000000, to /dev/null) and, with
# COST_BASE_STEERCTL=PATH, the programs of that build's steerctl (the
# build before a change), alternated COST_ROUNDS (3) times in one run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
CONNS=${1:-20000}
REPS=${COST_REPS:-3}
BENCH_BPF_STATS=1 bench_enter "$0" "$@"

prog_id() { bpftool -j link show pinned "$STEER_BPFFS/steer/links/$1" | jq -r .prog_id; }
prog_stats() {	# prog id -> "run_time_ns run_cnt"
	bpftool -j prog show id "$1" | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# batch DEST EXTRA_CGROUP: one batch of $CONNS connections; prints
# "lookup_ns lookup_runs sockops_ns_per_conn sockops_calls_per_conn ns_per_call ok"
batch() {
	local dest=$1 in_cg=$2 lid sid a b c d a2 b2 c2 d2 ok
	lid=$(prog_id lookup)
	sid=$(prog_id sockops)
	read -r a b <<< "$(prog_stats "$lid")"
	read -r c d <<< "$(prog_stats "$sid")"
	if [ "$in_cg" = yes ]; then
		bash -c 'echo $$ > "$STEER_BENCH_CGROUP/srv/cgroup.procs" && exec "$@"' bash \
			"$SCLIENT" --connect "$dest" -n "$CONNS" -c 50 --src-range 127.20.0.0/16 > "$BENCH_TMP/out"
	else
		"$SCLIENT" --connect "$dest" -n "$CONNS" -c 50 --src-range 127.20.0.0/16 > "$BENCH_TMP/out"
	fi
	read -r a2 b2 <<< "$(prog_stats "$lid")"
	read -r c2 d2 <<< "$(prog_stats "$sid")"
	ok=$(awk '$1 == "ok" { print $2 }' "$BENCH_TMP/out")
	awk -v rt=$((a2 - a)) -v rc=$((b2 - b)) -v st=$((c2 - c)) -v sc=$((d2 - d)) \
		-v conns="$CONNS" -v ok="$ok" 'BEGIN {
		printf "%.0f %d %.0f %.1f %.0f %d\n", rc ? rt / rc : 0, rc, st / conns, sc / conns,
			sc ? st / sc : 0, ok }'
}

# row WORKERS LABEL DEST IN_CG: median (by lookup ns, then sockops ns) of REPS batches
row() {
	local n=$1 label=$2 dest=$3 in_cg=$4
	"$SCLIENT" --connect "$dest" -n 2000 -c 50 > /dev/null	# warm up
	for _ in $(seq "$REPS"); do batch "$dest" "$in_cg"; done > "$BENCH_TMP/batches"
	sort -n -k1,1 -k3,3 "$BENCH_TMP/batches" | sed -n "$(( (REPS + 1) / 2 ))p" |
		awk -v n="$n" -v p="$label" '{ printf "%-8d %-13s %10s %12s %15s %12s %10s %8s\n",
			n, p, $1, $2, $3, $4, $5, $6 }'
}

# measure WORKERS POLICY: steer with WORKERS listeners in one process
measure() {
	local n=$1 policy=$2 pid fd i
	steer_up "$policy" service
	start_srv listeners "$LISTENERS" 127.0.0.1:20000 "$n"
	wait_ready "$BENCH_TMP/listeners.out"
	read -r _ pid fd < "$BENCH_TMP/listeners.out"
	for i in $(seq 0 $((n - 1))); do
		"$STEERCTL" worker add p "w$i" --pid "$pid" --fd $((fd + i))
	done
	row "$n" "$policy" "$VIP:$VIP_PORT" no
	if [ "$n" = "${COST_WORKERS%% *}" ] && [ "$policy" = least-conn ]; then
		row "$n" unmatched 127.0.0.1:20000 no
		row "$n" client-in-cg "$VIP:$VIP_PORT" yes
	fi
	stop_pids "$LAST_PID"
	steer_down
}

# monitor_config LABEL STEERCTL off|on: one row at 4 workers with that
# build's programs, and a monitor reading all the while when on
monitor_config() {
	local label=$1 ctl=$2 mon=$3 pid fd i srv mpid=
	STEERCTL=$ctl steer_up least-conn service
	start_srv listeners "$LISTENERS" 127.0.0.1:20000 4
	srv=$LAST_PID
	wait_ready "$BENCH_TMP/listeners.out"
	read -r _ pid fd < "$BENCH_TMP/listeners.out"
	for i in 0 1 2 3; do
		"$ctl" worker add p "w$i" --pid "$pid" --fd $((fd + i))
	done
	if [ "$mon" = on ]; then
		"$ctl" monitor --rate "${COST_MONITOR_RATE:-1000000}" > /dev/null 2> "$BENCH_TMP/mon.err" &
		mpid=$!
		for i in $(seq 100); do
			grep -qs "monitor: on" "$BENCH_TMP/mon.err" && break
			sleep 0.05
		done
	fi
	row 4 "$label" "$VIP:$VIP_PORT" no
	[ -z "$mpid" ] || stop_pids "$mpid"
	stop_pids "$srv"
	STEERCTL=$ctl steer_down
}

if [ -n "${COST_MONITOR:-}" ]; then
	printf "%-8s %-13s %10s %12s %15s %12s %10s %8s\n" workers config lookup_ns lookup_runs \
		sockops_ns/conn calls/conn ns/call ok
	for _ in $(seq "${COST_ROUNDS:-3}"); do
		[ -z "${COST_BASE_STEERCTL:-}" ] || monitor_config base "$COST_BASE_STEERCTL" off
		monitor_config monitor-off "$STEERCTL" off
		monitor_config monitor-on "$STEERCTL" on
	done
	exit 0
fi

COST_WORKERS=${COST_WORKERS:-4 64 1024}
printf "%-8s %-13s %10s %12s %15s %12s %10s %8s\n" workers policy lookup_ns lookup_runs \
	sockops_ns/conn calls/conn ns/call ok
for n in $COST_WORKERS; do
	for policy in least-conn round-robin; do
		measure "$n" "$policy"
	done
done
