#!/bin/bash
# steerd's metrics: every field `steerctl -j status` shows has a series with
# the same value (states one-hot), over two services and three pools (a
# drained worker, one whose check fails, one gone, a forced circuit, a
# quota, a rate, hostile names); counters equal the connections made and
# counts return to 0; promtool accepts the page; /healthz follows the event
# loop (503 while steerd is SIGSTOPped, though its HTTP thread answers);
# reloads and kill -9; the Grafana dashboard's every query answered by a
# real Prometheus scraping steerd; the alert rules' own unit tests.
source "$(dirname "$0")/../lib.sh"

M=127.0.0.1:9144	# steerd's metrics
PROM=127.0.0.1:9190	# the test's Prometheus
DASH=$TOP/docs/grafana/steer.json
RULES=$TOP/docs/prometheus

write_conf() {	# write_conf [WEIGHT_OF_A2]
	cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 200; metrics = "$M"; socket = "$STEER_TMP/steerd.sock"; };
pools = (
  { name = "alpha"; fallback = "beta";
    workers = ( { name = "a1"; addr = "127.0.0.1:9101"; check = { type = "tcp"; port = 9109; interval_ms = 100; }; },
                { name = "a2"; addr = "127.0.0.1:9102"; weight = ${1:-50}; maxconn = 500; resources = false; },
                { name = "a3"; addr = "127.0.0.1:9103"; resources = false; },
                { name = "a4"; addr = "127.0.0.1:9104"; resources = false;
                  check = { type = "tcp"; port = 9199; interval_ms = 100; fall = 1; }; } ); },
  { name = "beta"; quota = 1000; rate = 2000.5; burst = 500;
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; },
                { name = "b2"; addr = "127.0.0.1:9202"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "alpha"; },
             { name = "api"; prefix = "$SVC4/32"; port = "81-82"; pool = "beta"; } );
CONF
}

scrape() { curl -sf -m 5 "http://$M/metrics"; }
status_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$M$1"; }

# compare.py STATUS_JSON METRICS: each field of each object in STATUS_JSON
# against its series; prints one line per mismatch, exits 1 if any. A field
# it does not know is a mismatch too: a new CLI field needs a series.
cat > "$STEER_TMP/compare.py" <<'PY'
import json, re, sys

def parse(text):
    series = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise SystemExit('unparsable line: %r' % line)
        labels, body, i = {}, m.group(3) or '', 0
        while i < len(body):
            k = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', body[i:])
            i += k.end()
            v = ''
            while body[i] != '"':
                if body[i] == '\\':
                    v += {'n': '\n', '\\': '\\', '"': '"'}[body[i + 1]]
                    i += 2
                else:
                    v += body[i]
                    i += 1
            labels[k.group(1)] = v
            i += 2 if body[i + 1:i + 2] == ',' else 1
        series.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return series

status, series = json.load(open(sys.argv[1])), parse(open(sys.argv[2]).read())
bad = []

def get(name, **labels):
    hits = [v for l, v in series.get(name, [])
            if all(l.get(k) == val for k, val in labels.items())]
    return hits[0] if len(hits) == 1 else None if not hits else 'many'

def same(what, name, want, **labels):
    got = get(name, **labels)
    if want is None and got is None:
        return
    if got is None or got == 'many' or want is None or abs(got - want) > 1e-9 * max(1, abs(want)):
        bad.append('%s: %s%s is %s, steerctl says %s' % (what, name, labels, got, want))

def one_hot(what, name, current, states, **labels):
    for s in states:
        same(what, name, 1 if s == current else 0, state=s, **labels)

def info(what, name, want, **labels):
    hits = [l for l, v in series.get(name, []) if all(l.get(k) == val for k, val in labels.items())]
    if len(hits) != 1 or any(hits[0].get(k) != v for k, v in want.items()):
        bad.append('%s: %s%s labels %s, steerctl says %s' % (what, name, labels, hits, want))

