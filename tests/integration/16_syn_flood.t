#!/bin/bash
# A real SYN flood on one worker, and SYN cookies (syncookies = 1): the
# kernel answers with a cookie only once a listener's request queue is at
# its backlog, and steer records a pick (so that the cookie ACK, which runs
# sk_lookup again, meets the listener that issued the cookie) only while
# its SYN may come back (syn_may_return: a queue past half its bound).
# A flood from another namespace, whose SYN-ACKs we send nowhere, fills
# the request queue of "flooded" (backlog 256) through its own port; then
# clients of the service: the ones picked for "flooded" get cookies, and
# each cookie ACK must reach "flooded", not the pool's other worker, which
# issued no cookie and resets it. IPv4 and IPv6; a second service and pool
# at once; the flood stopped (kill -9), and again.
source "$(dirname "$0")/../lib.sh"

cookies_sent() { tcp_counter TcpExtSyncookiesSent; }
syn_recv() { ss -Htn state syn-recv "sport = :$1" | wc -l; }

# the flood's namespace, held by a sleep; a veth to ours. The flood comes
# from an address of its own (FLOOD4, FLOOD6), and our replies to it go
# out of fl1, whose peer is down: its SYN-ACKs never arrive, its requests
# stay queued.
ns_holder
HOLDER=$NS_HOLDER
WORKER_PIDS+=("$HOLDER")
in_flood() { nsenter --net="/proc/$HOLDER/ns/net" "$@"; }
SVC4=10.77.0.1 SVC6=fd77::1 FLOOD4=10.77.9.9 FLOOD6=fd77:9::9
ip link add fl0 type veth peer name eth0 netns "/proc/$HOLDER/ns/net" || bail "no veth"
ip addr add $SVC4/24 dev fl0 && ip addr add $SVC6/64 dev fl0 nodad && ip link set fl0 up ||
	bail "no address on fl0"
in_flood sh -c "ip link set lo up && ip addr add 10.77.0.2/24 dev eth0 &&
	ip addr add $FLOOD4/32 dev eth0 && ip addr add fd77::2/64 dev eth0 nodad &&
	ip addr add $FLOOD6/128 dev eth0 nodad && ip link set eth0 up" ||
	bail "cannot set up the flood's namespace"
ip link add fl1 type veth peer name fl1p && ip link set fl1 up &&
	ip route add $FLOOD4/32 dev fl1 && ip -6 route add $FLOOD6/128 dev fl1 &&
	ip neigh add $FLOOD4 lladdr 02:00:00:00:00:09 dev fl1 nud permanent &&
	ip -6 neigh add $FLOOD6 lladdr 02:00:00:00:00:09 dev fl1 nud permanent ||
	bail "cannot route the flood's SYN-ACKs away"
wait_for 'in_flood ip -6 route get $SVC6 > /dev/null 2>&1' || bail "no IPv6 route to $SVC6"

sysctl -qw net.ipv4.tcp_syncookies=1
steer_load
steer pool add po --policy least-conn
start_worker other 127.0.0.1:9115
steer worker add po other --addr 127.0.0.1:9115
steer service add web2 --prefix $SVC4/32 --port 85 --pool po

# flood LABEL SVC_ADDR FLOOD_SRC DIAL(svc) ROOMY_ADDR FLOODED_ADDR PORT POOL SERVICE
flood() {
	local label=$1 svc=$2 src=$3 dial=$4 roomy=$5 flooded=$6 port=$7 pool=$8 service=$9
	local out fl sent sel n web2
	start_worker "roomy$pool" "$roomy"
	start_worker "flooded$pool" "$flooded" --backlog 256
	steer pool add "$pool" --policy least-conn
	steer service add "$service" --prefix "$svc" --port 84 --pool "$pool"
	steer worker add "$pool" "roomy$pool" --addr "$roomy"
	steer worker add "$pool" "flooded$pool" --addr "$flooded"
	out=$("$SCLIENT" --connect "$dial:84" -n 200 -c 10 --mode server-fin)
	is "$(client_ok "$out")" "200 0 0" "$label, before the flood: 200 connections served"

	in_flood "$SCLIENT" --connect "$dial:$port" --src "$src" -n 600 -c 600 --timeout-ms 20000 \
		> /dev/null 2>&1 &
	fl=$!
	disown "$fl"	# no "Killed" in the TAP stream
	WORKER_PIDS+=("$fl")
	wait_for '[ "$(syn_recv '"$port"')" -ge 250 ]' 10
	ok $? "$label: the flood fills the request queue ($(syn_recv "$port") in SYN-RECV, backlog 256)"
	sent=$(cookies_sent)
	sel=$(pool_selected "$pool")
	"$SCLIENT" --connect "$SVC4:85" -n 200 -c 10 > "$STEER_TMP/web2" &
	web2=$!
	out=$("$SCLIENT" --connect "$dial:84" -n 300 -c 10 --mode server-fin --timeout-ms 10000)
	wait $web2
	n=$(( $(cookies_sent) - sent ))
	is "$(client_ok "$out") $(( $(pool_selected "$pool") - sel ))" "300 0 0 300" \
		"$label, during the flood: 300 served (each cookie ACK met its listener), 300 selections"
	[ "$(client_count "$out" "flooded$pool")" -gt 0 ] &&
		[ "$n" -ge "$(client_count "$out" "flooded$pool")" ]
	ok $? "$label: flooded served $(client_count "$out" "flooded$pool") of them, every one through a cookie ($n sent)"
	is "$(client_ok "$(cat "$STEER_TMP/web2")")" "200 0 0" \
		"$label: the second service, at the same time: 200 served"
	kill -9 "$fl"
	out=$("$SCLIENT" --connect "$dial:84" -n 200 -c 10 --mode server-fin)
	is "$(client_ok "$out")" "200 0 0" "$label, the flood killed (its requests still queued): 200 served"
	check_invariants "$out" "$service" "$(cat "$STEER_TMP/web2")" web2
}

flood IPv4 $SVC4/32 $FLOOD4 $SVC4 127.0.0.1:9113 0.0.0.0:9114 9114 p4 web4
flood IPv6 $SVC6/128 $FLOOD6 "[$SVC6]" "[::1]:9213" "[::]:9214" 9214 p6 web6
done_testing
