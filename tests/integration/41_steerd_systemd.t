#!/bin/bash
# steerd under systemd (issue 9): the unit's sandbox rating, steerd with
# only the unit's capabilities, sd_notify (READY=1, STATUS= lines,
# RELOADING=1, WATCHDOG=1 pings from the event loop), the installed default
# configuration, conf.d and absolute @include, and log levels.
# No systemd runs as PID 1 here: the unit's capabilities and
# NoNewPrivileges are applied with setpriv, and NOTIFY_SOCKET is a
# datagram socket of this test.
source "$(dirname "$0")/../lib.sh"
UNIT=$TOP/scripts/steerd.service

# ---- the unit's rating ------------------------------------------------------
sed 's|@PREFIX@|/usr/local|g' "$UNIT" > "$STEER_TMP/steerd.service"
systemd-analyze security --offline=yes "$STEER_TMP/steerd.service" > "$STEER_TMP/analyze" 2>&1
score=$(sed -n 's/.*Overall exposure level for steerd.service: \([0-9.]*\).*/\1/p' "$STEER_TMP/analyze")
diag "systemd-analyze security: $(grep 'Overall' "$STEER_TMP/analyze")"
check "systemd-analyze rates the unit <= 3.0 (got ${score:-none})" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 3.0) }' || why "$(grep '✗' "$STEER_TMP/analyze")"
check "the unit has no CAP_SYS_ADMIN" bash -c "! grep -q '^CapabilityBoundingSet=.*CAP_SYS_ADMIN' '$UNIT'"

# ---- steerd with the unit's capabilities only ---------------------------------
# setpriv names: CAP_BPF -> +bpf
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
diag "bounding set: $caps"
cat > "$STEER_TMP/two.conf" <<CONF
daemon = { interval_ms = 100; socket = "$STEER_TMP/steerd.sock"; socket_group = "nogroup"; };
pools = ( { name = "a"; workers = ( { name = "a1"; addr = "127.0.0.1:9101"; resources = false; } ); },
          { name = "b"; workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = true; } ); } );
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "a"; },
             { name = "api"; prefix = "$SVC4/32"; port = 81; pool = "b"; } );
CONF
# a worker of another user, as nginx's are: found in /proc, taken by pidfd_getfd
start_worker a1 127.0.0.1:9101 
fifo=$STEER_TMP/ready.b1; mkfifo "$fifo"
setpriv --reuid nobody --regid nogroup --clear-groups "$SWORKER" --listen 127.0.0.1:9201 --name b1 > "$fifo" &
WORKER_PIDS+=($!); disown $!
read -r -t 5 line < "$fifo"; rm -f "$fifo"
is "${line%% *}" ready "a worker runs as nobody"
setpriv --no-new-privs --inh-caps=-all --bounding-set="-all,$caps" "$STEERD" -c "$STEER_TMP/two.conf" --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
STEERD_PID=$!; disown $STEERD_PID; WORKER_PIDS+=($STEERD_PID)
wait_until '[ "$(worker_field b1 name 2>/dev/null)" = b1 ] || ! kill -0 $STEERD_PID 2>/dev/null' 10
is "$(worker_field a1 name)/$(worker_field b1 name)" "a1/b1" \
	"with the unit's capabilities steerd loads steer and takes both workers (one of nobody's) $(tail -3 "$STEER_TMP/steerd.log")"
out=$("$SCLIENT" --connect $SVC4:80 -n 200 -c 10)
out2=$("$SCLIENT" --connect $SVC4:81 -n 200 -c 10)
is "$(client_ok "$out") $(client_count "$out" a1) / $(client_ok "$out2") $(client_count "$out2" b1)" \
	"200 0 0 200 / 200 0 0 200" "each service served by its own pool's worker"
is "$(stat -c %G "$STEER_TMP/steerd.sock")" nogroup "CAP_CHOWN: the report socket has its group"
check "nothing failed for a missing capability" bash -c "! grep -Ei 'not permitted|denied' '$STEER_TMP/steerd.log'"
wait_for all_outstanding_zero
ok $? "counts back to 0"
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5

