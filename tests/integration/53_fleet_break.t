#!/bin/bash
# Adversary tests for the fleet (issue 11): a hostile Redis (a fake server,
# tests/fake_redis.py, in Redis' namespace), a Redis that hangs, slows,
# restarts empty or with another password, a partition; kill -9 and reload
# storms under load; bad fleet settings. Invariants: steerd never dies,
# never blocks (its metrics and reloads answer), no connection is refused,
# admissions per window <= global_quota, circuits open only by the rule.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../fleet_lib.sh"
FAKE=$(cd "$(dirname "$0")/.." && pwd)/fake_redis.py
CIRC='circuit = { threshold = 0.05; window_s = 5; min_requests = 20; cooldown_s = 2; half_open_probes = 2; };'

# ---- hostile Redis: a fake server answering garbage ------------------------
fleet_ns redis "$FLEET_REDIS_IP"
if [ -z "${SKIP1:-}" ]; then
FAKE_PID=
fake() {	# fake MODE: (re)start the fake Redis in MODE
	[ -n "$FAKE_PID" ] && { kill -9 "$FAKE_PID"; wait "$FAKE_PID"; } 2> /dev/null
	local fifo=$STEER_TMP/fake.ready line
	rm -f "$fifo"; mkfifo "$fifo"
	nsenter --net="/proc/${FLEET_HOLDER[redis]}/ns/net" python3 "$FAKE" "$1" "$FLEET_REDIS_IP" \
		"$FLEET_REDIS_PORT" main > "$fifo" 2>> "$STEER_TMP/fake.log" &
	FAKE_PID=$!
	read -r -t 5 line < "$fifo" || bail "fake redis $1 did not start"
}
fleet_host_add H w1=127.0.0.1:9101 w2=127.0.0.1:9102 b1=127.0.0.1:9201
cat > "$(fleet_dir H)/steer.conf" <<CONF
$(fleet_fleet_block H "circuit_hosts = 2; circuit_ttl_ms = 1500; backoff_max_ms = 200; timeout_ms = 300;")
pools = (
  { name = "main"; fallback = "basic"; $CIRC
    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; resources = false; } ); },
  { name = "gq"; global_quota = 100000; window_s = 60; static_share = 1000; fallback = "basic";
    workers = ( { name = "w2"; addr = "127.0.0.1:9102"; resources = false; } ); },
  { name = "basic";
    workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; },
             { name = "gq"; prefix = "$SVC4/32"; port = 81; pool = "gq"; } );
CONF
fake spont
fleet_steerd H "$(fleet_dir H)/steer.conf" || bail "steerd on H did not start: $(tail -3 "$(fleet_dir H)/steerd.log" | tr "\n" " ")"
alive() { kill -0 "${FLEET_STEERD_PID[H]}" 2> /dev/null; }
scrape() { in_host H curl -sf -m 2 http://127.0.0.1:9144/metrics; }
circ() { steer_on H -j pool list | jq -r '.pools[] | select(.name == "main") | if .circuit_fleet == 1 then "fleet-open" else .circuit end'; }
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
gq_left() { steer_on H -j pool list | jq '.pools[] | select(.name == "gq") | .quota_left'; }
refusals() { grep -c "pool gq: a lease reply out of range refused" "$(fleet_dir H)/steerd.log"; }
for mode in spont sub_short sub_types garbage huge bigarray negative maxint overcharge wrongtype closemid flood; do
	fake $mode
	c0=$(cpu_of "${FLEET_STEERD_PID[H]}")
	sleep 1.5
	c1=$(cpu_of "${FLEET_STEERD_PID[H]}")
	case $mode in negative|maxint|overcharge)
		# gq's budget spent, so leases are asked: grants < 0 or above
		# what was asked, ms or windows < 0, a carry charged above the
		# one sent are refused, and the
		# kernel's budget is only what it held (Redis away)
		l0=$(gq_left)
		out=$(in_host H "$SCLIENT" --connect $SVC4:81 -n 40 -c 2)
		sleep 0.5
		l1=$(gq_left); w=$(client_count "$out" w2)
		[ "$w" = $((l0 > 0 ? l0 : 0)) ] && [ "$l1" -le 0 ] && [ "$l1" -ge -40 ]
		ok $? "fake Redis '$mode': gq admits only what its kernel held ($w of 40, held $l0, now $l1)"
		is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "fake Redis '$mode': gq refuses nothing"
		is "$(refusals)" 1 "fake Redis '$mode': the refusal logged once (for the three modes, not per reply)"
	esac
	[ $((c1 - c0)) -lt 100 ]; ok $? "fake Redis '$mode': steerd does not spin ($((c1 - c0)) ticks in 1.5 s)"
	alive; ok $? "fake Redis '$mode': steerd still runs"
	[ -n "$(scrape)" ]; ok $? "fake Redis '$mode': metrics answer"
	is "$(circ)" closed "fake Redis '$mode': main's circuit not opened by it"
	out=$(in_host H "$SCLIENT" --connect $SVC4:80 -n 20 -c 4)
	is "$(client_ok "$out")" "20 0 0" "fake Redis '$mode': nothing refused"
	alive || { why "$(tail -20 "$(fleet_dir H)/steerd.log")"; fleet_steerd H "$(fleet_dir H)/steer.conf"; }