W = {'outstanding': 'steer_worker_outstanding', 'pending': 'steer_worker_pending',
     'selected': 'steer_worker_selected_total', 'steered': 'steer_worker_steered_total',
     'established': 'steer_worker_established_total', 'closed': 'steer_worker_closed_total',
     'weight': 'steer_worker_weight', 'health': 'steer_worker_health_ratio',
     'maxconn': 'steer_worker_maxconn', 'pid': 'steer_worker_pid',
     'slots': 'steer_worker_slots', 'lobby_taken': 'steer_worker_lobby_taken_total'}
for w in status['workers']:
    what, key = 'worker ' + w['name'], dict(pool=w['pool'], worker=w['name'])
    for f, v in w.items():
        if f in W:
            same(what, W[f], v, **key)
        elif f == 'state':
            one_hot(what, 'steer_worker_state', v, ['up', 'drain', 'down', 'gone'], **key)
        elif f in ('listener', 'addr', 'owner', 'weight_from'):
            info(what, 'steer_worker_info', {'listener': w['listener'], 'owner': w['owner'],
                                             'weight_from': w['weight_from']}, **key)
        elif f not in ('name', 'pool'):
            bad.append('%s: field %s has no series' % (what, f))

P = {'workers': 'steer_pool_workers', 'table_len': 'steer_pool_table_slots',
     'selected': 'steer_pool_selected_total', 'fallback_out': 'steer_pool_fallback_out_total',
     'refused': 'steer_pool_refused_total', 'circuit_forced': 'steer_pool_circuit_forced',
     'circuit_fleet': 'steer_pool_circuit_fleet_open',
     'circuit_out': 'steer_pool_circuit_out_total', 'probes': 'steer_pool_probes_total',
     'quota_left': 'steer_pool_quota_left', 'spilled': 'steer_pool_spilled_total',
     'quota': 'steer_pool_quota'}
for p in status['pools']:
    what, key = 'pool ' + p['name'], dict(pool=p['name'])
    for f, v in p.items():
        if f in P:
            same(what, P[f], v, **key)
        elif f == 'rate_milli':
            same(what, 'steer_pool_rate', None if v is None else v / 1000, **key)
        elif f == 'circuit':
            one_hot(what, 'steer_pool_circuit_state', v, ['closed', 'open', 'half-open'], **key)
        elif f in ('policy', 'fallback', 'owner'):
            info(what, 'steer_pool_info', {'policy': p['policy'], 'fallback': p['fallback'] or '',
                                           'owner': p['owner'],
                                           'lobby': (p['lobby'] or {}).get('addr', '')}, **key)
        elif f == 'lobby':
            L = {'waiting': 'steer_pool_lobby_waiting', 'backlog': 'steer_pool_lobby_backlog',
                 'pid': 'steer_pool_lobby_pid', 'sent': 'steer_pool_lobby_sent_total',
                 'taken': 'steer_pool_lobby_taken_total',
                 'unattributed': 'steer_pool_lobby_unattributed',
                 'unattributed_total': 'steer_pool_lobby_unattributed_total'}
            for lf, name in L.items():
                same(what, name, None if v is None else v[lf], **key)
            same(what, 'steer_pool_lobby_up', None if v is None else int(v['state'] == 'up'), **key)
        elif f != 'name':
            bad.append('%s: field %s has no series' % (what, f))

for s in status['services']:
    what, key = 'service ' + s['name'], dict(service=s['name'])
    ports = '%d' % s['port_lo'] if s['port_lo'] == s['port_hi'] else '%d-%d' % (s['port_lo'], s['port_hi'])
    for f, v in s.items():
        if f == 'lookups':
            same(what, 'steer_service_lookups_total', v, **key)
        elif f == 'refusals':
            for cause, n in v.items():
                same(what, 'steer_service_refused_total', n, cause=cause, **key)
        elif f == 'refused':
            total = sum(x for l, x in series.get('steer_service_refused_total', [])
                        if l['service'] == s['name'])
            if total != v:
                bad.append('%s: refusals sum to %s, steerctl says %s' % (what, total, v))
        elif f in ('address', 'prefixlen', 'prefix', 'port_lo', 'port_hi', 'pool', 'owner'):
            info(what, 'steer_service_info', {'pool': s['pool'], 'owner': s['owner'],
                                              'prefix': s['prefix'], 'ports': ports}, **key)
        elif f != 'name':
            bad.append('%s: field %s has no series' % (what, f))

