#!/bin/bash
# balance.sh - part B: heavy-tailed requests (95% 1 ms, 5% 100 ms; mean
# 5.95 ms) on one-at-a-time workers (`agent --mode fcfs`: while busy a
# worker does not accept, so its connections wait in its accept queue).
# For each worker count and load, the same loadgen trace (same seed, rate
# = load * workers / 5.95 ms, open loop, a new connection per request) goes
# through each balancer, in an order rotated from one cell to the next:
#   reuseport     an SO_REUSEPORT group on one port (kernel hash)
#   steer-rr      steer round-robin
#   steer-random  steer random
#   steer-lc      steer least-conn (an exact scan at <= 16 workers; steer
#                 switches to two random choices above 16 by itself, so
#                 "two choices" is not a separate setting here)
#   steer-lobby   steer least-conn with a lobby (issue 10): every agent
#                 `--slots 1` in steer and `--lobby-fd 3` (one lobby socket
#                 made by lobby_launch.py); a connection that finds every
#                 worker busy waits in the lobby for the first one to free.
#                 Skipped, with a line saying so, by a steerctl without
#                 `pool lobby`
#   haproxy       HAProxy mode tcp, balance leastconn
#   central       one listening socket shared by all workers (agent
#                 --procs): a single FIFO queue, the best any dispatcher
#                 can do for FCFS workers
# steer-lc and haproxy, the two exact balancers whose results are close,
# run a second time at the end of each cell, in the reverse order (not in
# --quick). jsqsim replays the same trace for ideal JSQ (and rr, random,
# central, and jiq: join-idle-queue, the bound of steer-lobby).
# Outstanding connections per worker are sampled every 0.2 s with
# `steerctl -j worker list`; for reuseport and haproxy steer is loaded only
# to count (the workers are in a pool no service uses). The one shared
# socket of `central` cannot be counted per worker.
#
# Usage: scripts/bench/balance.sh OUTDIR [--quick]
#   BALANCE_WORKERS="4 8" BALANCE_LOADS="0.5 0.7 0.85" BALANCE_DURATION=20
#   BALANCE_SEED=1 override the cells, the seconds per run and the trace
# Writes OUTDIR/balance.tsv (workers load balancer ok errors short_p50
# short_p99 short_p999 short_max long_p99 send_lag_p99 per_worker_counts
# peaks means run), OUTDIR/jsq.tsv (workers load policy p50 p99 p999), and
# OUTDIR/balance/ (loadgen JSON, samples, jsqsim output).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_enter "$0" "$@"

OUT=$1
WORKERS=${BALANCE_WORKERS:-4 8} LOADS=${BALANCE_LOADS:-0.5 0.7 0.85} DUR=${BALANCE_DURATION:-20}
QUICK=
if [ "${2:-}" = --quick ]; then
	QUICK=1 WORKERS=4 LOADS=0.7 DUR=${BALANCE_DURATION:-6}
fi
SEED=${BALANCE_SEED:-1}
MEAN_MS=5.95
BALANCERS=(reuseport steer-rr steer-random steer-lc steer-lobby haproxy central)
LOBBY=yes
lobby_supported || LOBBY=
mkdir -p "$OUT/balance"
: > "$OUT/balance.tsv"
: > "$OUT/jsq.tsv"

# count_only N: steer loaded only to count the agents' connections
count_only() {
	steer_up least-conn
	steer_add_agents "$1" 9101
}

