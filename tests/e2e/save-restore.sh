#!/bin/bash
# e2e: save pauses a running guest into a file; restore resumes it: memwriter's checksum, the kv guest's store and counters.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
require_kv_client
kernel=$(guest memwriter)

# 2 vCPUs, 16 pages per ms-paced iteration each, a heartbeat every 20 iterations: about
# 6 s of work, saved at a heartbeat well before the end.
pages=16 ws=64 k=2 iters=400
want=$(expected_checksum "$pages" "$ws" "$k" "$iters")
CMDLINE="pages=$pages rate=1 ws=$ws vcpus=$k iters=$iters progress=20"
sock="$E2E_TMP/vm.sock"
file="$E2E_TMP/vm.twin"

# last_iter FILE: the last heartbeat's iteration in a serial log (0 if none).
last_iter()
{
	sed -n 's/^memwriter: iter=\([0-9]*\)\r\{0,1\}$/\1/p' "$1" | tail -n 1 | grep . || echo 0
}

# The reference: the same run, uninterrupted, gives the checksum its arguments imply.
vmm ref "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$k" --cmdline "$CMDLINE"
assert_status ref 1
assert_has_line "$E2E_TMP/ref.out" "memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"

# The source has a disk too (memwriter leaves it alone): its device state goes in the file.
truncate -s 1M "$E2E_TMP/disk.img"
start_bg src "$TWIN_VMM" run --kernel "$kernel" --vcpus "$k" --cmdline "$CMDLINE" \
	--disk "path=$E2E_TMP/disk.img" --serial "file:$E2E_TMP/src.serial" --control "$sock"
src=$BG_PID
wait_for_text "$E2E_TMP/src.serial" "memwriter: iter=60" "$E2E_BOOT_TIMEOUT" || {
	show_file "$E2E_TMP/src.serial"
	fail "the source guest never reached iteration 60"
}
# running_on CASE: the source says running and its guest advances (a later heartbeat).
running_on()
{
	local last
	[ "$(ctl "$sock" query-status)" = '{"status":"running","running":true}' ] ||
		fail "$1: the VM is not running"
	last=$(last_iter "$E2E_TMP/src.serial")
	wait_for_text "$E2E_TMP/src.serial" "memwriter: iter=$((last + 20))" 20 ||
		fail "$1: the guest stopped advancing after iteration $last"
}

# A FILE.partial already there (here a link planted at another file: twin-vmm runs as
# root) is neither written through nor replaced: the save is refused at once, naming it
# and the fix, and the VM is not even paused.
echo precious >"$E2E_TMP/victim"
ln -s "$E2E_TMP/victim" "$file.partial"
run_bounded 30 planted "$TWIN_VMM" save --control "$sock" "$file"
assert_status planted 1
assert_one_error_line planted "save: .*vm\.twin\.partial already exists .*: remove it"
[ "$(cat "$E2E_TMP/victim")" = precious ] || fail "planted: the save wrote through the link"
[ -L "$file.partial" ] && [ ! -e "$file" ] || fail "planted: the link was replaced or a file appeared"
running_on planted
rm "$file.partial"

# A save that fails (a 16 KiB file system fills up) leaves no file and resumes the VM it
# paused; query-migrate says why.
mkdir "$E2E_TMP/full"
mount -t tmpfs -o size=16k twin-e2e-full "$E2E_TMP/full" || fail "cannot mount a small tmpfs (root is needed)"
trap 'umount "$E2E_TMP/full" || true; e2e_cleanup' EXIT
run_bounded 30 nospace "$TWIN_VMM" save --control "$sock" "$E2E_TMP/full/vm.twin"
assert_status nospace 1
assert_one_error_line nospace "save to .*full/vm\.twin failed: .*No space left on device"
[ -z "$(ls -A "$E2E_TMP/full")" ] || fail "nospace: the failed save left $(ls "$E2E_TMP/full")"
ctl "$sock" query-migrate | grep -q '"phase":"failed".*No space left' ||
	fail "nospace: query-migrate does not say the save failed: $(ctl "$sock" query-migrate)"
umount "$E2E_TMP/full"
trap e2e_cleanup EXIT
running_on nospace
note "a planted $file.partial is refused; a save that ran out of space resumed the VM"

# A relative FILE (run_bounded runs in $E2E_TMP): the client makes it absolute for the
# twin-vmm it talks to.
run_bounded "$E2E_BOOT_TIMEOUT" save "$TWIN_VMM" save --control "$sock" vm.twin
assert_status save 0
assert_match "$E2E_TMP/save.out" "^save: wrote the VM to vm.twin \([0-9.]+ MiB\); it stays paused"
[ -s "$file" ] || fail "save: no file at $file"
[ ! -e "$file.partial" ] || fail "save: left $file.partial behind"
[ "$(ctl "$sock" query-status)" = '{"status":"paused","running":false}' ] ||
	fail "the VM is not paused after save"
saved_at=$(last_iter "$E2E_TMP/src.serial")
[ "$(ctl "$sock" query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])')" = completed ] ||
	fail "query-migrate does not say the save completed"
ctl "$sock" quit >/dev/null
wait_bounded "$src" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/src.err"; fail "source: quit after save exited $WAIT_RC"; }
grep -q "memwriter: done" "$E2E_TMP/src.serial" && fail "the source finished although it was saved and quit"
note "saved at iteration $saved_at ($(stat -c %s "$file") bytes)"

