#!/bin/sh
# gendoc.sh STEERCTL [--check] FILE...: write what steerctl's option tables
# say between the marker lines of steerctl(8) (`steerctl help --man`) and
# of README.md (`steerctl help`), so the help text is written once, in the
# tables. --check changes nothing and fails when a file differs.
set -eu
steerctl=$1; shift
check=false
[ "${1:-}" = --check ] && { check=true; shift; }
rc=0
for f in "$@"; do
	case $f in
	*.8) begin='^\.\\" BEGIN steerctl help --man'; end='^\.\\" END steerctl help --man'
	     "$steerctl" help --man > "$f.gen" ;;
	*) begin='^<!-- BEGIN steerctl help -->'; end='^<!-- END steerctl help -->'
	     { echo '```'; "$steerctl" help; echo '```'; } > "$f.gen" ;;
	esac
	grep -q "$begin" "$f" && grep -q "$end" "$f" || { echo "$f: no markers" >&2; exit 1; }
	# ENVIRON, not -v: awk would take the backslashes of the roff markers
	B=$begin E=$end G=$f.gen awk '
		$0 ~ ENVIRON["E"] { skip = 0 }
		!skip { print }
		$0 ~ ENVIRON["B"] { while ((getline l < ENVIRON["G"]) > 0) print l; skip = 1 }' \
		"$f" > "$f.new"
	rm -f "$f.gen"
	if $check; then
		cmp -s "$f" "$f.new" || { echo "$f differs from the tables (run make steerctl-docs)" >&2
			diff -u "$f" "$f.new" >&2 || true; rc=1; }
		rm -f "$f.new"
	else
		mv "$f.new" "$f"
	fi
done
exit $rc
