#!/bin/bash
# Chaos: two services with clients streaming to both for the whole run,
# while a random (seeded) sequence of operations runs: kill -9 and restart
# of workers on the same address, steerctl mutations from several processes
# at once, SIGHUP with alternating files, kill -9 of steerd (during a reload
# too) and a restart with either file, `steerctl upgrade`, `unload` + `load`.
# Invariants, throughout and at the end:
#   - no failed connection apart from those a kill or an unload explains (a
#     batch of a service's client that overlaps a kill of one of its workers,
#     or the time from an unload until steerd has put everything back);
#   - no connection served by a worker outside its service's pool chain;
#   - steerd converges to its file after every operation (structure: names,
#     pools, addresses; weights too at the end, when the writers stopped);
#   - a restarted worker is taken in again (its new listener counts);
#   - a forced-open circuit lets nothing through to its pool;
#   - steerd never crashes, nothing reports a sanitizer error;
#   - at the end: the figures of a quiet run (served by pool, selections,
#     counts back to 0, every worker of the file serves).
# CHAOS_SEED=N replays an operation sequence, CHAOS_WRITERS=N (0-3, default
# 3) sets the number of concurrent steerctl writers, CHAOS_SECONDS=N (default 75)
# sets the length of the chaos phase, CHAOS_OPS="sighup upgrade ..." limits
# the operations to some of kill_worker sighup sighup_storm kill_steerd
# upgrade reload_maps. Figures are printed as "# chaos: ...".
source "$(dirname "$0")/../lib.sh"

CHAOS_SECONDS=${CHAOS_SECONDS:-75}
SEED=${CHAOS_SEED:-$(( $(date +%s%N) / 1000 % 1000000 ))}
RANDOM=$SEED
CONVERGE_S=5		# after an operation steerd applies at once
RECONCILE_S=10		# after an external load: steerd notices by itself
BACK_S=6		# a restarted worker is taken in (checks: 200 ms, rise 2)
KILL_WINDOW_S=1.0	# failures this long after a worker's kill are its own
diag "chaos: seed $SEED (CHAOS_SEED=$SEED replays it), ${CHAOS_SECONDS} s of operations"

CONF=$STEER_TMP/steer.conf
EVENTS=$STEER_TMP/events
STOP=$STEER_TMP/stop
: > "$EVENTS"
now() { echo "$EPOCHREALTIME"; }
event() { echo "$(now) $*" >> "$EVENTS"; }

# ---- the two files -------------------------------------------------------
# pool:name:port:weight; A and B differ in weights, worker sets and pa's rate
SPEC_A="pa:a1:9201:100 pa:a2:9202:100 pa:a3:9203:100 pa:a4:9204:100
	pb:b1:9301:100 pb:b2:9302:100 pb:b3:9303:100 pb:b4:9304:100 pc:c1:9401:100"
SPEC_B="pa:a1:9201:200 pa:a2:9202:50 pa:a3:9203:50 pa:a5:9205:50
	pb:b1:9301:50 pb:b2:9302:50 pb:b3:9303:50 pb:b5:9305:150 pc:c1:9401:100"
