#!/bin/bash
# steerctl monitor: one record per decision, with its cause. Each cause is
# provoked and must appear in the -j stream with the right service, pools,
# worker and client; filters return exactly the matching records when
# several monitors run at once; the kernel writes nothing while no monitor
# runs (after load, after a stop, and a lease after a kill -9); --rate
# bounds the stream and the drops are reported; bad input changes nothing.
source "$(dirname "$0")/../lib.sh"

maps=$STEER_BPFFS/steer/maps
# emitted: records the kernel wrote to any monitor's ring (all CPUs, slots)
emitted() {
	bpftool -j map lookup pinned "$maps/monitor_cpu" key 0 0 0 0 |
		jq '[.formatted.values[].value.slot[].emitted] | add'
}
ctl_deadline() { bpftool -j map dump pinned "$maps/monitor_ctl" | jq '.[0].formatted.value.deadline_ns'; }

# mon_start NAME ARGS...: `steerctl -j monitor ARGS` in the background,
# NAME.out / NAME.err; returns once it says it is on. MON[NAME]: its pid
declare -A MON
mon_start() {
	local name=$1
	shift
	"$STEERCTL" -j monitor "$@" > "$STEER_TMP/$name.out" 2> "$STEER_TMP/$name.err" &
	MON[$name]=$!
	WORKER_PIDS+=("${MON[$name]}")
	wait_until 'grep -qs "monitor: on" "$STEER_TMP/$name.err" || ! kill -0 "${MON[$name]}"' 10
	grep -q "monitor: on" "$STEER_TMP/$name.err" ||
		bail "monitor $name did not start: $(cat "$STEER_TMP/$name.err")"
}
# mon_stop NAME: SIGINT; MON_RC: its exit status
mon_stop() {
	kill -INT "${MON[$1]}"
	wait "${MON[$1]}"
	MON_RC=$?
}
# lines NAME: records NAME has printed so far
lines() { wc -l < "$STEER_TMP/$1.out"; }

