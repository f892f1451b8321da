#!/bin/bash
# The lobby against what breaks it: a read or write on the lobby's listening
# socket itself (recv/send on a listener fails, ENOTCONN/EPIPE, but the
# tracepoints still run) must not change who holds the children cloned from
# it later: every new lobby connection still waits on the lobby.
source "$(dirname "$0")/../lib.sh"

LOBBY=127.0.0.1:9500

lobby_field() {
	steer -j pool list | jq -r --arg p "$1" ".pools[] | select(.name == \$p) | .lobby.$2"
}

# start_pylobby ADDR: a process that holds only the lobby's listener and, on
# SIGUSR1, calls recv() on it, on SIGUSR2 send() (both fail: not connected);
# its pid in LOBBY_PID
start_pylobby() {
	local fifo=$STEER_TMP/ready.pylobby line
	mkfifo "$fifo"
	python3 -c '
import signal, socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((h, int(p))); s.listen(4096)
def poke(signo, _f):
    try:
        s.recv(1) if signo == signal.SIGUSR1 else s.send(b"x")
    except OSError:
        pass
    print("poked", flush=True)
signal.signal(signal.SIGUSR1, poke); signal.signal(signal.SIGUSR2, poke)
print("ready", flush=True)
while True:
    time.sleep(1)
' "$1" > "$fifo" &
	LOBBY_PID=$!
	disown "$LOBBY_PID"
	WORKER_PIDS+=("$LOBBY_PID")
	exec {PYFD}< "$fifo"
	read -r -t 5 line <&"$PYFD" || bail "python lobby did not start"
	[ "$line" = ready ] || bail "python lobby: '$line'"
}
poke_lobby() {	# poke_lobby SIGNAL
	local line
	kill "-$1" "$LOBBY_PID"
	read -r -t 5 line <&"$PYFD" && [ "$line" = poked ]
}

# hold_check WHAT: 8 held connections to 2 one-slot workers: 1 on each, 6
# wait on the lobby (not unattributed), and all back to 0 after
hold_check() {
	local holder
	"$SCLIENT" --connect $SVC4:80 -n 8 -c 0 --mode hold > "$STEER_TMP/hold" 2>&1 < <(sleep 30) &
	holder=$!
	wait_for '[ "$(lobby_field p waiting)" = 6 ] && [ "$(total_outstanding p)" = 2 ]'
	ok $? "$1: 1 on each worker, 6 waiting in the lobby (waiting $(lobby_field p waiting), unattributed $(lobby_field p unattributed), $(outstanding_all))"
	kill "$holder"
	wait_for '[ "$(lobby_field p waiting)" = 0 ] && [ "$(lobby_field p unattributed)" = 0 ] && [ "$(total_outstanding p)" = 0 ]' 10
	ok $? "$1: all back to 0"
}

steer_load
steer pool add p
steer service add web --prefix $SVC4/32 --port 80 --pool p
start_pylobby $LOBBY
for i in 1 2; do
	start_worker "w$i" "127.0.0.1:910$i" --slots 1 --lobby-from "$LOBBY_PID"
	WPID[i]=$LAST_PID
	steer worker add p "w$i" --addr "127.0.0.1:910$i" --slots 1 || bail "worker add w$i"
done
steer pool lobby p --addr $LOBBY || bail "pool lobby"

hold_check "before"
poke_lobby USR1
ok $? "a recv() on the lobby's listener"
hold_check "after a recv() on the listener"
# the same lobby again, afresh (a new generation, its tag written again):
# the send() below is checked on its own
if ! steer pool lobby p off || ! steer pool lobby p --addr $LOBBY; then bail "pool lobby again"; fi
poke_lobby USR2
ok $? "a send() on the lobby's listener"
hold_check "after a send() on the listener"

