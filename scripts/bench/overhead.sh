#!/bin/bash
# overhead.sh - part A: what balancing costs. The same 4 `agent --mode ps`
# workers and the same wrk load (HTTP, `Connection: close`: every request
# is a new connection, short requests with no work) behind:
#   direct       one listening socket shared by the 4 workers (agent --procs 4)
#   reuseport    an SO_REUSEPORT group (4 agents --reuseport on one port)
#   steer-rr     steer, round-robin     (4 agents on their own ports)
#   steer-lc     steer, least-conn
#   steer-lobby  steer, least-conn with a lobby (4 agents --slots 64 on one
#                lobby socket, steer --slots 64): the decision's cost with a
#                lobby pool (skipped by a steerctl without `pool lobby`)
#   haproxy      HAProxy `mode tcp`, `balance leastconn`
#   nginx        nginx `stream`, `least_conn`
# REPS (10) repetitions of steer-rr and steer-lc, the others in the first
# FULL_REPS (4) only: enough runs to tell steer's cost from the VM's noise
# (median and interquartile range of the ratios to direct) without
# tripling the part. Every configuration runs between two runs of direct
# (direct, X, direct, Y, direct, ...), in an order rotated from one
# repetition to the next, and is compared with the mean of those two, so
# slow drift of the machine cancels. CPU is measured over each wrk run from
# /proc/stat (busy = user+nice+system+irq+softirq, all of the machine,
# steal separately) and from the run's cgroup (usage_usec of everything
# in the namespace run).
#
# Usage: scripts/bench/overhead.sh OUT.tsv [--quick]   (--quick: one repetition of 1 s runs)
#   OVERHEAD_REPS=10  repetitions of steer-rr and steer-lc
#   OVERHEAD_CONFIGS="steer-rr steer-lc"  only these (and direct), every repetition
# Writes one row per run: rep config requests seconds rate busy_jiffies
# steal_jiffies cgroup_usec errors
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_enter "$0" "$@"

OUT=$1
REPS=${OVERHEAD_REPS:-10} FULL_REPS=4 DUR=3 WARM=1 CONNS=${OVERHEAD_CONNS:-32}
[ "${2:-}" = --quick ] && REPS=1 FULL_REPS=1 DUR=1 WARM=1
STEER_ONLY=(steer-rr steer-lc)	# after FULL_REPS
OTHERS=(reuseport steer-rr steer-lc haproxy nginx)
PS_SLOTS=64	# the agents' --slots in steer-lobby, told to steer too
if lobby_supported; then OTHERS=(reuseport steer-rr steer-lc steer-lobby haproxy nginx); else lobby_skip A; fi
# only these configurations (besides direct), in every repetition
if [ -n "${OVERHEAD_CONFIGS:-}" ]; then read -ra OTHERS <<< "$OVERHEAD_CONFIGS"; FULL_REPS=$REPS; fi

setup() {	# config -> TARGET
	case $1 in
	direct)
		start_srv direct "$AGENT" --listen 127.0.0.1:8080 --name d --mode ps --procs 4
		AGENT_PIDS=("$LAST_PID")
		wait_ready "$BENCH_TMP/direct.out"
		TARGET=127.0.0.1:8080 ;;
	reuseport)
		AGENT_PIDS=()
		for i in 1 2 3 4; do
			start_srv "rp$i" "$AGENT" --listen 127.0.0.1:8080 --name "w$i" --mode ps --reuseport
			AGENT_PIDS+=("$LAST_PID")
		done
		for i in 1 2 3 4; do wait_ready "$BENCH_TMP/rp$i.out"; done
		TARGET=127.0.0.1:8080 ;;
	steer-rr|steer-lc)
		start_agents 4 9101 --mode ps
		if [ "$1" = steer-rr ]; then steer_up round-robin service; else steer_up least-conn service; fi
		steer_add_agents 4 9101
		TARGET=$VIP:$VIP_PORT ;;
	steer-lobby)
		lobby_agents 4 9101 "$PS_SLOTS" --mode ps
		steer_up least-conn service
		steer_add_lobby 4 9101 "$PS_SLOTS"
		TARGET=$VIP:$VIP_PORT ;;
	haproxy)
		start_agents 4 9101 --mode ps
		haproxy_start "$VIP:$VIP_PORT" 4 9101 60
		AGENT_PIDS+=("$LAST_PID")
		TARGET=$VIP:$VIP_PORT ;;
	nginx)
		start_agents 4 9101 --mode ps
		nginx_start "$VIP:$VIP_PORT" 4 9101
		AGENT_PIDS+=("$LAST_PID")
		TARGET=$VIP:$VIP_PORT ;;
	esac
}

teardown() {
	stop_pids "${AGENT_PIDS[@]}"
	steer_down
}

wrk_run() {	# seconds target -> wrk output file
	wrk -t2 -c"$CONNS" -d"$1"s -H 'Connection: close' "http://$2/" > "$BENCH_TMP/wrk.out" 2>&1
}

: > "$OUT"
# run CONFIG REP: one measured run, one row
run() {
	local cfg=$1 rep=$2 b0 b1 s0 s1 g0 g1
	setup "$cfg"
	wrk_run "$WARM" "$TARGET"
	read -r b0 _ s0 g0 <<< "$(cpu_snap)"
	wrk_run "$DUR" "$TARGET"
	read -r b1 _ s1 g1 <<< "$(cpu_snap)"
	teardown
	awk -v rep="$rep" -v cfg="$cfg" -v b=$((b1 - b0)) -v s=$((s1 - s0)) -v g=$((g1 - g0)) '
		/requests in/ { req = $1; secs = $4; sub(/s,?$/, "", secs) }
		/Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx/ { err += $NF }
		END { printf "%s\t%s\t%d\t%.2f\t%.0f\t%d\t%d\t%d\t%d\n", rep, cfg, req, secs,
			(secs > 0 ? req / secs : 0), b, s, g, err }' "$BENCH_TMP/wrk.out" >> "$OUT"
	bench_log "A rep $rep $cfg: $(tail -1 "$OUT" | cut -f3,5,9 | tr '\t' ' ')"
}

# direct, X, direct, Y, ... direct: every other configuration sits between
# two direct runs, in an order rotated from one repetition to the next
run direct 1
for rep in $(seq "$REPS"); do
	if [ "$rep" -le "$FULL_REPS" ]; then cfgs=("${OTHERS[@]}"); else cfgs=("${STEER_ONLY[@]}"); fi
	n=${#cfgs[@]}
	for k in $(seq 0 $((n - 1))); do
		run "${cfgs[$(((k + rep - 1) % n))]}" "$rep"
		run direct "$rep"
	done
done