# phase JQ_COND N: wait until the "all" monitor has printed N records since
# the last phase that match JQ_COND, then PHASE holds all of the phase's
# records (late segments of closed connections may add repeats)
MARK=0
phase() {
	local cond=$1 n=$2
	wait_until '[ "$(tail -n +$((MARK + 1)) "$STEER_TMP/all.out" | jq -c "select($cond)" | wc -l)" -ge "$n" ]' 5
	sleep 0.2
	PHASE=$(tail -n +$((MARK + 1)) "$STEER_TMP/all.out")
	MARK=$(( MARK + $(wc -l <<< "$PHASE") ))
	[ -n "$PHASE" ] || MARK=$(lines all)
}
# count JQ_COND: records of the phase that match
count() { [ -z "$PHASE" ] && echo 0 || jq -c "select($1)" <<< "$PHASE" | wc -l; }
# fields JQ_COND: "service first_pool pool worker cause why refusal hops" of
# the phase's matching records, sorted and counted: "N fields" per line
fields() {
	jq -r "select($1) | [.service, .first_pool, .pool, (.worker // \"-\"), .cause,
		(.why // \"-\"), (.refusal // \"-\"), .hops, .client, .service_addr, .service_port]
		| map(tostring) | join(\" \")" <<< "$PHASE" | sort | uniq -c | awk '{ $1 = $1; print }' |
		tr '\n' ';'
}
# conns N [sclient options]: N connections to web, one at a time
conns() {
	local out
	out=$("$SCLIENT" --connect $SVC4:80 -n "$1" -c 1 "${@:2}")
	INV_SERVED+=("$out" web)
	echo "$out"
}

steer_setup p least-conn 1
start_worker b1 127.0.0.1:9201
steer pool add b --policy round-robin
steer worker add b b1 --addr 127.0.0.1:9201

# ---- off by default ----
is "$(ctl_deadline) $(emitted)" "0 0" "after load: monitor_ctl deadline 0, no record written"
out=$(conns 5)
is "$(client_ok "$out") $(emitted)" "5 0 0 0" "5 connections with no monitor: no record written"
bpftool map dump name monitor_ctl | grep -q '"deadline_ns": 0'
ok $? "bpftool map dump name monitor_ctl: fields by name (BTF)"

mon_start all

# ---- each cause ----
APP='.service == "web" and .client == "127.0.0.1" and .service_addr == "127.10.0.1" and .service_port == 80'
conns 5 > /dev/null
phase '.cause == "assigned"' 5
is "$(fields '.cause != "repeat"')" "5 web p p w1 assigned - - 0 127.0.0.1 127.10.0.1 80;" \
	"assigned: 5 records, service web, pool p, worker w1, client and address dialled"
is "$(count "$APP")" "$(count true)" "assigned: every record has the client and the service address"

# repeat: with SYN cookies the handshake's last ACK runs sk_lookup again
sysctl -qw net.ipv4.tcp_syncookies=2
conns 3 > /dev/null
sysctl -qw net.ipv4.tcp_syncookies=1
phase '.cause == "repeat"' 3
is "$(count '.cause == "assigned"') $(count '.cause == "repeat" and .worker == "w1" and .pool == "p"')" "3 3" \
	"syncookies=2: 3 assigned and 3 repeats (the cookie ACKs) to w1"
pairs=$(jq -s '[group_by(.client_port)[] | select(map(.cause) | sort == ["assigned", "repeat"])
	| select(.[0].worker == .[1].worker)] | length' <<< "$PHASE")
is "$pairs" 3 "each repeat is the same flow (client port) as an assigned record, same worker"

steer pool set p --fallback b
steer circuit p open
conns 3 > /dev/null
steer circuit p auto
phase '.cause == "fallback"' 3
is "$(fields '.cause != "repeat"')" "3 web p b b1 fallback circuit_open - 1 127.0.0.1 127.10.0.1 80;" \
	"circuit open: 3 fallbacks to b1 in pool b, why circuit_open, first pool p, 1 hop"

steer pool quota p 2
conns 5 > /dev/null
steer pool quota p off
phase '.cause == "fallback"' 3
is "$(fields '.cause != "repeat"')" \
	"3 web p b b1 fallback quota_spent - 1 127.0.0.1 127.10.0.1 80;2 web p p w1 assigned - - 0 127.0.0.1 127.10.0.1 80;" \
	"quota 2: 2 assigned, then 3 fallbacks why quota_spent"

steer pool rate p 1 --burst 2
conns 5 > /dev/null
steer pool rate p off
phase '.cause == "fallback" or .cause == "assigned"' 5
is "$(count '.cause == "assigned" and .worker == "w1"') $(count '.cause == "fallback" and .why == "rate_spent" and .worker == "b1"')" \
	"2 3" "rate 1/s, burst 2: 2 assigned, then 3 fallbacks why rate_spent"

steer worker set w1 --weight 0
conns 3 > /dev/null
steer worker set w1 --weight 100
phase '.cause == "fallback"' 3
is "$(fields '.cause != "repeat"')" "3 web p b b1 fallback no_worker - 1 127.0.0.1 127.10.0.1 80;" \
	"no usable worker: 3 fallbacks why no_worker"

# half-open (steerd's state; written to the maps here): 2 probes, then the
# rest to the fallback as circuit_open
pool_set 0 $POOL_CIRCUIT 2
bpftool map update pinned "$maps/pool_budgets" key 0 0 0 0 value hex \
	00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
conns 4 > /dev/null
pool_set 0 $POOL_CIRCUIT 0
phase '.cause == "fallback"' 2
is "$(fields '.cause != "repeat"')" \
	"2 web p b b1 fallback circuit_open - 1 127.0.0.1 127.10.0.1 80;2 web p p w1 probe - - 0 127.0.0.1 127.10.0.1 80;" \
	"half-open with 2 probes: 2 probe records to w1, then 2 fallbacks why circuit_open"

# ---- each refusal ----
steer pool set p --fallback none
steer worker set w1 --weight 0
conns 3 > /dev/null
steer worker set w1 --weight 100
phase '.cause == "refused"' 3
is "$(fields true)" "3 web p p - refused no_worker no_worker 0 127.0.0.1 127.10.0.1 80;" \
	"no usable worker, no fallback: 3 refused no_worker, no worker"

steer circuit p open
conns 3 > /dev/null
steer circuit p auto
phase '.cause == "refused"' 3
is "$(fields true)" "3 web p p - refused circuit_open admission 0 127.0.0.1 127.10.0.1 80;" \
	"circuit open, no fallback: 3 refused admission, why circuit_open"

kill "${WPID[1]}"
wait_for '! kill -0 "${WPID[1]}" 2> /dev/null'
conns 3 > /dev/null
phase '.cause == "refused"' 3
is "$(fields true)" \
	"1 web p p - refused listener_gone listener_gone 0 127.0.0.1 127.10.0.1 80;2 web p p - refused no_worker no_worker 0 127.0.0.1 127.10.0.1 80;" \
	"a dead listener: 1 refused listener_gone, then 2 no_worker"
start_worker w1 127.0.0.1:9101
steer worker add p w1 --addr 127.0.0.1:9101 2> /dev/null ||
	{ steer worker del w1; steer worker add p w1 --addr 127.0.0.1:9101; }

pool_set 0 $POOL_IN_USE 0
conns 2 > /dev/null
pool_set 0 $POOL_IN_USE 1
phase '.cause == "refused"' 2
is "$(count '.cause == "refused" and .refusal == "no_pool" and .why == "no_pool" and .worker == null')" 2 \
	"the pool not in use: 2 refused no_pool"

steer worker set w1 --weight 0
pool_set 0 $POOL_FALLBACK 0
conns 2 > /dev/null
pool_set 0 $POOL_FALLBACK 4294967295
steer worker set w1 --weight 100
phase '.cause == "refused"' 2
is "$(fields true)" "2 web p p - refused no_worker hops_exhausted 3 127.0.0.1 127.10.0.1 80;" \
	"a looping chain: 2 refused hops_exhausted after 3 more hops"

mon_stop all
is "$MON_RC" 0 "SIGINT: monitor exits 0"
grep -q "records written, 0 dropped" "$STEER_TMP/all.err"
ok $? "at exit it reports what was written and dropped: $(tail -n 1 "$STEER_TMP/all.err")"
is "$(ctl_deadline)" 0 "the last monitor stopped: monitor_ctl deadline back to 0"
before=$(emitted)
conns 3 > /dev/null
is "$(emitted)" "$before" "after a stop, connections write no record"

# every record: its worker is in the pool it names, and that pool is on
# the service's chain (p, then b)
wj=$(json_of worker)
bad=$(jq -s --argjson wj "$wj" '[.[] | select(.worker != null)
	| select(.worker as $w | ([$wj.workers[] | select(.name == $w) | .pool][0]) != .pool
		 or (.pool != "p" and .pool != "b"))] | length' "$STEER_TMP/all.out")
is "$bad" 0 "every record's worker is in its pool, and that pool on service web's chain ($(lines all) records)"

# ---- two services, two pools, several monitors at once ----
start_worker q1 127.0.0.1:9301
steer pool add q --policy least-conn
steer worker add q q1 --addr 127.0.0.1:9301
steer service add web2 --prefix 127.10.0.2/32 --port 80 --pool q
mon_start all2
mon_start svc --service web
mon_start pool --pool q
mon_start cli --client 127.40.0.0/16
"$STEERCTL" monitor > /dev/null 2> "$STEER_TMP/fifth.err"
is "$? $(grep -c 'monitors are running already' "$STEER_TMP/fifth.err")" "1 1" \
	"a fifth monitor at once: exit 1, 'monitors are running already'"
o1=$("$SCLIENT" --connect $SVC4:80 -n 10)
o2=$("$SCLIENT" --connect 127.10.0.2:80 -n 7 --src-range 127.40.0.0/24)
o3=$("$SCLIENT" --connect $SVC4:80 -n 4 --src-range 127.40.1.0/24)
INV_SERVED+=("$o1" web "$o2" web2 "$o3" web)
is "$(client_ok "$o1") $(client_ok "$o2") $(client_ok "$o3")" "10 0 0 7 0 0 4 0 0" "21 connections served"
new() { jq -c 'select(.cause != "repeat")' "$STEER_TMP/$1.out" | wc -l; }
wait_until '[ "$(new all2)" -ge 21 ] && [ "$(new svc)" -ge 14 ] && [ "$(new pool)" -ge 7 ] && [ "$(new cli)" -ge 11 ]' 5
sleep 0.3
for m in all2 svc pool cli; do mon_stop $m; done
is "$(new all2) $(new svc) $(new pool) $(new cli)" "21 14 7 11" \
	"new-connection records: all 21, --service web 14, --pool q 7, --client 127.40.0.0/16 11"
is "$(jq -s '[.[] | select(.service != "web")] | length' "$STEER_TMP/svc.out") \
$(jq -s '[.[] | select(.pool != "q" or .worker != "q1")] | length' "$STEER_TMP/pool.out") \
$(jq -s '[.[] | select(.client | startswith("127.40.") | not)] | length' "$STEER_TMP/cli.out")" "0 0 0" \
	"each filtered stream holds only its matches"
is "$(jq -s '[.[] | select(.cause != "repeat") | select((.service == "web" and .worker == "w1")
	or (.service == "web2" and .worker == "q1"))] | length' "$STEER_TMP/all2.out")" 21 \
	"each service's records name a worker of its own pool"