setup() {	# balancer workers -> TARGET, SAMPLE (yes/no)
	local b=$1 n=$2 i pid fd
	SAMPLE=yes
	case $b in
	reuseport)
		AGENT_PIDS=()
		for i in $(seq "$n"); do
			start_srv "rp$i" "$AGENT" --listen 127.0.0.1:8080 --name "w$i" --mode fcfs --reuseport
			AGENT_PIDS+=("$LAST_PID")
		done
		for i in $(seq "$n"); do wait_ready "$BENCH_TMP/rp$i.out"; done
		steer_up least-conn
		for i in $(seq "$n"); do
			read -r pid fd <<< "$(listener_fds 127.0.0.1:8080 | grep "^${AGENT_PIDS[$((i - 1))]} ")"
			"$STEERCTL" worker add p "w$i" --pid "$pid" --fd "$fd" >/dev/null
		done
		TARGET=127.0.0.1:8080 ;;
	steer-lobby)
		lobby_agents "$n" 9101 - --mode fcfs
		steer_up least-conn service
		steer_add_lobby "$n" 9101 1
		TARGET=$VIP:$VIP_PORT ;;
	steer-*)
		start_agents "$n" 9101 --mode fcfs
		case $b in
		steer-rr) steer_up round-robin service ;;
		steer-random) steer_up random service ;;
		steer-lc) steer_up least-conn service ;;
		esac
		steer_add_agents "$n" 9101
		TARGET=$VIP:$VIP_PORT ;;
	haproxy)
		start_agents "$n" 9101 --mode fcfs
		count_only "$n"
		haproxy_start "$VIP:$VIP_PORT" "$n" 9101 60
		AGENT_PIDS+=("$LAST_PID")
		TARGET=$VIP:$VIP_PORT ;;
	central)
		start_srv central "$AGENT" --listen 127.0.0.1:8080 --name w --mode fcfs --procs "$n"
		AGENT_PIDS=("$LAST_PID")
		wait_ready "$BENCH_TMP/central.out"
		SAMPLE=no
		TARGET=127.0.0.1:8080 ;;
	esac
}

# run_one BALANCER WORKERS RUN: one loadgen run, one row of balance.tsv
run_one() {
	local b=$1 n=$2 run=$3 base samples ok err p50 p99 p999 max lp99 lag counts peaks means
	base=$OUT/balance/$tag.$b
	[ "$run" = 1 ] || base=$base.$run
	setup "$b" "$n"
	samples=$base.samples
	: > "$samples"
	[ "$SAMPLE" = yes ] && sampler_start "$samples"
	"$LOADGEN" --connect "$TARGET" --rate "$rate" --duration "$DUR" --seed "$SEED" \
		--src-range 127.20.0.0/16 --timeout-ms 30000 --json > "$base.json"
	sampler_stop
	stop_pids "${AGENT_PIDS[@]}"
	steer_down
	read -r ok err p50 p99 p999 max lp99 lag counts <<< "$(loadgen_row "$base.json")"
	read -r peaks means <<< "$(sampler_summary "$samples")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$load" "$b" \
		"$ok" "$err" "$p50" "$p99" "$p999" "$max" "$lp99" "$lag" "$counts" "$peaks" "$means" "$run" \
		>> "$OUT/balance.tsv"
	bench_log "B $n workers load $load $b (run $run): short p50 $p50 p99 $p99 p99.9 $p999 us, errors $err, peaks $peaks"
}

cell=0
for n in $WORKERS; do
	for load in $LOADS; do
		rate=$(awk -v l="$load" -v n="$n" -v m="$MEAN_MS" 'BEGIN { printf "%.1f", l * n * 1000 / m }')
		tag=w${n}_l${load}
		"$JSQSIM" --workers "$n" --rate "$rate" --duration "$DUR" --seed "$SEED" > "$OUT/balance/$tag.jsqsim"
		jsqsim_rows "$OUT/balance/$tag.jsqsim" | awk -v n="$n" -v l="$load" '{ print n "\t" l "\t" $1 "\t" $2 "\t" $3 "\t" $4 }' >> "$OUT/jsq.tsv"
		nb=${#BALANCERS[@]}
		second=()
		for k in $(seq 0 $((nb - 1))); do
			b=${BALANCERS[$(((k + cell) % nb))]}
			if [ "$b" = steer-lobby ] && [ -z "$LOBBY" ]; then
				lobby_skip "B $n workers load $load"
				continue
			fi
			run_one "$b" "$n" 1
			# the two exact balancers run again, in the reverse order
			case $b in steer-lc|haproxy) second=("$b" "${second[@]}") ;; esac
		done
		if [ -z "$QUICK" ]; then
			for b in "${second[@]}"; do run_one "$b" "$n" 2; done
		fi
		cell=$((cell + 1))
	done
done
