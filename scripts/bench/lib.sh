# shellcheck shell=bash disable=SC2034
# (SC2034: the tool paths below are for the scripts that source this file)
# lib.sh - sourced by the benchmark scripts in scripts/bench/.
#
# Isolation (scripts/private-ns.sh, shared with the demo and the tests): a
# script calls `bench_enter "$0" "$@"` first. Outside, that re-executes the
# script inside `unshare --net --mount` and a cgroup v2 of its own, and on
# return kills whatever is left in the cgroup and removes it. Inside, it
# tunes the namespace's sysctls, mounts a private bpffs for steer's pins and
# makes a temp dir. Traffic goes only to 127.0.0.0/8 inside the private
# network namespace; nothing touches the host's network or BPF state.
#
# Cgroups inside: the script itself and every client (loadgen, wrk,
# sclient) run in $STEER_BENCH_CGROUP; workers and proxies run in
# $STEER_BENCH_CGROUP/srv (start_srv), which is where steer's sockops is
# attached. Client sockets so never run sockops, as with remote clients.
#
# Environment: BENCH_BPF_STATS=1 turns on kernel.bpf_stats_enabled for the
# run (restored afterwards; it costs two clock reads per program run, so
# only cost.sh uses it).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
. "$TOP/scripts/private-ns.sh"
STEERCTL=${STEERCTL:-$TOP/build/steerctl}
AGENT=$TOP/build/agent
LOADGEN=$TOP/build/loadgen
JSQSIM=$TOP/build/jsqsim
LOBBY_LAUNCH=$TOP/scripts/examples/lobby_launch.py
# a pool's lobby (steer-lobby): one listening socket all its agents share
LOBBY_ADDR=127.0.0.1:9100
LISTENERS=$TOP/build/listeners
SCLIENT=$TOP/tests/tools/sclient
SWORKER=$TOP/tests/tools/sworker
# steer's service address: a loopback address nothing listens on
VIP=127.10.0.1
VIP_PORT=80

bench_die() {
	echo "Error: $*" >&2
	exit 1
}

# bench_enter SCRIPT ARGS...: returns only inside the private namespaces
# (scripts/private-ns.sh); workers and proxies go in the child cgroup srv,
# to which steer's sockops is attached, and clients stay outside it.
bench_enter() {
	if [ -z "${STEER_PRIVATE_INNER:-}" ] && [ -n "${BENCH_BPF_STATS:-}" ]; then
		BENCH_OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
		sysctl -qw kernel.bpf_stats_enabled=1
	fi
	private_ns_enter bench "$@"
	export STEER_BENCH_CGROUP=$STEER_PRIVATE_CGROUP
	mkdir -p "$STEER_BENCH_CGROUP/srv"
	bench_inner_setup
}

# run outside, after the part: put bpf_stats back as it was
private_ns_outer_cleanup() {
	if [ -n "${BENCH_OLD_STATS:-}" ]; then
		sysctl -qw kernel.bpf_stats_enabled="$BENCH_OLD_STATS"
	fi
}

bench_inner_setup() {
	# per-namespace: room for many short connections and deep accept queues
	sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	# ... but never on a port a server of ours listens on (agents 8000-9999,
	# the 1,024 listeners from 20000): a client socket there made a later
	# agent's bind fail with EADDRINUSE
	sysctl -qw net.ipv4.ip_local_reserved_ports="8000-9999,20000-21100"
	sysctl -qw net.core.somaxconn=8192
	sysctl -qw net.ipv4.tcp_max_syn_backlog=8192
	# Few TIME_WAIT sockets: a local client reusing its ports at 20,000
	# connections/s would otherwise send most SYNs into the TIME_WAIT socket
	# its port left behind 3 s earlier (a path remote clients seldom take),
	# at a cost that drifts as TIME_WAIT fills up.
	sysctl -qw net.ipv4.tcp_max_tw_buckets=4096
	# as many fds as we may have (CAP_SYS_RESOURCE may be missing: then
	# the hard limit is all there is)
	ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	BENCH_TMP=$(mktemp -d /tmp/steer-bench.XXXXXX)
	private_ns_bpffs "$BENCH_TMP/bpffs"
	trap bench_cleanup EXIT
	trap 'exit 143' TERM INT
}

