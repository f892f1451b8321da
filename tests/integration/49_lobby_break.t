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
	steer worker add p "w$i" --addr "127.0.0.1:910$i" --slots 1 || bail "worker add w$i"
done
steer pool lobby p --addr $LOBBY || bail "pool lobby"

hold_check "before"
poke_lobby USR1
ok $? "a recv() on the lobby's listener"
hold_check "after a recv() on the listener"
# the same lobby again, afresh (a new generation, its tag written again):
# the send() below is checked on its own
steer pool lobby p off && steer pool lobby p --addr $LOBBY || bail "pool lobby again"
poke_lobby USR2
ok $? "a send() on the lobby's listener"
hold_check "after a send() on the listener"

done_testing
