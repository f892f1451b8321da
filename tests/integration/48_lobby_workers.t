#!/bin/bash
# The worker side of the lobby (README, "Lobby-aware workers"), without
# steer: the sample agent (fcfs, ps --slots, --procs) and the Python worker
# (scripts/examples/lobby_worker.py) hold their own listener and the pool's
# one lobby socket (made once by scripts/examples/lobby_launch.py, by the
# agent's --lobby, or by systemd-socket-activate as lobby.socket would).
# Checked: a busy one-at-a-time worker takes nothing; when it frees it takes
# its own queue first, then the lobby; it never holds more than its slots;
# two workers sharing one lobby both take from it (nobody idles while a
# connection waits); SIGUSR1 drains the lobby side and SIGUSR2 undoes it;
# kill -9 of one worker leaves the lobby to the other (nothing waiting in it
# is lost); bad options are refused; an unprivileged worker; LISTEN_FDNAMES.
# Queue lengths are a listener's Recv-Q in ss; who served a request is the
# response's X-Worker and X-Via.
source "$(dirname "$0")/../lib.sh"

LAUNCH=$TOP/scripts/examples/lobby_launch.py
PYW=$TOP/scripts/examples/lobby_worker.py
LOBBY=127.0.0.1:9300
OWN1=127.0.0.1:9301
OWN2=127.0.0.1:9302
[ -x "$AGENT" ] || bail "no $AGENT: make tools"

# launch TAG CMD...: lobby_launch.py --lobby $LOBBY -- CMD... (further
# commands after "--"); waits for every worker's "ready"; LPID = the
# launcher, KIDS = its workers' pids
launch() {
	local tag=$1 out=$STEER_TMP/launch.$1 n
	shift
	n=$(printf '%s\n' "$@" | grep -c '^--$')
	"$LAUNCH" --lobby "$LOBBY" -- "$@" > "$out.out" 2> "$out.err" &
	LPID=$!
	disown "$LPID"
	WORKER_PIDS+=("$LPID")
	# generous: python and two workers starting on a loaded CI host
	wait_for "[ \$(grep -c '^ready' '$out.out') = $((n + 2)) ]" 20 ||
		bail "launch $tag: no $((n + 2)) ready lines in 20 s: out: $(tr '\n' ' ' < "$out.out") err: $(tr '\n' ' ' < "$out.err")"
	mapfile -t KIDS < <(awk '$1 == "worker" { print $2 }' "$out.out")
	WORKER_PIDS+=("${KIDS[@]}")
}

# stop_launch TAG: SIGTERM to the launcher (it passes it on); the workers'
# stats lines, "NAME own N lobby N max_conns N" sorted by name
stop_launch() {
	kill "$LPID"
	# its workers too, if it had to be killed: the next launch binds their ports
	wait_for "! kill -0 $LPID 2>/dev/null" 10 || { kill -9 "$LPID" "${KIDS[@]}" 2> /dev/null; why "stop_launch $1: killed -9"; }
	awk '$1 == "stats" { print $2, $3, $4, $5, $6, $7, $8 }' "$STEER_TMP/launch.$1.err" | sort
}

# get TAG ADDR MS: a request in the background; its result "worker via
# end_ns" (or "failed") goes to r.TAG
get() {
	( h=$(curl -s -m 20 -D - -o /dev/null "http://$2/x?ms=$3" | tr -d '\r')
	  w=$(sed -n 's/^X-Worker: //p' <<< "$h") v=$(sed -n 's/^X-Via: //p' <<< "$h")
	  if [ -n "$w" ]; then echo "$w $v $(date +%s%N)"; else echo failed; fi ) > "$STEER_TMP/r.$1" &
	GETS+=($!)
}
gets_wait() { wait "${GETS[@]}"; GETS=(); }
GETS=()
res() { cat "$STEER_TMP/r.$1"; }
# served TAG...: "worker/via" of each, space-separated
served() {
	local t
	for t in "$@"; do printf '%s ' "$(awk '{ print $1 "/" $2 }' "$STEER_TMP/r.$t")"; done | sed 's/ $//'
}
# count_by WORKER TAG...: how many of the requests that worker served
count_by() {
	local w=$1 t n=0
	shift
	for t in "$@"; do [ "$(awk '{ print $1 }' "$STEER_TMP/r.$t")" = "$w" ] && n=$((n + 1)); done
	echo "$n"
}
qlen() { ss -Hltn "sport = :${1##*:}" | awk '{ s += $2 } END { print s + 0 }'; }
end_of() { awk '{ print $3 }' "$STEER_TMP/r.$1"; }