# ---- sd_notify ---------------------------------------------------------------
# listen NAME: a datagram socket at $STEER_TMP/NAME.sock; every message a
# line "SECONDS KEY=V|KEY=V" in $STEER_TMP/NAME.msgs
listen() {
	rm -f "$STEER_TMP/$1.sock" "$STEER_TMP/$1.msgs"; : > "$STEER_TMP/$1.msgs"
	perl -MIO::Socket::UNIX -MTime::HiRes=time -e '
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0]) or die "$!";
		open(my $o, ">>", $ARGV[1]) or die; $o->autoflush(1);
		while (defined $s->recv(my $m, 65536)) { $m =~ s/\n/|/g; printf $o "%.3f %s\n", time, $m; }' \
		"$STEER_TMP/$1.sock" "$STEER_TMP/$1.msgs" &
	WORKER_PIDS+=($!); disown $!
	wait_until "[ -S '$STEER_TMP/$1.sock' ]" 5
}
msgs() { cut -d' ' -f2- "$STEER_TMP/$1.msgs"; }
pings() { grep -c 'WATCHDOG=1' "$STEER_TMP/$1.msgs"; }

listen n1
NOTIFY_SOCKET=$STEER_TMP/n1.sock WATCHDOG_USEC=400000 start_steerd "$STEER_TMP/two.conf"
wait_for "grep -q READY=1 '$STEER_TMP/n1.msgs'"
check "READY=1 with a STATUS= of what runs" \
	grep -q "READY=1|STATUS=running $STEER_TMP/two.conf: 2 services, 2 pools, 2 workers" "$STEER_TMP/n1.msgs"
# a reload that adds a pool and a worker
sed -i 's|^services|pools += ();\nservices|; s|^pools += ();||' "$STEER_TMP/two.conf"
start_worker c1 127.0.0.1:9301
sed -i "s|{ name = \"b\";|{ name = \"c\"; workers = ( { name = \"c1\"; addr = \"127.0.0.1:9301\"; resources = false; } ); },\n          { name = \"b\";|" "$STEER_TMP/two.conf"
kill -HUP $STEERD_PID
wait_for "grep -q 'STATUS=reloaded' '$STEER_TMP/n1.msgs'"
check "a reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 with what runs now ($(msgs n1 | grep -v WATCHDOG | tr '\n' ' '))" \
	bash -c "msgs() { cut -d' ' -f2- '$STEER_TMP/n1.msgs' | grep -v WATCHDOG; }; msgs | grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]*|' &&
		msgs | grep -qx 'READY=1|STATUS=reloaded $STEER_TMP/two.conf: 2 services, 3 pools, 3 workers'"
# a bad file: refused, the STATUS= names its line, the old state stays
cp "$STEER_TMP/two.conf" "$STEER_TMP/two.good"
printf 'pools = ( { name = "x"; wieght = 1; } );\n' > "$STEER_TMP/two.conf"
digest_before=$(maps_digest)
kill -HUP $STEERD_PID
wait_for "grep -q 'STATUS=reload failed' '$STEER_TMP/n1.msgs'"
check "a bad reload: STATUS=reload failed: FILE:LINE: ...; keeping the last good file" \
	grep -q "READY=1|STATUS=reload failed: $STEER_TMP/two.conf:1: pools\[0\]\.wieght.*; keeping the last good file" "$STEER_TMP/n1.msgs"
is "$(maps_digest)" "$digest_before" "and nothing changed in the maps"
cp "$STEER_TMP/two.good" "$STEER_TMP/two.conf"