print('\n'.join(sorted(set(bad))))
sys.exit(1 if bad else 0)
PY

# status_matches: steerctl's view and a page rendered after it agree
# (retried: a render may fall between the two reads while counts move)
status_matches() {
	local i
	for i in 1 2 3 4 5 6; do
		steer -j status > "$STEER_TMP/status.json"
		sleep 0.5	# two intervals: a page rendered after the status
		scrape > "$STEER_TMP/metrics"
		python3 "$STEER_TMP/compare.py" "$STEER_TMP/status.json" "$STEER_TMP/metrics" \
			> "$STEER_TMP/mismatch" && return 0
	done
	why "$(head -20 "$STEER_TMP/mismatch")"
	return 1
}

# sum_series NAME POOL: the sum of a family's samples of one pool
sum_series() {
	scrape | awk -v n="$1" -v p="pool=\"$2\"" '
		index($0, n "{") == 1 && index($0, p) { s += $NF } END { printf "%d\n", s }'
}

write_conf
# a1's check goes to a port of its own: its checks' connections would move
# its counters between a status and a scrape
for w in a1:9101 a1check:9109 a2:9102 a3:9103 a4:9104 b1:9201 b2:9202; do
	start_worker "${w%%:*}" "127.0.0.1:${w##*:}"
done
start_steerd "$STEER_TMP/steer.conf"
wait_until '[ "$(status_code /metrics)" = 200 ]' 10
ok $? "the metrics endpoint answers"

# an operator's pool with a forced circuit and a worker that then dies
steer pool add odd
start_worker o1 127.0.0.1:9301
o1_pid=$LAST_PID
steer worker add odd o1 --addr 127.0.0.1:9301
steer circuit odd open
steer worker drain a3
kill -9 "$o1_pid"
wait_for '[ "$(worker_field o1 state)" = gone ]'
ok $? "o1's listener closed: gone"
wait_for '[ "$(health_of a4)" = 0 ]'
ok $? "a4's check fails: health 0"

# hostile names: the pool's name in the map holds a quote, a backslash, a
# newline and UTF-8 (steerctl refuses to make one; the map takes any bytes)
odd_id=$(bpftool -j map dump pinned "$STEER_BPFFS/steer/maps/pools" 2> /dev/null |
	jq -r '.[] | select(.formatted.value.name == "odd") | .formatted.key' 2> /dev/null)
hostile=$(printf 'q"u\\o\nté')
hex=$(printf '%s' "$hostile" | od -An -tx1 | tr -s ' \n' ' ')
if [ -n "$odd_id" ]; then
	name_hex=$(python3 -c 'import sys; b = bytes(int(x, 16) for x in sys.argv[1].split()); b = (b + bytes(32))[:32]; print(" ".join("0x%02x" % c for c in b))' "$hex")
	cur=$(bpftool -j map lookup pinned "$STEER_BPFFS/steer/maps/pools" key $odd_id 0 0 0 | jq -r '.value | .[32:] | join(" ")')
	bpftool map update pinned "$STEER_BPFFS/steer/maps/pools" key $odd_id 0 0 0 value hex $name_hex $cur
fi
check "the hostile pool name is in the map" bash -c \
	"$STEERCTL -j pool list | jq -e --arg n '$hostile' 'any(.pools[]; .name == \$n)' > /dev/null"

