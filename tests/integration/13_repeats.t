#!/bin/bash
# Segments that are not new connections take no turn: the late segments of a
# closed connection (the peer's ACK racing the close) reach sk_lookup, and
# must be repeats. Held 1.3 s, longer than the SYN-time repeat window, so only
# the record sockops makes at close can catch them. IPv4, IPv6, and IPv4
# clients of a dual-stack worker (sockops sees a v4-mapped address there).
source "$(dirname "$0")/../lib.sh"

steer_load
# backlogs below 128: every pick is recorded (syn_may_return), so that the
# twins below meet the first service's open flows in the cache
start_worker w1 127.0.0.1:9101 --backlog 100
start_worker v6a "[::1]:9301" --v6only --backlog 100
start_worker ds "[::]:9303" --backlog 100
steer pool add p4 --policy round-robin
steer pool add p6 --policy round-robin
steer pool add pds --policy round-robin
steer service add web4 --prefix $SVC4/32 --port 80 --pool p4
steer service add web6 --prefix ::1/128 --port 80 --pool p6
steer service add webds --prefix $SVC4/32 --port 81 --pool pds
steer worker add p4 w1 --addr 127.0.0.1:9101
steer worker add p6 v6a --addr "[::1]:9301"
steer worker add pds ds --addr "[::]:9303"

lookups() { steer -j service list | jq '[.services[].lookups] | add'; }

# held POOL DEST LABEL [sclient options]: the client closes first (hold),
# unless the options give another --mode
held() {
	local pool=$1 dest=$2 label=$3 sel look out
	shift 3
	sel=$(pool_selected "$pool")
	look=$(lookups)
	case " $* " in
	*" --mode "*) ;;
	*) set -- --mode hold --hold-ms 1300 "$@" ;;
	esac
	out=$("$SCLIENT" --connect "$dest" -n 600 -c 150 "$@")
	is "$(client_ok "$out")" "600 0 0" "$label: 600 connections held 1.3 s succeed"
	wait_for all_outstanding_zero
	is "$(( $(pool_selected "$pool") - sel ))" 600 \
		"$label: 600 selections ($(( $(lookups) - look - 600 )) late segments were repeats)"
}

held p4 $SVC4:80 IPv4 --src-range 127.30.0.0/16
held p6 "[::1]:80" IPv6
held pds $SVC4:81 "IPv4 to a dual-stack worker"
# The worker closes first (its FIN after 1.3 s, past the pick's repeat
# window): none of the late segments may be a selection.
held p4 $SVC4:80 "IPv4, the worker closes first" --mode sleep:1300 --src-range 127.31.0.0/16
held p6 "[::1]:80" "IPv6, the worker closes first" --mode sleep:1300

# A repeat is the same flow: the whole 4-tuple. A second service on the same
# port at another address, to its own pool, and clients that use the same
# client address and ports for both: every connection to the second is
# served by its pool and is a selection, while the first one's flows are
# open (recorded at the pick) and once they closed (recorded by sockops).
# IPv4, IPv6 (fd00::1 on lo), and IPv4 to dual-stack workers. The fixed
# client ports are below the ephemeral range, so no earlier connection
# holds them.
ip -6 addr add fd00::1/128 dev lo nodad
start_worker w2 127.0.0.1:9102
start_worker v6b "[::1]:9302" --v6only
start_worker ds2 "[::]:9304"
steer pool add p4b --policy round-robin
steer pool add p6b --policy round-robin
steer pool add pdsb --policy round-robin
steer service add web4b --prefix 127.10.0.2/32 --port 80 --pool p4b
steer service add web6b --prefix fd00::1/128 --port 80 --pool p6b
steer service add webdsb --prefix 127.10.0.2/32 --port 81 --pool pdsb
steer worker add p4b w2 --addr 127.0.0.1:9102
steer worker add p6b v6b --addr "[::1]:9302"
steer worker add pdsb ds2 --addr "[::]:9304"

# twins LABEL SRC PORT0 POOL_A DEST_A POOL_B DEST_B WORKER_B
twins() {
	local label=$1 src=$2 port=$3 pa=$4 da=$5 pb=$6 db=$7 wb=$8 sa sb out pid
	sa=$(pool_selected "$pa")
	sb=$(pool_selected "$pb")
	"$SCLIENT" --connect "$da" --src "$src" --src-port "$port" -n 40 -c 40 --mode hold \
		--hold-ms 1000 > "$STEER_TMP/twin_a" &
	pid=$!
	wait_for '[ "$(total_outstanding "$pa")" = 40 ]'
	out=$("$SCLIENT" --connect "$db" --src "$src" --src-port "$port" -n 40 -c 40)
	wait $pid
	is "$(client_ok "$(cat "$STEER_TMP/twin_a")") $(client_ok "$out") $(client_count "$out" "$wb")" \
		"40 0 0 40 0 0 40" "$label: same client ports, first service's flows open: the second's 40 served by its pool"
	"$SCLIENT" --connect "$da" --src "$src" --src-port $((port + 100)) -n 40 -c 40 > /dev/null
	out=$("$SCLIENT" --connect "$db" --src "$src" --src-port $((port + 100)) -n 40 -c 40)
	is "$(client_ok "$out") $(client_count "$out" "$wb")" "40 0 0 40" \
		"$label: same client ports, first service's flows just closed: the second's 40 served by its pool"
	wait_for all_outstanding_zero
	is "$(( $(pool_selected "$pa") - sa )) $(( $(pool_selected "$pb") - sb ))" "80 80" \
		"$label: 80 selections per pool for 80 connections each"
}
twins IPv4 127.0.0.78 23000 p4 $SVC4:80 p4b 127.10.0.2:80 w2
twins IPv6 ::1 24000 p6 "[::1]:80" p6b "[fd00::1]:80" v6b
twins "IPv4, dual-stack workers" 127.0.0.78 25000 pds $SVC4:81 pdsb 127.10.0.2:81 ds2
# twin_a: the last twins' 40 held connections to webds
check_invariants "$(cat "$STEER_TMP/twin_a")" webds

