#!/bin/bash
# e2e: twin-vmm under clusterd (DESIGN.md §8): a protect --cluster kv guest whose backup dies goes "stalled", answers nothing until `degrade`, then every answer verified; a fenced VM, protected or not, answers nothing and releases nothing (query-replication's counters) until `unfence`.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
require_kv_client

# How long clusterd takes to decide, as this test plays it: the stall and the fence are
# held this long before degrade or unfence.
HOLD_MS=1500
# An answer already on its way when the output stopped may still arrive this late.
IN_FLIGHT_MS=50
RESEND_MS=20
# Each client run sends for this long: the hold falls inside it.
CLIENT_MS=5000
PROBE_S=8

repl_kv_lab rf

# backup N: a fresh backup bN on h2 (its own tap), and protect --cluster toward it.
backup()
{
	repl_backup_bg "b$1" h2 198.18.1.2:0 --insecure --nic "tap=$p-t$1,mac=$KV_MAC,bridge=$br"
	B_PID=$BACKUP_PID
	repl_protect "protect$1" "$pctl" "198.18.1.2:$BACKUP_PORT" --insecure --mode epoch \
		--timeout 500 --cluster
	repl_check "$REPL_STATUS" 's["cluster"] is True' "protect$1: cluster-managed"
}

# client NAME: twin-kv-client, 2 clients sending for CLIENT_MS, resending every RESEND_MS
# for up to 30 s; returns once the primary acked 3 more epochs (protected) or at once.
client()
{
	local a0
	a0=$(repl_get "$(repl_query "$pctl")" 's["acked_epoch"]')
	start_bg "$1" "$LAB" --state "$E2E_TMP/lab-rf" exec client "$KV_CLIENT" --duration-ms "$CLIENT_MS" \
		--clients 2 --timeout-ms "$RESEND_MS" --tries $((30000 / RESEND_MS)) \
		--prefix "$1" --json "$KV_IP"
	KVC_PID=$BG_PID
	repl_wait "$pctl" 20 "s['state'] != 'protected' or s['acked_epoch'] >= $a0 + 3" >/dev/null
}

# client_done NAME MIN_MS: every answer verified, and some request waited at least MIN_MS
# (the held answers); CLIENT_MAX_MS is the longest wait.
client_done()
{
	wait_bounded "$KVC_PID" 90
	[ "$WAIT_RC" -eq 0 ] || {
		show_file "$E2E_TMP/$1.out"
		show_file "$E2E_TMP/$1.err"
		fail "$1: twin-kv-client exited $WAIT_RC: an answer wrong or missing"
	}
	CLIENT_MAX_MS=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["requests"] == r["verified"] > 0, r
print(int(r["latency_us"]["max"] / 1000))' "$E2E_TMP/$1.out") ||
		fail "$1: twin-kv-client's report is not all verified: $(cat "$E2E_TMP/$1.out")"
	[ "$CLIENT_MAX_MS" -ge "$2" ] ||
		fail "$1: the longest answer took $CLIENT_MAX_MS ms: none was held the $2 ms asked"
}

