#!/bin/bash
# e2e: twin-vmm's virtio-blk under blkwriter: data round-trips through the image, a read-only disk refuses writes, get-id, two disks, a locked image and bad --disk input fail cleanly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest blkwriter)
img="$E2E_TMP/disk-a.img"
blocks=200
seed=99
truncate -s 1M "$img"

# blk NAME ARGS...: blkwriter through twin-vmm with ARGS (--disk ... --cmdline ...).
blk()
{
	local name=$1
	shift
	vmm "$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" "$@"
}

# Round trip: write, then verify in a second VM; the host sees the blocks too.
blk write --disk "path=$img" --cmdline "mode=write blocks=$blocks seed=$seed"
assert_status write 1
assert_has_line "$E2E_TMP/write.out" 'blkwriter: disk id="disk-a.img" sectors=2048'
assert_match "$E2E_TMP/write.out" "^blkwriter: write OK blocks=$blocks seed=$seed "
assert_quiet write
for i in 0 57 $((blocks - 1)); do
	magic=$(dd if="$img" bs=4096 skip="$i" count=1 status=none | head -c 8)
	[ "$magic" = TWINBLK1 ] || fail "block $i of the image starts '$magic', not TWINBLK1"
done
sum_before=$(md5sum <"$img")
blk verify --disk "path=$img,readonly" --cmdline "mode=verify blocks=$blocks seed=$seed"
assert_status verify 1
assert_match "$E2E_TMP/verify.out" "^blkwriter: verify OK blocks=$blocks seed=$seed "

# Read-only: the device answers writes with an I/O error and the image stays as it was.
blk readonly --disk "path=$img,readonly" --cmdline "mode=write blocks=$blocks seed=7"
assert_status readonly 3
assert_match "$E2E_TMP/readonly.out" "^blkwriter: write FAIL: disk error"
[ "$(md5sum <"$img")" = "$sum_before" ] || fail "a read-only disk was written"

# Two disks: the guest uses the first; the second is there and untouched.
other="$E2E_TMP/disk-b.img"
truncate -s 1M "$other"
blk two --disk "path=$other" --disk "path=$img,readonly" \
	--cmdline "mode=write blocks=16 seed=5"
assert_status two 1
assert_has_line "$E2E_TMP/two.out" 'blkwriter: disk id="disk-b.img" sectors=2048'
[ "$(md5sum <"$img")" = "$sum_before" ] || fail "the second disk was written"

# Bad input: one clear error line, status 2, before any guest runs.
blk missing --disk "path=$E2E_TMP/nope.img"
assert_status missing 2
assert_one_error_line missing "nope.img: cannot open"
printf 'x' >"$E2E_TMP/odd.img"
blk odd --disk "path=$E2E_TMP/odd.img"
assert_status odd 2
assert_one_error_line odd "not a whole number of 512-byte sectors"
blk bad-spec --disk "file=$img"
assert_status bad-spec 2
assert_one_error_line bad-spec "unknown option 'file': use path=FILE\[,readonly\]"

# One image, one writer: an image another process holds locked is refused.
exec {lockfd}<"$img"
flock -n "$lockfd" || fail "could not lock $img for the lock check"
blk locked --disk "path=$img" --cmdline "mode=verify blocks=$blocks seed=$seed"
assert_status locked 2
assert_one_error_line locked "in use by another process"
exec {lockfd}<&-
note "ok"
