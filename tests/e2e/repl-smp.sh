#!/bin/bash
# e2e: memwriter on 2 vCPUs, protected in epoch mode, survives kill -9 of its primary at a seeded random moment: after failover the backup runs it on, without rebooting, to the checksum of an uninterrupted run; a protected guest that ends by itself makes its backup exit 0.
#
# memwriter's checksum covers word 0 of every page of both vCPUs' windows, and a page
# written in iteration i holds i, so a page of the committed state lost, torn or from the
# wrong epoch, or a vCPU restored at the wrong place, changes it (tests/guests/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
kernel=$(guest memwriter)
# 2 vCPUs, 16 pages per iteration each at 2 pages/ms: ~8 ms an iteration, ~5 s in all
# unprotected; a heartbeat every 20 iterations.
pages=16 ws=256 k=2 iters=600 hb=20
repl_seed
step=0 extra=0

# iter_of FILE first|last: a serial log's first or last heartbeat iteration ("" if none).
iter_of()
{
	local pick=head
	[ "$2" = last ] && pick="tail"
	tr -d '\r' <"$1" | sed -n 's/^memwriter: iter=\([0-9]*\)$/\1/p' | "$pick" -n 1
}

repl_run_bg pri - --kernel "$kernel" --mem 64M --vcpus "$k" \
	--cmdline "pages=$pages rate=2 ws=$ws vcpus=$k iters=$iters progress=$hb" \
	--serial "file:$E2E_TMP/pri.serial"
PRI_PID=$VM_PID
wait_for_text "$E2E_TMP/pri.serial" "memwriter: iter=$hb" "$E2E_BOOT_TIMEOUT" || {
	show_file "$E2E_TMP/pri.serial"
	fail "pri: the guest never reached iteration $hb"
}
repl_backup_bg bak - 127.0.0.1:0 --insecure --serial "file:$E2E_TMP/bak.serial"
BAK_PID=$BACKUP_PID
repl_protect protect "$E2E_TMP/pri.ctl" "127.0.0.1:$BACKUP_PORT" --insecure --mode epoch \
	--interval 25

# A seeded random moment: 1-5 heartbeats on, then 0-150 ms more.
last=$(iter_of "$E2E_TMP/pri.serial" last)
repl_random step 1 5
target=$((last + step * hb))
[ "$target" -lt "$iters" ] ||
	fail "pri: the guest reached iteration $last before protect returned: nothing left to fail over"
wait_for_text "$E2E_TMP/pri.serial" "memwriter: iter=$target" 30 || {
	show_file "$E2E_TMP/pri.serial"
	fail "pri: the guest stopped before iteration $target while protected"
}
repl_random extra 0 150
repl_pause_ms "$extra"
# Epochs flow, each carrying the pages both vCPUs dirtied.
st=$(repl_query "$E2E_TMP/pri.ctl")
repl_check "$st" 's["state"] == "protected" and s["mode"] == "epoch" and s["interval_ms"] == 25 and s["acked_epoch"] >= 2 and s["dirty_pages_mean"] > 0' \
	"pri: query-replication before the kill"
repl_kill9 "$PRI_PID" pri
last=$(iter_of "$E2E_TMP/pri.serial" last)
grep -q "memwriter: done" "$E2E_TMP/pri.serial" && fail "pri finished the guest before its kill"

repl_failover failover "$E2E_TMP/bak.ctl"
want=$(expected_checksum "$pages" "$ws" "$k" "$iters")
wait_bounded "$BAK_PID" 60
[ "$WAIT_RC" -eq 1 ] || {
	show_file "$E2E_TMP/bak.serial"
	show_file "$E2E_TMP/bak.err"
	fail "bak exited $WAIT_RC after the failover, expected the guest's 1"
}
assert_has_line "$E2E_TMP/bak.serial" "memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"
grep -q "^memwriter: pages=" "$E2E_TMP/bak.serial" && fail "bak booted the guest again"
# The committed state is at most one heartbeat (~0.2 s) behind the primary's last print.
first=$(iter_of "$E2E_TMP/bak.serial" first)
{ [ -n "$first" ] && [ "$first" -ge $((last - hb)) ] && [ "$first" -le $((last + hb)) ]; } ||
	fail "bak: first heartbeat '$first' does not follow the primary's last, $last"
note "killed at iter=$last (+${extra} ms, $(repl_get "$st" 's["epochs"]') epochs, $(repl_get "$st" 's["dirty_pages_mean"]') dirty pages each on average), backup resumed at iter=$first, failover ${REPL_FAILOVER_MS} ms, checksum $want"

# The guest ending by itself on a protected primary (no kill): the primary exits with the
# guest's status and tells the backup, which exits 0 without ever running the VM.
iters2=300
repl_run_bg end-pri - --kernel "$kernel" --mem 64M --vcpus "$k" \
	--cmdline "pages=$pages rate=2 ws=$ws vcpus=$k iters=$iters2 progress=$hb" \
	--serial "file:$E2E_TMP/end-pri.serial"
PRI_PID=$VM_PID
repl_backup_bg end-bak - 127.0.0.1:0 --insecure --serial "file:$E2E_TMP/end-bak.serial"
BAK_PID=$BACKUP_PID
repl_protect end-protect "$E2E_TMP/end-pri.ctl" "127.0.0.1:$BACKUP_PORT" --insecure --mode epoch
wait_bounded "$PRI_PID" 60
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/end-pri.err"; fail "end-pri exited $WAIT_RC, expected the guest's 1"; }
assert_has_line "$E2E_TMP/end-pri.serial" \
	"memwriter: done iters=$iters2 pages=$pages vcpus=$k checksum=$(expected_checksum "$pages" "$ws" "$k" "$iters2")"
wait_bounded "$BAK_PID" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/end-bak.err"; fail "end-bak exited $WAIT_RC after its primary's guest ended, expected 0"; }
assert_match "$E2E_TMP/end-bak.err" "the primary unprotected the VM"
grep -q "memwriter" "$E2E_TMP/end-bak.serial" 2>/dev/null && fail "end-bak ran the guest"
note "a guest ending on its protected primary: the backup exited 0"
note "ok"
