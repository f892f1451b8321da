#!/bin/bash
# wake.sh - steerd's own cost while a pool spends global_quota leases:
# CPU (utime + stime from /proc/PID/stat) and wake-ups (the main thread's
# voluntary_ctxt_switches) over WAKE_S seconds of steady load, `sclient -n
# 20 -c 2` every 20 ms, for two builds alternated WAKE_ROUNDS times in one
# run. Each build has a fleet host of its own (tests/fleet_lib.sh: a netns,
# its bpffs with that build's programs, its workers, its steerd), one
# Redis; only one host's steerd runs at a time.
#
# Usage: WAKE_BEFORE=DIR WAKE_AFTER=DIR scripts/bench/wake.sh   (root; each
#   DIR holds a build's steerctl and steerd, e.g. build/; `make tools` first)
#   WAKE_S=10 WAKE_ROUNDS=3; WAKE_LOGS=DIR: each build's steerd.log copied there
source "$(dirname "$0")/../../tests/lib.sh"
source "$(dirname "$0")/../../tests/fleet_lib.sh"

A=$(realpath "${WAKE_BEFORE:?a build dir}"); B=$(realpath "${WAKE_AFTER:?a build dir}")
WAKE_S=${WAKE_S:-10}; WAKE_ROUNDS=${WAKE_ROUNDS:-3}
HZ=$(getconf CLK_TCK)

conf_of() {
	fleet_fleet_block "$1" "chunk = 20; lease_ttl_s = 2;"
	cat <<-EOF
	pools = (
	  { name = "p"; global_quota = 1000000000; window_s = 3600; fallback = "fb";
	    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
	  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
	);
	services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; } );
	EOF
}
fleet_redis_start
declare -A BIN=([before]=$A [after]=$B)
for b in before after; do
	STEERCTL=${BIN[$b]}/steerctl fleet_host_add "$b" w1=127.0.0.1:9101 f1=127.0.0.1:9201
	conf_of "$b" > "$(fleet_dir "$b")/steer.conf"
done
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wakes_of() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$1/status"; }
load() {	# load HOST SECONDS: admitted connections to stdout
	local end=$((SECONDS + $2)) out=""
	while [ $SECONDS -lt $end ]; do
		out+=$(in_host "$1" "$SCLIENT" --connect $SVC4:80 -n 20 -c 2)$'\n'
		sleep 0.02
	done
	awk '$1 == "worker" { w[$2] += $3 } END { print w["w1"] + 0, w["f1"] + 0 }' <<< "$out"
}
echo "build round cpu_ms cpu_pct wakeups_per_s admitted fallback"
for r in $(seq "$WAKE_ROUNDS"); do
	for b in before after; do
		STEERD=${BIN[$b]}/steerd fleet_steerd "$b" "$(fleet_dir "$b")/steer.conf" ||
			bail "steerd $b did not start"
		pid=${FLEET_STEERD_PID[$b]}
		wait_until '[ "$(grep -c "budget from lease" "$(fleet_dir '"$b"')/steerd.log")" -ge '"$r"' ]' 10
		c0=$(cpu_of "$pid"); w0=$(wakes_of "$pid"); t0=${EPOCHREALTIME/./}
		read -r adm fb <<< "$(load "$b" "$WAKE_S")"
		c1=$(cpu_of "$pid"); w1=$(wakes_of "$pid"); t1=${EPOCHREALTIME/./}
		awk -v b=$b -v r=$r -v c=$((c1 - c0)) -v w=$((w1 - w0)) -v us=$((t1 - t0)) -v hz=$HZ \
		    -v a=$adm -v f=$fb 'BEGIN { ms = c * 1000 / hz; s = us / 1e6
			printf "%s %d %d %.2f %.0f %d %d\n", b, r, ms, ms / 10 / s, w / s, a, f }'
		fleet_steerd_kill "$b" TERM
	done
done
[ -z "${WAKE_LOGS:-}" ] || for b in before after; do
	mkdir -p "$WAKE_LOGS" && cp "$(fleet_dir "$b")/steerd.log" "$WAKE_LOGS/steerd.$b.log"
done
