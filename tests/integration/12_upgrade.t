#!/bin/bash
# steerctl upgrade swaps the programs under load: nothing refused, counts kept.
source "$(dirname "$0")/../lib.sh"

steer_setup p least-conn 2
"$SCLIENT" --connect $SVC4:80 -n 100 -c 0 --mode hold > /dev/null 2>&1 < <(sleep 30) &
holder=$!
wait_for '[ "$(total_outstanding)" = 100 ]'
prog_ids() {
	for l in lookup sockops; do
		bpftool -j link show pinned "$STEER_BPFFS/steer/links/$l" | jq -r .prog_id
	done | tr '\n' ' '
}
before=$(prog_ids)
"$SCLIENT" --connect $SVC4:80 -n 20000 -c 50 > "$STEER_TMP/load" &
load=$!
sleep 0.3
steer upgrade
ok $? "steerctl upgrade succeeds while connections arrive"
wait "$load"
is "$(client_ok "$(cat "$STEER_TMP/load")")" "20000 0 0" "0 connections failed across the upgrade"
after=$(prog_ids)
[ -n "$after" ] && [ "$after" != "$before" ]
ok $? "the links run new programs ($before -> $after)"
wait_for '[ "$(total_outstanding)" = 100 ]'
ok $? "held connections are still counted by the new sockops ($(total_outstanding))"
kill "$holder"
wait_for all_outstanding_zero
ok $? "and their closes are counted: every count back to 0"

# Layout changes between versions. A map that holds only hints (recent_picks)
# starts empty in its new layout; a map that holds state is refused.
maps=$STEER_BPFFS/steer/maps
value_size() { bpftool -j map show pinned "$maps/$1" | jq .bytes_value; }
want=$(value_size recent_picks)
rm "$maps/recent_picks"
bpftool map create "$maps/recent_picks" type array key 4 value 16 entries 4096 name recent_picks
steer upgrade
ok $? "upgrade over a recent_picks of another layout succeeds"
is "$(value_size recent_picks)" "$want" "recent_picks is pinned anew in the new layout"
out=$("$SCLIENT" --connect $SVC4:80 -n 200 -c 10)
is "$(client_ok "$out")" "200 0 0" "and steering goes on"
rm "$maps/recent_picks"	# as if the running version had no such map
steer upgrade
ok $? "upgrade from a version without recent_picks succeeds"
is "$(value_size recent_picks)" "$want" "and pins it"
# bpffs has no rename: a second pin keeps the real map
bpftool map pin pinned "$maps/worker_stats" "$STEER_BPFFS/steer/worker_stats_saved"
rm "$maps/worker_stats"
bpftool map create "$maps/worker_stats" type array key 4 value 8 entries 16 name worker_stats
before=$(prog_ids)
steer upgrade 2> "$STEER_TMP/err"
is "$?" 2 "upgrade over a worker_stats of another layout: exit 2"
check "the error names the map" grep -q "worker_stats changed layout" "$STEER_TMP/err"
is "$(prog_ids)" "$before" "and the running programs are untouched"
rm "$maps/worker_stats"
bpftool map pin pinned "$STEER_BPFFS/steer/worker_stats_saved" "$maps/worker_stats"
rm "$STEER_BPFFS/steer/worker_stats_saved"
is "$(steer -j worker list | jq '.workers | length')" 2 "the real worker_stats is back in place"

steer --bpffs "$STEER_TMP/none" upgrade 2> "$STEER_TMP/err"
is "$?" 2 "upgrade with nothing loaded: exit 2"

# upgrade is a writer like the others: it waits for the lock on the pin dir
flock "$STEER_BPFFS/steer" -c "touch '$STEER_TMP/locked'; sleep 1" &
locker=$!
wait_for '[ -e "$STEER_TMP/locked" ]'
start=$(date +%s%N)
steer upgrade
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$locker"
[ "$rc" = 0 ] && [ "$ms" -ge 700 ]
ok $? "upgrade waits while another writer holds the lock (exit $rc after $ms ms of a 1 s hold)"
chmod 711 "$STEER_TMP"
setpriv --reuid=65534 --regid=65534 --clear-groups "$STEERCTL" upgrade 2> "$STEER_TMP/err"
is "$?" 1 "upgrade as nobody: exit 1 ($(cat "$STEER_TMP/err"))"
check "permission denied, not 'not loaded'" grep -q "permission denied" "$STEER_TMP/err"
check_invariants
done_testing
