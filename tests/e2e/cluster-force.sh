#!/bin/bash
# e2e: a forced failover without quorum: three lab hosts, kv1's primary host and the third killed, the backup's host alone refuses to fail over on its own, `twin failover kv1 --force` there activates kv1 and it stays unfenced and serving; when the others come back kv1 stays there, protected again.
#
# Three lab hosts (Corosync token TOKEN, default 1000), kv1 (the kv guest, 198.18.2.10)
# protected from P to B, T the third.  twin-kv-client on the lab's client (2 clients, every
# 4th request twice and again after its answer, resent every 20 ms for up to 30 s) runs
# from before the kills to after the forced failover: every acknowledged write is found on
# B, none applied twice.
#   alone    `lab kill-host P` and `lab kill-host T`: B, alone of 3 expected votes, is not
#            quorate: kv1 is not activated, and `twin failover kv1` is refused (exit 1,
#            naming quorum).
#   force    `twin failover kv1 --force` on B (exit 0): B's twin-vmm runs kv1 as a
#            primary, not fenced, and still so after FORCE_HOLD_MS of client traffic
#            (clusterd's ticks, every 500 ms, must not fence it again).
#   rejoin   P and T revived: quorate again, kv1 stays on B and is protected onto one of
#            them; P never runs a primary of it.
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
TOKEN=${TOKEN:-1000}
FORCE_HOLD_MS=3000
KV1_IP=198.18.2.10 KV1_MAC=52:54:00:12:34:56

cluster_up fo "$TOKEN"
cluster_start_protected h1 kv1 "$KV1_IP" "$KV1_MAC"
P=$CL_PRIMARY B=$CL_BACKUP T=$(cluster_other "$CL_PRIMARY" "$CL_BACKUP")
note "lab $CL_PREFIX: token $TOKEN ms; kv1 protected from $P to $B"
bctl=$(cluster_vmm_ctl "$B" kv1)

# alone
cluster_client_bg client-force kv1 "$KV1_IP" 4000
lab fo kill-host "$P" >/dev/null
lab fo kill-host "$T" >/dev/null
# B sees both leave (token + consensus), and is then not quorate.
deadline=$((SECONDS + CL_CHANGE_SECS))
until out=$(lab fo exec "$B" corosync-quorumtool -s 2>/dev/null; true) &&
	grep -qE '^Quorate: +No' <<<"$out" &&
	[ "$(awk '/^Membership information/ { m = 1; next } m && $1 ~ /^[0-9]+$/ { n++ } END { print n + 0 }' <<<"$out")" -eq 1 ]; do
	[ "$SECONDS" -lt "$deadline" ] || { echo "$out" >&2; fail "alone: $B's corosync never counted itself alone and not quorate"; }
	sleep 0.1 # polling corosync-quorumtool, bounded by the deadline above
done
st=$(cluster_status "$B" kv1)
[ "$(cluster_get "$st" 'v["primary"]')" = "$P" ] ||
	fail "alone: kv1 moved without quorum: $st"
twin_run failover-refused "$B" failover kv1
assert_status failover-refused 1
assert_match "$E2E_TMP/failover-refused.err" "[Qq]uorum|quorate"
note "alone: $P and $T killed; $B not quorate, kv1 not activated, failover without --force refused: $(head -c 200 "$E2E_TMP/failover-refused.err")"

# force
twin_run failover-force "$B" failover kv1 --force
assert_status failover-force 0
forced_ns=$(date +%s%N)
ctl_poll query-status "$bctl" "$CL_CHANGE_SECS" 10 's["status"] == "running"' >/dev/null ||
	fail "force: kv1's twin-vmm on $B never ran after failover --force"
cluster_client_wait client-force "$forced_ns"
# Clusterd's ticks (every 500 ms) must not fence it again: FORCE_HOLD_MS more of traffic.
gap1=$CL_GAP_MS
run_bounded "$CL_CHANGE_SECS" client-hold "$LAB" --state "$E2E_TMP/lab-fo" exec client "$KV_CLIENT" \
	--duration-ms "$FORCE_HOLD_MS" --clients 2 --timeout-ms 20 --tries 50 --json "$KV1_IP"
assert_status client-hold 0
st=$(repl_status "$bctl")
repl_check "$st" 's["status"] == "running"' "force: query-status of kv1 on $B after ${FORCE_HOLD_MS} ms"
# An activated backup says "failed-over" (and "fenced" if fenced again).
repl_check "$(repl_query "$bctl")" 's["state"] == "failed-over"' \
	"force: query-replication of kv1 on $B after ${FORCE_HOLD_MS} ms"
note "force: failover --force on $B: kv1 runs there unfenced; the client's writes from before the kills all verified (longest wait $gap1 ms), and ${FORCE_HOLD_MS} ms more served with at most 1 s per answer"

# rejoin
lab fo revive "$P" >/dev/null
lab fo revive "$T" >/dev/null
st=$(cluster_wait "$B" kv1 "$CL_PROTECT_SECS" \
	"v['primary'] == '$B' and v['state'] == 'protected' and v['backup'] in ('$P', '$T')")
cluster_wait "$P" kv1 "$CL_CHANGE_SECS" "v['primary'] == '$B'" >/dev/null
if grep -q "vm kv1: primary twin-vmm started" "$CL_DIR/$P/clusterd.log"; then
	show_file "$CL_DIR/$P/clusterd.log"
	fail "rejoin: the revived $P started a primary of kv1, which runs on $B"
fi
kv_expect fo "fo 1 PUT after 9" "fo 1 OK 9"
note "rejoin: $P and $T back, quorate: kv1 stays on $B, protected onto $(cluster_get "$st" 'v["backup"]'); $P started no primary"

cluster_passed
note "ok"
