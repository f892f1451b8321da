#!/bin/bash
# The invariant helpers of tests/lib.sh can fail: each is fed a right case
# and a wrong one, first over hand-made steerctl JSON (steer is replaced by a
# function that prints it), then over a real two-service setup.
source "$(dirname "$0")/../lib.sh"

# ---- hand-made JSON ---------------------------------------------------------
M_SERVICES='{"services":[
 {"name":"sa","address":"127.10.0.1","prefixlen":32,"port_lo":80,"port_hi":80,"pool":"pa"},
 {"name":"sb","address":"127.10.0.2","prefixlen":32,"port_lo":80,"port_hi":80,"pool":"pb"}]}'
M_POOLS='{"pools":[
 {"name":"pa","policy":"least-conn","fallback":"pc","selected":10},
 {"name":"pb","policy":"round-robin","fallback":null,"selected":5},
 {"name":"pc","policy":"least-conn","fallback":"pa","selected":0}]}'
M_WORKERS='{"workers":[
 {"name":"a1","pool":"pa","listener":"127.0.0.1:9101","weight":100,"maxconn":0,"outstanding":0,"pending":0},
 {"name":"b1","pool":"pb","listener":"127.0.0.1:9201","weight":50,"maxconn":0,"outstanding":0,"pending":0},
 {"name":"c1","pool":"pc","listener":"[::1]:9301","weight":100,"maxconn":7,"outstanding":0,"pending":0}]}'
steer() {
	case "$*" in
	"-j service list") echo "$M_SERVICES" ;;
	"-j pool list") echo "$M_POOLS" ;;
	"-j worker list") echo "$M_WORKERS" ;;
	*) echo "mock steer: $*" >&2; return 1 ;;
	esac
}
fails() { ! "$@" 2> /dev/null; }	# fails COMMAND...: it returns non-0 (its why is hidden)

# assert_served_by_pool
check "served: pa and its fallback pc (a loop back to pa ends)" \
	assert_served_by_pool $'worker a1 5\nworker c1 2\nok 7 failed 0 refused 0' sa
check "served: a connection to sb served by pa's a1 is misdirected" \
	fails assert_served_by_pool $'worker a1 3\nworker b1 4\nok 7 failed 0 refused 0' sb
is "$MISDIRECTED" 3 "served: it counts 3 misdirected"
check "served: an unknown service fails" fails assert_served_by_pool "worker a1 1" nosuch
M_SAVE=$M_SERVICES M_SERVICES='not json'
check "served: steerctl output that is not JSON fails" fails assert_served_by_pool "worker a1 1" sa
M_SERVICES=$M_SAVE

# assert_counts_settle
check "counts: all 0 settle" assert_counts_settle 1
M_SAVE=$M_WORKERS M_WORKERS=${M_WORKERS/'"outstanding":0,"pending":0}]}'/'"outstanding":1,"pending":0}]}'}
check "counts: an outstanding 1 does not settle" fails assert_counts_settle 1
is "$COUNTS_OFF" "c1 outstanding=1 pending=0 " "counts: it names the worker"
M_WORKERS=${M_SAVE/'"name":"a1","pool":"pa","listener":"127.0.0.1:9101","weight":100,"maxconn":0,"outstanding":0,"pending":0'/'"name":"a1","pool":"pa","listener":"127.0.0.1:9101","weight":100,"maxconn":0,"outstanding":0,"pending":2'}
check "counts: a pending 2 does not settle" fails assert_counts_settle 1
M_WORKERS=$M_SAVE
M_SAVE=$M_WORKERS M_WORKERS=''
check "counts: a failing steerctl does not pass" fails assert_counts_settle 1
M_WORKERS=$M_SAVE

# assert_selections
selections_mark
M_POOLS=${M_POOLS/'"selected":10'/'"selected":20'}
check "selections: 10 new in pa, 10 made" assert_selections 10
check "selections: 10 new, 11 made fails" fails assert_selections 11
is "$SELECTIONS" 10 "selections: counted 10"
check "selections: pool filter pb has 0" assert_selections 0 pb
check "selections: pool filter pa pb has 10" assert_selections 10 pa pb
SEL_MARK='{"pools":[]}'
check "selections: without a mark, from 0 (25)" assert_selections 25
# a retransmitted SYN may take a selection, no more than one each
eval "$(declare -f syn_retrans | sed '1s/^syn_retrans/real_syn_retrans/')"
SYN_FAKE=5
syn_retrans() { echo "$SYN_FAKE"; }
selections_mark
M_POOLS=${M_POOLS/'"selected":20'/'"selected":23'}
SYN_FAKE=8
check "selections: 3 over with 3 SYNs retransmitted passes" assert_selections 0 pa
SYN_FAKE=7
check "selections: 3 over with 2 SYNs retransmitted fails" fails assert_selections 0 pa
check "selections: short of the connections fails, retransmits or not" fails assert_selections 4 pa
eval "$(declare -f real_syn_retrans | sed '1s/^real_syn_retrans/syn_retrans/')"
M_POOLS=${M_POOLS/'"selected":23'/'"selected":20'}