# probe_bg NAME: from the lab's client, for PROBE_S seconds, INCR a key of its own (client
# id NAME), resending an unanswered request every RESEND_MS; each answer must be the count
# of its requests (each applied once).  NAME.out gets the arrival time (ns) of each answer.
probe_bg()
{
	start_bg "$1" "$LAB" --state "$E2E_TMP/lab-rf" exec client python3 -c '
import socket, sys, time
me, addr, secs, resend = sys.argv[1], (sys.argv[2], int(sys.argv[3])), float(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(resend)
seq, end = 1, time.monotonic() + secs
print("probing", flush=True)
while time.monotonic() < end:
    s.sendto(("%s %d INCR %s" % (me, seq, me)).encode(), addr)
    try:
        r = s.recv(128).decode()
    except socket.timeout:
        continue
    if r.split(" ")[1] != str(seq):
        continue  # a late answer to a request already answered
    if r != "%s %d OK %d" % (me, seq, seq):
        sys.exit("answer %r to request %d" % (r, seq))
    print(time.time_ns(), flush=True)
    seq += 1
' "$1" "$KV_IP" "$KV_PORT" "$PROBE_S" "0.$(printf %03d "$RESEND_MS")"
	PROBE_PID=$BG_PID
	wait_for_text "$E2E_TMP/$1.out" probing "$E2E_ERROR_TIMEOUT" || fail "$1: the probe did not start"
}

# probe_check NAME T0 T1: the probe ended well, got no answer in [T0, T1) (ns) and some after.
probe_check()
{
	wait_bounded "$PROBE_PID" $((PROBE_S + 30))
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/$1.err"; fail "$1: a wrong answer"; }
	python3 -c '
import sys
t0, t1 = int(sys.argv[2]), int(sys.argv[3])
ts = [int(l) for l in open(sys.argv[1]) if l.strip().isdigit()]
held = [t for t in ts if t0 <= t < t1]
after = [t for t in ts if t >= t1]
if held:
    sys.exit("%d answers while nothing may leave, the first %.1f ms in" % (len(held), (held[0] - t0) / 1e6))
if not after:
    sys.exit("no answer after the output was let out again")
print("%d answers before, none for %.0f ms, %d after" % (len(ts) - len(after), (t1 - t0) / 1e6, len(after)))
' "$E2E_TMP/$1.out" "$2" "$3" || fail "$1: the client's view is wrong"
}

now_ns()
{
	date +%s%N
}

# 1. The backup dies under a cluster-managed primary: stalled, not degraded; nothing is
# released (the counters and the client agree) until degrade.
backup 1
client death
probe_bg probe-death
repl_watch_bg death-watch "$pctl" 10 's["state"] == "stalled"'
watch_pid=$REPL_WATCH_PID
repl_kill9 "$B_PID" b1
repl_watch_wait death-watch "$watch_pid"
t_stalled=$REPL_WATCH_NS
st=$REPL_WATCH_STATUS
repl_check "$st" 'len(s["error"]) > 0 and s["cluster"] is True' "death: the stalled status"
repl_check "$(repl_status "$pctl")" 's["status"] == "running"' "death: the guest runs while stalled"
repl_cmd unprotect-stalled unprotect --control "$pctl"
assert_status unprotect-stalled 1
assert_one_error_line unprotect-stalled "stalled.*degrade it once the backup's death is confirmed"
repl_pause_ms "$HOLD_MS"
held=$(repl_query "$pctl")
repl_check "$held" "s['state'] == 'stalled' and s['released_frames'] == $(repl_get "$st" 's["released_frames"]') and s['held_frames'] + s['overflow_drops'] > 0" \
	"death: nothing released while stalled"
t_degrade=$(now_ns)
repl_cmd degrade degrade --control "$pctl"
assert_status degrade 0
assert_has_line "$E2E_TMP/degrade.out" "degrade: the held output went out; the VM runs unprotected"
repl_check "$(repl_query "$pctl")" 's["state"] == "degraded" and s["held_frames"] == 0' "death: after degrade"
probe_check probe-death $((t_stalled + IN_FLIGHT_MS * 1000000)) "$t_degrade"
note "death: stalled $HOLD_MS ms with $(repl_get "$held" 's["held_frames"]') frames held, none released"
client_done death "$HOLD_MS"
note "death: every answer verified; the longest waited $CLIENT_MAX_MS ms"
repl_cmd degrade-again degrade --control "$pctl"
assert_status degrade-again 1
assert_one_error_line degrade-again "degrade: the replication is degraded"
repl_cmd unprotect-degraded unprotect --control "$pctl"
assert_status unprotect-degraded 0

# 2. Fence a protected VM: the backup acks on, yet nothing is released and nothing answers;
# degrade and cont are refused; unfence lets the acked output out.
backup 2
client fenced
probe_bg probe-fence
repl_cmd fence fence --control "$pctl"
assert_status fence 0
t_fence=$(now_ns)
[ "$(repl_status "$pctl")" = '{"status":"fenced","running":false}' ] || fail "fence: query-status is not fenced"
st=$(repl_query "$pctl")
repl_check "$st" 's["state"] == "fenced"' "fence: query-replication"
grep -q 'control: FENCED in [0-9]* us' "$E2E_TMP/pri.err" || fail "fence: twin-vmm did not log the fence's time"
repl_cmd degrade-fenced degrade --control "$pctl"
assert_status degrade-fenced 1
assert_one_error_line degrade-fenced "the VM is fenced .*unfence it first"
ctl_refused "$pctl" cont "fenced" >/dev/null
repl_pause_ms "$HOLD_MS"
repl_check "$(repl_query "$pctl")" "s['state'] == 'fenced' and s['released_frames'] == $(repl_get "$st" 's["released_frames"]') and s['acked_epoch'] > $(repl_get "$st" 's["acked_epoch"]')" \
	"fence: acks came and released nothing"
t_unfence=$(now_ns)
repl_cmd unfence unfence --control "$pctl"
assert_status unfence 0
repl_check "$(repl_status "$pctl")" 's["status"] == "running"' "unfence: query-status"
repl_check "$(repl_query "$pctl")" 's["state"] == "protected"' "unfence: query-replication"
probe_check probe-fence $((t_fence + IN_FLIGHT_MS * 1000000)) "$t_unfence"
client_done fenced "$HOLD_MS"
note "fence (protected): $(grep -o 'FENCED in [0-9]* us' "$E2E_TMP/pri.err" | tail -n 1); every answer verified, the longest waited $CLIENT_MAX_MS ms"
repl_cmd unprotect unprotect --control "$pctl"
assert_status unprotect 0
wait_bounded "$B_PID" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/b2.err"; fail "b2 exited $WAIT_RC after unprotect, expected 0"; }

# 3. Fence an unprotected VM: nothing answers until unfence.
probe_bg probe-plain
repl_cmd fence-plain fence --control "$pctl"
assert_status fence-plain 0
t_fence=$(now_ns)
repl_check "$(repl_query "$pctl")" 's["state"] == "fenced"' "fence (unprotected): query-replication"
repl_pause_ms "$HOLD_MS"
t_unfence=$(now_ns)
repl_cmd unfence-plain unfence --control "$pctl"
assert_status unfence-plain 0
probe_check probe-plain $((t_fence + IN_FLIGHT_MS * 1000000)) "$t_unfence"
note "fence (unprotected): no answer for $HOLD_MS ms, answers again after unfence"

kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/pri.err"; fail "the primary exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
