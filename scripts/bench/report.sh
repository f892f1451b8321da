#!/bin/bash
# report.sh - RESULTS.md and the PNG plots from a run.sh result directory.
# Every figure, ratio and verdict is computed from the raw files; missed
# targets are reported, never an error.
#
# Usage: scripts/bench/report.sh RESULTDIR DOCSDIR
#   RESULTDIR  machine.txt status.tsv cost.txt overhead.tsv balance.tsv jsq.tsv
#              balance/ unequal.tsv longlived.txt (missing parts are skipped)
#   DOCSDIR    gets RESULTS.md, a_overhead.png, b_short_p99.png,
#              b_outstanding.png, c_unequal.png
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"	# for the parsers only (no namespaces here)
R=$1 D=$2
mkdir -p "$D" "$R/plot"
MD=$D/RESULTS.md
HZ=$(getconf CLK_TCK)

mval() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$R/machine.txt" 2>/dev/null; }
have() { [ -s "$R/$1" ]; }
QUICK=
[ "$(mval mode)" = --quick ] && QUICK=1

# verdict VALUE OP LIMIT: "met" / "**not met**" (VALUE "-" gives "n/a")
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "-" || v == "") { print "n/a"; exit }
		ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0)
		print ok ? "met" : "**not met**" }'
}

# cost VALUE: workers policy -> lookup_ns (or sockops_ns/conn with $3 = 5)
cost_val() {
	awk -v w="$1" -v p="$2" -v col="${3:-3}" '$1 == w && $2 == p { print $col; f = 1 } END { if (!f) print "-" }' "$R/cost.txt" 2>/dev/null || echo -
}

# ---- B: balancing ----------------------------------------------------------------
# b_val WORKERS LOAD BALANCER COLUMN [RUN]: a column of balance.tsv (1-based);
# numeric columns are the mean over the balancer's runs in the cell (steer-lc
# and haproxy run twice), text columns (12-14) the first run's; with RUN,
# that run only. "-" when there is none.
b_val() {
	awk -F'\t' -v n="$1" -v l="$2" -v b="$3" -v c="$4" -v r="${5:-}" '
		$1 == n && $2 == l && $3 == b && (r == "" || $15 == r || (r == 1 && $15 == "")) {
			k++; sum += $c; if (k == 1) first = $c }
		END { if (!k) print "-"; else if (c >= 12 && c <= 14) print first; else printf "%.0f\n", sum / k }' "$R/balance.tsv"
}
b_val_run() {	# a text column of one run
	awk -F'\t' -v n="$1" -v l="$2" -v b="$3" -v c="$4" -v r="$5" '
		$1 == n && $2 == l && $3 == b && ($15 == r || (r == 1 && $15 == "")) { print $c; f = 1; exit }
		END { if (!f) print "-" }' "$R/balance.tsv"
}
b_runs() { awk -F'\t' -v n="$1" -v l="$2" -v b="$3" '$1 == n && $2 == l && $3 == b { k++ } END { print k + 0 }' "$R/balance.tsv"; }

