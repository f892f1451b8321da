#!/bin/bash
# Global quotas shared by a fleet through Redis (steerd fleet.c, budgets.c):
# three hosts (network namespaces, tests/fleet_lib.sh), each with steer,
# its own steerd and workers, and clients on every host; one Redis.
# Bounds per window: admitted in total <= global_quota, and under load
# >= global_quota - hosts x chunk. Redis killed: nothing refused, the lease
# is spent for lease_ttl_s, then the static share. kill -9 of a steerd:
# the others go on, its lease is not counted twice. Redis paused (SIGSTOP)
# and a host partitioned: no refusal, connect p99 unchanged, the static
# share after the TTL, rejoin. Restarted with another file: its state is
# the file. AUTH: the right password_file joins, a wrong one logs "AUTH
# refused" once and takes the static share; no password in a log.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../fleet_lib.sh"

HOSTS=(h1 h2 h3)
Q=300; Q2=120; CHUNK=20; WINDOW=3600
QR=600; BURST=400	# pool r: an unpaced burst of BURST a host

# ---- bad fleet settings: exit 2 with FILE:LINE: fleet.X ------------------
bad() {	# bad DESC PATTERN CONF-TEXT
	local f=$STEER_TMP/bad.conf out rc
	printf '%s\n' "$3" > "$f"
	out=$("$STEERD" -c "$f" --check 2>&1); rc=$?
	if [ "$rc" = 2 ] && grep -q "$2" <<< "$out"; then ok 0 "bad: $1"; else
		ok 1 "bad: $1"; why "rc=$rc: $out"; fi
}
bad "no redis" "bad.conf:1: fleet: missing required setting 'redis'" 'fleet = { host_id = "a"; };'
bad "bad IP:PORT" "bad.conf:1: fleet.redis:" 'fleet = { redis = "10.0.0.1:70000"; };'
bad "unicode host_id" "bad.conf:1: fleet.host_id:" 'fleet = { redis = "10.0.0.1:1"; host_id = "hé"; };'
bad "newline in host_id" "bad.conf:1: fleet.host_id:" 'fleet = { redis = "10.0.0.1:1"; host_id = "a\nb"; };'
bad "huge chunk" "fleet.chunk: .* out of range" 'fleet = { redis = "10.0.0.1:1"; chunk = 9999999999999L; };'
bad "password_file missing" "bad.conf:1: fleet.password_file: /nonexistent" 'fleet = { redis = "10.0.0.1:1"; password_file = "/nonexistent"; };'
bad "global_quota without a fleet" "pools\[0\].global_quota: needs a fleet block" 'pools = ( { name = "p"; global_quota = 10; } );'
bad "global_quota with quota" "bad.conf:2: pools\[0\].global_quota: excludes quota" \
	"$(printf 'fleet = { redis = "10.0.0.1:1"; };\npools = ( { name = "p"; quota = 5; global_quota = 10; } );')"

# ---- the fleet -------------------------------------------------------------
fleet_redis_start
conf_of() {	# conf_of HOST QUOTA
	local h=$1
	# reconnects back off to 1 s at most: a host rejoins soon after Redis does
	fleet_fleet_block "$h" "chunk = $CHUNK; lease_ttl_s = 2; expected_hosts = 3; backoff_max_ms = 1000;"
	cat <<-EOF
	pools = (
	  { name = "p"; global_quota = $2; window_s = $WINDOW; fallback = "fb";
	    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
	  { name = "q"; global_quota = $Q2; window_s = $WINDOW; static_share = 5; fallback = "fb";
	    workers = ( { name = "w2"; addr = "127.0.0.1:9102"; } ); },
	  { name = "r"; global_quota = $QR; window_s = $WINDOW; fallback = "fb";
	    workers = ( { name = "w3"; addr = "127.0.0.1:9103"; } ); },
	  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
	);
	services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; },
	             { name = "api"; prefix = "$SVC4/32"; port = 81; pool = "q"; },
	             { name = "burst"; prefix = "$SVC4/32"; port = 82; pool = "r"; } );
	EOF
}
for h in "${HOSTS[@]}"; do
	fleet_host_add "$h" w1=127.0.0.1:9101 w2=127.0.0.1:9102 w3=127.0.0.1:9103 f1=127.0.0.1:9201
	conf_of "$h" $Q > "$(fleet_dir "$h")/steer.conf"
	fleet_steerd "$h" "$(fleet_dir "$h")/steer.conf" || bail "steerd on $h did not start"
