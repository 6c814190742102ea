#!/bin/bash
# e2e: QEMU 7.2 boots the same guest ELFs: identical ring-0 banners and the same ring-3 results.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd qemu-system-x86_64 qemu-system-x86
require_cmd python3 python3-minimal
qemu_run=$(qemu_run_path)

# cross NAME GUEST STATUS VCPUS CMDLINE: boot GUEST under twin-vmm and under QEMU
# microvm (tests/guests/qemu-run prints the serial output, then the ring-3 log); both
# must exit STATUS and print the same first line, the ring-0 banner.
cross()
{
	local name=$1 g=$2 status=$3 vcpus=$4 cmdline=$5 kernel tb qb
	kernel=$(guest "$g")
	vmm "twin-$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$vcpus" \
		--cmdline "$cmdline"
	assert_status "twin-$name" "$status"
	assert_quiet "twin-$name"
	run_bounded "$((E2E_BOOT_TIMEOUT + 10))" "qemu-$name" "$qemu_run" \
		--timeout "$E2E_BOOT_TIMEOUT" --vcpus "$vcpus" "$kernel" "$cmdline"
	assert_status "qemu-$name" "$status"
	tb=$(head -n 1 "$E2E_TMP/twin-$name.out" | tr -d '\r')
	qb=$(head -n 1 "$E2E_TMP/qemu-$name.out" | tr -d '\r')
	[ "$tb" = "twin-guest: $g (ring 0 ok)" ] || fail "$name: twin-vmm banner is '$tb'"
	[ "$tb" = "$qb" ] || fail "$name: banners differ: twin-vmm '$tb', QEMU '$qb'"
	# Both ran the guest's ring-3 code: the same line from each.
	local line
	for line in "${@:6}"; do
		assert_has_line "$E2E_TMP/twin-$name.out" "$line"
		assert_has_line "$E2E_TMP/qemu-$name.out" "$line"
	done
	note "$name: exit $status and banner '$tb' under both"
}

failed=()
# Each guest runs in a subshell so that one failure does not hide the others.
check()
{
	("$@") || failed+=("$2")
}

check cross hello hello 1 1 "x=1" "hello: ring 3 ok" 'hello: cmdline="x=1"'
for k in 1 2; do
	# memwriter's checksum depends only on its arguments (expected_checksum, lib.sh).
	args="pages=50 rate=0 ws=96 vcpus=$k iters=3"
	check cross "memwriter-$k" memwriter 1 "$k" "$args" \
		"memwriter: done iters=3 pages=50 vcpus=$k checksum=$(expected_checksum 50 96 "$k" 3)"
done
for v in 0 3 6 13 14; do
	check cross "fault-$v" fault $(( ((0x60 + v) << 1) | 1 )) 1 "vector=$v" \
		"fault: raising vector $v in ring 3"
done
for n in 1 2 4; do
	check cross "smp-$n" smp 1 "$n" "" "smp: $n cpus online"
done

if [ "${#failed[@]}" -ne 0 ]; then
	fail "failed under one platform or differ between them: ${failed[*]}"
fi
note "ok"