# a scrape: promtool accepts it, hostile labels escaped
sleep 0.5
scrape > "$STEER_TMP/metrics"
promtool check metrics < "$STEER_TMP/metrics" > "$STEER_TMP/promtool" 2>&1
ok $? "promtool check metrics accepts the page $(head -c 300 "$STEER_TMP/promtool")"
check "the hostile name is escaped per the format" \
	grep -qF 'steer_pool_circuit_forced{pool="q\"u\\o\nté"} 1' "$STEER_TMP/metrics"
check "the forced circuit shows open" \
	grep -qF 'steer_pool_circuit_state{pool="q\"u\\o\nté",state="open"} 1' "$STEER_TMP/metrics"
check "a gone worker is one-hot gone" \
	grep -qF 'steer_worker_state{pool="q\"u\\o\nté",worker="o1",state="gone"} 1' "$STEER_TMP/metrics"
check "a1's check has a duration" \
	grep -qE '^steer_worker_check_duration_seconds\{pool="alpha",worker="a1"\} [0-9.e-]+$' "$STEER_TMP/metrics"
check "a1's check is up, a4's down" bash -c \
	"grep -qxF 'steer_worker_check_up{pool=\"alpha\",worker=\"a1\"} 1' '$STEER_TMP/metrics' &&
	 grep -qxF 'steer_worker_check_up{pool=\"alpha\",worker=\"a4\"} 0' '$STEER_TMP/metrics'"
check "a1's resources are sampled" grep -qE '^steer_worker_open_fds\{pool="alpha",worker="a1"\} [1-9]' "$STEER_TMP/metrics"
check "steer_build_info carries the version" grep -qE '^steer_build_info\{version="[0-9.]+"\} 1$' "$STEER_TMP/metrics"
check "health is a ratio in steerctl's text too" bash -c "$STEERCTL worker list | grep -qE '^a1 .* 1\.000 '"

# N connections: the counters move by exactly N
N=300
before_sel=$(sum_series steer_pool_selected_total alpha)
before_st=$(sum_series steer_worker_steered_total alpha)
out=$("$SCLIENT" --connect $SVC4:80 -n $N -c 10)
is "$(client_ok "$out")" "$N 0 0" "$N connections to web, all served"
wait_for 'all_outstanding_zero'
sleep 0.5
is "$(( $(sum_series steer_pool_selected_total alpha) - before_sel ))/$(( $(sum_series steer_worker_steered_total alpha) - before_st ))" \
	"$N/$N" "alpha's selected and its workers' steered grew by $N"
is "$(scrape | grep -c '^steer_worker_steered_total{pool="alpha",worker="a[34]"} 0$')" 2 \
	"the drained and the down worker got none"

# held connections: outstanding in the metrics, then back to 0
"$SCLIENT" --connect $SVC4:81 -n 40 -c 0 --mode hold > /dev/null 2>&1 &
holder=$!
wait_for '[ "$(sum_series steer_worker_outstanding beta)" = 40 ]'
ok $? "40 held connections to api: beta's outstanding is 40 in the metrics"
is "$(scrape | grep -F 'steer_pool_quota_left{pool="beta"}' | awk '{ print $2 }')" 960 "beta's quota left is 1000 - 40"
check "every status field has a series with the same value (held connections)" status_matches
kill "$holder"
wait "$holder" 2> /dev/null
wait_for '[ "$(sum_series steer_worker_outstanding beta)" = 0 ] && [ "$(sum_series steer_worker_pending beta)" = 0 ]'
ok $? "closed: beta's outstanding and pending are 0 in the metrics"
check "every status field has a series with the same value (idle)" status_matches
diag "compared $(jq '[.workers, .pools, .services] | map(length) | add' "$STEER_TMP/status.json") objects"

# an unprivileged user may scrape (the page holds no secret)
check "nobody can scrape" setpriv --reuid nobody --regid nogroup --clear-groups curl -sf -o /dev/null "http://$M/metrics"