done
fleet_steerd_kill H TERM
[ -n "$FAKE_PID" ] && kill -9 "$FAKE_PID" 2> /dev/null
if grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error" "$(fleet_dir H)/steerd.log"; then
	ok 1 "fake Redis: no sanitizer report"; why "$(grep -A5 Sanitizer "$(fleet_dir H)/steerd.log" | head -20)"
else ok 0 "fake Redis: no sanitizer report"; fi
fi

# ---- the bound under kill -9, restart storms and reload storms -------------
fleet_redis_start
Q=300; CHUNK=10; WINDOW=3600; SQ=30; STATIC=50; TQ=24
conf_of() {	# conf_of HOST [CHUNK]
	fleet_fleet_block "$1" "chunk = ${2:-$CHUNK}; lease_ttl_s = 1; expected_hosts = 3; timeout_ms = 300; backoff_max_ms = 300;"
	cat <<-EOF
	pools = (
	  { name = "p"; global_quota = $Q; window_s = $WINDOW; fallback = "fb";
	    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
	  { name = "s"; global_quota = $SQ; window_s = $WINDOW; static_share = $STATIC; fallback = "fb";
	    workers = ( { name = "w2"; addr = "127.0.0.1:9102"; } ); },
	  { name = "t"; global_quota = $TQ; window_s = 2; chunk = 4; fallback = "fb";
	    workers = ( { name = "w3"; addr = "127.0.0.1:9103"; } ); },
	  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
	);
	services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "p"; },
	             { name = "st"; prefix = "$SVC4/32"; port = 81; pool = "s"; },
	             { name = "tw"; prefix = "$SVC4/32"; port = 82; pool = "t"; } );
	EOF
}
HOSTS=(h1 h2 h3)
for h in "${HOSTS[@]}"; do
	fleet_host_add "$h" w1=127.0.0.1:9101 w2=127.0.0.1:9102 w3=127.0.0.1:9103 f1=127.0.0.1:9201
	conf_of "$h" > "$(fleet_dir "$h")/steer.conf"
	fleet_steerd "$h" "$(fleet_dir "$h")/steer.conf" || bail "steerd on $h did not start"
done
wait_until '[ $(( $(fleet_redis_cli TIME | head -1) % WINDOW )) -lt $((WINDOW - 90)) ]' 95
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
granted() { fleet_redis_cli GET "steer:{$1}:q:$IDX" | tr -d '\r'; }
selected() {	# selected POOL: the kernel's admissions to POOL on every host, summed
	local h t=0 n per=""
	for h in "${HOSTS[@]}"; do
		n=$(steer_on "$h" -j pool list | jq --arg p "$1" '.pools[] | select(.name == $p) | .selected')
		t=$((t + n)); per+="$h $n "
	done
	echo $t
}
start_h() { fleet_steerd "$1" "$(fleet_dir "$1")/steer.conf" || why "steerd on $1 did not start: $(tail -3 "$(fleet_dir "$1")/steerd.log")"; }
load() {	# load HOST PORT SECONDS OUT
	local end=$((SECONDS + $3)) out=""
	while [ $SECONDS -lt $end ]; do
		out+=$(in_host "$1" "$SCLIENT" --connect $SVC4:$2 -n 6 -c 3)$'\n'
		sleep 0.03
	done
	awk '$1 == "ok" { o += $2; f += $4; r += $6 } END { print "ok", o, "failed", f, "refused", r }' <<< "$out" > "$4"
}
# a host that saw no Redis answer for the lease TTL takes its static share
# (Q / 3 = 100): the README's bound then is Redis's grants plus those
statics() { cat "$(fleet_dir h1)/steerd.log" "$(fleet_dir h2)/steerd.log" "$(fleet_dir h3)/steerd.log" | grep -c "pool p: static share"; }
statics0=$(statics)
for h in "${HOSTS[@]}"; do load "$h" 80 8 "$STEER_TMP/chaos.$h" & done
# h2: a SIGHUP storm; h3: reloads that change chunk under load
( for i in $(seq 30); do kill -HUP "${FLEET_STEERD_PID[h2]}"; sleep 0.1; done ) &
( for c in 5 20 1 10 3 10; do conf_of h3 "$c" > "$(fleet_dir h3)/steer.conf"; kill -HUP "${FLEET_STEERD_PID[h3]}"; sleep 0.6; done ) &
# h1: kill -9 at random moments, then the same command again (a storm of 6)
for i in 1 2 3 4 5 6; do sleep "0.$((RANDOM % 9 + 1))"; fleet_steerd_kill h1 9; start_h h1; done
wait
refused=0
for h in "${HOSTS[@]}"; do
	read -r _ o _ f _ r < "$STEER_TMP/chaos.$h"; refused=$((refused + f + r))
