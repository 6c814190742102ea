#!/bin/bash
# e2e: blkwriter writes a disk image under twin-vmm, a second boot verifies it, and another seed or a corrupted block (read through a read-only disk) fails the verify.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest blkwriter)
img="$E2E_TMP/disk.img"
blocks=300
seed=4242
truncate -s 2M "$img"

# boot NAME MODE [SEED [DISK_OPTS]]: blkwriter on the image, through twin-vmm's virtio-blk.
boot()
{
	vmm "$1" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$img${4:-}" \
		--cmdline "mode=$2 blocks=$blocks seed=${3:-$seed}"
}

# The host reads the image too: block i starts with "TWINBLK1", and holds i at byte 24.
host_check_block()
{
	local i=$1 magic idx
	magic=$(dd if="$img" bs=4096 skip="$i" count=1 status=none | head -c 8)
	idx=$(od -An -t u8 -j $((i * 4096 + 24)) -N 8 "$img" | tr -d ' ')
	[ "$magic" = TWINBLK1 ] || fail "block $i of the image has magic '$magic', not TWINBLK1"
	[ "$idx" = "$i" ] || fail "block $i of the image holds index $idx"
}

boot write write
assert_status write 1
assert_quiet write
assert_first_line "$E2E_TMP/write.out" "twin-guest: blkwriter (ring 0 ok)"
assert_match "$E2E_TMP/write.out" "^blkwriter: write OK blocks=$blocks seed=$seed "
# get-id answered with the image's name, and the capacity is the 2 MiB image.
assert_has_line "$E2E_TMP/write.out" 'blkwriter: disk id="disk.img" sectors=4096'
for i in 0 1 150 $((blocks - 1)); do
	host_check_block "$i"
done
if [ "$(od -An -t u8 -j $((blocks * 4096)) -N 8 "$img" | tr -d ' ')" != 0 ]; then
	fail "blkwriter wrote past its $blocks blocks"
fi

boot verify verify
assert_status verify 1
assert_match "$E2E_TMP/verify.out" "^blkwriter: verify OK blocks=$blocks seed=$seed "

# Another seed: every block is someone else's.
boot verify-seed verify $((seed + 1))
assert_status verify-seed 3
assert_has_line "$E2E_TMP/verify-seed.out" "blkwriter: verify FAIL blocks=$blocks bad=$blocks"

# One flipped byte in the payload of block 77: exactly that block fails, by its checksum;
# read through a read-only disk, so every other block reads back right without write access.
printf '\xa5' | dd of="$img" bs=1 seek=$((77 * 4096 + 1000)) conv=notrunc status=none
boot verify-corrupt verify "$seed" ,readonly
assert_status verify-corrupt 3
assert_has_line "$E2E_TMP/verify-corrupt.out" "blkwriter: bad block index=77: checksum"
assert_has_line "$E2E_TMP/verify-corrupt.out" "blkwriter: verify FAIL blocks=$blocks bad=1"
note "ok"