ALL_WORKERS="a1:9201 a2:9202 a3:9203 a4:9204 a5:9205 b1:9301 b2:9302 b3:9303 b4:9304 b5:9305 c1:9401"
spec_of() { if [ "$1" = A ]; then echo $SPEC_A; else echo $SPEC_B; fi; }
workers_in() {	# workers_in VARIANT POOL
	local s
	for s in $(spec_of "$1"); do
		IFS=: read -r p n _ _ <<< "$s"
		[ "$p" = "$2" ] && echo "$n"
	done
}
pool_conf() {	# pool_conf VARIANT POOL SETTINGS: one pool block
	local s p n port w sep=""
	echo "  { name = \"$2\"; $3"
	echo "    workers = ("
	for s in $(spec_of "$1"); do
		IFS=: read -r p n port w <<< "$s"
		[ "$p" = "$2" ] || continue
		echo "      $sep{ name = \"$n\"; addr = \"127.0.0.1:$port\"; weight = $w; resources = false;"
		echo "        check = { type = \"tcp\"; interval_ms = 50; timeout_ms = 200; rise = 4; fall = 4; }; }"
		sep=","
	done
	echo "    ); }"
}
# pb and pc have no fallback: their circuits never open by themselves (a
# killed worker's resets must not refuse a whole service); pa's may, to pc.
NO_AUTO_CIRCUIT='circuit = { threshold = 1.0; min_requests = 1000000; };'
write_conf() {	# write_conf VARIANT: into $CONF, atomically
	local rate=""
	[ "$1" = B ] && rate="rate = 400.0; burst = 100;"
	{
		echo "daemon = { interval_ms = 200; socket = \"$STEER_TMP/steerd.sock\"; };"
		echo "pools = ("
		pool_conf "$1" pa "fallback = \"pc\"; $rate"
		echo ","
		pool_conf "$1" pb "policy = \"round-robin\"; $NO_AUTO_CIRCUIT"
		echo ","
		pool_conf "$1" pc "$NO_AUTO_CIRCUIT"
		echo ");"
		echo "services = ( { name = \"sa\"; prefix = \"127.10.0.1/32\"; port = 80; pool = \"pa\"; },"
		echo "             { name = \"sb\"; prefix = \"127.10.0.2/32\"; port = 80; pool = \"pb\"; } );"
	} > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
	VARIANT=$1
}
# want_json VARIANT: the file as `steerd --check -j` prints it, made here
# from the same spec, so the oracle does not depend on steerd's parser
want_json() {
	local s p n port w
	for s in $(spec_of "$1"); do
		IFS=: read -r p n port w <<< "$s"
		printf '{"name":"%s","pool":"%s","addr":"127.0.0.1:%s","weight":%s,"maxconn":0}\n' \
			"$n" "$p" "$port" "$w"
	done | jq -s -c '{services: [
		{name: "sa", pool: "pa", prefix: "127.10.0.1/32", port_lo: 80, port_hi: 80},
		{name: "sb", pool: "pb", prefix: "127.10.0.2/32", port_lo: 80, port_hi: 80}],
	    pools: [{name: "pa", policy: "least-conn", fallback: "pc"},
		{name: "pb", policy: "round-robin", fallback: null},
		{name: "pc", policy: "least-conn", fallback: null}],
	    workers: .}'
}
WANT_A=$(want_json A)
WANT_B=$(want_json B)
want_of() { if [ "$VARIANT" = A ]; then echo "$WANT_A"; else echo "$WANT_B"; fi; }
rate_ok() {	# pa's rate is the file's (A: none; B: 400/s)
	local r
	r=$(steer -j pool list 2> /dev/null | jq -r '.pools[] | select(.name == "pa") | .rate_milli')
	if [ "$VARIANT" = A ]; then [ "$r" = null ]; else [ "$r" = 400000 ]; fi
}
# converged_now [--structure]: the maps hold the current file (quietly)
# okwhy STATUS DESCRIPTION 'COMMAND SAYING WHY': ok, and on a failure why
okwhy() {
	ok "$1" "$2"
	[ "$1" = 0 ] || eval "$3" | sed 's/^/#   /' >&2
}
# file_workers_up: every worker of the current file is up with health > 0
file_workers_up() {
	local names
	names=$(for s in $(spec_of "$VARIANT"); do IFS=: read -r _ n _ _ <<< "$s"; echo "$n"; done | jq -R . | jq -s -c .)
	steer -j worker list 2> /dev/null | jq -e --argjson n "$names" \
		'[.workers[] | select(.name as $x | any($n[]; . == $x)) | select(.state == "up" and .health > 0)]
		 | length == ($n | length)' > /dev/null
}
converged_now() {
	assert_converged_json "$(want_of)" --all-mine "$@" 2> /dev/null || return 1
	[ "${1:-}" = --structure ] || rate_ok || { CONVERGE_DIFF="pool pa: rate not the file's"; return 1; }
}