done
is "$refused" 0 "chaos (kill -9 storm, SIGHUP storm, chunk reloads) under load: nothing refused"
adm=$(selected p); g=$(granted p)
ns=$(( $(statics) - statics0 ))
diag "pool p under chaos: admitted $adm, Redis counted $g, quota $Q, static shares taken $ns"
[ "$adm" -le $((Q + ns * Q / 3)) ]; ok $? "chaos: admissions ($adm) <= global_quota ($Q) + static shares ($ns x $((Q / 3)))"
[ "$adm" -le $((g + ns * Q / 3)) ]; ok $? "chaos: admissions ($adm) <= what Redis granted ($g) + static shares ($ns x $((Q / 3)))"
if [ "$adm" -gt "$g" ] || [ "$ns" -gt 0 ]; then	# why: each host's log of the phase
	for h in "${HOSTS[@]}"; do
		grep -n "running:\|pool p:\|redis\|Redis" "$(fleet_dir "$h")/steerd.log" | tail -20 | sed "s/^/# $h: /"
	done
fi
for h in h2 h3; do kill -0 "${FLEET_STEERD_PID[$h]}"; ok $? "$h's steerd survived its reload storm"; done

# the quota is spent now: a steerd started again, or reloaded with a
# changed fleet block, must not admit anything more to p
spent_probe() {	# spent_probe HOST ACTION: p's admissions on HOST during ACTION under load
	local b a
	b=$(steer_on "$1" -j pool list | jq '.pools[] | select(.name == "p") | .selected')
	load "$1" 80 2 "$STEER_TMP/probe.$1" > /dev/null &
	sleep 0.3; eval "$2"; wait
	a=$(steer_on "$1" -j pool list | jq '.pools[] | select(.name == "p") | .selected')
	N=$((a - b))
}
spent_probe h1 'fleet_steerd_kill h1 9; start_h h1'; n=$N
is "$n" 0 "quota spent: a steerd killed -9 and started again admits nothing more ($n)"
spent_probe h3 'conf_of h3 7 > "$(fleet_dir h3)/steer.conf"; kill -HUP ${FLEET_STEERD_PID[h3]}; sleep 0.5'; n=$N
is "$n" 0 "quota spent: a reload that changes the fleet block admits nothing more ($n)"
spent_probe h2 'kill -HUP ${FLEET_STEERD_PID[h2]}; sleep 0.5'; n=$N
is "$n" 0 "quota spent: a plain reload admits nothing more ($n)"

# ---- windows turning over under load (window_s = 2, quota $TQ) --------------
# Redis' count of every window seen, its highest value; admitted in total <= their sum
b=$(selected t)
for h in "${HOSTS[@]}"; do load "$h" 82 5 "$STEER_TMP/tw.$h" & done
: > "$STEER_TMP/tw.keys"
for i in $(seq 14); do
	for k in $(fleet_redis_cli --scan --pattern 'steer:{t}:q:*' | tr -d '\r'); do
		echo "$k $(fleet_redis_cli GET "$k" | tr -d '\r')" >> "$STEER_TMP/tw.keys"
	done
	sleep 0.4
done
wait
sleep 0.3
for k in $(fleet_redis_cli --scan --pattern 'steer:{t}:q:*' | tr -d '\r'); do
	echo "$k $(fleet_redis_cli GET "$k" | tr -d '\r')" >> "$STEER_TMP/tw.keys"
