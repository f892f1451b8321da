# tests/lib.sh - sourced by every tests/integration/*.t (TAP, run by prove).
#
# Isolation: the test re-executes itself inside a new network namespace and a
# private mount namespace, with its own cgroup (v2) and its own bpffs mount.
# Nothing is attached to the host's namespace or cgroups, and when the test
# exits the namespaces, pins, links and cgroup all go away.
# Traffic goes only to 127.0.0.0/8 and ::1 inside that private namespace.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEERCTL=${STEERCTL:-$TOP/build/steerctl}
SWORKER=$TOP/tests/tools/sworker
SCLIENT=$TOP/tests/tools/sclient

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP integration tests need root"
	exit 0
fi
. "$TOP/scripts/private-ns.sh"
private_ns_enter test "$0"
export STEER_TEST_CGROUP=$STEER_PRIVATE_CGROUP

set -u
STEER_TMP=$(mktemp -d /tmp/steer-test.XXXXXX)
private_ns_bpffs "$STEER_TMP/bpffs"
WORKER_PIDS=()

cleanup() {
	local pid
	for pid in "${WORKER_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	"$STEERCTL" unload >/dev/null 2>&1
	umount "$STEER_BPFFS" 2>/dev/null
	rm -rf "$STEER_TMP"
}
trap cleanup EXIT

# ---- TAP ---------------------------------------------------------------
TAP_N=0
TAP_FAILED=0
ok() {	# ok CONDITION-EXIT-STATUS DESCRIPTION
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}
check() {	# check DESCRIPTION COMMAND...: ok when the command succeeds
	local desc=$1
	shift
	"$@"
	ok $? "$desc"
}
is() {	# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		# stderr: prove shows it even when not verbose, so a CI log
		# says what went wrong
		echo "#   got: '$1'" >&2
		echo "#  want: '$2'" >&2
	fi
}
diag() { echo "# $*"; }
why() { echo "# $*" >&2; }	# on a failure: stderr, so prove shows it
done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
bail() { echo "Bail out! $*"; exit 1; }

# ---- steer and workers ---------------------------------------------------
steer() { "$STEERCTL" "$@"; }

steer_load() {
	steer load --cgroup "$STEER_TEST_CGROUP" || bail "steerctl load failed"
}

# steer_setup POOL POLICY N: the common start of a test: steer loaded, POOL
# with POLICY, the service "web" on $SVC4:80 to it, and N workers w1..wN
# listening on 127.0.0.1:9101.. added to it (their pids in WPID[1..N])
steer_setup() {
	local pool=$1 policy=$2 n=$3 i
	steer_load
	steer pool add "$pool" --policy "$policy" || bail "pool add $pool failed"
	steer service add web --prefix $SVC4/32 --port 80 --pool "$pool" || bail "service add failed"
	WPID=()
	for i in $(seq "$n"); do
		start_worker "w$i" "127.0.0.1:$((9100 + i))"
		WPID[i]=$LAST_PID
		steer worker add "$pool" "w$i" --addr "127.0.0.1:$((9100 + i))" || bail "worker add w$i failed"
	done
}

# start_worker NAME ADDR:PORT [sworker options]: waits until it listens
start_worker() {
	local name=$1 addr=$2 fifo line
	shift 2
	fifo=$STEER_TMP/ready.$name
	mkfifo "$fifo"
	"$SWORKER" --listen "$addr" --name "$name" "$@" > "$fifo" &
	LAST_PID=$!
	disown "$LAST_PID"	# no "Killed" noise in the TAP stream
	WORKER_PIDS+=("$LAST_PID")
	read -r -t 5 line < "$fifo" || bail "worker $name did not start"
	rm -f "$fifo"
	[ "${line%% *}" = ready ] || bail "worker $name: unexpected '$line'"
}

# worker_field NAME FIELD: one field of `steerctl -j worker list`
worker_field() {
	steer -j worker list | jq -r --arg n "$1" ".workers[] | select(.name == \$n) | .$2"
}

# outstanding counts of all workers, "name=count" sorted
outstanding_all() {
	steer -j worker list | jq -r '.workers[] | "\(.name)=\(.outstanding)"' | sort | tr '\n' ' '
}

# wait_for 'SHELL CONDITION' [SECONDS]: evaluate it again and again for up
# to 5 s or SECONDS (counts settle a moment after the last close)
wait_for() {
	local i
	for i in $(seq $(( ${2:-5} * 10 ))); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

total_outstanding() {	# total_outstanding [POOL]
	steer -j worker list | jq --arg p "${1:-}" \
		'[.workers[] | select($p == "" or .pool == $p) | .outstanding] | add // 0'
}

all_outstanding_zero() {
	[ "$(steer -j worker list | jq '[.workers[].outstanding] | map(select(. != 0)) | length')" = 0 ]
}

# count of connections a worker got, from sclient output
client_count() {	# client_count OUTPUT NAME
	awk -v n="$2" '$1 == "worker" && $2 == n { print $3; f = 1 } END { if (!f) print 0 }' <<< "$1"
}
client_ok() {	# client_ok OUTPUT -> "ok failed refused"
	awk '$1 == "ok" { print $2, $4, $6 }' <<< "$1"
}

# the service address: a loopback address nothing listens on
SVC4=127.10.0.1
SVC6=::1

# ---- steerd ----------------------------------------------------------------
STEERD=${STEERD:-$TOP/build/steerd}
AGENT=$TOP/build/agent

# start_steerd CONF: runs steerd (it loads steer into this test's namespace
# and cgroup) and waits until it has applied the file
start_steerd() {
	"$STEERD" -c "$1" --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
	STEERD_PID=$!
	disown "$STEERD_PID"
	WORKER_PIDS+=("$STEERD_PID")
	wait_for 'grep -q "running:" "$STEER_TMP/steerd.log"' || bail "steerd did not start: $(cat "$STEER_TMP/steerd.log")"
}

# start_agent NAME IP:PORT: the sample HTTP agent (GET /health answers 200)
start_agent() {
	local fifo=$STEER_TMP/ready.agent.$1 line
	mkfifo "$fifo"
	"$AGENT" --listen "$2" --name "$1" > "$fifo" &
	LAST_PID=$!
	disown "$LAST_PID"
	WORKER_PIDS+=("$LAST_PID")
	read -r -t 5 line < "$fifo" || bail "agent $1 did not start"
	rm -f "$fifo"
}

# health of a worker as steerd set it (per-mille)
health_of() { worker_field "$1" health; }
