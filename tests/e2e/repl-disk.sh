#!/bin/bash
# e2e: blkwriter writing its disk, protected toward a backup holding its own image copy, survives kill -9 of the primary in epoch and in event mode: after failover the guest finishes its writes on the backup without rebooting, and a fresh boot verifies the backup's image whole.
#
# The backup's image starts as random bytes, unlike the primary's zeros, so every block
# the verify reads back must have come through the initial sync or an epoch.  The kill
# comes at a seeded random moment, a few heartbeats after protect returned (TWIN_SEED
# replays it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
kernel=$(guest blkwriter)
# 2048 blocks of 4 KiB (8 MiB) at 300 blocks/s: ~7 s of writing, a heartbeat every 128.
blocks=2048 rate=300 hb=128
repl_seed

# heartbeat FILE first|last: the first or last "blkwriter: written=N" of FILE ("" if none).
heartbeat()
{
	local pick=head
	[ "$2" = last ] && pick="tail"
	tr -d '\r' <"$1" | sed -n 's/^blkwriter: written=\([0-9]*\)$/\1/p' | "$pick" -n 1
}

# round MODE: one primary, one backup, one kill, one failover, one verify.
round()
{
	local mode=$1 pri="pri-$1" bak="bak-$1" seed last step target extra first chunks st
	seed=$((REPL_SEED + ${#mode}))
	truncate -s 8M "$E2E_TMP/$pri.img"
	head -c 8M /dev/urandom >"$E2E_TMP/$bak.img"

	repl_run_bg "$pri" - --kernel "$kernel" --mem 64M --disk "path=$E2E_TMP/$pri.img" \
		--cmdline "mode=write blocks=$blocks seed=$seed rate=$rate progress=$hb" \
		--serial "file:$E2E_TMP/$pri.serial"
	PRI_PID=$VM_PID
	wait_for_text "$E2E_TMP/$pri.serial" "blkwriter: written=$hb" "$E2E_BOOT_TIMEOUT" || {
		show_file "$E2E_TMP/$pri.serial"
		fail "$pri: blkwriter never got to block $hb"
	}
	repl_backup_bg "$bak" - 127.0.0.1:0 --insecure --disk "path=$E2E_TMP/$bak.img" \
		--serial "file:$E2E_TMP/$bak.serial"
	BAK_PID=$BACKUP_PID
	repl_protect "protect-$mode" "$E2E_TMP/$pri.ctl" "127.0.0.1:$BACKUP_PORT" --insecure \
		--mode "$mode"
	# The initial sync copied the whole image (2048 chunks of 4 KiB), the guest writing on.
	chunks=$(repl_get "$REPL_STATUS" 's["sync"]["disk_chunks"]')
	[ "$chunks" -ge "$blocks" ] ||
		fail "protect-$mode: the initial sync sent $chunks disk chunks, fewer than the image's $blocks"

	# A seeded random moment: 1-3 heartbeats on, then 0-300 ms more.
	last=$(heartbeat "$E2E_TMP/$pri.serial" last)
	repl_random step 1 3
	target=$((last + step * hb))
	[ "$target" -lt "$blocks" ] ||
		fail "$pri: the guest reached block $last before protect returned: nothing left to fail over"
	wait_for_text "$E2E_TMP/$pri.serial" "blkwriter: written=$target" 30 || {
		show_file "$E2E_TMP/$pri.serial"
		fail "$pri: blkwriter stopped before block $target while protected"
	}
	repl_random extra 0 300
	repl_pause_ms "$extra"
	st=$(repl_query "$E2E_TMP/$pri.ctl")
	repl_check "$st" 's["state"] == "protected" and s["acked_epoch"] >= 1 and s["bytes_total"] > 0' \
		"$pri: query-replication before the kill"
	repl_kill9 "$PRI_PID" "$pri"
	last=$(heartbeat "$E2E_TMP/$pri.serial" last)
	grep -q "blkwriter: write OK" "$E2E_TMP/$pri.serial" &&
		fail "$pri finished the writes before its kill: nothing failed over"

	repl_failover "failover-$mode" "$E2E_TMP/$bak.ctl"
	wait_bounded "$BAK_PID" 60
	[ "$WAIT_RC" -eq 1 ] || {
		show_file "$E2E_TMP/$bak.serial"
		show_file "$E2E_TMP/$bak.err"
		fail "$bak exited $WAIT_RC after the failover, expected the guest's 1"
	}
	assert_match "$E2E_TMP/$bak.serial" "^blkwriter: write OK blocks=$blocks seed=$seed "
	grep -q "^blkwriter: disk id=" "$E2E_TMP/$bak.serial" && fail "$bak booted the guest again"
	# Resumed where a checkpoint left it: at most one heartbeat (0.4 s) behind the
	# primary's last, and not past the next one.
	first=$(heartbeat "$E2E_TMP/$bak.serial" first)
	{ [ -n "$first" ] && [ "$first" -ge $((last - hb)) ] && [ "$first" -le $((last + hb)) ]; } ||
		fail "$bak: first heartbeat '$first' does not follow the primary's last, $last"

	vmm "$bak-verify" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$E2E_TMP/$bak.img" \
		--cmdline "mode=verify blocks=$blocks seed=$seed"
	assert_status "$bak-verify" 1
	assert_match "$E2E_TMP/$bak-verify.out" "^blkwriter: verify OK blocks=$blocks seed=$seed "
	note "$mode: killed at written=$last (+${extra} ms), backup resumed at written=$first, failover ${REPL_FAILOVER_MS} ms, image verified ($chunks chunks in the sync)"
}

round epoch
round event
note "ok"
