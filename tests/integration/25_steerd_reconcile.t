#!/bin/bash
# steerd is a reconciler (issue 7, defects 3, 4 and 9): whatever the maps
# hold (another file's state, a kill -9 half-way, an unload + load, a
# restarted worker), steerd makes them match its file; an operator's
# objects stay untouched.
source "$(dirname "$0")/../lib.sh"

write_conf() {	# write_conf NWORKERS WEIGHT RATE PORT [QUOTA]
	local i
	{
		echo "daemon = { interval_ms = 200; socket = \"$STEER_TMP/steerd.sock\"; };"
		echo "pools = ( { name = \"p\"; rate = $3; fallback = \"spare\"; workers = ("
		for i in $(seq "$1"); do
			[ "$i" -gt 1 ] && echo ','
			echo "{ name = \"w$i\"; addr = \"127.0.0.1:$((9100 + i))\"; weight = $2; resources = false;"
			echo '  check = { type = "tcp"; interval_ms = 100; timeout_ms = 100; rise = 2; fall = 2; }; }'
		done
		echo '); },'
		echo "  { name = \"spare\"; ${5:+quota = $5;} workers = ( { name = \"s1\"; addr = \"127.0.0.1:9201\"; resources = false; } ); } );"
		echo "services = ( { name = \"web\"; prefix = \"$SVC4/32\"; port = $4; pool = \"p\"; },"
		echo "             { name = \"side\"; prefix = \"$SVC4/32\"; port = 90; pool = \"spare\"; } );"
	} > "$1.$2.$3.$4.${5:-}.conf"
	CONF=$PWD/$1.$2.$3.$4.${5:-}.conf
}
cd "$STEER_TMP" || bail "no tmp"

# start_steerd waits for "running:" anywhere in the log; after a restart
# wait for a new one, so that no SIGHUP arrives before steerd blocks it
restart_steerd() {
	local n
	n=$(grep -c "running:" "$STEER_TMP/steerd.log")
	start_steerd "$1"
	wait_for '[ "$(grep -c "running:" "$STEER_TMP/steerd.log")" -gt "$n" ]' 10 ||
		bail "steerd did not start again"
}

# converged_basic N W RATE PORT: the maps hold what the file says, read
# with nothing but `steerctl -j` (works against any steerd)
converged_basic() {
	local want_w have_w
	want_w=$( (for i in $(seq "$1"); do echo "w$i=p=$2"; done; echo "s1=spare=100") | sort | tr '\n' ' ')
	have_w=$(steer -j worker list | jq -r '.workers[] | select(.name != "o1") | "\(.name)=\(.pool)=\(.weight)"' | sort | tr '\n' ' ')
	[ "$have_w" = "$want_w" ] &&
	[ "$(steer -j pool list | jq -r '.pools[] | select(.name == "p") | "\(.rate_milli)/\(.fallback)"')" = "$(($3 * 1000))/spare" ] &&
	[ "$(steer -j service list | jq -r '.services[] | select(.name == "web") | "\(.port_lo)-\(.port_hi)/\(.pool)"')" = "$4-$4/p" ]
}

converged() { assert_converged "$1" 2> /dev/null; }	# lib.sh: the maps hold the file
expect_converged() {	# expect_converged CONF DESCRIPTION
	wait_for "converged '$1'" 10
	ok $? "$2"
	converged "$1" || why "want $("$STEERD" -c "$1" --check -j)"
}

for i in 1 2 3 4 5 6; do start_worker "w$i" "127.0.0.1:$((9100 + i))"; WPID[i]=$LAST_PID; done
start_worker s1 127.0.0.1:9201
start_worker o1 127.0.0.1:9301

# an operator's objects, made before steerd: they must stay as they are
steer_load
steer pool add op --policy round-robin
steer worker add op o1 --addr 127.0.0.1:9301 --weight 7
steer service add opsvc --prefix $SVC4/32 --port 99 --pool op
# and one the file names too: steerd adopts it
steer pool add spare --policy hash
operator_state() {
	steer -j status | jq -c '[(.services[] | select(.name == "opsvc") | {name, port_lo, pool, owner}),
		(.pools[] | select(.name == "op") | {name, policy, owner}),
		(.workers[] | select(.name == "o1") | {name, weight, owner})]'
}
op_before=$(operator_state)
is "$op_before" '[{"name":"opsvc","port_lo":99,"pool":"op","owner":"operator"},{"name":"op","policy":"round-robin","owner":"operator"},{"name":"o1","weight":7,"owner":"operator"}]' \
	"the operator's objects are marked as the operator's in the maps"