done
adm=$(( $(selected t) - b ))
read -r wins counted <<< "$(awk 'NF == 2 && $2 != "" { if ($2 > m[$1]) m[$1] = $2 } END { for (k in m) { n++; s += m[k] } print n + 0, s + 0 }' "$STEER_TMP/tw.keys")"
diag "pool t: $adm admitted over $wins windows that Redis counted $counted (quota $TQ a window)"
[ "$adm" -le "$counted" ] && [ "$counted" -le $((wins * TQ)) ]
ok $? "windows turning over: admitted ($adm) <= Redis counted ($counted) <= windows x quota ($wins x $TQ)"

# ---- a restart that finds a static share in the kernel -----------------------
# Redis away for the lease TTL: h1 spends its static share of pool s ($STATIC
# a window); kill -9; Redis back; the same command again. The kernel's left
# over static share is no lease, yet it is spent on top of the leases:
# admissions above global_quota.
for h in h2 h3; do fleet_steerd_kill "$h" 9; done
fleet_redis_kill
left_s() { steer_on h1 -j pool list | jq '.pools[] | select(.name == "s") | .quota_left'; }
wait_until '[ "$(left_s)" = '$STATIC' ]' 5
ok $? "Redis away for the lease TTL: h1's kernel holds the static share of s ($(left_s))"
fleet_steerd_kill h1 9
fleet_redis_start
start_h h1
sleep 1	# leases taken again
diag "after the restart, the kernel holds $(left_s) for s"
IDX=$(( $(fleet_redis_cli TIME | head -1) / WINDOW ))
out=$(in_host h1 "$SCLIENT" --connect $SVC4:81 -n 150 -c 3)
w=$(client_count "$out" w2)
[ "$w" -le $SQ ]; ok $? "restart over a static share: pool s admits at most its global_quota ($w <= $SQ)"
before=$(granted s)
fleet_steerd_kill h1 TERM
after=$(granted s)
[ "${after:-0}" -ge "$w" ]
ok $? "SIGTERM gives back only what it was granted: Redis still counts >= admitted ($before -> $after, admitted $w)"

