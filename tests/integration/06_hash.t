#!/bin/bash
# hash: a client keeps its worker; removing one of 8 moves only its clients.
source "$(dirname "$0")/../lib.sh"

steer_setup h hash 8
map() {	# source address -> worker, for 2,000 client addresses
	"$SCLIENT" --connect $SVC4:80 -n 2000 -c 50 --src-range 127.40.0.0/16 --per-conn |
		tee "$STEER_TMP/map.out" |
		awk '$1 == "conn" { sub(/:[0-9]+$/, "", $3); print $3, $4 }' | sort
}
map > "$STEER_TMP/a"
map > "$STEER_TMP/b"
is "$(wc -l < "$STEER_TMP/a")" 2000 "2,000 clients were mapped"
check "each client address reaches the same worker twice" cmp -s "$STEER_TMP/a" "$STEER_TMP/b"
steer worker del w3
map > "$STEER_TMP/c"
moved=$(join "$STEER_TMP/a" "$STEER_TMP/c" | awk '$2 != $3' | wc -l)
lost=$(awk '$2 == "w3"' "$STEER_TMP/a" | wc -l)
moved_other=$(join "$STEER_TMP/a" "$STEER_TMP/c" | awk '$2 != $3 && $2 != "w3"' | wc -l)
diag "w3 had $lost clients; $moved moved in all, $moved_other of them from other workers"
# at most 1/8 + 2% of 2,000 = 290
[ "$moved" -le 290 ]
ok $? "removing 1 of 8 workers moved $moved of 2,000 clients (<= 1/8 + 2%)"
is "$(grep -c ' w3$' "$STEER_TMP/c")" 0 "no client reaches the removed worker"
steer worker add h w3 --addr 127.0.0.1:9103
map > "$STEER_TMP/d"
check "adding it back returns every client to its first worker" cmp -s "$STEER_TMP/a" "$STEER_TMP/d"
check_invariants "$(cat "$STEER_TMP/map.out")" web
done_testing