# ---- workers, steerd ------------------------------------------------------
declare -A PID_OF PORT_OF
for w in $ALL_WORKERS; do
	PORT_OF[${w%%:*}]=${w##*:}
	start_worker "${w%%:*}" "127.0.0.1:${w##*:}"
	PID_OF[${w%%:*}]=$LAST_PID
done
write_conf A
start_steerd "$CONF"
wait_until converged_now 10
okwhy $? "steerd applied file A" 'echo "$CONVERGE_DIFF"'
wait_until file_workers_up 10
ok $? "its 9 workers are up"
# steerd's own reading of the file (steerd --check -j, where it has it)
if "$STEERD" -c "$CONF" --check -j > /dev/null 2>&1; then
	check "steerd --check -j reads file A as this test does, and the maps hold it" \
		assert_converged "$CONF" --all-mine
else
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - steerd --check -j reads file A as this test does # SKIP no steerd --check -j"
fi

# Signals go only to a pid that still runs our binary: pids wrap at 32768
# here, and this test starts thousands of processes.
SWORKER_EXE=$(readlink -f "$SWORKER")
STEERD_EXE=$(readlink -f "$STEERD")
is_proc() { [ "$(readlink "/proc/$1/exe" 2> /dev/null)" = "$2" ]; }	# is_proc PID EXE
steerd_alive() { is_proc "$STEERD_PID" "$STEERD_EXE"; }
steerd_signal() { steerd_alive && kill "-$1" "$STEERD_PID" 2> /dev/null; }	# steerd_signal SIG
STEERD_DEATHS=0
STEERD_STARTS=1
# steerd_check_alive: false (and counted) when steerd died by itself
steerd_check_alive() {
	steerd_alive && return 0
	STEERD_DEATHS=$((STEERD_DEATHS + 1))
	event "steerd-died"
	return 1
}
# steerd_restart: start it again on $CONF; a start that fails is counted
steerd_restart() {
	STEERD_STARTS=$((STEERD_STARTS + 1))
	restart_steerd "$CONF" || { event "steerd-start-failed"; STEERD_DEATHS=$((STEERD_DEATHS + 1)); }
}

# ---- clients ----------------------------------------------------------------
# Batches of 50 connections (5 at a time), each between two time stamps, a
# few hundred a second: enough to hit every window, not so many that the
# operations starve on a 2-core machine.
client_loop() {	# client_loop SERVICE ADDR
	while [ ! -e "$STOP" ]; do
		local t0=$EPOCHREALTIME out
		out=$("$SCLIENT" --connect "$2:80" -n 50 -c 5 --timeout-ms 3000 2> /dev/null)
		printf 'batch %s %s %s\n%s\n' "$1" "$t0" "$EPOCHREALTIME" "$out"
		sleep 0.05
	done >> "$STEER_TMP/clients.$1"
}
client_loop sa 127.10.0.1 &
CLIENT_A=$!
client_loop sb 127.10.0.2 &
CLIENT_B=$!

# ---- concurrent steerctl writers ---------------------------------------
# Writer K touches workers aK and bK only, and drains only aK (pa falls
# back to pc; pb, which has no fallback, must never be left with a killed
# worker alone); writer 3 also forces pa's circuit open (and checks that
# nothing reaches pa then) and sets pa's quota.
ctl() {	# ctl K OP ARGS...: run steerctl, log "OP rc T0 T1 ARGS" in ctl.K
	local k=$1 op=$2 rc t0=$EPOCHREALTIME
	shift 2
	"$STEERCTL" "$@" > /dev/null 2>> "$STEER_TMP/ctl.err.$k"
	rc=$?
	echo "$op $rc $t0 $EPOCHREALTIME $*" >> "$STEER_TMP/ctl.$k"
	return $rc
}
forced_open() {
	steer -j pool list 2> /dev/null | jq -r '.pools[] | select(.name == "pa")
		| .circuit == "open" and (.circuit_forced == 1 or .circuit_forced == true)'
}
circuit_probe() {	# with pa forced open, A's connections must all go to pc
	local before after out
	before=$(forced_open)
	out=$("$SCLIENT" --connect 127.10.0.1:80 -n 50 -c 5 --timeout-ms 3000 2> /dev/null)
	after=$(forced_open)
	# count only when the circuit was open and forced all along
	[ "$before" = true ] && [ "$after" = true ] || return 0
	echo "probe $(awk '$1 == "worker" && $2 ~ /^a/ { n += $3 } END { print n + 0 }' <<< "$out")" \
		>> "$STEER_TMP/probes"
}
writer() {	# writer K
	local k=$1 w
	RANDOM=$((SEED * 7 + k))
	while [ ! -e "$STOP" ]; do
		w=$( ((RANDOM % 2)) && echo "a$k" || echo "b$k")
		case $((RANDOM % (k == 3 ? 6 : 4))) in
		0|1) ctl "$k" weight worker set "$w" --weight $((RANDOM % 300 + 1)) ;;
		2) ctl "$k" drain worker drain "a$k"
		   sleep 0.2
		   ctl "$k" undrain worker undrain "a$k" ;;
		3) ctl "$k" status -j status ;;
		4) ctl "$k" circuit circuit pa open && { circuit_probe; sleep 0.2; }
		   ctl "$k" circuit circuit pa auto ;;
		5) ctl "$k" quota pool quota pa $((RANDOM % 50))
		   sleep 0.3
		   ctl "$k" quota pool quota pa off ;;
		esac
		sleep "0.$((RANDOM % 3 + 1))"
	done
}
WRITERS=()
for k in $(seq "${CHAOS_WRITERS:-3}"); do
	writer "$k" &
	WRITERS+=($!)