# --cause and --count: the monitor leaves by itself after N matching records
"$STEERCTL" -j monitor --cause refused,spilled --count 3 > "$STEER_TMP/cause.out" 2> "$STEER_TMP/cause.err" &
cpid=$!
WORKER_PIDS+=("$cpid")
wait_until 'grep -qs "monitor: on" "$STEER_TMP/cause.err"' 10
conns 2 > /dev/null
steer pool quota p 0
conns 1 > /dev/null	# no fallback: refused admission, why quota_spent
steer pool quota p off
steer worker set w1 --weight 0
conns 3 > /dev/null
steer worker set w1 --weight 100
wait_until '! kill -0 $cpid 2> /dev/null' 5
wait $cpid
is "$? $(jq -r '"\(.cause)/\(.refusal)/\(.why)"' "$STEER_TMP/cause.out" | tr '\n' ' ')" \
	"0 refused/admission/quota_spent refused/no_worker/no_worker refused/no_worker/no_worker " \
	"--cause refused,spilled --count 3: the first 3 refusals, then exit 0"

# ---- kill -9: off within the lease, and the same command again ----
mon_start k9
kill -9 "${MON[k9]}"
wait "${MON[k9]}" 2> /dev/null
sleep 3.5	# STEER_MONITOR_LEASE_S and a little
before=$(emitted)
conns 5 > /dev/null
is "$(emitted)" "$before" "a lease after a monitor was killed -9: connections write no record"
mon_start again
conns 2 > /dev/null
wait_until '[ "$(jq -c "select(.cause == \"assigned\")" "$STEER_TMP/again.out" | wc -l)" -ge 2 ]' 5
mon_stop again
is "$MON_RC $(jq -c 'select(.cause == "assigned")' "$STEER_TMP/again.out" | wc -l)" "0 2" \
	"the same monitor again after the kill -9: it takes the stale slot and sees 2 records"

