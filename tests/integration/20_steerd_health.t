#!/bin/bash
# steerd: HTTP checks with fall/rise and slow start; agent-check replies.
source "$(dirname "$0")/../lib.sh"

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "agents";
    workers = (
      { name = "w1"; addr = "127.0.0.1:9101"; resources = false;
        check = { type = "http"; port = 9401; path = "/health"; interval_ms = 200;
                  timeout_ms = 150; rise = 2; fall = 3; slowstart_s = 3; };
        agent = { port = 9501; interval_ms = 200; timeout_ms = 150; }; },
      { name = "w2"; addr = "127.0.0.1:9102"; resources = false;
        check = { type = "tcp"; interval_ms = 200; }; }
    ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "agents"; } );
CONF
check "steerd --check accepts the file" "$STEERD" --check -c "$STEER_TMP/steer.conf"
start_worker w1 127.0.0.1:9101
start_worker w2 127.0.0.1:9102
start_agent health1 127.0.0.1:9401
health_pid=$LAST_PID
start_steerd "$STEER_TMP/steer.conf"
is "$(steer -j worker list | jq -r '[.workers[].name] | sort | join(" ")')" "w1 w2" "steerd added both workers"
is "$(health_of w1)" 1000 "w1 starts healthy"

# the check fails: down after fall=3 failures, i.e. within ~0.8 s
kill "$health_pid"
start=$(date +%s%N)
wait_for '[ "$(health_of w1)" = 0 ]'
ok $? "failing HTTP checks take w1 down"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
diag "check failure -> no new connections: $ms ms (interval 200 ms, fall 3)"
[ "$ms" -le 1500 ]
ok $? "within fall x interval plus a tick ($ms ms)"
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 10)
is "$(client_count "$out" w1)" 0 "a down worker gets no new connection"
grep -q "worker w1 is down" "$STEER_TMP/steerd.log"
ok $? "steerd logged it"

# back after rise=2, with slow start: health ramps over 3 s
start_agent health1 127.0.0.1:9401
wait_for '[ "$(health_of w1)" -gt 0 ]'
ok $? "w1 comes back after rise successes"
seen=""
for i in $(seq 12); do seen="$seen $(health_of w1)"; sleep 0.25; done
diag "health during slow start:$seen"
ramp=$(tr ' ' '\n' <<< "$seen" | awk 'NF && $1 > 0 && $1 < 1000' | wc -l)
[ "$ramp" -ge 4 ]
ok $? "slow start: $ramp readings between 0 and 1000"
sorted=$(tr ' ' '\n' <<< "$seen" | awk NF | sort -n | tr '\n' ' ')
is "$sorted" "$(tr ' ' '\n' <<< "$seen" | awk NF | tr '\n' ' ')" "the weight only rises"
wait_for '[ "$(health_of w1)" = 1000 ]'
ok $? "then full weight"

# agent-check: the agent's one-line reply sets weight and state
agent_says() {
	[ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null
	start_worker "$1" 127.0.0.1:9501
	agent_pid=$LAST_PID
}
agent_says 50%
wait_for '[ "$(health_of w1)" = 500 ]'
ok $? "agent '50%': w1 at half weight (health $(health_of w1))"
agent_says drain
wait_for '[ "$(health_of w1)" = 0 ]'
ok $? "agent 'drain': no new connections"
agent_says up
wait_for '[ "$(health_of w1)" = 500 ]'
ok $? "agent 'up': taking connections again, at the last weight it gave (50%, as HAProxy does)"
agent_says 100%
wait_for '[ "$(health_of w1)" = 1000 ]'
ok $? "agent '100%': full weight"
agent_says maint
wait_for '[ "$(health_of w1)" = 0 ]'
ok $? "agent 'maint': no new connections"
agent_says ready
wait_for '[ "$(health_of w1)" = 1000 ]'
ok $? "agent 'ready': back"
# operator and daemon fields stay apart: drain is the operator's lever and
# stays; a weight the file sets is the file's, and the next pass restores it
steer worker drain w1
steer worker set w1 --weight 300
wait_for '[ "$(worker_field w1 weight)" = 100 ]'
sleep 0.5
is "$(worker_field w1 weight)/$(worker_field w1 state)/$(health_of w1)" "100/drain/1000" \
	"steerctl's drain and steerd's health live side by side; the file's weight comes back"
steer worker undrain w1
check_invariants
done_testing