# ---- one one-at-a-time worker: busy takes nothing, then own first ------------
one_at_a_time() {	# one_at_a_time LABEL CMD... (own listener $OWN1, slots 1)
	local label=$1 t lmin omax
	shift
	launch "$label" "$@"
	get busy "$OWN1" 1500
	sleep 0.3
	for t in L1 L2 L3; do get "$t" "$LOBBY" 100; done
	sleep 0.2
	for t in O1 O2; do get "$t" "$OWN1" 100; done
	sleep 0.3
	is "$(qlen "$LOBBY") $(qlen "$OWN1")" "3 2" "$label: busy, it takes nothing: 3 wait in the lobby, 2 in its own queue"
	gets_wait
	is "$(served busy O1 O2 L1 L2 L3)" "w1/own w1/own w1/own w1/lobby w1/lobby w1/lobby" \
		"$label: all 6 served, by where they came from"
	omax=$(printf '%s\n' "$(end_of O1)" "$(end_of O2)" | sort -n | tail -1)
	lmin=$(printf '%s\n' "$(end_of L1)" "$(end_of L2)" "$(end_of L3)" | sort -n | head -1)
	ok "$([ "$omax" -lt "$lmin" ]; echo $?)" "$label: freed, it took its own queue first, then the lobby"
	is "$(stop_launch "$label")" "w1 own 3 lobby 3 max_conns 1" "$label: never more than 1 connection at once"
}
one_at_a_time agent-fcfs "$AGENT" --listen "$OWN1" --name w1 --lobby-fd 3
one_at_a_time python "$PYW" --listen "$OWN1" --name w1 --lobby-fd 3

# ---- slots N: at most N at once, the rest wait in the lobby -------------------
slots_n() {	# slots_n LABEL CMD...
	local label=$1 t
	shift
	launch "$label" "$@"
	for t in 1 2 3 4 5 6; do get "s$t" "$LOBBY" 1200; done
	sleep 0.5
	is "$(qlen "$LOBBY")" 3 "$label: 3 slots: 3 taken, 3 wait in the lobby"
	gets_wait
	is "$(count_by w1 s1 s2 s3 s4 s5 s6)" 6 "$label: all 6 served"
	is "$(stop_launch "$label")" "w1 own 0 lobby 6 max_conns 3" "$label: never more than 3 at once"
}
slots_n agent-ps "$AGENT" --listen "$OWN1" --name w1 --mode ps --slots 3 --lobby-fd 3
slots_n python "$PYW" --listen "$OWN1" --name w1 --slots 3 --lobby-fd 3

# ---- two workers, one lobby: both take from it ---------------------------------
tags=(); for t in $(seq 8); do tags+=("p$t"); done
launch shared "$AGENT" --listen "$OWN1" --name a --lobby-fd 3 -- \
	"$PYW" --listen "$OWN2" --name py --lobby-fd 3
t0=$(date +%s%N)
for t in "${tags[@]}"; do get "$t" "$LOBBY" 300; done
gets_wait
el=$(( ($(date +%s%N) - t0) / 1000000 ))
na=$(count_by a "${tags[@]}") np=$(count_by py "${tags[@]}")
is "$((na + np))" 8 "agent + python on one lobby: all 8 served"
ok "$([ "$na" -ge 3 ] && [ "$np" -ge 3 ]; echo $?)" "both took from the lobby ($na and $np)"
ok "$([ "$el" -lt 2100 ]; echo $?)" "8 x 300 ms on 2 workers in ${el} ms: no worker idled while one waited (one alone: 2400)"
stop_launch shared > /dev/null

# the agent makes the lobby itself with --procs: one socket, N workers
start=$STEER_TMP/procs
"$AGENT" --listen "$OWN1" --lobby "$LOBBY" --procs 2 --name w > "$start.out" 2> "$start.err" &
PPID2=$!
disown "$PPID2"
WORKER_PIDS+=("$PPID2")
wait_for "grep -q ^ready '$start.out'" || bail "agent --procs --lobby: $(cat "$start.err")"
is "$(ss -Hltn "sport = :9300" | wc -l) $(qlen "$OWN1") $(qlen "$OWN2")" "1 0 0" \
	"agent --procs 2 --lobby: one lobby socket, own listeners on PORT and PORT+1"
