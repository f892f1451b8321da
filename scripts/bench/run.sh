#!/bin/bash
# run.sh - the whole benchmark suite (`make bench`, `make bench-quick`):
#   cost.sh      bpf_stats ns per sk_lookup decision and per connection
#   overhead.sh  A: connection rate and CPU per connection vs direct,
#                SO_REUSEPORT, HAProxy, nginx
#   balance.sh   B: heavy-tailed requests, short-request latency per balancer
#   unequal.sh   C: workers of unequal capacity, weights from capacity
#   longlived.sh D: 10,000 idle connections held past a proxy timeout
# then report.sh writes RESULTS.md and the PNG plots (test_report.sh checks
# its parsers first). Every part runs in its
# own private network namespace (lib.sh). Missed targets are reported, never
# an error; the exit status is 1 only if a part itself failed.
#
# Usage: scripts/bench/run.sh [--quick] [--out DIR] [--docs DIR]
#   --quick     reduced run (4 workers, load 0.7, short runs; < 2 minutes)
#   --out DIR   raw results (default build/bench, quick: build/bench-quick)
#   --docs DIR  where RESULTS.md and the plots go (default docs/bench;
#               quick: the --out DIR, so a quick run never replaces them)
# Needs root, `make all tools bench-tools` and scripts/install-deps.sh --bench.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
QUICK='' OUT='' DOCS=''
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=--quick ;;
	--out) OUT=$2; shift ;;
	--docs) DOCS=$2; shift ;;
	*) echo "Usage: run.sh [--quick] [--out DIR] [--docs DIR]" >&2; exit 2 ;;
	esac
	shift
done
if [ -n "$QUICK" ]; then
	OUT=${OUT:-$TOP/build/bench-quick}
	DOCS=${DOCS:-$OUT}
else
	OUT=${OUT:-$TOP/build/bench}
	DOCS=${DOCS:-$TOP/docs/bench}
fi
[ "$(id -u)" -eq 0 ] || { echo "Error: the benchmarks need root" >&2; exit 1; }
for t in build/steerctl build/agent build/loadgen build/jsqsim build/listeners build/calib build/refsteer tests/tools/sclient tests/tools/sworker; do
	[ -x "$TOP/$t" ] || { echo "Error: $t is missing (make all tools bench-tools)" >&2; exit 1; }
done
for c in haproxy nginx wrk gnuplot jq bpftool; do
	command -v "$c" >/dev/null || { echo "Error: $c is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT" "$DOCS"
cd "$TOP" || exit 1

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- the machine -------------------------------------------------------------
# build/calib: the machine's round-trip costs (make bench-tools)
{
	echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "mode ${QUICK:-full}"
	echo "cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "mhz $(awk -F': ' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo)"
	echo "nproc $(nproc)"
	echo "kernel $(uname -srm)"
	echo "mem_gib $(awk '$1 == "MemTotal:" { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
	echo "hypervisor $(grep -qw hypervisor /proc/cpuinfo && echo yes || echo no)"
	echo "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	echo "spectre_v2 $(cat /sys/devices/system/cpu/vulnerabilities/spectre_v2 2>/dev/null)"
	echo "srso $(cat /sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow 2>/dev/null)"
	"$TOP/build/calib"
	echo "loadavg_before $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "haproxy $(haproxy -v 2>&1 | awk 'NR == 1 { print $3 }')"
	echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')"
	echo "wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- bpf userspace 2>/dev/null || echo -dirty)"
	awk '$1 == "cpu" { print "stat0", $2 + $3 + $4 + $7 + $8, $5 + $6, $9 }' /proc/stat
} > "$OUT/machine.txt"

# ---- the parts -----------------------------------------------------------------
: > "$OUT/status.tsv"
part() {	# name command...
	local name=$1 t0 rc=0
	shift
	log "== $name: $*"
	t0=$(date +%s)
	"$@" || rc=$?
	printf '%s\t%s\t%s\n' "$name" "$rc" $(($(date +%s) - t0)) >> "$OUT/status.tsv"
	[ $rc -eq 0 ] || log "$name FAILED (exit $rc)"
}

part selftest "$BENCH_DIR/test_report.sh" > "$OUT/selftest.txt"
if [ -n "$QUICK" ]; then
	part cost env COST_WORKERS=4 COST_REPS=1 "$BENCH_DIR/cost.sh" 5000 > "$OUT/cost.txt"
else
	part cost "$BENCH_DIR/cost.sh" 20000 > "$OUT/cost.txt"
fi
part overhead "$BENCH_DIR/overhead.sh" "$OUT/overhead.tsv" $QUICK
part balance "$BENCH_DIR/balance.sh" "$OUT" $QUICK
part unequal "$BENCH_DIR/unequal.sh" "$OUT/unequal.tsv" $QUICK
part longlived "$BENCH_DIR/longlived.sh" "$OUT/longlived.txt" $QUICK

awk '$1 == "cpu" { print "stat1", $2 + $3 + $4 + $7 + $8, $5 + $6, $9 }' /proc/stat >> "$OUT/machine.txt"
echo "loadavg_after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
log "== report: $DOCS/RESULTS.md"
"$BENCH_DIR/report.sh" "$OUT" "$DOCS" || { log "report FAILED"; exit 1; }
awk '$2 != 0 { bad = 1 } END { exit bad }' "$OUT/status.tsv"
