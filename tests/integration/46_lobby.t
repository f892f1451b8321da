#!/bin/bash
# The lobby (steerctl pool lobby, worker --slots): a connection that finds
# every worker of a lobby pool busy waits in the pool's lobby and goes to
# the first worker that frees; a worker with a free slot gets it directly;
# admission, drain, caps and fallback hold as without a lobby, and a lobby
# nobody serves is skipped, never a queue a connection hangs in.
source "$(dirname "$0")/../lib.sh"

lobby_field() {
	steer -j pool list | jq -r --arg p "$1" ".pools[] | select(.name == \$p) | .lobby.$2"
}
start_lobby() {	# start_lobby NAME ADDR: a process that only holds the lobby socket
	start_worker "$1" "$2" --no-accept
	LOBBY_PID=$LAST_PID
}
# add_lw POOL NAME PORT SLOTS: a lobby-aware sworker, added with --slots
add_lw() {
	start_worker "$2" "127.0.0.1:$3" --slots "$4" --lobby-from "$LOBBY_PID"
	steer worker add "$1" "$2" --addr "127.0.0.1:$3" --slots "$4" || bail "worker add $2"
}
# one MS OUT: one connection whose worker sleeps MS ms, in the background;
# its sclient output in OUT
one() { "$SCLIENT" --connect $SVC4:80 -n 1 --mode "sleep:$1" --timeout-ms 8000 > "$2" 2>&1 & }
who() { awk '$1 == "worker" { print $2 }' "$1"; }
settled() { [ "$(lobby_field "$1" waiting)" = 0 ] && [ "$(total_outstanding "$1")" = 0 ]; }
# refused_now DESCRIPTION: 3 connections to web refused (RST), within 1 s
refused_now() {
	local start ms out
	start=$(date +%s%N)
	out=$("$SCLIENT" --connect $SVC4:80 -n 3 --timeout-ms 3000)
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	is "$(client_ok "$out")" "0 0 3" "$1: refused"
	[ "$ms" -lt 1000 ]
	ok $? "$1: at once ($ms ms), not left waiting"
}

steer_load
steer pool add p
steer service add web --prefix $SVC4/32 --port 80 --pool p
start_lobby lobby 127.0.0.1:9500
P_LOBBY=$LOBBY_PID
add_lw p w1 9101 1
W1=$LAST_PID
add_lw p w2 9102 1
W2=$LAST_PID
steer pool lobby p --addr 127.0.0.1:9500 || bail "pool lobby"

# ---- the first worker that frees takes the waiting ones ----
# c1 (300 ms) and c2 (900 ms) take both workers; c3..c5 (50 ms each) come
# while both are busy: they wait in the lobby, and the worker of c1, free
# first, serves all three (least-conn would have queued about half of them
# behind c2's 900 ms).
one 300 "$STEER_TMP/c1"; sleep 0.05
one 900 "$STEER_TMP/c2"; sleep 0.05
start=$(date +%s%N)
for i in 3 4 5; do one 50 "$STEER_TMP/c$i"; sleep 0.03; done
wait
a=$(who "$STEER_TMP/c1"); b=$(who "$STEER_TMP/c2")
[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ]
ok $? "c1 and c2 went straight to the two free workers ($a, $b)"
is "$(who "$STEER_TMP/c3") $(who "$STEER_TMP/c4") $(who "$STEER_TMP/c5")" "$a $a $a" \
	"c3, c4, c5 waited and the first worker to free ($a) took them in turn"
is "$(lobby_field p sent)" 3 "3 connections went through the lobby"
wait_for 'settled p'
ok $? "counts back to 0"

# ---- steerctl monitor: the cause lobby ----
"$STEERCTL" -j monitor --cause lobby --count 2 > "$STEER_TMP/mon.out" 2> "$STEER_TMP/mon.err" &
mpid=$!
WORKER_PIDS+=("$mpid")
wait_until 'grep -qs "monitor: on" "$STEER_TMP/mon.err"' 10
"$SCLIENT" --connect $SVC4:80 -n 4 -c 0 --mode sleep:50 --timeout-ms 5000 > /dev/null
wait_until '! kill -0 $mpid 2> /dev/null' 5
is "$(jq -r '"\(.cause)/\(.pool)/\(.worker)"' "$STEER_TMP/mon.out" | sort -u)" "lobby/p/null" \
	"monitor --cause lobby: the waiting ones, pool p, no worker yet"
wait_for 'settled p'

