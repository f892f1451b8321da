#!/bin/bash
# unequal.sh - part C: workers of unequal capacity under steer least-conn.
# w1, w2 are `agent --mode ps --slots 1` (one request at a time); w3, w4
# are `--slots 8` (eight at once). The same trace as part B (95% 1 ms, 5%
# 100 ms, mean 5.95 ms) at 70% of the total capacity (18 slots), once with
# weights from capacity (100, 100, 800, 800: "1 vs 8") and once with equal
# weights (100 each), and once with the weights from capacity and a lobby
# ("lobby": steer --slots 1, 1, 8, 8 and every agent on one lobby socket;
# skipped, with a line saying so, by a steerctl without `pool lobby`).
# Reports each worker's share of requests, short and long p99, and peak
# outstanding per worker.
#
# Usage: scripts/bench/unequal.sh OUT.tsv [--quick]
# Writes: config ok errors short_p50 short_p99 short_p999 long_p99
# per_worker_counts peaks means
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_enter "$0" "$@"

OUT=$1
DUR=${UNEQUAL_DURATION:-20}
[ "${2:-}" = --quick ] && DUR=${UNEQUAL_DURATION:-5}
SEED=${BALANCE_SEED:-1}
LOAD=0.7
RATE=$(awk -v l=$LOAD 'BEGIN { printf "%.1f", l * 18 * 1000 / 5.95 }')
: > "$OUT"

SLOTS=(1 1 8 8)
CONFIGS=(weighted equal lobby)
lobby_supported || { lobby_skip "C"; CONFIGS=(weighted equal); }

# unequal_agents: w1..w4 on 9101.., --slots 1, 1, 8, 8
unequal_agents() {
	local i
	AGENT_PIDS=()
	for i in 1 2 3 4; do
		start_srv "agent$i" "$AGENT" --listen "127.0.0.1:$((9100 + i))" --name "w$i" --mode ps \
			--slots "${SLOTS[$((i - 1))]}"
		AGENT_PIDS+=("$LAST_PID")
	done
	for i in 1 2 3 4; do wait_ready "$BENCH_TMP/agent$i.out"; done
}

for cfg in "${CONFIGS[@]}"; do
	if [ "$cfg" = lobby ]; then
		lobby_agents 4 9101 "$(IFS=,; echo "${SLOTS[*]}")" --mode ps
	else
		unequal_agents
	fi
	steer_up least-conn service
	case $cfg in
	weighted) steer_add_agents 4 9101 100 100 800 800 ;;
	equal) steer_add_agents 4 9101 100 100 100 100 ;;
	lobby) steer_add_lobby 4 9101 "$(IFS=,; echo "${SLOTS[*]}")" 100 100 800 800 ;;
	esac
	sampler_start "$BENCH_TMP/samples"
	"$LOADGEN" --connect "$VIP:$VIP_PORT" --rate "$RATE" --duration "$DUR" --seed "$SEED" \
		--src-range 127.20.0.0/16 --timeout-ms 30000 --json > "$BENCH_TMP/lg.json"
	sampler_stop
	stop_pids "${AGENT_PIDS[@]}"
	steer_down
	read -r ok err p50 p99 p999 _ lp99 _ counts <<< "$(loadgen_row "$BENCH_TMP/lg.json")"
	read -r peaks means <<< "$(sampler_summary "$BENCH_TMP/samples")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$ok" "$err" "$p50" "$p99" "$p999" \
		"$lp99" "$counts" "$peaks" "$means" >> "$OUT"
	bench_log "C $cfg: short p99 $p99 us, long p99 $lp99 us, counts $counts, peaks $peaks"
done