for t in "${tags[@]}"; do get "$t" "$LOBBY" 200; done
get own2 "$OWN2" 10
gets_wait
n1=$(count_by w.1 "${tags[@]}") n2=$(count_by w.2 "${tags[@]}")
ok "$([ $((n1 + n2)) = 8 ] && [ "$n1" -ge 3 ] && [ "$n2" -ge 3 ]; echo $?)" "--procs 2: both took from the lobby ($n1 and $n2 of 8)"
is "$(served own2)" "w.2/own" "--procs 2: PORT+1 is the second process's own listener"
kill "$PPID2"
wait_for "! kill -0 $PPID2 2>/dev/null"
is "$(awk '$1 == "stats" { print $2, $8 }' "$start.err" | sort | tr '\n' ' ')" "w.1 1 w.2 1 " \
	"--procs 2: each process at most 1 connection at once"

# ---- drain: SIGUSR1 stops lobby accepts, SIGUSR2 resumes -------------------------
launch drain "$AGENT" --listen "$OWN1" --name a --lobby-fd 3 -- \
	"$PYW" --listen "$OWN2" --name py --lobby-fd 3
A=${KIDS[0]} P=${KIDS[1]}
kill -USR1 "$A"
sleep 0.2
for t in d1 d2 d3 d4; do get "$t" "$LOBBY" 150; done
get down "$OWN1" 10
gets_wait
is "$(count_by py d1 d2 d3 d4) $(served down)" "4 a/own" \
	"agent drained: the lobby goes to the other worker; its own listener is still served"
kill -USR1 "$P"
sleep 0.2
get w1 "$LOBBY" 10
sleep 0.6
is "$(qlen "$LOBBY") $(cat "$STEER_TMP/r.w1" 2>/dev/null)" "1 " "both drained: the connection waits in the lobby"
kill -USR2 "$A"
gets_wait
is "$(served w1)" "a/lobby" "SIGUSR2: the agent takes from the lobby again"
kill -USR2 "$P"
sleep 0.2
for t in u1 u2 u3 u4; do get "$t" "$LOBBY" 300; done
gets_wait
ok "$([ "$(count_by py u1 u2 u3 u4)" -ge 1 ] && [ "$(count_by a u1 u2 u3 u4)" -ge 1 ]; echo $?)" \
	"both undrained: both take from the lobby"
stop_launch drain > /dev/null

# ---- kill -9 of one worker: the other serves the lobby, nothing waiting is lost ----
launch kill "$AGENT" --listen "$OWN1" --name a1 --lobby-fd 3 -- \
	"$AGENT" --listen "$OWN2" --name a2 --lobby-fd 3
tags=(k1 k2 k3 k4 k5 k6)
for t in "${tags[@]}"; do get "$t" "$LOBBY" 800; done
sleep 0.4
is "$(qlen "$LOBBY")" 4 "two busy workers: 4 wait in the lobby"
kill -9 "${KIDS[0]}"
gets_wait
failed=$(cat "${tags[@]/#/$STEER_TMP/r.}" | grep -c '^failed')
is "$failed $(count_by a2 "${tags[@]}")" "1 5" \
	"kill -9 a1: only the connection it held is lost; the 4 waiting in the lobby all went to a2"
get after "$LOBBY" 10
gets_wait
is "$(served after)" "a2/lobby" "and the lobby is still served"
stop_launch kill > /dev/null

# ---- bad options: one line, exit 2, nothing listening -----------------------------
"$AGENT" --listen "$OWN1" --lobby-fd 0 > /dev/null 2> "$STEER_TMP/e"
is "$?/$(wc -l < "$STEER_TMP/e")/$(head -c 7 "$STEER_TMP/e")" "2/1/Error: " "agent --lobby-fd 0 (not a socket): exit 2, one line"
for bad in 99999 2147483648 -1 "３" "3 " "" "$(printf '3\n4')"; do
	"$AGENT" --listen "$OWN1" --lobby-fd "$bad" > /dev/null 2> "$STEER_TMP/e"
	rc=$?
	if [ "$rc" != 2 ] || [ "$(wc -l < "$STEER_TMP/e")" -gt 2 ]; then
		why "--lobby-fd '$bad': rc $rc $(cat "$STEER_TMP/e")"
		rc=x
		break
	fi