# ---- defect 3: file A, stop, file B --------------------------------------
write_conf 6 100 200 80; CONF_A=$CONF
start_steerd "$CONF_A"
expect_converged "$CONF_A" "file A applied (w1..w6, weight 100, rate 200, port 80)"
is "$(steer -j pool list | jq -r '.pools[] | select(.name == "spare") | "\(.policy)/\(.owner)"')" "least-conn/steerd" \
	"the operator's pool the file names is adopted and made to match"
kill "$STEERD_PID"; wait_for '! kill -0 $STEERD_PID 2>/dev/null'
write_conf 4 50 50 81; CONF_B=$CONF
restart_steerd "$CONF_B"
wait_for 'converged_basic 4 50 50 81' 10
ok $? "restarted with file B: w5, w6 removed, weight 50, rate 50, port 81 ($(steer -j worker list | jq -c '[.workers[] | "\(.name)=\(.weight)"]'))"
expect_converged "$CONF_B" "and steerctl's lists equal steerd --check -j of file B"
is "$(operator_state)" "$op_before" "the operator's pool, worker and service are untouched"
out=$("$SCLIENT" --connect $SVC4:81 -n 200 -c 10)
is "$(client_ok "$out")/$(( $(client_count "$out" w5) + $(client_count "$out" w6) ))" "200 0 0/0" \
	"port 81 is served, never by w5 or w6"

# ---- defect 3: kill -9 during a reload, then restart -----------------------
# Reload to one file, kill -9 at a random moment, restart with the other:
# whatever half-done state the kill left, the restart reaches its file.
converged_n=0 midway=0
tries=${KILL_TRIES:-12}
for t in $(seq "$tries"); do
	if [ $((t % 2)) = 1 ]; then f=$CONF_A g=$CONF_B want="4 50 50 81"
	else f=$CONF_B g=$CONF_A want="6 100 200 80"; fi
	cp "$f" "$STEER_TMP/live.conf"
	n0=$(grep -c reloaded "$STEER_TMP/steerd.log")
	kill -HUP "$STEERD_PID"
	sleep "0.0$((RANDOM % 6))"
	kill -9 "$STEERD_PID"
	wait_for '! kill -0 $STEERD_PID 2>/dev/null'
	[ "$(grep -c reloaded "$STEER_TMP/steerd.log")" = "$n0" ] && midway=$((midway + 1))
	cp "$g" "$STEER_TMP/live.conf"
	# and once more in the middle of the first pass of a start
	"$STEERD" -c "$STEER_TMP/live.conf" --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
	pid=$!
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	restart_steerd "$STEER_TMP/live.conf"
	# shellcheck disable=SC2086
	wait_for "converged_basic $want" 10 && converged_n=$((converged_n + 1))
done
diag "$midway of $tries kills landed before the reload finished"
kill -0 "$STEERD_PID"
ok $? "steerd runs"
is "$converged_n" "$tries" "kill -9 during a reload, restart with another file: every restart converges ($converged_n of $tries)"
expect_converged "$STEER_TMP/live.conf" "the last restart matches its file exactly"

# ---- the quota rule: a spent quota is not granted again ---------------------
cp "$CONF_B" "$STEER_TMP/live.conf"
write_conf 4 50 50 81 100; cp "$CONF" "$STEER_TMP/live.conf"
kill -HUP "$STEERD_PID"
wait_for '[ "$(steer -j pool list | jq -r ".pools[] | select(.name == \"spare\") | .quota_left")" = 100 ]'
ok $? "a quota in the file is granted"
out=$("$SCLIENT" --connect $SVC4:90 -n 150 -c 5)
is "$(client_count "$out" s1)" 100 "100 connections spend it"
quota_left() { steer -j pool list | jq -r '.pools[] | select(.name == "spare") | .quota_left'; }
kill -HUP "$STEERD_PID"; sleep 0.6
kill -9 "$STEERD_PID"; restart_steerd "$STEER_TMP/live.conf"; sleep 0.6
is "$(quota_left)" 0 "a reload, a kill -9 and a restart, and periodic passes grant nothing again"
write_conf 4 50 50 81 120; cp "$CONF" "$STEER_TMP/live.conf"
kill -HUP "$STEERD_PID"
wait_for '[ "$(quota_left)" = 120 ]'
ok $? "a changed quota in the file is granted ($(quota_left))"

# ---- fallbacks the other way round: p -> spare becomes spare -> p -----------
sed -e 's/fallback = "spare"; //' -e 's/{ name = "spare"; /{ name = "spare"; fallback = "p"; /' \
	"$STEER_TMP/live.conf" > "$STEER_TMP/reversed.conf"
