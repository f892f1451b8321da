# tests/fleet_lib.sh - a fleet of hosts for a test: sourced after tests/lib.sh.
#
# The test already runs in a network namespace, mount namespace and cgroup
# of its own (lib.sh). Here each host is one more network namespace (held
# by a `sleep` that lives in the test's cgroup, so the outer cleanup kills
# it whatever happens), with a veth into a bridge in the test's namespace
# and an address in 10.77.0.0/24, its own bpffs mount, its own cgroup
# (a child of the test's), steer loaded in it, its own steerd, config file,
# socket and workers. Redis runs in a namespace of its own on 10.77.0.100.
# Everything is torn down at exit (fleet_cleanup, then lib.sh's cleanup).
#
#   fleet_redis_start [redis-server options]  start it (again: same address)
#   fleet_redis_kill                          kill -9 it
#   fleet_redis_pause / fleet_redis_resume    SIGSTOP / SIGCONT: a Redis that answers nothing
#   fleet_redis_cli ARGS...                   redis-cli against it
#   fleet_host_add NAME [WNAME=IP:PORT...]    a host, steer loaded, its workers
#                                             (default w1=127.0.0.1:9101 w2=127.0.0.1:9102)
#   fleet_worker NAME WNAME IP:PORT [sworker options]   one more worker on host NAME
#   fleet_fleet_block NAME [extra settings]   "daemon {...}; fleet {...};" for its config
#   fleet_steerd NAME CONF                    start its steerd, wait for "running:"
#   fleet_steerd_kill NAME [SIGNAL]           kill (default -9) its steerd, wait for it
#   in_host NAME CMD...                       CMD in the host: its netns, its cgroup,
#                                             STEER_BPFFS and STEER_SOCKET set
#   steer_on NAME ARGS...                     steerctl in the host
#   fleet_partition NAME on|off               cut (or restore) its link to everyone
#   fleet_dir NAME                            its directory (config, logs, socket)
#   fleet_metric NAME SERIES                  the value of SERIES (its name and labels,
#                                             as on the page) on NAME's metrics page
#   fleet_pool_sum POOL FIELD                 POOL's FIELD of `pool list` (>= 0), summed
#                                             over the test's HOSTS
#   fleet_no_refused_replies                  ok: no host refused a lease reply (the
#                                             real Redis answers only what the scripts can)
# After fleet_steerd: FLEET_STEERD_PID[NAME]; logs in $(fleet_dir NAME)/steerd.log.

FLEET_NET=10.77.0
FLEET_REDIS_IP=$FLEET_NET.100
FLEET_REDIS_PORT=6379
FLEET_REDIS=$FLEET_REDIS_IP:$FLEET_REDIS_PORT
FLEET_BRIDGE=fleetbr
FLEET_METRICS=127.0.0.1:9144	# each host's steerd, in its own namespace
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}

command -v "$REDIS_SERVER" > /dev/null && command -v "$REDIS_CLI" > /dev/null ||
	{ echo "1..0 # SKIP redis-server and redis-cli are needed (scripts/install-deps.sh)"; exit 0; }

declare -A FLEET_HOLDER FLEET_IDX FLEET_STEERD_PID
FLEET_HOSTS=()
FLEET_NEXT_IDX=1
FLEET_REDIS_PID=

fleet_dir() { echo "$STEER_TMP/fleet/$1"; }

# the bridge every host's veth joins: the test's own namespace is the switch
fleet_bridge() {
	ip link show "$FLEET_BRIDGE" > /dev/null 2>&1 && return 0
	ip link add "$FLEET_BRIDGE" type bridge || bail "cannot make the bridge"
	ip addr add "$FLEET_NET.254/24" dev "$FLEET_BRIDGE"
	ip link set "$FLEET_BRIDGE" up
}

# fleet_ns NAME IP: a network namespace held by a sleep, veth to the bridge
fleet_ns() {
	local name=$1 ip=$2 idx=$FLEET_NEXT_IDX dir pid
	dir=$(fleet_dir "$name")
	mkdir -p "$dir"
	fleet_bridge
	ns_holder
	pid=$NS_HOLDER
	FLEET_HOLDER[$name]=$pid
	FLEET_IDX[$name]=$idx
	FLEET_NEXT_IDX=$((idx + 1))
	ip link add "fv$idx" type veth peer name eth0 netns "/proc/$pid/ns/net" ||
		bail "cannot make the veth of $name"
	ip link set "fv$idx" master "$FLEET_BRIDGE" up
	nsenter --net="/proc/$pid/ns/net" sh -c "ip link set lo up && ip addr add $ip/24 dev eth0 &&
		ip link set eth0 up" || bail "cannot set up the network of $name"
	mkdir -p "$STEER_TEST_CGROUP/$name"
}