# assert_converged_json (steerctl's field names on one side, the contract's
# on the other)
WANT='{"services":[
 {"name":"sa","pool":"pa","prefix":"127.10.0.1/32","port_lo":80,"port_hi":80},
 {"name":"sb","pool":"pb","prefix":"127.10.0.2/32","port_lo":80,"port_hi":80}],
 "pools":[{"name":"pa","policy":"least-conn","fallback":"pc"},{"name":"pb","policy":"round-robin","fallback":"none"},
          {"name":"pc","policy":"least-conn","fallback":"pa"}],
 "workers":[{"name":"a1","pool":"pa","addr":"127.0.0.1:9101","weight":100,"maxconn":0},
            {"name":"b1","pool":"pb","addr":"127.0.0.1:9201","weight":50,"maxconn":0},
            {"name":"c1","pool":"pc","addr":"[::1]:9301","weight":100,"maxconn":7}]}'
check "converged: equal maps" assert_converged_json "$WANT"
check "converged: a weight differs" fails assert_converged_json "${WANT/'"weight":50'/'"weight":51'}"
is "$CONVERGE_DIFF" 'worker b1: {"name":"b1","pool":"pb","addr":"127.0.0.1:9201","weight":50,"maxconn":0}, want {"name":"b1","pool":"pb","addr":"127.0.0.1:9201","weight":51,"maxconn":0}' \
	"converged: it says which and how"
check "converged: --structure leaves the weight out" \
	assert_converged_json "${WANT/'"weight":50'/'"weight":51'}" --structure
check "converged: a port differs" fails assert_converged_json "${WANT/'"port_hi":80}]'/'"port_hi":81}]'}"
check "converged: a prefix differs" fails assert_converged_json "${WANT/127.10.0.2\/32/127.10.0.0\/24}"
check "converged: a fallback differs" fails assert_converged_json "${WANT/'"fallback":"none"'/'"fallback":"pa"'}"
check "converged: an address differs (--structure too)" \
	fails assert_converged_json "${WANT/\[::1\]:9301/[::1]:9302}" --structure
check "converged: a worker of the file is missing" \
	fails assert_converged_json "${WANT/'}]}'/'},{"name":"c2","pool":"pc","addr":"[::1]:9302","weight":100,"maxconn":0}]}'}"
