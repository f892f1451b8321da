#!/bin/bash
# Each policy spreads a service's connections; unmatched traffic is untouched; IPv6 works.
source "$(dirname "$0")/../lib.sh"

steer_setup lc least-conn 4

out=$("$SCLIENT" --connect $SVC4:80 -n 400 -c 0 --mode hold --hold-ms 300)
is "$(client_ok "$out")" "400 0 0" "least-conn: 400 held connections all succeed"
counts=$(for i in 1 2 3 4; do client_count "$out" "w$i"; done | sort -n | tr '\n' ' ')
is "$counts" "100 100 100 100 " "least-conn: held connections spread 100 each over 4 workers"

for policy in round-robin random hash; do
	steer pool set lc --policy $policy
	out=$("$SCLIENT" --connect $SVC4:80 -n 2000 -c 50 --src-range 127.20.0.0/16)
	is "$(client_ok "$out")" "2000 0 0" "$policy: 2000 connections succeed"
	min=$(for i in 1 2 3 4; do client_count "$out" "w$i"; done | sort -n | head -1)
	[ "$min" -ge 400 ]
	ok $? "$policy: every worker gets a fair share (min $min of 2000)"
done
# Round-robin turns are exact: sequential connections land 100 each. One
# turn of slack: sk_lookup sees no TCP flags, so a segment that outlives
# both the connection and the repeat cache (a SYN retransmitted after a
# stall longer than STEER_REPEAT_MS) takes a turn like a new connection.
steer pool set lc --policy round-robin
selected() { steer -j worker list | jq -r '[.workers[] | select(.pool == "lc") | .selected] | join(" ")'; }
sel_before=$(selected)
# one client address per connection: a reused 4-tuple would pass for a
# repeat and take no turn (README: repeats)
out=$("$SCLIENT" --connect $SVC4:80 -n 400 -c 1 --src-range 127.21.0.0/22)
counts=$(for i in 1 2 3 4; do client_count "$out" "w$i"; done | sort -n | tr '\n' ' ')
is "$(client_ok "$out")" "400 0 0" "round-robin: 400 sequential connections succeed"
read -r lo _ _ hi <<< "$counts"
[ "$lo" -ge 99 ] && [ "$hi" -le 101 ]
ok $? "round-robin: 100 each of 400 sequential connections (got $counts)"
if [ "$counts" != "100 100 100 100 " ]; then
	why "kernel selections per worker before: $sel_before; after: $(selected)"
	why "pool: $(steer -j pool list | jq -c '.pools[] | select(.name == "lc")')"
	why "$(nstat -az | grep -E 'SynRetrans|Listen(Drops|Overflows)|Syncookies|OutRsts' | tr -s ' ' | tr '\n' ';')"
fi

# Not ours: another port on the service address, and another address.
start_worker direct 127.0.0.1:9200
before=$(steer -j service list | jq '.services[0].lookups')
out=$("$SCLIENT" --connect 127.0.0.1:9200 -n 20)
is "$(client_count "$out" direct)" 20 "a listener outside any service is reached directly"
out=$("$SCLIENT" --connect $SVC4:81 -n 5 --timeout-ms 1000)
is "$(client_ok "$out")" "0 0 5" "another port on the service address is the kernel's: refused, nothing listens"
out=$("$SCLIENT" --connect 127.10.0.2:80 -n 5 --timeout-ms 1000)
is "$(client_ok "$out")" "0 0 5" "another address is the kernel's: refused, nothing listens"
is "$(steer -j service list | jq '.services[0].lookups')" "$before" "sk_lookup left the unmatched connections alone"

# IPv6: a service on ::1 port 80 to IPv6 workers.
start_worker v6a "[::1]:9301" --v6only
start_worker v6b "[::1]:9302" --v6only
steer pool add v6
steer service add web6 --prefix ::1/128 --port 80 --pool v6
steer worker add v6 v6a --addr "[::1]:9301"
steer worker add v6 v6b --addr "[::1]:9302"
out=$("$SCLIENT" --connect "[::1]:80" -n 200 -c 0 --mode hold --hold-ms 200)
is "$(client_ok "$out")" "200 0 0" "IPv6: 200 connections through the service succeed"
is "$(client_count "$out" v6a) $(client_count "$out" v6b)" "100 100" "IPv6: least-conn splits them evenly"
# A v6only worker cannot take IPv4: an IPv4 service on that pool is refused at once.
steer service add v4tov6 --prefix $SVC4/32 --port 82 --pool v6
out=$("$SCLIENT" --connect $SVC4:82 -n 3 --timeout-ms 1000)
is "$(client_ok "$out")" "0 0 3" "IPv4 to a pool of v6only workers is refused at once"

# The families are apart: an IPv6 prefix, even ::/0, never takes IPv4.
# ::/0 port 9999 to the v6only pool, and a real IPv4 listener on 9999.
start_worker real4 127.0.0.1:9999
steer service add any6 --prefix ::/0 --port 9999 --pool v6
out=$("$SCLIENT" --connect 127.0.0.1:9999 -n 20 --timeout-ms 2000)
is "$(client_ok "$out") $(client_count "$out" real4)" "20 0 0 20" \
	"::/0 leaves IPv4 alone: 20 of 20 to a real listener on 127.0.0.1:9999 reach it"
out=$("$SCLIENT" --connect "[::1]:9999" -n 20 --timeout-ms 2000)
is "$(client_ok "$out") $(( $(client_count "$out" v6a) + $(client_count "$out" v6b) ))" "20 0 0 20" \
	"::/0 takes IPv6: 20 of 20 to [::1]:9999 steered to the v6 pool"
# and the other way: 0.0.0.0/0 on that port is IPv4 only
steer service add any4 --prefix 0.0.0.0/0 --port 9999 --pool lc
out=$("$SCLIENT" --connect 127.0.0.1:9999 -n 20 --timeout-ms 2000)
is "$(client_ok "$out") $(client_count "$out" real4)" "20 0 0 0" \
	"0.0.0.0/0 on that port takes the IPv4 ones (to the pool, not the listener)"
out=$("$SCLIENT" --connect "[::1]:9999" -n 20 --timeout-ms 2000)
is "$(client_ok "$out") $(( $(client_count "$out" v6a) + $(client_count "$out" v6b) ))" "20 0 0 20" \
	"and ::/0 still all the IPv6 ones"
steer service del any4
steer service del any6

# Port ranges and the longest prefix.
steer service add range --prefix 127.11.0.0/16 --port 1000-1009 --pool lc
out=$("$SCLIENT" --connect 127.11.3.4:1009 -n 10)
is "$(client_ok "$out")" "10 0 0" "a port range on a /16 prefix is steered"
range_out=$out
out=$("$SCLIENT" --connect 127.11.3.4:1010 -n 2 --timeout-ms 1000)
is "$(client_ok "$out")" "0 0 2" "the port after the range is not"
wait_for all_outstanding_zero
ok $? "every outstanding count is back to 0"
check_invariants "$range_out" range
done_testing