# geomean_ratio BALANCER|sim:POLICY: geometric mean over all cells of
# steer-lc p99 / that p99 ("-" if a cell lacks one)
geomean_ratio() {
	local cell n l a b t=
	for cell in $B_CELLS; do
		n=${cell%/*} l=${cell#*/}
		a=$(b_val "$n" "$l" steer-lc 7)
		case $1 in
		sim:*) b=$(sim_val "$n" "$l" "${1#sim:}" 5) ;;
		*) b=$(b_val "$n" "$l" "$1" 7) ;;
		esac
		t="$t $a/$b"
	done
	awk -v t="$t" 'BEGIN { n = split(t, v, " "); for (i = 1; i <= n; i++) { split(v[i], x, "/")
		if (x[1] == "-" || x[2] == "-" || x[2] + 0 == 0) { print "-"; exit } s += log(x[1] / x[2]) }
		printf "%.2f", n ? exp(s / n) : 0 }'
}
sim_val() {	# workers load policy column(4=p50 5=p99 6=p999)
	awk -F'\t' -v n="$1" -v l="$2" -v p="$3" -v c="$4" '$1 == n && $2 == l && $3 == p { print $c; f = 1 } END { if (!f) print "-" }' "$R/jsq.tsv"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-" || u == "") print "-"; else if (u >= 100000) printf "%.0f", u / 1000; else printf "%.1f", u / 1000 }'; }

B_CELLS=
have balance.tsv && B_CELLS=$(awk -F'\t' '!s[$1 " " $2]++ { print $1 "/" $2 }' "$R/balance.tsv")
B_BALANCERS="reuseport steer-rr steer-random steer-lc steer-lobby haproxy central"
# the lobby's rows are there (issue 10's kernel side was built in)
HAVE_LOBBY=
have balance.tsv && awk -F'\t' '$3 == "steer-lobby" { f = 1 } END { exit !f }' "$R/balance.tsv" && HAVE_LOBBY=1

# ---- plots -----------------------------------------------------------------------
# gp_bars SIZE OUT TITLE: the gnuplot lines every bar chart here starts with
gp_bars() {
	printf '%s\n' "set terminal pngcairo size $1 font \",11\" noenhanced" "set output \"$2\"" \
		"set title \"$3\"" "set style data histograms" "set style histogram clustered gap 1" \
		"set style fill solid 0.8 border -1"
}

plot_a() {
	have a_summary.tsv || return 0
	awk -F'\t' '$1 != "direct" && $4 != "-" { print $1, $4, $6 }' "$R/a_summary.tsv" > "$R/plot/a.dat"
	gnuplot <<-EOF
	$(gp_bars 900,480 "$D/a_overhead.png" "A. Overhead vs one shared listener (4 agent --mode ps workers, wrk, a new connection per request)")
	set yrange [0:*]
	set ylabel "ratio to the direct runs around it (median)"
	set grid ytics
	set key top left
	set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
	plot "$R/plot/a.dat" using 2:xtic(1) title "new-connection rate", "" using 3 title "CPU per connection (/proc/stat)"
	EOF
}

plot_b() {
	have balance.tsv || return 0
	local n files=() panels=0 cmd=
	for n in $(awk -F'\t' '!s[$1]++ { print $1 }' "$R/balance.tsv"); do
		awk -F'\t' -v n="$n" '$1 == n { v[$2, $3] = $7; if (!($2 in L)) { L[$2] = 1; loads[++k] = $2 } }
			END { for (i = 1; i <= k; i++) { l = loads[i]; printf "%s", l
				nb = split("reuseport steer-rr steer-random steer-lc steer-lobby haproxy central", b, " ")
				for (j = 1; j <= nb; j++) printf " %s", ((l, b[j]) in v) ? v[l, b[j]] / 1000 : "NaN"
				printf "\n" } }' "$R/balance.tsv" > "$R/plot/b_$n.dat"
		awk -F'\t' -v n="$n" '$1 == n && $3 == "jsq" { print $2, $5 / 1000 }' "$R/jsq.tsv" > "$R/plot/b_${n}_jsq.dat"
		files+=("$n")
		panels=$((panels + 1))
	done
	{
		echo "set terminal pngcairo size $((panels > 1 ? 560 * panels : 760)),480 font \",11\" noenhanced"
		echo "set output \"$D/b_short_p99.png\""
		echo "set multiplot layout 1,$panels title \"B. Short-request (1 ms) p99 vs load; 95% 1 ms / 5% 100 ms, FCFS workers\""
		echo "set logscale y"
		echo "set xlabel \"load\""
		echo "set ylabel \"short p99 (ms, log)\""
		echo "set grid"
		echo "set key top left font \",9\""
		echo "set xrange [0.45:0.9]"
		for n in "${files[@]}"; do
			echo "set title \"$n workers\""
			echo "plot \"$R/plot/b_$n.dat\" using 1:2 with linespoints title \"SO_REUSEPORT\", \\"
			echo "  \"\" using 1:3 with linespoints title \"steer round-robin\", \\"
			echo "  \"\" using 1:4 with linespoints title \"steer random\", \\"
			echo "  \"\" using 1:5 with linespoints lw 3 title \"steer least-conn\", \\"
			echo "  \"\" using 1:6 with linespoints lw 3 title \"steer lobby\", \\"
			echo "  \"\" using 1:7 with linespoints title \"HAProxy leastconn\", \\"
			echo "  \"\" using 1:8 with linespoints title \"one shared listener\", \\"
			echo "  \"$R/plot/b_${n}_jsq.dat\" using 1:2 with linespoints dt 2 lc black title \"JSQ (simulated)\""
		done
		echo "unset multiplot"
	} > "$R/plot/b.gp"
	gnuplot "$R/plot/b.gp"
}

# outstanding per worker over time, 4 workers (or the smallest count) at the highest load
plot_outstanding() {
	have balance.tsv || return 0
	local n l b f k cmd
	n=$(awk -F'\t' '{ print $1 }' "$R/balance.tsv" | sort -n | head -n 1)
	l=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$R/balance.tsv" | sort -n | tail -n 1)
	OUTSTANDING_CELL="$n workers, load $l"
	{
		echo "set terminal pngcairo size 1000,760 font \",10\" noenhanced"
		echo "set output \"$D/b_outstanding.png\""
		echo "set multiplot layout 2,2 title \"B. Outstanding connections per worker (steerctl -j worker list every 0.2 s), $n workers, load $l\""
		echo "set xlabel \"s\""
		echo "set ylabel \"outstanding\""
		echo "set grid"
		echo "set key top left font \",8\""
		for b in reuseport steer-rr steer-lc haproxy; do
			f=$R/balance/w${n}_l$l.$b.samples
			: > "$R/plot/out_$b.dat"
			[ -s "$f" ] && sampler_series "$f" > "$R/plot/out_$b.dat"
		done
		echo "set yrange [0:$(cat "$R"/plot/out_*.dat | awk '{ for (i = 2; i <= NF; i++) if ($i > m) m = $i } END { print m + 1 }')]"
		for b in reuseport steer-rr steer-lc haproxy; do
			[ -s "$R/plot/out_$b.dat" ] || continue
			echo "set title \"$b\""
			cmd="plot"
			for k in $(seq "$n"); do
				cmd="$cmd \"$R/plot/out_$b.dat\" using 1:$((k + 1)) with lines title \"w$k\","
			done
			echo "${cmd%,}"
		done
		echo "unset multiplot"
	} > "$R/plot/out.gp"
	gnuplot "$R/plot/out.gp"
}

plot_c() {
	have unequal.tsv || return 0
	awk -F'\t' '{ split($8, w, ","); printf "%s", $1; t = 0
		for (i = 1; i <= 4; i++) { split(w[i], kv, ":"); c[i] = kv[2]; t += kv[2] }
		for (i = 1; i <= 4; i++) printf " %.1f", t ? 100 * c[i] / t : 0; printf "\n" }' "$R/unequal.tsv" > "$R/plot/c.dat"
	gnuplot <<-EOF
	$(gp_bars 800,420 "$D/c_unequal.png" "C. Share of requests: w1, w2 serve 1 at a time, w3, w4 serve 8 (steer least-conn)")
	set ylabel "% of requests"
	set yrange [0:*]
	set grid ytics
	set key outside right top
	plot "$R/plot/c.dat" using 2:xtic(1) title "w1 (1 slot)", "" using 3 title "w2 (1 slot)", "" using 4 title "w3 (8 slots)", "" using 5 title "w4 (8 slots)"
	EOF
}

have overhead.tsv && overhead_summary "$R/overhead.tsv" "$HZ" > "$R/a_summary.tsv"
OUTSTANDING_CELL=
plot_a || echo "report: the A plot failed" >&2
plot_b || echo "report: the B plot failed" >&2
plot_outstanding || echo "report: the outstanding plot failed" >&2
plot_c || echo "report: the C plot failed" >&2

