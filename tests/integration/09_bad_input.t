#!/bin/bash
# Bad input: exit 2, one clear line naming the problem, nothing changed.
source "$(dirname "$0")/../lib.sh"

steer_load
steer pool add p
steer pool add q
steer service add web --prefix $SVC4/32 --port 80 --pool p
start_worker w1 127.0.0.1:9101
steer worker add p w1 --addr 127.0.0.1:9101
start_worker spare 127.0.0.1:9102
spare_pid=$LAST_PID
exec 9<>"$STEER_TMP/not-a-socket"	# a fd of ours that is a plain file

before=$(maps_digest)

# expect_bad 'MESSAGE PART' steerctl-args...
expect_bad() {
	local want=$1 rc lines
	shift
	steer "$@" > "$STEER_TMP/out" 2> "$STEER_TMP/err"
	rc=$?
	lines=$(wc -l < "$STEER_TMP/err")
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -q "^Error: .*$want" "$STEER_TMP/err"; then
		ok 0 "steerctl $* -> exit 2: $(cat "$STEER_TMP/err")"
	else
		ok 1 "steerctl $* -> exit 2 with '$want'"
		echo "#   exit $rc, stderr: $(cat "$STEER_TMP/err")"
	fi
}

expect_bad "worker 'nosuch' does not exist" worker set nosuch --weight 5
expect_bad "pool 'nosuch' does not exist" worker add nosuch w9 --addr 127.0.0.1:9102
expect_bad "pool 'nosuch' does not exist" service add s2 --prefix 127.10.0.2/32 --port 80 --pool nosuch
expect_bad "service 'nosuch' does not exist" service del nosuch
expect_bad "weight '10001' is not a whole number from 0 to 10000" worker set w1 --weight 10001
expect_bad "weight '-1'" worker set w1 --weight -1
expect_bad "weight 'abc'" worker add p w9 --addr 127.0.0.1:9102 --weight abc
expect_bad "'127.0.0.300:9102' is not an address" worker add p w9 --addr 127.0.0.300:9102
expect_bad "prefix length '33' is not a whole number from 0 to 32" service add s2 --prefix 10.0.0.0/33 --port 80 --pool p
expect_bad "'10.0.0.0.1/32' is not an IPv4 or IPv6 prefix" service add s2 --prefix 10.0.0.0.1/32 --port 80 --pool p
expect_bad "prefix '10.0.0.1/24' has host bits set" service add s2 --prefix 10.0.0.1/24 --port 80 --pool p
expect_bad "port '70000'" service add s2 --prefix 127.10.0.2/32 --port 70000 --pool p
expect_bad "'90-80' is not a port or port range" service add s2 --prefix 127.10.0.2/32 --port 90-80 --pool p
expect_bad "no TCP listener on 127.0.0.1:9999" worker add p w9 --addr 127.0.0.1:9999
expect_bad "fd is not a listening TCP socket" worker add p w9 --pid $$ --fd 9
expect_bad "cannot take fd 99 of process" worker add p w9 --pid $$ --fd 99
expect_bad "no process 4000000" worker add p w9 --pid 4000000 --fd 3
expect_bad "worker 'w1' already exists" worker add p w1 --addr 127.0.0.1:9102
expect_bad "pool 'p' already exists" pool add p
expect_bad "service 'web' already exists" service add web --prefix 127.10.0.2/32 --port 80 --pool p
expect_bad "that socket is already worker 'w1'" worker add p w2 --addr 127.0.0.1:9101
expect_bad "service 'web' already covers" service add web2 --prefix $SVC4/32 --port 80 --pool q
# IPv4-mapped IPv6 prefixes name IPv4 addresses: refused, with the IPv4 form.
expect_bad "prefix '::ffff:0.0.0.0/96' is IPv4-mapped IPv6: write the IPv4 form (0.0.0.0/0)" \
	service add all4 --prefix ::ffff:0.0.0.0/96 --port 81 --pool p
expect_bad "write the IPv4 form (10.0.0.0/8)" service add m8 --prefix ::ffff:10.0.0.0/104 --port 81 --pool p
expect_bad "write the IPv4 form ($SVC4/32)" service add web-twin --prefix ::ffff:$SVC4/128 --port 80 --pool q
expect_bad "write the IPv4 form ($SVC4/32)" service add web-twin --prefix ::ffff:$SVC4 --port 81 --pool q
expect_bad "policy 'fastest' is unknown" pool add r --policy fastest
expect_bad "fallback 'p' would make a loop" pool set p --fallback p
expect_bad "pool 'p' still has 1 workers" pool del p
expect_bad "worker name 'bad name!'" worker add p 'bad name!' --addr 127.0.0.1:9102
expect_bad "unknown worker command 'frobnicate'" worker frobnicate
expect_bad "unknown or incomplete option '--bogus'" pool add r --bogus
expect_bad "either --addr IP:PORT, --pid PID --fd FD or --listen-fds" worker add p w9
expect_bad "--timeout goes with --wait" worker drain w1 --timeout 3

# A socket from another network namespace.
ip netns add steer-other-$$ 2>/dev/null || true
ip netns exec steer-other-$$ "$SWORKER" --listen 127.0.0.1:9500 > "$STEER_TMP/other" &
disown $!
wait_for 'grep -q ready "$STEER_TMP/other"'
other_pid=$(awk '{ print $2 }' "$STEER_TMP/other")
WORKER_PIDS+=("$other_pid")
other_fd=$(find "/proc/$other_pid/fd" -lname 'socket:*' -printf '%f\n' | head -1)
expect_bad "socket belongs to another network namespace" worker add p w9 --pid "$other_pid" --fd "$other_fd"
ip netns del steer-other-$$

