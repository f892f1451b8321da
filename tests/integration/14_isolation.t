#!/bin/bash
# Two services on one port, each to its own pool: every connection is
# served by its own service's pool, whatever the other service's clients do
# at the same time, and a repeat (recent_picks) is the same flow (the whole
# 4-tuple) and still one the service's pool may take: a circuit or quota
# closed to B is never bypassed through a flow of A's.
source "$(dirname "$0")/../lib.sh"

A=127.10.0.1
B=127.10.0.2
steer_load
steer pool add pa
steer pool add pb
steer service add sa --prefix $A/32 --port 80 --pool pa
steer service add sb --prefix $B/32 --port 80 --pool pb
for w in a1:9101 a2:9102 b1:9201 b2:9202; do
	start_worker "${w%%:*}" "127.0.0.1:${w##*:}"
done
steer worker add pa a1 --addr 127.0.0.1:9101
steer worker add pa a2 --addr 127.0.0.1:9102
steer worker add pb b1 --addr 127.0.0.1:9201
steer worker add pb b2 --addr 127.0.0.1:9202

# worker_stats.selected summed over POOL's workers, and pool_stats.selected
worker_sel() { steer -j worker list | jq --arg p "$1" '[.workers[] | select(.pool == $p) | .selected] | add'; }
pool_sel() { steer -j pool list | jq --arg p "$1" '.pools[] | select(.name == $p) | .selected'; }
# served OUTPUT POOL: connections of sclient OUTPUT served by POOL's workers
served() {
	case $2 in
	pa) echo $(( $(client_count "$1" a1) + $(client_count "$1" a2) )) ;;
	pb) echo $(( $(client_count "$1" b1) + $(client_count "$1" b2) )) ;;
	esac
}
snap_sel() { echo "$(worker_sel pa) $(worker_sel pb) $(pool_sel pa) $(pool_sel pb)"; }

# 1. Two clients at once, 5,000 connections each, from the same address
# (127.0.0.1), so the kernel gives them many of the same client ports.
# A client may also reuse one of its own 4-tuples within the run (loopback's
# tcp_tw_reuse): such a reuse may be taken for a repeat of the closed flow,
# one selection fewer, so the selections are checked against the
# connections minus those reuses.
reuses() { awk '$1 == "conn" { print $3 }' "$1" | sort | uniq -d | wc -l; }
read -r wa wb pa0 pb0 <<< "$(snap_sel)"
"$SCLIENT" --connect $A:80 -n 5000 -c 50 --per-conn > "$STEER_TMP/a" &
pid_a=$!
"$SCLIENT" --connect $B:80 -n 5000 -c 50 --per-conn > "$STEER_TMP/b"
wait $pid_a
out_a=$(cat "$STEER_TMP/a")
out_b=$(cat "$STEER_TMP/b")
is "$(client_ok "$out_a") $(client_ok "$out_b")" "5000 0 0 5000 0 0" "concurrent: 5,000 + 5,000 connections succeed"
is "$(served "$out_a" pa) $(served "$out_b" pb)" "5000 5000" \
	"concurrent: every connection to A served by pa, every one to B by pb (B's by pa: $(served "$out_b" pa), A's by pb: $(served "$out_a" pb))"
wait_for all_outstanding_zero
read -r wa2 wb2 pa2 pb2 <<< "$(snap_sel)"
ra=$(reuses "$STEER_TMP/a")
rb=$(reuses "$STEER_TMP/b")
sel="$((wa2 - wa)) $((wb2 - wb)) $((pa2 - pa0)) $((pb2 - pb0))"
awk -v s="$sel" -v ra="$ra" -v rb="$rb" 'BEGIN { split(s, v, " ")
	exit !(v[1] == v[3] && v[2] == v[4] && v[1] <= 5000 && v[1] >= 5000 - ra &&
	       v[2] <= 5000 && v[2] >= 5000 - rb) }'
ok $? "concurrent: worker and pool selections equal connections, per pool (pa pb, workers then pools: $sel; 4-tuples reused: $ra, $rb)"
is "$(total_outstanding)" 0 "concurrent: outstanding back to 0"