kill -9 "$STEERD_PID"; restart_steerd "$STEER_TMP/reversed.conf"
fallbacks() { steer -j pool list | jq -r '[.pools[] | select(.name == "p" or .name == "spare") | "\(.name)>\(.fallback)"] | sort | join(" ")'; }
wait_for '[ "$(fallbacks)" = "p>null spare>p" ]'
ok $? "a fallback chain reversed by the file is settled ($(fallbacks))"
kill -9 "$STEERD_PID"; restart_steerd "$STEER_TMP/live.conf"
wait_for '[ "$(fallbacks)" = "p>spare spare>null" ]'
ok $? "and reversed back ($(fallbacks))"

# a renamed worker and service: the new names take the same socket and ports
sed -e 's/"w4"/"w4b"/' -e 's/"side"/"side2"/' "$STEER_TMP/live.conf" > "$STEER_TMP/renamed.conf"
cp "$STEER_TMP/live.conf" "$STEER_TMP/kept.conf"; cp "$STEER_TMP/renamed.conf" "$STEER_TMP/live.conf"
kill -HUP "$STEERD_PID"
expect_converged "$STEER_TMP/live.conf" "a worker and a service renamed in the file are renamed in the maps"
cp "$STEER_TMP/kept.conf" "$STEER_TMP/live.conf"; kill -HUP "$STEERD_PID"

# ---- defect 9: unload and load under steerd --------------------------------
steer unload && steer_load
wait_for 'converged "$STEER_TMP/live.conf"' 10
ok $? "after steerctl unload; steerctl load, steerd puts its file's state back"
out=$("$SCLIENT" --connect $SVC4:81 -n 40 -c 10)	# within the rate's burst
is "$(client_ok "$out")/$(client_count "$out" s1)" "40 0 0/0" "and traffic flows to its workers"
check "steerd logged the replaced maps" grep -q "maps were replaced" "$STEER_TMP/steerd.log"

# ---- defect 4: a worker restarted on its address comes back -----------------
kill -9 "${WPID[1]}"
wait_for '[ "$(worker_field w1 state)" = gone ] || [ "$(health_of w1)" = 0 ]'
start_worker w1 127.0.0.1:9101
t0=$(date +%s%N)
wait_for '[ "$(worker_field w1 state)" = up ] && [ "$(health_of w1)" = 1000 ] && [ "$(worker_field w1 pid)" = "$LAST_PID" ]'
ok $? "kill -9 of w1, restarted on its address: steerd takes its new listener ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
# (its failed checks may have opened p's circuit for a moment: issue 7, defect 5)
wait_for '[ "$(steer -j pool list | jq -r ".pools[] | select(.name == \"p\") | .circuit")" = closed ]' 10
# p's bucket (rate 50/s, burst 50) was spent by the 40 above: give it the
# time to refill, or some of these spill to the fallback
sleep 1.5
"$SCLIENT" --connect $SVC4:81 -n 40 -c 0 --mode hold --hold-ms 2500 > "$STEER_TMP/held" 2>&1 &
holder=$!
wait_for '[ "$(total_outstanding p)" = 40 ]'
ok $? "40 held connections are counted"
# read while only the 40 are open: a tcp check (every 100 ms) is a direct
# connection and counts on its worker for the moment it is open
read_counted() {
	local list
	list=$(steer -j worker list) || return 1
	[ "$(jq '[.workers[] | select(.pool == "p") | .outstanding] | add' <<< "$list")" = 40 ] &&
		counted=$(jq -r '[.workers[] | select(.pool == "p") | "\(.name)=\(.outstanding)"] | sort | join(" ")' <<< "$list")
}
counted=
wait_for read_counted 2
wait "$holder"
held=$(cat "$STEER_TMP/held")
is "$counted" "$(for i in 1 2 3 4; do echo "w$i=$(client_count "$held" "w$i")"; done | sort | tr '\n' ' ' | sed 's/ $//')" \
	"each worker's count is exact (the restarted w1 included)"
[ "$(client_count "$held" w1)" -gt 0 ]
ok $? "and the restarted w1 got some of them ($(client_count "$held" w1))"
wait_for all_outstanding_zero
ok $? "counts return to 0"
expect_converged "$STEER_TMP/live.conf" "converged at the end"
check_invariants
is "$(operator_state | jq -c '.[0:1]')" '[]' "(the unload took the operator's objects with it)"
is "$(grep -c 'AddressSanitizer\|runtime error' "$STEER_TMP/steerd.log")" 0 "no sanitizer report in steerd's log"
[ "$TAP_FAILED" = 0 ] || sed 's/^/# /' "$STEER_TMP/steerd.log" | tail -40 >&2
done_testing