# ---- RESULTS.md --------------------------------------------------------------------
aval() {	# config column(3=rate 4=rate_ratio 5=cpu 6=cpu_ratio 7=cg 8=cg_ratio 12,13=rate_ratio q1,q3)
	awk -F'\t' -v c="$1" -v k="$2" '$1 == c { print $k; f = 1 } END { if (!f) print "-" }' "$R/a_summary.tsv" 2>/dev/null || echo -
}

{
echo "# steer benchmark results"
echo
if [ -n "$QUICK" ]; then
	echo "**Quick run** (\`make bench-quick\`): reduced durations, 4 workers at load 0.7 only, one"
	echo "repetition. Figures are indicative only; \`make bench\` produces the real ones."
	echo
fi
echo "Generated by \`scripts/bench/report.sh\` from one run of \`scripts/bench/run.sh${QUICK:+ --quick}\` on"
echo "$(mval date) (steer $(mval commit)). All traffic is loopback (127.0.0.0/8) inside private"
echo "network namespaces. Raw data: \`$(realpath --relative-to="$(cd "$BENCH_DIR/../.." && pwd)" "$R" 2>/dev/null || echo "$R")/\` (not committed)."
echo
echo "## Machine"
echo
echo "| | |"
echo "|---|---|"
echo "| CPU | $(mval cpu), $(mval nproc) vCPUs ($(mval mhz) MHz), hypervisor: $(mval hypervisor), clocksource $(mval clocksource) |"
echo "| memory | $(mval mem_gib) GiB |"
echo "| kernel | $(mval kernel) |"
echo "| mitigations | spectre_v2: $(mval spectre_v2); spec_rstack_overflow: $(mval srso) |"
echo "| kernel round trip | getppid() $(mval syscall_ns) ns, clock_gettime() $(mval clock_gettime_ns) ns (\`build/calib\`, median of 7 × 200,000) |"
echo "| load average before / after | $(mval loadavg_before) / $(mval loadavg_after) |"
echo "| tools | HAProxy $(mval haproxy), nginx $(mval nginx), wrk $(mval wrk) |"
read -r _ b0 i0 s0 <<< "$(grep '^stat0' "$R/machine.txt" || echo "x 0 0 0")"
read -r _ b1 i1 s1 <<< "$(grep '^stat1' "$R/machine.txt" || echo "x 0 0 0")"
echo "| steal during the run | $(awk -v s=$((s1 - s0)) -v t=$((b1 - b0 + i1 - i0 + s1 - s0)) 'BEGIN { printf "%.1f%%", t ? 100 * s / t : 0 }') of CPU time (/proc/stat) |"
if have overhead.tsv; then
	echo "| CPU used outside the benchmark | $(awk -F'\t' -v hz="$HZ" '{ b += $6 * 1e6 / hz; g += $8 } END { printf "%.1f%%", b ? 100 * (b - g) / b : 0 }' "$R/overhead.tsv") of the busy time during part A (all-machine busy time minus our cgroup's) |"
fi
echo
echo "A shared, noisy VM: other tenants' work and steal time move every number here by a few percent."
echo "That is why part A puts a direct run before and after every other run and reports ratios to"
echo "those neighbours, and"
echo "part B runs all balancers of one cell back to back on the same trace."
echo
echo "## Commands"
echo
echo '```sh'
echo "make bench         # scripts/install-deps.sh --bench; make all tools bench-tools; scripts/bench/run.sh"
echo "make bench-quick   # the same with --quick, results in build/bench-quick/ (< 2 minutes)"
echo
echo "# the parts, each on its own (root; each re-executes itself in a private netns):"
echo "scripts/bench/cost.sh 20000                       # bpf_stats: ns per decision / per connection"
echo "scripts/bench/overhead.sh build/bench/overhead.tsv  # A"
echo "scripts/bench/balance.sh build/bench                # B (+ jsqsim)"
echo "scripts/bench/unequal.sh build/bench/unequal.tsv    # C"
echo "scripts/bench/longlived.sh build/bench/longlived.txt  # D"
echo "scripts/bench/report.sh build/bench docs/bench      # this file and the plots"
echo '```'
echo
echo "What runs underneath:"
echo
echo "- A: \`wrk -t2 -c32 -d3s -H 'Connection: close' http://TARGET/\` (1 s warm-up first) against 4"
echo "  \`agent --mode ps\` workers; 10 repetitions of direct, X, direct, Y, ... direct, the order of X, Y, ..."
echo "  rotated each time (steer-rr and steer-lc in all 10, the other configurations in the first 4)."
echo "- B: \`loadgen --connect TARGET --rate R --duration 20 --seed 1 --src-range 127.20.0.0/16 --json\`"
echo "  with R = load × workers / 5.95 ms, against \`agent --mode fcfs\` workers; \`jsqsim --workers N"
echo "  --rate R --duration 20 --seed 1\` on the same trace. steer-lc and HAProxy, whose results are"
echo "  close, run twice per cell (the second time at the end, in reverse order); their figures are"
echo "  the mean of the two runs."
echo "- C: the same loadgen trace at 70% of 18 slots (2,118/s) against \`agent --mode ps --slots 1\` ×2"
echo "  and \`--slots 8\` ×2."
echo "- D: \`sclient --connect 127.10.0.1:80 -n 10000 -c 1000 --mode hold --hold-ms 70000\` to 4 \`sworker\`s"
echo "  (first the same without steer, straight to one worker, for the memory baseline), and"
echo "  \`sclient -n 1000 --mode hold\` through HAProxy with \`timeout client 60s\`."
if [ -n "$QUICK" ]; then
	echo "- --quick: cost.sh at 4 workers only (5,000 connections, one batch); A one repetition of 1 s runs;"
	echo "  B 4 workers at load 0.7, 6 s per balancer; C 5 s per run; D holds 10 s against a 5 s proxy timeout."
fi
echo "- steer: \`steerctl load --cgroup CG/srv\`, \`pool add p --policy P\`, \`service add s --prefix"
echo "  127.10.0.1/32 --port 80 --pool p\`, \`worker add p wN --addr 127.0.0.1:910N [--weight W]\`"
echo "  (\`--pid --fd\` for the SO_REUSEPORT group)."
echo "- HAProxy 2.6: \`haproxy -db -f CFG\`, \`mode tcp\`, \`balance leastconn\`, timeouts connect 5s,"
echo "  client/server 60s, default threads (one per CPU). nginx: \`nginx -p DIR -e LOG -c CONF\`,"
echo "  \`load_module ngx_stream_module.so\`, \`worker_processes auto\`, \`upstream { least_conn; zone }\`,"
echo "  \`daemon off\`, \`user root\`."
echo "- Workers and proxies run in a child cgroup to which steer's sockops is attached; clients"
echo "  (wrk, loadgen, sclient) run outside it, as remote clients would."

# ---- headline
echo
echo "## Headline"
echo
if have a_summary.tsv; then
	echo "**A. Overhead** (new connections per second and CPU per connection, ratio to one shared listener):"
	echo
	echo "| | rate / direct (median) | range over the runs | CPU per connection / direct |"
	echo "|---|---|---|---|"
	for c in reuseport steer-rr steer-lc steer-lobby haproxy nginx; do
		[ "$(aval $c 4)" = - ] && [ "$c" = steer-lobby ] && continue
		echo "| $c | $(aval $c 4) | $(aval $c 10) – $(aval $c 11) | $(aval $c 6) |"
	done
	echo
fi
if [ -n "$B_CELLS" ]; then
	echo "**B. Heavy tail** (short-request p99 of steer least-conn, and that p99 as a ratio of the others'):"
	echo
	echo "| workers | load | steer least-conn p99 (ms) | ÷ round-robin | ÷ SO_REUSEPORT | ÷ simulated JSQ | ÷ HAProxy leastconn | ÷ shared listener |"
	echo "|---|---|---|---|---|---|---|---|"
	for cell in $B_CELLS; do
		n=${cell%/*} l=${cell#*/}
		lc=$(b_val "$n" "$l" steer-lc 7)
		echo "| $n | $l | $(ms "$lc") | $(ratio "$lc" "$(b_val "$n" "$l" steer-rr 7)") | $(ratio "$lc" "$(b_val "$n" "$l" reuseport 7)") | $(ratio "$lc" "$(sim_val "$n" "$l" jsq 5)") | $(ratio "$lc" "$(b_val "$n" "$l" haproxy 7)") | $(ratio "$lc" "$(b_val "$n" "$l" central 7)") |"
	done
	if [ "$(echo "$B_CELLS" | wc -w)" -gt 1 ]; then
		echo "| all | geometric mean | | $(geomean_ratio steer-rr) | $(geomean_ratio reuseport) | $(geomean_ratio sim:jsq) | $(geomean_ratio haproxy) | $(geomean_ratio central) |"
	fi
	echo
fi
if [ -n "$HAVE_LOBBY" ]; then
	echo "**The lobby** (steer least-conn with a lobby: a connection that finds every worker busy waits"
	echo "in one shared queue; short-request p99 as a ratio of the shared listener's and of steer least-conn's,"
	echo "long-request p99 of steer least-conn's; simulated join-idle-queue, the bound):"
	echo
	echo "| workers | load | steer-lobby p99 (ms) | ÷ shared listener | ÷ steer least-conn | long p99 ÷ steer least-conn | simulated JIQ p99 (ms) |"
	echo "|---|---|---|---|---|---|---|"
	for cell in $B_CELLS; do
		n=${cell%/*} l=${cell#*/}
		lb=$(b_val "$n" "$l" steer-lobby 7)
		echo "| $n | $l | $(ms "$lb") | $(ratio "$lb" "$(b_val "$n" "$l" central 7)") | $(ratio "$lb" "$(b_val "$n" "$l" steer-lc 7)") | $(ratio "$(b_val "$n" "$l" steer-lobby 10)" "$(b_val "$n" "$l" steer-lc 10)") | $(ms "$(sim_val "$n" "$l" jiq 5)") |"
	done
	echo
fi

# ---- targets
echo "## Targets"
echo
echo "| target | measured | verdict |"
echo "|---|---|---|"
if have a_summary.tsv; then
	for c in steer-lc steer-rr; do
		v=$(aval $c 4)
		lim=0.97
		[ $c = steer-rr ] && lim=0.99	# issue 12
		echo "| A: $c rate / direct ≥ $lim (median of $(aval $c 2) runs; interquartile range $(aval $c 12)–$(aval $c 13)) | $v | $(verdict "$v" ">=" $lim) |"
	done
fi
if have a_summary.tsv && [ "$(aval steer-lobby 4)" != - ]; then
	v=$(ratio "$(aval steer-lobby 4)" "$(aval steer-lc 4)")
	echo "| A: steer-lobby rate ≥ 0.97 × steer-lc's (ratios to direct) | $v | $(verdict "$v" ">=" 0.97) |"
fi
if [ -n "$HAVE_LOBBY" ]; then
	for cell in $B_CELLS; do
		n=${cell%/*} l=${cell#*/}
		lb=$(b_val "$n" "$l" steer-lobby 7)
		v=$(ratio "$lb" "$(b_val "$n" "$l" central 7)")
		echo "| B $n workers, load $l: steer-lobby short p99 ≤ 1.15 × shared listener | $v | $(verdict "$v" "<=" 1.15) |"
		if [ "$l" = 0.85 ]; then
			v=$(ratio "$lb" "$(b_val "$n" "$l" steer-lc 7)")
			echo "| B $n workers, load $l: steer-lobby short p99 ≤ 0.7 × steer-lc | $v | $(verdict "$v" "<=" 0.7) |"
		fi
		v=$(ratio "$(b_val "$n" "$l" steer-lobby 10)" "$(b_val "$n" "$l" steer-lc 10)")
		echo "| B $n workers, load $l: steer-lobby long p99 ≤ 1.05 × steer-lc | $v | $(verdict "$v" "<=" 1.05) |"
	done
fi
if have cost.txt && [ "$(cost_val 4 least-conn 9)" != - ]; then
	# steer / the reference program, alternated in one run (cost.sh)
	cost_targets "$R/cost.txt" | awk -F'\t' '{ printf "| %s ≤ %s × the reference (side by side) | %s × | %s |\n",
		$1, $3, $2, $4 == "not met" ? "**not met**" : $4 }'
