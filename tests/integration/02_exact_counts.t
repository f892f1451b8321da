#!/bin/bash
# Outstanding counts stay exact whatever way connections end.
source "$(dirname "$0")/../lib.sh"

steer_setup lc least-conn 4

# 10,000 connections: client FIN, client RST, server FIN, server RST in turn.
out=$("$SCLIENT" --connect $SVC4:80 -n 10000 -c 200 --mode mixed)
is "$(client_ok "$out")" "10000 0 0" "10,000 connections closed by mixed paths all succeed"
wait_for all_outstanding_zero
ok $? "after them every count is 0 ($(outstanding_all))"
est=$(steer -j worker list | jq '[.workers[].established] | add')
closed=$(steer -j worker list | jq '[.workers[].closed] | add')
is "$est/$closed" "10000/10000" "10,000 established and 10,000 closed were counted"

# Held connections count while open.
"$SCLIENT" --connect $SVC4:80 -n 400 -c 0 --mode hold > "$STEER_TMP/hold.out" < <(sleep 3) &
holder=$!
wait_for '[ "$(total_outstanding)" = 400 ]'
ok $? "400 held connections are counted as 400 outstanding"
kill "$holder"
wait "$holder" 2>/dev/null
wait_for all_outstanding_zero
ok $? "the client killed: counts back to 0 ($(outstanding_all))"

# A worker killed with connections still in its accept queue.
start_worker stuck 127.0.0.1:9105 --no-accept
stuck_pid=$LAST_PID
steer pool add stuckpool
steer service add stuck --prefix $SVC4/32 --port 81 --pool stuckpool
steer worker add stuckpool stuck --addr 127.0.0.1:9105
"$SCLIENT" --connect $SVC4:81 -n 50 -c 0 --mode hold --timeout-ms 5000 > "$STEER_TMP/stuck.out" 2>&1 < <(sleep 5) &
holder=$!
wait_for '[ "$(worker_field stuck outstanding)" = 50 ]'
ok $? "50 connections waiting in the accept queue are outstanding"
kill -9 "$stuck_pid"
wait_for '[ "$(worker_field stuck outstanding)" = 0 ]'
ok $? "worker killed with its accept queue full: its count drops to 0"
is "$(worker_field stuck state)" "gone" "the dead worker shows gone at once: its listener left the SOCKMAP"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# SYN cookies forced on: the final ACK runs sk_lookup again.
sysctl -qw net.ipv4.tcp_syncookies=2
out=$("$SCLIENT" --connect $SVC4:80 -n 2000 -c 100 --mode mixed)
is "$(client_ok "$out")" "2000 0 0" "with syncookies=2, 2000 mixed connections succeed"
wait_for all_outstanding_zero
ok $? "with syncookies=2 every count is back to 0 ($(outstanding_all))"
"$SCLIENT" --connect $SVC4:80 -n 200 -c 0 --mode hold > "$STEER_TMP/hold2.out" < <(sleep 2) &
holder=$!
wait_for '[ "$(total_outstanding lc)" = 200 ]'
ok $? "with syncookies=2, 200 held connections count exactly 200"
kill "$holder"
wait "$holder" 2>/dev/null
wait_for all_outstanding_zero
ok $? "and 0 after they close"
# $out: the 2,000 mixed connections with syncookies=2
check_invariants "$out" web
done_testing
