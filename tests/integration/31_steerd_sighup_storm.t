#!/bin/bash
# steerd under a SIGHUP storm (issue 7, defect 2): 24 workers with http and
# agent checks every 50 ms, the file switched between two versions (24
# workers and 16 with other weights) and a SIGHUP every 0.2 s, 100 times.
# A reload used to free the per-worker array that events of the same epoll
# batch still pointed into (ASan: heap-use-after-free in event_loop).
source "$(dirname "$0")/../lib.sh"

RELOADS=${STORM_RELOADS:-100}

write_conf() {	# write_conf NWORKERS WEIGHT
	local i
	{
		echo "daemon = { interval_ms = 200; socket = \"$STEER_TMP/steerd.sock\"; };"
		echo 'pools = ( { name = "storm"; workers = ('
		for i in $(seq "$1"); do
			[ "$i" -gt 1 ] && echo ','
			echo "{ name = \"w$i\"; addr = \"127.0.0.1:$((9100 + i))\"; weight = $2; resources = false;"
			echo '  check = { type = "http"; port = 9400; path = "/health"; interval_ms = 50; timeout_ms = 40; rise = 1; fall = 2; };'
			echo '  agent = { port = 9500; interval_ms = 50; timeout_ms = 40; }; }'
		done
		echo '); } );'
		echo "services = ( { name = \"web\"; prefix = \"$SVC4/32\"; port = 80; pool = \"storm\"; } );"
	} > "$STEER_TMP/steer.conf"
}

for i in $(seq 24); do start_worker "w$i" "127.0.0.1:$((9100 + i))"; done
start_agent health 127.0.0.1:9400
start_worker up 127.0.0.1:9500		# the agent check's answer: "up"
write_conf 24 100
start_steerd "$STEER_TMP/steer.conf"

names() { steer -j worker list | jq -r '[.workers[] | "\(.name)=\(.weight)"] | sort | join(" ")'; }
want_of() {	# want_of NWORKERS WEIGHT
	local i
	for i in $(seq "$1"); do echo "w$i=$2"; done | sort | tr '\n' ' ' | sed 's/ $//'
}

reloads() { grep -c 'reloaded' "$STEER_TMP/steerd.log"; }
sent=0
deadline=$(( $(date +%s) + 50 ))
# SIGHUPs that arrive during a reload merge into one: send until steerd
# has done RELOADS reloads
while [ "$(reloads)" -lt "$RELOADS" ] && [ "$(date +%s)" -lt "$deadline" ]; do
	sent=$((sent + 1))
	if [ $((sent % 2)) = 1 ]; then write_conf 16 50; else write_conf 24 100; fi
	kill -HUP "$STEERD_PID" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$STEERD_PID" 2>/dev/null
ok $? "steerd is alive after $sent SIGHUPs (one every 0.2 s, 48 checks every 50 ms)"
is "$(grep -c 'AddressSanitizer\|runtime error' "$STEER_TMP/steerd.log")" 0 "no sanitizer report in steerd's log"
wait_for '[ "$(reloads)" -ge "$RELOADS" ]'
ok $? "steerd did $(reloads) reloads (at least $RELOADS)"
[ $((sent % 2)) = 1 ] && want=$(want_of 16 50) || want=$(want_of 24 100)
wait_for '[ "$(names)" = "$want" ]' 10
is "$(names)" "$want" "the maps hold the last file's workers and weights"
# checks every 50 ms with a 40 ms timeout and fall 2: on a loaded machine a
# worker may be down for a moment; steering is judged once they are all up
ups() { steer -j worker list | jq '[.workers[] | select(.state == "up" and .health > 0)] | length'; }
wait_for '[ "$(ups)" = "$(wc -w <<< "$want")" ]' 10 ||
	diag "workers up: $(ups) of $(wc -w <<< "$want"): $(steer worker list | awk 'NR > 1 { printf "%s %s %s; ", $1, $4, $6 }')"
out=$("$SCLIENT" --connect $SVC4:80 -n 400 -c 20)
is "$(client_ok "$out")" "400 0 0" "steering works after the storm"
grep -m3 'AddressSanitizer\|runtime error\|ERROR' "$STEER_TMP/steerd.log" | sed 's/^/# /' >&2
done_testing
