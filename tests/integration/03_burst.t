#!/bin/bash
# A burst of connects before any handshake completes must not herd.
source "$(dirname "$0")/../lib.sh"

steer_setup lc least-conn 8
out=$("$SCLIENT" --connect $SVC4:80 -n 1000 -c 0 --mode hold --hold-ms 500)
is "$(client_ok "$out")" "1000 0 0" "1,000 connects started at once all succeed"
max=$(for i in 1 2 3 4 5 6 7 8; do client_count "$out" "w$i"; done | sort -n | tail -1)
diag "per worker: $(for i in 1 2 3 4 5 6 7 8; do client_count "$out" "w$i"; done | tr '\n' ' ')"
# mean is 125; max/mean <= 1.10 means max <= 137
[ "$max" -le 137 ]
ok $? "max/mean outstanding = $max/125 <= 1.10"
check_invariants "$out" web
done_testing
