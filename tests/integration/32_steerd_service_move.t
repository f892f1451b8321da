#!/bin/bash
# A service that the file moves to another pool, SIGHUP after SIGHUP, while
# two services stream: no connection meets the address without a service
# (its LPM keys are switched in place), none is served by the wrong pool,
# and counts return to 0. Before the in-place switch a move was a delete and
# an add: 16-37 of 8,000 connections were refused.
source "$(dirname "$0")/../lib.sh"
cd "$STEER_TMP" || bail "no tmp"

conf() {	# conf FILE POOL: the service web on pool POOL; side always on pb
	cat > "$1" <<C
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "pa"; workers = ( { name = "w1"; addr = "127.0.0.1:9101"; resources = false; },
                                     { name = "w2"; addr = "127.0.0.1:9102"; resources = false; } ); },
          { name = "pb"; workers = ( { name = "w3"; addr = "127.0.0.1:9103"; resources = false; } ); } );
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "$2"; },
             { name = "side"; prefix = "127.10.0.2/32"; port = 80; pool = "pb"; } );
C
}
for i in 1 2 3; do start_worker "w$i" "127.0.0.1:910$i"; done
conf A pa
conf B pb
cp A cur
start_steerd "$STEER_TMP/cur"
selections_mark
# one client address per connection: no 4-tuple reuse passes for a repeat
"$SCLIENT" --connect $SVC4:80 -n 8000 -c 20 --src-range 127.21.0.0/18 > web.out 2>&1 &
web=$!
"$SCLIENT" --connect 127.10.0.2:80 -n 8000 -c 20 --src-range 127.22.0.0/18 > side.out 2>&1 &
side=$!
moves=0
while kill -0 "$web" 2> /dev/null; do
	moves=$((moves + 1))
	if [ $((moves % 2)) = 0 ]; then cp A cur; else cp B cur; fi
	kill -HUP "$STEERD_PID"
	sleep 0.05
done
wait "$web" "$side"
diag "web moved $moves times between pa and pb"
is "$(client_ok "$(cat web.out)")" "8000 0 0" "web: 8,000 served while it moved between pools"
is "$(client_ok "$(cat side.out)")" "8000 0 0" "side: 8,000 served"
check "side (always pb) was served by pb only" assert_served_by_pool "$(cat side.out)" side
is "$(( $(client_count "$(cat web.out)" w1) + $(client_count "$(cat web.out)" w2) + $(client_count "$(cat web.out)" w3) ))" 8000 "web's were served by pa's or pb's workers"
check "selections equal the 16,000 connections" assert_selections 16000
check "counts return to 0" assert_counts_settle 15
kill -0 "$STEERD_PID"
ok $? "steerd alive after $moves reloads"
done_testing
