#!/bin/bash
# mapops.sh - bpf() map operations that steerd and steerctl make, counted
# with strace, by command (lookup, update, delete, get_next_key, batch,
# other), at WORKERS workers (default 1,024: 4 pools of 256):
#   (a) steerd's first pass (it loads steer too: "other" counts that),
#   (b) a SIGHUP pass with the file unchanged,
#   (c) a SIGHUP pass after every weight changed,
#   (d) `steerctl worker add` of one more worker, and `steerctl worker list`.
# Workers are the listeners of one build/listeners process; no checks, no
# resources sampling, interval 60 s (no periodic pass in between).
#
# Usage: scripts/bench/mapops.sh [BUILD_DIR...]   (root; `make all bench-tools` first)
#   each BUILD_DIR holds a steerd and a steerctl (default: build); with
#   several, the table has one column per build, e.g.
#   scripts/bench/mapops.sh /tmp/before/build build
#   MAPOPS_WORKERS=1024 (a multiple of MAPOPS_POOLS=4, at most 1,024 a pool)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_enter "$0" "$@"

WORKERS=${MAPOPS_WORKERS:-1024}
POOLS=${MAPOPS_POOLS:-4}
PORT0=20000
BUILDS=("$@")
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=("$TOP/build")
command -v strace > /dev/null || bench_die "needs strace (scripts/install-deps.sh --bench)"
[ -x "$LISTENERS" ] || bench_die "no $LISTENERS: make bench-tools"

write_conf() {	# write_conf WEIGHT
	local p k per=$((WORKERS / POOLS)) port=$PORT0
	{
		echo "daemon = { interval_ms = 60000; socket = \"$BENCH_TMP/steerd.sock\"; };"
		echo 'pools = ('
		for p in $(seq 0 $((POOLS - 1))); do
			[ "$p" -gt 0 ] && echo ','
			echo "{ name = \"p$p\"; workers = ("
			for k in $(seq "$per"); do
				[ "$k" -gt 1 ] && echo ','
				echo "{ name = \"w$port\"; addr = \"127.0.0.1:$port\"; weight = $1; resources = false; }"
				port=$((port + 1))
			done
			echo '); }'
		done
		echo ');'
		echo "services = ( { name = \"web\"; prefix = \"$VIP/32\"; port = $VIP_PORT; pool = \"p0\"; } );"
	} > "$BENCH_TMP/steer.conf"
}

# strace's output goes through grep and uniq -c: "N bpf(BPF_CMD" lines, so
# that millions of calls (eb8d0a0 at 1,024 workers) make a small file. A
# run is written when another command follows; steerd's tick (OBJ_GET)
# ends each pass's last run before we read.
TRACE_FILTER="grep --line-buffered -o 'bpf(BPF_[A-Z_]*' | stdbuf -oL uniq -c"

# count FILE FROM TO: "lookup update delete get_next_key batch other total"
# of lines FROM..TO of a filtered trace
count() {
	sed -n "$2,$3p" "$1" | awk '
		{ c = substr($2, 5) }
		c ~ /_BATCH$/ { n["batch"] += $1; t += $1; next }
		c == "BPF_MAP_LOOKUP_ELEM" { n["lookup"] += $1; t += $1; next }
		c == "BPF_MAP_UPDATE_ELEM" { n["update"] += $1; t += $1; next }
		c == "BPF_MAP_DELETE_ELEM" { n["delete"] += $1; t += $1; next }
		c == "BPF_MAP_GET_NEXT_KEY" { n["next"] += $1; t += $1; next }
		{ n["other"] += $1; t += $1 }
		END { printf "%d %d %d %d %d %d %d\n", n["lookup"], n["update"], n["delete"],
		      n["next"], n["batch"], n["other"], t }'
}

lines() { wc -l < "$1"; }

# wait_log PATTERN N: until steerd's log has N lines matching PATTERN (10
# min: eb8d0a0's first pass at 1,024 workers is 12 million calls)
wait_log() {
	local i
	for i in $(seq 6000); do
		[ "$(grep -c "$1" "$BENCH_TMP/steerd.log" 2> /dev/null)" -ge "$2" ] && return 0
		sleep 0.1
	done
	bench_die "steerd: no '$1' ($2): $(tail -3 "$BENCH_TMP/steerd.log")"
}

# run_build DIR: the four measurements with DIR's steerd and steerctl,
# one line each into $BENCH_TMP/result.N
run_build() {
	local dir=$1 trace=$BENCH_TMP/steerd.trace from to out=$BENCH_TMP/result.$2 pid spid
	: > "$BENCH_TMP/steerd.log"
	write_conf 100
	strace -f -qq -e trace=bpf -o "|$TRACE_FILTER > $trace" \
		"$dir/steerd" -c "$BENCH_TMP/steer.conf" --cgroup "$STEER_BENCH_CGROUP/srv" \
		2>> "$BENCH_TMP/steerd.log" &
	spid=$!
	wait_log 'running:' 1
	pid=$(pgrep -P "$spid" -x steerd)	# strace's child
	sleep 0.5
	to=$(lines "$trace")
	echo "first $(count "$trace" 1 "$to")" > "$out"
	from=$((to + 1))
	kill -HUP "$pid"
	wait_log 'reloaded' 1
	sleep 0.5
	to=$(lines "$trace")
	echo "sighup $(count "$trace" "$from" "$to")" >> "$out"
	from=$((to + 1))
	write_conf 50
	kill -HUP "$pid"
	wait_log 'reloaded' 2
	sleep 0.5
	to=$(lines "$trace")
	echo "weights $(count "$trace" "$from" "$to")" >> "$out"
	strace -f -qq -e trace=bpf -o "|$TRACE_FILTER > $BENCH_TMP/ctl.trace" "$dir/steerctl" worker add p1 extra \
		--addr "127.0.0.1:$((PORT0 + WORKERS))" > /dev/null || bench_die "worker add failed"
	echo "worker-add $(count "$BENCH_TMP/ctl.trace" 1 '$')" >> "$out"
	strace -f -qq -e trace=bpf -o "|$TRACE_FILTER > $BENCH_TMP/ctl.trace" "$dir/steerctl" worker list > /dev/null
	echo "worker-list $(count "$BENCH_TMP/ctl.trace" 1 '$')" >> "$out"
	kill "$pid"
	wait "$spid" 2> /dev/null || true
	"$dir/steerctl" unload > /dev/null 2>&1 || true
}

start_srv listeners "$LISTENERS" "127.0.0.1:$PORT0" $((WORKERS + 1))
wait_ready "$BENCH_TMP/listeners.out"
for i in "${!BUILDS[@]}"; do
	bench_log "build ${BUILDS[i]}: $WORKERS workers"
	STEERCTL=${BUILDS[i]}/steerctl run_build "${BUILDS[i]}" "$i"
done

echo "bpf() calls at $WORKERS workers ($POOLS pools): lookup/update/delete/get_next_key/batch/other = total"
printf '%-12s' "pass"
for b in "${BUILDS[@]}"; do printf ' | %-40s' "$b"; done
echo
for row in first sighup weights worker-add worker-list; do
	printf '%-12s' "$row"
	for i in "${!BUILDS[@]}"; do
		read -r _ l u d n bt o t < <(grep "^$row " "$BENCH_TMP/result.$i")
		printf ' | %-40s' "$l/$u/$d/$n/$bt/$o = $t"
	done
	echo
done
