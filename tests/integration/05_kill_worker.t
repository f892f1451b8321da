#!/bin/bash
# kill -9 a worker: the next connections go to the others; it can come back.
source "$(dirname "$0")/../lib.sh"

steer_setup p least-conn 4
for policy in least-conn round-robin random hash; do
	steer pool set p --policy $policy
	start_worker victim 127.0.0.1:9109
	steer worker add p victim --addr 127.0.0.1:9109
	kill -9 "$LAST_PID"
	wait_for '! ss -Hltn "sport = :9109" | grep -q .'
	out=$("$SCLIENT" --connect $SVC4:80 -n 1000 -c 50 --src-range 127.30.0.0/16)
	is "$(client_ok "$out")" "1000 0 0" "$policy: after kill -9 of a worker the next 1,000 connections all succeed"
	is "$(client_count "$out" victim)" 0 "$policy: none of them reached the dead worker"
	is "$(worker_field victim state)" gone "$policy: status shows the worker gone"
	# restarted under the same name: worker add takes it back
	start_worker victim 127.0.0.1:9109
	steer worker add p victim --addr 127.0.0.1:9109
	ok $? "$policy: the restarted worker is added back under its name"
	out=$("$SCLIENT" --connect $SVC4:80 -n 500 -c 25 --src-range 127.30.0.0/16)
	n=$(client_count "$out" victim)
	[ "$n" -ge 50 ]
	ok $? "$policy: the restarted worker gets connections again ($n of 500)"
	kill -9 "$LAST_PID"
	steer worker del victim
done
# the last outputs reached victim, deleted since: counts only
check_invariants
done_testing
