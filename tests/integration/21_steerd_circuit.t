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

# Circuit inputs: a worker's failed checks are that worker's business.
# Pool one: four http-checked workers, one answers /health with 500 while it
# serves; pool three: three of four do (a pool-wide failure).
kill "$STEERD_PID"
wait_for '! kill -0 $STEERD_PID 2>/dev/null'
agent_on() {	# agent_on NAME PORT [agent options]
	local name=$1 port=$2 fifo=$STEER_TMP/ready.agent.$1 line
	shift 2
	mkfifo "$fifo"
	"$AGENT" --listen "127.0.0.1:$port" --name "$name" "$@" > "$fifo" &
	WORKER_PIDS+=("$!")
	disown $!
	read -r -t 5 line < "$fifo" || bail "agent $name did not start"
	rm -f "$fifo"
}
checked() {	# checked NAME PORT
	echo "{ name = \"$1\"; addr = \"127.0.0.1:$2\"; resources = false;
	  check = { type = \"http\"; path = \"/health\"; interval_ms = 100; timeout_ms = 500; fall = 3; rise = 2; }; }"
}
for i in 1 2 3; do agent_on "o$i" $((9400 + i)); done
agent_on o4 9404 --health-status 500
agent_on t1 9501
for i in 2 3 4; do agent_on "t$i" $((9500 + i)) --health-status 500; done
cat > "$STEER_TMP/checks.conf" <<CONF
daemon = { interval_ms = 100; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "one"; circuit = { threshold = 0.05; window_s = 3; min_requests = 20; cooldown_s = 30; };
    workers = ( $(checked o1 9401), $(checked o2 9402), $(checked o3 9403), $(checked o4 9404) ); },
  { name = "three"; circuit = { threshold = 0.05; window_s = 3; min_requests = 20; cooldown_s = 30; };
    workers = ( $(checked t1 9501), $(checked t2 9502), $(checked t3 9503), $(checked t4 9504) ); }
);
services = ( { name = "one"; prefix = "127.10.0.5/32"; port = 80; pool = "one"; },
             { name = "three"; prefix = "127.10.0.6/32"; port = 80; pool = "three"; } );
CONF
start_steerd "$STEER_TMP/checks.conf"
circuit_of() { steer -j pool list | jq -r --arg p "$1" '.pools[] | select(.name == $p) | .circuit'; }
wait_for '[ "$(health_of o4)" = 0 ]'
ok $? "the worker that fails its checks goes down (health $(health_of o4))"
wait_for '[ "$(circuit_of three)" = open ]'
ok $? "three of four workers failing their checks: pool-wide, the pool's circuit opens"
# Long enough for many times min_requests of checks in the window
opened=0
for i in $(seq 30); do
	[ "$(circuit_of one)" = closed ] || opened=1
	sleep 0.1
done
is "$opened" 0 "one sick worker of four: its failed checks do not open the pool's circuit (3 s of checks)"
! grep -q "pool one: circuit open" "$STEER_TMP/steerd.log"
ok $? "steerd never logged pool one's circuit open"
served=""
for i in $(seq 20); do served="$served $(curl -s --max-time 2 http://127.10.0.5/x)"; done
is "$(tr ' ' '\n' <<< "$served" | grep -c '^o[123]$')" 20 "its healthy workers keep the traffic (20 of 20 requests to o1..o3)"
check_invariants
done_testing
