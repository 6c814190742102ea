#!/bin/bash
# e2e: a protected kv guest whose backup stalls (SIGSTOP) or dies (kill -9) goes "degraded" with an error, releases its held output and keeps answering twin-kv-client throughout; unprotect then protect toward a fresh backup works; unprotect of a healthy pair makes the backup exit 0.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
require_kv_client

# The primary gives up on a backup unheard for TIMEOUT_MS (protect --timeout).
TIMEOUT_MS=500
# Bounds: the backup's loss noticed (TIMEOUT_MS, and at once for a closed connection) and
# the held output released, in ms; no client request waits longer than LOSS_MAX_MS.
DEGRADED_MAX_MS=$((TIMEOUT_MS + 2000))
LOSS_MAX_MS=$((TIMEOUT_MS + 2000))
RESEND_MS=20
# Each client run sends for this long: the loss and its detection fall inside it.
CLIENT_MS=3000

repl_kv_lab rd

# backup N: a fresh backup bN on h2 (its own tap), listening on 198.18.1.2, port of its
# choosing; protect the primary toward it in epoch mode.
backup()
{
	repl_backup_bg "b$1" h2 198.18.1.2:0 --insecure --nic "tap=$p-t$1,mac=$KV_MAC,bridge=$br"
	B_PID=$BACKUP_PID
	repl_protect "protect$1" "$pctl" "198.18.1.2:$BACKUP_PORT" --insecure --mode epoch \
		--timeout "$TIMEOUT_MS"
	repl_check "$(repl_status "$E2E_TMP/b$1.ctl")" 's["status"] == "backup"' "b$1: query-status"
}

# client NAME: twin-kv-client in the background, 2 clients sending for CLIENT_MS, resending
# every RESEND_MS for up to 30 s, the final GET of every key and GET __stats included;
# returns once the primary has acked 3 more epochs since the client started (replication
# live while it sends).
client()
{
	local a0
	a0=$(repl_get "$(repl_query "$pctl")" 's["acked_epoch"]')
	start_bg "$1" "$LAB" --state "$E2E_TMP/lab-rd" exec client "$KV_CLIENT" --duration-ms "$CLIENT_MS" \
		--clients 2 --retransmit --timeout-ms "$RESEND_MS" --tries $((30000 / RESEND_MS)) \
		--prefix "$1" --json "$KV_IP"
	KVC_PID=$BG_PID
	repl_wait "$pctl" 20 "s['acked_epoch'] >= $a0 + 3" >/dev/null
}

# client_running NAME WHEN: the client is still sending (sized too small otherwise).
client_running()
{
	kill -0 "$KVC_PID" 2>/dev/null || {
		show_file "$E2E_TMP/$1.out"
		fail "$1: twin-kv-client ended before $2: raise CLIENT_MS"
	}
}

# client_done NAME: every answer verified, none waited over LOSS_MAX_MS; CLIENT_MAX_MS is
# the longest wait.
client_done()
{
	local max
	wait_bounded "$KVC_PID" 90
	[ "$WAIT_RC" -eq 0 ] || {
		show_file "$E2E_TMP/$1.out"
		show_file "$E2E_TMP/$1.err"
		fail "$1: twin-kv-client exited $WAIT_RC: an answer wrong or missing"
	}
	max=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["requests"] == r["verified"] > 0, r
print("%.1f" % (r["latency_us"]["max"] / 1000))' "$E2E_TMP/$1.out") ||
		fail "$1: twin-kv-client's report is not all verified: $(cat "$E2E_TMP/$1.out")"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$max" "$LOSS_MAX_MS" ||
		fail "$1: a request waited $max ms for its answer, over the bound of $LOSS_MAX_MS ms"
	CLIENT_MAX_MS=$max
}

# watch_degraded NAME: a watcher (NAME-watch) of the primary's query-replication, started
# before the backup's loss, waiting for "degraded".
watch_degraded()
{
	repl_watch_bg "$1-watch" "$pctl" $((DEGRADED_MAX_MS / 1000 + 5)) 's["state"] == "degraded"'
	WATCH_PID=$REPL_WATCH_PID
}

# degraded NAME T0: the primary showed "degraded" within DEGRADED_MAX_MS of T0 (date +%s%N,
# the backup's loss), with an error, nothing held, and the guest running.  DEGRADED_MS: how
# long it took.
degraded()
{
	local st
	repl_watch_wait "$1-watch" "$WATCH_PID"
	st=$REPL_WATCH_STATUS
	DEGRADED_MS=$(((REPL_WATCH_NS - $2) / 1000000))
	[ "$DEGRADED_MS" -le "$DEGRADED_MAX_MS" ] ||
		fail "$1: degraded only $DEGRADED_MS ms after the backup's loss, over $DEGRADED_MAX_MS ms"
	repl_check "$st" 'len(s["error"]) > 0 and s["held_bytes"] == 0 and s["held_frames"] == 0' \
		"$1: the degraded status"
	repl_check "$(repl_status "$pctl")" 's["running"] is True' "$1: query-status when degraded"
	DEGRADED_ERR=$(repl_get "$st" 's["error"]')
}

# unprotect NAME: `twin-vmm unprotect` exits 0 and the state is "unprotected".
unprotect()
{
	repl_cmd "$1" unprotect --control "$pctl"
	assert_status "$1" 0
	repl_check "$(repl_query "$pctl")" 's["state"] == "unprotected" and s["held_frames"] == 0' \
		"$1: query-replication after unprotect"
}

# 1. The backup stalls: nothing heard for TIMEOUT_MS.
backup 1
client stall
client_running stall "the backup's stall"
watch_degraded stall
t0=$(date +%s%N)
kill -STOP "$(repl_vmm_pid "$B_PID")"
degraded stall "$t0"
client_done stall
# Answers were held across the stall until the primary gave up on the backup.
python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]) / 2)' "$CLIENT_MAX_MS" "$TIMEOUT_MS" ||
	fail "stall: the longest answer took $CLIENT_MAX_MS ms: no request was held across the stall"
note "stall: degraded after $DEGRADED_MS ms ('$DEGRADED_ERR'); longest answer $CLIENT_MAX_MS ms"
unprotect unprotect-stalled
kill -KILL "$(repl_vmm_pid "$B_PID")"
wait_bounded "$B_PID" 10

# 2. A fresh backup, then its death: the connection closes.
backup 2
client death
client_running death "the backup's death"
watch_degraded death
t0=$(date +%s%N)
repl_kill9 "$B_PID" b2
degraded death "$t0"
client_done death
note "death: degraded after $DEGRADED_MS ms ('$DEGRADED_ERR'); longest answer $CLIENT_MAX_MS ms"
unprotect unprotect-dead

# 3. Another fresh backup, and unprotect of the healthy pair under load: the backup exits
# 0, and no answer is lost.
backup 3
client healthy
unprotect unprotect-healthy
client_running healthy "unprotect returned"
wait_bounded "$B_PID" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/b3.err"; fail "b3 exited $WAIT_RC after unprotect, expected 0"; }
client_done healthy
note "healthy unprotect: the backup exited 0; longest answer $CLIENT_MAX_MS ms"

kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/pri.err"; fail "the primary exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
