#!/bin/bash
# Shared circuits (issue 11): three hosts A, B, C with their own steer,
# steerd and workers, one Redis. Errors on A and B open the pool on C
# within 1 s (measured); errors on A alone do not; recovery closes it
# everywhere; a forced circuit is not counted; kill -9 of a host: its
# entry expires; Redis killed: own breakers only, nothing refused; Redis
# back: republished; a 31-character pool name in the keys.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../fleet_lib.sh"

TTL=1500
LONG=p-long-name-with-31-characters0	# STEER_NAME_LEN - 1
[ ${#LONG} -eq 31 ] || bail "LONG is ${#LONG} characters"
CIRC='circuit = { threshold = 0.05; window_s = 5; min_requests = 20; cooldown_s = 2; half_open_probes = 2; };'

fleet_redis_start
for h in A B C; do
	fleet_host_add $h w1=127.0.0.1:9101 w2=127.0.0.1:9102 b1=127.0.0.1:9201 l1=127.0.0.1:9301
	cat > "$(fleet_dir $h)/steer.conf" <<CONF
$(fleet_fleet_block $h "circuit_hosts = 2; circuit_ttl_ms = $TTL;" |
  sed 's|interval_ms = 200;|interval_ms = 200; metrics = "127.0.0.1:9144";|')
pools = (
  { name = "main"; fallback = "basic"; $CIRC
    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; resources = false; },
                { name = "w2"; addr = "127.0.0.1:9102"; resources = false; } ); },
  { name = "$LONG"; fallback = "basic"; $CIRC
    workers = ( { name = "l1"; addr = "127.0.0.1:9301"; resources = false; } ); },
  { name = "basic";
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; },
             { name = "long"; prefix = "$SVC4/32"; port = 81; pool = "$LONG"; } );
CONF
	fleet_steerd $h "$(fleet_dir $h)/steer.conf" || bail "steerd on $h did not start"
done

