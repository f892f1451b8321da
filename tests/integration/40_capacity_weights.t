#!/bin/bash
# Capacity weights: weight = "auto" (steer.conf) and --weight auto (steerctl)
# derive a worker's weight from its cgroup's CPU allowance: cpu.max
# quota/period, else cpuset.cpus.effective, else the host's online CPUs,
# STEER_WEIGHT_PER_CPU (100) per CPU. An "8-CPU" and a "64-CPU" worker get
# 1:8, and least-conn splits held connections 1:8; steerd follows a changed
# cpu.max at its next interval; bad values change nothing.
#
# The cgroups are the test's own, one per worker. On this kind of host the
# cpu and cpuset controllers are bound to cgroup v1, so their v2 files do not
# exist: then, once the worker has joined its cgroup, a tmpfs (in the test's
# private mount namespace) is mounted over that cgroup's directory and the
# file is written there, with the kernel's format. steer reads the same path
# either way (the v2 mount from /proc/mounts + the process's "0::" line).
source "$(dirname "$0")/../lib.sh"

PER_CPU=100	# STEER_WEIGHT_PER_CPU
HOST_CPUS=$(getconf _NPROCESSORS_ONLN)
CG=$STEER_TEST_CGROUP

# cg_worker NAME ADDR: sworker NAME on ADDR in a cgroup of its own ($CG/NAME)
cg_worker() {
	local name=$1 addr=$2 fifo=$STEER_TMP/ready.$1 line
	mkdir -p "$CG/$name"
	mkfifo "$fifo"
	(echo $BASHPID > "$CG/$name/cgroup.procs" && exec "$SWORKER" --listen "$addr" --name "$name") > "$fifo" &
	LAST_PID=$!
	disown "$LAST_PID"
	WORKER_PIDS+=("$LAST_PID")
	read -r -t 5 line < "$fifo" || bail "worker $name did not start"
	rm -f "$fifo"
	[ "${line%% *}" = ready ] || bail "worker $name: '$line'"
}
# cg_set NAME FILE VALUE: the cgroup's file; the kernel's when it has it,
# else a tmpfs over the directory (see the top)
OVERLAID=()
cg_set() {
	local dir=$CG/$1
	if [ ! -e "$dir/$2" ] && ! mountpoint -q "$dir"; then
		mount -t tmpfs -o size=64k steer-fake-cgroup "$dir" || bail "cannot mount over $dir"
		OVERLAID+=("$dir")
	fi
	echo "$3" > "$dir/$2"
}

