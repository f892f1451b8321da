#!/bin/bash
# steerd in operation: quota spill-over, the maintenance answer, reload and
# kill -9 under load, bad configuration files, Prometheus metrics.
source "$(dirname "$0")/../lib.sh"

write_conf() {	# write_conf EXTRA_WORKER_LINE WEIGHT_OF_M2
	cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; metrics = "127.0.0.1:9110"; socket = "$STEER_TMP/steerd.sock"; };
maintenance = { listen = "127.0.0.1:9199"; retry_after = 17; body = "steer maintenance: back soon\n"; };
pools = (
  { name = "main"; fallback = "basic";
    workers = ( { name = "m1"; addr = "127.0.0.1:9101"; resources = false; },
                { name = "m2"; addr = "127.0.0.1:9102"; weight = ${2:-100}; resources = false; } ${1:-} ); },
  { name = "basic"; fallback = "maintenance";
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; } ); },
  { name = "budget"; fallback = "basic"; quota = 300;
    workers = ( { name = "q1"; addr = "127.0.0.1:9301"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; },
             { name = "metered"; prefix = "$SVC4/32"; port = 81; pool = "budget"; } );
CONF
}
write_conf
declare -A PID_OF
for w in m1:9101 m2:9102 m3:9103 b1:9201 q1:9301; do
	start_worker "${w%%:*}" "127.0.0.1:${w##*:}"
	PID_OF[${w%%:*}]=$LAST_PID
done
start_steerd "$STEER_TMP/steer.conf"

# quota from the file: exactly 300 reach the pool, the rest spill
out=$("$SCLIENT" --connect $SVC4:81 -n 1000 -c 50)
is "$(client_count "$out" q1)/$(client_count "$out" b1)" "300/700" "quota 300: exactly 300 reach the pool, 700 spill to the fallback"

# metrics pass promtool (after the next interval's refresh)
sleep 0.5
curl -sf http://127.0.0.1:9110/metrics > "$STEER_TMP/metrics"
ok $? "the metrics endpoint answers"
[ -s "$STEER_TMP/metrics" ] && promtool check metrics < "$STEER_TMP/metrics" > "$STEER_TMP/promtool" 2>&1
ok $? "promtool check metrics accepts it $(head -c 300 "$STEER_TMP/promtool")"
for m in steer_worker_outstanding steer_worker_steered_total steer_worker_resets_total \
	steer_worker_health_ratio steer_worker_effective_weight steer_worker_up \
	steer_pool_circuit_state steer_pool_error_ratio steer_pool_quota_left steer_pool_spilled_total \
	steer_service_lookups_total steer_service_refused_total steer_build_info; do
	grep -q "^$m{" "$STEER_TMP/metrics" || missing="${missing:-} $m"
done
is "${missing:-}" "" "every metric family is there"
check "refusals by cause in the metrics" grep -q '^steer_service_refused_total{service="[^"]*",cause="no_worker"} [0-9]' "$STEER_TMP/metrics"
check "quota left is 0 in the metrics" grep -q 'steer_pool_quota_left{pool="budget"} 0' "$STEER_TMP/metrics"

# reload under load: 0 failed connections, held connections keep their counts
"$SCLIENT" --connect $SVC4:80 -n 100 -c 0 --mode hold > "$STEER_TMP/held" 2>&1 &
holder=$!
wait_for '[ "$(total_outstanding main)" = 100 ]'
before=$(steer -j worker list | jq -c '[.workers[] | select(.pool == "main") | {name, outstanding, established}]')
"$SCLIENT" --connect $SVC4:80 -n 20000 -c 50 > "$STEER_TMP/load1" &
load=$!
sleep 0.5
write_conf ', { name = "m3"; addr = "127.0.0.1:9103"; resources = false; }' 250
kill -HUP "$STEERD_PID"
wait "$load"
is "$(client_ok "$(cat "$STEER_TMP/load1")")" "20000 0 0" "SIGHUP with a changed file under load: 0 failed connections"
wait_for '[ "$(worker_field m3 name)" = m3 ]'
ok $? "the reload added m3"
is "$(worker_field m2 weight)" 250 "and set m2's new weight"
counts_now() { steer -j worker list | jq -c '[.workers[] | select(.pool == "main" and .name != "m3") | {name, outstanding}]'; }
expected=$(jq -c '[.[] | {name, outstanding}]' <<< "$before")
# the last of the load's closes may still be in flight for a moment
wait_for '[ "$(counts_now)" = "$expected" ]'
is "$(counts_now)" "$expected" "unchanged workers kept their counts"

# kill -9 under load: nothing lost, steering goes on; a restart adopts
"$SCLIENT" --connect $SVC4:80 -n 20000 -c 50 > "$STEER_TMP/load2" &
load=$!
sleep 0.3
kill -9 "$STEERD_PID"
wait "$load"
is "$(client_ok "$(cat "$STEER_TMP/load2")")" "20000 0 0" "kill -9 of steerd under load: 0 failed connections"
est=$(worker_field m1 established)
start_steerd "$STEER_TMP/steer.conf"
sleep 0.5
is "$(worker_field m1 established)" "$est" "a restarted steerd adopts the pinned state: counts not reset"
is "$(total_outstanding main)" 100 "the held connections are still counted"
kill "$holder"

