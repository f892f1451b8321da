#!/bin/bash
# steerd's own settings: a SIGHUP applies daemon.metrics, daemon.socket (its
# group and mode) and the maintenance responder, keeps the old one when the
# new one cannot be had, and never says "reloaded" then; who may report; the
# metrics endpoint against a local user holding connections; what an
# unprivileged user is told.
source "$(dirname "$0")/../lib.sh"

chmod 711 "$STEER_TMP"	# others may pass to the socket; the socket's mode decides
mkdir -m 755 "$STEER_TMP/run"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
OTHER=(setpriv --reuid=65534 --regid=1 --clear-groups)	# nobody, not in the socket's group
GROUP=$(getent group 65534 | cut -d: -f1)

write_conf() {	# write_conf METRICS SOCKET MODE MAINT_LISTEN BODY
	cat > "$STEER_TMP/steer.conf" <<CONF
daemon = { interval_ms = 100; metrics = "$1"; socket = "$2";
           socket_group = "$GROUP"; socket_mode = "$3"; };
maintenance = { listen = "$4"; retry_after = 7; body = "$5"; };
pools = (
  { name = "main"; fallback = "maintenance";
    circuit = { threshold = 0.05; window_s = 3; min_requests = 50; cooldown_s = 60; };
    workers = ( { name = "m1"; addr = "127.0.0.1:9101"; resources = false; } ); }
);
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "main"; } );
CONF
}
# hup: SIGHUP, then wait until steerd has logged the outcome of it
# (its last line: "reloaded FILE", "reload: WHY" or "reload refused ...")
hup() {
	local n
	n=$(wc -l < "$STEER_TMP/steerd.log")
	kill -HUP "$STEERD_PID"
	wait_for "tail -n +$((n + 1)) '$STEER_TMP/steerd.log' | grep -q '^<[0-9]>reload'" ||
		why "no reload logged"
	LAST_RELOAD=$(tail -n +$((n + 1)) "$STEER_TMP/steerd.log")
}
scrape() { curl -sf --max-time 2 "http://$1/metrics" > /dev/null; }
maint_body() { curl -s --max-time 2 "http://$1/"; }
circuit() { steer -j pool list | jq -r '.pools[] | select(.name == "main") | .circuit'; }

start_worker m1 127.0.0.1:9101
write_conf 127.0.0.1:9110 "$STEER_TMP/run/a.sock" 0660 127.0.0.1:9199 "first"
start_steerd "$STEER_TMP/steer.conf"
wait_for 'scrape 127.0.0.1:9110'
ok $? "metrics on 127.0.0.1:9110"
is "$(stat -c '%a %G' "$STEER_TMP/run/a.sock")" "660 $GROUP" "the report socket has the configured mode and group"

# ---- who may report, and what an unprivileged user is told ----
"${NOBODY[@]}" "$STEERCTL" status > /dev/null 2> "$STEER_TMP/err"
rc=$?
is "$rc/$(wc -l < "$STEER_TMP/err")" "1/1" "steerctl status as nobody: exit 1, one line"
check "that says permission denied, needs root or CAP_BPF ($(cat "$STEER_TMP/err"))" \
	grep -q "^Error: permission denied: .*(needs root or CAP_BPF)" "$STEER_TMP/err"
"${NOBODY[@]}" "$STEERCTL" worker add main w9 --addr 127.0.0.1:9101 2> "$STEER_TMP/err"
is "$?" 1 "a write as nobody: exit 1 ($(cat "$STEER_TMP/err"))"
"${OTHER[@]}" "$STEERCTL" report m1 --ok 1 --socket "$STEER_TMP/run/a.sock" 2> "$STEER_TMP/err"
is "$?" 1 "a user outside the socket's group cannot report ($(cat "$STEER_TMP/err"))"
"${NOBODY[@]}" "$STEERCTL" report nosuch --ok 1 --errors 1 --socket "$STEER_TMP/run/a.sock"
is "$?" 0 "steerctl report needs no BPF maps: a member of the group reports as nobody"
wait_for 'grep -q "report ignored: .nosuch" "$STEER_TMP/steerd.log"'
ok $? "steerd checks the name and logs a report for a worker it does not know"
for i in $(seq 5); do
	"${NOBODY[@]}" "$STEERCTL" report m1 --ok 80 --errors 20 --socket "$STEER_TMP/run/a.sock"
done
wait_for '[ "$(circuit)" = open ]'
ok $? "nobody's reports (20% errors) reach the pool's circuit: open"
steer circuit main auto

# ---- the metrics endpoint against a local user holding connections ----
# hold N connections from each of ADDRS to 127.0.0.1:9110, sending a header
# byte every second (busy, so the idle timeout does not close them)
hold() {	# hold N ADDR... ; runs until killed, as nobody
	"${NOBODY[@]}" /usr/bin/python3 - "$@" <<'PY' &
import socket, sys, time
n, addrs = int(sys.argv[1]), sys.argv[2:]
held = []
for a in addrs:
    for _ in range(n):
        try:
            s = socket.socket()
            s.bind((a, 0))
            s.connect(("127.0.0.1", 9110))
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        except OSError:
            pass
print("holding", len(held), flush=True)
while True:
    time.sleep(1)
    for s in held:
        try:
            s.send(b"X")
        except OSError:
            pass
PY
	HOLDER=$!
}
scrapes_from() {	# scrapes_from ADDR [N]: how many of N (10) scrapes succeed
	local i n=0
	for i in $(seq "${2:-10}"); do
		curl -sf --max-time 2 --interface "$1" http://127.0.0.1:9110/metrics > /dev/null && n=$((n + 1))
	done
	echo $n
}
hold 40 127.0.0.1 > "$STEER_TMP/hold"
wait_for 'grep -q holding "$STEER_TMP/hold"'
sleep 0.5
is "$(scrapes_from 127.0.0.2)" 10 "40 slow connections held by nobody from 127.0.0.1: 10 of 10 scrapes from 127.0.0.2 succeed"
kill "$HOLDER"
# the same user with many loopback addresses: bounded by the global limit only
addrs=$(for i in $(seq 80); do echo 127.0.1.$i; done)
hold 4 $addrs > "$STEER_TMP/hold"
wait_for 'grep -q holding "$STEER_TMP/hold"'
sleep 0.5
diag "nobody holding 4 busy connections from each of 80 addresses ($(cat "$STEER_TMP/hold")): $(scrapes_from 127.0.0.2 5) of 5 scrapes succeed (documented: only a firewall bounds this)"
kill "$HOLDER"
wait_for 'scrape 127.0.0.1:9110' 10