# Restore twice from the one file: each run picks up where the save left it, and ends with
# the checksum of an uninterrupted run.
for run in 1 2; do
	run_bounded "$E2E_BOOT_TIMEOUT" "restore$run" "$TWIN_VMM" restore "$file" \
		--disk "path=$E2E_TMP/disk.img" --serial "file:$E2E_TMP/restore$run.serial"
	assert_status "restore$run" 1
	assert_quiet "restore$run"
	assert_has_line "$E2E_TMP/restore$run.serial" \
		"memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"
	# The guest did not boot again: no banner, and its first heartbeat follows the save.
	grep -q "^memwriter: pages=" "$E2E_TMP/restore$run.serial" &&
		fail "restore$run: the guest booted again instead of resuming"
	first=$(sed -n 's/^memwriter: iter=\([0-9]*\)\r\{0,1\}$/\1/p' "$E2E_TMP/restore$run.serial" | head -n 1)
	[ "$first" -gt "$saved_at" ] && [ "$first" -le $((saved_at + 20)) ] ||
		fail "restore$run: first heartbeat $first does not follow iteration $saved_at"
done
note "restored twice: heartbeats from $((saved_at + 20)), checksum $want"

# Bad files: one error line each, exit 2, and nothing runs.
run_bounded "$E2E_ERROR_TIMEOUT" missing "$TWIN_VMM" restore "$E2E_TMP/no-such.twin"
assert_status missing 2
assert_one_error_line missing "restore: cannot open .*no-such.twin"
head -c $(($(stat -c %s "$file") / 2)) "$file" >"$E2E_TMP/cut.twin"
run_bounded "$E2E_ERROR_TIMEOUT" cut "$TWIN_VMM" restore "$E2E_TMP/cut.twin" \
	--disk "path=$E2E_TMP/disk.img" --serial "file:$E2E_TMP/cut.serial"
[ "$RUN_RC" -ne 0 ] && [ "$RUN_RC" -ne 1 ] || fail "cut: a truncated file restored (status $RUN_RC)"
assert_one_error_line cut "restore: .*cut.twin: "
[ ! -s "$E2E_TMP/cut.serial" ] || fail "cut: the guest ran from a truncated file"
# Bytes after END: damage, refused with their offset before anything runs.
{ cat "$file"; printf 'junk'; } >"$E2E_TMP/tail.twin"
run_bounded "$E2E_ERROR_TIMEOUT" tail "$TWIN_VMM" restore "$E2E_TMP/tail.twin" \
	--disk "path=$E2E_TMP/disk.img" --serial "file:$E2E_TMP/tail.serial"
assert_status tail 2
assert_one_error_line tail "restore: .*tail.twin: stream: data after END at byte"
[ ! -s "$E2E_TMP/tail.serial" ] || fail "tail: the guest ran from a file with bytes after END"
# The devices must be those saved: a missing disk is named, and so is another image size.
run_bounded "$E2E_ERROR_TIMEOUT" mismatch "$TWIN_VMM" restore "$file" \
	--serial "file:$E2E_TMP/mismatch.serial"
assert_status mismatch 2
assert_one_error_line mismatch "restore: .*vm.twin: .*(disk|blk)"
truncate -s 2M "$E2E_TMP/other.img"
run_bounded "$E2E_ERROR_TIMEOUT" resized "$TWIN_VMM" restore "$file" \
	--disk "path=$E2E_TMP/other.img" --serial "file:$E2E_TMP/resized.serial"
assert_status resized 2
assert_one_error_line resized "restore: .*vm.twin: .*(size|capacity|sectors)"
[ ! -s "$E2E_TMP/resized.serial" ] || fail "resized: the guest ran on another disk"
run_bounded "$E2E_ERROR_TIMEOUT" badsave "$TWIN_VMM" save --control "$E2E_TMP/nobody.sock" x.twin
assert_status badsave 1
assert_one_error_line badsave "cannot connect: .*is twin-vmm running with --control"

# The kv guest on a tap in a lab host: its store, its exactly-once memory and its request
# counter survive a save and a restore, and it answers on the same address afterwards.
lab_up sr --hosts 1
nic="tap=$(lab sr get prefix)-t0,mac=$KV_MAC,bridge=$(lab sr get lan-bridge)"
kvsock="$E2E_TMP/kv.sock"
start_bg kv1 "$LAB" --state "$E2E_TMP/lab-sr" exec h1 "$TWIN_VMM" run --kernel "$(guest kv)" \
	--mem 64M --nic "$nic" --cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT" --control "$kvsock"
KV_PID=$BG_PID
kv_wait_ready sr kv1 "$E2E_BOOT_TIMEOUT"
kv_expect sr "s 1 PUT a 41" "s 1 OK 41"
kv_expect sr "s 2 INCR a" "s 2 OK 42"
before=$(kv_stats sr q)
run_bounded 60 kvsave "$TWIN_VMM" save --control "$kvsock" "$E2E_TMP/kv.twin"
assert_status kvsave 0
ctl "$kvsock" quit >/dev/null
wait_bounded "$KV_PID" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kv1.err"; fail "kv1: quit after save exited $WAIT_RC"; }
start_bg kv2 "$LAB" --state "$E2E_TMP/lab-sr" exec h1 "$TWIN_VMM" restore "$E2E_TMP/kv.twin" \
	--nic "$nic"
KV_PID=$BG_PID
kv_wait_ready sr kv2 "$E2E_BOOT_TIMEOUT"
# A retransmission gets the remembered reply, not a second increment.
kv_expect sr "s 2 INCR a" "s 2 OK 42"
kv_expect sr "s 3 INCR a" "s 3 OK 43"
after=$(kv_stats sr r)
# Applied since the first count: q's GET and s 3 (the replay is not applied again).
[ "$after" -eq $((before + 2)) ] ||
	fail "kv: __stats went from $before to $after across save and restore, expected $((before + 2))"
kv_client_verify sr 2000 2
kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kv2.err"; fail "kv2: exited $WAIT_RC after SIGTERM, expected 0"; }
note "kv: the store and __stats ($before -> $after) continue after restore"
note "ok"