fi
if have cost.txt; then
	v=$(cost_val 4 least-conn)
	echo "| sk_lookup ≤ 100 ns per decision at 4 workers (least-conn) | $v ns | $(verdict "$v" "<=" 100) |"
	v=$(cost_val 4 round-robin)
	echo "| sk_lookup ≤ 100 ns per decision at 4 workers (round-robin) | $v ns | $(verdict "$v" "<=" 100) |"
	for p in least-conn round-robin; do
		v=$(cost_val 1024 $p)
		[ "$v" = - ] || echo "| sk_lookup ≤ 250 ns per decision at 1,024 workers ($p) | $v ns | $(verdict "$v" "<=" 250) |"
	done
	v=$(cost_val 4 least-conn 5)
	echo "| sockops ≤ 300 ns per connection (server side, 4 workers) | $v ns | $(verdict "$v" "<=" 300) |"
fi
for cell in $B_CELLS; do
	n=${cell%/*} l=${cell#*/}
	lc=$(b_val "$n" "$l" steer-lc 7)
	v=$(ratio "$lc" "$(b_val "$n" "$l" steer-rr 7)")
	echo "| B $n workers, load $l: least-conn p99 ≤ 0.45 × round-robin | $v × | $(verdict "$v" "<=" 0.45) |"
	v=$(ratio "$lc" "$(b_val "$n" "$l" reuseport 7)")
	echo "| B $n workers, load $l: least-conn p99 ≤ 0.45 × SO_REUSEPORT | $v × | $(verdict "$v" "<=" 0.45) |"
	v=$(ratio "$lc" "$(sim_val "$n" "$l" jsq 5)")
	echo "| B $n workers, load $l: least-conn p99 ≤ 1.15 × simulated JSQ | $v × | $(verdict "$v" "<=" 1.15) |"
	v=$(ratio "$lc" "$(b_val "$n" "$l" haproxy 7)")
	echo "| B $n workers, load $l: least-conn p99 ≤ HAProxy leastconn | $v × | $(verdict "$v" "<=" 1.00) |"
