#!/bin/bash
# steerctl top in a terminal: a tmux server on a private socket, in this
# test's namespaces, runs it in a pane of a known size; capture-pane reads
# what the pane shows. Two services, two pools, five workers with long
# connections: the view must show each with the counts `steerctl -j worker
# list` gives, rates that rise with traffic and fall back to 0, refusals by
# cause, a change on the next refresh, lines cut at the width after a
# resize, hostile names escaped, and the terminal given back on q, SIGTERM
# and ^C (and top working again after a kill -9). Then batch mode (-n, no
# terminal), bad input and an unprivileged user.
source "$(dirname "$0")/../lib.sh"

command -v tmux > /dev/null || bail "tmux is missing (scripts/install-deps.sh installs it)"
SOCK=$STEER_TMP/tmux.sock
DELAY=0.3
tm() { tmux -S "$SOCK" "$@"; }
ok_or() { local st=$1; ok "$st" "$2"; [ "$st" = 0 ] || why "$3"; }	# ok_or STATUS DESC WHY
trap 'tm kill-server 2> /dev/null; cleanup' EXIT

steer_setup p1 least-conn 3
steer pool add p2 --policy round-robin
steer service add api --prefix 127.10.0.2/32 --port 8080 --pool p2
for i in 1 2; do
	start_worker "b$i" "127.0.0.1:920$i"
	steer worker add p2 "b$i" --addr "127.0.0.1:920$i"
done
steer worker set w1 --maxconn 50
steer pool quota p2 1000
# long connections: 7 to web, 4 to api, held until the holders are killed
"$SCLIENT" --connect $SVC4:80 -n 7 -c 0 --mode hold --hold-ms 600000 > /dev/null < /dev/null &
hold1=$!
"$SCLIENT" --connect 127.10.0.2:8080 -n 4 -c 0 --mode hold --hold-ms 600000 > /dev/null < /dev/null &
hold2=$!
disown "$hold1" "$hold2"
WORKER_PIDS+=("$hold1" "$hold2")
wait_for '[ "$(total_outstanding)" = 11 ]' || bail "the held connections did not arrive: $(outstanding_all)"

# the pane: a plain shell with a known prompt, 160x50
tm -f /dev/null new-session -d -s t -x 160 -y 50 \
	"env -i PATH=$PATH TERM=screen LSAN_OPTIONS=${LSAN_OPTIONS:-} PS1='shell> ' bash --norc --noprofile"
tm set-option -g status off > /dev/null
wait_for 'tm capture-pane -p -t t | grep -q "^shell>"' || bail "the tmux pane has no shell: $(tm ls 2>&1; tm capture-pane -p -t t 2>&1)"
TOPCMD="$STEERCTL --bpffs $STEER_BPFFS top -d $DELAY"
# what the pane shows, wrapped lines joined (so a line too long for the
# pane shows as one), trailing blanks dropped
cap() { tm capture-pane -p -J -t t | sed 's/ *$//'; }
# shows 'EXTENDED REGEX' [SECONDS]: the pane shows a line matching it
shows() { SHOWS_RE=$1; wait_for 'cap | grep -Eq -- "$SHOWS_RE"' "${2:-5}"; }
# field NAME N: the Nth field of the line of NAME in the pane (a worker's
# line starts with two spaces, a pool's and a service's with the name)
field() { cap | awk -v n="$1" -v k="$2" '$1 == n { print $k; exit }'; }
# the exit status of the last top in the pane (sanitizer reports make it fail)
top_exit() { wait_for 'cap | grep -q "^top-exit="' && cap | grep '^top-exit=' | tail -1 | cut -d= -f2; }
top_pid() { pgrep -n -f -- "--bpffs $STEER_BPFFS top"; }
in_top() { [ "$(tm display -p -t t '#{alternate_on}')" = 1 ]; }
in_shell() { [ "$(tm display -p -t t '#{alternate_on}/#{pane_current_command}')" = 0/bash ]; }
top_start() {
	tm send-keys -t t "$TOPCMD; echo top-exit=\$?" Enter
	wait_for 'in_top && cap | grep -q "^steerctl top - "' || { why "top did not start: $(cap)"; return 1; }
}
# the shell's terminal modes, as stty reports them in the pane
stty_modes() {
	tm send-keys -t t "stty -a > $STEER_TMP/stty" Enter
	wait_for "[ -s $STEER_TMP/stty ]" && grep -oE '(^| )-?(icanon|echo)( |$)' "$STEER_TMP/stty" |
		tr -d ' ' | tr '\n' ' '
	rm -f "$STEER_TMP/stty"
}
modes_before=$(stty_modes)
is "$modes_before" "icanon echo " "the pane's shell: canonical, echoing"