# ---- a worker with a free slot gets a connection directly ----
# (w1's process serves 2 at once now, as its slots say)
kill9_free 9101 $W1
add_lw p w1 9101 2
W1=$LAST_PID
"$SCLIENT" --connect 127.0.0.1:9101 -n 1 --mode hold > /dev/null 2>&1 < <(sleep 30) &
h=$!
wait_for '[ "$(worker_field w1 outstanding)" = 1 ]'
"$SCLIENT" --connect 127.0.0.1:9102 -n 1 --mode hold > /dev/null 2>&1 < <(sleep 30) &
h2=$!
wait_for '[ "$(worker_field w2 outstanding)" = 1 ]'
sent=$(lobby_field p sent)
out=$("$SCLIENT" --connect $SVC4:80 -n 1)
is "$(client_count "$out" w1)/$(lobby_field p sent)" "1/$sent" "w2 busy, w1 with 1 of 2 slots taken: straight to w1, not the lobby"
kill $h $h2
wait_for 'settled p'
kill9_free 9101 $W1
add_lw p w1 9101 1
W1=$LAST_PID

# ---- drain: a drained worker gets nothing direct, and no longer makes the
# lobby served; the lobby is skipped when no lobby-aware worker is up ----
# (w1's process goes on accepting from the lobby: the kernel cannot stop
# it, and what it takes counts on it; a worker's own code must stop
# taking from the lobby while it drains. sworker does not know.)
steer worker drain w1
sel=$(worker_field w1 selected)
out=$("$SCLIENT" --connect $SVC4:80 -n 6 -c 0 --mode sleep:100 --timeout-ms 5000)
is "$(client_ok "$out")" "6 0 0" "w1 drained: 6 connections served"
is "$(worker_field w1 selected)" "$sel" "none sent straight to the drained w1"
[ "$(worker_field w2 selected)" -ge 1 ] && [ "$(lobby_field p sent)" -ge 1 ]
ok $? "w2 got the first directly, the rest waited in the lobby w2 keeps served"
steer worker drain w2
sent=$(lobby_field p sent)
refused_now "both drained, no fallback"
is "$(lobby_field p sent)" "$sent" "none sent to a lobby nobody serves"
steer worker undrain w1
steer worker undrain w2
wait_for 'settled p'

# ---- circuit and quota come first; a fallback takes what p does not ----
steer pool add basic
start_worker b1 127.0.0.1:9201
steer worker add basic b1 --addr 127.0.0.1:9201
steer pool set p --fallback basic
"$SCLIENT" --connect $SVC4:80 -n 10 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
h=$!
wait_for '[ "$(lobby_field p waiting)" = 8 ]'
ok $? "10 held: 2 on the workers, 8 waiting in the lobby"
steer circuit p open
out=$("$SCLIENT" --connect $SVC4:80 -n 5)
is "$(client_count "$out" b1)" 5 "circuit open: new connections go to the fallback"
is "$(lobby_field p waiting)" 8 "the 8 already waiting stay in the lobby"
kill $h
wait_for 'settled p' 10
ok $? "the waiting ones were served and closed: counts back to 0"
steer circuit p auto
steer pool quota p 4
out=$("$SCLIENT" --connect $SVC4:80 -n 10 -c 0 --mode sleep:100 --timeout-ms 5000)
is "$(( $(client_count "$out" w1) + $(client_count "$out" w2) ))/$(client_count "$out" b1)" "4/6" \
	"quota 4: 4 admitted (directly or to the lobby), 6 to the fallback"
steer pool quota p off
wait_for 'settled p'

# ---- maxconn: a capped worker is not free even with slots left ----
steer worker set w1 --slots 5 --maxconn 1
steer worker set w2 --slots 5 --maxconn 1
"$SCLIENT" --connect $SVC4:80 -n 2 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
h=$!
wait_for '[ "$(total_outstanding p)" = 2 ]'
out=$("$SCLIENT" --connect $SVC4:80 -n 3)
is "$(client_count "$out" b1)" 3 "every worker at its maxconn: the fallback, not the lobby"
kill $h
wait_for 'settled p'
steer worker set w1 --slots 1 --maxconn 0
steer worker set w2 --slots 1 --maxconn 0
steer pool set p --fallback none

# ---- a lobby-unaware worker in a lobby pool: free only when idle ----
start_worker u1 127.0.0.1:9103
steer worker add p u1 --addr 127.0.0.1:9103
out=$("$SCLIENT" --connect $SVC4:80 -n 12 -c 0 --mode sleep:100 --timeout-ms 5000)
is "$(client_ok "$out")" "12 0 0" "with a lobby-unaware worker: 12 served"
[ "$(client_count "$out" u1)" -ge 1 ] && [ "$(client_count "$out" u1)" -le 2 ]
ok $? "u1 got only what found it idle ($(client_count "$out" u1)), nothing queued on it"
steer worker del u1
wait_for 'settled p'

