#!/bin/bash
# test_report.sh - checks the result parsers of lib.sh on sample outputs of
# loadgen --json, jsqsim, the outstanding sampler, overhead.sh and cost.sh.
# No root, no network. run.sh runs it first. Prints "N passed, N failed".
#
# Usage: scripts/bench/test_report.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

is() {	# is GOT WANT NAME
	if [ "$1" = "$2" ]; then
		pass=$((pass + 1))
		echo "ok - $3"
	else
		fail=$((fail + 1))
		echo "not ok - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# a real loadgen --json report (4 workers, names out of order)
cat > "$tmp/lg.json" <<'EOF'
{"target":"127.10.0.1:80","rate":470.6,"duration_s":6,"seed":1,"mix":"0.95:1,0.05:100","requests":2893,"sent":2893,"ok":2893,"sent_rate":482.23,"ok_rate":474.29,"send_lag_p99_us":366,"send_lag_max_us":4024,"classes":{"short":{"count":2757,"ok":2757,"errors":0,"p50_us":1395,"p99_us":172543,"p999_us":275455,"max_us":279171,"mean_us":18960.1},"long":{"count":136,"ok":136,"errors":0,"p50_us":100607,"p99_us":283647,"p999_us":287743,"max_us":288384,"mean_us":116095.0}},"workers":{"w3":726,"w4":782,"w1":622,"w2":763},"errors":{}}
EOF
is "$(loadgen_row "$tmp/lg.json")" \
	"2893 0 1395 172543 275455 279171 283647 366 w1:622,w2:763,w3:726,w4:782" \
	"loadgen_row: counts, short percentiles, long p99, lag, workers sorted"

# every request failed: no workers, errors summed over both classes
cat > "$tmp/lg-fail.json" <<'EOF'
{"target":"127.10.0.1:80","rate":10,"duration_s":1,"seed":1,"mix":"0.95:1,0.05:100","requests":9,"sent":9,"ok":0,"sent_rate":9.00,"ok_rate":0.00,"send_lag_p99_us":50,"send_lag_max_us":60,"classes":{"short":{"count":8,"ok":0,"errors":8,"p50_us":0,"p99_us":0,"p999_us":0,"max_us":0,"mean_us":0.0},"long":{"count":1,"ok":0,"errors":1,"p50_us":0,"p99_us":0,"p999_us":0,"max_us":0,"mean_us":0.0}},"workers":{},"errors":{"connect":9}}
EOF
is "$(loadgen_row "$tmp/lg-fail.json")" "0 9 0 0 0 0 0 50 -" "loadgen_row: all failed"

# the same report from the loadgen binary's own code path, if built
if [ -x "$LOADGEN" ]; then
	out=$("$LOADGEN" --connect 127.0.0.1:1 --rate 50 --duration 0.1 --timeout-ms 200 --json 2>/dev/null)
	echo "$out" > "$tmp/lg-real.json"
	is "$(loadgen_row "$tmp/lg-real.json" | awk '{ print $1, ($2 > 0), $NF }')" "0 1 -" \
		"loadgen_row: live loadgen --json against a closed port"
fi

cat > "$tmp/sim.txt" <<'EOF'
jsqsim workers 4 rate 470.6/s duration 6 s seed 1 mix 0.95:1,0.05:100
requests 2893 utilisation 0.682 (work / (workers * duration))
policy      short_n     p50_us     p99_us   p99.9_us     max_us long_p99_us mean_wait_us
jsq            2757       1001     159231     219647     226185     253439      15287.3
rr             2757      41599     247295     314367     333182     302079      57372.8
random         2757      41855     451583     506879     516889     510975      71473.6
central        2757       1001      72447      89855      91389     176639       8042.7
EOF
is "$(jsqsim_rows "$tmp/sim.txt" | tr '\n' ';')" \
	"jsq 1001 159231 219647;rr 41599 247295 314367;random 41855 451583 506879;central 1001 72447 89855;" \
	"jsqsim_rows: policy p50 p99 p99.9"

# sampler lines: worker list order varies; a failed sample is null
w() { printf '{"name":"%s","pool":"p","outstanding":%s,"pending":0}' "$1" "$2"; }
{
	echo "{\"t\":100.0,\"w\":{\"workers\":[$(w w2 1),$(w w1 4)]}}"
	echo "{\"t\":100.2,\"w\":null}"
	echo "{\"t\":100.4,\"w\":{\"workers\":[$(w w1 0),$(w w2 6)]}}"
	echo "{\"t\":100.6,\"w\":{\"workers\":[$(w w1 2),$(w w2 2)]}}"
} > "$tmp/samples"
is "$(sampler_summary "$tmp/samples")" "4,6 2,3" "sampler_summary: peak and mean per worker"
is "$(sampler_series "$tmp/samples" | tr '\n' ';')" "0 4 1;0.4 0 6;0.6 2 2;" "sampler_series: seconds, then workers by name"
: > "$tmp/empty"
is "$(sampler_summary "$tmp/empty")" "- -" "sampler_summary: no samples"

# overhead.tsv rows in run order; a run is compared with the mean of the
# direct runs just before and after it. CPU us/conn = busy jiffies * 1e6 /
# HZ / requests. steer-lc: rate 990 / mean(1000, 1200) = 0.900; CPU
# 1010.1 / mean(1000, 833.3) = 1.102; cgroup 1000 / mean(900, 800) = 1.176.
printf '%s\n' \
	"1	direct	1000	1.00	1000	100	0	900000	0" \
	"1	steer-lc	990	1.00	990	100	0	990000	0" \
	"1	direct	1200	1.00	1200	100	0	960000	0" \
	"2	haproxy	500	1.00	500	100	1	450000	2" \
	"2	direct	1000	1.00	1000	100	0	900000	0" > "$tmp/overhead.tsv"
is "$(overhead_summary "$tmp/overhead.tsv" 100 | tr '\t' ' ' | tr '\n' ';')" \
	"direct 3 1000 1.000 1000.0 1.000 900.0 1.000 0 1.000 1.000 1.000 1.000;steer-lc 1 990 0.900 1010.1 1.102 1000.0 1.176 0 0.900 0.900 0.900 0.900;haproxy 1 500 0.455 2000.0 2.182 900.0 1.059 2 0.455 0.455 0.455 0.455;" \
	"overhead_summary: medians, ratios to the direct runs around each run"
# only a direct run before (the last run of a file)
printf '%s\n' "1	direct	1000	1.00	1000	100	0	900000	0" \
	"1	nginx	400	1.00	400	100	0	360000	0" > "$tmp/overhead2.tsv"
is "$(overhead_summary "$tmp/overhead2.tsv" 100 | awk '$1 == "nginx" { print $4, $6 }')" "0.400 2.500" \
	"overhead_summary: one neighbouring direct run"

# quartiles of a config's ratios: steer-rr 0.8, 0.9, 1.0, 1.1, 1.2 (each
# between two direct runs of 1000): q1 0.900, median 1.000, q3 1.100
{
	echo "1	direct	1000	1.00	1000	100	0	900000	0"
	for r in 800 1000 1200 900 1100; do
		echo "1	steer-rr	$r	1.00	$r	100	0	900000	0"
		echo "1	direct	1000	1.00	1000	100	0	900000	0"
	done
} > "$tmp/overhead3.tsv"
is "$(overhead_summary "$tmp/overhead3.tsv" 100 | awk '$1 == "steer-rr" { print $2, $4, $10, $11, $12, $13 }')" \
	"5 1.000 0.800 1.200 0.900 1.100" "overhead_summary: median, range and interquartile range of ratios"
# four runs, sorted 0.8 0.9 1.0 1.2: q1 at 1.75 = 0.875, q3 at 3.25 = 1.050
head -9 "$tmp/overhead3.tsv" > "$tmp/overhead4.tsv"
is "$(overhead_summary "$tmp/overhead4.tsv" 100 | awk '$1 == "steer-rr" { print $12, $13 }')" \
	"0.875 1.050" "overhead_summary: quartiles between runs"

# cost.sh's rows: steer / reference in columns 9 and 10
cat > "$tmp/cost.txt" <<'EOF'
workers  policy         lookup_ns  lookup_runs sockops_ns/conn   calls/conn    ns/call       ok  lookup_x  sockops_x
4        least-conn           627         3000             534          6.0         89     3000      4.75       1.33
4        ref-for-lc           140         3000             409          8.0         51     3000      1.00       1.00
4        unmatched            101         3000             476          6.0         79     3000         -          -
4        round-robin          250         3000             662          6.0        110     3000      1.25       1.16
4        ref-for-rr           199         3000             574          8.0         72     3000      1.00       1.00
1024     least-conn           500         3000             534          6.0         89     3000      1.90       0.90
1024     round-robin          500         3000             534          6.0         89     3000         -       0.90

target sk_lookup least-conn, 4 workers          4.75 <= 1.5  not met
EOF
is "$(cost_targets "$tmp/cost.txt" | tr '\t' ' ' | tr '\n' ';')" \
	"sk_lookup least-conn, 4 workers 4.75 1.5 not met;sockops per connection, 4 workers 1.33 1.0 not met;sk_lookup round-robin, 4 workers 1.25 1.3 met;sk_lookup least-conn, 1024 workers 1.90 2 met;sk_lookup round-robin, 1024 workers - 1.3 n/a;" \
	"cost_targets: ratio targets from cost.sh's rows"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