# reloads: a good one moves the generation and the hash, a bad one counts as failed
gen0=$(scrape | awk '/^steer_daemon_config_generation /{ print $2 }')
hash0=$(scrape | grep -o 'steer_daemon_config_info{hash="[0-9a-f]*"}')
write_conf 60
kill -HUP "$STEERD_PID"
wait_for '[ "$(worker_field a2 weight)" = 60 ]'
sleep 0.5
is "$(scrape | awk '/^steer_daemon_(reloads|reload_failures)_total /{ printf "%s ", $2 }')$(( $(scrape | awk '/^steer_daemon_config_generation /{ print $2 }') - gen0 ))" \
	"1 0 1" "a good reload: reloads 1, failures 0, generation +1"
check "the config hash changed" test "$(scrape | grep -o 'steer_daemon_config_info{hash="[0-9a-f]*"}')" != "$hash0"
echo 'pools = ( { name = "broken" ' > "$STEER_TMP/steer.conf"
kill -HUP "$STEERD_PID"
wait_for '[ "$(scrape | awk "/^steer_daemon_reload_failures_total /{ print \$2 }")" = 1 ]'
ok $? "a bad file: reload failures 1"
write_conf 60

# /healthz follows the event loop. SIGSTOP stops every thread: nothing
# answers. Stopping the loop's thread alone (ptrace's interrupt stops only
# the thread it seized) leaves the HTTP thread answering /metrics with an
# old page, and /healthz says 503.
cat > "$STEER_TMP/freeze.py" <<'PY'
import ctypes, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
tid = int(sys.argv[1])
if libc.ptrace(PTRACE_SEIZE, tid, None, None) or libc.ptrace(PTRACE_INTERRUPT, tid, None, None):
    sys.exit('ptrace: errno %d' % ctypes.get_errno())
print('frozen', flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))	# exiting detaches: the thread runs on
while True:
    time.sleep(1)
PY
is "$(status_code /healthz)" 200 "/healthz: 200 while the loop runs"
kill -STOP "$STEERD_PID"
sleep 1.5
is "$(status_code /healthz)" 000 "SIGSTOP: /healthz does not answer (every thread is stopped)"
kill -CONT "$STEERD_PID"
wait_until '[ "$(status_code /healthz)" = 200 ]' 5
ok $? "/healthz: 200 again after SIGCONT"
python3 "$STEER_TMP/freeze.py" "$STEERD_PID" > "$STEER_TMP/freeze.out" 2>&1 &
freezer=$!
WORKER_PIDS+=("$freezer")
wait_until 'grep -q frozen "$STEER_TMP/freeze.out"' 5
wait_until '[ "$(status_code /healthz)" = 503 ]' 5
ok $? "the loop's thread stopped: /healthz 503 ($(cat "$STEER_TMP/freeze.out"))"
is "$(status_code /metrics)" 200 "... while the HTTP thread still answers /metrics"
kill "$freezer"
wait "$freezer" 2> /dev/null
wait_until '[ "$(status_code /healthz)" = 200 ]' 5
ok $? "/healthz: 200 again once the loop runs"

# kill -9 and the same again: the kernel's counters carry on in the metrics
sel=$(sum_series steer_pool_selected_total alpha)
kill -9 "$STEERD_PID"
start_steerd "$STEER_TMP/steer.conf"
wait_until '[ "$(status_code /healthz)" = 200 ]' 10
is "$(sum_series steer_pool_selected_total alpha)" "$sel" "after kill -9 and a restart: alpha's selected_total unchanged"
check "every status field has a series with the same value (after the restart)" status_matches

# the alert rules: valid and their unit tests pass
promtool check rules "$RULES/steer-rules.yml" > "$STEER_TMP/rulecheck" 2>&1
ok $? "promtool check rules: $(tr -s '\n ' ' ' < "$STEER_TMP/rulecheck" | head -c 200)"
promtool test rules "$RULES/steer-rules.test.yml" > "$STEER_TMP/ruletests" 2>&1
ok $? "promtool test rules: $(tr -s '\n ' ' ' < "$STEER_TMP/ruletests" | head -c 200)"