done
# not in the last minute of the window: the phases below stay in one
wait_until '[ $(( $(fleet_redis_cli TIME | head -1) % WINDOW )) -lt $((WINDOW - 60)) ]' 70
wait_until '[ "$(grep -c "budget from lease" "$(fleet_dir h3)/steerd.log")" -ge 2 ]' 5
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
IDX0=$IDX	# the hosts' first leases were of this window when it is still the same
granted() { fleet_redis_cli GET "steer:{$1}:q:$IDX" | tr -d '\r'; }

# paced_load HOST PORT N OUT: N connections in bursts of 5 every 50 ms
# (about 100 a second: less than half a chunk per 100 ms tick, the rate
# the lower bound is for; a faster burst spills what the next lease
# would have covered)
paced_load() {
	local i out=""
	for i in $(seq $(($3 / 5))); do
		out+=$(in_host "$1" "$SCLIENT" --connect $SVC4:$2 -n 5 -c 5)$'\n'
		sleep 0.05
	done
	awk '$1 == "ok" { o += $2; f += $4; r += $6 } $1 == "worker" { w[$2] += $3 }
		END { print "ok", o, "failed", f, "refused", r; for (k in w) print "worker", k, w[k] }' \
		<<< "$out" > "$4"
}
# load on every host at once: 200 + 100 connections a host
for h in "${HOSTS[@]}"; do
	paced_load "$h" 80 200 "$STEER_TMP/out.$h.p" &
	paced_load "$h" 81 100 "$STEER_TMP/out.$h.q" &
done
wait
sum() {	# sum POOL_WORKER: what the clients of all hosts got from it
	local t=0 h o
	for h in "${HOSTS[@]}"; do
		o=$(client_count "$(cat "$STEER_TMP/out.$h.$2")" "$1"); t=$((t + o))
	done
	echo $t
}
refused=0
for h in "${HOSTS[@]}"; do for k in p q; do
	read -r _ failed ref <<< "$(client_ok "$(cat "$STEER_TMP/out.$h.$k")")"
	refused=$((refused + failed + ref))
done; done
is "$refused" 0 "under load: no connection failed or refused on any host"
adm_p=$(sum w1 p); adm_q=$(sum w2 q); fb=$(( $(sum f1 p) + $(sum f1 q) ))
diag "admitted p=$adm_p (quota $Q) q=$adm_q (quota $Q2), fallback $fb; redis granted p=$(granted p) q=$(granted q)"
[ "$adm_p" -le $Q ] && [ "$adm_p" -ge $((Q - 3 * CHUNK)) ]
ok $? "pool p: $Q - 3 x $CHUNK <= admitted ($adm_p) <= $Q"
[ "$adm_q" -le $Q2 ] && [ "$adm_q" -ge $((Q2 - 3 * CHUNK)) ]
ok $? "pool q: $Q2 - 3 x $CHUNK <= admitted ($adm_q) <= $Q2"
is "$((adm_p + adm_q + fb))" 900 "every connection served: the rest by the fallback pool"
for h in "${HOSTS[@]}"; do
	n=$(client_count "$(cat "$STEER_TMP/out.$h.p")" f1)
	[ "$n" -gt 0 ]; ok $? "$h: its overflow went to the fallback ($n)"
done
[ "$(granted p)" -le $Q ] && [ "$(granted q)" -le $Q2 ]
ok $? "Redis never granted more than the quotas ($(granted p), $(granted q))"
# ---- an unpaced burst: leases grow with the rate the kernel spends them ----
t0=${EPOCHREALTIME/./}
for h in "${HOSTS[@]}"; do
	in_host "$h" "$SCLIENT" --connect $SVC4:82 -n $BURST -c 16 > "$STEER_TMP/out.$h.r" &