# ---- Redis hung, paused, partitioned, with another password -----------------
# steerd must answer its metrics and reloads at once whatever Redis does,
# and no connection is refused.
conf_of h1 > "$(fleet_dir h1)/steer.conf"
start_h h1
wait_until 'grep -c "pool p: budget from lease" "$(fleet_dir h1)/steerd.log" | grep -q "^[2-9]"' 5
ms_of() { local t0=$(date +%s%N); "$@" > /dev/null 2>&1; echo $(( ($(date +%s%N) - t0) / 1000000 )); }
scrape1() { in_host h1 curl -sf -m 3 http://127.0.0.1:9144/metrics; }
reload1() {	# SIGHUP h1, wait for its "reloaded"
	local n
	n=$(grep -c reloaded "$(fleet_dir h1)/steerd.log")
	kill -HUP "${FLEET_STEERD_PID[h1]}"
	wait_until '[ "$(grep -c reloaded "$(fleet_dir h1)/steerd.log")" -gt '"$n"' ]' 3
}
unresponsive() {	# unresponsive WHAT: steerd answers, nothing refused, while WHAT
	local m r out
	sleep 0.4	# a command is out and waits for its timeout
	m=$(ms_of scrape1); r=$(ms_of reload1)
	[ "$m" -lt 250 ] && [ "$r" -lt 700 ]
	ok $? "$1: metrics in $m ms, a reload in $r ms"
	out=$(in_host h1 "$SCLIENT" --connect $SVC4:80 -n 30 -c 3)
	is "$(client_ok "$out" | cut -d' ' -f2-)" "0 0" "$1: nothing refused"
	kill -0 "${FLEET_STEERD_PID[h1]}"; ok $? "$1: steerd runs"
}
fleet_redis_pause; unresponsive "Redis SIGSTOPped"; fleet_redis_resume
fleet_redis_cli CLIENT PAUSE 2000 > /dev/null; unresponsive "Redis CLIENT PAUSE 2000"
sleep 1.7
fleet_redis_cli EVAL "local t = redis.call('TIME') while true do local u = redis.call('TIME') if (u[1] - t[1]) * 1000000 + u[2] - t[2] > 1500000 then break end end return 1" 0 > /dev/null &
LUA=$!
unresponsive "Redis busy in a 1.5 s script"
wait "$LUA"
fleet_partition h1 on; unresponsive "h1 partitioned (its veth down)"; fleet_partition h1 off
# Redis restarted with a password h1 does not have, then with the wrong one
fleet_redis_kill
FLEET_REDIS_AUTH=right-one fleet_redis_start --requirepass right-one
unresponsive "Redis restarted with a password h1 lacks"
printf 'wrong-s3cret\n' > "$STEER_TMP/pw"; chmod 600 "$STEER_TMP/pw"
sed -i 's|host_id = "h1";|host_id = "h1"; password_file = "'"$STEER_TMP/pw"'";|' "$(fleet_dir h1)/steer.conf"
reload1; unresponsive "h1 with the wrong password"
! grep -q "wrong-s3cret" "$(fleet_dir h1)/steerd.log"; ok $? "the password is never in the log"
n=$(grep -c "redis" "$(fleet_dir h1)/steerd.log")
sleep 2
m=$(grep -c "redis" "$(fleet_dir h1)/steerd.log")
[ $((m - n)) -le 2 ]; ok $? "AUTH refused: one line per outage, not per retry ($((m - n)) in 2 s)"
printf 'right-one\n' > "$STEER_TMP/pw"; reload1
wait_until 'grep -q "^<5>redis.*: up$" <(tail -5 "$(fleet_dir h1)/steerd.log")' 5
ok $? "the right password (reloaded): h1 is up again"

# ---- a reload with bad fleet settings keeps the running config -------------
cp "$(fleet_dir h1)/steer.conf" "$STEER_TMP/good.conf"
before=$(steer_on h1 -j pool list | jq -c '[.pools[] | [.name, .quota_on]]')
opened=$(grep -c "fleet: host h1" "$(fleet_dir h1)/steerd.log")
good=$(cat "$STEER_TMP/good.conf")
nl=$'\n'
for bad in 'key_prefix = "a b";' 'host_id = "hé";' "host_id = \"a${nl}b\";" 'circuit_ttl_ms = 0;' \
	   'password_file = "/nonexistent";' "key_prefix = \"$(printf 'k%.0s' $(seq 70))\";" \
	   'timeout_ms = 99999999999;' "redis = \"$FLEET_REDIS${nl}\";" 'circuit_hosts = -1;'; do
	key=${bad%% =*}
	if [[ $good == *" $key = "* ]]; then
		conf=$(sed "s|\( $key = \)[^;]*;| @BAD@|" <<< "$good")
	else
		conf=$(sed "s|fleet = { |fleet = { @BAD@ |" <<< "$good")
	fi
	printf '%s\n' "${conf/@BAD@/$bad}" > "$(fleet_dir h1)/steer.conf"
	bad=${bad//$nl/\\n}
	out=$(in_host h1 "$STEERD" -c "$(fleet_dir h1)/steer.conf" --check 2>&1); rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <<< "$out")" = 1 ]; ok $? "--check '$bad': exit 2, one line ($rc: $out)"
	n=$(grep -c "reload refused" "$(fleet_dir h1)/steerd.log")
	kill -HUP "${FLEET_STEERD_PID[h1]}"
	wait_until '[ "$(grep -c "reload refused" "$(fleet_dir h1)/steerd.log")" -gt '"$n"' ]' 3
	ok $? "reload with '$bad' refused"
done
cp "$STEER_TMP/good.conf" "$(fleet_dir h1)/steer.conf"
is "$(steer_on h1 -j pool list | jq -c '[.pools[] | [.name, .quota_on]]')" "$before" "the running pools unchanged"
is "$(grep -c "fleet: host h1" "$(fleet_dir h1)/steerd.log")" "$opened" "the fleet connections kept (not reopened)"

# ---- an unprivileged user and the report socket (socket_mode 0660) ---------
sed -i 's|socket_mode = "0666";|socket_mode = "0660";|' "$(fleet_dir h1)/steer.conf"
reload1
nobody() { in_host h1 setpriv --reuid nobody --regid nogroup --clear-groups "$STEERCTL" "$@"; }
nobody report w1 --errors 500 > /dev/null 2>&1; r1=$?
nobody pool remaining s --tokens 0 --reset 60 > /dev/null 2>&1; r2=$?
[ "$r1" != 0 ] && [ "$r2" != 0 ]; ok $? "nobody cannot report errors or a provider's 0 (exit $r1, $r2)"
sleep 0.5
is "$(fleet_redis_cli -a right-one zrange 'steer:{p}:open' 0 -1 | tr -d '\r')" "" "no circuit published for h1 by nobody"
fleet_steerd_kill h1 TERM
for h in h1; do
	grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error" "$(fleet_dir $h)/steerd.log"
	[ $? != 0 ]; ok $? "$h: no sanitizer report"
done
done_testing
