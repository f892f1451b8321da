#!/bin/bash
# Token budgets (budgets.c, local: no fleet block): tokens_per_min x
# token_window_s / 60 tokens a window; connections report what they cost
# (steerctl report WORKER --ok 1 --tokens N); steerd turns the tokens left
# into admissions at its estimate per connection. The provider's "0 left,
# reset in S" (steerctl pool remaining) spills the next connection.
# Then through Redis: three hosts (tests/fleet_lib.sh) share a token
# budget of T a window; admissions stop within a lease a host of T
# fleet-wide, resume at the window's reset; the provider's 0 on one host
# spills the next connection on every host; Redis away: each host's share
# of T / expected_hosts.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../fleet_lib.sh"

SOCK=$STEER_TMP/steerd.sock
COST=10; WIN=10; TPM=$((60 * 60 / WIN))	# 60 tokens a window: 6 connections at 10
cat > "$STEER_TMP/steer.conf" <<EOC
daemon = { socket = "$SOCK"; interval_ms = 200; metrics = "127.0.0.1:9144"; };
pools = (
  { name = "t"; tokens_per_min = $TPM; token_window_s = $WIN; chunk = 2; fallback = "fb";
    workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
  { name = "u"; fallback = "fb"; workers = ( { name = "w2"; addr = "127.0.0.1:9102"; } ); },
  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
);
services = ( { name = "llm"; prefix = "$SVC4/32"; port = 80; pool = "t"; },
             { name = "plain"; prefix = "$SVC4/32"; port = 81; pool = "u"; } );
EOC
start_worker w1 127.0.0.1:9101
start_worker w2 127.0.0.1:9102
start_worker f1 127.0.0.1:9201
start_steerd "$STEER_TMP/steer.conf"
T0=${EPOCHREALTIME/./}

# one connection, then its report: who served it
one() {
	local out who
	out=$("$SCLIENT" --connect $SVC4:80 -n 1)
	who=$(awk '$1 == "worker" { print $2 }' <<< "$out")
	[ "$who" = w1 ] && steer report w1 --ok 1 --tokens $COST --socket "$SOCK"
	sleep 0.25	# a tick (100 ms) takes it in
	echo "$who"
}
served=""
for i in $(seq 12); do served+="$(one) "; done
adm=$(tr ' ' '\n' <<< "$served" | grep -c '^w1$')
diag "served in order: $served"
[ "$adm" -ge 5 ] && [ "$adm" -le $((6 + 2)) ]
ok $? "admissions stop within one lease of the budget ($adm of 12 at $COST of $((TPM * WIN / 60)) tokens)"
is "$(tr ' ' '\n' <<< "$served" | grep -c '^f1$')" $((12 - adm)) "the rest spilled to the fallback"
metric() { curl -sf -m 3 http://127.0.0.1:9144/metrics |
	awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " { print $2 }'; }
sleep 0.5	# a render
is "$(metric 'steer_pool_tokens_per_connection{pool="t"}')" $COST "metrics: the estimate is $COST tokens a connection"
left=$(metric 'steer_pool_tokens_left{pool="t"}')
[ "$left" -lt $COST ]; ok $? "metrics: less than a connection's tokens left ($left)"
is "$(metric 'steer_pool_budget_source{pool="t",source="local"}')" 1 "metrics: the budget is local"
is "$(metric 'steer_fleet_redis_up')" "" "metrics: no Redis series without a fleet"
given=$(metric 'steer_fleet_lease_admissions_total{pool="t"}')
[ "$given" -ge "$adm" ] && [ "$given" -le $((adm + 2)) ]
ok $? "metrics: admissions given to the kernel ($given) = admitted ($adm), at most a chunk more"
is "$(metric 'steer_pool_tokens_left{pool="u"}')" "" "metrics: no token series for a pool without a budget"
out=$("$SCLIENT" --connect $SVC4:81 -n 20 -c 4)
is "$(client_count "$out" w2)" 20 "another pool without a budget is not touched"

# the window resets: admissions resume
wait_until '[ $(( (${EPOCHREALTIME/./} - T0) / 1000000 )) -ge $((WIN + 1)) ]' $((WIN + 3))
is "$(one)" w1 "a new token window: admitted again"

# the provider says 0 left, reset in 2 s
steer pool remaining t --tokens 0 --reset 2 --socket "$SOCK"; ok $? "pool remaining --tokens 0 --reset 2"
sleep 0.15
is "$(one)" f1 "the next connection spills"
is "$(metric 'steer_pool_budget_source{pool="t",source="provider"}')" 1 "metrics: the provider rules the budget"
sleep 2.2
is "$(one)" w1 "after the reset, admitted again"

# hostile datagrams: ignored with one log line each, steerd runs on
send() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(sys.argv[2].encode("utf-8","surrogateescape"), sys.argv[1])' "$SOCK" "$1"; }
before=$(grep -c "report ignored" "$STEER_TMP/steerd.log")
send "w1 ok 1 errors 0 tokens 99999999999999999999999"
send "w1 ok 1 errors 0 tokens -5"
send "@pool t remaining 1 reset 999999999"
send "@pool t remaining 0 reset"
send "wé ok 1 errors 0 tokens 5"
send "$(head -c 255 /dev/zero | tr '\0' 'x')"
send "@pool nosuch remaining 0 reset 5"
send $'w1 ok 1 errors 0 tokens 5\nw1 ok 1 errors 0 tokens 5'
sleep 0.3
after=$(grep -c "report ignored" "$STEER_TMP/steerd.log")
is "$((after - before))" 7 "7 hostile datagrams ignored (one with a newline is cut there and taken)"
kill -0 "$STEERD_PID"; ok $? "steerd runs on"
sleep 0.3
is "$(one)" w1 "the budget still admits"

# an unprivileged user without write permission on the socket (0660 root)
setpriv --reuid nobody --regid nogroup --clear-groups "$STEERCTL" report w1 --ok 1 --tokens 5 \
	--socket "$SOCK" 2> "$STEER_TMP/nobody.err"
rc=$?
[ "$rc" = 1 ] && grep -q "Permission denied" "$STEER_TMP/nobody.err"
ok $? "nobody cannot report tokens (rc $rc: $(cat "$STEER_TMP/nobody.err"))"
setpriv --reuid nobody --regid nogroup --clear-groups "$STEERCTL" pool remaining t --tokens 0 \
	--reset 5 --socket "$SOCK" 2> /dev/null
is "$?" 1 "nor tell the provider's tokens"

# kill -9, then the same command
kill -9 "$STEERD_PID"
wait_until '! kill -0 "$STEERD_PID" 2> /dev/null' 5
restart_steerd "$STEER_TMP/steer.conf"; ok $? "steerd killed -9 and started again with the same command"
is "$(one)" w1 "its budget admits again"
# ---- tokens through Redis: three hosts, one budget ----------------------------
FH=(h1 h2 h3); FW=20; FT=300; FTPM=$((FT * 60 / FW)); FCHUNK=2	# 30 connections at $COST
fleet_redis_start
for h in "${FH[@]}"; do
	fleet_host_add "$h" w1=127.0.0.1:9101 f1=127.0.0.1:9201
	cat > "$(fleet_dir "$h")/steer.conf" <<EOC
$(fleet_fleet_block "$h" "lease_ttl_s = 2; expected_hosts = 3;")
pools = (
  { name = "t"; tokens_per_min = $FTPM; token_window_s = $FW; chunk = $FCHUNK; lease_max = $FCHUNK;
    fallback = "fb"; workers = ( { name = "w1"; addr = "127.0.0.1:9101"; } ); },
  { name = "fb"; workers = ( { name = "f1"; addr = "127.0.0.1:9201"; } ); }
);
services = ( { name = "llm"; prefix = "$SVC4/32"; port = 80; pool = "t"; } );
EOC
	fleet_steerd "$h" "$(fleet_dir "$h")/steer.conf" || bail "steerd on $h did not start"
done
# one_on HOST: one connection on HOST, reported at $COST tokens when admitted
one_on() {
	local who
	who=$(in_host "$1" "$SCLIENT" --connect $SVC4:80 -n 1 | awk '$1 == "worker" { print $2 }')
	[ "$who" = w1 ] && steer_on "$1" report w1 --ok 1 --tokens $COST
	echo "$who"
}
rtime() { fleet_redis_cli TIME | head -1; }
# a round on every host: who served each
round() { local h; for h in "${FH[@]}"; do echo -n "$(one_on "$h") "; done; }
# the phases below in one window: start within its first 2 s
wait_until '[ $(( $(rtime) % FW )) -lt 2 ]' $((FW + 2))
FIDX=$(( $(rtime) / FW ))
served=""
for i in $(seq 14); do served+="$(round)"; sleep 0.05; done
fadm=$(tr ' ' '\n' <<< "$served" | grep -c '^w1$')
count=$(fleet_redis_cli GET "steer:{t}:t:$FIDX" | tr -d '\r')
diag "fleet: served $served; Redis count $count"
if [ "$(( $(rtime) / FW ))" = "$FIDX" ]; then
	[ "$fadm" -ge $((FT / COST - 3 * FCHUNK)) ] && [ "$fadm" -le $((FT / COST + 3 * FCHUNK)) ]
	ok $? "fleet: admissions stop within a lease a host of $((FT / COST)) ($fadm of 42 at $COST of $FT tokens)"
	[ "${count:-0}" -le $((FT + 3 * FCHUNK * COST)) ] && [ "${count:-0}" -ge $((FT - 3 * FCHUNK * COST)) ]
	ok $? "fleet: Redis counted the fleet's tokens ($count of $FT)"
else
	ok 0 "# SKIP the token window changed during the phase"; ok 0 "# SKIP likewise"
fi
is "$(tr ' ' '\n' <<< "$served" | grep -c '^f1$')" $((42 - fadm)) "fleet: the rest spilled to the fallback"
per=$(tr ' ' '\n' <<< "$served" | grep . | awk '{ h = (NR - 1) % 3; n[h " " $1]++ }
	END { for (h = 0; h < 3; h++) printf "%d/%d ", n[h " w1"], n[h " f1"] }')
diag "fleet: admitted/spilled per host: $per"
! grep -qE '(^| )(0/[0-9]+|[0-9]+/0) ' <<< "$per"; ok $? "fleet: every host admitted some and spilled some ($per)"
is "$(fleet_metric h2 'steer_pool_budget_source{pool="t",source="lease"}')" 1 "fleet: metrics: h2's tokens come by lease"
rem=$(fleet_metric h3 'steer_fleet_global_remaining{pool="t"}')
[ -n "$rem" ] && [ "$rem" -lt $((3 * FCHUNK * COST)) ]; ok $? "fleet: metrics: the fleet's tokens left on h3 ($rem)"

# the window's reset: every host admits again
wait_until '[ $(( $(rtime) / FW )) -gt '"$FIDX"' ]' $((FW + 2))
sleep 0.3	# the new window's lease
is "$(round)" "w1 w1 w1 " "fleet: a new token window: admitted again on every host"

# the provider's 0 on h1: every host spills until its reset
prov() { grep -c "pool t: budget from provider" "$(fleet_dir h3)/steerd.log"; }
prov0=$(prov)
steer_on h1 pool remaining t --tokens 0 --reset 3; ok $? "h1: pool remaining --tokens 0 --reset 3"
pttl=$(fleet_redis_cli PTTL "steer:{t}:spill" | tr -d '\r')
[ "${pttl:-0}" -gt 2000 ]; ok $? "the spill is in Redis with the reset's TTL ($pttl ms)"
sleep 0.3	# a tick of every host's script
is "$(round)" "f1 f1 f1 " "fleet: the provider's 0 on h1 spills the next connection on every host"
# the log, not the metric: on a loaded host the 3 s may be over by now,
# and h3's metric back on "lease" as it should be
[ "$(prov)" -gt "$prov0" ]; ok $? "fleet: h3 took its budget from the provider's word (log)"
wait_until '[ "$(fleet_redis_cli PTTL "steer:{t}:spill" | tr -d "\r")" -lt 0 ]' 5
sleep 0.3
is "$(round)" "w1 w1 w1 " "fleet: after the reset, admitted again on every host"

# Redis away: each host its share, T / expected_hosts a window
leases=$(grep -c "pool t: budget from lease" "$(fleet_dir h2)/steerd.log")
fleet_redis_kill
fall() { local h; for h in "${FH[@]}"; do grep -q "pool t: budget from local (Redis unreachable" "$(fleet_dir "$h")/steerd.log" || return 1; done; }
wait_until fall 6; ok $? "Redis killed: every host falls back to its local share after the lease TTL"
served=""
for i in $(seq 16); do served+="$(one_on h2) "; done
n=$(tr ' ' '\n' <<< "$served" | grep -c '^w1$')
[ "$n" -ge $((FT / 3 / COST - 1)) ] && [ "$n" -le $((FT / 3 / COST + FCHUNK)) ]
ok $? "Redis away: h2 admits its share of $((FT / 3)) tokens ($n at $COST of 16; $served)"
is "$(tr ' ' '\n' <<< "$served" | grep -c '^f1$')" $((16 - n)) "Redis away: the rest spilled, none refused"
is "$(fleet_metric h2 'steer_pool_budget_source{pool="t",source="local"}')" 1 "fleet: metrics: h2's budget is local"
fleet_redis_start
wait_until '[ "$(grep -c "pool t: budget from lease" "$(fleet_dir h2)/steerd.log")" -gt '"$leases"' ]' 5
ok $? "Redis back: h2 takes leases again"
n=$(grep -c "pool t: budget from" "$(fleet_dir h1)/steerd.log")
[ "$n" -le 8 ]; ok $? "h1 logged each change of its budget's source once ($n lines)"
check_invariants
fleet_no_refused_replies
done_testing
