#!/bin/sh
# gendoc.sh STEERCTL [--check] FILE...: write the generated sections of the
# man pages and of README.md between their marker lines, so each text is
# written once: steerctl(8)'s COMMANDS from the option tables (`steerctl
# help --man`), README's command list (`steerctl help`), and the EXIT STATUS
# rule and the EXAMPLES of steerctl(8) and steerd(8) from this file.
# --check changes nothing and fails when a file differs.
# gendoc.sh --examples PAGE: PAGE's examples as the commands they are (a
# test runs them, so they stay right).
set -eu

# ---- the EXIT STATUS rule, one text for both tools ---------------------------
# exit_status TOOL
exit_status() {
	cat <<'EOF'
The rule for both tools:
.TP
.B 0
Success.
.TP
.B 1
The system failed: a system call, a map, a permission ("permission denied:
\&... (needs root or CAP_BPF)"), a worker that still had connections after
\fB\-\-timeout\fR.
.TP
.B 2
Bad input: an unknown command or option, a value out of its range, a name
that does not exist, an invalid configuration file. Nothing was changed.
.PP
An error is one line, \fIError: ...\fR on standard error; control
characters, newlines and bytes that are not printable ASCII from arguments,
files or the maps are shown escaped (\en, \ex1b).
EOF
	case $1 in
	steerctl) cat <<'EOF'
Under \fB\-j\fR the error is JSON instead, \fB{"error": "..."}\fR on standard
output, with the same exit status.
EOF
		;;
	steerd) cat <<'EOF'
\fB\-\-check\fR exits 0 for a valid file and 2 for an invalid one (with
\fB\-j\fR too: the error stays one line on standard error). A running steerd
exits 0 on SIGTERM or SIGINT; one that cannot start exits 1 or 2 by the rule.
Steering stays attached either way.
EOF
		;;
	esac
}

# ---- EXAMPLES: "# text" introduces the commands under it ---------------------
examples() {
	case $1 in
	steerctl) cat <<'EOF'
# Load steer: sk_lookup in this network namespace, sockops on the cgroup the workers run in.
steerctl load --cgroup /sys/fs/cgroup/system.slice
# Two pools; agents hands what it cannot take to basic.
steerctl pool add basic --policy round-robin
steerctl pool add agents --policy least-conn --fallback basic
# A service: new connections to 203.0.113.10:443 go to agents.
steerctl service add agent-api --prefix 203.0.113.10/32 --port 443 --pool agents
# nginx workers, each found by the address it listens on (listen 127.0.0.1:8081; ...).
steerctl worker add agents nginx1 --addr 127.0.0.1:8081 --maxconn 500
steerctl worker add agents nginx2 --addr 127.0.0.1:8082 --weight 200
steerctl worker add basic nginx3 --addr 127.0.0.1:8083
# At most 100 new connections a second to agents; the rest spill to basic.
steerctl pool rate agents 100
# Take nginx1 out for a restart: no new connections, then wait for its last one to close.
steerctl worker drain nginx1 --wait --timeout 600
steerctl worker undrain nginx1
# Watch it live (q quits), or one plain frame for a log; the decisions as they happen.
steerctl top
steerctl top -n 1 > /tmp/steer-top.txt
steerctl monitor --service agent-api --count 20
# JSON for scripts: the workers with open connections, a service's refusals by cause.
steerctl -j worker list | jq -r '.workers[] | select(.outstanding > 0) | "\(.name) \(.outstanding)"'
steerctl -j service list | jq '.services[] | select(.name == "agent-api") | .refusals'
# Hold agents' circuit open by hand (its connections go to basic), then give it back to steerd.
steerctl circuit agents open
steerctl circuit agents auto
EOF
		;;
	steerd) cat <<'EOF'
# Check a file before steerd takes it, and read the state it asks for.
steerd --check -c /etc/steer/steer.conf
steerd --check -j -c /etc/steer/steer.conf | jq '.workers[] | {name, pool, weight}'
# Run it in the foreground with debug logging; reload the file after an edit.
steerd -c /etc/steer/steer.conf -v
kill -HUP "$(pidof steerd)"
# What it does, live: health, circuits and counts; its metrics.
steerctl top
curl -s http://127.0.0.1:9110/metrics | grep '^steer_pool_circuit'
EOF
		;;
	esac
}

# roff: '-' is \-, '\' is \e; "# text" a paragraph, the commands under it verbatim
examples_roff() {
	examples "$1" | awk '
		{ gsub(/\\/, "\\e"); gsub(/-/, "\\-") }
		/^# / { if (inside) print ".fi\n.RE"; inside = 0; print ".PP\n" substr($0, 3); next }
		{ if (!inside) print ".PP\n.RS\n.nf"; inside = 1; print }
		END { if (inside) print ".fi\n.RE" }'
}

if [ "${1:-}" = --examples ]; then
	examples "$2" | grep -v '^# '
	exit 0
fi

steerctl=$1; shift
check=false
[ "${1:-}" = --check ] && { check=true; shift; }

# section PAGE NAME: what goes between PAGE's markers for NAME
section() {
	case $2 in
	"steerctl help --man") "$steerctl" help --man ;;
	"steerctl help") echo '```'; "$steerctl" help; echo '```' ;;
	"exit status") exit_status "$1" ;;
	"examples") examples_roff "$1" ;;
	esac
}

# marker FILE BEGIN|END NAME: the marker line, in FILE's syntax
marker() {
	case $1 in
	*.8 | *.8.work) printf %s\\n ".\\\" $2 $3" ;;
	*) printf %s\\n "<!-- $2 $3 -->" ;;
	esac
}

# splice FILE PAGE NAME: FILE with NAME's section between its markers, in FILE.new
splice() {
	section "$2" "$3" > "$1.gen"
	# ENVIRON, not -v: awk would take the backslashes of the roff markers
	B=$(marker "$1" BEGIN "$3") E=$(marker "$1" END "$3") G=$1.gen awk '
		$0 == ENVIRON["E"] { skip = 0 }
		!skip { print }
		$0 == ENVIRON["B"] { while ((getline l < ENVIRON["G"]) > 0) print l; skip = 1 }' \
		"$1" > "$1.new"
	rm -f "$1.gen"
}

rc=0
for f in "$@"; do
	page=$(basename "$f" .8)
	work=$f.work
	cp "$f" "$work"
	found=0
	for name in "steerctl help --man" "steerctl help" "exit status" "examples"; do
		grep -qxF "$(marker "$f" BEGIN "$name")" "$work" &&
			grep -qxF "$(marker "$f" END "$name")" "$work" || continue
		splice "$work" "$page" "$name"
		mv "$work.new" "$work"
		found=1
	done
	[ $found = 1 ] || { echo "$f: no markers" >&2; rm -f "$work"; exit 1; }
	if $check; then
		cmp -s "$f" "$work" || { echo "$f differs from what generates it (run make docs)" >&2
			diff -u "$f" "$work" >&2 || true; rc=1; }
		rm -f "$work"
	else
		mv "$work" "$f"
	fi
done
exit $rc
