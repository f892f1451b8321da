#!/bin/bash
# Segments that are not new connections take no turn: the late segments of a
# closed connection (the peer's ACK racing the close) reach sk_lookup, and
# must be repeats. Held 1.3 s, longer than the SYN-time repeat window, so only
# the record sockops makes at close can catch them. IPv4, IPv6, and IPv4
# clients of a dual-stack worker (sockops sees a v4-mapped address there).
source "$(dirname "$0")/../lib.sh"

steer_load
start_worker w1 127.0.0.1:9101
start_worker v6a "[::1]:9301" --v6only
start_worker ds "[::]:9303"
steer pool add p4 --policy round-robin
steer pool add p6 --policy round-robin
steer pool add pds --policy round-robin
steer service add web4 --prefix $SVC4/32 --port 80 --pool p4
steer service add web6 --prefix ::1/128 --port 80 --pool p6
steer service add webds --prefix $SVC4/32 --port 81 --pool pds
steer worker add p4 w1 --addr 127.0.0.1:9101
steer worker add p6 v6a --addr "[::1]:9301"
steer worker add pds ds --addr "[::]:9303"

pool_selected() { steer -j pool list | jq --arg p "$1" '.pools[] | select(.name == $p) | .selected'; }
lookups() { steer -j service list | jq '[.services[].lookups] | add'; }

# held POOL DEST LABEL [sclient options]
held() {
	local pool=$1 dest=$2 label=$3 sel look out
	shift 3
	sel=$(pool_selected "$pool")
	look=$(lookups)
	out=$("$SCLIENT" --connect "$dest" -n 600 -c 150 --mode hold --hold-ms 1300 "$@")
	is "$(client_ok "$out")" "600 0 0" "$label: 600 connections held 1.3 s succeed"
	wait_for all_outstanding_zero
	is "$(( $(pool_selected "$pool") - sel ))" 600 \
		"$label: 600 selections ($(( $(lookups) - look - 600 )) late segments were repeats)"
}

held p4 $SVC4:80 IPv4 --src-range 127.30.0.0/16
held p6 "[::1]:80" IPv6
held pds $SVC4:81 "IPv4 to a dual-stack worker"
done_testing
