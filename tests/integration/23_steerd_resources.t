#!/bin/bash
# steerd: resource-aware weights. A CPU-busy worker (its own cgroup) loses
# share and regains it; a worker near its fd limit gets no new connection.
source "$(dirname "$0")/../lib.sh"

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 300; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "p";
    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; },
                { name = "w2"; addr = "127.0.0.1:9102"; } ); },
  { name = "q";
    workers = ( { name = "f1"; addr = "127.0.0.1:9103"; },
                { name = "f2"; addr = "127.0.0.1:9104"; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; },
             { name = "fd"; prefix = "$SVC4/32"; port = 81; pool = "q"; } );
CONF
# w1 runs in a cgroup of its own, as a systemd service would
mkdir "$STEER_TEST_CGROUP/w1"
(echo $BASHPID > "$STEER_TEST_CGROUP/w1/cgroup.procs" && exec "$AGENT" --listen 127.0.0.1:9101 --name w1 --mode ps --slots 8) > "$STEER_TMP/w1.out" &
w1_pid=$!
disown "$w1_pid"
WORKER_PIDS+=("$w1_pid")
wait_for 'grep -q ready "$STEER_TMP/w1.out"'
start_agent w2 127.0.0.1:9102
start_worker f1 127.0.0.1:9103
f1_pid=$LAST_PID
start_worker f2 127.0.0.1:9104
start_steerd "$STEER_TMP/steer.conf"
wait_for '[ "$(health_of w1)" = 1000 ] && [ "$(health_of w2)" = 1000 ]'
ok $? "idle workers have full health"

# burn both CPUs in w1's cgroup for 6 s with requests sent straight to it
burners=()
for i in 1 2; do curl -s "http://127.0.0.1:9101/burn?cpu=6000" > /dev/null & burners+=($!); done
start=$(date +%s%N)
# at most 850: a clear cut below the idle worker's 900 and more, that a
# machine busy with other work (less CPU for the burners) still shows
wait_until '[ "$(health_of w1)" -le 850 ]' 6
ok $? "a CPU-busy worker loses share (health $(health_of w1))"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
# a figure, not a check: reaction times belong to benchmarks (a loaded CI
# machine gives the burners less CPU and the cut comes later)
diag "CPU busy -> weight cut: $ms ms (interval 300 ms)"
[ "$(health_of w2)" -ge 900 ]
ok $? "the idle worker keeps its weight ($(health_of w2))"
wait "${burners[@]}"
wait_for '[ "$(health_of w1)" -ge 900 ]' 15
ok $? "after the burn w1 regains its share (health $(health_of w1))"
grep -q "worker w1: resource factor" "$STEER_TMP/steerd.log"
ok $? "steerd logged the factor"

# f1 near its fd limit: cut to 0 until it recovers
prlimit --pid "$f1_pid" --nofile=128:128
"$SCLIENT" --connect 127.0.0.1:9103 -n 118 -c 0 --mode hold > "$STEER_TMP/holder" 2>&1 < <(sleep 60) &
holder=$!
wait_for '[ "$(health_of f1)" = 0 ]'
ok $? "a worker at 95% of its fd limit gets health 0"
out=$("$SCLIENT" --connect $SVC4:81 -n 60 -c 5 2>/dev/null)
is "$(client_count "$out" f1)/$(client_count "$out" f2)" "0/60" "and no new connection: they go to f2"
kill "$holder"
wait_for '[ "$(health_of f1)" -gt 0 ]'
ok $? "back when its fds are released (health $(health_of f1))"
check_invariants "$out" fd
done_testing