# WATCHDOG_USEC=400000: a ping each 200 ms, from the loop
n0=$(pings n1); sleep 2; n1=$(pings n1)
diag "WATCHDOG=1 pings in 2 s at WATCHDOG_USEC=400000: $((n1 - n0))"
check "WATCHDOG=1 every 200 ms: 8..12 in 2 s (got $((n1 - n0)))" test $((n1 - n0)) -ge 8 -a $((n1 - n0)) -le 12
kill -STOP $STEERD_PID
sleep 0.3; n0=$(pings n1); sleep 1; n1=$(pings n1)
kill -CONT $STEERD_PID
is "$((n1 - n0))" 0 "a stopped loop sends no pings (SIGSTOP for 1 s)"
n0=$(pings n1); sleep 1; n1=$(pings n1)
check "they come back after SIGCONT (got $((n1 - n0)) in 1 s)" test $((n1 - n0)) -ge 3
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5
check "STOPPING=1 on exit" grep -q 'STOPPING=1' "$STEER_TMP/n1.msgs"

# no WATCHDOG_USEC, or a WATCHDOG_PID not ours: no pings
listen n2
NOTIFY_SOCKET=$STEER_TMP/n2.sock start_steerd "$STEER_TMP/two.conf"
sleep 1
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5
listen n3
NOTIFY_SOCKET=$STEER_TMP/n3.sock WATCHDOG_USEC=200000 WATCHDOG_PID=1 start_steerd "$STEER_TMP/two.conf"
sleep 1
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5
is "$(grep -c READY=1 "$STEER_TMP/n2.msgs")/$(pings n2)/$(grep -c READY=1 "$STEER_TMP/n3.msgs")/$(pings n3)" "1/0/1/0" \
	"READY=1 but no pings without WATCHDOG_USEC, or with WATCHDOG_PID of another process"

# ---- log levels (steerd(8), LOGGING): a loss is a warning, a return a notice --
cat > "$STEER_TMP/lv.conf" <<CONF
daemon = { interval_ms = 100; socket = "$STEER_TMP/steerd.sock"; };
pools = ( { name = "a"; workers = ( { name = "a1"; addr = "127.0.0.1:9101"; resources = false;
            check = { type = "tcp"; port = 9401; interval_ms = 50; rise = 1; fall = 1; }; } ); } );
CONF
start_worker probe 127.0.0.1:9401
probe=$LAST_PID
: > "$STEER_TMP/steerd.log"
start_steerd "$STEER_TMP/lv.conf"
wait_for '[ "$(worker_field a1 state)" = up ]'
kill -9 $probe
wait_for "grep -q 'worker a1 is down' '$STEER_TMP/steerd.log'"
start_worker probe 127.0.0.1:9401
wait_for "grep -q 'worker a1 is up' '$STEER_TMP/steerd.log'"
is "$(grep -o '^<[0-9]>worker a1 is [a-z]*' "$STEER_TMP/steerd.log" | tr '\n' ' ')" \
	"<4>worker a1 is down <5>worker a1 is up " "worker up: notice (<5>), down: warning (<4>)"
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5

# ---- make install: a working default, never overwritten -----------------------
D=$STEER_TMP/dest
build=$(realpath --relative-to="$TOP" "$(dirname "$STEERD")")
install_it() { make -C "$TOP" -s install DESTDIR="$D" PREFIX=/usr BUILD="$build" > "$STEER_TMP/install.log" 2>&1; }
install_it
ok $? "make install DESTDIR=... $(tail -c 300 "$STEER_TMP/install.log")"
check "it installs the default steer.conf" cmp -s "$D/etc/steer/steer.conf" "$TOP/scripts/steer.conf.default"
check "and an empty conf.d" test -d "$D/etc/steer/conf.d"
echo "# the operator's edit" >> "$D/etc/steer/steer.conf"
install_it
check "a second make install keeps the operator's steer.conf" grep -q "the operator's edit" "$D/etc/steer/steer.conf"
systemd-analyze security --offline=yes "$D/lib/systemd/system/steerd.service" 2>&1 | grep -q 'Overall exposure level for steerd.service: [0-2]\.[0-9]\|: 3\.0 '
ok $? "the installed unit is rated <= 3.0 too"
# the unit's own commands, with the installed paths under DESTDIR
unit_cmd() {
	sed -n "s/^$1=//p" "$D/lib/systemd/system/steerd.service" |
		sed "s|/usr/sbin/steerd|$STEERD|; s|/etc/steer|$D/etc/steer|g"
}
conf=$D/etc/steer/steer.conf
$(unit_cmd ExecStartPre) > "$STEER_TMP/pre.out" 2>&1
ok $? "the unit's ExecStartPre (steerd --check) passes on the default: $(cat "$STEER_TMP/pre.out")"
# conf.d sets what the test needs: its own report socket, not /run's
printf 'daemon = { interval_ms = 100; socket = "%s"; };\n' "$STEER_TMP/d.sock" > "$D/etc/steer/conf.d/00-daemon.conf"
listen n4
: > "$STEER_TMP/steerd.log"
NOTIFY_SOCKET=$STEER_TMP/n4.sock setpriv --no-new-privs --inh-caps=-all --bounding-set="-all,$caps" \
	$(unit_cmd ExecStart) --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
