#!/bin/bash
# maxconn caps a worker; a full pool hands over to its fallback or refuses.
source "$(dirname "$0")/../lib.sh"

steer_load
steer pool add basic
steer pool add main --fallback basic
steer service add web --prefix $SVC4/32 --port 80 --pool main
start_worker m1 127.0.0.1:9101
start_worker m2 127.0.0.1:9102
start_worker b1 127.0.0.1:9201
steer worker add main m1 --addr 127.0.0.1:9101 --maxconn 10
steer worker add main m2 --addr 127.0.0.1:9102
steer worker add basic b1 --addr 127.0.0.1:9201

# m2 is busy: least-conn would pick m1 but it is capped at 10.
"$SCLIENT" --connect 127.0.0.1:9102 -n 100 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 60) &
holder1=$!
wait_for '[ "$(worker_field m2 outstanding)" = 100 ]'
ok $? "m2 holds 100 direct connections (direct connections count too)"
"$SCLIENT" --connect $SVC4:80 -n 60 -c 0 --mode hold > "$STEER_TMP/a" 2>&1 < <(sleep 60) &
holder2=$!
wait_for '[ "$(total_outstanding main)" = 170 ]'
is "$(worker_field m1 outstanding)" 10 "m1 stops at its cap of 10"
is "$(worker_field m2 outstanding)" 150 "the rest went to m2"

# Every worker of main at its cap: the fallback pool answers.
steer worker set m2 --maxconn 150
out=$("$SCLIENT" --connect $SVC4:80 -n 30 -c 5)
is "$(client_ok "$out")" "30 0 0" "main full: 30 connections succeed"
is "$(client_count "$out" b1)" 30 "all of them through the fallback pool"
is "$(steer -j pool list | jq '.pools[] | select(.name == "main") | .fallback_out')" 30 "main counted 30 handed to its fallback"

# No fallback: refused at once.
steer pool set main --fallback none
start=$(date +%s%N)
out=$("$SCLIENT" --connect $SVC4:80 -n 20 -c 5 --timeout-ms 3000)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "$(client_ok "$out")" "0 0 20" "main full, no fallback: 20 connections refused"
[ "$ms" -lt 1000 ]
ok $? "refused at once ($ms ms for 20), not left to time out"
steer worker set m1 --maxconn 0
out=$("$SCLIENT" --connect $SVC4:80 -n 10)
is "$(client_count "$out" m1)" 10 "maxconn 0 lifts the cap"
kill "$holder1" "$holder2"
wait_for all_outstanding_zero || why "counts: $(outstanding_all)"

# A repeat is not a new connection: with SYN cookies the handshake's last
# ACK runs sk_lookup again, and only the listener that sent the cookie takes
# it. A worker at its cap (its own SYN is in its count) must get it back.
sysctl -qw net.ipv4.tcp_syncookies=2
steer worker set m1 --maxconn 1
steer worker drain m2
# server-fin: the worker closes first, so its count is down before the
# client sees the end and connects again
out=$("$SCLIENT" --connect $SVC4:80 -n 20 -c 1 --mode server-fin --timeout-ms 3000)
is "$(client_ok "$out")/$(client_count "$out" m1)" "20 0 0/20" "syncookies=2, maxconn 1: the cookie ACK reaches the worker that sent the cookie, 20 of 20"
sysctl -qw net.ipv4.tcp_syncookies=1
check_invariants "$out" web

# A client that reuses its 4-tuple at once (it closed with RST) looks like
# a late segment of the closed flow to sk_lookup, which sees no flags: the
# worker it went to must still be under its cap to take it.
start_worker r1 127.0.0.1:9301
start_worker r2 127.0.0.1:9302
steer pool add capped
steer service add web2 --prefix $SVC4/32 --port 81 --pool capped
steer worker add capped r1 --addr 127.0.0.1:9301 --maxconn 2
steer worker add capped r2 --addr 127.0.0.1:9302 --maxconn 2
out=$("$SCLIENT" --connect $SVC4:81 --src 127.0.0.1 --src-port 45000 -n 2 --mode client-rst)
is "$(client_ok "$out")" "2 0 0" "two connections from ports 45000-45001, closed with RST"
"$SCLIENT" --connect $SVC4:81 -n 4 -c 0 --mode hold > "$STEER_TMP/full" 2>&1 < <(sleep 30) &
holder=$!
wait_for '[ "$(total_outstanding capped)" = 4 ]'
out=$("$SCLIENT" --connect $SVC4:81 --src 127.0.0.1 --src-port 45000 -n 2 --mode client-rst \
	--timeout-ms 3000)
is "$(client_ok "$out") $(worker_field r1 outstanding) $(worker_field r2 outstanding)" "0 0 2 2 2" \
	"both workers at maxconn 2: the same two 4-tuples again are refused, not taken past the cap"
kill "$holder"
wait_for all_outstanding_zero || why "counts: $(outstanding_all)"
done_testing