# A worker deleted while connections it took from the lobby are open, its
# slot reused at once by a new worker: their closes do not touch the new
# worker's counts (generations).
"$SCLIENT" --connect $SVC4:80 -n 2 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
ha=$!
wait_for '[ "$(total_outstanding p)" = 2 ]' || bail "2 direct"
"$SCLIENT" --connect $SVC4:80 -n 4 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
hb=$!
wait_for '[ "$(lobby_field p waiting)" = 4 ]' || bail "4 waiting"
kill "$ha"
wait_for '[ "$(lobby_field p waiting)" = 2 ] && [ "$(total_outstanding p)" = 2 ]'
ok $? "the workers free up and take 2 from the lobby ($(lobby_field p waiting) waiting, $(outstanding_all))"
steer worker del w1
kill -9 "${WPID[1]}"	# else a process that is no worker, taking from the lobby
# the lowest free slot (find_free): w1's, the first added
start_worker w9 127.0.0.1:9109 --slots 1 --lobby-from "$LOBBY_PID"
steer worker add p w9 --addr 127.0.0.1:9109 --slots 1 || bail "worker add w9"
kill "$hb"
wait_for '[ "$(lobby_field p waiting)" = 0 ] && [ "$(worker_field w2 outstanding)" = 0 ]' 10
ok $? "all closed: waiting and w2 back to 0"
is "$(worker_field w9 outstanding)/$(worker_field w9 closed)" "0/0" "w1's lobby connections closed without touching w9 (outstanding/closed)"

# steerctl upgrade with connections waiting: the programs after it still
# attribute every lobby take to its worker (the maps are carried)
b_sent=$(lobby_field p sent); b_taken=$(lobby_field p taken)
b_un=$(lobby_field p unattributed_total)	# w9 took one before it was added
"$SCLIENT" --connect $SVC4:80 -n 16 -c 0 --mode sleep:100 --timeout-ms 8000 > "$STEER_TMP/up" 2>&1 &
c=$!
wait_for '[ "$(lobby_field p waiting)" -ge 4 ]'
ok $? "connections wait in the lobby ($(lobby_field p waiting))"
steer upgrade
ok $? "steerctl upgrade while they wait"
wait $c
is "$(client_ok "$(cat "$STEER_TMP/up")")" "16 0 0" "all 16 served across the upgrade"
wait_for '[ "$(lobby_field p waiting)" = 0 ] && [ "$(total_outstanding p)" = 0 ]' 10
ok $? "counts back to 0 after the upgrade"
is "$(( $(lobby_field p taken) - b_taken ))" "$(( $(lobby_field p sent) - b_sent ))" \
	"across the upgrade: taken = sent"
is "$(( $(lobby_field p unattributed_total) - b_un ))" 0 "across the upgrade: none unattributed"

# steerctl in a pid namespace of its own (a container with the host's
# network): the pids it sees are not the ones the kernel names the taking
# process by (the host's). Its lobby-aware workers must be refused, or
# their lobby connections must count on them: never every one of them
# 'unattributed' while the workers look free.
steer pool add q
steer service add web2 --prefix 127.10.0.2/32 --port 80 --pool q
unshare --pid --fork --mount-proc --kill-child bash -c '
	"$1" --listen 127.0.0.1:9510 --name nlobby --no-accept & l=$!
	sleep 0.3
	"$1" --listen 127.0.0.1:9111 --name n1 --slots 1 --lobby-from $l &
	"$1" --listen 127.0.0.1:9112 --name n2 --slots 1 --lobby-from $l &
	wait' _ "$SWORKER" > "$STEER_TMP/ns.out" 2>&1 &
NSU=$!
WORKER_PIDS+=("$NSU")
wait_for '[ "$(grep -c ^ready "$STEER_TMP/ns.out")" = 3 ]' || bail "workers in a pid namespace"
NSINIT=$(tr -d " " < /proc/$NSU/task/$NSU/children)
WORKER_PIDS+=("$NSINIT")
nsteer() { nsenter -t "$NSINIT" -p -m "$STEERCTL" "$@"; }
nsteer pool lobby q --addr 127.0.0.1:9510 || bail "pool lobby q from the pid namespace: $(nsteer pool lobby q --addr 127.0.0.1:9510 2>&1; cat "$STEER_TMP/ns.out"; echo ns=$NSINIT)"
out1=$(nsteer worker add q n1 --addr 127.0.0.1:9111 --slots 1 2>&1); rc1=$?
nsteer worker add q n2 --addr 127.0.0.1:9112 --slots 1 2>/dev/null; rc2=$?
if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
	is "$rc1 $rc2" "2 2" "lobby-aware workers from a pid namespace: both refused"
	ok "$([[ $out1 == Error:*namespace* ]])$?" "with a one-line error naming the pid namespace ($out1)"
	is "$(steer -j worker list | jq '[.workers[] | select(.pool == "q")] | length')" 0 \
		"and nothing written"