# malformed files: a clear error with the line, exit 2, running state kept
snapshot=$(steer -j status | jq -c '[.workers[] | {name, weight, health}]')
bad() {	# bad DESCRIPTION 'CONFIG TEXT' 'EXPECTED MESSAGE PART'
	printf '%s\n' "$2" > "$STEER_TMP/bad.conf"
	"$STEERD" --check -c "$STEER_TMP/bad.conf" > /dev/null 2> "$STEER_TMP/err"
	local rc=$?
	if [ $rc = 2 ] && [ "$(wc -l < "$STEER_TMP/err")" = 1 ] && grep -q -- "$3" "$STEER_TMP/err"; then
		ok 0 "$1: $(cat "$STEER_TMP/err")"
	else
		ok 1 "$1"; echo "#   exit $rc: $(cat "$STEER_TMP/err")"
	fi
}
bad "syntax error" 'pools = ( { name = "a" ' "bad.conf:2"
bad "unknown setting" $'pools = (\n { name = "a"; wieght = 3; } );' "bad.conf:2.*wieght"
bad "weight out of range" $'pools = (\n { name = "a"; workers = ( { name = "w"; addr = "127.0.0.1:1";\n weight = 10001; } ); } );' "bad.conf:3.*weight"
bad "unknown fallback" $'pools = ( { name = "a";\n fallback = "nowhere"; } );' "bad.conf:2.*nowhere"
bad "bad prefix" $'pools = ( { name = "a"; } );\nservices = ( { name = "s"; prefix = "10.0.0.300/32"; port = 80; pool = "a"; } );' "bad.conf:2"
bad "duplicate worker" $'pools = ( { name = "a"; workers = ( { name = "w"; addr = "127.0.0.1:1"; },\n { name = "w"; addr = "127.0.0.1:2"; } ); } );' "bad.conf:2.*w"
cp "$STEER_TMP/bad.conf" "$STEER_TMP/steer.conf"
kill -HUP "$STEERD_PID"
sleep 0.6
is "$(steer -j status | jq -c '[.workers[] | {name, weight, health}]')" "$snapshot" "SIGHUP with a bad file changes nothing"
check "and steerd says why" grep -q "reload refused" "$STEER_TMP/steerd.log"
kill -0 "$STEERD_PID"
ok $? "steerd keeps running"

# fuzzed files: never a crash, always 0 or 2 with a message
write_conf
crashes=0
for seed in $(seq 200); do
	awk -v seed="$seed" 'BEGIN { srand(seed) } { line = $0
		if (rand() < 0.3) { p = int(rand() * (length(line) + 1)); c = substr("{}();=\",#x0-", int(rand() * 12) + 1, 1)
			line = substr(line, 1, p) c substr(line, p + 2) }
		print line }' "$STEER_TMP/steer.conf" > "$STEER_TMP/fuzz.conf"
	"$STEERD" --check -c "$STEER_TMP/fuzz.conf" > /dev/null 2> "$STEER_TMP/err"
	rc=$?
	if [ $rc != 0 ] && { [ $rc != 2 ] || ! grep -q "^Error: .*fuzz.conf:[0-9]" "$STEER_TMP/err"; }; then
		crashes=$((crashes + 1)); diag "seed $seed: exit $rc: $(cat "$STEER_TMP/err")"
	fi
done
is "$crashes" 0 "200 fuzzed files: each valid or refused with exit 2 and a line number"

# status and metrics read the kernel's maps: an operator's pool and worker
# have series, a closed listener is gone at once, a forced circuit shows
metric() { curl -sf http://127.0.0.1:9110/metrics | awk -v k="$1" '$1 == k { print $2 }'; }
up_of() { metric "steer_worker_up{pool=\"$2\",worker=\"$1\"}"; }
circuit_metric() { metric "steer_pool_circuit_state{pool=\"$1\",state=\"$2\"}"; }	# a state set: 1 or 0
start_worker op1 127.0.0.1:9401
steer pool add ops
steer worker add ops op1 --addr 127.0.0.1:9401
wait_for '[ "$(up_of op1 ops)" = 1 ]'
ok $? "a worker added with steerctl has metric series (up $(up_of op1 ops))"
is "$(circuit_metric ops closed)" 1 "and its pool too (circuit closed)"
is "$(worker_field op1 state)/$(worker_field op1 pid)" "up/$LAST_PID" "op1 is up with its pid"
kill -9 "$LAST_PID"
wait_for '! ss -Hltn "sport = :9401" | grep -q .'
# no connection has tried it: only the closed listener says so
is "$(worker_field op1 state)" gone "its listener closed: status says gone at once"
is "$(worker_field op1 pid)" null "and the JSON pid is null, not the dead process's"
check "worker list shows it gone too" bash -c "'$STEERCTL' worker list | grep -q '^op1 .* gone '"
wait_for '[ "$(up_of op1 ops)" = 0 ]'
ok $? "steer_worker_up of the closed worker is 0"
steer circuit main open
wait_for '[ "$(circuit_metric main open)" = 1 ]'
ok $? "a forced circuit shows in steer_pool_circuit_state ($(circuit_metric main open))"
is "$(metric 'steer_pool_circuit_forced{pool="main"}')" 1 "and as forced"
steer circuit main auto
steer worker del op1
steer pool del ops

# everything down: the maintenance responder answers
# by pid: a pattern would also match other tests' workers in other namespaces
kill -9 "${PID_OF[m1]}" "${PID_OF[m2]}" "${PID_OF[m3]}" "${PID_OF[b1]}" 2>/dev/null
wait_for '[ "$(steer -j worker list | jq "[.workers[] | select(.state == \"gone\")] | length")" -ge 0 ]'
body=$(curl -s -m 3 -D "$STEER_TMP/headers" http://$SVC4/)
is "$body" "steer maintenance: back soon" "all pools down: clients read the maintenance message"
check "with status 503 and Retry-After" grep -q "503" "$STEER_TMP/headers"
check "Retry-After is the configured 17" grep -qi "Retry-After: 17" "$STEER_TMP/headers"
check_invariants
done_testing