# ---- a lobby whose lobby-aware workers all died ----
kill9_free 9101 $W1
kill9_free 9102 $W2
refused_now "workers dead, their lobby still open"
steer worker del w1
steer worker del w2
add_lw p w1 9101 1
add_lw p w2 9102 1

# ---- upgrade with connections waiting in the lobby: none lost ----
"$SCLIENT" --connect $SVC4:80 -n 12 -c 0 --mode sleep:100 --timeout-ms 8000 > "$STEER_TMP/up" 2>&1 &
c=$!
wait_for '[ "$(lobby_field p waiting)" -ge 5 ]'
ok $? "connections wait in the lobby ($(lobby_field p waiting))"
steer upgrade
ok $? "steerctl upgrade while they wait"
wait $c
is "$(client_ok "$(cat "$STEER_TMP/up")")" "12 0 0" "all 12 served across the upgrade"
wait_for 'settled p'
ok $? "counts back to 0 after the upgrade"

# ---- two pools, two lobbies at once ----
steer pool add q
steer service add api --prefix $SVC4/32 --port 81 --pool q
start_lobby lobbyq 127.0.0.1:9600
add_lw q q1 9301 1
add_lw q q2 9302 1
steer pool lobby q --addr 127.0.0.1:9600
"$SCLIENT" --connect $SVC4:80 -n 40 -c 0 --mode sleep:20 --timeout-ms 8000 > "$STEER_TMP/p" 2>&1 &
"$SCLIENT" --connect $SVC4:81 -n 40 -c 0 --mode sleep:20 --timeout-ms 8000 > "$STEER_TMP/q" 2>&1 &
wait
outp=$(cat "$STEER_TMP/p"); outq=$(cat "$STEER_TMP/q")
is "$(client_ok "$outp")/$(client_ok "$outq")" "40 0 0/40 0 0" "two pools with two lobbies: 40 + 40 served"
is "$(( $(client_count "$outp" w1) + $(client_count "$outp" w2) ))/$(( $(client_count "$outq" q1) + $(client_count "$outq" q2) ))" \
	"40/40" "each by its own pool's workers"
[ "$(lobby_field p sent)" -gt 0 ] && [ "$(lobby_field q sent)" -gt 0 ]
ok $? "both lobbies were used"
wait_for 'settled p && settled q'
ok $? "both pools' counts back to 0"

# ---- the same command again changes nothing, counts kept ----
sent=$(lobby_field p sent)
steer pool lobby p --addr 127.0.0.1:9500
ok $? "pool lobby p --addr again: exit 0"
is "$(lobby_field p sent)/$(lobby_field p state)" "$sent/up" "the same socket again: counts kept"
steer pool lobby p --pid "$P_LOBBY" --fd "$(ls -l /proc/$P_LOBBY/fd | awk '/socket:/ { print $9; exit }')"
ok $? "pool lobby p --pid --fd, the same socket: exit 0"
is "$(lobby_field p sent)" "$sent" "by --pid/--fd, the same socket: counts kept"

# ---- bad input: exit 2, nothing changed ----
before=$(steer -j status)
bad() {	# bad DESCRIPTION ARGS...
	local desc=$1 rc
	shift
	steer "$@" > /dev/null 2> "$STEER_TMP/err"
	rc=$?
	is "$rc/$(wc -l < "$STEER_TMP/err")" "2/1" "$desc: exit 2, one line ($(cat "$STEER_TMP/err"))"
}
bad "lobby on an address no one listens on" pool lobby p --addr 127.0.0.1:9999
bad "lobby on a worker's listener" pool lobby p --addr 127.0.0.1:9301
bad "lobby that is another pool's" pool lobby p --addr 127.0.0.1:9600
bad "a worker on a lobby's socket" worker add p wl --addr 127.0.0.1:9600
bad "lobby of no pool" pool lobby nosuch --addr 127.0.0.1:9500
bad "lobby with no socket named" pool lobby p
bad "lobby with both" pool lobby p off --addr 127.0.0.1:9500
bad "lobby 'of'" pool lobby p of
for v in 0 65536 99999999999 abc -1 "" "1 2" $'1\n2' "é"; do
	bad "--slots ${v@Q}" worker set w1 --slots "$v"