# ---- which flows are recorded at all ----
# A SYN comes back to sk_lookup only if the kernel may answer it with a
# cookie or drop it: to workers with room in their queues (backlog 4096),
# 40 connections held open are not recorded (recent_last stands still
# while they are open); every close is. (SYN cookies under a real flood:
# 16_syn_flood.t.)
last_stamp() {
	local v
	v=$(bpftool -j map lookup pinned "$STEER_BPFFS/steer/maps/recent_last" key 0 0 0 0 |
		jq -e '.formatted.value.stamp_ms') || bail "cannot read recent_last"
	echo "$v"
}
for i in 1 2; do start_worker "big$i" "127.0.0.1:911$i"; done
steer pool add pbig --policy least-conn
steer service add webbig --prefix $SVC4/32 --port 82 --pool pbig
steer worker add pbig big1 --addr 127.0.0.1:9111
steer worker add pbig big2 --addr 127.0.0.1:9112
# held POOL PORT: stamps before and while 40 connections are held open
held_stamps() {
	local before while_open
	before=$(last_stamp)
	"$SCLIENT" --connect "$SVC4:$2" -n 40 -c 40 --mode hold --hold-ms 1000 > "$STEER_TMP/held" &
	wait_for '[ "$(total_outstanding '"$1"')" = 40 ]'
	sleep 0.05
	while_open=$(last_stamp)
	wait $!
	echo "$before $while_open $(client_ok "$(cat "$STEER_TMP/held")")"
}
read -r s0 s1 res <<< "$(held_stamps pbig 82)"
is "$s1 $res" "$s0 40 0 0" "room in every queue: 40 connections picked and held, none recorded"
wait_for all_outstanding_zero
[ "$(last_stamp)" != "$s1" ]
ok $? "and recorded when they closed (recent_last $s1 -> $(last_stamp))"
# The worker closes first, and yet no TIME_WAIT socket keeps the flow: the
# client was still writing (its data resets the orphan), or the TIME_WAIT
# buckets ran out (tcp_max_tw_buckets). The flow's late segments then run
# sk_lookup: sockops records it at the CLOSE, and none is a selection.
# (With the record skipped at every worker FIN: 193 and 400 selections.)
late() {
	local label=$1 n=$5 sel out
	shift
	sel=$(pool_selected pbig)
	out=$(python3 "$TOP/tests/tools/late_client.py" "$@")
	wait_for all_outstanding_zero
	sleep 0.3	# the late segments
	is "$(client_ok "$out") $(( $(pool_selected pbig) - sel ))" "$n 0 0 $n" \
		"$label: $n connections, $n selections"
}
late "the client still writing after the worker's FIN" write $SVC4 82 100
late "TIME_WAIT buckets in use: the client's FIN late" close-after $SVC4 82 100 50
sysctl -qw net.ipv4.tcp_max_tw_buckets=0
late "no TIME_WAIT bucket left: the client's FIN late" close-after $SVC4 82 100 50
sysctl -qw net.ipv4.tcp_max_tw_buckets=262144
# w1's backlog is 100: below 2 x 64, so each pick is recorded
read -r s0 s1 res <<< "$(held_stamps p4 80)"
[ "$s1" != "$s0" ] && [ "$res" = "40 0 0" ]
ok $? "a listener with a small backlog: its picks recorded at once (recent_last $s0 -> $s1)"
wait_for all_outstanding_zero
# an upgrade marks recent_last: what the running programs recorded just
# before the swap is read for a repeat's lifetime after it, from the new
# programs' first decision, which stamps its own clock
steer upgrade
s=$(last_stamp)
is "$s" 4294967295 "steerctl upgrade marks recent_last as swapped (STEER_RECENT_SWAPPED)"
"$SCLIENT" --connect $SVC4:82 -n 1 --mode server-fin > /dev/null
now=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) >> 20)')
s=$(last_stamp)
[ "$s" != 4294967295 ] && [ $(( now - s )) -lt 2000 ] && [ $(( s - now )) -lt 2000 ]
ok $? "the first decision after it stamps the kernel's clock ($s, now ~$now)"
done_testing
