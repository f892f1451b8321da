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
	# only our own: a recorded pid that died may be another test's process
	# now, in another namespace (pids are shared with the host)
	for pid in "${WORKER_PIDS[@]}"; do
		[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ] &&
			kill -9 "$pid" 2>/dev/null
	done
	"$STEERCTL" unload >/dev/null 2>&1
	# lazily when a process of ours still holds it (the namespace is ours)
	umount "$STEER_BPFFS" 2>/dev/null || umount -l "$STEER_BPFFS" 2>/dev/null
	[ -n "${STEER_KEEP_TMP:-}" ] && { echo "# kept $STEER_TMP" >&2; return; }	# debugging a test
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

# pool_selected POOL: the connections its workers were selected for
pool_selected() { steer -j pool list | jq --arg p "$1" '.pools[] | select(.name == $p) | .selected'; }

# kill9_free PORT PID...: kill -9 the PIDs and wait until nothing listens
# on PORT: a listener closes once its process is gone, not when kill
# returns, and a successor started at once on the port fails to bind
kill9_free() {
	local port=$1
	shift
	kill -9 "$@" 2> /dev/null
	wait_for "! ss -Hltn 'sport = :$port' | grep -q ." || bail "port $port still taken after kill -9"
}

# ns_holder: a new network namespace, held by a sleep whose pid is in
# NS_HOLDER (nsenter --net=/proc/$NS_HOLDER/ns/net), once it is there
ns_holder() {
	unshare --net -- sleep infinity &
	NS_HOLDER=$!
	disown "$NS_HOLDER"
	wait_for '[ "$(readlink /proc/'"$NS_HOLDER"'/ns/net)" != "$(readlink /proc/self/ns/net)" ]' 5 ||
		bail "a network namespace did not come up"
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

# pool_set POOL_ID BYTE_OFFSET U32: one field of a pools value, in place, for
# the states steerctl refuses to make (a pool gone from under a service, a
# chain that loops, a half-open circuit without steerd)
pool_set() {
	local key="$1 0 0 0" hex pools=$STEER_BPFFS/steer/maps/pools
	hex=$(bpftool -j map lookup pinned "$pools" key $key | jq -r '.value | join(" ")')
	hex=$(echo "$hex" | awk -v off="$2" -v v="$3" '{
		for (i = 0; i < 4; i++) $(off + i + 1) = sprintf("0x%02x", int(v / 256 ^ i) % 256)
		print }')
	bpftool map update pinned "$pools" key $key value hex $hex
}
POOL_IN_USE=32	# offsetof(struct steer_pool, in_use)
POOL_FALLBACK=40	# offsetof(struct steer_pool, fallback)
POOL_CIRCUIT=48	# offsetof(struct steer_pool, circuit)

# ---- steerd ----------------------------------------------------------------
STEERD=${STEERD:-$TOP/build/steerd}
AGENT=$TOP/build/agent

# start_steerd CONF: runs steerd (it loads steer into this test's namespace
# and cgroup) and waits until it has applied the file
start_steerd() {
	steerd_spawn "$1" || bail "steerd did not start: $(cat "$STEER_TMP/steerd.log")"
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

# health of a worker as steerd set it, in per-mille for the shell's integer
# tests (steerctl prints the ratio 0..1, as the metrics do)
health_of() { worker_field "$1" health | awk '{ printf "%d\n", $1 * 1000 + 0.5 }'; }

# ---- invariants ------------------------------------------------------------
# Called by a test after its traffic. Each returns 0 when the invariant holds,
# or 1 after saying why on stderr (why), so `check DESC assert_... ARGS` makes
# one TAP line of it. Each leaves its figure in a variable for diag lines.

# maps_digest: a digest of every map the tools write (not the kernel's
# stats), as bpftool shows them: equal before and after = nothing changed
maps_digest() {
	local m
	for m in services_lpm services pools pool_limits workers worker_socks pool_tables; do
		bpftool map dump pinned "$STEER_BPFFS/steer/maps/$m"
	done | md5sum
}

# json_of OBJECT: `steerctl -j OBJECT list`, checked to be JSON with that array
json_of() {
	local j
	j=$(steer -j "$1" list) || { why "steerctl -j $1 list failed"; return 1; }
	[ "$(jq -r --arg k "$1s" '.[$k] | type' <<< "$j" 2> /dev/null)" = array ] ||
		{ why "steerctl -j $1 list: not JSON with .$1s[]: $(head -c 200 <<< "$j")"; return 1; }
	printf '%s\n' "$j"
}

# pool_chain_workers SERVICE: the workers of the pool SERVICE resolves to now
# and of that pool's fallback chain, one name a line
pool_chain_workers() {
	local sj pj wj out
	sj=$(json_of service) && pj=$(json_of pool) && wj=$(json_of worker) || return 1
	out=$(jq -r -n --arg s "$1" --argjson sj "$sj" --argjson pj "$pj" --argjson wj "$wj" '
		def fb($n): [$pj.pools[] | select(.name == $n) | .fallback][0];
		def chain($n; $seen):
			if $n == null or any($seen[]; . == $n) then $seen
			else chain(fb($n); $seen + [$n]) end;
		[$sj.services[] | select(.name == $s) | .pool][0] as $p
		| (if $p == null then error("no service \($s)") else chain($p; []) end) as $c
		| $wj.workers[] | select(.pool as $x | any($c[]; . == $x)) | .name' 2>&1) ||
		{ why "pool_chain_workers $1: $out"; return 1; }
	printf '%s\n' "$out"
}

# assert_served_by_pool OUTPUT SERVICE: every connection in sclient OUTPUT
# ("worker NAME COUNT" lines) was served by a worker of the pool SERVICE
# resolves to now, or of its fallback chain. MISDIRECTED: how many were not.
assert_served_by_pool() {
	local allowed res
	MISDIRECTED=
	allowed=$(pool_chain_workers "$2") || return 1
	res=$(awk -v allowed="$allowed" '
		BEGIN { n = split(allowed, a, "\n"); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
		$1 == "worker" && !($2 in ok) { bad += $3; who = who " " $2 "=" $3 }
		END { print bad + 0 who }' <<< "$1")
	MISDIRECTED=${res%% *}
	[ "$MISDIRECTED" = 0 ] && return 0
	why "service $2: $MISDIRECTED misdirected, served by${res#"$MISDIRECTED"} (allowed: $(tr '\n' ' ' <<< "$allowed"))"
	return 1
}

# wait_until 'SHELL CONDITION' SECONDS: like wait_for, but SECONDS of wall
# time however long each evaluation takes (steerctl under ASan on a busy
# machine can take a good part of a second)
wait_until() {
	local end=$(( ${EPOCHREALTIME/./} + $2 * 1000000 ))
	while :; do
		eval "$1" && return 0
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# counts_off: workers whose outstanding or pending is not 0, one a line
counts_off() {
	local wj
	wj=$(json_of worker 2> /dev/null) || { echo "(steerctl -j worker list failed)"; return 0; }
	jq -r '.workers[] | select(.outstanding != 0 or .pending != 0)
		| "\(.name) outstanding=\(.outstanding) pending=\(.pending)"' <<< "$wj"
}

# assert_counts_settle [SECONDS]: outstanding and pending of every worker
# return to 0 within SECONDS (default 5). COUNTS_OFF: the workers that did not.
assert_counts_settle() {
	COUNTS_OFF=
	wait_until '[ -z "$(counts_off)" ]' "${1:-5}" && return 0
	COUNTS_OFF=$(counts_off | tr '\n' ' ')
	why "counts did not settle in ${1:-5} s: $COUNTS_OFF"
	return 1
}

# syn_retrans: SYNs the clients of this namespace retransmitted so far
tcp_counter() { nstat -saz "$1" | awk -v k="$1" '$1 == k { print $2 }'; }	# tcp_counter NAME
syn_retrans() { tcp_counter TcpExtTCPSynRetrans; }

# selections_mark: remember the pools' selected counters and the SYN
# retransmissions; assert_selections counts from here (without a mark, from 0)
SEL_MARK='{"pools":[]}'
SEL_MARK_SYNRETRANS=0
selections_mark() {
	SEL_MARK=$(json_of pool) || SEL_MARK='{"pools":[]}'
	SEL_MARK_SYNRETRANS=$(syn_retrans)
}

# assert_selections CONNS [POOL...]: the selections (selected counters) of the
# POOLs (default: all) since selections_mark equal CONNS, the new connections
# made. A retransmitted SYN is the only other thing that may take a selection:
# one that comes after the repeat window, or after its pool left the
# service's chain, is a new decision (sk_lookup cannot tell it from a new
# SYN). So the count may exceed CONNS by at most the SYNs retransmitted since
# the mark, and never fall short. SELECTIONS: how many there were.
assert_selections() {
	local want=$1 pj pools retrans
	shift
	SELECTIONS=
	pj=$(json_of pool) || return 1
	pools=$(printf '%s\n' "$@" | jq -R . | jq -s 'map(select(. != ""))')
	SELECTIONS=$(jq -n --argjson now "$pj" --argjson was "$SEL_MARK" --argjson only "$pools" '
		[$now.pools[] | select(($only | length) == 0 or (.name as $n | any($only[]; . == $n)))
		 | .name as $n | .selected - ([$was.pools[] | select(.name == $n) | .selected][0] // 0)]
		| add // 0')
	retrans=$(( $(syn_retrans) - SEL_MARK_SYNRETRANS ))
	if [ "$SELECTIONS" -ge "$want" ] && [ "$SELECTIONS" -le $((want + retrans)) ]; then
		[ "$SELECTIONS" = "$want" ] ||
			diag "selections ${*:-of all pools}: $SELECTIONS for $want connections; $retrans SYNs retransmitted"
		return 0
	fi
	why "selections ${*:-of all pools}: $SELECTIONS, want $want (new connections; $retrans SYNs retransmitted)"
	return 1
}

# check_invariants [OUTPUT SERVICE]...: the invariants every test checks
# after its traffic (issue 7), once its own holders are gone: one TAP line for
# outstanding and pending back to 0 on every worker (INV_SETTLE_S of wall
# time, default 15: a loaded machine), and one for each OUTPUT SERVICE pair:
# every connection in sclient OUTPUT served by the pool SERVICE resolves to
# or its fallback chain. Pairs come as arguments, or from INV_SERVED (an
# array of the same pairs) for a test that gathers them as it goes.
check_invariants() {
	local pairs=("$@")
	[ $# -gt 0 ] || pairs=("${INV_SERVED[@]}")
	check "invariant: outstanding and pending of every worker back to 0" \
		assert_counts_settle "${INV_SETTLE_S:-15}"
	while [ ${#pairs[@]} -ge 2 ]; do
		check "invariant: service ${pairs[1]}: every connection served by its pool (or fallback chain)" \
			assert_served_by_pool "${pairs[0]}" "${pairs[1]}"
		pairs=("${pairs[@]:2}")
	done
}
INV_SERVED=()

# The objects of `steerctl -j ... list` and of `steerd -c FILE --check -j`
# in one form: {"services":[{name,pool,prefix,port_lo,port_hi}],
# "pools":[{name,policy,fallback}], "workers":[{name,pool,addr,weight,maxconn}]}.
# steerctl's "address"+"prefixlen" and "listener" are read as prefix and addr.
CONVERGE_JQ='
	def fbk: if . == "none" or . == "" then null else . end;
	def ns: {name, pool, prefix: (.prefix // "\(.address)/\(.prefixlen)"), port_lo, port_hi};
	def np: {name, policy, fallback: (.fallback | fbk)};
	def nw: {name, pool, addr: (.addr // .listener)}
		+ (if $structure then {} else {weight, maxconn} end);
	def mine: if has("owner") then .owner == "steerd" else $allmine end;
	def cmp($kind; $want; $have; f; reserved):
		($want | map(f)) as $w
		| ($w[] | . as $x | ([$have[] | f | select(.name == $x.name)][0]) as $y
		   | if $y == null then "\($kind) \($x.name): missing, want \($x | tojson)"
		     elif $y != $x then "\($kind) \($x.name): \($y | tojson), want \($x | tojson)"
		     else empty end),
		  ($have[] | select(mine and (reserved | not)) | f
		   | select(.name as $n | all($w[]; .name != $n))
		   | "\($kind) \(.name): steerd'"'"'s but not in the file: \(tojson)");
	cmp("service"; $want.services; $sj.services; ns; false),
	cmp("pool"; $want.pools; $pj.pools; np; .name == "maintenance"),
	cmp("worker"; $want.workers; $wj.workers; nw; .pool == "maintenance")'

# assert_converged_json WANT [--structure] [--all-mine]: the maps hold what
# WANT (JSON in the form above) says: each of its objects present and equal,
# and no object of owner "steerd" that it does not name. --structure leaves
# weight and maxconn out; --all-mine counts an object without an owner field
# as steerd's. The maintenance pool and its worker are steerd's own extra.
# CONVERGE_DIFF: the differences, one a line.
assert_converged_json() {
	local want=$1 structure=false allmine=false sj pj wj a
	shift
	for a in "$@"; do
		case $a in
		--structure) structure=true ;;
		--all-mine) allmine=true ;;
		*) why "assert_converged: unknown option $a"; return 1 ;;
		esac
	done
	CONVERGE_DIFF="(not compared)"
	[ "$(jq -r '[.services, .pools, .workers] | map(type) | join(" ")' <<< "$want" 2> /dev/null)" \
		= "array array array" ] ||
		{ why "want: not {services,pools,workers}: $(head -c 200 <<< "$want")"; return 1; }
	sj=$(json_of service) && pj=$(json_of pool) && wj=$(json_of worker) || return 1
	CONVERGE_DIFF=$(jq -r -n --argjson want "$want" --argjson sj "$sj" --argjson pj "$pj" \
		--argjson wj "$wj" --argjson structure "$structure" --argjson allmine "$allmine" \
		"$CONVERGE_JQ" 2>&1) || { why "assert_converged: jq failed: $CONVERGE_DIFF"; return 1; }
	[ -z "$CONVERGE_DIFF" ] && return 0
	why "not converged: ${CONVERGE_DIFF//$'\n'/; }"
	return 1
}

# assert_converged CONF [--structure] [--all-mine]: steerd's view equals the
# file, as `steerd -c CONF --check -j` prints it (see assert_converged_json)
assert_converged() {
	local conf=$1 want
	shift
	CONVERGE_DIFF="(not compared)"
	want=$("$STEERD" -c "$conf" --check -j 2> "$STEER_TMP/check-j.err") ||
		{ why "steerd -c $conf --check -j failed: $(head -c 300 "$STEER_TMP/check-j.err")"; return 1; }
	assert_converged_json "$want" "$@"
}

# restart_steerd CONF: start_steerd again after a kill (steerd.log already
# holds a "running:" line): waits for a new one
restart_steerd() { steerd_spawn "$@"; }
# steerd_spawn CONF: start steerd and wait for a "running:" line newer than
# the ones in its log (false when it died or did not get there)
steerd_spawn() {
	local before
	before=$(grep -c "running:" "$STEER_TMP/steerd.log" 2> /dev/null)
	: >> "$STEER_TMP/steerd.log"	# there before the first look, not when the child opens it
	"$STEERD" -c "$1" --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
	STEERD_PID=$!
	disown "$STEERD_PID"
	WORKER_PIDS+=("$STEERD_PID")
	wait_until '[ "$(grep -c "running:" "$STEER_TMP/steerd.log")" -gt "${before:-0}" ] ||
		! kill -0 "$STEERD_PID" 2> /dev/null' 10
	kill -0 "$STEERD_PID" 2> /dev/null &&
		[ "$(grep -c "running:" "$STEER_TMP/steerd.log")" -gt "${before:-0}" ]
}
