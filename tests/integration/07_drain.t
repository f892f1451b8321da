#!/bin/bash
# drain --wait returns only after the worker's last connection closed.
source "$(dirname "$0")/../lib.sh"

steer_setup p least-conn 2
# 100 connections, each answered by the worker after 2 s
"$SCLIENT" --connect $SVC4:80 -n 100 -c 0 --mode sleep:2000 > "$STEER_TMP/long.out" &
client=$!
wait_for '[ "$(worker_field w1 outstanding)" = 50 ]'
ok $? "w1 holds 50 long connections"
start=$(date +%s.%N)
steer worker drain w1 --wait > "$STEER_TMP/drain.out" 2>&1 &
drainer=$!
sleep 0.3
out=$("$SCLIENT" --connect $SVC4:80 -n 200 -c 20)
is "$(client_count "$out" w1)" 0 "while draining, no new connection reaches w1"
kill -0 "$drainer" 2>/dev/null
ok $? "drain --wait is still waiting while w1 has connections"
wait "$drainer"
ok $? "drain --wait exits 0"
end=$(date +%s.%N)
is "$(worker_field w1 outstanding)" 0 "when drain --wait returned, w1 had no connection left"
elapsed=$(echo "$end - $start" | bc)
[ "$(echo "$elapsed >= 1.5" | bc)" = 1 ]
ok $? "drain --wait took ${elapsed}s: it waited for the 2 s requests"
wait "$client"
is "$(worker_field w1 state)" drain "w1 stays drained"
steer worker undrain w1
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 0 --mode hold --hold-ms 100)
is "$(client_count "$out" w1)" 50 "undrain: w1 takes its share again"
"$SCLIENT" --connect $SVC4:80 -n 20 -c 0 --mode hold > /dev/null < <(sleep 3) &
held=$!
wait_for '[ "$(total_outstanding)" = 20 ]'
steer worker drain w2 --wait --timeout 1 2> "$STEER_TMP/err"
is "$?" 1 "drain --wait --timeout gives up with exit 1 while connections stay"
check "and says why" grep -q "still has 10 connections after 1 s" "$STEER_TMP/err"
# after the 20 held connections are released
kill "$held"
wait "$held" 2>/dev/null
check_invariants "$out" web
done_testing
