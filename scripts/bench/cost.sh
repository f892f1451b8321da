#!/bin/bash
# cost.sh - kernel cost of steer's programs, from bpf_stats (run_time_ns /
# run_cnt of each program, found by id), as a ratio to a reference:
#   - ns per sk_lookup decision at 4, 64 and 1,024 workers (least-conn and
#     round-robin);
#   - sockops ns per connection on the server side (the clients run outside
#     the cgroup sockops is attached to, as remote clients would), calls
#     per connection and ns per call;
#   - the reference (build/refsteer, scripts/bench/src/ref_steer.bpf.c):
#     the smallest program doing the same job (LPM service lookup, exact
#     least-conn over an array of counters, two random choices above
#     STEER_SCAN_MAX workers, SOCKMAP lookup, sk_assign; sockops +1/-1
#     through a cloned sk_storage tag), loaded against the same listeners
#     and swapped with steer's programs into steer's own links, so one
#     sk_lookup and one sockops run at a time. Batches alternate ref,
#     steer, ref, steer... within a row; lookup_x and sockops_x are the
#     median over the pairs of steer's batch / the ref batch before it.
#     Rows ref-for-lc and ref-for-rr are the ref batches of that row;
#   - two rows of steer alone: "unmatched" (a connection to an address no
#     service covers: the LPM miss every other connection pays) and
#     "client-in-cg" (clients inside the cgroup too: sockops per
#     connection counting the calls for the client's own, non-worker
#     socket).
# Each row is the median of REPS batches of CONNECTIONS connections after a
# warm-up; the target lines at the end compare the ratios with issue 12's
# targets. Private netns; loopback only.
#
# Usage: scripts/bench/cost.sh [CONNECTIONS]   (root; `make all tools bench-tools` first)
#   COST_WORKERS="4 64 1024"  worker counts;  COST_REPS=3  batches per row
#
# A/B mode (COST_AB="LABEL=STEERCTL ..."): COST_AB_POLICY (least-conn) at
# the first of COST_WORKERS (4), each build's programs (that steerctl loads them)
# alternated with the reference as above, the builds in turn, COST_ROUNDS
# (3) times in one run: each row's lookup_x and sockops_x are that build's
# ratios to the reference, so two builds compare through the same yardstick.
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

