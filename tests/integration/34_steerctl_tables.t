#!/bin/bash
# steerctl's commands and options are tables: prefixes (bpftool style),
# OBJECT help, exit codes, hostile values, every range boundary of every
# numeric option as `steerctl OBJECT help` states it, an unprivileged
# caller, and the man page and README equal to what the tables generate.
source "$(dirname "$0")/../lib.sh"

steer_load
steer pool add p
steer pool add q
steer service add web --prefix $SVC4/32 --port 80 --pool p
start_worker w1 127.0.0.1:9101
steer worker add p w1 --addr 127.0.0.1:9101
start_worker spare 127.0.0.1:9102
spare_pid=$LAST_PID


# run ARGS...: exit code in $rc, stdout in $out, stderr in $err
run() {
	steer "$@" > "$STEER_TMP/out" 2> "$STEER_TMP/err"
	rc=$?
	out=$(cat "$STEER_TMP/out")
	err=$(cat "$STEER_TMP/err")
}
# bad 'MESSAGE PART' ARGS...: exit 2, one line "Error: ...MESSAGE PART", no stdout
bad() {
	local want=$1
	shift
	run "$@"
	if [ "$rc" = 2 ] && [ "$(wc -l < "$STEER_TMP/err")" = 1 ] && [ -z "$out" ] &&
	   grep -qF -- "$want" "$STEER_TMP/err" && grep -q '^Error: ' "$STEER_TMP/err"; then
		ok 0 "steerctl $(printf '%q ' "$@")-> exit 2: $err"
	else
		ok 1 "steerctl $(printf '%q ' "$@")-> exit 2 with '$want'"
		why "exit $rc, stderr: $err"
	fi
}

# ---- prefixes --------------------------------------------------------------
before=$(maps_digest)
is "$(steer w l)" "$(steer worker list)" "'w l' is 'worker list'"
is "$(steer p li)" "$(steer pool list)" "'p li' is 'pool list' ('p l' is pool list or pool lobby)"
is "$(steer -j se li)" "$(steer -j service list)" "'-j se li' is '-j service list'"
is "$(steer st)" "$(steer status)" "'st' is 'status'"
bad "ambiguous steerctl command 's': status, service" s
bad "ambiguous steerctl command 'u': unload, upgrade" u
bad "ambiguous worker command 'd': drain, del" worker d w1
bad "ambiguous worker command 'd': drain, del" w d w1
bad "unknown worker command 'frobnicate'" worker frobnicate
bad "unknown steerctl command 'x'" x
out=$(steer --json 2> "$STEER_TMP/err"); rc=$?
is "$rc/$(jq -r .error <<< "$out")/$(cat "$STEER_TMP/err")" "2/missing steerctl command (see 'steerctl help')/" \
	"steerctl --json: exit 2, the error as JSON on stdout"
bad "missing pool command" pool
is "$(maps_digest)" "$before" "ambiguous and unknown commands changed nothing"
run worker set w1 --we 7
is "$rc/$(steer -j worker list | jq '.workers[] | select(.name == "w1") | .weight')" "0/7" \
	"a prefix of a flag is that flag (--we = --weight)"
steer worker set w1 --weight 100

# ---- help --------------------------------------------------------------------
run help
is "$rc" 0 "steerctl help: exit 0"
help=$out
for h in -h --help; do
	run $h
	is "$rc/$out" "0/$help" "steerctl $h is steerctl help"
done
objects=$(sed -n 's/^OBJECT := { \(.*\) }$/\1/p' <<< "$help" | tr -d '|')
is "$(wc -w <<< "$objects")" 11 "steerctl help names the 11 objects ($objects)"
for o in $objects; do
	run "$o" help
	missing=$(grep "^  steerctl $o\b" <<< "$help" | while read -r line; do
		grep -qxF "  $line" "$STEER_TMP/out" || echo "$line"; done)
	ok $([ "$rc" = 0 ] && [ -z "$err" ] && [ "${out%%$'\n'*}" = Usage: ] && [ -z "$missing" ]; echo $?) \
		"steerctl $o help: exit 0, every synopsis of $o (${missing:-all there})"
done
run worker h
is "$rc/${out%%$'\n'*}" "0/Usage:" "'worker h' is 'worker help'"
is "$(steer pool add help 2>&1; steer -j pool list | jq -r '.pools[].name' | sort | tr '\n' ' ')" "help p q " \
	"'pool add help' adds a pool named help (help only stands where a command does)"
