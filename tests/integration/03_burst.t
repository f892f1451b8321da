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

# A pool above STEER_SCAN_MAX (16) members takes two random choices
# instead of a scan: 24 workers, a second service, the same burst.
steer pool add big --policy least-conn
steer service add webbig --prefix $SVC4/32 --port 81 --pool big
for i in $(seq 24); do
	start_worker "b$i" "127.0.0.1:$((9300 + i))"
	steer worker add big "b$i" --addr "127.0.0.1:$((9300 + i))" || bail "worker add b$i"
done
out=$("$SCLIENT" --connect $SVC4:81 -n 2400 -c 0 --mode hold --hold-ms 500)
is "$(client_ok "$out")" "2400 0 0" "24 workers (two random choices): 2,400 connects at once all succeed"
counts=$(for i in $(seq 24); do client_count "$out" "b$i"; done | sort -n)
diag "per worker: $(tr '\n' ' ' <<< "$counts")"
# mean 100: the better of two draws keeps every worker near it
[ "$(head -1 <<< "$counts")" -ge 70 ] && [ "$(tail -1 <<< "$counts")" -le 130 ]
ok $? "min/max outstanding $(head -1 <<< "$counts")/$(tail -1 <<< "$counts") within 70..130 (mean 100)"
check_invariants "$out" webbig
done_testing