check "top starts in the pane, on the alternate screen" top_start
wait_for 'cap | grep -q "^  b2 "' || why "no worker line: $(cap)"
# ---- every service, pool and worker, with the right counts ----------------------------
for s in web api; do
	cap | grep -q "^$s " ; ok $? "service $s has its line"
done
is "$(field p1 2)/$(field p1 3)/$(field p2 2)/$(field p2 4)" "least-conn/closed/round-robin/996" \
	"the pools' lines: policy, circuit, quota left (1000 less the 4 held)"
want=$(steer -j worker list | jq -r '.workers[] | "\(.name)=\(.outstanding)"' | sort | tr '\n' ' ')
got=$(for w in w1 w2 w3 b1 b2; do echo "$w=$(field "$w" 6)"; done | sort | tr '\n' ' ')
is "$got" "$want" "each worker's outstanding count is the one worker list -j gives"
is "$(field w1 9)/$(field w2 9)" "50/-" "maxconn: w1 capped at 50, w2 uncapped"
is "$(field w1 2)/$(field w1 3)/$(field w1 4)/$(field w1 5)/$(field w1 10)" "up/100/1.000/100.0/-" \
	"w1: state, weight, health (a ratio), effective weight, not gone"
# workers under their pool: p1's three, then p2's two
order=$(cap | awk '$2 ~ /^(least-conn|round-robin|random|hash)$/ { print $1 }
	/^  [a-z]/ { print " " $1 }' | tr -d '\n')
is "$order" "p1 w1 w2 w3p2 b1 b2" "each worker is listed under its own pool"

# ---- rates: connections/s up while a loop connects, back to 0 after ------------------
conn_rate() { cap | awk '$1 ~ /^w[123]$/ { s += $8 } END { printf "%d", s }'; }
( for i in $(seq 30); do "$SCLIENT" --connect $SVC4:80 -n 4 > /dev/null; sleep 0.05; done ) &
loop=$!
wait_for '[ "$(conn_rate)" -gt 0 ]'
ok $? "CONN/S of p1's workers rises while a loop connects ($(conn_rate)/s)"
# the view for the operator docs (docs/top.txt), taken here: traffic flowing
[ -z "${STEER_TOP_CAPTURE:-}" ] || cap > "$STEER_TOP_CAPTURE"
sel=$(field p1 6)
lookups=$(field web 5)
awk -v a="$sel" -v b="$lookups" 'BEGIN { exit !(a > 0 && b > 0) }'
ok $? "p1's SELECTED/S ($sel) and web's LOOKUPS/S ($lookups) too"
wait "$loop"
wait_for '[ "$(conn_rate)" = 0 ] && [ "$(field p1 6)" = 0.0 ]'
ok $? "and back to 0 once the loop ends (CONN/S sum $(conn_rate), SELECTED/S $(field p1 6))"

# ---- a refusal counted by its cause ------------------------------------------------
steer worker set b1 --weight 0
steer worker set b2 --weight 0
"$SCLIENT" --connect 127.10.0.2:8080 -n 3 > /dev/null
shows '^api .* 3 no_worker=3$'
ok_or $? "api's refusals: 3, by cause no_worker=3" "$(cap | grep '^api ')"
steer worker set b1 --weight 100
steer worker set b2 --weight 100

# ---- a change shows on the next refresh ------------------------------------------------
steer worker set w2 --weight 250
steer worker drain w3
t0=$(date +%s%N)
wait_for '[ "$(field w2 3)/$(field w3 2)" = 250/drain ]'
ok $? "w2's new weight and w3's drain show on the next refresh"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 2000 ]
ok $? "within a refresh or two (${ms} ms at -d $DELAY)"
is "$(field w2 5)" "250.0" "w2's effective weight: 250 x health 1000/1000"
steer worker undrain w3

# ---- a hostile name: unicode, an ESC sequence and a newline, escaped ---------------------
# written into the workers map directly (steerctl refuses such names)
maps=$STEER_BPFFS/steer/maps
b2id=$(bpftool -j map dump pinned "$maps/workers" |
	jq -r '.[] | select(.formatted.value.name | startswith("b2")) | .formatted.key' 2> /dev/null)
[ -n "$b2id" ] || b2id=4
hex=$(bpftool -j map lookup pinned "$maps/workers" key $b2id 0 0 0 | jq -r '.value | join(" ")')
name="0x77 0xe2 0x98 0x83 0x1b 0x5b 0x32 0x4a 0x0a 0x58"	# w ☃ ESC [ 2 J \n X
hex=$(awk -v n="$name" '{ k = split(n, b, " "); for (i = 1; i <= k; i++) $i = b[i]; print }' <<< "$hex")
bpftool map update pinned "$maps/workers" key $b2id 0 0 0 value hex $hex
shows '^  w\\xe2\\x98\\x83\\x1b\[2J\\nX '
ok_or $? 'the name shows as w\xe2\x98\x83\x1b[2J\nX' "$(cap)"
cap | head -1 | grep -q '^steerctl top - '
ok $? "the screen was not cleared by it: the header is on the first row"
[ "$(cap | grep -c '^steerctl top - ')" = 1 ]
ok $? "and not moved by the newline: one header, no stray line"

