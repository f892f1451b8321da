#!/bin/bash
# longlived.sh - part D: long-lived idle connections through steer.
# CONNS (10,000) connections to 4 `sworker`s through steer least-conn
# (tests/tools/sclient --mode hold: each reads the worker's name, then
# stays idle), held HOLD seconds (70 s, longer than the `timeout client
# 60s` a proxy commonly has). Reports:
#   - kernel memory per connection: /proc/meminfo Slab and the slab caches
#     that grew (/proc/slabinfo active objects), before and once all are
#     established (both ends are on this host: client socket and worker
#     socket); first for the same connections straight to a worker without
#     steer loaded, so what steer adds shows as the difference;
#   - balance: outstanding per worker (steerctl -j worker list) at the
#     start and the end of the hold;
#   - whether any was cut: sclient prints `lost N` on stderr for
#     connections the far end closed during the hold.
# For contrast, PROXY_CONNS (1,000) idle connections are held the same time
# through HAProxy (mode tcp, timeout client/server PROXY_TIMEOUT = 60 s) to
# 4 other sworkers. --quick holds 10 s with a 5 s proxy timeout.
#
# Usage: scripts/bench/longlived.sh OUT.txt [--quick]   (key value lines)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_enter "$0" "$@"

OUT=$1
CONNS=${LONGLIVED_CONNS:-10000} PROXY_CONNS=1000 HOLD=70 PROXY_TIMEOUT=60
[ "${2:-}" = --quick ] && HOLD=10 PROXY_TIMEOUT=5
HAP_VIP=127.10.0.2

slab_kb() { awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }
tcp_mem_pages() { awk '$1 == "TCP:" { print $NF }' /proc/net/sockstat; }
slabinfo() { awk 'NR > 2 { print $1, $2 * $4 }' /proc/slabinfo | sort; }

for i in 1 2 3 4; do
	start_srv "sw$i" "$SWORKER" --listen "127.0.0.1:$((9100 + i))" --name "w$i"
	start_srv "hw$i" "$SWORKER" --listen "127.0.0.1:$((9200 + i))" --name "h$i"
done
for i in 1 2 3 4; do
	wait_ready "$BENCH_TMP/sw$i.out"
	wait_ready "$BENCH_TMP/hw$i.out"
done

# wait_summary FILE: until sclient printed its summary (all established)
wait_summary() {
	for _ in $(seq 600); do
		grep -q '^ok ' "$1" && return 0
		sleep 0.1
	done
	return 1
}

# Memory baseline without steer: the same number of idle connections
# straight to one worker, before steer is loaded.
sleep 1
slabinfo > "$BENCH_TMP/base0"
slab0=$(slab_kb)
"$SCLIENT" --connect 127.0.0.1:9101 -n "$CONNS" -c 1000 --mode hold --hold-ms 3000 \
	--src-range 127.31.0.0/16 --timeout-ms 20000 > "$BENCH_TMP/base.out" 2>&1 &
base_pid=$!
wait_summary "$BENCH_TMP/base.out"
sleep 1
slab1=$(slab_kb)
slabinfo > "$BENCH_TMP/base1"
wait "$base_pid" || true
sleep 1

steer_up least-conn service
steer_add_agents 4 9101
haproxy_start "$HAP_VIP:80" 4 9201 "$PROXY_TIMEOUT"

sleep 1
slabinfo > "$BENCH_TMP/slab0"
slab2=$(slab_kb)
t0=$(date +%s.%N)
"$SCLIENT" --connect "$VIP:$VIP_PORT" -n "$CONNS" -c 1000 --mode hold --hold-ms $((HOLD * 1000)) \
	--src-range 127.30.0.0/16 --timeout-ms 20000 > "$BENCH_TMP/steer.out" 2> "$BENCH_TMP/steer.err" &
steer_pid=$!
wait_summary "$BENCH_TMP/steer.out"
t1=$(date +%s.%N)
sleep 1
slab3=$(slab_kb) mem1=$(tcp_mem_pages)
slabinfo > "$BENCH_TMP/slab1"
start_out=$("$STEERCTL" -j worker list | jq -r '.workers | sort_by(.name) | map(.outstanding | tostring) | join(",")')
# the HAProxy contrast, started after the memory reading
"$SCLIENT" --connect "$HAP_VIP:80" -n "$PROXY_CONNS" -c 200 --mode hold --hold-ms $((HOLD * 1000)) \
	> "$BENCH_TMP/hap.out" 2> "$BENCH_TMP/hap.err" &
hap_pid=$!
bench_log "D $CONNS connections held through steer for $HOLD s (and $PROXY_CONNS through HAProxy, timeout ${PROXY_TIMEOUT}s)"
sleep $((HOLD - 5))
end_out=$("$STEERCTL" -j worker list | jq -r '.workers | sort_by(.name) | map(.outstanding | tostring) | join(",")')
steer_rc=0 hap_rc=0
wait "$steer_pid" || steer_rc=$?
t2=$(date +%s.%N)
wait "$hap_pid" || hap_rc=$?
sleep 0.5
after_out=$("$STEERCTL" -j worker list | jq -r '.workers | sort_by(.name) | map(.outstanding | tostring) | join(",")')

lost() { awk '$1 == "lost" { n = $2 } END { print n + 0 }' "$1"; }
okc() { awk '$1 == "ok" { print $2 }' "$1"; }
# per-cache growth, bytes per connection: direct (no steer) and through steer
join "$BENCH_TMP/base0" "$BENCH_TMP/base1" | awk -v n="$CONNS" '{ print $1, ($3 - $2) / n }' > "$BENCH_TMP/d_direct"
join "$BENCH_TMP/slab0" "$BENCH_TMP/slab1" | awk -v n="$CONNS" '{ print $1, ($3 - $2) / n }' > "$BENCH_TMP/d_steer"
{
	echo "conns $CONNS"
	echo "hold_s $HOLD"
	echo "established_s $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
	echo "held_s $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')"
	echo "steer_ok $(okc "$BENCH_TMP/steer.out")"
	echo "steer_lost $(lost "$BENCH_TMP/steer.err")"
	echo "steer_exit $steer_rc"
	echo "direct_ok $(okc "$BENCH_TMP/base.out")"
	echo "slab_kb_delta_direct $((slab1 - slab0))"
	echo "slab_kb_delta $((slab3 - slab2))"
	echo "slab_bytes_per_conn_direct $(( (slab1 - slab0) * 1024 / CONNS ))"
	echo "slab_bytes_per_conn $(( (slab3 - slab2) * 1024 / CONNS ))"
	echo "tcp_mem_pages_hold $mem1"
	echo "outstanding_start $start_out"
	echo "outstanding_end $end_out"
	echo "outstanding_after $after_out"
	echo "proxy_conns $PROXY_CONNS"
	echo "proxy_timeout_s $PROXY_TIMEOUT"
	echo "proxy_ok $(okc "$BENCH_TMP/hap.out")"
	echo "proxy_lost $(lost "$BENCH_TMP/hap.err")"
	echo "proxy_exit $hap_rc"
	# socket caches, and any kmalloc cache that grew by >= 32 bytes per
	# connection more through steer than without it: name direct steer
	join "$BENCH_TMP/d_direct" "$BENCH_TMP/d_steer" | awk '
		$1 ~ /^(TCP|sock_inode_cache|dentry|filp|eventpoll_epi)$/ || ($1 ~ /^kmalloc/ && $3 - $2 >= 32) {
			printf "slab_cache %s %.0f %.0f\n", $1, $2, $3 }'
} > "$OUT"
bench_log "D: $(tr '\n' ' ' < "$OUT")"