done
start_worker w3 127.0.0.1:9104 --slots 1 --lobby-from "$LOBBY_PID"
W3=$LAST_PID
steer worker add p w3 --addr 127.0.0.1:9104 --slots 1
bad "a second lobby-aware worker of one process in one pool" worker add p w3b --pid "$W3" --fd 4 --slots 1
steer worker del w3
is "$(steer -j status | jq -S 'del(.. | .waiting?, .sent?, .taken?)')" "$(echo "$before" | jq -S 'del(.. | .waiting?, .sent?, .taken?)')" "nothing changed"

# ---- as nobody: refused, nothing changed ----
setpriv --reuid=65534 --regid=65534 --clear-groups "$STEERCTL" pool lobby p off 2> "$STEER_TMP/err"
rc=$?
[ "$rc" -ne 0 ] && [ "$(lobby_field p state)" = up ]
ok $? "pool lobby p off as nobody: refused (exit $rc: $(cat "$STEER_TMP/err")), the lobby stays"
setpriv --reuid=65534 --regid=65534 --clear-groups "$STEERCTL" worker set w1 --slots off 2> /dev/null
is "$(worker_field w1 slots)" 1 "worker set --slots off as nobody: nothing changed"

# ---- off ----
steer pool lobby p off
ok $? "pool lobby p off"
is "$(steer -j pool list | jq -c '.pools[] | select(.name == "p") | .lobby')" null "p has no lobby"
out=$("$SCLIENT" --connect $SVC4:80 -n 6 -c 0 --mode sleep:50 --timeout-ms 5000)
is "$(client_ok "$out")" "6 0 0" "without a lobby: served by the workers (least-conn)"
# ---- steerd: slots and lobby from the file; a lobby no one listens on
# yet is taken once someone does; a restart with connections waiting ----
cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "sd"; lobby = "127.0.0.1:9700"; workers = (
	{ name = "s1"; addr = "127.0.0.1:9401"; slots = 1; resources = false; },
	{ name = "s2"; addr = "127.0.0.1:9402"; slots = 1; resources = false; } ); } );
services = ( { name = "sds"; prefix = "$SVC4/32"; port = 82; pool = "sd"; } );
CONF
start_lobby lobbysd 127.0.0.1:9701	# not the file's address: nothing there yet
for i in 1 2; do start_worker "s$i" "127.0.0.1:940$i" --slots 1 --lobby-from "$LOBBY_PID"; done
start_steerd "$STEER_TMP/steer.conf"
wait_for '[ "$(worker_field s1 slots)/$(worker_field s2 slots)" = "1/1" ]'
ok $? "steerd: the file's slots are in the maps"
is "$(steer -j pool list | jq -c '.pools[] | select(.name == "sd") | .lobby')" null \
	"no one listens on the file's lobby address: no lobby yet"
grep -q "lobby: .*will retry" "$STEER_TMP/steerd.log"
ok $? "steerd says it will retry"
# the holder and its workers again, on the file's address
kill -9 "$LOBBY_PID"
start_lobby lobbysd 127.0.0.1:9700
for i in 1 2; do
	kill9_free "940$i" "$(worker_field "s$i" pid)"
	start_worker "s$i" "127.0.0.1:940$i" --slots 1 --lobby-from "$LOBBY_PID"
	SPID[i]=$LAST_PID
done
wait_for '[ "$(lobby_field sd addr)/$(lobby_field sd state)" = "127.0.0.1:9700/up" ]' 10
ok $? "once someone listens there, steerd takes it as sd's lobby"
# (a process that accepts from the lobby before steerd knows it is its
# worker's is counted unattributed: wait until both are taken again)
wait_for '[ "$(worker_field s1 pid)/$(worker_field s2 pid)" = "${SPID[1]}/${SPID[2]}" ]'
ok $? "the restarted workers taken again with their new processes"
"$SCLIENT" --connect $SVC4:82 -n 12 -c 0 --mode sleep:150 --timeout-ms 10000 > "$STEER_TMP/sd" 2>&1 &
c=$!
wait_for '[ "$(lobby_field sd waiting)" -ge 5 ]'
ok $? "connections wait in sd's lobby ($(lobby_field sd waiting))"
kill "$STEERD_PID"
wait_for '! kill -0 "$STEERD_PID" 2> /dev/null'
start_steerd "$STEER_TMP/steer.conf"
wait $c
is "$(client_ok "$(cat "$STEER_TMP/sd")")" "12 0 0" "steerd restarted while they waited: all 12 served"
wait_for 'settled sd'
ok $? "sd's counts back to 0"
is "$(lobby_field sd sent)" "$(lobby_field sd taken)" "sd: every connection sent to the lobby was taken (the lobby kept across the restart)"
check_invariants "$out" web "$outq" api "$(cat "$STEER_TMP/sd")" sds
done_testing
