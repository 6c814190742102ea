#!/bin/bash
# e2e: protect over mutual TLS between two lab hosts works; a backup whose certificate another CA signed cannot attach (protect fails naming the certificate, the primary runs on unprotected, the backup keeps waiting), nor a primary with such a certificate, nor one whose PSK differs from the backup's (protect fails naming the PSK); set-replication switches mode and interval on the running protected VM, as query-replication shows.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/tls-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
require_kv_client

repl_kv_lab rt
# The server certificate names h2's replication address, where the backups listen.
pki="$E2E_TMP/pki"
tls_pki "$pki" 198.18.1.2
# shellcheck disable=SC2207 # tls_opts prints words without spaces in them
good_backup=($(tls_opts "$pki" server)) good_primary=($(tls_opts "$pki" client))
# shellcheck disable=SC2207
stranger=($(tls_opts "$pki" stranger))

SEQ=0 X=7
# ask REQ REPLY_VALUE: one kv request from client "rtls" with the next SEQ.
ask()
{
	SEQ=$((SEQ + 1))
	kv_expect rt "rtls $SEQ $1" "rtls $SEQ OK $2"
}
# incr: INCR x, which must answer its value so far + 1.
incr()
{
	X=$((X + 1))
	ask "INCR x" "$X"
}
ask "PUT x $X" "$X"

# refused_attach NAME BACKUP_PID WHAT: the backup NAME logged the refused handshake and
# waits on; the primary runs on, unprotected, its state "failed" with WHAT (a word, any
# case) in its error.
refused_attach()
{
	local st what=$3
	wait_for_text "$E2E_TMP/$1.err" "still waiting" "$E2E_ERROR_TIMEOUT" ||
		{ show_file "$E2E_TMP/$1.err"; fail "$1: no line about the refused connection"; }
	assert_match "$E2E_TMP/$1.err" "refused a connection: .*; still waiting$"
	kill -0 "$2" 2>/dev/null || { show_file "$E2E_TMP/$1.err"; fail "$1: a refused handshake ended the backup"; }
	st=$(repl_query "$pctl")
	repl_check "$st" "s['state'] == 'failed' and '${what,,}' in s['error'].lower()" \
		"$1: the primary's query-replication after the refused protect"
	repl_check "$(repl_status "$pctl")" 's["running"] is True' "$1: the primary's query-status"
	incr
}

# 1. A backup showing a certificate from another CA: the primary refuses it.
repl_backup_bg stranger-b h2 198.18.1.2:0 "${stranger[@]}" --nic "tap=$p-t1,mac=$KV_MAC,bridge=$br"
SB_PID=$BACKUP_PID
repl_protect_refused protect-to-stranger "$pctl" "198.18.1.2:$BACKUP_PORT" "certificate" \
	"${good_primary[@]}" --mode epoch
refused_attach stranger-b "$SB_PID" certificate
kill -TERM "$(repl_vmm_pid "$SB_PID")"
wait_bounded "$SB_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/stranger-b.err"; fail "stranger-b exited $WAIT_RC after SIGTERM while waiting, expected 0"; }

# 1b. A backup with PSK psk, a primary with other.psk (the same identity, another key):
# the handshake fails on the binder, and protect says the keys differ.
repl_backup_bg psk-b h2 198.18.1.2:0 --tls-psk "$pki/psk" --nic "tap=$p-t3,mac=$KV_MAC,bridge=$br"
PB_PID=$BACKUP_PID
repl_protect_refused protect-other-psk "$pctl" "198.18.1.2:$BACKUP_PORT" "PSK keys differ" \
	--tls-psk "$pki/other.psk" --mode epoch
refused_attach psk-b "$PB_PID" PSK
kill -TERM "$(repl_vmm_pid "$PB_PID")"
wait_bounded "$PB_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/psk-b.err"; fail "psk-b exited $WAIT_RC after SIGTERM while waiting, expected 0"; }

# 2. The right backup: first a primary showing the stranger's certificate (the backup
# refuses it and waits on), then the right one, which attaches.
repl_backup_bg b h2 198.18.1.2:0 "${good_backup[@]}" --nic "tap=$p-t2,mac=$KV_MAC,bridge=$br"
B_PID=$BACKUP_PID
peer="198.18.1.2:$BACKUP_PORT"
repl_protect_refused protect-as-stranger "$pctl" "$peer" "." "${stranger[@]}" --mode epoch
refused_attach b "$B_PID" certificate
repl_protect protect "$pctl" "$peer" "${good_primary[@]}" --mode epoch --interval 25
repl_check "$REPL_STATUS" "s['mode'] == 'epoch' and s['interval_ms'] == 25 and s['peer'] == '$peer' and s['error'] == ''" \
	"protect's status"
repl_check "$(repl_status "$E2E_TMP/b.ctl")" 's["status"] == "backup"' "b: query-status"
incr
kv_client_verify rt 100 2

# 3. Mode switches on the running protected VM.
# Event mode: every reply frame triggers its own checkpoint, released on its ack, so 20
# requests one after the other take at least 20 checkpoints.
repl_cmd set-event set-replication --control "$pctl" --mode event
assert_status set-event 0
st=$(repl_query "$pctl")
repl_check "$st" 's["mode"] == "event" and s["state"] == "protected"' "query-replication after set-replication --mode event"
e0=$(repl_get "$st" 's["epochs"]')
for _ in $(seq 20); do
	incr
done
st=$(repl_query "$pctl")
repl_check "$st" "s['epochs'] >= $e0 + 20 and s['acked_epoch'] == s['epoch']" \
	"event mode: 20 answered requests after $e0 checkpoints"
note "event mode: 20 requests, $(($(repl_get "$st" 's["epochs"]') - e0)) checkpoints"
# Hybrid, with its own interval.
repl_cmd set-hybrid set-replication --control "$pctl" --mode hybrid --interval 50 --min-spacing 5
assert_status set-hybrid 0
repl_check "$(repl_query "$pctl")" 's["mode"] == "hybrid" and s["interval_ms"] == 50 and s["min_spacing_ms"] == 5 and s["state"] == "protected"' \
	"query-replication after set-replication --mode hybrid --interval 50 --min-spacing 5"
kv_client_verify rt 200 2
# Epoch mode at 100 ms: checkpoints go on with the guest idle.
repl_cmd set-epoch set-replication --control "$pctl" --mode epoch --interval 100
assert_status set-epoch 0
st=$(repl_query "$pctl")
repl_check "$st" 's["mode"] == "epoch" and s["interval_ms"] == 100' \
	"query-replication after set-replication --mode epoch --interval 100"
repl_wait "$pctl" 10 "s['acked_epoch'] >= $(repl_get "$st" 's["acked_epoch"]') + 3" >/dev/null
# A bad mode is refused and changes nothing.
repl_cmd set-bad set-replication --control "$pctl" --mode sometimes
[ "$RUN_RC" -ne 0 ] || fail "set-replication --mode sometimes was accepted"
repl_check "$(repl_query "$pctl")" 's["mode"] == "epoch" and s["interval_ms"] == 100' \
	"query-replication after a refused set-replication"
ask "GET x" "$X"

# 4. Unprotect: the backup exits 0, the primary runs on.
repl_cmd unprotect unprotect --control "$pctl"
assert_status unprotect 0
wait_bounded "$B_PID" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/b.err"; fail "b exited $WAIT_RC after unprotect, expected 0"; }
repl_check "$(repl_query "$pctl")" 's["state"] == "unprotected"' "query-replication after unprotect"
incr
kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/pri.err"; fail "the primary exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