# ---- resize: every line cut at the new width, no more rows than the height ---------------
tm resize-window -t t -x 72 -y 14
wait_for '[ "$(cap | awk "length > 72" | wc -l)" = 0 ] && [ "$(cap | wc -l)" -le 14 ] && cap | grep -q "^steerctl top"'
ok $? "after resize-window 72x14: no line longer than 72, at most 14 rows, header on top"
[ "$(cap | awk 'length == 72' | wc -l)" -gt 0 ]
ok $? "the long lines are cut at exactly 72 columns, not wrapped"
tm resize-window -t t -x 160 -y 50
shows '^  b1 '
ok_or $? "back to 160x50: the worker lines are back" "$(cap)"

# ---- q gives the terminal back ---------------------------------------------------------
tm send-keys -t t q
wait_for in_shell
ok $? "q: top exits, the pane is back on the main screen with the shell"
is "$(top_exit)" 0 "q: exit 0"
shows "^shell> $TOPCMD; echo top-exit"
ok_or $? "the shell's screen is restored (the command line is there again)" "$(cap)"
is "$(stty_modes)" "$modes_before" "the terminal modes are restored (icanon, echo)"

# ---- SIGTERM and ^C too; a kill -9, and top works again -------------------------------------
top_start
kill -TERM "$(top_pid)"
wait_for in_shell
ok $? "SIGTERM: the terminal is restored"
is "$(top_exit)" 0 "SIGTERM: exit 0"
tm send-keys -t t clear Enter
top_start
tm send-keys -t t C-c
wait_for in_shell
ok $? "^C: the terminal is restored"
is "$(top_exit)" 0 "^C: exit 0"
tm send-keys -t t clear Enter
is "$(stty_modes)" "$modes_before" "after ^C, the modes too"
top_start
kill -9 "$(top_pid)"
wait_for '[ "$(tm display -p -t t "#{pane_current_command}")" = bash ]'
tm send-keys -t t "tput rmcup; stty sane; clear" Enter	# the user's problem after kill -9
check "after a kill -9: top starts again" top_start
tm send-keys -t t p
shows '^steerctl top - .*\(paused\)'
ok_or $? "p pauses (the header says so)" "$(cap | head -3)"
tm send-keys -t t p q
wait_for in_shell
ok $? "and q quits it"
is "$(top_exit)" 0 "exit 0"

# ---- batch mode: stdout not a terminal --------------------------------------------------
steer top -n 2 -d 0.2 > "$STEER_TMP/batch" 2>&1
rc=$?
is "$rc/$(grep -c '^steerctl top - ' "$STEER_TMP/batch")" "0/2" "top -n 2 into a file: exit 0, two frames"
! grep -q $'\x1b' "$STEER_TMP/batch"
ok $? "no escape codes in batch output"
is "$(awk '$1 == "w1" { print $8 }' "$STEER_TMP/batch" | tr '\n' ' ')" "- 0.0 " \
	"CONN/S: - in the first frame (no earlier one), 0.0 in the second"
grep -qF '\xe2\x98\x83' "$STEER_TMP/batch"
ok $? "the hostile name is escaped in batch output too"

# ---- bad input and an unprivileged user ----------------------------------------------------
for args in "-d 0" "-d -1" "-d 3601" "-d abc" "-n 0" "-n 4294967296" "-x" "--delay" "extra"; do
	out=$(steer top $args 2>&1 > /dev/null)
	is "$?/$(wc -l <<< "$out")/${out:0:7}" "2/1/Error: " "top $args: exit 2, one line ($out)"
done
out=$(steer -j top -n 1)
is "$?/$(jq -r .error <<< "$out")" "2/top has no JSON output (see 'steerctl -j status')" \
	"-j top: a JSON error, exit 2"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$STEERCTL" top -n 1 2> "$STEER_TMP/err")
is "$?/$out/$(grep -c 'permission denied' "$STEER_TMP/err")" "1//1" \
	"as nobody: exit 1, 'permission denied', nothing on stdout"