# the dashboard: valid for import, and every panel's query answered by a
# real Prometheus scraping steerd each second, with traffic running
jq -e '.uid and .schemaVersion >= 30 and
	(.__inputs | any(.name == "DS_PROMETHEUS")) and
	all(.panels[] | select(.type != "row"); .datasource.uid == "${DS_PROMETHEUS}")' "$DASH" > /dev/null
ok $? "steer.json has Grafana's import fields (uid, schemaVersion, \${DS_PROMETHEUS})"
cat > "$STEER_TMP/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "$RULES/steer-rules.yml" ]
scrape_configs:
  - job_name: steer
    static_configs: [ { targets: [ "$M" ] } ]
YML
prometheus --config.file="$STEER_TMP/prometheus.yml" --storage.tsdb.path="$STEER_TMP/prom" \
	--web.listen-address=$PROM --log.level=warn > "$STEER_TMP/prom.log" 2>&1 &
prom_pid=$!
WORKER_PIDS+=("$prom_pid")
promq() { curl -sf --get "http://$PROM/api/v1/query" --data-urlencode "query=$1"; }
wait_until '[ "$(promq "up{job=\"steer\"}" | jq -r ".data.result[0].value[1]" 2> /dev/null)" = 1 ]' 30
ok $? "Prometheus scrapes steerd (up == 1)"
( while :; do "$SCLIENT" --connect $SVC4:80 -n 20 -c 4 > /dev/null 2>&1
	"$SCLIENT" --connect $SVC4:81 -n 5 -c 1 > /dev/null 2>&1; sleep 0.05; done ) &
traffic=$!
sleep 12	# enough samples for rate() over 10 s
# the pool variable's "All" (a regex that matches names with newlines too)
all_pools=$(jq -r '.templating.list[] | select(.name == "pool") | .allValue' "$DASH")
panels=$STEER_TMP/PANELS.md
{
	echo "# steer.json: its panels and queries, each checked against live metrics"
	echo
	echo "Written by tests/integration/44_metrics.t: a Prometheus scraping steerd every second,"
	echo "with traffic running (two services, three pools, a drained worker, a failing check,"
	echo "a gone worker, a forced circuit, a quota and a rate); \`\$job\` = steer, \`\$pool\` = $all_pools,"
	echo "\`\$__rate_interval\` = 10s. The sample is the first series of the answer."
	echo
	echo "| panel | query | series | sample |"
	echo "|---|---|---|---|"
} > "$panels"
empty=
nq=0
while IFS=$'\t' read -r title expr; do
	q=${expr//\$__rate_interval/10s}
	q=${q//\$job/steer}
	q=${q//\$pool/$all_pools}
	ans=$(promq "$q")
	n=$(jq '.data.result | length' <<< "$ans" 2> /dev/null)
	sample=$(jq -r '.data.result[0] | "\(.metric | del(.__name__, .job, .instance) | to_entries | map("\(.key)=\(.value)") | join(",")) \(.value[1])" | gsub("\n"; "\\n")' <<< "$ans" 2> /dev/null)
	nq=$((nq + 1))
	[ "${n:-0}" -gt 0 ] || empty="$empty [$title] $q;"
	printf '| %s | `%s` | %s | %s |\n' "$title" "${expr//|/\\|}" "${n:-0}" "${sample//|/\\|}" >> "$panels"
done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' "$DASH")
is "${empty:-}" "" "all $nq dashboard queries have a non-empty answer"
alerts=$(curl -sf "http://$PROM/api/v1/rules" | jq -r '[.data.groups[].rules[] | select(.type == "alerting") | "\(.name)=\(.health)"] | join(" ")')
diag "rules loaded by Prometheus: $alerts"
check "Prometheus evaluates every rule without error" bash -c "! grep -q '=err' <<< '$alerts'"
kill "$traffic"
wait "$traffic" 2> /dev/null
[ -n "${STEER_PANELS_OUT:-}" ] && cp "$panels" "$STEER_PANELS_OUT"
kill "$prom_pid"

wait_for 'all_outstanding_zero'
ok $? "all counts back to 0"
done_testing