steer pool del help

# ---- the docs are what the tables generate ------------------------------------
check "steerctl(8), steerd(8) and README.md: their generated sections are up to date (make docs)" \
	"$TOP/userspace/steerctl/gendoc.sh" "$STEERCTL" --check "$TOP/docs/man/steerctl.8" \
		"$TOP/docs/man/steerd.8" "$TOP/README.md"

# ---- hostile values ---------------------------------------------------------------
before=$(maps_digest)
bad "weight '\\xef\\xbc\\x95' is not a whole number from 0 to 10000" worker set w1 --weight ５
bad "weight '5\\n' is not a whole number" worker set w1 --weight $'5\n'
bad "weight '\\xe2\\x80\\xae5'" worker set w1 --weight $'\u202e5'
bad "weight '99999999999999999999999'" worker set w1 --weight 99999999999999999999999
bad "quota '18446744073709551616'" pool quota p 18446744073709551616
bad "rate '1000000001' is not a number above 0 and at most 1e+09" pool rate p 1000000001
bad "rate '1e400'" pool rate p 1e400
bad "rate 'nan'" pool rate p nan
bad "rate 'inf'" pool rate p inf
bad "burst '4294967296' is not a whole number from 1 to 4294967295" pool rate p 10 --burst 4294967296
bad "pool name 'a\\nb'" pool add $'a\nb'
bad "worker name '\\xe2\\x98\\x83'" worker add p ☃ --addr 127.0.0.1:9102
bad "circuit state 'open\\n' is unknown (open, close or auto)" circuit p $'open\n'
bad "weight '5\\n--maxconn' is not a whole number" worker set w1 $'--weight=5\n--maxconn'
bad "unexpected argument 'x'" worker set w1 --weight 5 x
bad "status takes no arguments" status x
is "$(maps_digest)" "$before" "hostile values changed nothing"
run pool rate p 1e9
is "$rc" 0 "a rate of 1e9/s is accepted, as in steer.conf ($err)"
run pool rate p 10 --burst 4294967295
is "$rc" 0 "a burst of UINT32_MAX is accepted, as in steer.conf ($err)"
steer pool rate p off

# ---- every range boundary of every numeric option, as OBJECT help states it ------------
# An option line reads "      --flag A   help (MIN to MAX...)" or "      ARG  help (...)"
# under its command's synopsis. Each is run with the synopsis's other parts
# filled in: min-1 and max+1 must be refused with the range message, min and max
# must get past the parser (exit 0, or a later error that is not about the value).
for o in $objects; do steer "$o" help; done > "$STEER_TMP/helps"
STEER_SOCKET=$STEER_TMP/none.sock python3 - "$STEERCTL" "$STEER_TMP/helps" "$spare_pid" \
	> "$STEER_TMP/bounds" <<'PY'
import re, subprocess, sys
steerctl, helps, spare = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
fill = {"POOL": "p", "IP:PORT": "127.0.0.1:9102", "PID": spare, "FD": "3", "W": "5", "N": "5",
        "M": "1", "S": "1", "B": "10", "RATE": "100", "ADDR/LEN": "127.9.9.9/32", "P[-Q]": "80",
        "PATH": "/nonexistent", "POLICY": "random", "POOL|none": "none"}
names = {"worker": "w1", "pool": "p", "service": "web", "report": "w1"}
n = 0
def args_of(syn, obj, target):
    """the synopsis's required parts, the alternative holding target, and target"""
    words = syn.split()[1:]
    alt = re.search(r"\((.*)\)", syn)
    alts = [a.split() for a in alt.group(1).split("|")] if alt else []
    syn_wo = re.sub(r"\(.*\)", "", syn)
    syn_wo = re.sub(r"\s\[.*?\]+", "", syn_wo)
    out = syn_wo.split()[1:]
    if alts:
        pick = next((a for a in alts if target in a), alts[0])
        out += pick
    if target.startswith("--") and target not in out:
        out.append(target)
        out.append(target.upper().lstrip("-"))	# placeholder, replaced below
        if target == "--timeout":
            out.append("--wait")
    res, i = [], 0
    while i < len(out):
        w = out[i]
        if w.startswith("--"):
            res.append(w)
            if i + 1 < len(out) and not out[i + 1].startswith("--"):
                res.append("@" if w == target else fill.get(out[i + 1], "x"))
                i += 1
        elif w == target:
            res.append("@")
        elif w in ("NAME", "WORKER"):
            res.append(names.get(obj, "x"))
        elif "|" in w and w not in fill:
            res.append(fill.get(w.split("|")[0], w.split("|")[0]))
        else:
            res.append(fill.get(w, w))
        i += 1
    return res