done
if [ "$(echo "$B_CELLS" | wc -w)" -gt 1 ]; then
	v=$(geomean_ratio steer-rr)
	echo "| B all cells (geometric mean): least-conn p99 ≤ 0.45 × round-robin | $v × | $(verdict "$v" "<=" 0.45) |"
	v=$(geomean_ratio reuseport)
	echo "| B all cells (geometric mean): least-conn p99 ≤ 0.45 × SO_REUSEPORT | $v × | $(verdict "$v" "<=" 0.45) |"
	v=$(geomean_ratio sim:jsq)
	echo "| B all cells (geometric mean): least-conn p99 ≤ 1.15 × simulated JSQ | $v × | $(verdict "$v" "<=" 1.15) |"
	v=$(geomean_ratio haproxy)
	echo "| B all cells (geometric mean): least-conn p99 ≤ HAProxy leastconn | $v × | $(verdict "$v" "<=" 1.00) |"
fi
if have longlived.txt; then
	lv() { awk -v k="$1" '$1 == k { print $2 }' "$R/longlived.txt"; }
	echo "| D: $(lv conns) idle connections held $(lv held_s) s, none cut | $(lv steer_lost) lost | $( [ "$(lv steer_lost)" = 0 ] && [ "$(lv steer_ok)" = "$(lv conns)" ] && echo met || echo '**not met**') |"
fi

# ---- why
echo
echo "### Why, where a target is missed"
echo
if have cost.txt; then
	floor=$(cost_val 4 unmatched)
	echo "- **sk_lookup and sockops cost.** A connection to an address no service covers costs the"
	echo "  sk_lookup program $floor ns here (an LPM miss and nothing else), and the sockops callbacks"
	echo "  that only return cost $(awk '$1 == 4 && $2 == "client-in-cg" { c = $5; k = $6 } $1 == 4 && $2 == "least-conn" { s = $5; j = $6 }
		END { if (k > j) printf "about %.0f ns each ((%s − %s) ns over %.0f extra calls per connection, row client-in-cg)", (c - s) / (k - j), c, s, k - j; else printf "?" }' "$R/cost.txt")."
	echo "  A getppid() system call takes $(mval syscall_ns) ns on this machine (bare metal: ~50–100 ns):"
	echo "  the guest runs with retpolines and the SRSO \"Safe RET\" mitigation without microcode, which"
	echo "  make every call and return in the kernel, BPF programs and helpers included, several times"
	echo "  dearer. A server-side connection makes $(cost_val 4 least-conn 6) sockops calls (request socket init,"
	echo "  PASSIVE_ESTABLISHED, then one per state change once steer turns state callbacks on), so the"
	echo "  per-connection figure is mostly calls × that floor, not steer's own work."
	if [ "$(cost_val 64 least-conn)" != - ]; then
		echo "  The decision cost hardly moves from 4 to 64 workers ($(cost_val 4 least-conn) → $(cost_val 64 least-conn) ns,"
		echo "  least-conn; an exact scan of at most 16)."
	fi
	if [ "$(cost_val 1024 least-conn)" != - ]; then
		echo "  At 1,024 workers least-conn (the better of two random choices) takes $(cost_val 1024 least-conn) ns and"
		echo "  round-robin $(cost_val 1024 round-robin) ns: the entries of the workers it reads are seldom in cache then."
	fi
	echo "  The targets assume a machine where a kernel round trip is a fraction of this one's."
