#!/bin/bash
# e2e: twin-clusterd SIGKILLed on the host of a protected VM's primary: its twin-vmms die with it, the cluster fails the VM over, and the clusterd restarted there rejoins with its persisted state and never runs a second primary.
#
# Three lab hosts (Corosync token TOKEN, default 1000), kv1 (the kv guest, 198.18.2.10)
# protected from P to B, T the third host; twin-kv-client on the lab's client (2 clients,
# every 4th request twice, resent every 20 ms) runs across each step and must verify every
# answer: a write lost or applied twice, or a second copy answering, fails it.
#   crash    `lab kill-daemon P clusterd` (SIGKILL to clusterd alone; Corosync lives on):
#            every twin-vmm of P is gone within PDEATH_SECS (PR_SET_PDEATHSIG), the others
#            see P's clusterd leave the CPG group (no token to wait for) and fail kv1
#            over to B, re-protected onto T; the client's longest wait stays within
#            GAP_MAX_MS, the bound of the drill's fast path.
#   restart  `lab start-daemon P clusterd`: it restores the cluster state of its last
#            life (its log says so; in it P was kv1's primary), then takes the cluster's:
#            its own socket shows kv1's primary on B.  It starts no primary of kv1: its
#            log shows none, and every twin-vmm on P is a `backup`.
#   eligible `lab kill-daemon T clusterd`: kv1 goes on B, re-protected onto P, the one host
#            left: the restarted host is a backup again.
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
TOKEN=${TOKEN:-1000}
# Bounds: the twin-vmms die with their clusterd at once; its CPG leave is seen at once.
PDEATH_SECS=5
GAP_MAX_MS=${GAP_MAX_MS:-2000}
KV1_IP=198.18.2.10 KV1_MAC=52:54:00:12:34:56

cluster_up cr "$TOKEN"
cluster_start_protected h1 kv1 "$KV1_IP" "$KV1_MAC"
P=$CL_PRIMARY B=$CL_BACKUP T=$(cluster_other "$CL_PRIMARY" "$CL_BACKUP")
note "lab $CL_PREFIX: token $TOKEN ms; kv1 protected from $P to $B"

# crash
pids=$(cluster_vmm_pids "$P")
[ -n "$pids" ] || fail "crash: no twin-vmm runs on $P, kv1's primary host"
cluster_client_bg client-crash kv1 "$KV1_IP" 6000
lab cr kill-daemon "$P" clusterd >/dev/null
done_ns=$(date +%s%N)
deadline=$((SECONDS + PDEATH_SECS))
while left=$(cluster_vmm_pids "$P") && [ -n "$left" ]; do
	[ "$SECONDS" -lt "$deadline" ] ||
		fail "crash: twin-vmm $(echo "$left" | tr '\n' ' ')still runs on $P ${PDEATH_SECS}s after its clusterd's SIGKILL (PDEATHSIG)"
	sleep 0.05 # polling /proc, bounded by the deadline above
done
st=$(cluster_wait "$B" kv1 "$CL_CHANGE_SECS" \
	"v['primary'] == '$B' and v['backup'] == '$T' and v['state'] == 'protected'")
cluster_client_wait client-crash "$done_ns"
[ "$CL_GAP_MS" -le "$GAP_MAX_MS" ] ||
	fail "crash: the client waited $CL_GAP_MS ms for an answer, over the bound $GAP_MAX_MS ms"
note "crash: clusterd of $P SIGKILLed, its twin-vmm(s) $(echo "$pids" | tr '\n' ' ')died with it; kv1 failed over to $B, re-protected onto $T; every answer verified, longest wait $CL_GAP_MS ms (bound $GAP_MAX_MS)"
CL_PRIMARY=$B CL_BACKUP=$T

# restart
clog=$CL_DIR/$P/clusterd.log
cluster_client_bg client-restart kv1 "$KV1_IP" 6000
lab cr start-daemon "$P" clusterd >/dev/null
cluster_wait_log "$clog" 0 "restored the cluster state of this host's last life" "$CL_CHANGE_SECS" ||
	{ show_file "$clog"; fail "restart: the clusterd of $P did not restore its persisted state"; }
cluster_wait "$P" kv1 "$CL_CHANGE_SECS" "v['primary'] == '$B' and v['backup'] == '$T'" >/dev/null
cluster_client_wait client-restart "$(date +%s%N)"
if grep -q "vm kv1: primary twin-vmm started" "$clog"; then
	show_file "$clog"
	fail "restart: the clusterd of $P started a primary of kv1, which runs on $B"
fi
for pid in $(cluster_vmm_pids "$P"); do
	argv=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	[[ "$argv" == *twin-vmm\ backup\ * ]] || fail "restart: $P runs a twin-vmm that is no backup: $argv"
done
st=$(cluster_status "$B" kv1)
[ "$(cluster_get "$st" 'v["primary"]')" = "$B" ] && [ "$(cluster_get "$st" 'v["state"]')" = protected ] ||
	fail "restart: kv1 is no longer protected on $B after $P's clusterd came back: $st"
note "restart: the clusterd of $P restored its last life's state, took the cluster's (kv1 on $B, backup $T) and started no primary; every answer verified, longest wait $CL_GAP_MS ms"

# eligible
cluster_client_bg client-eligible kv1 "$KV1_IP" 4000
lab cr kill-daemon "$T" clusterd >/dev/null
cluster_wait "$B" kv1 "$CL_CHANGE_SECS" \
	"v['primary'] == '$B' and v['backup'] == '$P' and v['state'] == 'protected'" >/dev/null
cluster_client_wait client-eligible "$(date +%s%N)"
note "eligible: the clusterd of $T SIGKILLed: kv1 stays on $B, re-protected onto $P; every answer verified, longest wait $CL_GAP_MS ms"

cluster_passed
note "ok"