# in_host NAME CMD...: CMD in NAME's namespace and cgroup, with its bpffs and
# socket (in a subshell that execs it: a background one is CMD's own pid,
# and its death prints no "Killed")
in_host() { ( in_host_exec "$@" ); }
in_host_exec() {
	local name=$1 dir
	shift
	dir=$(fleet_dir "$name")
	[ -n "${FLEET_HOLDER[$name]:-}" ] || { why "in_host: no host $name"; return 1; }
	STEER_BPFFS=$dir/bpffs STEER_SOCKET=$dir/steerd.sock \
		exec nsenter --net="/proc/${FLEET_HOLDER[$name]}/ns/net" \
		bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ \
		"$STEER_TEST_CGROUP/$name" "$@"
}

steer_on() { local name=$1; shift; in_host "$name" "$STEERCTL" "$@"; }

# fleet_pool_sum POOL FIELD: POOL's FIELD (>= 0) on every host of HOSTS, summed
fleet_pool_sum() {
	local h t=0 n
	for h in "${HOSTS[@]}"; do
		n=$(steer_on "$h" -j pool list | jq --arg p "$1" --arg f "$2" \
			'.pools[] | select(.name == $p) | .[$f] // 0')
		t=$((t + (n > 0 ? n : 0)))
	done
	echo "$t"
}