done
wait
burst_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
adm_r=0; fb_r=0; bad_r=0
for h in "${HOSTS[@]}"; do
	o=$(cat "$STEER_TMP/out.$h.r")
	adm_r=$((adm_r + $(client_count "$o" w3))); fb_r=$((fb_r + $(client_count "$o" f1)))
	read -r _ failed ref <<< "$(client_ok "$o")"; bad_r=$((bad_r + failed + ref))
done
diag "unpaced burst ($burst_ms ms): admitted r=$adm_r (quota $QR), fallback $fb_r; redis granted r=$(granted r)"
is "$bad_r" 0 "unpaced burst: no connection failed or refused"
[ "$adm_r" -le $QR ] && [ "$adm_r" -ge $((QR - 3 * CHUNK)) ]
ok $? "unpaced burst of $BURST a host: $QR - 3 x $CHUNK <= admitted ($adm_r) <= $QR"
is "$((adm_r + fb_r))" $((3 * BURST)) "unpaced burst: the rest by the fallback pool"

# the metrics, values: every host's leases add up to Redis' count
m() { fleet_metric "$@"; }
sum_metric() {	# sum_metric SERIES: over the hosts
	local h t=0 v
	for h in "${HOSTS[@]}"; do v=$(m "$h" "$1"); t=$((t + ${v:-0})); done
	echo $t
}
sleep 0.5	# a render after the last lease
ups=""; srcs=""
for h in "${HOSTS[@]}"; do
	ups+="$(m "$h" steer_fleet_redis_up) "
	srcs+="$(m "$h" 'steer_pool_budget_source{pool="p",source="lease"}')$(m "$h" 'steer_pool_budget_source{pool="p",source="static_share"}') "
done
is "$ups" "1 1 1 " "metrics: steer_fleet_redis_up is 1 on every host"
is "$srcs" "10 10 10 " "metrics: pool p's budget source is lease, one-hot, on every host"
net() { echo $(( $(sum_metric "steer_fleet_lease_admissions_total{pool=\"$1\"}") -
	$(sum_metric "steer_fleet_lease_returned_total{pool=\"$1\"}") )); }
if [ "$IDX0" = "$IDX" ]; then
	is "$(net p)" "$(granted p)" \
		"metrics: the hosts' lease admissions less returns add up to Redis' count for p"
	is "$(net q)" "$(granted q)" "metrics: and for q"
	is "$(net r)" "$(granted r)" "metrics: and for r"
else
	ok 0 "# SKIP the window changed during the start"; ok 0 "# SKIP likewise"
	ok 0 "# SKIP likewise"
fi
grants=$(sum_metric 'steer_fleet_lease_grants_total{pool="p"}')
[ "$grants" -ge $((Q / CHUNK)) ]; ok $? "metrics: at least $((Q / CHUNK)) lease grants for p ($grants)"
rem=""
for h in "${HOSTS[@]}"; do rem+="$(m "$h" 'steer_fleet_global_remaining{pool="p"}')"$'\n'; done
is "$(grep . <<< "$rem" | sort -n | head -1)" "$((Q - $(granted p)))" \
	"metrics: the last global remaining any host saw is Redis' quota minus its count"
is "$(m h1 'steer_pool_tokens_left{pool="p"}')" "" "metrics: no token series for a pool without tokens"
in_host h1 curl -sf -m 3 "http://$FLEET_METRICS/metrics" > "$STEER_TMP/page"
promtool check metrics < "$STEER_TMP/page" > "$STEER_TMP/promtool" 2>&1
ok $? "promtool accepts a fleet host's page $(head -c 300 "$STEER_TMP/promtool")"
for h in "${HOSTS[@]}"; do
	n=$(steer_on "$h" -j worker list | jq '[.workers[] | .outstanding + .pending] | add')
	wait_until '[ "$(steer_on '"$h"' -j worker list | jq "[.workers[] | .outstanding + .pending] | add")" = 0 ]' 10
	ok $? "$h: counts back to 0"
done

