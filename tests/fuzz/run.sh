#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS FUZZER...: run each libFuzzer harness for
# SECONDS (-max_total_time) on its seed corpus (tests/fuzz/corpus/NAME, read
# only) and a working corpus it grows (build/fuzz/corpus-NAME). Exit 1 if
# any found a crash, a leak or a failed property: the input is saved as
# build/fuzz/NAME-crash-* and reproduces with `FUZZER FILE`.
set -u
secs=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
status=0
# libconfig 1.5's own leaks on syntax errors (see the file)
export LSAN_OPTIONS=suppressions=$top/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=$top/tests/fuzz/corpus/${name#fuzz_}
	work=$top/build/fuzz/corpus-${name#fuzz_}
	dict=$top/tests/fuzz/${name#fuzz_}.dict
	mkdir -p "$work"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
	      -artifact_prefix="$top/build/fuzz/$name-")
	[ -f "$dict" ] && args+=(-dict="$dict")
	echo "fuzz: $name for $secs s"
	if "$bin" "${args[@]}" "$work" "$seeds" > "$top/build/fuzz/$name.log" 2>&1; then
		grep -E "^stat::number_of_executed_units|^Done" "$top/build/fuzz/$name.log" | sed "s/^/fuzz: $name: /"
	else
		status=1
		echo "fuzz: $name FAILED; log build/fuzz/$name.log:"
		grep -E "PROPERTY FAILED|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|Test unit written" \
			"$top/build/fuzz/$name.log" | head -20 | sed "s/^/fuzz: $name: /"
	fi
done
exit $status
