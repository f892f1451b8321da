#!/bin/bash
# The observers against hostile conditions (issue 9's adversary): a pool
# name in the map with a newline, an ESC sequence and a byte that is not
# UTF-8 (steerctl refuses such a name; the map takes any bytes) must leave
# steerctl monitor's text one line per record with no raw control byte,
# its -j lines strict JSON, and steerd's /metrics a page promtool accepts
# (one bad label makes Prometheus drop the whole scrape). A monitor stopped
# longer than its lease whose slot another monitor took meanwhile, and a
# monitor across an unload and a load, must not go on silently blind.
# steerctl top must end when its output is a closed pipe even when SIGPIPE
# is ignored (systemd's default for services, and inherited by exec).
source "$(dirname "$0")/../lib.sh"

M=127.0.0.1:9147
maps=$STEER_BPFFS/steer/maps
scrape() { curl -sf -m 5 "http://$M/metrics"; }

cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; metrics = "$M"; socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "p"; workers = ( { name = "w1"; addr = "127.0.0.1:9101"; resources = false; } ); } );
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; } );
CONF
start_worker w1 127.0.0.1:9101
start_worker o1 127.0.0.1:9201
start_steerd "$STEER_TMP/steer.conf"

# an operator's pool and service beside steerd's: two services, two pools
steer pool add odd
steer worker add odd o1 --addr 127.0.0.1:9201
steer service add api --prefix $SVC4/32 --port 81 --pool odd

# the hostile name, written into the pool's map entry as 44_metrics.t does
hostile=$'h\nx\x1b[2J\xffq'
odd_id=$(bpftool -j map dump pinned "$maps/pools" 2> /dev/null |
	jq -r '.[] | select(.formatted.value.name == "odd") | .formatted.key' 2> /dev/null)
name_hex=$(printf '%s' "$hostile" | python3 -c 'import sys; b = sys.stdin.buffer.read(); b = (b + bytes(32))[:32]; print(" ".join("0x%02x" % c for c in b))')
cur=$(bpftool -j map lookup pinned "$maps/pools" key $odd_id 0 0 0 | jq -r '.value | .[32:] | join(" ")')
bpftool map update pinned "$maps/pools" key $odd_id 0 0 0 value hex $name_hex $cur
check "the hostile name is in the pool map" bash -c \
	"bpftool -j map lookup pinned '$maps/pools' key $odd_id 0 0 0 | jq -e '.value[1] == \"0x0a\"' > /dev/null"

# strict: every line one JSON document, UTF-8 (python's decoder, not jq's
# lenient one that turns bad bytes into U+FFFD)
strict_json_lines() {
	python3 -c '
import json, sys
n = 0
for line in sys.stdin.buffer.read().split(b"\n"):
    if line:
        json.loads(line.decode("utf-8"))
        n += 1
print(n)' < "$1"
}

# ---- monitor: hostile names in the text and the JSON ----
"$STEERCTL" monitor --count 3 > "$STEER_TMP/text.out" 2> "$STEER_TMP/text.err" &
tpid=$!
"$STEERCTL" -j monitor --count 3 > "$STEER_TMP/json.out" 2> "$STEER_TMP/json.err" &
jpid=$!
WORKER_PIDS+=("$tpid" "$jpid")
wait_until 'grep -qs "monitor: on" "$STEER_TMP/text.err" && grep -qs "monitor: on" "$STEER_TMP/json.err"' 10
out=$("$SCLIENT" --connect $SVC4:81 -n 3 -c 1)
INV_SERVED+=("$out" api)
wait_until '! kill -0 $tpid 2> /dev/null && ! kill -0 $jpid 2> /dev/null' 10
wait $tpid
trc=$?
wait $jpid
jrc=$?
is "$trc $jrc $(client_ok "$out")" "0 0 3 0 0" "3 connections to api, both monitors end after 3 records"
is "$(wc -l < "$STEER_TMP/text.out")" 3 "text: 3 records are 3 lines (the name's newline escaped)"
check "text: no raw ESC or non-ASCII byte from the name" bash -c \
	"! LC_ALL=C grep -q \$'[\x1b\x80-\xff]' '$STEER_TMP/text.out'"
check "text: the pool as top shows it (escaped)" \
	grep -qF 'pool=h\nx\x1b[2J\xffq worker=o1' "$STEER_TMP/text.out"
is "$(strict_json_lines "$STEER_TMP/json.out" 2>&1 | tail -n 1)" 3 "-j: 3 lines, each strict UTF-8 JSON"
is "$(jq -r '.pool' "$STEER_TMP/json.out" 2> /dev/null | head -n 2 | tr '\n' '|')" $'h|x\x1b[2J\\xffq|' \
	"-j: the name's newline and ESC as JSON escapes, the bad byte as the text \\xff"

