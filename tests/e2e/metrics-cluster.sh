#!/bin/bash
# e2e: the metrics of a protected VM in a three-host lab cluster: the primary's host serves its replication figures (epochs, pause and ack latency p50/p99, bytes, held output), checked against twin status --json there; the backup's host shows the VM with no figures; a failover moves the figures and counts on the pages.
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
require_cmd curl curl
CHECK="$(dirname "$0")/metrics-check.py"
KV1_IP=198.18.2.10 KV1_MAC=52:54:00:12:34:56
FAMILIES=(twin_cluster_quorate twin_cluster_votes twin_cluster_expected_votes twin_host_member
	twin_host_cpus_offline twin_host_pages_offline twin_vm_info twin_vm_failovers_total twin_vm_epochs_total twin_vm_pause_seconds
	twin_vm_sent_bytes_total twin_vm_ack_latency_seconds twin_vm_held_output_bytes)

cluster_up mc 1000
grep -q '^\[metrics\]' "$CL_DIR/h1/clusterd.conf" || fail "lab up --cluster gave clusterd no [metrics] listen"
cluster_start_protected h1 kv1 "$KV1_IP" "$KV1_MAC"
P=$CL_PRIMARY B=$CL_BACKUP
note "lab $CL_PREFIX: kv1 protected from $P to $B"

# check NAME HOST: HOST's page (scraped after its status: counters only grow meanwhile),
# every line parsed strictly and checked against HOST's status and cluster status.
check()
{
	local name=$1 h=$2
	twin_run "$name-status" "$h" status --json
	assert_status "$name-status" 0
	twin_run "$name-cluster" "$h" cluster status --json
	assert_status "$name-cluster" 0
	run_bounded 20 "$name" "$LAB" --state "$E2E_TMP/lab-$CL_LAB" exec "$h" curl -sS --max-time 10 \
		-o "$E2E_TMP/$name.body" -w '%{http_code} %{content_type}\n%{size_download} bytes in %{time_total} s\n' "http://198.18.0.${h#h}:9464/metrics"
	assert_status "$name" 0
	assert_first_line "$E2E_TMP/$name.out" "200 text/plain; version=0.0.4; charset=utf-8"
	python3 "$CHECK" "$E2E_TMP/$name.body" "$E2E_TMP/$name-status.out" "$E2E_TMP/$name-cluster.out" "$h" \
		"${FAMILIES[@]}" >"$E2E_TMP/$name.check" 2>&1 ||
		{ show_file "$E2E_TMP/$name.body"; show_file "$E2E_TMP/$name.check"; fail "$name: the page does not check"; }
	note "$name: $(cat "$E2E_TMP/$name.check"), $(sed -n 2p "$E2E_TMP/$name.out")"
}

# figures NAME VM: VM's replication figures on page NAME are there and sane: epochs and
# bytes grow with the sync and the epochs, p50 <= p99 under a second.
figures()
{
	python3 - "$E2E_TMP/$1.body" "$2" <<'PY' || { show_file "$E2E_TMP/$1.body"; fail "$1: $2's replication figures are not sane"; }
import re, sys
text, vm = open(sys.argv[1]).read(), sys.argv[2]
def get(name, extra=""):
    m = re.search(r'^%s\{vm="%s"%s\} (\S+)$' % (name, vm, extra), text, re.M)
    assert m, "no %s%s" % (name, extra)
    return float(m.group(1))
assert get("twin_vm_epochs_total") > 0
assert get("twin_vm_sent_bytes_total") > 64 * 2**20 * 0.01, "less than the initial sync"
assert get("twin_vm_held_output_bytes") >= 0
for f in ("twin_vm_pause_seconds", "twin_vm_ack_latency_seconds"):
    p50, p99 = get(f, ',quantile="0.5"'), get(f, ',quantile="0.99"')
    assert 0 < p50 <= p99 < 1, (f, p50, p99)
    n, total = get(f + "_count"), get(f + "_sum")
    assert n > 0 and 0 < total / n < 1, (f, n, total)
    print("%s p50 %.3f ms p99 %.3f ms" % (f, p50 * 1e3, p99 * 1e3))
PY
}

# Some epochs first: the figures are over the primary's last epochs.
cluster_wait "$P" kv1 30 'v.get("repl", {}).get("epochs", 0) >= 40' >/dev/null
check primary "$P"
figures primary kv1 >"$E2E_TMP/figures.out"
note "kv1 on $P: $(tr '\n' ';' <"$E2E_TMP/figures.out")"
assert_has_line "$E2E_TMP/primary.body" "twin_vm_info{vm=\"kv1\",state=\"protected\",primary=\"$P\",backup=\"$B\",role=\"primary\"} 1"
check backup "$B"
assert_has_line "$E2E_TMP/backup.body" "twin_vm_info{vm=\"kv1\",state=\"protected\",primary=\"$P\",backup=\"$B\",role=\"backup\"} 1"
grep -q '^twin_vm_epochs_total{' "$E2E_TMP/backup.body" && fail "the backup's host shows replication figures"
for h in primary backup; do
	assert_has_line "$E2E_TMP/$h.body" 'twin_cluster_quorate 1'
	assert_has_line "$E2E_TMP/$h.body" 'twin_cluster_votes 3'
	assert_has_line "$E2E_TMP/$h.body" 'twin_cluster_expected_votes 3'
	for m in h1 h2 h3; do
		assert_has_line "$E2E_TMP/$h.body" "twin_host_member{host=\"$m\"} 1"
	done
done

# A failover: kv1's primary moves to B, re-protected onto the third host; the figures go
# with it, and the model's failover count shows on the pages.
twin_run failover "$P" failover kv1
assert_status failover 0
cluster_wait "$B" kv1 "$CL_PROTECT_SECS" "v[\"primary\"] == \"$B\" and v[\"state\"] == \"protected\" and v.get(\"repl\", {}).get(\"epochs\", 0) > 0" >/dev/null
check after-new "$B"
check after-old "$P"
grep -q "^twin_vm_epochs_total{vm=\"kv1\"}" "$E2E_TMP/after-old.body" &&
	fail "the old primary's host still shows kv1's replication figures"
# The model's replicated counter: the same on every host's page.
for h in after-new after-old; do
	assert_has_line "$E2E_TMP/$h.body" 'twin_vm_failovers_total{vm="kv1"} 1'
done
cluster_passed
note "ok"