done
ok "$([ "$rc" = 2 ]; echo $?)" "agent --lobby-fd: huge, negative, unicode, spaces, empty, newline: exit 2"
"$AGENT" --listen "$OWN1" --lobby "$LOBBY" --lobby-fd 0 > /dev/null 2> "$STEER_TMP/e"
is "$?" 2 "agent --lobby and --lobby-fd together: exit 2"
"$AGENT" --listen 127.0.0.1:65535 --lobby "$LOBBY" --procs 2 > /dev/null 2> "$STEER_TMP/e"
is "$?" 2 "agent --procs 2 from port 65535 with a lobby: exit 2 (no room for PORT+1)"
"$AGENT" --listen "$OWN1" --lobby "$(printf '127.0.0.1:9\n300')" > /dev/null 2> "$STEER_TMP/e"
is "$?" 2 "agent --lobby with a newline: exit 2"
"$PYW" --listen "$OWN1" > /dev/null 2> "$STEER_TMP/e"
is "$?/$(tail -n 1 "$STEER_TMP/e" | head -c 7)" "2/Error: " "lobby_worker.py without a lobby: exit 2"
is "$(ss -Hltn | wc -l)" 0 "nothing left listening"

# ---- an unprivileged worker ------------------------------------------------------
setpriv --reuid nobody --regid nogroup --clear-groups "$AGENT" --listen "$OWN1" --lobby "$LOBBY" --name nb \
	> "$STEER_TMP/nb.out" 2>&1 &
NB=$!
disown "$NB"
WORKER_PIDS+=("$NB")
wait_for "grep -q ^ready '$STEER_TMP/nb.out'" || why "unprivileged agent: $(cat "$STEER_TMP/nb.out")"
get nb "$LOBBY" 10
gets_wait
is "$(served nb)" "nb/lobby" "an agent run as nobody makes and serves a lobby"
kill "$NB"
wait_for "! kill -0 $NB 2>/dev/null"

# ---- systemd: the lobby by LISTEN_FDNAMES, in either order ------------------------
sd_worker() {	# sd_worker LABEL -l A -l B --fdname=X:Y
	local label=$1 pid
	shift
	systemd-socket-activate "$@" -E PATH python3 "$PYW" --name sd > /dev/null 2> "$STEER_TMP/sd.err" &
	pid=$!
	disown "$pid"
	WORKER_PIDS+=("$pid")
	wait_for "[ \$(grep -c '^Listening' '$STEER_TMP/sd.err') = 2 ]" || why "socket-activate: $(cat "$STEER_TMP/sd.err")"
	get sdown "$OWN1" 10	# the first connection starts it (systemd-socket-activate waits for one)
	gets_wait
	get sdlobby "$LOBBY" 10
	gets_wait
	is "$(served sdown sdlobby)" "sd/own sd/lobby" "$label: LISTEN_FDNAMES tells its own socket from the lobby"
	kill "$pid"
	wait_for "! kill -0 $pid 2>/dev/null"
}
sd_worker "python, own first" -l "$OWN1" -l "$LOBBY" --fdname=http:lobby
sd_worker "python, lobby first" -l "$LOBBY" -l "$OWN1" --fdname=lobby:http

# the units are clean (systemd-analyze verify on copies naming real binaries)
vdir=$STEER_TMP/units
mkdir -p "$vdir"
for f in "$TOP"/scripts/systemd/*; do
	sed -e "s#/usr/local/sbin/steerctl#$STEERCTL#g" \
		-e "s#/usr/local/share/steer/lobby_worker.py#$PYW#g" "$f" > "$vdir/$(basename "$f")"
done
vout=$(SYSTEMD_UNIT_PATH=$vdir: systemd-analyze verify --man=no lobby.socket lobby-register.service \
	lobby-worker@9301.socket lobby-worker@9301.service 2>&1)
is "$?/$vout" "0/" "systemd-analyze verify: the lobby units are clean"
grep -q '^Sockets=lobby-worker@%i.socket lobby.socket' "$TOP/scripts/systemd/lobby-worker@.service"
ok $? "lobby-worker@.service: Sockets=lobby-worker@%i.socket lobby.socket"
done_testing
