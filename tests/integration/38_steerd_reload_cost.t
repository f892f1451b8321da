#!/bin/bash
# steerd: the map operations of a reload grow linearly with the workers
# (issue 8). A SIGHUP that changes every weight is counted (strace, bpf()
# calls on maps) at 64 and at 512 workers: 8 times the workers must cost
# under 10 times the calls. Names looked up by scanning the maps one slot
# per syscall made it about 50 times (O(W^2)).
source "$(dirname "$0")/../lib.sh"

command -v strace > /dev/null || bail "needs strace (scripts/install-deps.sh)"
PORT0=20000

# N listeners on 127.0.0.1:PORT0.. in one process
python3 -c '
import socket, sys, time
socks = []
for i in range(int(sys.argv[1])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[2]) + i))
    s.listen(16)
    socks.append(s)
print("ready", flush=True)
time.sleep(3600)
' 512 $PORT0 > "$STEER_TMP/listeners.out" &
WORKER_PIDS+=($!)
disown $!
wait_for 'grep -q ready "$STEER_TMP/listeners.out"' || bail "listeners did not start"

write_conf() {	# write_conf NWORKERS WEIGHT
	local i
	{
		echo "daemon = { interval_ms = 60000; socket = \"$STEER_TMP/steerd.sock\"; };"
		echo 'pools = ( { name = "big"; workers = ('
		for i in $(seq 0 $(($1 - 1))); do
			[ "$i" -gt 0 ] && echo ','
			echo "{ name = \"w$i\"; addr = \"127.0.0.1:$((PORT0 + i))\"; weight = $2; resources = false; }"
		done
		echo '); } );'
		echo "services = ( { name = \"web\"; prefix = \"$SVC4/32\"; port = 80; pool = \"big\"; } );"
	} > "$STEER_TMP/steer.conf"
}

reloads() { grep -c 'reloaded' "$STEER_TMP/steerd.log"; }
traced() { [ "$(awk '/^TracerPid/ { print $2 }' "/proc/$STEERD_PID/status")" != 0 ]; }

# reload_ops N: bpf() map operations of one SIGHUP pass of steerd at N
# workers, every weight changed, into OPS[N]. (The first pass runs
# untraced: at eb8d0a0 it made millions of calls at 512 workers.)
declare -A OPS
reload_ops() {
	local n=$1 before spid
	: > "$STEER_TMP/steerd.log"
	write_conf "$n" 100
	"$STEERD" -c "$STEER_TMP/steer.conf" --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
	STEERD_PID=$!
	disown "$STEERD_PID"
	WORKER_PIDS+=("$STEERD_PID")
	wait_for 'grep -q "running:" "$STEER_TMP/steerd.log"' 300 || bail "steerd did not start"
	[ "$(steer -j worker list | jq ".workers | length")" = "$n" ] ||
		bail "steerd did not add $n workers"
	# the fewer of two traced reloads: a pass that happens to run beside
	# one (a retry, a timer) is noise, not the reload's cost
	OPS[$n]=
	for w in 50 75; do
		strace -f -qq -e trace=bpf -p "$STEERD_PID" -o "$STEER_TMP/trace.$n" &
		spid=$!
		wait_for traced || bail "strace did not attach"
		before=$(reloads)
		write_conf "$n" $w
		kill -HUP "$STEERD_PID"
		wait_for '[ "$(reloads)" -gt '"$before"' ]' 300 || bail "steerd did not reload"
		kill "$spid"
		wait "$spid" 2> /dev/null
		wait_for '! traced' || bail "strace did not detach"
		[ "$(worker_field "w$((n - 1))" weight)" = $w ] || bail "the reload did not take"
		ops=$(grep -c 'bpf(BPF_MAP_' "$STEER_TMP/trace.$n")
		diag "$n workers, weights to $w: $ops bpf() map operations"
		[ -z "${OPS[$n]}" ] || [ "$ops" -lt "${OPS[$n]}" ] && OPS[$n]=$ops
	done
	kill "$STEERD_PID"
	wait_for '! kill -0 '"$STEERD_PID"' 2> /dev/null'
	steer unload
}

reload_ops 64
reload_ops 512
small=${OPS[64]} big=${OPS[512]}
diag "bpf() map operations of a reload that changes every weight: $small at 64 workers, $big at 512"
[ "$small" -gt 0 ] && [ "$big" -lt $((small * 10)) ] ||
	{ why "$small at 64, $big at 512; the traces' calls by kind at 512:"; why "$(grep -o 'bpf(BPF_[A-Z_]*' "$STEER_TMP/trace.512" | sort | uniq -c | tr '\n' ' ')"; false; }
ok $? "8x the workers, $big / $small = $((big / (small > 0 ? small : 1)))x the map operations (under 10x: linear)"
done_testing