# fleet_no_refused_replies: one ok, that no host's steerd refused a lease
# reply as out of range (only a broken or hostile server gives one)
fleet_no_refused_replies() {
	local refused
	refused=$(grep -l "out of range refused" "$STEER_TMP"/fleet/*/steerd.log 2> /dev/null | tr '\n' ' ')
	[ -z "$refused" ]; ok $? "no lease reply refused on any host ${refused:+($refused)}"
}

# fleet_metric HOST 'steer_x{pool="p"}': its value, "" when absent
fleet_metric() {
	in_host "$1" curl -sf -m 3 "http://$FLEET_METRICS/metrics" |
		awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $2 }'
}

# fleet_worker HOST WNAME IP:PORT [sworker options]: waits until it listens
fleet_worker() {
	local host=$1 name=$2 addr=$3 fifo line
	shift 3
	fifo=$(fleet_dir "$host")/ready.$name
	mkfifo "$fifo"
	in_host_exec "$host" "$SWORKER" --listen "$addr" --name "$name" "$@" > "$fifo" &
	LAST_PID=$!
	disown "$LAST_PID"
	read -r -t 5 line < "$fifo" || bail "worker $name on $host did not start"
	rm -f "$fifo"
	[ "${line%% *}" = ready ] || bail "worker $name on $host: unexpected '$line'"
}

# fleet_host_add NAME [WNAME=IP:PORT...]: a host with steer loaded and its workers
fleet_host_add() {
	local name=$1 spec idx
	shift
	idx=$FLEET_NEXT_IDX
	fleet_ns "$name" "$FLEET_NET.$idx"
	FLEET_HOSTS+=("$name")
	mkdir -p "$(fleet_dir "$name")/bpffs"
	mount -t bpf bpf "$(fleet_dir "$name")/bpffs" || bail "cannot mount a bpffs for $name"
	steer_on "$name" load --cgroup "$STEER_TEST_CGROUP/$name" || bail "steer load on $name failed"
	[ $# -gt 0 ] || set -- w1=127.0.0.1:9101 w2=127.0.0.1:9102
	for spec in "$@"; do
		fleet_worker "$name" "${spec%%=*}" "${spec#*=}"
	done
}

# fleet_fleet_block NAME [SETTINGS]: the daemon and fleet blocks of NAME's
# config (its own socket; host_id = NAME), SETTINGS added to the fleet block
fleet_fleet_block() {
	local dir
	dir=$(fleet_dir "$1")
	cat <<-EOF
	daemon = { socket = "$dir/steerd.sock"; socket_mode = "0666"; interval_ms = 200;
	           metrics = "$FLEET_METRICS"; };
	fleet = { redis = "$FLEET_REDIS"; host_id = "$1"; ${2:-} };
	EOF
}

# fleet_steerd NAME CONF: start NAME's steerd, wait for a new "running:" line
fleet_steerd() {
	local name=$1 conf=$2 log before pid
	log=$(fleet_dir "$name")/steerd.log
	: >> "$log"
	before=$(grep -c "running:" "$log")
	in_host_exec "$name" "$STEERD" ${FLEET_STEERD_ARGS:-} -c "$conf" --cgroup "$STEER_TEST_CGROUP/$name" 2>> "$log" &
	pid=$!
	disown "$pid"
	FLEET_STEERD_PID[$name]=$pid
	wait_until '[ "$(grep -c "running:" "$log")" -gt "$before" ] || ! kill -0 '"$pid"' 2> /dev/null' 10
	kill -0 "$pid" 2> /dev/null && [ "$(grep -c "running:" "$log")" -gt "$before" ]
}

# fleet_steerd_kill NAME [SIGNAL]: and wait until it is gone
fleet_steerd_kill() {
	local pid=${FLEET_STEERD_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "-${2:-9}" "$pid" 2> /dev/null
	wait_until '! kill -0 '"$pid"' 2> /dev/null' 10
	FLEET_STEERD_PID[$1]=
}

# ---- Redis ----------------------------------------------------------------
fleet_redis_start() {
	local dir
	dir=$(fleet_dir redis)
	[ -n "${FLEET_HOLDER[redis]:-}" ] || fleet_ns redis "$FLEET_REDIS_IP"
	nsenter --net="/proc/${FLEET_HOLDER[redis]}/ns/net" "$REDIS_SERVER" --bind "$FLEET_REDIS_IP" \
		--port "$FLEET_REDIS_PORT" --save "" --appendonly no --daemonize no \
		--protected-mode no --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" &
	FLEET_REDIS_PID=$!
	disown "$FLEET_REDIS_PID"
	wait_until 'fleet_redis_cli ping 2> /dev/null | grep -q PONG' 10 ||
		bail "redis-server did not start: $(tail -5 "$dir/redis.log" 2> /dev/null)"
}

fleet_redis_kill() {
	[ -n "$FLEET_REDIS_PID" ] || return 0
	kill -9 "$FLEET_REDIS_PID" 2> /dev/null
	wait_until '! kill -0 '"$FLEET_REDIS_PID"' 2> /dev/null' 5
	FLEET_REDIS_PID=
}

fleet_redis_pause() { kill -STOP "$FLEET_REDIS_PID"; }
fleet_redis_resume() { kill -CONT "$FLEET_REDIS_PID"; }

# fleet_redis_cli ARGS...: from Redis' own namespace (FLEET_REDIS_AUTH: -a)
fleet_redis_cli() {
	nsenter --net="/proc/${FLEET_HOLDER[redis]}/ns/net" "$REDIS_CLI" --no-auth-warning \
		-h "$FLEET_REDIS_IP" -p "$FLEET_REDIS_PORT" ${FLEET_REDIS_AUTH:+-a "$FLEET_REDIS_AUTH"} "$@"
}

# fleet_partition NAME on|off: NAME's link to the bridge down (on) or up
fleet_partition() {
	local idx=${FLEET_IDX[$1]}
	if [ "$2" = on ]; then
		ip link set "fv$idx" down
	else
		ip link set "fv$idx" up
	fi
}

# ---- teardown -------------------------------------------------------------
fleet_cleanup() {
	local name dir
	for name in "${FLEET_HOSTS[@]}"; do
		dir=$(fleet_dir "$name")
		echo 1 > "$STEER_TEST_CGROUP/$name/cgroup.kill" 2> /dev/null
		STEER_BPFFS=$dir/bpffs "$STEERCTL" unload > /dev/null 2>&1
		umount "$dir/bpffs" 2> /dev/null || umount -l "$dir/bpffs" 2> /dev/null
	done
	[ -n "$FLEET_REDIS_PID" ] && kill -9 "$FLEET_REDIS_PID" 2> /dev/null
	for name in "${FLEET_HOLDER[@]}"; do
		kill -9 "$name" 2> /dev/null
	done
	for name in "${FLEET_HOSTS[@]}"; do
		rmdir "$STEER_TEST_CGROUP/$name" 2> /dev/null
	done
	ip link del "$FLEET_BRIDGE" 2> /dev/null
}
trap 'fleet_cleanup; cleanup' EXIT