# ---- the man pages' EXAMPLES, run as written ---------------------------------------
# steerctl(8)'s against this namespace (load is done; the nginx workers are
# sworkers on their addresses; top gets -n 1 and monitor 2 s off a terminal)
for port in 8081 8082 8083; do start_worker "ex$port" "127.0.0.1:$port"; done
ex_run() {
	case $1 in
	top) [[ " $* " == *" -n "* ]] || set -- "$@" -n 1 ;;
	monitor) timeout 2 "$STEERCTL" "$@"; rc=$?; [ $rc = 124 ] && rc=0; return $rc ;;
	esac
	"$STEERCTL" "$@"
}
export -f ex_run
export STEERCTL
ran=0
while IFS= read -r line; do
	line=${line//\/tmp\//$STEER_TMP/}
	case $line in
	"steerctl load"*) continue ;;
	"steerctl monitor"*) steer help | grep -q '^  steerctl monitor' || continue ;;
	esac
	out=$(bash -c "steerctl() { ex_run \"\$@\"; }; $line" 2>&1 < /dev/null)
	rc=$?
	ran=$((ran + 1))
	[ $rc = 0 ] || { why "steerctl(8) example '$line': exit $rc: $out"; bad_example=1; }
done < <("$TOP/userspace/steerctl/gendoc.sh" --examples steerctl)
ok "${bad_example:-0}" "steerctl(8)'s EXAMPLES run as written, each exit 0 ($ran commands)"
is "$(worker_field nginx2 weight)/$(worker_field nginx1 state)/$(steer -j pool list |
	jq -r '.pools[] | select(.name == "agents") | "\(.fallback) \(.rate_milli)"')" \
	"200/up/basic 100000" "and they did what they say: nginx2 weighted 200, nginx1 back up, agents' rate 100/s"
grep -q '^steerctl top - ' "$STEER_TMP/steer-top.txt"
ok $? "the example's 'top -n 1 > FILE' wrote a frame"
conf=$TOP/scripts/steer.conf.example
while IFS= read -r line; do
	line=${line//\/etc\/steer\/steer.conf/$conf}
	out=$(bash -c "steerd() { \"$STEERD\" \"\$@\"; }; $line" 2>&1)
	is "$?" 0 "steerd(8) example: ${line:0:60}..."
done < <("$TOP/userspace/steerctl/gendoc.sh" --examples steerd | grep '^steerd --check')

# ---- zsh completion (scripts/completion/_steerctl), from the tables -------------------------
ZCOMP=$TOP/scripts/completion
if command -v zsh > /dev/null; then
	# zcomplete WORD...: the words _steerctl hands to compadd after steerctl WORD...
	zcomplete() {
		zsh -f -c 'compdef() { :; }; compadd() { shift; print -l -- "$@"; }
			source "$1/_steerctl"; shift; words=("$@"); CURRENT=$#; _steerctl' _ \
			"$ZCOMP" "$STEERCTL" "$@" | tr '\n' ' '
	}
	is "$(zcomplete '')" "$(steer help --complete | tr '\n' ' ')" "zsh: the objects and global options"
	is "$(zcomplete t '')" "--delay --iterations " "zsh: top's flags, by a prefix"
	# the flags worker add's option table has, in its order (what bash offers too)
	add_flags=$(steer help --complete worker add p w1 -- | tr '\n' ' ')
	is "$(zcomplete worker add p w1 --)" "$add_flags" "zsh: worker add's flags"
	is "$(zcomplete -j pool set p --policy r)" "least-conn round-robin random hash " \
		"zsh: --policy's values after -j (zsh filters them by the prefix)"
	is "$(zcomplete pool quota p '')" "" "zsh: nothing to offer for a number"
	# and in a real interactive zsh: compinit finds it by its #compdef line, TAB lists
	cat > "$STEER_TMP/tab.zsh" <<'ZSH'
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; path=($2 \$path)"
zpty -w -n z "$3"$'\t'
sleep 1
out=""
while zpty -r -t z chunk; do out+=$chunk; done
print -r -- "$out"
zpty -d z
ZSH
	tab=$(timeout 20 zsh -f "$STEER_TMP/tab.zsh" "$ZCOMP" "$(dirname "$STEERCTL")" \
		"steerctl worker add p w1 --" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' |
		grep -oE -- '--[a-z-]+[a-z]' | sort -u | tr '\n' ' ')
	is "$tab" "$(tr ' ' '\n' <<< "$add_flags" | grep . | sort -u | tr '\n' ' ')" \
		"zsh -i: TAB after 'worker add p w1 --' lists its flags"
else
	ok 0 "# SKIP zsh is not installed (scripts/install-deps.sh installs it)"
fi

# ---- the held connections end; counts back to 0 ---------------------------------------
kill "$hold1" "$hold2" 2> /dev/null
wait_for all_outstanding_zero
ok $? "the held connections closed: every count back to 0"
check_invariants

# ---- steer unloaded and loaded again under a running top -----------------------------------
top_start
steer unload
shows '^steer is not loaded$'
ok $? "unload under top: it says steer is not loaded"
steer_load
steer pool add again
shows '^again +least-conn '
ok $? "load again: top follows the new maps (pool 'again' shows)"
tm send-keys -t t q
wait_for in_shell
is "$(top_exit)" 0 "and q quits it, exit 0"
done_testing