# ---- rate limit ----
ncpu=$(awk -F- '{ print $NF + 1 }' /sys/devices/system/cpu/possible)
t0=${EPOCHREALTIME/./}
mon_start rate --rate 10
out=$("$SCLIENT" --connect $SVC4:80 -n 1000 -c 50)
INV_SERVED+=("$out" web)
sleep 1.2	# one drop report
mon_stop rate
secs=$(( (${EPOCHREALTIME/./} - t0) / 1000000 + 1 ))
n=$(lines rate)
max=$(( 10 * secs * ncpu + 10 * ncpu ))
[ "$n" -ge 10 ] && [ "$n" -le "$max" ]
ok $? "--rate 10: $n records for 1000 connections in ${secs} s on $ncpu CPUs (at most $max)"
written=$(sed -n 's/.*: \([0-9]*\) records written, \([0-9]*\) dropped.*/\1 \2/p' "$STEER_TMP/rate.err" | tail -n 1)
is "${written% *}" "$n" "the exit report counts the records printed ($n)"
[ "${written#* }" -ge $((1000 - n)) ]
ok $? "and the drops: ${written#* } (sampled: $(grep -c 'the stream is sampled' "$STEER_TMP/rate.err") reports)"

# ---- bad input: one line, exit 2, nothing changed ----
digest=$(maps_digest)
bad_input() {	# bad_input DESC ARGS...
	local desc=$1 rc err
	shift
	err=$("$STEERCTL" monitor "$@" 2>&1 > /dev/null)
	rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <<< "$err")" = 1 ] && [[ $err == Error:* ]]
	ok $? "$desc: exit 2, one line ($rc: $(head -c 120 <<< "$err"))"
}
bad_input "--client garbage" --client garbage
bad_input "--client huge" --client "$(head -c 100000 /dev/zero | tr '\0' 1)"
bad_input "--client 10.0.0.1/33" --client 10.0.0.1/33
bad_input "--client with host bits" --client 10.0.0.1/8
bad_input "--cause unknown" --cause assigned,bogus
bad_input "--cause with a newline" --cause $'refused\nassigned'
bad_input "--cause empty" --cause ,
bad_input "--service unknown" --service nosuch
bad_input "--pool unknown" --pool nosuch
bad_input "--service unicode" --service "wéb"
bad_input "--pool unicode" --pool "пул"
bad_input "--rate 0" --rate 0
bad_input "--count huge" --count 99999999999999999999
j=$("$STEERCTL" -j monitor --cause nope)
is "$? $(jq -r 'has("error")' <<< "$j")" "2 true" "-j: the error as JSON on stdout, exit 2"
is "$(maps_digest) $(ctl_deadline)" "$digest 0" "bad input changed no map and turned nothing on"
err=$(setpriv --reuid nobody --regid nogroup --clear-groups "$STEERCTL" monitor 2>&1 > /dev/null)
is "$? $(grep -c 'permission denied' <<< "$err")" "1 1" "as nobody: exit 1, permission denied ($err)"

# ---- upgrade keeps a running monitor; from a version without the maps ----
mon_start up
steer upgrade
ok $? "upgrade with a monitor running"
conns 2 > /dev/null
wait_until '[ "$(jq -c "select(.cause == \"assigned\")" "$STEER_TMP/up.out" | wc -l)" -ge 2 ]' 5
mon_stop up
is "$(jq -c 'select(.cause == "assigned")' "$STEER_TMP/up.out" | wc -l)" 2 \
	"the new programs write to the running monitor's ring (maps carried over)"
rm "$maps/monitor_rings" "$maps/monitor_ctl" "$maps/monitor_cpu"
steer upgrade
ok $? "upgrade from a version without the monitor maps creates them"
is "$(ctl_deadline) $(emitted)" "0 0" "created off, counting from 0"
mon_start up2
conns 2 > /dev/null
wait_until '[ "$(jq -c "select(.cause == \"assigned\")" "$STEER_TMP/up2.out" | wc -l)" -ge 2 ]' 5
mon_stop up2
is "$(jq -c 'select(.cause == "assigned")' "$STEER_TMP/up2.out" | wc -l)" 2 "and a monitor works on them"

# the chain the fallback records were served by, for the invariants
steer pool set p --fallback b
check_invariants
done_testing
