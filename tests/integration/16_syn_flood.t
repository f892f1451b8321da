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
# issued no cookie and resets it. A second service and pool at once; the
# flood stops (kill -9) and the pool is quiet again.
source "$(dirname "$0")/../lib.sh"

SVC=10.77.0.1
CLIENT_NS_IP=10.77.0.2
FLOOD_SRC=10.77.9.9
cookies_sent() { nstat -saz TcpExtSyncookiesSent | awk '$1 == "TcpExtSyncookiesSent" { print $2 }'; }
syn_recv() { ss -Htn state syn-recv "sport = :9114" | wc -l; }
pool_selected() { steer -j pool list | jq --arg p "$1" '.pools[] | select(.name == $p) | .selected'; }

# the flood's namespace, held by a sleep; a veth to ours
ns_holder
HOLDER=$NS_HOLDER
WORKER_PIDS+=("$HOLDER")
in_flood() { nsenter --net="/proc/$HOLDER/ns/net" "$@"; }
ip link add fl0 type veth peer name eth0 netns "/proc/$HOLDER/ns/net" || bail "no veth"
ip addr add $SVC/24 dev fl0 && ip link set fl0 up || bail "no address on fl0"
in_flood sh -c "ip link set lo up && ip addr add $CLIENT_NS_IP/24 dev eth0 &&
	ip addr add $FLOOD_SRC/32 dev eth0 && ip link set eth0 up" ||
	bail "cannot set up the flood's namespace"
# The flood comes from FLOOD_SRC, and our replies to it go out of fl1,
# whose peer is down: its SYN-ACKs never arrive, its requests stay queued.
ip link add fl1 type veth peer name fl1p && ip link set fl1 up &&
	ip route add $FLOOD_SRC/32 dev fl1 &&
	ip neigh add $FLOOD_SRC lladdr 02:00:00:00:00:09 dev fl1 nud permanent ||
	bail "cannot route the flood's SYN-ACKs away"

sysctl -qw net.ipv4.tcp_syncookies=1
steer_load
start_worker roomy 127.0.0.1:9113
start_worker flooded 0.0.0.0:9114 --backlog 256
start_worker other 127.0.0.1:9115
steer pool add pf --policy least-conn
steer pool add po --policy least-conn
steer service add web --prefix $SVC/32 --port 84 --pool pf
steer service add web2 --prefix $SVC/32 --port 85 --pool po
steer worker add pf roomy --addr 127.0.0.1:9113
steer worker add pf flooded --addr 0.0.0.0:9114
steer worker add po other --addr 127.0.0.1:9115

# before the flood: no cookie, nothing to record
out=$("$SCLIENT" --connect $SVC:84 -n 200 -c 10 --mode server-fin)
is "$(client_ok "$out")" "200 0 0" "before the flood: 200 connections served"

in_flood "$SCLIENT" --connect $SVC:9114 --src $FLOOD_SRC -n 600 -c 600 --timeout-ms 20000 > /dev/null 2>&1 &
FLOOD=$!
WORKER_PIDS+=("$FLOOD")
wait_for '[ "$(syn_recv)" -ge 250 ]' 10
ok $? "the flood fills flooded's request queue ($(syn_recv) in SYN-RECV, backlog 256)"

sent=$(cookies_sent)
sel=$(pool_selected pf)
"$SCLIENT" --connect $SVC:85 -n 200 -c 10 > "$STEER_TMP/web2" &
web2=$!
out=$("$SCLIENT" --connect $SVC:84 -n 300 -c 10 --mode server-fin --timeout-ms 10000)
wait $web2
n=$(( $(cookies_sent) - sent ))
is "$(client_ok "$out") $(( $(pool_selected pf) - sel ))" "300 0 0 300" \
	"during the flood: 300 served (each cookie ACK met its listener), 300 selections"
[ "$(client_count "$out" flooded)" -gt 0 ] && [ "$n" -ge "$(client_count "$out" flooded)" ]
ok $? "flooded served $(client_count "$out" flooded) of them, every one through a cookie ($n sent)"
is "$(client_ok "$(cat "$STEER_TMP/web2")")" "200 0 0" "the second service, at the same time: 200 served"

kill -9 "$FLOOD"
out=$("$SCLIENT" --connect $SVC:84 -n 200 -c 10 --mode server-fin)
is "$(client_ok "$out")" "200 0 0" "the flood killed: 200 served"
check_invariants "$out" web "$(cat "$STEER_TMP/web2")" web2
done_testing
