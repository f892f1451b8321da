#!/bin/bash
# Concurrent writers: one lock for load, unload, upgrade and every map
# writer; a command that fails never removes what it did not create.
source "$(dirname "$0")/../lib.sh"

PIN=$STEER_BPFFS/steer
MAPS="services_lpm services service_stats pools pool_stats pool_limits pool_budgets
      pool_tables workers worker_stats worker_socks worker_tags recent_picks"

# state: "loaded" (both links and every map pinned), "empty" (nothing
# pinned) or "partial: WHAT"
state() {
	local have=0 m l
	for l in lookup sockops; do [ -e "$PIN/links/$l" ] && have=$((have + 1)); done
	for m in $MAPS; do [ -e "$PIN/maps/$m" ] && have=$((have + 1)); done
	if [ "$have" = 15 ]; then echo loaded
	elif [ "$have" = 0 ]; then echo empty
	else echo "partial: $have of 15 pins: $(ls -R "$PIN" 2>/dev/null | tr '\n' ' ')"
	fi
}

# 3 loads at once, 20 times: one wins, the others say "already loaded"
bad_outcome=0 bad_state=0
for try in $(seq 20); do
	for i in 1 2 3; do
		steer load --cgroup "$STEER_TEST_CGROUP" > /dev/null 2> "$STEER_TMP/load.$i" &
		pids[i]=$!
	done
	rcs=""
	for i in 1 2 3; do wait "${pids[i]}"; rcs="$rcs$?"; done
	sorted=$(echo "$rcs" | fold -w1 | sort | tr -d '\n')
	losers=$(cat "$STEER_TMP"/load.* | grep -c "^Error: steer is already loaded")
	if [ "$sorted" != 022 ] || [ "$losers" != 2 ]; then
		bad_outcome=$((bad_outcome + 1))
		why "try $try: exits $rcs, stderr: $(cat "$STEER_TMP"/load.* | tr '\n' ' ')"
	fi
	st=$(state)
	if [ "$st" != loaded ] || ! steer status > /dev/null 2>&1; then
		bad_state=$((bad_state + 1))
		why "try $try: after the loads: $st"
	fi
	steer unload 2> /dev/null
	[ "$(state)" = empty ] || { bad_state=$((bad_state + 1)); why "try $try: unload left $(state)"; }
done
is "$bad_outcome" 0 "3 concurrent loads x 20: always exactly one exit 0 and two 'already loaded' (exit 2)"
is "$bad_state" 0 "and steer is pinned and answers after each, and unload empties it"

# load and unload wait for a writer that holds the lock
held_for() {	# held_for COMMAND...: ms it took while the lock was held for 1 s
	local start
	rm -f "$STEER_TMP/locked"
	flock "$PIN" -c "touch '$STEER_TMP/locked'; sleep 1" &
	wait_for '[ -e "$STEER_TMP/locked" ]'
	start=$(date +%s%N)
	"$@" > /dev/null 2>&1
	echo $(( ($(date +%s%N) - start) / 1000000 ))
	wait
}
ms=$(held_for steer load --cgroup "$STEER_TEST_CGROUP")
[ "$ms" -ge 700 ] && [ "$(state)" = loaded ]
ok $? "load waits for the lock ($ms ms of a 1 s hold), then loads"
ms=$(held_for steer unload)
[ "$ms" -ge 700 ] && [ "$(state)" = empty ]
ok $? "unload waits for the lock ($ms ms), then unloads"

# and what was loaded works
steer_setup p least-conn 2
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 10)
is "$(client_ok "$out")" "100 0 0" "steer loaded by the race steers connections"
steer unload

# Mixed writers from several processes: load, unload, upgrade, pool and
# worker add/del. Whatever the order, under the lock the pins are either
# all there or none, and no command fails for a reason other than the
# state it found (exit 0 or 2, never 1).
start_worker x1 127.0.0.1:9201
start_worker x2 127.0.0.1:9202
writer() {	# writer N: 25 random operations
	local n=$1 i op rc
	for i in $(seq 40); do
		op=$((RANDOM % 6))
		case $op in
		0) steer load --cgroup "$STEER_TEST_CGROUP" ;;
		1) steer unload ;;
		2) steer upgrade ;;
		3) steer pool add "p$n" ;;
		4) steer worker add "p$n" "x$n" --addr "127.0.0.1:920$n" ;;
		5) steer worker del "x$n" && steer pool del "p$n" ;;
		esac > /dev/null 2>> "$STEER_TMP/writer.$n.err"
		rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 2 ] || echo "op $op exit $rc" >> "$STEER_TMP/writer.$n.bad"
	done
}
checker() {	# look under the lock until the writers are done
	while [ ! -e "$STEER_TMP/writers.done" ]; do
		flock "$PIN" bash -c "$(declare -f state); PIN='$PIN' MAPS='$MAPS' state" \
			>> "$STEER_TMP/states" 2>/dev/null
		sleep 0.005
	done
}
mkdir -p "$PIN"	# the lock exists before the first load (steerctl makes it too)
checker &
checker_pid=$!
writer 1 & w1=$!
writer 2 & w2=$!
writer 3 & w3=$!
wait $w1 $w2 $w3
touch "$STEER_TMP/writers.done"
wait $checker_pid
looks=$(wc -l < "$STEER_TMP/states")
partial=$(grep -c partial "$STEER_TMP/states")
[ "$partial" = 0 ] || why "$(grep partial "$STEER_TMP/states" | head -3)"
is "$partial" 0 "$looks looks under the lock while 3 writers ran: never a partial state"
bad=$(cat "$STEER_TMP"/writer.*.bad 2>/dev/null)
is "$bad" "" "no command of the 120 exited 1 ($(sort "$STEER_TMP"/writer.*.err | sed 's/ at .*//; s/.*Error: //' | sort | uniq -c | sort -rn | head -4 | tr '\n' ';'))"
st=$(state)
[ "$st" = loaded ] || [ "$st" = empty ]
ok $? "after them: $st"
if [ "$st" = empty ]; then steer_load; fi
steer pool add final 2>/dev/null
steer service add fin --prefix 127.10.0.9/32 --port 80 --pool final 2>/dev/null
steer worker del x1 2>/dev/null
steer worker add final x1 --addr 127.0.0.1:9201 2>/dev/null || steer worker set x1 --weight 100
out=$("$SCLIENT" --connect 127.10.0.9:80 -n 50 -c 5)
is "$(client_ok "$out")" "50 0 0" "and steering works after the storm"

# steerd starting while two steerctl loads run: whoever wins, steerd runs
steer unload
cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "d"; workers = ( { name = "x2"; addr = "127.0.0.1:9202"; resources = false; } ); } );
CONF
steer load --cgroup "$STEER_TEST_CGROUP" 2>/dev/null &
steer load --cgroup "$STEER_TEST_CGROUP" 2>/dev/null &
start_steerd "$STEER_TMP/steer.conf"
wait
wait_for '[ "$(worker_field x2 pool)" = d ]'
ok $? "steerd started beside two concurrent loads and applied its file ($(state))"
# fin's output went before steerd replaced the maps: counts only
check_invariants
done_testing
