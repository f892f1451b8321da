#!/bin/bash
# systemd-native workers, without systemd: systemd-socket-activate makes the
# listening socket (as worker@.socket would) and passes it by the
# sd_listen_fds protocol, first to `steerctl worker add --listen-fds` (as
# steer-register@.service would) and then to the worker (worker@.service).
# Also the ExecStartPost path (--pid $MAINPID --fd 3), several sockets at
# once, hostile LISTEN_* values, two pools and services at once, a worker
# restarted on its address, and `systemd-analyze verify` of the units.
source "$(dirname "$0")/../lib.sh"
[ -n "${T39_TRACE:-}" ] && { PS4='+ $EPOCHREALTIME '; set -x; }

UNITS=$TOP/scripts/systemd
# systemd-socket-activate gives its child a clean environment: what steerctl
# needs is passed with -E, as a unit's Environment= would
ENV_ARGS=(-E STEER_BPFFS -E PATH)
[ -n "${LSAN_OPTIONS:-}" ] && ENV_ARGS+=(-E LSAN_OPTIONS)
[ -n "${ASAN_OPTIONS:-}" ] && ENV_ARGS+=(-E ASAN_OPTIONS)

# systemd-socket-activate waits for the first connection before it execs
# its command (checked: without --accept it listens, then execs on the
# first one): knock once on ADDR. The connection waits in the accept queue
# and the worker answers it later.
knock() {
	local host=${1%:*} port=${1##*:} i
	for i in $(seq 50); do
		(: <> "/dev/tcp/$host/$port") 2> /dev/null && return 0
		sleep 0.1
	done
	return 1
}

# sa_run ERR ADDR [socket-activate options] -- COMMAND...: socket-activate
# listening on ADDR (and what the options add) runs COMMAND once ADDR is
# knocked on; its exit code, its stderr (and socket-activate's) in ERR
sa_run() {
	local err=$1 addr=$2 opts=() n=1 pid
	shift 2
	while [ "$1" != -- ]; do
		[ "$1" = -l ] && n=$((n + 1))
		opts+=("$1")
		shift
	done
	shift
	systemd-socket-activate -l "$addr" "${opts[@]}" "${ENV_ARGS[@]}" "$@" > /dev/null 2> "$err" &
	pid=$!
	wait_for "[ \$(grep -c '^Listening' '$err') = $n ]" || { kill $pid; return 99; }
	knock "$addr"
	wait $pid
}

# unit_start NAME POOL ADDR [MODE]: worker@.socket + steer-register@.service
# + worker@.service, emulated. MODE register (default): steerctl takes the
# socket from LISTEN_FDS in a process of its own (LISTEN_PID is its pid, as
# systemd sets it for each service), then the worker gets it. MODE post: the
# worker starts, then `steerctl worker add POOL NAME --pid PID --fd 3`, the
# ExecStartPost line. UPID: the worker's pid; REG_RC: steerctl's exit code.
unit_start() {
	local name=$1 pool=$2 addr=$3 mode=${4:-register} out=$STEER_TMP/unit.$1
	rm -f "$out".*
	if [ "$mode" = register ]; then
		STEERCTL=$STEERCTL SWORKER=$SWORKER NAME=$name POOL=$pool OUT=$out \
		systemd-socket-activate -l "$addr" --fdname=http "${ENV_ARGS[@]}" \
			-E STEERCTL -E SWORKER -E NAME -E POOL -E OUT bash -c '
			(LISTEN_PID=$BASHPID exec "$STEERCTL" worker add "$POOL" "$NAME" --listen-fds \
				> "$OUT.reg" 2>&1); echo $? > "$OUT.rc"
			exec "$SWORKER" --listen-fds --name "$NAME" > "$OUT.ready"' 2> "$out.sa" &
	else
		systemd-socket-activate -l "$addr" "${ENV_ARGS[@]}" \
			"$SWORKER" --listen-fds --name "$name" > "$out.ready" 2> "$out.sa" &
	fi
	UPID=$!
	disown "$UPID"
	WORKER_PIDS+=("$UPID")
	wait_for "grep -q '^Listening' '$out.sa'" || bail "systemd-socket-activate $addr did not listen: $(cat "$out.sa")"
	knock "$addr" || bail "cannot connect to $addr"
	wait_for "grep -qs '^ready' '$out.ready'" || bail "worker $name did not start: $(cat "$out".*)"
	if [ "$mode" = register ]; then
		REG_RC=$(cat "$out.rc")
	else
		steer worker add "$pool" "$name" --pid "$UPID" --fd 3 > "$out.reg" 2>&1
		REG_RC=$?
	fi
}

steer_load
steer pool add p --policy least-conn || bail "pool add p"
steer pool add q --policy least-conn || bail "pool add q"
steer service add web --prefix $SVC4/32 --port 80 --pool p || bail "service web"
steer service add api --prefix $SVC4/32 --port 81 --pool q || bail "service api"

unit_start w1 p 127.0.0.1:9201
is "$REG_RC" 0 "steer-register path: worker add p w1 --listen-fds exits 0 ($(cat "$STEER_TMP/unit.w1.reg"))"
w1_pid=$UPID
unit_start w2 p 127.0.0.1:9202
is "$REG_RC" 0 "a second worker registers the same way"
unit_start q1 q 127.0.0.1:9203 post
is "$REG_RC" 0 "ExecStartPost path: worker add q q1 --pid \$MAINPID --fd 3 exits 0 ($(cat "$STEER_TMP/unit.q1.reg"))"

is "$(worker_field w1 pid)" "$w1_pid" "w1's pid is the worker's (the other holder of the socket), not steerctl's"
is "$(worker_field w1 listener)/$(worker_field w1 pool)/$(worker_field w1 state)" "127.0.0.1:9201/p/up" \
	"w1: its socket's address, pool p, up"
is "$(worker_field q1 pid)/$(worker_field q1 pool)" "$UPID/q" "q1: the worker's pid, pool q"

# real connections through both services at once
"$SCLIENT" --connect $SVC4:80 -n 300 -c 20 > "$STEER_TMP/web.out" 2>&1 &
c1=$!
"$SCLIENT" --connect $SVC4:81 -n 200 -c 10 > "$STEER_TMP/api.out" 2>&1
wait $c1
web=$(cat "$STEER_TMP/web.out")
api=$(cat "$STEER_TMP/api.out")
is "$(client_ok "$web")" "300 0 0" "service web: 300 connections served, none failed or refused"
is "$(client_ok "$api")" "200 0 0" "service api: 200 connections served"
check "web's connections reached w1 and w2 only" assert_served_by_pool "$web" web
check "api's connections reached q1 only" assert_served_by_pool "$api" api
check "w1 and w2 both served (least-conn)" test "$(client_count "$web" w1)" -gt 0 -a "$(client_count "$web" w2)" -gt 0
is "$(client_count "$api" q1)" 200 "q1 served all 200 of api"
check "counts back to 0" assert_counts_settle

# ---- several sockets in one service ------------------------------------
run_multi() {	# run_multi OUT [socket-activate options...]: steerctl gets them all
	local out=$1
	shift
	sa_run "$out" 127.0.0.1:9204 "$@" -- "$STEERCTL" worker add p m --listen-fds
}
run_multi "$STEER_TMP/multi.out" -l 127.0.0.1:9205 --fdname=a:b
rc=$?
is "$rc" 0 "two sockets with names a and b: exit 0"
is "$(steer -j worker list | jq -r '[.workers[] | select(.name | startswith("m-")) | "\(.name)=\(.listener)"] | sort | join(" ")')" \
	"m-a=127.0.0.1:9204 m-b=127.0.0.1:9205" "one worker per socket, named NAME-FDNAME"
is "$(worker_field m-a state)" gone "steerctl was their only holder: gone once it exits (as when no socket unit holds them)"
steer worker del m-a && steer worker del m-b

run_multi "$STEER_TMP/multi2.out" -l 127.0.0.1:9205
is "$?" 0 "two sockets without names: exit 0"
is "$(steer -j worker list | jq -r '[.workers[] | select(.name | startswith("m-")) | .name] | sort | join(" ")')" \
	"m-1 m-2" "named NAME-1, NAME-2 in fd order"
steer worker del m-1 && steer worker del m-2

# ---- hostile LISTEN_* ----------------------------------------------------
# the workers as steerctl lists them: cheap enough for every case; the maps'
# whole digest is compared once, around all of them
workers_now() { steer -j worker list | jq -c '[.workers[] | [.name, .pool, .listener, .pid]]'; }
hostile_digest=$(maps_digest)
# bad DESC WANT COMMAND...: exit 2, one "Error:" line, no worker changed
bad() {
	local desc=$1 want=$2 before rc lines
	shift 2
	before=$(workers_now)
	"$@" > "$STEER_TMP/bad.out" 2> "$STEER_TMP/bad.err"
	rc=$?
	lines=$(wc -l < "$STEER_TMP/bad.err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -q "^Error: .*$want" "$STEER_TMP/bad.err" &&
		[ "$(workers_now)" = "$before" ]; then
		ok 0 "$desc -> exit 2: $(cat "$STEER_TMP/bad.err")"
	else
		ok 1 "$desc -> exit 2, one line with '$want', maps unchanged"
		why "exit $rc, stderr: $(head -c 400 "$STEER_TMP/bad.err")"
	fi
}
# add_env 'ENV ASSIGNMENTS' [fd setup]: steerctl with LISTEN_PID = its own pid
add_env() {
	STEERCTL=$STEERCTL bash -c "$1"' exec "$STEERCTL" worker add p h --listen-fds'
}
bad "no LISTEN_FDS" "LISTEN_PID and LISTEN_FDS are not set" add_env 'unset LISTEN_FDS LISTEN_PID;'
bad "LISTEN_FDS=abc" "LISTEN_FDS 'abc'" add_env 'export LISTEN_PID=$$ LISTEN_FDS=abc;'
bad "LISTEN_FDS huge" "LISTEN_FDS '99999999999999999999'" add_env 'export LISTEN_PID=$$ LISTEN_FDS=99999999999999999999;'
bad "LISTEN_FDS=-1" "LISTEN_FDS '-1'" add_env 'export LISTEN_PID=$$ LISTEN_FDS=-1;'
bad "LISTEN_FDS=0" "LISTEN_FDS '0'" add_env 'export LISTEN_PID=$$ LISTEN_FDS=0;'
bad "LISTEN_FDS above the limit" "LISTEN_FDS '65'" add_env 'export LISTEN_PID=$$ LISTEN_FDS=65;'
bad "LISTEN_PID of another process" "LISTEN_PID 1 is not this process" add_env 'export LISTEN_PID=1 LISTEN_FDS=1;'
bad "LISTEN_PID garbage" "LISTEN_PID 'x1'" add_env 'export LISTEN_PID=x1 LISTEN_FDS=1;'
bad "fd 3 not open" "fd 3: fd 3 is not open" add_env 'export LISTEN_PID=$$ LISTEN_FDS=1; exec 3>&-;'
bad "fd 3 a file" "fd 3: fd is not a listening TCP socket" add_env 'export LISTEN_PID=$$ LISTEN_FDS=1; exec 3< /etc/hostname;'
bad "fd 3 a connected TCP socket" "fd 3: fd is not a listening TCP socket" \
	add_env 'export LISTEN_PID=$$ LISTEN_FDS=1; exec 3<> /dev/tcp/127.0.0.1/9201;'
# the first socket is fine, the second is not open: nothing is added
before=$(workers_now)
sa_run "$STEER_TMP/fd4.err" 127.0.0.1:9207 -E STEERCTL="$STEERCTL" -- bash -c \
	'export LISTEN_PID=$$ LISTEN_FDS=2; exec 4>&-; exec "$STEERCTL" worker add p h --listen-fds'
is "$?/$(grep '^Error' "$STEER_TMP/fd4.err")" "2/Error: --listen-fds: fd 4: fd 4 is not open" \
	"LISTEN_FDS=2 with fd 4 closed: exit 2, nothing added"
is "$(workers_now)" "$before" "not even the good first socket"
# --weight auto with no worker process holding the socket (steerctl is its
# only holder): no CPU allowance to take, nothing added
sa_run "$STEER_TMP/auto.err" 127.0.0.1:9208 -- "$STEERCTL" worker add p z --listen-fds --weight auto
is "$?/$(grep '^Error' "$STEER_TMP/auto.err")" "2/Error: worker 'z' has no process (pid 0) to take weight auto from" \
	"--listen-fds --weight auto without a worker process: exit 2"
is "$(workers_now)" "$before" "nothing added"
# a UDP socket, from systemd-socket-activate -d (it waits for a datagram)
systemd-socket-activate -d -l 127.0.0.1:9206 "${ENV_ARGS[@]}" "$STEERCTL" worker add p u --listen-fds \
	> "$STEER_TMP/udp.out" 2> "$STEER_TMP/udp.err" &
upid=$!
before=$(workers_now)
wait_for "grep -q Listening '$STEER_TMP/udp.err'"
echo x > /dev/udp/127.0.0.1/9206
wait $upid
rc=$?
is "$rc/$(grep -c '^Error' "$STEER_TMP/udp.err")" "2/1" "a UDP socket passed: exit 2, one error line ($(grep '^Error' "$STEER_TMP/udp.err"))"
is "$(workers_now)" "$before" "nothing added for the UDP socket"

# fd names that make bad worker names: a newline, unicode; nothing is added
# even though the sockets themselves are fine
names_env() {	# names_env FDNAMES: two good sockets, LISTEN_FDNAMES as given
	sa_run "$STEER_TMP/names.sa" 127.0.0.1:9204 -l 127.0.0.1:9205 -E STEERCTL="$STEERCTL" \
		-E FDN="$1" -- bash -c \
		'export LISTEN_FDNAMES=$FDN LISTEN_PID=$$; exec "$STEERCTL" worker add p n --listen-fds'
	NAMES_RC=$?
	NAMES_ERR=$(grep '^Error' "$STEER_TMP/names.sa")
}
for fdn in $'a\nx:b' 'é:b' "$(printf 'x%.0s' {1..80}):b" 'a/b:c'; do
	before=$(workers_now)
	names_env "$fdn"
	is "$NAMES_RC/$(grep -c '^Error' "$STEER_TMP/names.sa")/$([ "$(workers_now)" = "$before" ] && echo same)" "2/1/same" \
		"fd name $(printf %q "${fdn:0:20}"): exit 2, one error line, nothing added ($NAMES_ERR)"
done
is "$(maps_digest)" "$hostile_digest" "after all the hostile cases: the maps are as before"
# all or none (break9): copies of one socket (fd 4 a dup of fd 3) are one
# socket, refused before any is added; and a late failure, the 2nd socket
# already another worker's ("o", added from the same holder first), takes
# back the first it added
before=$(workers_now)
sa_run "$STEER_TMP/dup.err" 127.0.0.1:9207 -E STEERCTL="$STEERCTL" -- bash -c \
	'export LISTEN_PID=$$ LISTEN_FDS=2; exec 4<&3; exec "$STEERCTL" worker add p h --listen-fds'
is "$?/$(grep '^Error' "$STEER_TMP/dup.err")" "2/Error: --listen-fds: fd 4: the same socket as fd 3" \
	"LISTEN_FDS=2, fd 4 a copy of fd 3: exit 2"
is "$(workers_now)" "$before" "nothing added, not even h-1"
sa_run "$STEER_TMP/late.err" 127.0.0.1:9204 -l 127.0.0.1:9205 -E STEERCTL="$STEERCTL" -- bash -c \
	'(exec 3<&4; LISTEN_PID=$BASHPID LISTEN_FDS=1 exec "$STEERCTL" worker add p o --listen-fds) &&
	 LISTEN_PID=$$ LISTEN_FDS=2 exec "$STEERCTL" worker add p h --listen-fds'
is "$?/$(grep '^Error' "$STEER_TMP/late.err")" "2/Error: that socket is already worker 'o'" \
	"the 2nd socket already worker o's: exit 2"
is "$(steer -j worker list | jq -r '[.workers[] | select(.name | test("^(o|h-.*)$")) | .name] | join(" ")')" "o" \
	"h-1, added before h-2 failed, is taken back"
steer worker del o
# two sockets with the same name: NAME-1, NAME-2 (the names do not tell them apart)
names_env 'x:x'
is "$NAMES_RC/$(steer -j worker list | jq -r '[.workers[] | select(.name | startswith("n-")) | .name] | sort | join(" ")')" \
	"0/n-1 n-2" "two sockets both named x: NAME-1 and NAME-2"
steer worker del n-1; steer worker del n-2

# as nobody: refused (no access to steer's maps), nothing changed
before=$(workers_now)
STEERCTL=$STEERCTL setpriv --reuid nobody --regid nogroup --clear-groups bash -c \
	'export LISTEN_PID=$$ LISTEN_FDS=1; exec 3<> /dev/null; exec "$STEERCTL" worker add p nob --listen-fds' \
	> "$STEER_TMP/nobody.out" 2> "$STEER_TMP/nobody.err"
rc=$?
is "$rc/$(wc -l < "$STEER_TMP/nobody.err")" "1/1" "as nobody: exit 1, one line ($(cat "$STEER_TMP/nobody.err"))"
is "$(workers_now)" "$before" "as nobody: nothing changed"

# ---- a worker restarted on its address --------------------------------
# hold w1 with 10 open connections, kill -9 it (its socket with it, as when
# the socket unit restarts too), start it again: a new socket is passed, the
# same registration takes it again, with fresh counts
"$SCLIENT" --connect $SVC4:80 -n 10 -c 10 --mode hold --hold-ms 600000 > /dev/null 2>&1 &
holder=$!
disown $holder
WORKER_PIDS+=($holder)
wait_for '[ "$(total_outstanding p)" = 10 ]'
ok $? "10 held connections on pool p"
kill -9 "$w1_pid"
wait_for '[ "$(worker_field w1 state)" = gone ]'
ok $? "w1 killed (-9): gone"
unit_start w1 p 127.0.0.1:9201
is "$REG_RC" 0 "w1 started again: the same registration exits 0 ($(cat "$STEER_TMP/unit.w1.reg"))"
is "$(worker_field w1 state)/$(worker_field w1 pid)/$(worker_field w1 outstanding)" "up/$UPID/0" \
	"w1 taken again: up, the new pid, no stale count"
kill -9 $holder
out=$("$SCLIENT" --connect $SVC4:80 -n 200 -c 10 2>&1)
is "$(client_ok "$out")" "200 0 0" "after the restart, 200 connections served"
check "they reached w1 and w2 only" assert_served_by_pool "$out" web
check "the new w1 served some" test "$(client_count "$out" w1)" -gt 0
check "counts back to 0 after the restart" assert_counts_settle
# ---- a worker restarted on a socket held for it (as systemd holds it) -----
# the holder (systemd's part) registers the socket, then runs the worker and
# runs it again when it dies; the socket never closes, so the entry stays up
# and connections made while no worker runs wait in the accept queue
steer pool add r || bail "pool add r"
steer service add held --prefix $SVC4/32 --port 82 --pool r || bail "service held"
out=$STEER_TMP/unit.held
STEERCTL=$STEERCTL SWORKER=$SWORKER OUT=$out \
systemd-socket-activate -l 127.0.0.1:9209 --fdname=http "${ENV_ARGS[@]}" -E STEERCTL -E SWORKER -E OUT bash -c '
	(LISTEN_PID=$BASHPID exec "$STEERCTL" worker add r held --listen-fds > "$OUT.reg" 2>&1)
	while [ ! -e "$OUT.stop" ]; do
		(LISTEN_PID=$BASHPID exec "$SWORKER" --listen-fds --name held >> "$OUT.ready")
		sleep 1
	done' 2> "$out.sa" &
hpid=$!
disown $hpid
WORKER_PIDS+=($hpid)
wait_for "grep -q '^Listening' '$out.sa'"
knock 127.0.0.1:9209
wait_for "grep -qs '^ready' '$out.ready'" || bail "held worker did not start: $(cat "$out".*)"
first=$(awk '/^ready/ { p = $2 } END { print p }' "$out.ready")
WORKER_PIDS+=($first)
is "$(worker_field held state)" up "held: registered from the holder's socket, up"
kill -9 "$first"
sleep 0.2
is "$(worker_field held state)" up "its worker killed: still up (the holder keeps the socket)"
res=$("$SCLIENT" --connect $SVC4:82 -n 20 -c 5 --timeout-ms 8000 2>&1)
is "$(client_ok "$res")" "20 0 0" "20 connections made while it restarts: all served, none refused"
is "$(client_count "$res" held)" 20 "by the restarted worker"
second=$(awk '/^ready/ { p = $2 } END { print p }' "$out.ready")
WORKER_PIDS+=($second)
check "a new worker process served them ($first, then $second)" test "$second" != "$first"
check "counts back to 0" assert_counts_settle
touch "$out.stop"
kill -9 "$second" "$hpid"

# ---- the unit files ------------------------------------------------------
# systemd-analyze verify works offline on the templates through
# SYSTEMD_UNIT_PATH; it also checks that the commands exist, so the copies
# name binaries that do
vdir=$STEER_TMP/units
mkdir -p "$vdir"
for f in "$UNITS"/*; do
	sed -e "s#/usr/local/sbin/steerctl#$STEERCTL#g" -e "s#/usr/local/bin/my-server#$SWORKER#g" "$f" \
		> "$vdir/$(basename "$f")"
done
vout=$(SYSTEMD_UNIT_PATH=$vdir: systemd-analyze verify --man=no worker@9201.socket worker@9201.service \
	steer-register@9201.service 2>&1)
is "$?/$vout" "0/" "systemd-analyze verify: the three units are clean"
grep -q '^Sockets=worker@%i.socket' "$UNITS/steer-register@.service" &&
	grep -q '^ExecStart=.*worker add .* --listen-fds' "$UNITS/steer-register@.service" &&
	grep -q '^ExecStop=.*worker del' "$UNITS/steer-register@.service"
ok $? "steer-register@.service: Sockets=worker@%i.socket, ExecStart --listen-fds, ExecStop del"
done_testing
