#!/bin/bash
# e2e: blkwriter writing its disk migrates live with --copy-storage and --shared-storage, and the image verifies afterwards; with neither, migrate is refused; with the two sides disagreeing, the source is told why and runs on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
kernel=$(guest blkwriter)
# 2048 blocks of 4 KiB (8 MiB) at 400 blocks/s: ~5 s of writing, a heartbeat every 128.
blocks=2048 seed=77 rate=400

# source NAME IMG: blkwriter writing IMG, control socket $E2E_TMP/NAME.sock; waits until
# it is well into its writes.  SRC_PID.
source_vm()
{
	local name=$1 img=$2
	start_bg "$name" "$TWIN_VMM" run --kernel "$kernel" --disk "path=$img" \
		--cmdline "mode=write blocks=$blocks seed=$seed rate=$rate progress=128" \
		--serial "file:$E2E_TMP/$name.serial" --control "$E2E_TMP/$name.sock"
	SRC_PID=$BG_PID
	wait_for_text "$E2E_TMP/$name.serial" "blkwriter: written=256" "$E2E_BOOT_TIMEOUT" || {
		show_file "$E2E_TMP/$name.serial"
		fail "$name: blkwriter never got to block 256"
	}
}

# dest NAME IMG [--shared-storage]: twin-vmm incoming with IMG as its disk; DST_PID, DST_PORT.
dest_vm()
{
	local name=$1 img=$2
	shift 2
	incoming_bg "$name" --insecure "$@" --disk "path=$img"
}

# migrated SRC DST IMG: the migration's source exited 0 before the guest finished, the
# destination finished the writes, and a fresh boot of blkwriter verifies IMG whole.
migrated()
{
	local src=$1 dst=$2 img=$3
	wait_bounded "$SRC_PID" 20
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/$src.err"; fail "$src exited $WAIT_RC after migrating"; }
	grep -q "blkwriter: write OK" "$E2E_TMP/$src.serial" && fail "$src finished the writes itself"
	wait_bounded "$DST_PID" 60
	[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/$dst.serial"; show_file "$E2E_TMP/$dst.err"; fail "$dst exited $WAIT_RC, expected the guest's 1"; }
	assert_match "$E2E_TMP/$dst.serial" "^blkwriter: write OK blocks=$blocks seed=$seed "
	vmm "$dst-verify" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$img" \
		--cmdline "mode=verify blocks=$blocks seed=$seed"
	assert_status "$dst-verify" 1
	assert_match "$E2E_TMP/$dst-verify.out" "^blkwriter: verify OK blocks=$blocks seed=$seed "
}

# Copy storage: each host its own image; the destination's starts as zeros, unlike the
# source's, and ends holding every block.
truncate -s 8M "$E2E_TMP/src.img" "$E2E_TMP/dst.img"
source_vm copy-src "$E2E_TMP/src.img"
dest_vm copy-dst "$E2E_TMP/dst.img"
run_bounded 60 copy-migrate "$TWIN_VMM" migrate --control "$E2E_TMP/copy-src.sock" \
	--to "127.0.0.1:$DST_PORT" --insecure --copy-storage
assert_status copy-migrate 0
# More chunks than the image has: blocks written after the full pass read them were
# tracked and sent again (the guest writes through the whole migration).
chunks=$(grep -o '"disk_chunks":[0-9]*' "$E2E_TMP/copy-migrate.out" | cut -d: -f2)
[ "${chunks:-0}" -gt 2048 ] ||
	fail "copy-migrate: $chunks disk chunks sent, not more than the image's 2048: $(tail -n 1 "$E2E_TMP/copy-migrate.out")"
migrated copy-src copy-dst "$E2E_TMP/dst.img"
note "copy storage: $(grep -o '"disk_chunks":[0-9]*' "$E2E_TMP/copy-migrate.out")"

# Shared storage: one image, its lock handed over at the end of the stream.
truncate -s 0 "$E2E_TMP/src.img"
truncate -s 8M "$E2E_TMP/src.img"
source_vm shared-src "$E2E_TMP/src.img"
dest_vm shared-dst "$E2E_TMP/src.img" --shared-storage
run_bounded 60 shared-migrate "$TWIN_VMM" migrate --control "$E2E_TMP/shared-src.sock" \
	--to "127.0.0.1:$DST_PORT" --insecure --shared-storage
assert_status shared-migrate 0
migrated shared-src shared-dst "$E2E_TMP/src.img"

# Neither: refused at once, naming the image; the guest writes on at the source.
truncate -s 0 "$E2E_TMP/src.img"
truncate -s 8M "$E2E_TMP/src.img"
source_vm refused-src "$E2E_TMP/src.img"
run_bounded 30 refused-migrate "$TWIN_VMM" migrate --control "$E2E_TMP/refused-src.sock" \
	--to 127.0.0.1:9 --insecure
assert_status refused-migrate 1
assert_match "$E2E_TMP/refused-migrate.err" "writable disk \\($E2E_TMP/src.img\\): give --copy-storage"
wait_bounded "$SRC_PID" 60
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/refused-src.serial"; fail "refused-src exited $WAIT_RC"; }
assert_match "$E2E_TMP/refused-src.serial" "^blkwriter: write OK blocks=$blocks seed=$seed "

# Mismatch: the destination shares the image (--shared-storage) while the source copies
# it.  The destination refuses at the first DISK_WRITES and reads the rest of the stream,
# so the source reads the reason (at SYNC, before any pause), not a broken connection,
# and its guest writes on to the end.
truncate -s 0 "$E2E_TMP/src.img" "$E2E_TMP/dst.img"
truncate -s 8M "$E2E_TMP/src.img" "$E2E_TMP/dst.img"
source_vm mismatch-src "$E2E_TMP/src.img"
dest_vm mismatch-dst "$E2E_TMP/dst.img" --shared-storage
run_bounded 60 mismatch-migrate "$TWIN_VMM" migrate --control "$E2E_TMP/mismatch-src.sock" \
	--to "127.0.0.1:$DST_PORT" --insecure --copy-storage
assert_status mismatch-migrate 1
assert_match "$E2E_TMP/mismatch-migrate.err" \
	"the destination refused the VM: .*this incoming has --shared-storage but the source copies the disk"
assert_match "$E2E_TMP/mismatch-migrate.err" "the VM keeps running on the source$"
wait_bounded "$DST_PID" 20
[ "$WAIT_RC" -eq 2 ] || { show_file "$E2E_TMP/mismatch-dst.err"; fail "mismatch-dst exited $WAIT_RC, expected 2"; }
wait_bounded "$SRC_PID" 60
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/mismatch-src.serial"; fail "mismatch-src exited $WAIT_RC"; }
assert_match "$E2E_TMP/mismatch-src.serial" "^blkwriter: write OK blocks=$blocks seed=$seed "
