#!/bin/bash
# steerd: a pool returning 10% errors trips its circuit; the fallback pool
# answers; half-open probes pass; recovery closes it; 3% does not trip.
source "$(dirname "$0")/../lib.sh"

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "main"; fallback = "basic";
    circuit = { threshold = 0.05; window_s = 3; min_requests = 50; cooldown_s = 2; half_open_probes = 5; };
    workers = ( { name = "m1"; addr = "127.0.0.1:9101"; resources = false; },
                { name = "m2"; addr = "127.0.0.1:9102"; resources = false; } ); },
  { name = "basic";
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; } );
CONF
start_worker m1 127.0.0.1:9101
start_worker m2 127.0.0.1:9102
start_worker b1 127.0.0.1:9201
start_steerd "$STEER_TMP/steer.conf"
circuit() { steer -j pool list | jq -r '.pools[] | select(.name == "main") | .circuit'; }

# traffic ERRORS_PER_100 ROUNDS: rounds of 100 connections, some reset by the worker
traffic() {
	local r
	for r in $(seq "$2"); do
		"$SCLIENT" --connect $SVC4:80 -n $((100 - $1)) -c 20 --mode client-fin > /dev/null &
		[ "$1" -gt 0 ] && "$SCLIENT" --connect $SVC4:80 -n "$1" -c 5 --mode server-rst > /dev/null
		wait
		sleep 0.1
	done
}

# steady 3% for longer than the window: stays closed
traffic 3 20
sleep 0.5
is "$(circuit)" closed "a steady 3% error rate does not trip the circuit"

# 10%: trips within one window
start=$(date +%s%N)
traffic 10 3
wait_for '[ "$(circuit)" = open ]'
ok $? "10% errors open the circuit"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
diag "error burst -> circuit open: $ms ms (window 3 s, checked every 200 ms)"
[ "$ms" -le 3000 ]
ok $? "within one window ($ms ms)"
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 10)
is "$(client_count "$out" b1)" 100 "open: new connections reach the fallback pool"
grep -q "pool main: circuit open" "$STEER_TMP/steerd.log"
ok $? "steerd logged the trip"

# cool-down, then half-open lets 5 probes through; they succeed: closed
wait_for '[ "$(circuit)" = half-open ]'
ok $? "after the cool-down the circuit is half-open"
out=$("$SCLIENT" --connect $SVC4:80 -n 20 -c 1)
probes=$(( $(client_count "$out" m1) + $(client_count "$out" m2) ))
is "$probes" 5 "half-open: exactly 5 probe connections reach the pool, the rest the fallback"
wait_for '[ "$(circuit)" = closed ]'
ok $? "the probes succeeded: the circuit closes"
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 10)
is "$(client_count "$out" b1)" 0 "closed: the pool takes its traffic again"

# an operator's word stands over steerd's
steer circuit main open
traffic 0 2
is "$(circuit)" open "steerd leaves a circuit an operator forced open"
steer circuit main auto
is "$(circuit)" closed "circuit auto hands it back"

# errors the application reports count too
for i in $(seq 5); do
	"$STEERCTL" report m1 --ok 80 --errors 20 --socket "$STEER_TMP/steerd.sock"
done
wait_for '[ "$(circuit)" = open ]'
ok $? "reported application errors (20%) open the circuit"
done_testing