cg_worker w8 127.0.0.1:9301
w8_pid=$LAST_PID
cg_worker w64 127.0.0.1:9302
cg_worker c1 127.0.0.1:9303
cg_worker h1 127.0.0.1:9304
cg_set w8 cpu.max "800000 100000"
cg_set w64 cpu.max "6400000 100000"
cg_set c1 cpuset.cpus.effective "1"
diag "cgroups with fake files (tmpfs): ${OVERLAID[*]:-none}"

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 300; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "p"; policy = "least-conn";
    workers = ( { name = "w8"; addr = "127.0.0.1:9301"; weight = "auto"; },
                { name = "w64"; addr = "127.0.0.1:9302"; weight = "auto"; } ); },
  { name = "q"; policy = "least-conn";
    workers = ( { name = "c1"; addr = "127.0.0.1:9303"; weight = "auto"; },
                { name = "h1"; addr = "127.0.0.1:9304"; weight = "auto"; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; },
             { name = "api"; prefix = "$SVC4/32"; port = 81; pool = "q"; } );
CONF
start_steerd "$STEER_TMP/steer.conf"

weights() { steer -j worker list | jq -r '[.workers[] | "\(.name)=\(.weight)"] | sort | join(" ")'; }
want="c1=$PER_CPU h1=$((HOST_CPUS * PER_CPU)) w64=6400 w8=800"
wait_until '[ "$(weights)" = "$want" ]' 5
is "$(weights)" "$want" "weights from cpu.max (8 and 64 CPUs), cpuset (1 CPU) and the host ($HOST_CPUS CPUs)"
is "$(steer -j worker list | jq -r '[.workers[].weight_from] | unique | join(",")')" auto \
	"-j: weight_from is auto for all four"
check "text: the WEIGHT column says auto:800 for w8" bash -c "'$STEERCTL' worker list | grep -Eq '^w8 .* auto:800 '"

# ---- least-conn splits held connections 1:8 -----------------------------
hold_p() {	# hold_p N: N held connections to web; HOLDER
	"$SCLIENT" --connect $SVC4:80 -n "$1" -c 0 --mode hold > "$STEER_TMP/hold.out" 2>&1 < <(sleep 60) &
	HOLDER=$!
	disown $HOLDER
	WORKER_PIDS+=($HOLDER)
	wait_for "[ \"\$(total_outstanding p)\" = $1 ]" 10
}
"$SCLIENT" --connect $SVC4:81 -n 300 -c 10 > "$STEER_TMP/api.out" 2>&1 &   # pool q at the same time
api=$!
hold_p 270
ok $? "270 held connections on pool p"
o8=$(worker_field w8 outstanding)
o64=$(worker_field w64 outstanding)
# exact weighted least-conn gives 30 and 240; allow +-20% of w8's share
check "outstanding split 1:8 within 20% (w8 $o8, w64 $o64)" \
	test "$((o64 * 10))" -ge "$((o8 * 8 * 8))" -a "$((o64 * 10))" -le "$((o8 * 8 * 12))"
wait $api
api_out=$(cat "$STEER_TMP/api.out")
is "$(client_ok "$api_out")" "300 0 0" "pool q at the same time: 300 served"
check "api's connections reached pool q only" assert_served_by_pool "$api_out" api
kill $HOLDER
check "counts back to 0" assert_counts_settle

# ---- cpu.max changes: the weight follows at steerd's next interval -------
cg_set w8 cpu.max "3200000 100000"
wait_until '[ "$(worker_field w8 weight)" = 3200 ]' 3
is "$(worker_field w8 weight)" 3200 "w8's cpu.max raised to 32 CPUs: weight 3200 within 3 s (interval 300 ms)"
cg_set w8 cpu.max "max 100000"
wait_until '[ "$(worker_field w8 weight)" = $((HOST_CPUS * PER_CPU)) ]' 3
is "$(worker_field w8 weight)" "$((HOST_CPUS * PER_CPU))" "cpu.max 'max': no limit, the host's CPUs"
cg_set w8 cpu.max "50000 100000"
wait_until '[ "$(worker_field w8 weight)" = 50 ]' 3
is "$(worker_field w8 weight)" 50 "half a CPU: 50"
cg_set w8 cpu.max "800000 100000"
wait_until '[ "$(worker_field w8 weight)" = 800 ]' 3
is "$(worker_field w8 weight)" 800 "back to 8 CPUs: 800"
check "steerd logged the change" grep -q "worker w8: weight auto 3200" "$STEER_TMP/steerd.log"

# ---- steerctl --weight auto on an operator's worker ---------------------
cg_worker op1 127.0.0.1:9305
op_pid=$LAST_PID
cg_set op1 cpu.max "1600000 100000"
out=$(steer worker add q op1 --addr 127.0.0.1:9305 --weight auto)
is "$?" 0 "worker add --weight auto: exit 0 ($out)"
check "it says what it found" grep -q "weight auto = 1600 (16.00 CPUs: cpu.max of $CG/op1)" <<< "$out"
is "$(worker_field op1 weight)/$(worker_field op1 weight_from)" "1600/auto" "op1: 1600, auto"
cg_set op1 cpu.max "400000 100000"
wait_until '[ "$(worker_field op1 weight)" = 400 ]' 3
is "$(worker_field op1 weight)" 400 "steerd keeps the operator's auto weight current too"
steer worker set op1 --weight 70
cg_set op1 cpu.max "900000 100000"
sleep 1
is "$(worker_field op1 weight)/$(worker_field op1 weight_from)" "70/admin" \
	"a number ends auto: steerd leaves 70 when cpu.max changes"
out=$(steer -j worker set op1 --weight auto)
is "$(jq -r '"\(.worker) \(.weight) \(.from)"' <<< "$out")" "op1 900 cpu.max" "-j worker set --weight auto: JSON of what it found"
is "$(worker_field op1 weight_from)" auto "op1 is auto again"

# ---- bad values: one line, exit 2, nothing changed -----------------------
workers_now() { steer -j worker list | jq -c '[.workers[] | [.name, .weight, .weight_from]]'; }
before=$(workers_now)
bad_ctl() {	# bad_ctl WANT ARGS...
	local want=$1 rc
	shift
	steer "$@" > /dev/null 2> "$STEER_TMP/err"
	rc=$?
	is "$rc/$(wc -l < "$STEER_TMP/err")/$(grep -c "^Error: .*$want" "$STEER_TMP/err")" "2/1/1" \
		"steerctl $* -> exit 2, one line ($(cat "$STEER_TMP/err"))"
}
bad_ctl "weight 'autox' is not a whole number" worker set w8 --weight autox
bad_ctl "weight 'AUTO' is not a whole number" worker set w8 --weight AUTO
bad_ctl "weight '' is not a whole number" worker set w8 --weight ''
# a worker whose process is gone: no allowance to take
cg_worker dead 127.0.0.1:9306
steer worker add q dead --addr 127.0.0.1:9306 --weight 5
kill -9 "$LAST_PID"
wait_for '[ "$(worker_field dead state)" = gone ]'
before=$(workers_now)
bad_ctl "worker 'dead' has no process" worker set dead --weight auto
bad_ctl "worker 'nosuch' does not exist" worker set nosuch --weight auto
is "$(workers_now)" "$before" "no weight changed by the bad ones"
steer worker del dead
# the config: "autox", a bool, a negative number
for v in '"autox"' '"auto "' 'true' '-1' '10001'; do
	sed "s/weight = \"auto\"; }, *\$/weight = $v; },/" "$STEER_TMP/steer.conf" > "$STEER_TMP/bad.conf"
	grep -q "weight = $v" "$STEER_TMP/bad.conf" || bail "bad.conf has no weight = $v"
	"$STEERD" --check -c "$STEER_TMP/bad.conf" > /dev/null 2> "$STEER_TMP/err"
	rc=$?
	is "$rc/$(wc -l < "$STEER_TMP/err")" "2/1" "steerd --check with weight = $v: exit 2, one line ($(cat "$STEER_TMP/err"))"
done
# as nobody
before=$(workers_now)
setpriv --reuid nobody --regid nogroup --clear-groups "$STEERCTL" worker set w8 --weight auto > /dev/null 2> "$STEER_TMP/err"
is "$?/$(wc -l < "$STEER_TMP/err")" "1/1" "as nobody: exit 1, one line ($(cat "$STEER_TMP/err"))"
is "$(workers_now)" "$before" "as nobody: nothing changed"

# ---- kill -9 steerd, start it again: the same weights ---------------------
kill -9 "$STEERD_PID"
restart_steerd "$STEER_TMP/steer.conf" || bail "steerd did not start again"
want="c1=$PER_CPU h1=$((HOST_CPUS * PER_CPU)) op1=900 w64=6400 w8=800"
wait_until '[ "$(weights)" = "$want" ]' 3
is "$(weights)" "$want" "after kill -9 and a new steerd: the same auto weights"
out=$("$SCLIENT" --connect $SVC4:80 -n 300 -c 10 2>&1)
is "$(client_ok "$out")" "300 0 0" "web: 300 served after the restart"
check "web's connections reached pool p only" assert_served_by_pool "$out" web
check "counts back to 0 at the end" assert_counts_settle

# ---- the file goes from auto to a number, and back, by SIGHUP ------------
sed -i 's/{ name = "w8"; addr = "127.0.0.1:9301"; weight = "auto"; }/{ name = "w8"; addr = "127.0.0.1:9301"; weight = 300; }/' "$STEER_TMP/steer.conf"
grep -q 'weight = 300' "$STEER_TMP/steer.conf" || bail "the file was not edited"
kill -HUP "$STEERD_PID"
wait_until '[ "$(worker_field w8 weight)/$(worker_field w8 weight_from)" = 300/admin ]' 3
is "$(worker_field w8 weight)/$(worker_field w8 weight_from)" "300/admin" "reload with weight = 300: 300, no longer auto"
sed -i 's/weight = 300;/weight = "auto";/' "$STEER_TMP/steer.conf"
kill -HUP "$STEERD_PID"
wait_until '[ "$(worker_field w8 weight)/$(worker_field w8 weight_from)" = 800/auto ]' 3
is "$(worker_field w8 weight)/$(worker_field w8 weight_from)" "800/auto" "reload with weight = \"auto\" again: 800, auto"

for d in "${OVERLAID[@]}"; do umount "$d"; done
done_testing