bench_cleanup() {
	local rc=$? pids
	pids=$(jobs -p)
	set +e
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null && wait $pids 2>/dev/null
	"$STEERCTL" unload >/dev/null 2>&1
	umount "$STEER_BPFFS" 2>/dev/null
	rm -rf "$BENCH_TMP"
	exit $rc
}

bench_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- processes -------------------------------------------------------------

# start_srv NAME CMD...: runs CMD in the background in the server cgroup,
# stdout to $BENCH_TMP/NAME.out, stderr to NAME.err; sets LAST_PID.
start_srv() {
	local name=$1
	shift
	bash -c 'echo $$ > "$STEER_BENCH_CGROUP/srv/cgroup.procs" && exec "$@"' bash "$@" \
		> "$BENCH_TMP/$name.out" 2> "$BENCH_TMP/$name.err" < /dev/null &
	LAST_PID=$!
}

# wait_ready FILE: until FILE has a line starting with "ready" (5 s)
wait_ready() {
	local i
	for i in $(seq 100); do
		grep -q '^ready' "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	bench_die "no 'ready' in $1: $(cat "${1%.out}.err" 2>/dev/null)"
}

# wait_listen IP:PORT: until something listens there (5 s)
wait_listen() {
	local i
	for i in $(seq 100); do
		[ -n "$(ss -Hltn "src $1")" ] && return 0
		sleep 0.05
	done
	bench_die "nothing listens on $1: $(tail -n 3 "$BENCH_TMP"/*.err)"
}

# stop_pids PID...: SIGTERM, then wait for each
stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# start_agents N FIRST_PORT AGENT_ARGS...: agents w1..wN on 127.0.0.1:
# FIRST_PORT.. (one port each); sets AGENT_PIDS
start_agents() {
	local n=$1 port=$2 i
	shift 2
	AGENT_PIDS=()
	for i in $(seq "$n"); do
		start_srv "agent$i" "$AGENT" --listen "127.0.0.1:$((port + i - 1))" --name "w$i" "$@"
		AGENT_PIDS+=("$LAST_PID")
	done
	for i in $(seq "$n"); do wait_ready "$BENCH_TMP/agent$i.out"; done
}

# lobby_agents N FIRST_PORT SLOTS AGENT_ARGS...: the lobby socket made once
# at $LOBBY_ADDR by lobby_launch.py, which starts agents w1..wN on 127.0.0.1:
# FIRST_PORT.. with it inherited as fd 3 (--lobby-fd 3); SLOTS: "-", or a
# comma list giving agent i `--slots` field i. AGENT_PIDS = the launcher
# (SIGTERM to it stops them all), LOBBY_PID = the process holding the lobby
# as fd 3, for `steerctl pool lobby p --pid $LOBBY_PID --fd 3`
lobby_agents() {
	local n=$1 port=$2 slots=$3 i cmd=() ready=0 s
	shift 3
	for i in $(seq "$n"); do
		cmd+=(-- "$AGENT" --listen "127.0.0.1:$((port + i - 1))" --name "w$i" --lobby-fd 3 "$@")
		s=$(cut -d, -f"$i" <<< "$slots")
		[ "$slots" = - ] || cmd+=(--slots "$s")
	done
	start_srv lobby "$LOBBY_LAUNCH" --lobby "$LOBBY_ADDR" --fd 3 "${cmd[@]}"
	AGENT_PIDS=("$LAST_PID")
	for i in $(seq 100); do
		ready=$(grep -c '^ready' "$BENCH_TMP/lobby.out" 2>/dev/null || true)
		[ "${ready:-0}" -ge $((n + 1)) ] && break
		sleep 0.05
	done
	[ "${ready:-0}" -ge $((n + 1)) ] || bench_die "lobby agents not ready: $(cat "$BENCH_TMP/lobby.err")"
	LOBBY_PID=$(awk '$1 == "lobby" { print $2; exit }' "$BENCH_TMP/lobby.out")
}

