#!/bin/bash
# steerd: a reload (SIGHUP) moves each worker's and pool's runtime state
# as one unit (issue 8): a pool's circuit window keeps the errors seen
# before it, and a worker failing its checks stays down.
source "$(dirname "$0")/../lib.sh"

write_conf() {	# write_conf M2_WEIGHT
	cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "main"; fallback = "basic";
    circuit = { threshold = 0.05; window_s = 60; min_requests = 100; cooldown_s = 60; half_open_probes = 5; };
    workers = ( { name = "m1"; addr = "127.0.0.1:9101"; resources = false; },
                { name = "m2"; addr = "127.0.0.1:9102"; weight = $1; resources = false; } ); },
  { name = "basic";
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; },
                { name = "sick"; addr = "127.0.0.1:9202"; resources = false;
                  check = { type = "tcp"; port = 9299; interval_ms = 100; rise = 2; fall = 1; }; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; } );
CONF
}
start_worker m1 127.0.0.1:9101
start_worker m2 127.0.0.1:9102
start_worker b1 127.0.0.1:9201
start_worker sick 127.0.0.1:9202
write_conf 100
start_steerd "$STEER_TMP/steer.conf"
circuit() { steer -j pool list | jq -r '.pools[] | select(.name == "main") | .circuit'; }
reloads() { grep -c 'reloaded' "$STEER_TMP/steerd.log"; }

# ERRORS of 60 connections reset by the worker
traffic() {
	"$SCLIENT" --connect $SVC4:80 -n $((60 - $1)) -c 10 --mode client-fin > /dev/null &
	"$SCLIENT" --connect $SVC4:80 -n "$1" -c 5 --mode server-rst > /dev/null
	wait
}

# the check of "sick" has nothing to connect to: down, health 0
wait_for '[ "$(health_of sick)" = 0 ]'
ok $? "a worker whose check fails is down (health 0)"

# 10 errors in 60: too few connections for a verdict (min_requests 100)
traffic 10
sleep 1
is "$(circuit)" closed "10 errors in 60 connections: below min_requests, closed"

write_conf 50	# m2's weight: the pool and its circuit rules are the same
kill -HUP "$STEERD_PID"
wait_for '[ "$(reloads)" -ge 1 ]'
ok $? "steerd reloaded"
is "$(worker_field m2 weight)" 50 "the reload took (m2 weight 50)"
is "$(health_of sick)" 0 "the failing worker is still down after the reload"

# 10 more in 60: 20 in 120 over the window only if the window kept the
# first 60 (a window restarted at the reload holds 60 < min_requests)
traffic 10
wait_for '[ "$(circuit)" = open ]'
ok $? "the errors before the reload count: 20 in 120 open the circuit"
sleep 0.5
is "$(health_of sick)" 0 "the failing worker stays down (its check state went on)"
grep -m3 'AddressSanitizer\|runtime error' "$STEER_TMP/steerd.log" | sed 's/^/# /' >&2
done_testing