# ---- Redis killed -9 under load ----------------------------------------------
# every host's log from a mark on: a host restarted in one phase has lines
# of that phase the next one must not count
declare -A MARK
mark_logs() { local h; for h in "${HOSTS[@]}"; do MARK[$h]=$(wc -l < "$(fleet_dir "$h")/steerd.log"); done; }
log_since() { tail -n +$((MARK[$1] + 1)) "$(fleet_dir "$1")/steerd.log"; }	# log_since HOST
all_logged() {	# all_logged PATTERN: every host's steerd log has it since mark_logs
	local h
	for h in "${HOSTS[@]}"; do
		log_since "$h" | grep -q "$1" || return 1
	done
}
logged_counts() {	# logged_counts PATTERN: how often each host logged it since the mark
	local h
	for h in "${HOSTS[@]}"; do
		printf '%s:%s ' "$h" "$(log_since "$h" | grep -c "$1")"
	done
}
for h in "${HOSTS[@]}"; do
	in_host "$h" "$SCLIENT" --connect $SVC4:80 -n 150 -c 2 > "$STEER_TMP/out.$h.k" &
done
sleep 0.3
mark_logs
fleet_redis_kill
wait
refused=0
for h in "${HOSTS[@]}"; do
	read -r _ failed ref <<< "$(client_ok "$(cat "$STEER_TMP/out.$h.k")")"
	refused=$((refused + failed + ref))
done
is "$refused" 0 "Redis killed under load: no connection failed or refused"
wait_until 'all_logged "pool p: static share"' 6
ok $? "every host switched to the static share after the lease TTL ($(logged_counts "pool p: static share"))"
sleep 0.3
is "$(m h2 steer_fleet_redis_up)$(m h2 'steer_pool_budget_source{pool="p",source="static_share"}')$(m h2 'steer_pool_budget_source{pool="p",source="lease"}')" \
	"010" "metrics: Redis down, the static share is the source"
out=$(in_host h1 "$SCLIENT" --connect $SVC4:80 -n 150 -c 4)
is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "Redis away: still no refusal"
w=$(client_count "$out" w1)
[ "$w" -le 100 ]; ok $? "Redis away: h1 admits at most its static share ($w, static $((Q / 3)))"
# A start during the outage with nothing in the kernel (new maps): no lease to
# spend, so the static share once Redis has not answered within the start grace,
# not every connection spilled for a lease TTL; and no connection admitted
# before the quota is on (the pool admits nothing until steerd grants).
fleet_steerd_kill h3
steer_on h3 unload && steer_on h3 load --cgroup "$STEER_TEST_CGROUP/h3"
# a lease TTL of 30 s this time: the static share must come long before it
sed 's/lease_ttl_s = 2;/lease_ttl_s = 30;/' "$(fleet_dir h3)/steer.conf" > "$(fleet_dir h3)/steer30.conf"
lines=$(wc -l < "$(fleet_dir h3)/steerd.log")
started=${EPOCHREALTIME/./}
fleet_steerd h3 "$(fleet_dir h3)/steer30.conf" || bail "steerd on h3 did not start again"
is "$(bpftool -j map dump pinned "$(fleet_dir h3)/bpffs/steer/maps/pool_budgets" |
	jq -c '[.[].formatted.value | select(.quota_on == 1)] | length')" 3 \
	"a start on new maps: the three fleet pools' quotas are on as soon as steerd runs"
wait_until 'tail -n +$((lines + 1)) "$(fleet_dir h3)/steerd.log" | grep -q "pool p: static share"' 10
ms=$(( (${EPOCHREALTIME/./} - started) / 1000 ))
# the start grace is 3 s (plus the start); the lease TTL (30 s) is what it would wait without the rule
[ "$ms" -lt 10000 ]
ok $? "a start with Redis away and nothing in the kernel: the static share after the start grace ($ms ms from the spawn, not the lease TTL of 30 s)"
out=$(in_host h3 "$SCLIENT" --connect $SVC4:80 -n 20 -c 2)
is "$(client_ok "$out") $(client_count "$out" w1)" "20 0 0 20" \
	"that start's static share admits (20 of 20 to p's worker, none spilled)"
fleet_steerd_kill h3
fleet_steerd h3 "$(fleet_dir h3)/steer.conf" || bail "steerd on h3 did not start with its file again"