WANT_NO_C1=${WANT/',
            {"name":"c1","pool":"pc","addr":"[::1]:9301","weight":100,"maxconn":7}'/}
check "converged: an extra worker without an owner field is the operator's" \
	assert_converged_json "$WANT_NO_C1"
check "converged: ... unless --all-mine" fails assert_converged_json "$WANT_NO_C1" --all-mine
M_SAVE=$M_WORKERS
M_WORKERS=$(jq -c '.workers |= map(.owner = (if .name == "c1" then "operator" else "steerd" end))' <<< "$M_SAVE")
check "converged: an extra worker of owner operator is left alone" \
	assert_converged_json "$WANT_NO_C1" --all-mine
M_WORKERS=$(jq -c '.workers |= map(.owner = "steerd")' <<< "$M_SAVE")
check "converged: an extra worker of owner steerd is not" fails assert_converged_json "$WANT_NO_C1"
M_WORKERS=$(jq -c '.workers += [{"name":"maintenance","pool":"maintenance","listener":"127.0.0.1:9199","weight":100,"maxconn":0,"owner":"steerd"}]' <<< "$M_SAVE")
M_POOLS=$(jq -c '.pools += [{"name":"maintenance","policy":"least-conn","fallback":null,"owner":"steerd"}]' <<< "$M_POOLS")
check "converged: the maintenance pool and worker are steerd's own extra" assert_converged_json "$WANT"
M_WORKERS=$M_SAVE
check "converged: want that is not the contract fails" fails assert_converged_json '{"services":[]}'

# assert_converged runs $STEERD -c CONF --check -j
STEERD_SAVE=$STEERD
STEERD=$STEER_TMP/fake-steerd
printf '#!/bin/sh\ncat "$2.json"\n' > "$STEERD"
chmod +x "$STEERD"
echo "$WANT" > "$STEER_TMP/a.conf.json"
check "converged CONF: through steerd --check -j" assert_converged "$STEER_TMP/a.conf"
echo "${WANT/'"maxconn":7'/'"maxconn":8'}" > "$STEER_TMP/a.conf.json"
check "converged CONF: a maxconn differs" fails assert_converged "$STEER_TMP/a.conf"
printf '#!/bin/sh\necho "steerd: unrecognized option -j" >&2; exit 2\n' > "$STEERD"
check "converged CONF: a steerd without --check -j fails" fails assert_converged "$STEER_TMP/a.conf"
STEERD=$STEERD_SAVE
unset -f steer
steer() { "$STEERCTL" "$@"; }

# ---- a real two-service setup ------------------------------------------------
steer_load
steer pool add pc
steer pool add pa --fallback pc
steer pool add pb --policy round-robin
steer service add sa --prefix 127.10.0.1/32 --port 80 --pool pa
steer service add sb --prefix 127.10.0.2/32 --port 80 --pool pb
for w in a1:pa:9101 a2:pa:9102 b1:pb:9201 b2:pb:9202 c1:pc:9301; do
	IFS=: read -r n p port <<< "$w"
	start_worker "$n" "127.0.0.1:$port"
	steer worker add "$p" "$n" --addr "127.0.0.1:$port" --weight $((port % 100 * 10))
done
selections_mark
outa=$("$SCLIENT" --connect 127.10.0.1:80 -n 300 -c 20)
outb=$("$SCLIENT" --connect 127.10.0.2:80 -n 200 -c 20)
is "$(client_ok "$outa")/$(client_ok "$outb")" "300 0 0/200 0 0" "real: all connections succeed"
check "real: sa's connections were served by pa" assert_served_by_pool "$outa" sa
check "real: sb's connections were served by pb" assert_served_by_pool "$outb" sb
check "real: sb's connections checked against sa are misdirected" fails assert_served_by_pool "$outb" sa
is "$MISDIRECTED" 200 "real: all 200 of them"
check "real: 500 selections for 500 connections" assert_selections 500
check "real: 300 of them by pa" assert_selections 300 pa
check "real: one more than the connections and retransmitted SYNs is wrong" fails assert_selections $((499 - $(syn_retrans) + SEL_MARK_SYNRETRANS))
check "real: counts settle" assert_counts_settle
"$SCLIENT" --connect 127.10.0.2:80 -n 3 -c 3 --mode hold > /dev/null &
holder=$!
wait_for '[ "$(total_outstanding pb)" = 3 ]'
check "real: 3 held connections do not settle" fails assert_counts_settle 1
kill "$holder"
wait "$holder" 2> /dev/null
check "real: released, they settle" assert_counts_settle
REAL='{"services":[
 {"name":"sa","pool":"pa","prefix":"127.10.0.1/32","port_lo":80,"port_hi":80},
 {"name":"sb","pool":"pb","prefix":"127.10.0.2/32","port_lo":80,"port_hi":80}],
 "pools":[{"name":"pa","policy":"least-conn","fallback":"pc"},{"name":"pb","policy":"round-robin","fallback":"none"},
          {"name":"pc","policy":"least-conn","fallback":"none"}],
 "workers":[{"name":"a1","pool":"pa","addr":"127.0.0.1:9101","weight":10,"maxconn":0},
            {"name":"a2","pool":"pa","addr":"127.0.0.1:9102","weight":20,"maxconn":0},
            {"name":"b1","pool":"pb","addr":"127.0.0.1:9201","weight":10,"maxconn":0},
            {"name":"b2","pool":"pb","addr":"127.0.0.1:9202","weight":20,"maxconn":0},
            {"name":"c1","pool":"pc","addr":"127.0.0.1:9301","weight":10,"maxconn":0}]}'
check "real: the maps equal a matching want" assert_converged_json "$REAL" --all-mine
steer worker set b2 --weight 21
check "real: a weight set by hand is seen" fails assert_converged_json "$REAL"
steer worker del c1
check "real: a deleted worker is seen, --structure too" fails assert_converged_json "$REAL" --structure
# check_invariants itself, on the real maps at the end
check_invariants
done_testing
