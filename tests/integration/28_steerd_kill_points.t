#!/bin/bash
# kill -9 of steerd at its Nth map write (issue 7, defect 3): the maps hold
# file A's state, steerd starts with file B and strace kills it on entering
# one of the bpf() writes of its first pass; a restart must reach file B
# whatever the cut left half-done.
source "$(dirname "$0")/../lib.sh"
cd "$STEER_TMP" || bail "no tmp"

write_conf() {	# write_conf FILE NWORKERS WEIGHT RATE PORT QUOTA
	local i
	{
		echo "daemon = { interval_ms = 200; socket = \"$STEER_TMP/steerd.sock\"; };"
		echo "pools = ( { name = \"p\"; rate = $4; fallback = \"spare\"; workers = ("
		for i in $(seq "$2"); do
			[ "$i" -gt 1 ] && echo ','
			echo "{ name = \"w$i\"; addr = \"127.0.0.1:$((9100 + i))\"; weight = $3; resources = false; }"
		done
		echo '); },'
		echo "  { name = \"spare\"; quota = $6; policy = \"round-robin\"; workers = ( { name = \"s1\"; addr = \"127.0.0.1:9201\"; resources = false; } ); } );"
		echo "services = ( { name = \"web\"; prefix = \"$SVC4/32\"; port = $5; pool = \"p\"; } );"
	} > "$1"
}
write_conf A.conf 6 100 200 80 50
write_conf B.conf 4 50 50 81 70
for i in 1 2 3 4 5 6; do start_worker "w$i" "127.0.0.1:$((9100 + i))"; done
start_worker s1 127.0.0.1:9201
steer_load

converged() { assert_converged "$1" 2> /dev/null; }	# lib.sh: the maps hold the file
# every worker of the file whole: up, not gone, and quota as granted once
whole() {
	[ "$(steer -j worker list | jq '[.workers[] | select(.state != "up")] | length')" = 0 ]
}
run_to() {	# run_to CONF: steerd until the maps match, then stop it
	"$STEERD" -c "$1" --cgroup "$STEER_TEST_CGROUP" 2>> steerd.log &
	local pid=$!
	wait_for "converged $1 && whole" 10
	local r=$?
	kill "$pid"; wait "$pid" 2>/dev/null
	return $r
}
run_to A.conf || bail "file A not applied: $(tail -5 steerd.log)"

# (LeakSanitizer cannot run under ptrace: no leak check in traced runs)
export ASAN_OPTIONS=detect_leaks=0
trace_pass() {	# trace_pass TO: the bpf() calls of steerd's first pass to file TO
	strace -f -qq -o trace -e trace=bpf "$STEERD" -c "$1" --cgroup "$STEER_TEST_CGROUP" 2>> steerd.log &
	local pid=$!
	wait_for "converged $1" 20 || why "traced run: not converged"
	# stop steerd itself: strace would detach and leave it running
	kill $(ps -o pid= --ppid "$pid"); wait "$pid" 2>/dev/null
}

kill_points() {	# kill_points FROM TO: kill steerd at each write of its pass from FROM's state to TO
	local from=$1 to=$2 writes tried=0 converged_n=0 killed=0 k n
	trace_pass "$to"
	writes=($(grep -n 'BPF_MAP_UPDATE\|BPF_MAP_DELETE' trace | cut -d: -f1))
	diag "steerd's pass from $from to $to: $(wc -l < trace) bpf() calls, ${#writes[@]} of them writes"
	[ "${#writes[@]}" -ge 10 ]
	ok $? "the pass from $from to $to makes many writes (${#writes[@]})"
	run_to "$from" || bail "$from not applied again"
	for ((k = 0; k < ${#writes[@]}; k++)); do
		n=${writes[k]}
		tried=$((tried + 1))
		(strace -f -qq -o /dev/null -e trace=bpf -e inject=bpf:signal=KILL:when="$n" \
			timeout 20 "$STEERD" -c "$to" --cgroup "$STEER_TEST_CGROUP" 2>> steerd.log; exit $?) 2>/dev/null
		[ $? = 137 ] && killed=$((killed + 1))
		if run_to "$to"; then
			converged_n=$((converged_n + 1))
		else
			why "killed at bpf call $n (write $k): not converged: $(steer -j worker list | jq -c '[.workers[] | "\(.name)=\(.weight)/\(.state)"]')"
		fi
		run_to "$from" || why "killed at bpf call $n: $from not applied again"
	done
	is "$killed/$converged_n" "$tried/$tried" \
		"$from -> $to: killed at each of the $tried writes, then restarted: converged every time"
}
kill_points A.conf B.conf
run_to B.conf || bail "file B not applied"
kill_points B.conf A.conf
run_to A.conf || bail "file A not applied"
quota=$(steer -j pool list | jq -r '.pools[] | select(.name == "spare") | "\(.quota)/\(.quota_left)"')
is "$quota" "50/50" "spare has file A's quota, 50 left"
out=$("$SCLIENT" --connect $SVC4:80 -n 40 -c 10)
is "$(client_ok "$out")" "40 0 0" "steering works at the end"
wait_for all_outstanding_zero
ok $? "counts back to 0: $(outstanding_all)"
is "$(grep -c 'AddressSanitizer\|runtime error' steerd.log)" 0 "no sanitizer report in steerd's log"
check_invariants
done_testing
