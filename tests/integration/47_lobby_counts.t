#!/bin/bash
# The lobby's exact counts: a connection that waits in a pool's lobby counts
# on the lobby, and from the moment a worker's process takes it (its first
# read, write or FIN) on that worker until its close, whatever the close
# path; nothing counts twice or leaks.
source "$(dirname "$0")/../lib.sh"

LOBBY=127.0.0.1:9500

# lobby_field POOL FIELD: one field of a pool's lobby in `steerctl -j pool list`
lobby_field() {
	steer -j pool list | jq -r --arg p "$1" ".pools[] | select(.name == \$p) | .lobby.$2"
}
pool_field() {
	steer -j pool list | jq -r --arg p "$1" ".pools[] | select(.name == \$p) | .$2"
}
# sum of a worker field over a pool
workers_sum() {
	steer -j worker list | jq --arg p "$1" "[.workers[] | select(.pool == \$p) | .$2] | add // 0"
}
lobby_settled() {
	[ "$(lobby_field "$1" waiting)" = 0 ] && [ "$(lobby_field "$1" unattributed)" = 0 ] &&
		[ "$(total_outstanding "$1")" = 0 ]
}
# start_lobby NAME ADDR: a process that only holds the lobby's listening
# socket (the lobby-aware workers take copies of it); its pid in LOBBY_PID
start_lobby() {
	start_worker "$1" "$2" --no-accept --backlog "${3:-4096}"
	LOBBY_PID=$LAST_PID
}
# start_lw NAME ADDR SLOTS: a lobby-aware sworker, SLOTS at once
start_lw() {
	start_worker "$1" "$2" --slots "$3" --lobby-from "$LOBBY_PID"
}

steer_load
steer pool add p
steer service add web --prefix $SVC4/32 --port 80 --pool p
start_lobby lobby $LOBBY
for i in 1 2 3; do
	start_lw "w$i" "127.0.0.1:910$i" 1
	WPID[i]=$LAST_PID
	steer worker add p "w$i" --addr "127.0.0.1:910$i" --slots 1 || bail "worker add w$i"
done
steer pool lobby p --addr $LOBBY
ok $? "pool lobby p --addr $LOBBY"
is "$(lobby_field p addr)/$(lobby_field p state)" "$LOBBY/up" "pool list -j shows the lobby, up"
is "$(worker_field w1 slots)" 1 "worker list -j shows slots"

# 30 connections of 100 ms to 3 one-at-a-time workers: 3 go straight to
# the workers, the rest wait in the lobby for the first that frees.
out=$("$SCLIENT" --connect $SVC4:80 -n 30 -c 0 --mode sleep:100 --timeout-ms 8000)
is "$(client_ok "$out")" "30 0 0" "30 connections, all served"
wait_for 'lobby_settled p'
ok $? "lobby waiting, unattributed and every outstanding back to 0"
sent=$(lobby_field p sent)
taken=$(lobby_field p taken)
sel=$(workers_sum p selected)
[ "$sent" -gt 0 ]
ok $? "connections waited in the lobby (sent $sent)"
is "$((sent + sel))" 30 "selections (to workers $sel + to the lobby $sent) = connections"
is "$taken" "$sent" "every connection sent to the lobby was taken from it"
is "$(workers_sum p lobby_taken)" "$taken" "the workers' lobby_taken adds up to the lobby's taken"
is "$(pool_field p selected)" 30 "pool selected = connections"

done_testing