fi
for cell in $B_CELLS; do
	n=${cell%/*} l=${cell#*/}
	lc=$(b_val "$n" "$l" steer-lc 7)
	rr=$(b_val "$n" "$l" steer-rr 7)
	jsq=$(sim_val "$n" "$l" jsq 5)
	simrr=$(sim_val "$n" "$l" rr 5)
	if [ "$(verdict "$(ratio "$lc" "$rr")" "<=" 0.45)" != met ]; then
		echo "- **B $n workers, load $l, ÷ round-robin = $(ratio "$lc" "$rr").** Ideal JSQ on the same trace"
		echo "  (jsqsim) gives $(ms "$jsq") ms against $(ms "$simrr") ms for simulated round-robin, a ratio of"
		echo "  $(ratio "$jsq" "$simrr"): $( [ "$(verdict "$(ratio "$jsq" "$simrr")" "<=" 0.45)" = met ] && echo "the target is reachable in principle and steer falls short of it here." || echo "no join-the-shortest-queue dispatcher can reach 0.45 here. With FCFS workers a short request that arrives when every worker is busy still queues behind whatever is in service, often a 100 ms request; only one shared queue (central, $(ms "$(sim_val "$n" "$l" central 5)") ms simulated) avoids that.")"
	fi
	rp=$(b_val "$n" "$l" reuseport 7)
	if [ "$(verdict "$(ratio "$lc" "$rp")" "<=" 0.45)" != met ]; then
		echo "- **B $n workers, load $l, ÷ SO_REUSEPORT = $(ratio "$lc" "$rp").** SO_REUSEPORT hashes each"
		echo "  connection's addresses and ports, in effect a random pick: simulated random gives"
		echo "  $(ms "$(sim_val "$n" "$l" random 5)") ms and ideal JSQ $(ms "$jsq") ms, a ratio of $(ratio "$jsq" "$(sim_val "$n" "$l" random 5)"); the measured"
		echo "  SO_REUSEPORT p99 is $(ms "$rp") ms."
	fi
	if [ "$(verdict "$(ratio "$lc" "$jsq")" "<=" 1.15)" != met ]; then
		l0=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$R/balance.tsv" | sort -n | head -n 1)
		l2=$(awk -F'\t' -v n="$n" -v l="$l" '$1 == n && $2 > l { print $2 }' "$R/balance.tsv" | sort -n | head -n 1)
		p50c=$(b_val "$n" "$l0" central 6)
		echo "- **B $n workers, load $l, ÷ simulated JSQ = $(ratio "$lc" "$jsq").** The simulator serves a 1 ms"
		echo "  request in exactly 1 ms and has no connection setup, timer slack or scheduling noise. Here"
		echo "  a 1 ms request takes $(awk -v u="$p50c" 'BEGIN { printf "%.2f", u / 1000 }') ms at p50 even through the shared listener at load $l0; the same"
		echo "  extra time on every request"
		awk -v l="$l" -v l2="${l2:--}" -v p="$p50c" -v j1="$jsq" -v j2="$( [ -n "$l2" ] && sim_val "$n" "$l2" jsq 5 || echo -)" -v m="$lc" 'BEGIN {
			x = p / 1000 - 1; if (x < 0) x = 0
			eff = l * (5.95 + x) / 5.95
			printf "  puts the real load near %.2f rather than %s.", eff, l
			if (l2 != "-" && j2 != "-") printf " Simulated JSQ p99 climbs from %.0f ms at %s to %.0f ms at %s:\n  at %.2f it is about %.0f ms by interpolation, against %.0f ms measured for steer-lc.",
				j1 / 1000, l, j2 / 1000, l2, eff, (j1 + (j2 - j1) * (eff - l) / (l2 - l)) / 1000, m / 1000
			printf "\n" }'

	fi
	if [ "$(verdict "$(ratio "$lc" "$(b_val "$n" "$l" haproxy 7)")" "<=" 1.00)" != met ]; then
		l1=$(b_val "$n" "$l" steer-lc 7 1) l2=$(b_val "$n" "$l" steer-lc 7 2)
		h1=$(b_val "$n" "$l" haproxy 7 1) h2=$(b_val "$n" "$l" haproxy 7 2)
		echo "- **B $n workers, load $l, ÷ HAProxy = $(ratio "$lc" "$(b_val "$n" "$l" haproxy 7)").** Both count connections"
		echo "  exactly and pick the least loaded worker, so they should tie. p99 per run on the same"
		echo "  trace: steer-lc $(ms "$l1")$( [ "$l2" = - ] || echo " and $(ms "$l2")") ms, HAProxy $(ms "$h1")$( [ "$h2" = - ] || echo " and $(ms "$h2")") ms. $(awk -v a1="$l1" -v a2="$l2" -v b1="$h1" -v b2="$h2" 'BEGIN {
			if (a2 == "-" || b2 == "-") { print "(One run each: a few percent is what one run moves on this VM.)"; exit }
			s1 = a1 > a2 ? (a1 - a2) / ((a1 + a2) / 2) : (a2 - a1) / ((a1 + a2) / 2)
			s2 = b1 > b2 ? (b1 - b2) / ((b1 + b2) / 2) : (b2 - b1) / ((b1 + b2) / 2)
			sp = s1 > s2 ? s1 : s2; g = ((a1 + a2) - (b1 + b2)) / (b1 + b2)
			printf "The gap of the means (%.0f%%) is %s the run-to-run spread of one balancer (up to %.0f%%).", 100 * g, g <= sp ? "within" : "larger than", 100 * sp }')"
	fi
done
if have a_summary.tsv; then
	for c in steer-lc steer-rr; do
		if [ "$(verdict "$(aval $c 4)" ">=" 0.97)" != met ]; then
			echo "- **A $c rate / direct = $(aval $c 4).** Run by run: $(awk -F'\t' -v c=$c '{ cfg[NR] = $2; r[NR] = $5 }
				END { for (i = 1; i <= NR; i++) if (cfg[i] == c) { k = 0; d = 0
					for (j = i - 1; j >= 1; j--) if (cfg[j] == "direct") { k++; d += r[j]; break }
					for (j = i + 1; j <= NR; j++) if (cfg[j] == "direct") { k++; d += r[j]; break }
					if (k && d) printf "%s%.3f", (n++ ? ", " : ""), r[i] / (d / k) } }' "$R/overhead.tsv"). The CPU per"
			echo "  connection ratio is $(aval $c 6): every connection pays the sk_lookup decision and ~8"
			echo "  sockops calls (see above), a few percent of the ~$(aval direct 5) µs a connection costs here end to end."
		fi
	done