# 2. B's circuit forced open, no fallback: B refuses at once, every time,
# while A streams at the same time from the same address.
steer circuit pb open
"$SCLIENT" --connect $A:80 -n 3000 -c 50 > "$STEER_TMP/a" &
pid_a=$!
out_b=$("$SCLIENT" --connect $B:80 -n 500 -c 50 --timeout-ms 3000)
wait $pid_a
out_a=$(cat "$STEER_TMP/a")
is "$(client_ok "$out_b")" "0 0 500" "circuit open, no fallback: 500 of 500 to B refused (served by pa: $(served "$out_b" pa))"
is "$(client_ok "$out_a") $(served "$out_a" pa)" "3000 0 0 3000" "meanwhile A: 3,000 of 3,000 served by pa"
steer circuit pb auto

# 3. B's quota spent, no fallback: the same.
steer pool quota pb 0
"$SCLIENT" --connect $A:80 -n 3000 -c 50 > "$STEER_TMP/a" &
pid_a=$!
out_b=$("$SCLIENT" --connect $B:80 -n 500 -c 50 --timeout-ms 3000)
wait $pid_a
out_a=$(cat "$STEER_TMP/a")
is "$(client_ok "$out_b")" "0 0 500" "quota 0, no fallback: 500 of 500 to B refused (served by pa: $(served "$out_b" pa))"
is "$(client_ok "$out_a") $(served "$out_a" pa)" "3000 0 0 3000" "meanwhile A: 3,000 of 3,000 served by pa"
steer pool quota pb off
wait_for all_outstanding_zero

# 4. Flows that share client address, client port and service port, and
# differ only in the service address: not repeats of each other. They come
# from an address nothing else uses, so the fixed ports are free.
# a. While A's flows are open (recorded when picked).
read -r wa wb pa0 pb0 <<< "$(snap_sel)"
"$SCLIENT" --connect $A:80 --src 127.0.0.77 --src-port 21000 -n 50 -c 50 --mode hold \
	--hold-ms 1500 > "$STEER_TMP/a" &
pid_a=$!
wait_for '[ "$(total_outstanding pa)" = 50 ]'
out_b=$("$SCLIENT" --connect $B:80 --src 127.0.0.77 --src-port 21000 -n 50 -c 50)
wait $pid_a
out_a=$(cat "$STEER_TMP/a")
is "$(client_ok "$out_a") $(served "$out_a" pa)" "50 0 0 50" "same client ports, A's flows open: A's 50 served by pa"
is "$(client_ok "$out_b") $(served "$out_b" pb)" "50 0 0 50" \
	"same client ports, A's flows open: B's 50 served by pb, not as repeats of A's (by pa: $(served "$out_b" pa))"
# b. Just after A's flows closed (recorded by sockops at the close).
"$SCLIENT" --connect $A:80 --src 127.0.0.77 --src-port 22000 -n 50 -c 50 > /dev/null
out_b=$("$SCLIENT" --connect $B:80 --src 127.0.0.77 --src-port 22000 -n 50 -c 50)
is "$(client_ok "$out_b") $(served "$out_b" pb)" "50 0 0 50" \
	"same client ports, A's flows just closed: B's 50 served by pb (by pa: $(served "$out_b" pa))"
wait_for all_outstanding_zero
read -r wa2 wb2 pa2 pb2 <<< "$(snap_sel)"
is "$((wa2 - wa)) $((wb2 - wb)) $((pa2 - pa0)) $((pb2 - pb0))" "100 100 100 100" \
	"colliding ports: 100 selections per pool for 100 connections each"
is "$(total_outstanding)" 0 "outstanding back to 0"

# 5. A repeat is checked against the pool's admission, never charged: the
# same 4-tuple again at once (the client's RST leaves no TIME_WAIT, so the
# port is free) is what a new SYN reusing it looks like to sk_lookup, and a
# pool whose quota is spent or whose circuit is open must not take it.
for closed in "quota 0:pool quota pb 0:pool quota pb off" \
	      "circuit open:circuit pb open:circuit pb auto"; do
	IFS=: read -r what close reopen <<< "$closed"
	port=$((23000 + ${#what}))
	first=$("$SCLIENT" --connect $B:80 --src 127.0.0.78 --src-port $port -n 1 --mode client-rst)
	steer $close
	again=$("$SCLIENT" --connect $B:80 --src 127.0.0.78 --src-port $port -n 1 --mode client-rst \
		--timeout-ms 3000)
	steer $reopen
	is "$(client_ok "$first") $(client_ok "$again")" "1 0 0 0 0 1" \
		"$what: the same 4-tuple again at once is refused, not taken as a repeat"
done
wait_for all_outstanding_zero
check_invariants "$out_a" sa "$out_b" sb
done_testing