def run_cmd(argv):
    """a live command (monitor) that got past its parser runs until stopped:
    SIGTERM after 3 s, which it answers with exit 0"""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        err = p.communicate(timeout=3)[1]
    except subprocess.TimeoutExpired:
        p.terminate()
        err = p.communicate()[1]
    return subprocess.CompletedProcess(argv, p.returncode, "", err)
syn = None
for line in helps.splitlines():
    if line.startswith("  steerctl "):
        syn = line.strip()
        continue
    m = re.match(r"^      (\S+)(?: (\S+))?\s{2,}.*\((above )?(\d+) to (\d+)(?:\)|,| or off)", line)
    if not m or not syn:
        continue
    opt, above, lo, hi = m.group(1), m.group(3), int(m.group(4)), int(m.group(5))
    obj = syn.split()[1]
    argv = args_of(syn, obj, opt)
    if obj == "report" and opt != "--ok":
        argv += ["--ok", "1"]	# report needs --ok and/or --errors
    if "@" not in argv:
        print("not ok - %s: cannot place %s in %s" % (syn, opt, argv)); continue
    below = "0" if above else str(lo - 1)	# "above 0": 0 itself is refused
    cases = [(below, False), (str(hi), True), (str(hi + 1), False)]
    cases.append(("0.001" if above else str(lo), True))
    for val, good in cases:
        a = [val if x == "@" else x for x in argv]
        r = run_cmd([steerctl] + a)
        # a positional "-1" is refused as an option, as getopt did
        about = ("'%s' is not" % val) in r.stderr or ("option '%s'" % val) in r.stderr
        fine = (not about and r.returncode in (0, 1, 2)) if good else (r.returncode == 2 and about)
        n += 1
        print("%s - %s %s -> exit %d %s%s" % ("ok" if fine else "not ok", " ".join(a),
              "accepted" if good else "refused", r.returncode, r.stderr.strip()[:120],
              "" if fine else " (want %s)" % ("accepted" if good else "refused")))
print("# %d boundary runs" % n)
PY
nb=$(grep -c '^ok - ' "$STEER_TMP/bounds")
notok=$(grep '^not ok' "$STEER_TMP/bounds")
ok $([ -z "$notok" ] && [ "$nb" -ge 40 ]; echo $?) "every range boundary of every numeric option: $nb runs right"
[ -z "$notok" ] || why "$notok"
grep -q 'pool rate p 1000000000 accepted -> exit 0' "$STEER_TMP/bounds"
ok $? "the rate boundary is steer.conf's 1e9 (from defaults.h)"
grep -q 'burst 4294967295 accepted -> exit 0' "$STEER_TMP/bounds"
ok $? "the burst boundary is steer.conf's UINT32_MAX (from defaults.h)"
steer pool rate p off
steer pool quota p off
steer worker undrain w1
steer worker set w1 --weight 100 --maxconn 0

# ---- an unprivileged caller ----------------------------------------------------------
chmod 711 "$STEER_TMP"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
for cmd in "worker list" "w l" "pool add z" "worker set w1 --weight 5" "status"; do
	"${NOBODY[@]}" "$STEERCTL" $cmd > /dev/null 2> "$STEER_TMP/err"
	rc=$?
	ok $([ "$rc" = 1 ] && [ "$(wc -l < "$STEER_TMP/err")" = 1 ] &&
	     grep -q '^Error: permission denied: .*(needs root or CAP_BPF)' "$STEER_TMP/err"; echo $?) \
		"steerctl $cmd as nobody: exit 1, permission denied ($rc: $(cat "$STEER_TMP/err"))"
done
"${NOBODY[@]}" "$STEERCTL" worker set w1 --weight 10001 2> "$STEER_TMP/err"
is "$?" 2 "a bad value as nobody is still bad input, exit 2, before any map is opened"
"${NOBODY[@]}" "$STEERCTL" worker help > /dev/null 2> "$STEER_TMP/err"
is "$?/$(cat "$STEER_TMP/err")" "0/" "worker help as nobody: exit 0, no map needed"
is "$(steer -j worker list | jq '.workers[] | select(.name == "w1") | .weight')" 100 \
	"nobody changed nothing"

