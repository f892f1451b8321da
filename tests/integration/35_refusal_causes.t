#!/bin/bash
# Every refusal is counted once, by its cause, in service_refusals (per
# CPU, one field per enum steer_refusal), and their sum is
# service_stats.refused. The causes steerctl cannot make (a pool gone from
# under a service, a chain that loops) are made by writing the pools map.
source "$(dirname "$0")/../lib.sh"

maps=$STEER_BPFFS/steer/maps
# refusals CAUSE [SERVICE_ID]: the per-CPU sum of one field
refusals() {
	bpftool -j map lookup pinned "$maps/service_refusals" key 0 0 0 0 |
		jq --arg f "$1" '[.formatted.values[].value[$f]] | add'
}
refused_total() {
	bpftool -j map lookup pinned "$maps/service_stats" key 0 0 0 0 |
		jq '[.formatted.values[].value.refused] | add'
}
causes() {
	local c
	for c in no_pool hops_exhausted admission no_worker listener_gone assign_failed; do
		printf '%s ' "$(refusals $c)"
	done | sed 's/ $//'
}

steer_setup p least-conn 1
out=$("$SCLIENT" --connect $SVC4:80 -n 5)
is "$(client_ok "$out") $(causes)" "5 0 0 0 0 0 0 0 0" "served: no refusal counted"

# no usable worker: w1 weighted 0, no fallback
steer worker set w1 --weight 0
out=$("$SCLIENT" --connect $SVC4:80 -n 3)
is "$(client_ok "$out") $(causes)" "0 0 3 0 0 0 3 0 0" "a pool of weight 0 and no fallback: 3 no_worker"
steer worker set w1 --weight 100

# admission: circuit open, no fallback
steer circuit p open
out=$("$SCLIENT" --connect $SVC4:80 -n 4)
is "$(client_ok "$out") $(causes)" "0 0 4 0 0 4 3 0 0" "circuit open and no fallback: 4 admission"
steer circuit p auto

# listener gone: the worker's listener closes; the first connection finds
# it missing from worker_socks, the next ones a worker marked gone
kill "${WPID[1]}"
wait_for '! kill -0 "${WPID[1]}" 2> /dev/null'
out=$("$SCLIENT" --connect $SVC4:80 -n 3)
is "$(client_ok "$out") $(causes)" "0 0 3 0 0 4 5 1 0" "a dead listener: 1 listener_gone, then 2 no_worker"
start_worker w1 127.0.0.1:9101
steer worker add p w1 --addr 127.0.0.1:9101 2> /dev/null ||
	{ steer worker del w1; steer worker add p w1 --addr 127.0.0.1:9101; }
out=$("$SCLIENT" --connect $SVC4:80 -n 2)
is "$(client_ok "$out")" "2 0 0" "a new listener serves again"

# no pool: the service's pool is no longer in use (steerctl refuses to
# delete a pool a service uses; the map says so anyway)
pid=0	# the first pool takes slot 0
pool_set "$pid" $POOL_IN_USE 0
out=$("$SCLIENT" --connect $SVC4:80 -n 2)
is "$(client_ok "$out") $(causes)" "0 0 2 2 0 4 5 1 0" "the pool not in use: 2 no_pool"
pool_set "$pid" $POOL_IN_USE 1

# hops exhausted: a pool that is its own fallback (steerctl refuses the
# loop) and has no usable worker goes round STEER_MAX_HOPS times
steer worker set w1 --weight 0
pool_set "$pid" $POOL_FALLBACK "$pid"
out=$("$SCLIENT" --connect $SVC4:80 -n 2)
is "$(client_ok "$out") $(causes)" "0 0 2 2 2 4 5 1 0" "a looping chain: 2 hops_exhausted"
pool_set "$pid" $POOL_FALLBACK 4294967295
steer worker set w1 --weight 100

total=$(( $(causes | tr ' ' '+') ))
is "$(refused_total)" "$total" "service_stats.refused is the sum of the causes ($total)"
# steerctl shows the same causes, in JSON and in its table
is "$(json_of service | jq -r '.services[0].refusals | [.no_pool, .hops_exhausted, .admission, .no_worker, .listener_gone, .assign_failed] | join(" ")')" \
	"$(causes | sed 's/ $//')" "steerctl -j service list: the causes as counted"
steer service list | awk 'NR == 2 { print $NF }' | grep -qx 'no_pool=[0-9]*,hops_exhausted=2,admission=[0-9]*,no_worker=[0-9]*,listener_gone=[0-9]*'
ok $? "steerctl service list: the causes that happened, by name"
# assign_failed (bpf_sk_assign refusing a listener in worker_socks) has no
# way to happen from a test: the sockmap holds only TCP listeners.
is "$(refusals assign_failed)" 0 "assign_failed: none"

# An upgrade from a version without service_refusals (the one before it)
# creates the map, pins it and counts from 0; service_stats is carried over.
before=$(refused_total)
rm "$maps/service_refusals"
steer upgrade
ok $? "upgrade from a version without service_refusals succeeds"
is "$(refused_total) $(causes)" "$before 0 0 0 0 0 0" "service_stats kept ($before), the causes start at 0"
steer worker set w1 --weight 0
out=$("$SCLIENT" --connect $SVC4:80 -n 2)
is "$(client_ok "$out") $(causes)" "0 0 2 0 0 0 2 0 0" "and the new programs count in it"
steer worker set w1 --weight 100
check_invariants
done_testing
