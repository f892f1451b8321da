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

# While they wait: 20 held connections, one per worker being served, the
# other 17 counted on the lobby, exactly.
"$SCLIENT" --connect $SVC4:80 -n 20 -c 0 --mode hold > "$STEER_TMP/hold" 2>&1 < <(sleep 30) &
holder=$!
wait_for '[ "$(lobby_field p waiting)" = 17 ] && [ "$(total_outstanding p)" = 3 ]'
ok $? "held: 3 on the workers (1 each: their slots), 17 waiting in the lobby ($(lobby_field p waiting), $(outstanding_all))"
is "$(worker_field w1 outstanding)/$(worker_field w2 outstanding)/$(worker_field w3 outstanding)" "1/1/1" "one each"
# A worker killed: its connection ends on it; the lobby's queue stays (the
# other workers hold the lobby), its connections wait on.
kill -9 "${WPID[1]}"
wait_for '[ "$(worker_field w1 outstanding)" = 0 ]'
ok $? "w1 killed with -9: its connection ends on it (outstanding 0)"
is "$(lobby_field p waiting)" 17 "the lobby's 17 still wait (w2 and w3 serve it)"
kill "$holder"
wait_for 'lobby_settled p' 10
ok $? "the client closes all 20 (FIN, 17 of them still in the lobby's queue): all counts back to 0"
is "$(lobby_field p unattributed)" 0 "nothing unattributed"
start_lw w1 127.0.0.1:9101 1
WPID[1]=$LAST_PID
steer worker add p w1 --addr 127.0.0.1:9101 --slots 1 || bail "w1 again"

# Every close path, mixed, many at once so most wait in the lobby. Each
# run's client ports are its own (--src-port): a 4-tuple used again within
# STEER_REPEAT_MS is a repeat, not a new selection, with or without a lobby.
b_taken=$(lobby_field p taken)
b_wtaken=$(workers_sum p lobby_taken)
b_lsent=$(lobby_field p sent)
port=12000
for mode in client-fin client-rst server-fin server-rst mixed; do
	b_sent=$(lobby_field p sent)
	b_sel=$(workers_sum p selected)
	out=$("$SCLIENT" --connect $SVC4:80 -n 300 -c 100 --mode $mode --timeout-ms 8000 \
		--src 127.0.0.1 --src-port $port)
	port=$((port + 300))
	is "$(client_ok "$out")" "300 0 0" "$mode: 300 served"
	wait_for 'lobby_settled p' 10
	ok $? "$mode: lobby waiting, unattributed, outstanding back to 0 ($(lobby_field p waiting) $(outstanding_all))"
	is "$(( $(lobby_field p sent) - b_sent + $(workers_sum p selected) - b_sel ))" 300 \
		"$mode: selections (workers + lobby) = connections"
done
d_taken=$(( $(lobby_field p taken) - b_taken ))
is "$d_taken" "$(( $(lobby_field p sent) - b_lsent ))" "taken = sent over every close path ($d_taken)"
is "$(( $(workers_sum p lobby_taken) - b_wtaken ))" "$d_taken" "workers' lobby_taken = lobby taken"

# A killed lobby: every process holding it dies with connections in its
# queue: they end on the lobby (CLOSE), none leaks.
"$SCLIENT" --connect $SVC4:80 -n 30 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
holder=$!
wait_for '[ "$(lobby_field p waiting)" = 27 ]'
ok $? "27 wait in the lobby"
kill -9 "${WPID[1]}" "${WPID[2]}" "${WPID[3]}" "$LOBBY_PID"
wait_for 'lobby_settled p' 10
ok $? "every holder of the lobby and every worker killed -9: counts back to 0 ($(lobby_field p waiting) $(outstanding_all))"
is "$(lobby_field p state)" gone "the lobby is gone"
kill "$holder" 2>/dev/null

# A process that is no worker of the pool accepts from the lobby: the
# connection leaves the lobby's count for 'unattributed' while open.
start_lobby lobby2 127.0.0.1:9501
steer pool lobby p --addr 127.0.0.1:9501
for i in 1 2; do
	start_lw "w$i" "127.0.0.1:910$i" 1
	WPID[i]=$LAST_PID
	steer worker add p "w$i" --addr "127.0.0.1:910$i" --slots 1 || bail "w$i again"
done
steer worker del w3
start_worker stray 127.0.0.1:9199 --slots 1 --lobby-from "$LOBBY_PID"
"$SCLIENT" --connect $SVC4:80 -n 10 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
holder=$!
wait_for '[ $(( $(lobby_field p waiting) + $(lobby_field p unattributed) + $(total_outstanding p) )) = 10 ]'
ok $? "10 held: on the lobby, the workers or unattributed ($(lobby_field p waiting) / $(outstanding_all) / $(lobby_field p unattributed))"
is "$(lobby_field p unattributed)" 1 "the stray process took one (unattributed 1)"
kill "$holder"
wait_for 'lobby_settled p' 10
ok $? "closed: unattributed, waiting and outstanding back to 0"
[ "$(lobby_field p unattributed_total)" -ge 1 ]
ok $? "unattributed_total counts it ($(lobby_field p unattributed_total))"

# 10,000 connections, every close path mixed, direct and lobby accepts.
kill9_free 9103 "$LAST_PID"
start_lw w3 127.0.0.1:9103 2
steer worker add p w3 --addr 127.0.0.1:9103 --slots 2 || bail "w3 again"
b_sent=$(lobby_field p sent)
b_sel=$(workers_sum p selected)
b_taken=$(lobby_field p taken)
out=$("$SCLIENT" --connect $SVC4:80 -n 10000 -c 200 --mode mixed --timeout-ms 10000 \
	--src 127.0.0.1 --src-port 20000)
is "$(client_ok "$out")" "10000 0 0" "10,000 mixed: all served" || why "$out"
wait_for 'lobby_settled p' 15
ok $? "10,000 mixed: every count back to 0 ($(lobby_field p waiting) $(outstanding_all))"
d_sent=$(( $(lobby_field p sent) - b_sent ))
d_sel=$(( $(workers_sum p selected) - b_sel ))
is "$(( d_sent + d_sel ))" 10000 "10,000 mixed: selections = connections (direct $d_sel, lobby $d_sent)"
[ "$d_sent" -gt 0 ] && [ "$d_sel" -gt 0 ]
ok $? "both direct and lobby accepts"
is "$(( $(lobby_field p taken) - b_taken ))" "$d_sent" "taken = sent"
check_invariants "$out" web
done_testing