# Hostile arguments, 2,000 random sets: newlines, escapes, controls,
# unicode (bidi overrides too), huge. Each must give exit 2 and exactly
# one line on stderr (what came from the argument is escaped).
python3 - "$STEERCTL" "$STEER_TMP/fuzz" <<'PY'
import random, subprocess, sys
steerctl, out = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
hostile = ["\n", "\r\n", "\t", "\x1b[31m", "\x07", "\x7f", "é", "☃", "\u202e", "\u2028",
           "\ufeff", "\\n", "%s%n", "'", '"', "\xc2\x85", "x" * 300]
def text():
    parts = [rnd.choice(hostile)]
    for _ in range(rnd.randrange(0, 6)):
        parts.append(rnd.choice(hostile) if rnd.random() < 0.5 else
                     "".join(rnd.choice("abc:/.-0123456789") for _ in range(rnd.randrange(1, 8))))
    if rnd.random() < 0.05:
        parts.append("y" * rnd.randrange(1000, 20000))
    rnd.shuffle(parts)
    return "".join(parts)
templates = [
    lambda: ["pool", "add", text()],
    lambda: ["pool", "add", "r", "--policy", text()],
    lambda: ["pool", "set", "p", "--fallback", text()],
    lambda: ["pool", "quota", "p", text()],
    lambda: ["pool", "rate", "p", text()],
    lambda: ["pool", "del", text()],
    lambda: ["service", "add", text(), "--prefix", text(), "--port", "80", "--pool", "p"],
    lambda: ["service", "add", "s9", "--prefix", text(), "--port", "80", "--pool", "p"],
    lambda: ["service", "add", "s9", "--prefix", "127.10.0.9/32", "--port", text(), "--pool", "p"],
    lambda: ["service", "del", text()],
    lambda: ["worker", "add", "p", text(), "--addr", "127.0.0.1:9102"],
    lambda: ["worker", "add", "p", "w9", "--addr", text()],
    lambda: ["worker", "add", text(), "w9", "--addr", "127.0.0.1:9102"],
    lambda: ["worker", "set", text(), "--weight", "5"],
    lambda: ["worker", "set", "w1", "--weight", text()],
    lambda: ["worker", "drain", text()],
    lambda: ["worker", "drain", "w1", "--wait", "--timeout", text()],
    lambda: ["worker", text()],
    lambda: ["circuit", text(), "open"],
    lambda: ["circuit", "p", text()],
    lambda: ["report", text(), "--ok", "1"],
    lambda: ["report", "w1", "--ok", text()],
    lambda: [text()],
    lambda: ["pool", "add", "r", "--" + text()],
    lambda: ["--bpffs", text(), "status"],
]
bad = 0
with open(out, "w") as log:
    for i in range(2000):
        args = rnd.choice(templates)()
        r = subprocess.run([steerctl] + args, capture_output=True)
        err = r.stderr
        if r.returncode != 2 or err.count(b"\n") != 1 or not err.endswith(b"\n") or \
           not err.startswith(b"Error: ") or r.stdout:
            bad += 1
            log.write("%r -> exit %d, stderr %r\n" % (args[:4], r.returncode, err[:300]))
PY
fuzz_bad=$(wc -l < "$STEER_TMP/fuzz")
is "$fuzz_bad" 0 "2,000 hostile argument sets: each exit 2 with exactly one line on stderr"
[ "$fuzz_bad" = 0 ] || why "$(head -5 "$STEER_TMP/fuzz")"

is "$(maps_digest)" "$before" "after all of the above, every map is unchanged"

# steerd's config loader parses prefixes with the same function: --check
# refuses exactly what start would.
cat > "$STEER_TMP/mapped.conf" <<'EOF2'
pools = ( { name = "a"; } );
services = ( { name = "s"; prefix = "::ffff:127.10.0.0/112"; port = 80; pool = "a"; } );
EOF2
"$STEERD" --check -c "$STEER_TMP/mapped.conf" > /dev/null 2> "$STEER_TMP/err"
rc=$?
[ $rc = 2 ] && [ "$(wc -l < "$STEER_TMP/err")" = 1 ] && grep -q "mapped.conf:2.*write the IPv4 form (127.10.0.0/16)" "$STEER_TMP/err"
ok $? "steerd --check of an IPv4-mapped prefix: exit 2, one line ($rc: $(cat "$STEER_TMP/err"))"

# A full services_lpm: web's key and 16 services of 4,096 ports (the last
# 4,095) fill its 65,536 keys; the next service is refused with exit 2
# before anything is written.
for i in $(seq 0 15); do
	steer service add "big$i" --prefix "127.40.$i.0/24" --port 20000-$((i < 15 ? 24095 : 24094)) \
		--pool q || break
done
is "$(bpftool -j map dump pinned "$STEER_BPFFS/steer/maps/services_lpm" | jq length)" 65536 \
	"web and 16 big services: 65,536 LPM keys"
before=$(maps_digest)
expect_bad "no room for 2 more (prefix, port) keys: 65536 of 65536" \
	service add over --prefix 127.41.0.0/24 --port 80-81 --pool q
is "$(maps_digest)" "$before" "the refused service changed nothing"
steer service del big15
check "with room again, a service is added" steer service add over --prefix 127.41.0.0/24 --port 80-81 --pool q
expect_bad "steer is not loaded" --bpffs "$STEER_TMP" status
expect_bad "steer is already loaded" load --cgroup "$STEER_TEST_CGROUP"
check_invariants
done_testing