# ---- bpftool's conventions: -p, errors as JSON under -j, --version ----------------
is "$(steer -p status | jq -S .)" "$(steer -j status | jq -S .)" "-p: the same data as -j"
[ "$(steer -p pool list | wc -l)" -gt 3 ] && [ "$(steer -j pool list | wc -l)" = 1 ]
ok $? "-p indents (one member a line), -j is one line"
out=$(steer -j pool add 'bad name' 2> "$STEER_TMP/err"); rc=$?
is "$rc/$(jq -r .error <<< "$out")/$(cat "$STEER_TMP/err")" \
	"2/pool name 'bad name' may hold only letters, digits, '-', '_' and '.'/" \
	"-j: an error is {\"error\"} on stdout, exit 2, nothing on stderr"
out=$(steer -p worker add 2> /dev/null); rc=$?
is "$rc/$(jq -r .error <<< "$out")" "2/missing POOL (see 'steerctl worker help')" "-p: the error indented, same exit"
out=$(steer -j pool add "$(printf 'x\ny\377')" 2> /dev/null)
jq -e .error <<< "$out" > /dev/null && [ "$(wc -l <<< "$out")" = 1 ]
ok $? "-j: a hostile name in the error still gives one line of valid JSON ($out)"
out=$("${NOBODY[@]}" "$STEERCTL" -j pool list 2> /dev/null); rc=$?
is "$rc/$(jq -r '.error | startswith("permission denied")' <<< "$out")" "1/true" "-j as nobody: exit 1, the error as JSON"
steer --version | grep -qx 'steerctl [0-9][0-9.]* (libbpf v[0-9.]*)'
ok $? "steerctl --version: $(steer --version)"
is "$(steer -V pool nosuch > /dev/null; echo $?)" 0 "-V wins over a command: exit 0"
"$STEERD" --version | grep -qx "steerd $(steer --version | awk '{ print $2 }')"
ok $? "steerd --version: the same release ($("$STEERD" --version))"

# ---- bash completion (scripts/completion/steerctl.bash), from the tables ----------
complete_words() {	# complete_words WORD...: what bash offers after steerctl WORD...
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _steerctl
		[ ${#COMPREPLY[@]} = 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$TOP/scripts/completion/steerctl.bash" "$STEERCTL" "$@" | tr '\n' ' '
}
objects=$(steer help | sed -n 's/^OBJECT := { \(.*\) }$/\1/p' | tr -d '|' | tr -s ' ')
is "$(complete_words '' | sed 's/ help .*//')" "$objects" "completion: the objects of 'steerctl help'"
is "$(complete_words w '')" "add set drain undrain del list help " "completion: a prefix object's verbs"
is "$(complete_words worker add p w1 --)" "--weight --maxconn --slots --addr --pid --fd --listen-fds " "completion: worker add's flags"
is "$(complete_words -j pool set p --policy r)" "round-robin random " "completion: --policy's values, after -j"
is "$(complete_words pool quota p '')" "" "completion: nothing to offer for a number"
checked=0
for o in $objects; do
	# each command's block in OBJECT help: its synopsis, then one line an option
	while read -r v want; do
		if [ "$v" = - ]; then words=($o ''); else words=($o $v ''); fi
		got=$(complete_words "${words[@]}" | tr ' ' '\n' | grep . | sort | tr '\n' ' ' | sed 's/ $//')
		checked=$((checked + 1))
		[ "$got" = "$want" ] || { diag "completion of $o $v: '$got', help says '$want'"; bad_completion=1; }
	done < <(steer $o help | awk -v o=$o '
		$1 == "steerctl" && $2 == o { if (v != "") print v, flags; v = ($3 ~ /^[a-z]/) ? $3 : "-"; flags = ""; next }
		$1 ~ /^-[a-z],$/ { $1 = "" ; $0 = $0 }	# "-d, --delay": its long flag
		$1 ~ /^--/ { flags = flags $1 " " }
		END { if (v != "") print v, flags }' | sort -u |
		while read -r v f; do echo "$v $(tr ' ' '\n' <<< "$f" | grep . | sort | tr '\n' ' ')"; done)
done
[ "$checked" -ge 15 ] || bad_completion=1
ok "${bad_completion:-0}" "completion: every command's flags are the ones its help lists ($checked commands)"

check_invariants
done_testing