fi

# ---- A detail
if have a_summary.tsv; then
	echo
	echo "## A. Overhead"
	echo
	echo "4 \`agent --mode ps\` workers, wrk with \`Connection: close\` (every request a new connection,"
	reps=$(awk -F'\t' '{ print $1 }' "$R/overhead.tsv" | sort -u | wc -l)
	echo "no work per request), $reps repetition$( [ "$reps" = 1 ] || echo "s"), each configuration run between two direct runs. CPU per connection: all-machine busy"
	echo "time (/proc/stat: user + nice + system + irq + softirq) ÷ requests; \"cgroup\": the namespace"
	echo "run's own cgroup (wrk, workers, proxy) ÷ requests. Medians; a run's ratio is to the mean of"
	echo "the direct runs just before and after it, then the median over the runs."
	echo
	echo "| config | runs | conn/s | ÷ direct (median) | interquartile range | full range | CPU µs/conn | ÷ direct | cgroup CPU µs/conn | ÷ direct | errors |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' '{ d = $1 == "direct"; printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4,
		(d ? "" : $12 " – " $13), (d ? "" : $10 " – " $11), $5, $6, $7, $8, $9 }' "$R/a_summary.tsv"
	echo
	echo "The range column is how far single runs stray on this VM; differences among direct,"
	echo "SO_REUSEPORT and steer smaller than that are not resolved by this run."
	echo
	echo "- direct: one listening socket shared by 4 worker processes (\`agent --procs 4\`, EPOLLEXCLUSIVE)."
	echo "- reuseport: 4 agents with SO_REUSEPORT on one port. steer-rr / steer-lc: 4 agents on their"
	echo "  own ports behind steer. steer-lobby: the same with a lobby (\`--slots 64\` in steer and in"
	echo "  the agents, one lobby socket they all accept from). haproxy / nginx: the same 4 agents behind the proxy (two TCP"
	echo "  connections per request, and the proxy's CPU)."
	echo
	echo "![A overhead](a_overhead.png)"
	echo
	echo "Every run (rep, config, requests, seconds, rate, busy jiffies, steal jiffies, cgroup µs, errors):"
	echo
	echo '```'
	column -t "$R/overhead.tsv"
	echo '```'
fi
if have cost.txt; then
	echo
	echo "### Kernel cost per decision and per connection (cost.sh, bpf_stats)"
	echo
	echo "run_time_ns ÷ run_cnt of steer's own programs (found through its pinned links) over"
	echo "$(awk 'NR == 2 { print $8 }' "$R/cost.txt") connections made by \`sclient\` with distinct source addresses,"
	echo "median of the batches. Workers: listening sockets of one \`listeners\` process. \`unmatched\`:"
	echo "connections straight to a worker's port, which no service covers (the LPM miss floor)."
	echo "\`client-in-cg\`: the clients run inside the sockops cgroup too, so their own sockets' calls"
	echo "are counted (what every other TCP socket of a host pays when sockops is attached to the root)."
	echo "\`ref-for-lc\`, \`ref-for-rr\`: the reference program (scripts/bench/src/ref_steer.bpf.c: LPM service"
	echo "lookup, exact least-conn over an array of counters, two random choices above 16 workers, SOCKMAP"
	echo "lookup, sk_assign; sockops +1/−1 through a cloned sk_storage tag) swapped into steer's links on"
	echo "the same listeners, its batches alternated with the row above's (ref, steer, ref, steer…)."
	echo "\`lookup_x\`, \`sockops_x\`: the median over those pairs of steer's batch ÷ the ref batch before it."
	echo
	echo '```'
	cat "$R/cost.txt"
	echo '```'
fi

# ---- B detail
if [ -n "$B_CELLS" ]; then
	echo
	echo "## B. Heavy-tailed requests"
	echo
	echo "Requests: 95% 1 ms, 5% 100 ms (sleep; mean 5.95 ms), one new connection each, Poisson"
	echo "arrivals (open loop; latency from the scheduled send time). Workers: \`agent --mode fcfs\`, one"
	echo "request at a time, accepting only when idle, so their queues are their accept queues, which"
	echo "steer counts. All balancers of a cell get the same trace (seed 1), back to back in an order"
	echo "rotated from cell to cell; steer-lc and HAProxy run a second time at the end of each cell"
	echo "(\"p99 ÷ steer-lc\" divides by the mean of steer-lc's runs). Latencies in ms. Peak outstanding: per worker, the highest of the"
	echo "0.2 s samples (for SO_REUSEPORT and HAProxy steer is loaded only to count). Two random"
	echo "choices: steer switches to it above 16 workers by itself, so it is not a separate setting at"
	echo "4 and 8 workers. steer-lobby: steer least-conn, every agent \`--slots 1\` in steer and on one"
	echo "lobby socket (\`--lobby-fd 3\`, made once by scripts/examples/lobby_launch.py): a connection that"
	echo "finds every worker busy waits in the lobby for the first worker to free. *jiq (simulated)*:"
	echo "join-idle-queue on the same trace, the bound of a lobby (with one-at-a-time workers it equals central)."
	for cell in $B_CELLS; do
		n=${cell%/*} l=${cell#*/}
		echo
		echo "### $n workers, load $l ($(awk -v l="$l" -v n="$n" 'BEGIN { printf "%.0f", l * n * 1000 / 5.95 }')/s)"
		echo
		echo "| balancer | short p50 | short p99 | short p99.9 | long p99 | p99 ÷ steer-lc | peak outstanding per worker | mean | errors |"
		echo "|---|---|---|---|---|---|---|---|---|"
		lc=$(b_val "$n" "$l" steer-lc 7)
		for b in $B_BALANCERS; do
			runs=$(b_runs "$n" "$l" "$b")
			for r in $(seq "$runs"); do
				label=$b
				[ "$runs" -gt 1 ] && label="$b (run $r)"
				echo "| $label | $(ms "$(b_val "$n" "$l" "$b" 6 "$r")") | $(ms "$(b_val "$n" "$l" "$b" 7 "$r")") | $(ms "$(b_val "$n" "$l" "$b" 8 "$r")") | $(ms "$(b_val "$n" "$l" "$b" 10 "$r")") | $(ratio "$(b_val "$n" "$l" "$b" 7 "$r")" "$lc") | $(b_val_run "$n" "$l" "$b" 13 "$r") | $(b_val_run "$n" "$l" "$b" 14 "$r") | $(b_val "$n" "$l" "$b" 5 "$r") |"
			done
		done
		for p in jsq rr random central jiq; do
			echo "| *$p (simulated)* | $(ms "$(sim_val "$n" "$l" $p 4)") | $(ms "$(sim_val "$n" "$l" $p 5)") | $(ms "$(sim_val "$n" "$l" $p 6)") | | $(ratio "$(sim_val "$n" "$l" $p 5)" "$lc") | | | |"
		done
	done
	echo
	echo "![B short p99](b_short_p99.png)"
	echo
	echo "![B outstanding](b_outstanding.png)"
	echo
	echo "The second plot is $OUTSTANDING_CELL: with round-robin and SO_REUSEPORT one worker's queue"
	echo "grows behind long requests while others sit idle; least-conn and HAProxy keep the queues level."