else
	out=$("$SCLIENT" --connect 127.10.0.2:80 -n 20 -c 0 --mode sleep:100 --timeout-ms 8000)
	is "$(client_ok "$out")" "20 0 0" "pid namespace: 20 served"
	wait_for '[ "$(lobby_field q waiting)" = 0 ] && [ "$(total_outstanding q)" = 0 ]' 10
	is "$(lobby_field q unattributed_total)" 0 "pid namespace: none unattributed"
	is "$(lobby_field q taken)" "$(lobby_field q sent)" "pid namespace: taken = sent"
fi

# A listener whose process is not known (passed to steerctl, which is its
# only other holder): as a lobby-aware worker every connection it took from
# the lobby would be unattributed, so --slots is refused; without it, fine.
listen_fds_add() {	# listen_fds_add PORT ARGS...: worker add q ... --listen-fds ARGS
	python3 -c '
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
fd = s.detach()
if fd != 3:
    os.dup2(fd, 3); os.close(fd)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], [sys.argv[2], "worker", "add", "q", "lf" + sys.argv[1], "--listen-fds"] + sys.argv[3:])
' "$@"
}
out=$(listen_fds_add 9121 "$STEERCTL" --slots 1 2>&1)
is "$?" 2 "worker add --listen-fds --slots, its process unknown: refused"
ok "$([[ $out == Error:*--pid* ]])$?" "one line saying to name it with --pid and --fd ($out)"
is "$(steer -j worker list | jq '[.workers[] | select(.pool == "q")] | length')" 0 "nothing written"
listen_fds_add 9122 "$STEERCTL" >/dev/null 2>&1
is "$?" 0 "without --slots it is added as before"

# A listener that init (systemd's socket units) holds as well as the worker:
# --addr names the worker's process, not pid 1 (with --slots, pid 1 would
# make every lobby take unattributed, and a second worker would be refused
# as "already lobby-aware worker" of that same process). Pid 1 of a pid
# namespace stands for init here, in it both hold the socket.
unshare --pid --fork --mount-proc --kill-child python3 -c '
import os, socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9131)); s.listen(16)
pid = os.fork()
if pid == 0:
    while True:
        time.sleep(1)
print("worker", pid, flush=True)
while True:
    time.sleep(1)
' > "$STEER_TMP/init.out" 2>&1 &
NSU2=$!
WORKER_PIDS+=("$NSU2")
wait_for 'grep -q ^worker "$STEER_TMP/init.out"' || bail "init and worker in a pid namespace"
NSINIT2=$(tr -d " " < /proc/$NSU2/task/$NSU2/children)
WORKER_PIDS+=("$NSINIT2")
nsenter -t "$NSINIT2" -p -m "$STEERCTL" worker add q i1 --addr 127.0.0.1:9131 || bail "worker add i1"
is "$(worker_field i1 pid)" "$(awk '/^worker/ { print $2 }' "$STEER_TMP/init.out")" \
	"a listener init holds too: the worker's pid is its process's, not init's"

# steerd: a reload that moves a lobby from one pool to another (the pool
# that now has it first in the file) converges in that pass: the lobby
# the file drops is let go before one the file adds is taken.
S3="" D3=""	# later: a third pool and service
write_conf() {	# write_conf LOBBY_OF_S1 LOBBY_OF_S2 ("" = none)
	local l1="" l2=""
	[ -n "$1" ] && l1="lobby = \"$1\";"
	[ -n "$2" ] && l2="lobby = \"$2\";"
	cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 5000; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "s1"; $l1
    workers = ( { name = "m1"; addr = "127.0.0.1:9141"; slots = 1; resources = false; } ); },
  { name = "s2"; $l2
    workers = ( { name = "m2"; addr = "127.0.0.1:9142"; slots = 1; resources = false; } ); }
  ${S3:+, $S3}
);
services = ( { name = "d1"; prefix = "127.10.0.3/32"; port = 80; pool = "s1"; },
             { name = "d2"; prefix = "127.10.0.3/32"; port = 81; pool = "s2"; } ${D3:+, $D3} );