# lobby_supported: steerctl has `pool lobby` (issue 10's kernel side); the
# scripts skip steer-lobby, with a line saying so, where it has not
lobby_supported() { "$STEERCTL" pool help 2>&1 | grep -q 'steerctl pool lobby '; }
lobby_skip() { bench_log "$1: steer-lobby skipped: this steerctl has no 'pool lobby' (the lobby's kernel side is not built in)"; }

# steer_add_lobby N FIRST_PORT SLOTS [WEIGHT...]: workers w1..wN by address
# with --slots SLOTS (one number for all, or a comma list: field i for wi), and the
# lobby of lobby_agents as pool p's lobby
steer_add_lobby() {
	local n=$1 port=$2 slots=$3 i w s
	shift 3
	for i in $(seq "$n"); do
		w=${1:-100}
		[ $# -gt 0 ] && shift
		s=$(cut -d, -f"$i" <<< "$slots")
		"$STEERCTL" worker add p "w$i" --addr "127.0.0.1:$((port + i - 1))" --weight "$w" \
			--slots "$s" >/dev/null
	done
	"$STEERCTL" pool lobby p --pid "$LOBBY_PID" --fd 3 >/dev/null
}

# listener_fds IP:PORT: "PID FD" of every process listening there
listener_fds() {
	ss -Hltnp "src $1" | grep -o 'pid=[0-9]*,fd=[0-9]*' | sed 's/pid=//; s/,fd=/ /'
}

# ---- steer -------------------------------------------------------------------

# steer_up POLICY [service]: load steer (sockops on the server cgroup), pool
# p with POLICY; with "service", $VIP:$VIP_PORT steers to pool p.
steer_up() {
	"$STEERCTL" load --cgroup "$STEER_BENCH_CGROUP/srv" >/dev/null
	"$STEERCTL" pool add p --policy "$1" >/dev/null
	if [ "${2:-}" = service ]; then
		"$STEERCTL" service add s --prefix "$VIP/32" --port "$VIP_PORT" --pool p >/dev/null
	fi
}

steer_down() { "$STEERCTL" unload >/dev/null 2>&1 || true; }

# steer_add_agents N FIRST_PORT [WEIGHT...]: workers w1..wN by address
steer_add_agents() {
	local n=$1 port=$2 i w
	shift 2
	for i in $(seq "$n"); do
		w=${1:-100}
		[ $# -gt 0 ] && shift
		"$STEERCTL" worker add p "w$i" --addr "127.0.0.1:$((port + i - 1))" --weight "$w" >/dev/null
	done
}

# sampler_start FILE [INTERVAL]: every INTERVAL s (0.2) until sampler_stop,
# appends one line {"t": unix time, "w": `steerctl -j worker list`}
sampler_start() {
	local file=$1 iv=${2:-0.2}
	(
		trap 'exit 0' TERM
		while :; do
			printf '{"t":%s,"w":%s}\n' "$(date +%s.%N)" \
				"$("$STEERCTL" -j worker list 2>/dev/null | tr -d '\n' || echo null)"
			sleep "$iv"
		done
	) > "$file" &
	SAMPLER_PID=$!
}

sampler_stop() {
	[ -n "${SAMPLER_PID:-}" ] && stop_pids "$SAMPLER_PID"
	SAMPLER_PID=
}

# sampler_summary FILE: "peak1,peak2,... mean1,mean2,..." of outstanding per
# worker (sorted by name), or "- -" without samples
sampler_summary() {
	jq -rs '[.[] | select(.w | type == "object") | .w.workers | sort_by(.name) | map(.outstanding)]
		| if length == 0 then "- -" else
		  (transpose | map(max) | map(tostring) | join(",")) + " " +
		  (transpose | map(add / length * 10 | round / 10) | map(tostring) | join(","))
		  end' "$1"
}

# sampler_series FILE: "seconds o1 o2 ..." per sample (workers sorted by name)
sampler_series() {
	jq -r -s '(.[0].t) as $t0 | .[] | select(.w | type == "object")
		| [((.t - $t0) * 100 | round / 100)] + (.w.workers | sort_by(.name) | map(.outstanding))
		| map(tostring) | join(" ")' "$1"
}

# ---- measurements ------------------------------------------------------------

# cpu_snap: "busy idle steal" jiffies from /proc/stat (busy = user + nice +
# system + irq + softirq; idle = idle + iowait) and our cgroup's usage_usec
cpu_snap() {
	local cg
	cg=$(awk '$1 == "usage_usec" { print $2 }' "$STEER_BENCH_CGROUP/cpu.stat")
	awk -v cg="$cg" '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6, $9, cg; exit }' /proc/stat
}

# loadgen_row FILE: one loadgen --json report as
# "ok errors short_p50 short_p99 short_p999 short_max long_p99 lag_p99 workers"
# (latencies in us; workers = name:count,... sorted by name)
loadgen_row() {
	jq -r '[.ok, ([.classes[].errors] | add),
		.classes.short.p50_us, .classes.short.p99_us, .classes.short.p999_us,
		.classes.short.max_us, .classes.long.p99_us, .send_lag_p99_us,
		(.workers | to_entries | sort_by(.key) | map("\(.key):\(.value)") | join(",")
		 | if . == "" then "-" else . end)] | map(tostring) | join(" ")' "$1"
}

# cost_targets COST.TXT: issue 12's targets for steer / the reference
# (cost.sh's lookup_x, column 9, and sockops_x, column 10), one per line,
# tab-separated: "what value limit verdict" (verdict met / not met / n/a)
cost_targets() {
	awk -v OFS='\t' '
	function t(what, v, lim) { print what, v, lim, v == "-" ? "n/a" : v + 0 <= lim + 0 ? "met" : "not met" }
	$2 == "least-conn" && $1 == 4 { t("sk_lookup least-conn, 4 workers", $9, "1.5") }
	$2 == "least-conn" && $1 == 1024 { t("sk_lookup least-conn, 1024 workers", $9, "2") }
	$2 == "round-robin" { t("sk_lookup round-robin, " $1 " workers", $9, "1.3") }
	$2 == "least-conn" && $1 == 4 { t("sockops per connection, 4 workers", $10, "1.0") }' "$1"
}

# overhead_summary OVERHEAD.TSV CLK_TCK: per config (fixed order)
# "config runs rate_med rate_ratio cpu_us cpu_ratio cg_us cg_ratio errors
# rate_ratio_min rate_ratio_max rate_ratio_q1 rate_ratio_q3" (quartiles by
# linear interpolation between the sorted ratios),
# tab-separated. CPU per connection: busy jiffies / requests (cpu_us) and
# cgroup usec / requests (cg_us). Rows are in run order; a run's ratios are
# against the mean of the direct runs just before and just after it (the
# one there is at an end), then the median over its runs ("-" without any
# direct run).
overhead_summary() {
	awk -v hz="$2" -F'\t' '
	function median(s,    n, a, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function quartile(s, q,    n, a, i, j, t, pos, lo) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		pos = 1 + (n - 1) * q; lo = int(pos)
		return sprintf("%.3f", lo >= n ? a[n] : a[lo] + (pos - lo) * (a[lo + 1] - a[lo]))
	}
	function extreme(s, hi,    n, a, i, m) {
		n = split(s, a, " "); m = a[1] + 0
		for (i = 2; i <= n; i++) if (hi ? a[i] + 0 > m : a[i] + 0 < m) m = a[i] + 0
		return sprintf("%.3f", m)
	}
	{ cfg[NR] = $2; req = $3 > 0 ? $3 : 1
	  rate[NR] = $5; cpu[NR] = $6 * 1e6 / hz / req; cg[NR] = $8 / req; err[NR] = $9 }
	END {
		for (i = 1; i <= NR; i++) {
			c = cfg[i]; n[c]++
			R[c] = R[c] " " rate[i]; C[c] = C[c] " " cpu[i]; G[c] = G[c] " " cg[i]; E[c] += err[i]
			# the direct runs around run i (itself, for a direct run)
			k = 0; dr = dc = dg = 0
			if (c == "direct") { k = 1; dr = rate[i]; dc = cpu[i]; dg = cg[i] }
			else {
				for (j = i - 1; j >= 1; j--) if (cfg[j] == "direct") { k++; dr += rate[j]; dc += cpu[j]; dg += cg[j]; break }
				for (j = i + 1; j <= NR; j++) if (cfg[j] == "direct") { k++; dr += rate[j]; dc += cpu[j]; dg += cg[j]; break }
			}
			if (k && dr > 0 && dc > 0 && dg > 0) {
				RR[c] = RR[c] " " rate[i] / (dr / k); CR[c] = CR[c] " " cpu[i] / (dc / k); GR[c] = GR[c] " " cg[i] / (dg / k)
			}
		}
		nw = split("direct reuseport steer-rr steer-lc steer-lobby haproxy nginx", want, " ")
		for (w = 1; w <= nw; w++) {
			c = want[w]; if (!(c in n)) continue
			printf "%s\t%d\t%.0f\t%s\t%.1f\t%s\t%.1f\t%s\t%d\t%s\t%s\t%s\t%s\n", c, n[c], median(R[c]),
				RR[c] == "" ? "-" : sprintf("%.3f", median(RR[c])), median(C[c]),
				CR[c] == "" ? "-" : sprintf("%.3f", median(CR[c])), median(G[c]),
				GR[c] == "" ? "-" : sprintf("%.3f", median(GR[c])), E[c],
				RR[c] == "" ? "-" : extreme(RR[c], 0), RR[c] == "" ? "-" : extreme(RR[c], 1),
				RR[c] == "" ? "-" : quartile(RR[c], 0.25), RR[c] == "" ? "-" : quartile(RR[c], 0.75)
		}
	}' "$1"
}

# jsqsim_rows OUTPUT: "policy p50 p99 p999" per policy of a jsqsim report
jsqsim_rows() {
	awk 'f && NF >= 8 { print $1, $3, $4, $5 } $1 == "policy" { f = 1 }' "$1"
}

# ---- proxies -----------------------------------------------------------------

# haproxy_start BIND N FIRST_PORT TIMEOUT_S [NAME]: HAProxy `mode tcp`,
# `balance leastconn` on BIND in front of 127.0.0.1:FIRST_PORT..; LAST_PID
haproxy_start() {
	local bind=$1 n=$2 port=$3 t=$4 name=${5:-haproxy} cfg i
	cfg=$BENCH_TMP/$name.cfg
	{
		echo "global"
		echo "  maxconn $(( ($(ulimit -n) - 100) / 2 ))"
		echo "defaults"
		echo "  mode tcp"
		echo "  timeout connect 5s"
		echo "  timeout client ${t}s"
		echo "  timeout server ${t}s"
		echo "frontend fe"
		echo "  bind $bind"
		echo "  default_backend be"
		echo "backend be"
		echo "  balance leastconn"
		for i in $(seq "$n"); do
			echo "  server w$i 127.0.0.1:$((port + i - 1))"
		done
	} > "$cfg"
	start_srv "$name" haproxy -db -f "$cfg"
	wait_listen "$bind"
}

# nginx_start BIND N FIRST_PORT: nginx `stream` with `least_conn` (shared
# zone, so both worker processes see one set of counts); LAST_PID
nginx_start() {
	local bind=$1 n=$2 port=$3 dir=$BENCH_TMP/nginx i
	mkdir -p "$dir/logs"
	{
		echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
		echo "daemon off;"
		echo "user root;"
		echo "worker_processes auto;"
		echo "worker_rlimit_nofile $(ulimit -n);"
		echo "pid $dir/nginx.pid;"
		echo "error_log $dir/logs/error.log warn;"
		echo "events { worker_connections 65536; }"
		echo "stream {"
		echo "  upstream be {"
		echo "    least_conn;"
		echo "    zone be 64k;"
		for i in $(seq "$n"); do
			echo "    server 127.0.0.1:$((port + i - 1));"
		done
		echo "  }"
		echo "  server { listen $bind; proxy_pass be; proxy_timeout 60s; }"
		echo "}"
	} > "$dir/nginx.conf"
	start_srv nginx nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
	wait_listen "$bind"
}