done

# ---- the operations ------------------------------------------------------
CONV_OK=0 CONV_ALL=0 CONV_FAILED="" HEALED=0 WORKERS_DIED=""
BACK_OK=0 BACK_ALL=0 BACK_FAILED=""
OPS=""
# converge OP SECONDS: wait until the maps hold the file's structure; log
# it. When they do not, heal (kill -9 and start steerd again) so that the
# rest of the run still measures something; the connections that fail
# meanwhile count as unexplained failures.
converge() {
	CONV_ALL=$((CONV_ALL + 1))
	if wait_until 'converged_now --structure' "$2"; then
		CONV_OK=$((CONV_OK + 1))
		event "converged $1"
		return 0
	fi
	CONV_FAILED="$CONV_FAILED $1:$(head -1 <<< "$CONVERGE_DIFF" | cut -c1-60 | tr ' ' '_')"
	event "not-converged $1"
	steerd_check_alive
	steerd_signal 9
	steerd_restart
	wait_until 'converged_now --structure' "$CONVERGE_S" && HEALED=$((HEALED + 1))
	event "healed"
	return 1
}
other() { if [ "$VARIANT" = A ]; then echo B; else echo A; fi; }
est_of() { steer -j worker list 2> /dev/null | jq -r --arg n "$1" '[.workers[] | select(.name == $n) | .established][0] // -1'; }
# taken_in NAME EST PID: its entry is not gone, and is the new listener (its
# pid, or connections to it counted: the old one is closed)
taken_in() {
	[ "$(worker_field "$1" state 2> /dev/null)" != gone ] &&
		{ [ "$(worker_field "$1" pid 2> /dev/null)" = "$3" ] || [ "$(est_of "$1")" -gt "$2" ]; }
}

