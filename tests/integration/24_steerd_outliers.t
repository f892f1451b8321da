#!/bin/bash
# steerd: outlier ejection, capped at eject_max of the pool.
source "$(dirname "$0")/../lib.sh"

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "p"; eject_max = 0.5;
    circuit = { threshold = 0.05; window_s = 5; min_requests = 20; cooldown_s = 2; };
    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; resources = false; },
                { name = "w2"; addr = "127.0.0.1:9102"; resources = false; },
                { name = "w3"; addr = "127.0.0.1:9103"; resources = false; },
                { name = "w4"; addr = "127.0.0.1:9104"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; } );
CONF
for i in 1 2 3 4; do start_worker "w$i" "127.0.0.1:910$i"; done
start_steerd "$STEER_TMP/steer.conf"
report() { steer report "$1" --ok "$2" --errors "$3" --socket "$STEER_TMP/steerd.sock"; }
pool_circuit() { steer -j pool list | jq -r '.pools[] | select(.name == "p") | .circuit'; }

for w in w2 w3 w4; do report $w 1000 0; done
report w1 0 30
wait_for '[ "$(health_of w1)" = 0 ]'
ok $? "a worker whose own error rate crosses the threshold is ejected"
is "$(pool_circuit)" closed "the pool as a whole stays closed (30 errors of 3,030)"
out=$("$SCLIENT" --connect $SVC4:80 -n 90 -c 9)
is "$(client_count "$out" w1)" 0 "an ejected worker gets no new connection"
report w2 0 200
wait_for '[ "$(health_of w2)" = 0 ]'
ok $? "a second outlier is ejected (2 of 4 = eject_max 0.5)"
report w3 0 200
sleep 1
is "$(health_of w3)" 1000 "a third is not: at most half the pool is ejected at once"
grep -q "worker w1 ejected as an outlier" "$STEER_TMP/steerd.log"
ok $? "steerd logged the ejection"
wait_for '[ "$(health_of w1)" = 1000 ]'
ok $? "after the cool-down the ejected worker is back"
check_invariants "$out" web
done_testing