fi

# ---- C detail
if have unequal.tsv; then
	echo
	echo "## C. Unequal workers"
	echo
	echo "w1, w2: \`agent --mode ps --slots 1\`; w3, w4: \`--slots 8\`; steer least-conn; the part B mix at"
	echo "70% of the 18 slots. \"weighted\": weights 100, 100, 800, 800 (from capacity); \"equal\": 100 each;"
	echo "\"lobby\": weighted, with steer \`--slots\` 1, 1, 8, 8 and the four agents on one lobby socket."
	echo
	echo "| weights | short p50 | short p99 | short p99.9 | long p99 | share w1 / w2 / w3 / w4 | peak outstanding | errors |"
	echo "|---|---|---|---|---|---|---|---|"
	while IFS=$'\t' read -r cfg _ err p50 p99 p999 lp99 counts peaks _; do
		share=$(awk -v s="$counts" 'BEGIN { n = split(s, w, ","); for (i = 1; i <= n; i++) { split(w[i], kv, ":"); c[i] = kv[2]; t += kv[2] }
			for (i = 1; i <= n; i++) printf "%s%.1f%%", (i > 1 ? " / " : ""), t ? 100 * c[i] / t : 0 }')
		echo "| $cfg | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $(ms "$lp99") | $share | $peaks | $err |"
	done < "$R/unequal.tsv"
	echo
	echo "By capacity w3 and w4 should take 8/18 = 44.4% each and w1, w2 5.6%. Least-conn with equal"
	echo "weights evens out *counts*, so a one-slot worker is handed as many open connections as an"
	echo "eight-slot one and serves them one after another; weights from capacity make it compare"
	echo "count ÷ weight instead."
	echo
	echo "![C unequal](c_unequal.png)"
fi

# ---- D detail
if have longlived.txt; then
	lv() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$R/longlived.txt"; }
	echo
	echo "## D. Long-lived idle connections"
	echo
	echo "$(lv conns) connections through steer least-conn to 4 \`sworker\`s (\`sclient --mode hold\`: read the"
	echo "worker's name, then idle), all established in $(lv established_s) s and held $(lv held_s) s$( [ -n "$QUICK" ] && echo " (quick run: a short hold; \`make bench\` holds 70 s, past a 60 s proxy timeout)")."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| established / lost during the hold | $(lv steer_ok) / $(lv steer_lost) (sclient exit $(lv steer_exit)) |"
	echo "| outstanding per worker: start / near the end / after | $(lv outstanding_start) / $(lv outstanding_end) / $(lv outstanding_after) |"
	echo "| kernel slab per connection through steer (both ends on this host) | $(lv slab_bytes_per_conn) bytes (/proc/meminfo Slab +$(lv slab_kb_delta) kB) |"
	echo "| the same connections without steer | $(lv slab_bytes_per_conn_direct) bytes (Slab +$(lv slab_kb_delta_direct) kB) |"
	echo "| socket buffer memory during the hold | $(lv tcp_mem_pages_hold) pages, all of TCP on the host (/proc/net/sockstat \"mem\"): idle sockets hold no buffers |"
	echo "| the same idle hold through HAProxy (timeout client/server $(lv proxy_timeout_s) s) | $(lv proxy_lost) of $(lv proxy_conns) cut |"
	echo
	echo "Slab caches, bytes per connection (active objects × object size; a connection is two sockets"
	echo "here, the client's and the worker's, so a server with remote clients keeps about half):"
	echo
	echo "| cache | without steer | through steer |"
	echo "|---|---|---|"
	awk '$1 == "slab_cache" { printf "| %s | %s | %s |\n", $2, $3, $4 }' "$R/longlived.txt"
	echo
	echo "\`TCP\` is the two socket structs; \`sock_inode_cache\`, \`dentry\` and \`filp\` the two socket"
	echo "files; \`eventpoll_epi\` the two epoll registrations. What steer adds is its socket storage on"
	echo "each accepted socket (the worker tag, cloned from the listener: a local-storage element and"
	echo "the socket's storage header), the kmalloc caches that grow only through steer:"
	echo "$(awk '$1 == "slab_cache" && $2 ~ /^kmalloc/ { t += $4 - $3 } END { printf "%.0f", t }' "$R/longlived.txt") bytes per connection. Its counters are per worker, not per connection."
fi

if have status.tsv; then
	echo
	echo "## Run"
	echo
	echo "| part | exit | seconds | raw file written (UTC) |"
	echo "|---|---|---|---|"
	# the file times show a part that was re-run alone after the main run
	while IFS=$'\t' read -r part rc secs; do
		file=$(ls "$R/$part".* 2>/dev/null | head -n 1)
		when=$([ -n "$file" ] && date -u -r "$file" '+%Y-%m-%d %H:%M' || echo -)
		echo "| $part | $rc | $secs | $when |"
	done < "$R/status.tsv"
fi
} > "$MD"
echo "report: wrote $MD" >&2
