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
steer --bpffs "$STEER_TMP/none" upgrade 2> "$STEER_TMP/err"
is "$?" 2 "upgrade with nothing loaded: exit 2"
done_testing
