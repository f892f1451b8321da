#!/bin/bash
# A worker the file renames (same pool, same address) while connections
# stream to its one-worker pool: the entry takes the new name in place, so
# the pool is never empty, no connection is refused and its counts go on.
# Before, steerd removed w1 and then added w1new: 1,494-3,825 of 20,000
# refused. And a second steerd on the same pins is refused.
source "$(dirname "$0")/../lib.sh"
cd "$STEER_TMP" || bail "no tmp"

conf() {	# conf FILE NAME
	cat > "$1" <<C
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "p"; workers = ( { name = "$2"; addr = "127.0.0.1:9101"; resources = false; } ); } );
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; } );
C
}
start_worker w1 127.0.0.1:9101
conf cur w1
start_steerd "$STEER_TMP/cur"
selections_mark
"$SCLIENT" --connect $SVC4:80 -n 20000 -c 20 --src-range 127.21.0.0/16 > web.out 2>&1 &
web=$!
wait_until '[ "$(worker_field w1 selected)" -gt 2000 ] 2> /dev/null' 20
conf cur w1new
kill -HUP "$STEERD_PID"
wait "$web"
is "$(client_ok "$(cat web.out)")" "20000 0 0" "20,000 served across the rename"
is "$(worker_field w1new pid)" "${WORKER_PIDS[0]}" "w1new is the same listener"
is "$(steer -j worker list | jq '.workers | length')" 1 "one entry"
check "selections equal the 20,000 connections" assert_selections 20000
check "counts return to 0" assert_counts_settle 15
grep -q "worker w1 renamed w1new" "$STEER_TMP/steerd.log"
ok $? "steerd logged the rename"

# one steerd per pins: a second one, with another file, would undo the
# first one's passes (and the first the second's) forever
conf other w9
"$STEERD" -c "$STEER_TMP/other" --cgroup "$STEER_TEST_CGROUP" > second.out 2>&1
rc=$?
is "$rc/$(grep -c 'another steerd already runs' second.out)" "1/1" "a second steerd on the same pins exits 1, saying why"
is "$(worker_field w1new name)" w1new "and changed nothing"
done_testing