CONF
}
start_worker dlobby 127.0.0.1:9520 --no-accept
DLOBBY=$LAST_PID
start_worker m1 127.0.0.1:9141 --slots 1 --lobby-from "$DLOBBY"
start_worker m2 127.0.0.1:9142 --slots 1 --lobby-from "$DLOBBY"
write_conf "" 127.0.0.1:9520
start_steerd "$STEER_TMP/steer.conf"
is "$(lobby_field s1 addr)/$(lobby_field s2 addr)" "null/127.0.0.1:9520" "steerd: s2 has the lobby"
write_conf 127.0.0.1:9520 ""
kill -HUP "$STEERD_PID"
wait_for '[ "$(lobby_field s1 addr)" = 127.0.0.1:9520 ]' 2
ok $? "the reload moves it to s1 at once (s1 $(lobby_field s1 addr), s2 $(lobby_field s2 addr))"
is "$(lobby_field s2 addr)" null "and s2 has none"
ok "$(! grep -q 'not converged' "$STEER_TMP/steerd.log")$?" \
	"the reload converged ($(grep 'not converged' "$STEER_TMP/steerd.log" | tail -1))"

# steerd: a lobby-aware worker whose process is replaced while its listener
# stays open (systemd restarting a socket-activated service; here the
# launcher that held it too dies): steerd takes its new process, or every
# connection it takes from the lobby is unattributed while it looks free.
python3 -c '
import os, socket, sys, time
def listen(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64); return s
own, lobby = listen(9151), listen(9530)
pid = os.fork()
if pid == 0:
    o, l = os.dup(own.fileno()), os.dup(lobby.fileno())	# above 3 and 4
    os.dup2(o, 3); os.dup2(l, 4)	# inheritable
    os.environ.update(LISTEN_FDS="2", LISTEN_FDNAMES="http:lobby", LISTEN_PID=str(os.getpid()))
    os.execv(sys.executable, [sys.executable, sys.argv[1], "--slots", "1", "--name", "L1"])
print(os.getpid(), pid, flush=True)
while True:
    time.sleep(1)
' "$TOP/scripts/examples/lobby_worker.py" > "$STEER_TMP/launch.out" 2>&1 &
wait_for '[ -s "$STEER_TMP/launch.out" ]' || bail "launcher"
read -r LAUNCHER L1PID < "$STEER_TMP/launch.out"
WORKER_PIDS+=("$LAUNCHER" "$L1PID")
S3='{ name = "s3"; lobby = "127.0.0.1:9530";
  workers = ( { name = "L1"; addr = "127.0.0.1:9151"; slots = 1; resources = false; } ); }'
D3='{ name = "d3"; prefix = "127.10.0.3/32"; port = 82; pool = "s3"; }'
write_conf 127.0.0.1:9520 ""
kill -HUP "$STEERD_PID"
wait_for '[ "$(worker_field L1 pid)" = "$LAUNCHER" ] && [ "$(lobby_field s3 state)" = up ]' 3 ||
	bail "steerd did not take L1 ($(worker_field L1 pid), $(tail -3 "$STEER_TMP/steerd.log"))"
kill -9 "$LAUNCHER"
sleep 6	# beyond one interval (5 s): steerd had its chance to look again
cpids=()
for i in $(seq 8); do
	curl -s -m 8 "http://127.10.0.3:82/?ms=150" > /dev/null &
	cpids+=($!)
done
wait "${cpids[@]}"
wait_for '[ "$(lobby_field s3 waiting)" = 0 ] && [ "$(total_outstanding s3)" = 0 ]' 5
ok "$([ "$(lobby_field s3 sent)" -gt 0 ])$?" "L1's process replaced: connections waited in s3's lobby ($(lobby_field s3 sent))"
is "$(lobby_field s3 unattributed_total)/$(lobby_field s3 taken)" "0/$(lobby_field s3 sent)" \
	"and L1's new process took them as L1 (unattributed_total/taken; worker pid $(worker_field L1 pid), its process $L1PID)"

done_testing