STEERD_PID=$!; disown $STEERD_PID; WORKER_PIDS+=($STEERD_PID)
wait_for "grep -q READY=1 '$STEER_TMP/n4.msgs'"
check "the unit's ExecStart runs on the default and waits: $(msgs n4 | head -1)" \
	grep -q "READY=1|STATUS=running $conf: 0 services, 0 pools, 0 workers" "$STEER_TMP/n4.msgs"
check "the state is the default's: nothing" assert_converged "$conf"

# ---- conf.d and absolute @include ------------------------------------------------
CD=$D/etc/steer/conf.d
mkdir -p "$STEER_TMP/abs"
cat > "$CD/10-web.conf" <<CONF
pools = ( { name = "a"; workers = ( { name = "a1"; addr = "127.0.0.1:9101"; resources = false; } ); } );
services = ( { name = "web"; prefix = "$SVC4/32"; port = 80; pool = "a"; } );
CONF
cat > "$STEER_TMP/abs/api.inc" <<CONF
pools = ( { name = "b"; workers = ( { name = "b1"; addr = "127.0.0.1:9201"; resources = false; } ); } );
CONF
cat > "$CD/20-api.conf" <<CONF
# an absolute @include, which libconfig 1.5 alone cannot read
@include "$STEER_TMP/abs/api.inc"
services = ( { name = "api"; prefix = "$SVC4/32"; port = 81; pool = "b"; } );
CONF
"$STEERD" --check -c "$conf" > "$STEER_TMP/check.out" 2>&1
ok $? "steerd --check reads conf.d and the absolute @include: $(cat "$STEER_TMP/check.out")"
chmod 0755 "$STEER_TMP"	# mktemp's 0700 would keep nobody out
setpriv --reuid nobody --regid nogroup --clear-groups "$STEERD" --check -c "$conf" > /dev/null 2>&1
ok $? "and so does it as nobody"
kill -HUP $STEERD_PID
wait_for "grep -q 'STATUS=reloaded' '$STEER_TMP/n4.msgs'"
check "SIGHUP reads conf.d: 2 services, 2 pools ($(msgs n4 | grep STATUS=reload | tail -1))" \
	grep -q "STATUS=reloaded $conf: 2 services, 2 pools, 2 workers" "$STEER_TMP/n4.msgs"
check "the state equals the files" assert_converged "$conf"
out=$("$SCLIENT" --connect $SVC4:80 -n 100 -c 10)
out2=$("$SCLIENT" --connect $SVC4:81 -n 100 -c 10)
is "$(client_ok "$out") $(client_count "$out" a1) / $(client_ok "$out2") $(client_count "$out2" b1)" \
	"100 0 0 100 / 100 0 0 100" "each conf.d service served by its own pool's worker"

# a bad file there: refused with its name and line, nothing changes
printf '# bad\npools = ( { name = "c";\n  wieght = 3; } );\n' > "$CD/30-bad.conf"
"$STEERD" --check -c "$conf" > "$STEER_TMP/check.out" 2>&1
rc=$?
is "$rc $(grep -c . "$STEER_TMP/check.out")" "2 1" "steerd --check: exit 2, one line"
check "it names the conf.d file and its line: $(cat "$STEER_TMP/check.out")" \
	grep -q "^Error: $CD/30-bad.conf:3: pools\[0\]\.wieght: unknown setting" "$STEER_TMP/check.out"