op_kill_worker() {
	local ws n est
	ws=($(workers_in "$VARIANT" pa) $(workers_in "$VARIANT" pb))
	n=${ws[RANDOM % ${#ws[@]}]}
	if is_proc "${PID_OF[$n]}" "$SWORKER_EXE"; then
		kill -9 "${PID_OF[$n]}"
	else
		WORKERS_DIED="$WORKERS_DIED $n"	# died by itself, or was killed by someone else
	fi
	event "kill $n"
	est=$(est_of "$n")
	sleep "0.$((RANDOM % 8 + 1))"
	# gone, or a zombie: its sockets are closed
	wait_for "! [ -e /proc/${PID_OF[$n]} ] || grep -q '^[0-9]* (.*) Z' /proc/${PID_OF[$n]}/stat" 3
	start_worker "$n" "127.0.0.1:${PORT_OF[$n]}"
	PID_OF[$n]=$LAST_PID
	event "restart $n"
	# taken in again: its new listener's connections (checks, steered) count
	BACK_ALL=$((BACK_ALL + 1))
	if wait_until "taken_in $n $est $LAST_PID" "$BACK_S"; then
		BACK_OK=$((BACK_OK + 1))
	else
		BACK_FAILED="$BACK_FAILED $n"
	fi
	converge "kill-$n" "$CONVERGE_S"
}
op_sighup() {
	write_conf "$(other)"
	steerd_signal HUP
	event "sighup $VARIANT"
	converge "sighup-$VARIANT" "$CONVERGE_S"
}
op_sighup_storm() {	# ten reloads 0.1 s apart, files alternating
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		write_conf "$(other)"
		steerd_signal HUP
		sleep 0.1
	done
	event "sighup-storm $VARIANT"
	converge "storm-$VARIANT" "$CONVERGE_S"
}
op_kill_steerd() {	# kill -9, half of the time in the middle of a reload
	if ((RANDOM % 2)); then
		write_conf "$(other)"
		steerd_signal HUP
		sleep "0.0$((RANDOM % 10))"
	fi
	steerd_signal 9
	event "kill-steerd"
	((RANDOM % 2)) && write_conf "$(other)"
	sleep "0.$((RANDOM % 3))"
	steerd_restart
	converge "restart-$VARIANT" "$CONVERGE_S"
}
op_upgrade() {
	"$STEERCTL" upgrade > /dev/null 2>> "$STEER_TMP/ctl.err.main" ||
		CONV_FAILED="$CONV_FAILED upgrade-exit-$?"
	event "upgrade"
	converge upgrade "$CONVERGE_S"
}
op_reload_maps() {	# unload + load by hand: steerd must notice and put its state back
	event "unload"
	"$STEERCTL" unload > /dev/null 2>> "$STEER_TMP/ctl.err.main"
	sleep "0.$((RANDOM % 5))"
	"$STEERCTL" load --cgroup "$STEER_TEST_CGROUP" > /dev/null 2>> "$STEER_TMP/ctl.err.main"
	event "load"
	converge "load" "$RECONCILE_S"
	event "load-end"
}

# weighted: 3 in 10 kill a worker, 3 reload (1 of them ten times), 2 kill
# steerd, 1 and 1 the rest
OP_TABLE=(kill_worker kill_worker kill_worker sighup sighup sighup_storm kill_steerd kill_steerd
	  upgrade reload_maps)
START=$SECONDS
while [ $((SECONDS - START)) -lt "$CHAOS_SECONDS" ]; do
	op=${OP_TABLE[RANDOM % ${#OP_TABLE[@]}]}
	[[ " ${CHAOS_OPS:-$op} " == *" $op "* ]] || { sleep 0.01; continue; }
	OPS="$OPS $op"
	"op_$op"
	steerd_check_alive || steerd_restart
done
touch "$STOP"
wait "${WRITERS[@]}" "$CLIENT_A" "$CLIENT_B" 2> /dev/null
diag "chaos: $(wc -w <<< "$OPS") operations:$(tr ' ' '\n' <<< "$OPS" | grep . | sort | uniq -c | awk '{ printf " %s %s", $2, $1 }')"

# ---- figures of the chaos phase -------------------------------------------
# Failed connections of a batch are a kill's when the batch overlaps
# [kill - 0.05 s, kill + KILL_WINDOW_S] of one of its service's workers, an
# unload's when it overlaps [unload, steerd's state back (or RECONCILE_S
# after the load)]; all others are unexplained, those after a failed
# convergence (until the restart that heals it) shown apart.
read -r TOTAL OK_N FAIL_KILL FAIL_UNLOAD FAIL_OTHER MIS_A MIS_B BATCHES_OTHER FAIL_UNCONV <<< "$(
	cat "$STEER_TMP/clients.sa" "$STEER_TMP/clients.sb" | awk -v kw="$KILL_WINDOW_S" -v ev="$EVENTS" '
	BEGIN {
		while ((getline l < ev) > 0) {
			split(l, f, " ")
			if (f[2] == "kill") { nk++; kt[nk] = f[1]; ks[nk] = substr(f[3], 1, 1) == "a" ? "sa" : "sb" }
			if (f[2] == "unload") { nu++; us[nu] = f[1]; ue[nu] = f[1] + 3600 }
			if (f[3] == "load" && (f[2] == "converged" || f[2] == "not-converged")) ue[nu] = f[1]
			if (f[2] == "not-converged") { nc++; cs[nc] = f[1]; ce[nc] = f[1] + 3600 }
			if (f[2] == "healed") ce[nc] = f[1]
		}
	}
	function flush() {
		if (!svc) return
		bad = failed + refused
		total += ok + bad; okn += ok
		if (bad) {
			why = "other"
			for (i = 1; i <= nc; i++)
				if (t0 <= ce[i] && t1 >= cs[i]) why = "unconv"
			for (i = 1; i <= nk; i++)
				if (ks[i] == svc && t0 <= kt[i] + kw && t1 >= kt[i] - 0.05) why = "kill"
			for (i = 1; i <= nu; i++)
				if (t0 <= ue[i] && t1 >= us[i]) why = "unload"
			n[why] += bad
			if (why == "other" || why == "unconv") nbo++
		}
		svc = ""
	}
	$1 == "batch" { flush(); svc = $2; t0 = $3; t1 = $4; ok = failed = refused = 0 }
	$1 == "ok" { ok = $2; failed = $4; refused = $6 }
	$1 == "worker" && svc == "sa" && $2 !~ /^(a[0-9]|c1)$/ { mis["sa"] += $3 }
	$1 == "worker" && svc == "sb" && $2 !~ /^b[0-9]$/ { mis["sb"] += $3 }
	END { flush(); print total + 0, okn + 0, n["kill"] + 0, n["unload"] + 0,
		n["other"] + n["unconv"], mis["sa"] + 0, mis["sb"] + 0, nbo + 0, n["unconv"] + 0 }')"
GAPS=$(awk '$2 == "unload" { u = $1 } $3 == "load" && $2 == "converged" && u { n++; t += $1 - u; u = 0 }
	END { if (n) printf "%d of them back in %.1f s on average", n, t / n; else print "none back" }' "$EVENTS")
diag "chaos: $(grep -c " unload" "$EVENTS") unload+load: $GAPS (unload until steerd had put everything back)"
diag "chaos: $TOTAL connections, $OK_N ok; failed: $FAIL_KILL during kills of their workers," \
	"$FAIL_UNLOAD during unload..reconcile, $FAIL_OTHER otherwise (in $BATCHES_OTHER batches;" \
	"$FAIL_UNCONV of them while steerd had not converged, until a restart healed it)"
is "$FAIL_OTHER" 0 "chaos: no failed connection apart from kills' and unloads' own"
diag "chaos: misdirected: $MIS_A of sa's served outside pa+pc, $MIS_B of sb's outside pb"
is "$((MIS_A + MIS_B))" 0 "chaos: no connection served by another service's pool"
diag "chaos: converged after $CONV_OK of $CONV_ALL operations (within ${CONVERGE_S} s; ${RECONCILE_S} s after a load)${CONV_FAILED:+; not:$CONV_FAILED}; a restart of steerd healed $HEALED of $((CONV_ALL - CONV_OK))"
is "$CONV_OK" "$CONV_ALL" "chaos: steerd converged to its file after every operation"
diag "chaos: restarted workers taken in again: $BACK_OK of $BACK_ALL (within ${BACK_S} s)${BACK_FAILED:+; not:$BACK_FAILED}"
is "$BACK_OK" "$BACK_ALL" "chaos: every restarted worker came back"
PROBES=$(grep -c probe "$STEER_TMP/probes" 2> /dev/null)
LEAKED=$(awk '{ n += $2 } END { print n + 0 }' "$STEER_TMP/probes" 2> /dev/null)
diag "chaos: pa's circuit forced open ${PROBES:-0} times: ${LEAKED:-0} of $(( ${PROBES:-0} * 50 )) probe connections still reached pa"
is "${LEAKED:-0}" 0 "chaos: a forced-open circuit lets nothing through"
diag "chaos: steerctl writers:$(cat "$STEER_TMP"/ctl.[0-9] 2> /dev/null | awk '{ print $1, $2 }' | sort | uniq -c | awk '{ printf " %s=%s:%s", $2, $3, $1 }') (op=exit:count)"
SAN_CTL=$(cat "$STEER_TMP"/ctl.err.* 2> /dev/null | grep -c -E "ERROR: (Address|Leak)Sanitizer|runtime error:")
SAN_D=$(grep -c -E "ERROR: (Address|Leak)Sanitizer|runtime error:|double free" "$STEER_TMP/steerd.log")
diag "chaos: steerd started $STEERD_STARTS times, died by itself $STEERD_DEATHS times (or failed to start); sanitizer reports: steerd $SAN_D, steerctl $SAN_CTL"
[ "$STEERD_DEATHS" = 0 ] && [ "$SAN_D" = 0 ]
okwhy $? "chaos: steerd never crashed" \
	'grep -m3 -E -A3 "AddressSanitizer|runtime error|double free" "$STEER_TMP/steerd.log"'
[ "$SAN_CTL" = 0 ]
okwhy $? "chaos: no steerctl sanitizer report" \
	'grep -h -m3 -E -A3 "AddressSanitizer|LeakSanitizer|runtime error" "$STEER_TMP"/ctl.err.*' 

for n in "${!PID_OF[@]}"; do is_proc "${PID_OF[$n]}" "$SWORKER_EXE" || WORKERS_DIED="$WORKERS_DIED $n"; done
is "${WORKERS_DIED# }" "" "chaos: no worker process died but those the test killed"

# ---- the end: quiet, the operator's marks taken back, one more SIGHUP -----
steerd_alive || steerd_restart
for n in $(workers_in "$VARIANT" pa) $(workers_in "$VARIANT" pb); do steer worker undrain "$n" 2> /dev/null; done
steer pool quota pa off 2> /dev/null
steer circuit pa auto 2> /dev/null
steerd_signal HUP
wait_until converged_now 8
okwhy $? "end: steerd converged to file $VARIANT, weights and rate too" 'echo "$CONVERGE_DIFF"'
wait_until file_workers_up 8
okwhy $? "end: the file's 9 workers are up" \
	'steer -j worker list | jq -c "[.workers[] | {name, state, health, pid}]"' 
check "end: counts settled after the chaos" assert_counts_settle 8
selections_mark
# one client address per connection: a 4-tuple the chaos just closed (or
# this phase closed) and loopback's tcp_tw_reuse reuses within 1.1 s would
# pass for a repeat of it and not count as a selection (README: repeats)
outa=$("$SCLIENT" --connect 127.10.0.1:80 -n 1000 -c 20 --timeout-ms 3000 --src-range 127.21.0.0/20)
outb=$("$SCLIENT" --connect 127.10.0.2:80 -n 1000 -c 20 --timeout-ms 3000 --src-range 127.22.0.0/20)
diag "chaos: end: sa $(client_ok "$outa" | tr ' ' /), sb $(client_ok "$outb" | tr ' ' /) (ok/failed/refused)"
is "$(client_ok "$outa")/$(client_ok "$outb")" "1000 0 0/1000 0 0" "end: 2,000 connections succeed"
check "end: sa's were served by pa (or pc)" assert_served_by_pool "$outa" sa
check "end: sb's were served by pb" assert_served_by_pool "$outb" sb
check "end: 2,000 selections" assert_selections 2000
check "end: counts settle" assert_counts_settle
silent=""
for n in $(workers_in "$VARIANT" pb); do [ "$(client_count "$outb" "$n")" -gt 0 ] || silent="$silent $n"; done
is "$silent" "" "end: every worker of pb serves"
steerd_signal TERM
wait_for '! steerd_alive' 10
[ "$(grep -c -E "ERROR: (Address|Leak)Sanitizer|runtime error:|double free" "$STEER_TMP/steerd.log")" = "$SAN_D" ]
okwhy $? "end: steerd exits on SIGTERM with no new sanitizer report" \
	'grep -m3 -E -A5 "AddressSanitizer|LeakSanitizer|runtime error" "$STEER_TMP/steerd.log"' 
if [ -n "${CHAOS_KEEP:-}" ]; then	# CHAOS_KEEP=DIR: the logs, listeners and maps, to look at
	ss -ltnp > "$STEER_TMP/listeners" 2>&1
	steer -j status > "$STEER_TMP/status.json" 2>&1
	mkdir -p "$CHAOS_KEEP" && cp "$STEER_TMP"/[a-z]* "$CHAOS_KEEP" 2> /dev/null
fi
# lib.sh's cleanup kills WORKER_PIDS: leave it only the live ones of ours
live=()
for pid in "${WORKER_PIDS[@]}"; do
	is_proc "$pid" "$SWORKER_EXE" || is_proc "$pid" "$STEERD_EXE" || is_proc "$pid" "$(readlink -f "$SCLIENT")" &&
		live+=("$pid")
done
WORKER_PIDS=("${live[@]}")
done_testing