# ---- steerd's page with the hostile label ----
sleep 0.5
scrape > "$STEER_TMP/metrics"
promtool check metrics < "$STEER_TMP/metrics" > "$STEER_TMP/promtool" 2>&1
ok $? "promtool check metrics accepts the page ($(head -c 200 "$STEER_TMP/promtool"))"
check "the label: newline escaped, ESC as is, the bad byte as the text \\xff" \
	grep -qF $'steer_pool_circuit_forced{pool="h\\nx\x1b[2J\\\\xffq"} 0' "$STEER_TMP/metrics"
check "the worker's series carry the pool's label the same way" \
	grep -qF $'steer_worker_selected_total{pool="h\\nx\x1b[2J\\\\xffq",worker="o1"} 3' "$STEER_TMP/metrics"

# ---- a monitor stopped past its lease, its slot taken meanwhile ----
declare -A MPID
mon() {	# mon NAME: steerctl -j monitor in the background, MPID[NAME]
	"$STEERCTL" -j monitor --service web > "$STEER_TMP/$1.out" 2> "$STEER_TMP/$1.err" &
	local pid=$! err=$STEER_TMP/$1.err
	MPID[$1]=$pid
	WORKER_PIDS+=("$pid")
	wait_until 'grep -qs "monitor: on" "$err" || ! kill -0 $pid' 10
}
assigned() { jq -c 'select(.cause == "assigned")' "$STEER_TMP/$1.out" 2> /dev/null | wc -l; }
mon a
kill -STOP ${MPID[a]}
sleep 3.5	# STEER_MONITOR_LEASE_S and a little: a's slot is free
mon b
grep -q "slot 1 of" "$STEER_TMP/b.err"
ok $? "b took a's lapsed slot ($(cat "$STEER_TMP/b.err"))"
kill -CONT ${MPID[a]}
sleep 1.5	# a renews at least once
out=$("$SCLIENT" --connect $SVC4:80 -n 4 -c 1)
INV_SERVED+=("$out" web)
wait_until '[ "$(assigned a)" -ge 4 ] && [ "$(assigned b)" -ge 4 ]' 5
is "$(assigned a) $(assigned b)" "4 4" "a, continued, and b both see the 4 connections"
kill -INT ${MPID[b]}
wait ${MPID[b]}
sleep 1.5
out=$("$SCLIENT" --connect $SVC4:80 -n 2 -c 1)
INV_SERVED+=("$out" web)
wait_until '[ "$(assigned a)" -ge 6 ]' 5
is "$(assigned a)" 6 "after b freed the slot it had taken, a still sees the next 2"
grep -q "slot" <(tail -n +2 "$STEER_TMP/a.err")
ok $? "a said on stderr that it moved to another slot ($(tail -n +2 "$STEER_TMP/a.err" | head -c 200))"
kill -INT ${MPID[a]}
wait ${MPID[a]}
is "$?" 0 "a ends with SIGINT, exit 0"

# ---- top: a closed pipe with SIGPIPE ignored ----
( trap '' PIPE; timeout 10 "$STEERCTL" top -d 0.05 2> "$STEER_TMP/top.err" | head -n 1 > /dev/null
  echo "${PIPESTATUS[0]}" > "$STEER_TMP/top.rc" )
trc=$(cat "$STEER_TMP/top.rc")
[ "$trc" != 124 ]
ok $? "top | head -1 with SIGPIPE ignored: top ends by itself (exit $trc, not the timeout)"

# ---- a monitor across an unload and a load (steerd stopped first) ----
kill -9 "$STEERD_PID"
mon r
steer unload && steer load --cgroup "$STEER_TEST_CGROUP"
ok $? "unload and load again under a running monitor"
steer pool add p2
steer service add web --prefix $SVC4/32 --port 80 --pool p2
steer worker add p2 w1 --addr 127.0.0.1:9101
out=$("$SCLIENT" --connect $SVC4:80 -n 2 -c 1)
wait_until '! kill -0 ${MPID[r]} 2> /dev/null || [ "$(assigned r)" -ge 2 ]' 5
if kill -0 ${MPID[r]} 2> /dev/null; then
	ok "$(( $(assigned r) < 2 ))" "the monitor still running sees the new load's decisions"
	kill -INT ${MPID[r]}
else
	wait ${MPID[r]}
	rc=$?
	# under -j the error is the stream's last line, {"error": ...} on stdout
	is "$rc $(tail -n 1 "$STEER_TMP/r.out" | jq -r .error)" "1 steer was unloaded" \
		"or it ended: exit 1, steer was unloaded ($(tail -n 1 "$STEER_TMP/r.out"))"
fi

done_testing