digest_before=$(maps_digest)
n0=$(grep -c 'reload failed' "$STEER_TMP/n4.msgs")
kill -HUP $STEERD_PID
wait_for "[ \$(grep -c 'reload failed' '$STEER_TMP/n4.msgs') -gt $n0 ]"
check "a SIGHUP with it is refused, STATUS= names it" grep -q "STATUS=reload failed: $CD/30-bad.conf:3: " "$STEER_TMP/n4.msgs"
is "$(maps_digest)" "$digest_before" "and the old state is kept"
rm "$CD/30-bad.conf"

# file names with unicode and a newline: read, and named on one line
printf 'pools = ( { name = "u"; } );\n' > "$CD/40-ünï—cödé.conf"
printf 'pools = ( { name = "v" } ;\n' > "$CD/50-new"$'\n'"line.conf"
"$STEERD" --check -c "$conf" > "$STEER_TMP/check.out" 2>&1
is "$? $(grep -c . "$STEER_TMP/check.out")" "2 1" "a syntax error in a file named with a newline: exit 2, one line"
check "that line names it (the newline as ?): $(cat "$STEER_TMP/check.out")" \
	grep -q "50-new?line.conf:1: syntax error" "$STEER_TMP/check.out"
rm "$CD/50-new"$'\n'"line.conf"
"$STEERD" --check -j -c "$conf" > "$STEER_TMP/check.json" 2>&1
is "$(jq -r '[.pools[].name] | join(" ")' "$STEER_TMP/check.json")" "a b u" "the unicode-named file is read, in name order"
rm "$CD/40-ünï—cödé.conf"

# a huge number of files: 4000 read; past the limit refused at once
mkdir "$STEER_TMP/many"
printf 'include_dir = "many";\n' > "$STEER_TMP/many.conf"
for i in $(seq -w 4000); do echo "# $i" > "$STEER_TMP/many/$i.conf"; done
start=${EPOCHREALTIME/./}
"$STEERD" --check -c "$STEER_TMP/many.conf" > "$STEER_TMP/check.out" 2>&1
ok $? "4000 files in include_dir load $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms: $(head -c 200 "$STEER_TMP/check.out")"
for i in $(seq 4001 5000); do echo "# $i" > "$STEER_TMP/many/$i.conf"; done
"$STEERD" --check -c "$STEER_TMP/many.conf" > "$STEER_TMP/check.out" 2>&1
is "$?" 2 "5000: refused"
check "with the limit named: $(cat "$STEER_TMP/check.out")" grep -q "more than 4096 files" "$STEER_TMP/check.out"

# a conf.d file removed, then SIGHUP: its objects go, the state equals the files
rm "$CD/20-api.conf"
kill -HUP $STEERD_PID
wait_for "grep -q 'STATUS=reloaded $conf: 1 services, 1 pools, 1 workers' '$STEER_TMP/n4.msgs'"
ok $? "SIGHUP after removing 20-api.conf: 1 service, 1 pool"
check "api, b and b1 are gone: the state equals the files" assert_converged "$conf"
is "$(steer -j service list | jq -r '[.services[].name] | join(" ")')" "web" "only web is left"
# kill -9, then the same command again: the same state
kill -9 $STEERD_PID
setpriv --no-new-privs --inh-caps=-all --bounding-set="-all,$caps" \
	$(unit_cmd ExecStart) --cgroup "$STEER_TEST_CGROUP" 2>> "$STEER_TMP/steerd.log" &
STEERD_PID=$!; disown $STEERD_PID; WORKER_PIDS+=($STEERD_PID)
wait_for "[ \$(grep -c 'running:' '$STEER_TMP/steerd.log') -ge 2 ]"
check "after kill -9 the unit's command again: the state equals the files" assert_converged "$conf"
kill -TERM $STEERD_PID; wait_until '! kill -0 $STEERD_PID 2>/dev/null' 5
done_testing
