#!/bin/bash
# steer demo: round-robin versus least-conn on a stream where every 4th
# request is long ("audit this PDF") and the rest are short ("hello").
#
# Runs in a private network namespace with its own bpffs and cgroup: the
# host's network and BPF state are not touched. Needs root and a build
# (`make demo` does both).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
STEERCTL=$TOP/build/steerctl
SWORKER=$TOP/tests/tools/sworker
SCLIENT=$TOP/tests/tools/sclient
SVC=127.10.0.1:80
WORKERS=4
REQUESTS=${DEMO_REQUESTS:-40}
LONG_MS=${DEMO_LONG_MS:-4000}
SHORT_MS=${DEMO_SHORT_MS:-30}

. "$TOP/scripts/private-ns.sh"
private_ns_enter demo "$0"

tmp=$(mktemp -d /tmp/steer-demo.XXXXXX)
private_ns_bpffs "$tmp/bpffs"
trap 'kill $(jobs -p) 2>/dev/null || true; "$STEERCTL" unload 2>/dev/null; umount "$STEER_BPFFS"; rm -rf "$tmp"' EXIT

"$STEERCTL" load --cgroup "$STEER_PRIVATE_CGROUP"
"$STEERCTL" pool add agents --policy round-robin
"$STEERCTL" service add agent-api --prefix 127.10.0.1/32 --port 80 --pool agents
for i in $(seq $WORKERS); do
	"$SWORKER" --listen "127.0.0.1:910$i" --name "worker$i" > "$tmp/w$i" &
	until grep -q ready "$tmp/w$i"; do sleep 0.05; done
	"$STEERCTL" worker add agents "worker$i" --addr "127.0.0.1:910$i"
done

# One request stream: long, short, short, short, long, ... each short one
# finishes before the next request is sent; the long ones stay open.
LONG_PIDS=()
run_stream() {
	local i
	LONG_PIDS=()
	for i in $(seq 0 $((REQUESTS - 1))); do
		if [ $((i % WORKERS)) -eq 0 ]; then
			"$SCLIENT" --connect $SVC -n 1 --mode "sleep:$LONG_MS" --timeout-ms 20000 > /dev/null &
			LONG_PIDS+=($!)
			sleep 0.01
		else
			"$SCLIENT" --connect $SVC -n 1 --mode "sleep:$SHORT_MS" > /dev/null
		fi
	done
}

outstanding_row() {
	"$STEERCTL" -j worker list | jq -r '[.workers | sort_by(.name)[] | .outstanding] | map(tostring) | join(" ")'
}

echo
echo "steer demo: $WORKERS workers, $REQUESTS requests in one stream, every ${WORKERS}th one long (${LONG_MS} ms),"
echo "the others short (${SHORT_MS} ms). Outstanding connections per worker once the stream is sent:"
echo
printf "%-12s" "policy"
for i in $(seq $WORKERS); do printf "%9s" "worker$i"; done
printf "%12s\n" "max/mean"
for policy in round-robin least-conn; do
	"$STEERCTL" pool set agents --policy $policy
	run_stream
	row=$(outstanding_row)
	printf "%-12s" "$policy"
	for n in $row; do printf "%9s" "$n"; done
	echo "$row" | awk '{ m = 0; s = 0; for (i = 1; i <= NF; i++) { s += $i; if ($i > m) m = $i }
		printf "%12s\n", (s ? sprintf("%.2f", m / (s / NF)) : "-") }'
	wait "${LONG_PIDS[@]}"	# the long requests finish before the next policy
done
echo
echo "round-robin deals connections like cards, so every long request lands on the same worker;"
echo "least-conn counts open connections in the kernel (sockops) and sends each new one to the"
echo "least loaded worker, so the long requests spread out. Final state:"
echo
"$STEERCTL" status