circuit_on() {	# circuit_on HOST [POOL]: closed, open, half-open or fleet-open
	steer_on "$1" -j pool list | jq -r --arg p "${2:-main}" \
		'.pools[] | select(.name == $p) | if .circuit_fleet == 1 then "fleet-open" else .circuit end'
}
members() { fleet_redis_cli zrange "steer:{${1:-main}}:open" 0 -1 | sort | awk 'NF { printf "%s ", $0 }'; }
trip() { steer_on "$1" report "${3:-w1}" --errors 30 > /dev/null; }
# heal HOST [POOL WORKER]: wait for its half-open, then probes that succeed
heal() {
	wait_until '[ "$(circuit_on '"$1"' '"${2:-main}"')" = half-open ]' 5 || return 1
	steer_on "$1" report "${3:-w1}" --ok 5 > /dev/null
	wait_until '[ "$(circuit_on '"$1"' '"${2:-main}"')" = closed ]' 5
}
# connections HOST N [PORT]: "w1+w2 b1 other failed" of N connections
connections() {
	local out
	out=$(in_host "$1" "$SCLIENT" --connect "$SVC4:${3:-80}" -n "$2" -c 5)
	echo "$(( $(client_count "$out" w1) + $(client_count "$out" w2) + $(client_count "$out" l1) ))" \
	     "$(client_count "$out" b1)" \
	     "$(awk '$1 == "worker" && $2 != "w1" && $2 != "w2" && $2 != "b1" && $2 != "l1" { n += $3 } END { print n + 0 }' <<< "$out")" \
	     "$(client_ok "$out" | awk '{ print $2 + $3 }')"
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# wait_state HOST STATE [POOL]: polls every ~10 ms for 5 s; prints the ms it took
wait_state() {
	local t0=$(date +%s%N)
	while [ "$(ms_since "$t0")" -lt 8000 ]; do
		[ "$(circuit_on "$1" "${3:-main}")" = "$2" ] && { ms_since "$t0"; return 0; }
		sleep 0.01
	done
	why "$1: circuit $(circuit_on "$1" "${3:-main}"), not $2"
	return 1
}

# every host has written (closed) and the subscriptions are up: a trip on
# A shows in Redis
for h in A B C; do	# "redis ...: up" and "...: up (subscriber)"
	wait_until '[ "$(grep -c ": up" "$(fleet_dir '"$h"')/steerd.log")" -ge 2 ]' 5 || bail "$h: Redis not up"
done
# (A's connections before its cool-down: half-open, 2 would probe)
trip A
wait_until '[ "$(members)" = "A " ]' 5
ok $? "A's own breaker is open and published (members: $(members))"
is "$(connections A 20)" "0 20 0 0" "A's connections go to its fallback"
sleep 1
is "$(circuit_on C)" closed "errors on A only: C stays closed (1 host < circuit_hosts 2)"
is "$(circuit_on B)" closed "... and B too"
is "$(connections C 40)" "40 0 0 0" "C's connections go to its own pool"

# A and B: C follows, within 1 s. Three tries; between them both heal.
times=()
for try in 1 2 3; do
	[ "$(members)" = "A " ] || { trip A; wait_until '[ "$(members)" = "A " ]' 5; }
	t0=$(date +%s%N)
	trip B
	wait_state C fleet-open > /dev/null
	ok $? "try $try: errors on A and B open the pool on C (fleet-open)"
	ms=$(ms_since "$t0")
	times+=("$ms")
	diag "try $try: B's report -> C fleet-open: $ms ms"
	is "$(connections C 30)" "0 30 0 0" "try $try: C's new connections go to its fallback"
	[ "$try" = 3 ] && break
	heal A && heal B
	ok $? "try $try: A and B heal by their own probes"
	wait_state C closed > /dev/null
	ok $? "try $try: and C closes"
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
diag "propagation ms: ${times[*]} (median ${sorted[1]})"
# the goal is 1 s; a poll (a steerctl run, ~10-30 ms) is in each figure;
# on a machine shared by other tests one try may be late: the median must
# meet the goal and no try may exceed it by more than half
[ "${sorted[1]}" -le 1000 ] && [ "${sorted[2]}" -le 1500 ]
ok $? "propagation within 1 s (median ${sorted[1]} ms, max ${sorted[2]} ms)"

# the metric's view and the text view
steer_on C pool list | grep -q "^main .*fleet-open"
ok $? "steerctl pool list on C shows fleet-open"
is "$(steer_on C -j pool list | jq '.pools[] | select(.name == "main") | .circuit_forced')" 0 \
	"fleet-open is not forced"
scrape_c() { in_host C curl -sf -m 5 http://127.0.0.1:9144/metrics; }
wait_until 'scrape_c | grep -q "^steer_pool_circuit_fleet_open{pool=\"main\"} 1"' 5
ok $? "metric steer_pool_circuit_fleet_open{pool=main} 1 on C"
scrape_c > "$STEER_TMP/metrics.C"
grep -q '^steer_fleet_circuit_hosts_open{pool="main"} 2$' "$STEER_TMP/metrics.C"
ok $? "steer_fleet_circuit_hosts_open{pool=main} 2"
grep -q '^steer_pool_circuit_own_state{pool="main",state="closed"} 1$' "$STEER_TMP/metrics.C"
ok $? "C's own breaker: closed"
grep -q '^steer_pool_circuit_state{pool="main",state="open"} 1$' "$STEER_TMP/metrics.C"
ok $? "the kernel's: open"

# an operator's force wins locally, and is not counted
steer_on C circuit main close
is "$(connections C 20)" "20 0 0 0" "C forced closed: its pool serves though the fleet says open"
steer_on C circuit main auto
wait_state C fleet-open > /dev/null
ok $? "circuit auto: C goes back to fleet-open"

# recovery closes it everywhere
t0=$(date +%s%N)
heal A && heal B
ok $? "A and B heal"
wait_state C closed > /dev/null
ok $? "C closes once the count falls below 2 ($(ms_since "$t0") ms from the first probe)"
is "$(members)" "" "no member left in Redis"
is "$(connections C 30)" "30 0 0 0" "C's pool serves again"

steer_on A circuit main open
trip B
wait_until '[ "$(members)" = "B " ]' 5
sleep 1
is "$(members)" "B " "A forced open is not published"
is "$(circuit_on C)" closed "forced A + own B = 1 host: C stays closed"
steer_on A circuit main auto
heal B
ok $? "B heals"

# the long pool name in the keys
trip A "$LONG" l1; trip B "$LONG" l1
wait_state C fleet-open "$LONG" > /dev/null
ok $? "a 31-character pool name: open on C through steer:{$LONG}:open"
is "$(members "$LONG")" "A B " "its members"
is "$(connections C 20 81)" "0 20 0 0" "C's connections to it go to the fallback"
heal A "$LONG" l1 && heal B "$LONG" l1
wait_state C closed "$LONG" > /dev/null
ok $? "and it closes"

# kill -9 of A's steerd while A and B hold C open: A's entry expires
trip A; trip B
wait_state C fleet-open > /dev/null
ok $? "A and B open: C fleet-open"
fleet_steerd_kill A
t0=$(date +%s%N)
wait_until '[ "$(members)" = "B " ]' 10
ok $? "A's entry expires (after ${TTL} ms of TTL: $(ms_since "$t0") ms)"
wait_state C closed > /dev/null
ms=$(ms_since "$t0")
ok $? "C follows: closed $ms ms after the kill"
[ "$ms" -ge $((TTL - 600)) ] && [ "$ms" -le $((TTL + 1500)) ]
ok $? "... by the TTL, not before ($ms ms, TTL $TTL)"
is "$(connections C 20)" "20 0 0 0" "C serves from its pool"
fleet_steerd A "$(fleet_dir A)/steer.conf" || bail "steerd on A did not start again"
steer_on A circuit main auto	# the dead steerd's own trip is in the kernel: the operator's
heal B

# Redis killed: every host has its own breaker only, nothing refused
trip A; trip B
wait_state C fleet-open > /dev/null
ok $? "before the outage: C fleet-open"
fleet_redis_kill
wait_state C closed > /dev/null
ok $? "Redis killed: C closes (own breaker only; never open because Redis is away)"
is "$(circuit_on A)" open "A keeps its own breaker"
is "$(connections C 40)" "40 0 0 0" "C: every connection served by its pool, none refused"
is "$(connections A 20)" "0 20 0 0" "A: every connection to its fallback, none refused"
trip C
wait_state C open > /dev/null
ok $? "C's own breaker still trips without Redis"
fleet_redis_start
wait_until '[ "$(members)" = "A B C " ] || [ "$(members)" = "B C " ] || [ "$(members)" = "A C " ]' 10
ok $? "Redis back: the hosts publish again (members: $(members))"

# invariants on every host
for h in A B C; do
	wait_until '[ "$(steer_on '"$h"' -j worker list | jq "[.workers[].outstanding] | add")" = 0 ]' 10
	ok $? "$h: every worker's outstanding back to 0"
done
for h in A B C; do fleet_steerd_kill $h TERM; done
done_testing