REFSTEER=$TOP/build/refsteer
prog_id() { bpftool -j link show pinned "$STEER_BPFFS/steer/links/$1" | jq -r .prog_id; }
pin_id() { bpftool -j prog show pinned "$1" | jq -r .id; }
prog_stats() {	# prog id -> "run_time_ns run_cnt"
	bpftool -j prog show id "$1" | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# batch DEST EXTRA_CGROUP [LOOKUP_ID SOCKOPS_ID]: one batch of $CONNS
# connections (programs: those in steer's links unless given); prints
# "lookup_ns lookup_runs sockops_ns_per_conn sockops_calls_per_conn ns_per_call ok"
batch() {
	local dest=$1 in_cg=$2 lid=${3:-} sid=${4:-} a b c d a2 b2 c2 d2 ok
	[ -n "$lid" ] || lid=$(prog_id lookup)
	[ -n "$sid" ] || sid=$(prog_id sockops)
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

ROW_FMT="%-8s %-13s %10s %12s %15s %12s %10s %8s %9s %10s\n"
# median_row FILE WORKERS LABEL [LOOKUP_X SOCKOPS_X]: the median batch of
# FILE (by lookup ns, then sockops ns) as a row
median_row() {
	sort -n -k1,1 -k3,3 "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p" |
		awk -v n="$2" -v p="$3" -v lx="${4:--}" -v sx="${5:--}" -v f="$ROW_FMT" \
			'{ printf f, n, p, $1, $2, $3, $4, $5, $6, lx, sx }'
}

# row WORKERS LABEL DEST IN_CG: median of REPS batches of steer alone
row() {
	local n=$1 label=$2 dest=$3 in_cg=$4
	"$SCLIENT" --connect "$dest" -n 2000 -c 50 > /dev/null	# warm up
	for _ in $(seq "$REPS"); do batch "$dest" "$in_cg"; done > "$BENCH_TMP/batches"
	median_row "$BENCH_TMP/batches" "$n" "$label"
}

# pair_rows WORKERS LABEL REFLABEL: REPS pairs of batches, ref then steer,
# each program swapped into steer's links before its batch; steer's row
# with the ratios, then the ref's
pair_rows() {
	local n=$1 label=$2 rlabel=$3 dest=$VIP:$VIP_PORT rdir=$STEER_BPFFS/ref links
	local rl rs sl ss
	links=$STEER_BPFFS/steer/links
	rl=$(pin_id "$rdir/ref_lookup") rs=$(pin_id "$rdir/ref_sockops")
	sl=$(pin_id "$rdir/steer_lookup") ss=$(pin_id "$rdir/steer_sockops")
	: > "$BENCH_TMP/ref.b"
	: > "$BENCH_TMP/steer.b"
	for who in ref steer; do	# warm up both
		"$REFSTEER" use "$who" "$rdir" "$links"
		"$SCLIENT" --connect "$dest" -n 2000 -c 50 > /dev/null
	done
	for _ in $(seq "$REPS"); do
		"$REFSTEER" use ref "$rdir" "$links"
		batch "$dest" no "$rl" "$rs" >> "$BENCH_TMP/ref.b"
		"$REFSTEER" use steer "$rdir" "$links"
		batch "$dest" no "$sl" "$ss" >> "$BENCH_TMP/steer.b"
	done
	read -r lx sx <<< "$(paste -d' ' "$BENCH_TMP/steer.b" "$BENCH_TMP/ref.b" | awk '
		function med(a, k,    i, j, t) {
			for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		$7 > 0 && $9 > 0 { k++; L[k] = $1 / $7; S[k] = $3 / $9 }
		END { if (k) printf "%.2f %.2f\n", med(L, k), med(S, k); else print "- -" }')"
	median_row "$BENCH_TMP/steer.b" "$n" "$label" "$lx" "$sx"
	median_row "$BENCH_TMP/ref.b" "$n" "$rlabel" 1.00 1.00
}

# measure WORKERS POLICY [LABEL]: steer with WORKERS listeners in one
# process, alternated with the reference on the same listeners
measure() {
	local n=$1 policy=$2 label=${3:-$2} pid fd i
	steer_up "$policy" service
	start_srv listeners "$LISTENERS" 127.0.0.1:20000 "$n"
	wait_ready "$BENCH_TMP/listeners.out"
	read -r _ pid fd < "$BENCH_TMP/listeners.out"
	for i in $(seq 0 $((n - 1))); do
		"$STEERCTL" worker add p "w$i" --pid "$pid" --fd $((fd + i))
	done
	rm -rf "$STEER_BPFFS/ref"
	mkdir -p "$STEER_BPFFS/ref"
	"$REFSTEER" load "$STEER_BPFFS/ref" "$STEER_BPFFS/steer/links" "$VIP:$VIP_PORT" "$pid" "$fd" "$n"
	pair_rows "$n" "$label" "ref-for-$( [ "$policy" = least-conn ] && echo lc || echo rr)"
	"$REFSTEER" use steer "$STEER_BPFFS/ref" "$STEER_BPFFS/steer/links"
	rm -rf "$STEER_BPFFS/ref"
	if [ "$n" = "${COST_WORKERS%% *}" ] && [ "$policy" = least-conn ] && [ -z "${COST_AB:-}" ]; then
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
	# shellcheck disable=SC2059
	printf "$ROW_FMT" workers config lookup_ns lookup_runs sockops_ns/conn calls/conn ns/call \
		ok lookup_x sockops_x
	for _ in $(seq "${COST_ROUNDS:-3}"); do
		[ -z "${COST_BASE_STEERCTL:-}" ] || monitor_config base "$COST_BASE_STEERCTL" off
		monitor_config monitor-off "$STEERCTL" off
		monitor_config monitor-on "$STEERCTL" on
	done
	exit 0
fi

COST_WORKERS=${COST_WORKERS:-4 64 1024}
[ -x "$REFSTEER" ] || bench_die "build/refsteer is missing (make bench-tools)"
if [ -n "${COST_AB:-}" ]; then
	# shellcheck disable=SC2059
	printf "$ROW_FMT" workers build lookup_ns lookup_runs sockops_ns/conn calls/conn ns/call ok \
		lookup_x sockops_x
	for _ in $(seq "${COST_ROUNDS:-3}"); do
		for v in $COST_AB; do
			STEERCTL=${v#*=} measure "${COST_WORKERS%% *}" "${COST_AB_POLICY:-least-conn}" \
				"${v%%=*}"
		done
	done
	exit 0
fi
# shellcheck disable=SC2059
printf "$ROW_FMT" workers policy lookup_ns lookup_runs sockops_ns/conn calls/conn ns/call ok \
	lookup_x sockops_x
for n in $COST_WORKERS; do
	for policy in least-conn round-robin; do
		measure "$n" "$policy"
	done
done | tee "$BENCH_TMP/rows"
# issue 12's targets: steer / reference, measured side by side
echo
cost_targets "$BENCH_TMP/rows" | awk -F'\t' '{ printf "target %-36s %6s <= %-4s %s\n", $1, $2, $3, $4 }'
