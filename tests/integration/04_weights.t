#!/bin/bash
# Weights 90/10 under random and round-robin.
source "$(dirname "$0")/../lib.sh"

steer_load
start_worker big 127.0.0.1:9101
start_worker small 127.0.0.1:9102
steer pool add p
steer service add web --prefix $SVC4/32 --port 80 --pool p
steer worker add p big --addr 127.0.0.1:9101 --weight 90
steer worker add p small --addr 127.0.0.1:9102 --weight 10
for policy in random round-robin; do
	steer pool set p --policy $policy
	out=$("$SCLIENT" --connect $SVC4:80 -n 10000 -c 100)
	big=$(client_count "$out" big)
	is "$(client_ok "$out")" "10000 0 0" "$policy: 10,000 connections succeed"
	[ "$big" -ge 8800 ] && [ "$big" -le 9200 ]
	ok $? "$policy: the weight-90 worker got $big of 10,000 (90% +-2%)"
done
steer pool set p --policy least-conn
out=$("$SCLIENT" --connect $SVC4:80 -n 1000 -c 0 --mode hold --hold-ms 300)
big=$(client_count "$out" big)
[ "$big" -ge 880 ] && [ "$big" -le 920 ]
ok $? "least-conn: held connections follow the weights too ($big of 1,000)"
steer worker set small --weight 0
out=$("$SCLIENT" --connect $SVC4:80 -n 200 -c 20)
is "$(client_count "$out" small)" 0 "weight 0: no new connection"
check_invariants "$out" web
done_testing
