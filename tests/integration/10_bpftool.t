#!/bin/bash
# Every map is readable with bpftool, with named fields (BTF).
source "$(dirname "$0")/../lib.sh"

steer_setup p round-robin 1
"$SCLIENT" --connect $SVC4:80 -n 10 > /dev/null

dir=$STEER_BPFFS/steer/maps
fields_of() {	# map -> expected field names in its dump
	case $1 in
	services_lpm) echo "prefixlen port family addr service_id pool_id" ;;
	services) echo "name in_use pool_id prefixlen port_lo port_hi" ;;
	service_stats) echo "lookups refused" ;;
	pools) echo "name policy fallback table_len circuit circuit_forced nworkers members" ;;
	pool_limits) echo "rate_on rate_milli burst_milli tokens_milli refill_ns" ;;
	pool_budgets) echo "quota_on quota_left probes_left" ;;
	pool_stats) echo "rr_next selected fallback_out refused spilled circuit_out probes" ;;
	pool_tables) echo "key value" ;;
	workers) echo "name pool_id state weight health maxconn gen cookie" ;;
	worker_stats) echo "outstanding selected established steered closed aborted pending gen gone" ;;
	worker_socks) echo "key value" ;;
	recent_picks) echo "tag stamp_ms worker_id ports client service" ;;
	esac
}
for path in "$dir"/*; do
	m=$(basename "$path")
	[ "$m" = worker_tags ] || [ "$m" = budget_wakes ] && continue
	bpftool -j map dump pinned "$path" > "$STEER_TMP/$m.json" 2> "$STEER_TMP/err"
	ok $? "bpftool map dump pinned $m works"
	missing=""
	for f in $(fields_of "$m"); do
		grep -q "\"$f\"" "$STEER_TMP/$m.json" || missing="$missing $f"
	done
	is "$missing" "" "$m: dump shows the named fields $(fields_of "$m")"
done
check "the workers dump names the worker" grep -q '"name":"w1"' "$STEER_TMP/workers.json"
# Socket storage cannot be iterated from userspace by design; bpftool shows
# its BTF-typed value layout instead.
bpftool btf dump id "$(bpftool -j map show pinned "$dir/worker_tags" | jq .btf_id)" | grep -q 'steer_worker_tag'
ok $? "worker_tags (sk_storage, not iterable): its value type steer_worker_tag is in BTF"
# A ring buffer has no elements to dump: bpftool shows it, and what is in
# flight is read by steerd (budget_wakes: pool ids the kernel woke it for).
is "$(bpftool -j map show pinned "$dir/budget_wakes" | jq -r '.type')" ringbuf \
	"budget_wakes (a ring buffer, not iterable): bpftool map show names its type"
bpftool prog show pinned "$STEER_BPFFS/steer/links/lookup" > /dev/null 2>&1 || true
check "bpftool link list shows both links" bash -c "bpftool link list | grep -q sk_lookup && bpftool link list | grep -q sock_ops"
check_invariants
done_testing