# ---- SIGHUP applies daemon.metrics ----
write_conf 127.0.0.1:9111 "$STEER_TMP/run/a.sock" 0660 127.0.0.1:9199 "first"
hup
wait_for 'scrape 127.0.0.1:9111'
ok $? "a changed daemon.metrics: served on 127.0.0.1:9111 after SIGHUP"
! scrape 127.0.0.1:9110
ok $? "and no longer on 9110"
grep -q "reloaded" <<< "$LAST_RELOAD"
ok $? "steerd said reloaded"

# a metrics address that cannot be had: the old one stays, no "reloaded"
start_worker blocker 127.0.0.1:9112
write_conf 127.0.0.1:9112 "$STEER_TMP/run/a.sock" 0660 127.0.0.1:9199 "first"
hup
scrape 127.0.0.1:9111
ok $? "metrics on a taken port: the old endpoint keeps serving"
! grep -q "reloaded" <<< "$LAST_RELOAD"
ok $? "and steerd does not say reloaded: $(grep -m1 'metrics' <<< "$LAST_RELOAD" | head -c 160)"

# the same port on another address of ours: the old endpoint makes way
write_conf 0.0.0.0:9111 "$STEER_TMP/run/a.sock" 0660 127.0.0.1:9199 "first"
hup
scrape 127.0.0.1:9111 && [ "$(ss -Hltn 'sport = :9111' | awk '{ print $4 }')" = "0.0.0.0:9111" ]
ok $? "127.0.0.1:9111 -> 0.0.0.0:9111: served on the wildcard address"
grep -q "reloaded" <<< "$LAST_RELOAD"
ok $? "and steerd said reloaded"

# ---- daemon.socket, its group and mode ----
write_conf 127.0.0.1:9111 "$STEER_TMP/run/b.sock" 0600 127.0.0.1:9199 "first"
hup
[ -S "$STEER_TMP/run/b.sock" ] && [ ! -e "$STEER_TMP/run/a.sock" ]
ok $? "a changed daemon.socket: bound at b.sock, a.sock gone"
is "$(stat -c '%a' "$STEER_TMP/run/b.sock")" 600 "with the new mode"
"${NOBODY[@]}" "$STEERCTL" report m1 --ok 1 --socket "$STEER_TMP/run/b.sock" 2> /dev/null
is "$?" 1 "mode 0600: the group may no longer report"
write_conf 127.0.0.1:9111 "$STEER_TMP/run/b.sock" 0660 127.0.0.1:9199 "first"
hup
is "$(stat -c '%a' "$STEER_TMP/run/b.sock")" 660 "a changed socket_mode alone is applied"
before=$(grep -c "report ignored: .ghost" "$STEER_TMP/steerd.log")
"${NOBODY[@]}" "$STEERCTL" report ghost --ok 1 --socket "$STEER_TMP/run/b.sock"
wait_for "[ \$(grep -c 'report ignored: .ghost' '$STEER_TMP/steerd.log') -gt $before ]"
ok $? "and steerd reads reports on the new socket"
write_conf 127.0.0.1:9111 "/nonexistent-dir/x/c.sock" 0660 127.0.0.1:9199 "first"
hup
[ -S "$STEER_TMP/run/b.sock" ] && ! grep -q "reloaded" <<< "$LAST_RELOAD"
ok $? "a socket path that cannot be bound: b.sock stays, no 'reloaded'"

# ---- maintenance body and listen ----
is "$(maint_body 127.0.0.1:9199)" first "the maintenance responder answers 'first'"
write_conf 127.0.0.1:9111 "$STEER_TMP/run/b.sock" 0660 127.0.0.1:9199 "second"
hup
is "$(maint_body 127.0.0.1:9199)" second "a changed maintenance body is served after SIGHUP"
write_conf 127.0.0.1:9111 "$STEER_TMP/run/b.sock" 0660 127.0.0.1:9198 "third"
hup
is "$(maint_body 127.0.0.1:9198)" third "a changed maintenance listen: answered on 9198"
! curl -s --max-time 1 http://127.0.0.1:9199/ > /dev/null
ok $? "and 9199 is closed"
steer circuit main open
is "$(curl -s --max-time 2 http://$SVC4/)" third "the maintenance pool's worker is the new socket: fallback traffic gets 'third'"
steer circuit main auto
write_conf 127.0.0.1:9111 "$STEER_TMP/run/b.sock" 0660 127.0.0.1:9112 "fourth"
hup
is "$(maint_body 127.0.0.1:9198)" third "a maintenance listen on a taken port: the old responder stays"
! grep -q "reloaded" <<< "$LAST_RELOAD"
ok $? "and no 'reloaded'"
kill -0 "$STEERD_PID"
ok $? "steerd runs on"
check_invariants
done_testing