# ---- Redis back: hosts rejoin ----------------------------------------------------
mark_logs
fleet_redis_start
wait_until 'all_logged "pool p: budget from lease"' 8
ok $? "Redis restarted: every host takes leases again ($(logged_counts "pool p: budget from lease"))"
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
g=$(granted p)
[ "${g:-0}" -gt 0 ]; ok $? "the global count resumes in the new Redis ($g)"

# ---- Redis paused (SIGSTOP) and a host partitioned: never a refusal or a delay ----
# lat_p99 HOST N: p99 and p50 in us of N connects to the web service (each reads
# the worker's name and closes, as a client does: no reset for the breaker)
lat_p99() {
	in_host "$1" python3 -c '
import socket, sys, time
n = int(sys.argv[3]); lat = []
for i in range(n):
    s = socket.socket(); t = time.perf_counter(); s.connect((sys.argv[1], int(sys.argv[2])))
    lat.append(time.perf_counter() - t); s.recv(256); s.close()
lat.sort(); print(int(lat[int(0.99 * n) - 1] * 1e6), int(lat[n // 2] * 1e6))' $SVC4 80 "$2" 2>&1
}
# a connection that waited on Redis would take timeout_ms (500 ms) at least: a
# p99 within 2x of before, or under 2 ms (a loaded 2-core machine doubles a
# loopback p99 of 100 us), shows none did
lat_ok() { [ "$1" -le $((2 * $2)) ] || [ "$1" -le 2000 ]; }
read -r before_p99 before_p50 <<< "$(lat_p99 h2 300)"
mark_logs
fleet_redis_pause
read -r p99 p50 <<< "$(lat_p99 h2 300)"
out=$(in_host h1 "$SCLIENT" --connect $SVC4:80 -n 100 -c 4)
is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "Redis paused: no connection failed or refused"
lat_ok "$p99" "$before_p99"
ok $? "Redis paused: connect p99 ${p99} us (p50 $p50) against ${before_p99} us (p50 $before_p50) before"
wait_until 'all_logged "pool p: static share"' 6
ok $? "Redis paused: every host on the static share after the lease TTL ($(logged_counts "pool p: static share"))"
read -r p99 p50 <<< "$(lat_p99 h2 300)"
lat_ok "$p99" "$before_p99"; ok $? "Redis paused, static share: connect p99 ${p99} us (p50 $p50)"
mark_logs
fleet_redis_resume
wait_until 'all_logged "pool p: budget from lease"' 8
r=$?; ok $r "Redis resumed: every host takes leases again ($(logged_counts "pool p: budget from lease"))"
[ $r = 0 ] || for h in "${HOSTS[@]}"; do
	diag "$h's log since the pause: $(log_since "$h" | tail -15)"
done

read -r before_p99 before_p50 <<< "$(lat_p99 h3 300)"
shares=$(grep -c "pool p: static share" "$(fleet_dir h3)/steerd.log")
fleet_partition h3 on
read -r p99 p50 <<< "$(lat_p99 h3 300)"
out=$(in_host h3 "$SCLIENT" --connect $SVC4:80 -n 100 -c 4)
is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "h3 partitioned: no connection failed or refused"
lat_ok "$p99" "$before_p99"
ok $? "h3 partitioned: connect p99 ${p99} us (p50 $p50) against ${before_p99} us (p50 $before_p50) before"
wait_until '[ "$(grep -c "pool p: static share" "$(fleet_dir h3)/steerd.log")" -gt '"$shares"' ]' 6
ok $? "h3 partitioned: the static share after the lease TTL"
is "$(m h1 'steer_pool_budget_source{pool="p",source="lease"}')$(m h2 'steer_pool_budget_source{pool="p",source="lease"}')" \
	11 "h3 partitioned: h1 and h2 go on by lease"
leases=$(grep -c "pool p: budget from lease" "$(fleet_dir h3)/steerd.log")
fleet_partition h3 off
wait_until '[ "$(grep -c "pool p: budget from lease" "$(fleet_dir h3)/steerd.log")" -gt '"$leases"' ]' 8
ok $? "h3 rejoined when its link came back"

# ---- kill -9 of one steerd ----------------------------------------------------------
sleep 0.3	# bursts over: what they gave back is in
before=$(granted p); adm0=$(fleet_pool_sum p selected); held0=$(fleet_pool_sum p quota_left)
held_h1=$(steer_on h1 -j pool list | jq '.pools[] | select(.name == "p") | .quota_left')
fleet_steerd_kill h1 9
out=$(in_host h2 "$SCLIENT" --connect $SVC4:80 -n 50 -c 4)
is "$(client_ok "$out")" "50 0 0" "h1's steerd killed: h2 unaffected"
out=$(in_host h1 "$SCLIENT" --connect $SVC4:80 -n 20 -c 2)
is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "h1 without steerd: the kernel still steers"
fleet_steerd h1 "$(fleet_dir h1)/steer.conf"; ok $? "h1's steerd restarted with the same command"
sleep 1
after=$(granted p)
[ "$after" -le $((before + 50 + 2 * 4 * CHUNK)) ]
ok $? "h1's lease not counted twice ($before -> $after for 70 connections)"
# granted = admitted + held + lost: what the kill lost (its kernel's
# leftover, replaced by the restarted steerd's first lease) <= its lease
lost=$(( after - before - ($(fleet_pool_sum p selected) - adm0) - ($(fleet_pool_sum p quota_left) - held0) ))
[ "$lost" -ge 0 ] && [ "$lost" -le $(( held_h1 > 0 ? held_h1 : 0 )) ]
ok $? "kill -9 loses at most its lease ($lost lost, h1's kernel held $held_h1)"

# ---- a changed file: quota lowered, reload --------------------------------------------
conf_of h2 5 > "$(fleet_dir h2)/steer.conf"
kill -HUP "${FLEET_STEERD_PID[h2]}"
wait_until 'grep -q "reloaded" "$(fleet_dir h2)/steerd.log"' 5; ok $? "h2 reloaded with a lower quota"
out=$(in_host h2 "$SCLIENT" --connect $SVC4:80 -n 120 -c 2)
[ "$(client_count "$out" w1)" -le $((4 * CHUNK)) ]
ok $? "h2 at most its lease (lease_max $((4 * CHUNK))) more under the lowered quota ($(client_count "$out" w1) of 120)"
printf 'fleet = { redis = "bad"; };\n' > "$(fleet_dir h3)/steer.conf"
kill -HUP "${FLEET_STEERD_PID[h3]}"
wait_until 'grep -q "reload refused" "$(fleet_dir h3)/steerd.log"' 5
ok $? "h3: a reload with bad fleet settings is refused"
kill -0 "${FLEET_STEERD_PID[h3]}"; ok $? "h3's steerd runs on with the old config"

# ---- SIGTERM gives back the unspent lease -------------------------------------------------
before=$(granted q)
fleet_steerd_kill h3 TERM
after=$(granted q)
grep -q "unspent admissions back" "$(fleet_dir h3)/steerd.log" && [ "$after" -le "$before" ]
ok $? "SIGTERM: the unspent lease went back ($before -> $after)"
# ---- steerd restarted with a different file: its state equals the file ----------
{	# pool q and its service gone, p's quota raised
	fleet_fleet_block h1 "chunk = $CHUNK; lease_ttl_s = 2; expected_hosts = 3;"
	cat <<-EOF
	pools = (
	  { name = "p"; global_quota = $((Q + 1000)); window_s = $WINDOW; fallback = "fb";
	    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
	  { name = "r"; global_quota = $QR; window_s = $WINDOW; fallback = "fb";
	    workers = ( { name = "w3"; addr = "127.0.0.1:9103"; } ); },
	  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
	);
	services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; },
	             { name = "burst"; prefix = "$SVC4/32"; port = 82; pool = "r"; } );
	EOF
} > "$(fleet_dir h1)/steer2.conf"
fleet_steerd_kill h1 TERM
fleet_steerd h1 "$(fleet_dir h1)/steer2.conf"; ok $? "h1's steerd started with another file (q gone, p's quota $((Q + 1000)))"
in_host h1 "$STEERD" -c "$(fleet_dir h1)/steer2.conf" --check > /dev/null 2>&1; ok $? "that file is valid"
is "$(steer_on h1 -j pool list | jq -c '[.pools[] | [.name, .fallback, .workers, (.quota_left != null)]] | sort')" \
	'[["fb",null,1,false],["p","fb",1,true],["r","fb",1,true]]' \
	"h1: pool list equals the file (q gone; p and r with kernel budgets)"
is "$(steer_on h1 -j service list | jq -c '[.services[].name] | sort')" '["burst","web"]' "h1: its services too"
in_host h1 "$SCLIENT" --connect $SVC4:80 -n 5 -c 1 > /dev/null
wait_until '[ -n "$(m h1 "steer_fleet_global_remaining{pool=\"p\"}")" ]' 3
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
rem=$(m h1 'steer_fleet_global_remaining{pool="p"}')
[ "$rem" -gt 0 ] && [ "$rem" -ge $((Q + 1000 - $(granted p))) ]
ok $? "h1: leases against the new quota ($rem left of $((Q + 1000)), Redis' count $(granted p))"
# ---- the maps replaced under steerd (unload + load): budgets and wake-up on the new ones ----
steer_on h1 unload && steer_on h1 load --cgroup "$STEER_TEST_CGROUP/h1"; ok $? "h1: steer unloaded and loaded again"
wait_until 'grep -q "maps were replaced" "$(fleet_dir h1)/steerd.log"' 10; ok $? "h1: steerd saw its maps replaced"
p_left() { steer_on h1 -j pool list | jq '.pools[] | select(.name == "p") | .quota_left // 0'; }
wait_until '[ "$(p_left)" -gt 0 ]' 5; ok $? "h1: a lease on the new pool_budgets ($(p_left))"
wait_until '[ "$(steer_on h1 -j worker list | jq "[.workers[] | select(.name == \"w1\")] | length")" = 1 ]' 5
out=$(in_host h1 "$SCLIENT" --connect $SVC4:80 -n 100 -c 2)
n=$(client_count "$out" w1)
[ "$n" -gt 0 ] && [ "$(client_ok "$out" | cut -d' ' -f2-)" = "0 0" ]
ok $? "h1: a burst of 100 after the maps were replaced: $n admitted, none refused"
# p leased (half its aim), r spent (its last unit): steerd arms the new map
wake_at=$(bpftool -j map dump pinned "$(fleet_dir h1)/bpffs/steer/maps/pool_budgets" |
	jq -c '[.[].formatted.value | select(.quota_on == 1) | .wake_at] | sort')
jq -e --argjson max $((4 * CHUNK)) 'length == 2 and .[0] >= 1 and .[1] > 1 and .[1] <= $max' \
	<<< "$wake_at" > /dev/null
ok $? "h1: the new pool_budgets has p's and r's wake_at ($wake_at)"

# ---- AUTH end to end -------------------------------------------------------------
PASS='s3cret-Pässword'; WRONG='not-the-password'
printf '%s\n' "$PASS" > "$STEER_TMP/right.pw"; printf '%s\n' "$WRONG" > "$STEER_TMP/wrong.pw"
chmod 600 "$STEER_TMP/right.pw" "$STEER_TMP/wrong.pw"
fleet_redis_kill
FLEET_REDIS_AUTH=$PASS fleet_redis_start --requirepass "$PASS"
export FLEET_REDIS_AUTH=$PASS
withpw() {	# withpw HOST PWFILE: HOST's file with a password_file
	sed "s|host_id = \"$1\";|host_id = \"$1\"; password_file = \"$2\";|" "$(fleet_dir "$1")/steer.conf"
}
withpw h1 "$STEER_TMP/right.pw" > "$(fleet_dir h1)/steer.pw.conf"
withpw h2 "$STEER_TMP/wrong.pw" > "$(fleet_dir h2)/steer.pw.conf"
fleet_steerd_kill h1 TERM
fleet_steerd h1 "$(fleet_dir h1)/steer.pw.conf"; ok $? "h1 started with the right password_file"
wait_until '[ "$(m h1 steer_fleet_redis_up)" = 1 ] && [ "$(m h1 "steer_fleet_lease_grants_total{pool=\"q\"}")" -gt 0 ]' 5
r=$?; ok $r "h1 authenticated: Redis up, it takes leases"
[ $r = 0 ] || diag "$(tail -8 "$(fleet_dir h1)/steerd.log"; m h1 steer_fleet_redis_up)"
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
[ "$(granted q)" -gt 0 ]; ok $? "Redis counts h1's leases ($(granted q) for q)"
before=$(grep -c "AUTH refused" "$(fleet_dir h2)/steerd.log")
fleet_steerd_kill h2 TERM
fleet_steerd h2 "$(fleet_dir h2)/steer.pw.conf"; ok $? "h2 started with a wrong password_file"
wait_until '[ "$(m h2 "steer_pool_budget_source{pool=\"p\",source=\"static_share\"}")" = 1 ]' 5
ok $? "h2: the static share (after the lease it had, if any, for the lease TTL)"
sleep 1.5	# reconnects with backoff: still one line
cmd=$(grep "AUTH refused" "$(fleet_dir h2)/steerd.log" | grep -vc subscriber)
sub=$(grep "AUTH refused" "$(fleet_dir h2)/steerd.log" | grep -c subscriber)
is "$cmd $sub" "$((before + 1)) 1" "h2: 'AUTH refused' logged once (and once for its subscriber)"
is "$(m h2 'steer_pool_budget_source{pool="p",source="static_share"}')$(m h2 steer_fleet_redis_up)" 10 \
	"h2 metrics: static share, Redis down"
out=$(in_host h2 "$SCLIENT" --connect $SVC4:80 -n 20 -c 2)
is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "h2 without AUTH: no refusal"
leak=$(cat "$(fleet_dir h1)/steerd.log" "$(fleet_dir h2)/steerd.log" | grep -c -e "$PASS" -e "$WRONG")
is "$leak" 0 "neither password appears in a log"

# ---- a local quota turned into a global one by a reload ----------------------------------
# h4 has no password: Redis is away for it. What is left of its local quota
# is no lease, so the reload sets the budget to 0 (the start's grace, then
# the static share), never spends the leftover on top of the fleet's quota.
fleet_host_add h4 w1=127.0.0.1:9101 f1=127.0.0.1:9201
lq_conf() {	# lq_conf "quota = N;" | "global_quota = N; window_s = S;"
	fleet_fleet_block h4 "chunk = $CHUNK; lease_ttl_s = 30; expected_hosts = 3; backoff_max_ms = 1000;"
	cat <<-EOF
	pools = (
	  { name = "lq"; $1 fallback = "fb"; workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
	  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
	);
	services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "lq"; } );
	EOF
}
lq_conf "quota = 50;" > "$(fleet_dir h4)/steer.conf"
fleet_steerd h4 "$(fleet_dir h4)/steer.conf"; ok $? "h4 started with a local quota of 50"
out=$(in_host h4 "$SCLIENT" --connect $SVC4:80 -n 10 -c 2)
is "$(client_count "$out" w1)" 10 "h4: 10 of its local quota spent"
# a static share of 1: on a slow host the start's 3 s of grace may be over
lq_conf "global_quota = 1000; window_s = $WINDOW; static_share = 1;" > "$(fleet_dir h4)/steer.conf"
before=$(grep -c "reloaded" "$(fleet_dir h4)/steerd.log")
kill -HUP "${FLEET_STEERD_PID[h4]}"
wait_until '[ "$(grep -c "reloaded" "$(fleet_dir h4)/steerd.log")" -gt '"$before"' ]' 5
ok $? "h4 reloaded: the pool's quota is global now"
left=$(steer_on h4 -j pool list | jq '.pools[] | select(.name == "lq") | .quota_left')
out=$(in_host h4 "$SCLIENT" --connect $SVC4:80 -n 20 -c 2)
w=$(client_count "$out" w1)
[ "$left" -le 1 ] && [ "$w" -le 1 ] && [ "$(client_count "$out" f1)" = $((20 - w)) ]
ok $? "h4, Redis away: the local quota's 40 left are not spent (budget $left, $w of 20 admitted: at most the static share of 1)"
grep -q "pool lq: local quota off; its budget is leased now" "$(fleet_dir h4)/steerd.log"
ok $? "h4 logged the switch"
fleet_no_refused_replies
done_testing
