#!/bin/bash
# e2e: twin-vmm's virtio-blk options and errors under blkwriter: a read-only disk refuses writes, get-id, two disks, a locked image and bad --disk input fail cleanly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest blkwriter)
img="$E2E_TMP/disk-a.img"
blocks=200
seed=99

# blk NAME ARGS...: blkwriter through twin-vmm with ARGS (--disk ... --cmdline ...).
blk()
{
	local name=$1
	shift
	vmm "$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" "$@"
}

# The write-then-verify round trip is blkwriter.sh's; here the disk holds known bytes
# the guest never wrote.
head -c 1M /dev/urandom >"$img"
sum_before=$(md5sum <"$img")

# Read-only: the device answers writes with an I/O error and the image stays as it was.
blk readonly --disk "path=$img,readonly" --cmdline "mode=write blocks=$blocks seed=7"
assert_status readonly 3
# get-id, and the device offers the read-only feature.
assert_has_line "$E2E_TMP/readonly.out" 'blkwriter: disk id="disk-a.img" sectors=2048 read-only'
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
