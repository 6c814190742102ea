#!/bin/bash
# e2e: QEMU 7.2 boots the same guest ELFs: identical ring-0 banners and the same ring-3 results.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd qemu-system-x86_64 qemu-system-x86
qemu_run=$(qemu_run_path)

MW_ARGS="pages=256 rate=0 ws=256 vcpus=2 iters=4"

# cross NAME GUEST STATUS VCPUS CMDLINE: boot GUEST under twin-vmm and under QEMU; both
# exit STATUS and print the same first (banner) line.
cross()
{
	local name=$1 g=$2 status=$3 vcpus=$4 cmdline=$5 kernel tb qb
	kernel=$(guest "$g")
	vmm "twin-$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$vcpus" \
		--cmdline "$cmdline"
	assert_status "twin-$name" "$status"
	run_bounded "$E2E_BOOT_TIMEOUT" "qemu-$name" "$qemu_run" --vcpus "$vcpus" \
		--cmdline "$cmdline" "$kernel"
	assert_status "qemu-$name" "$status"
	tb=$(head -n 1 "$E2E_TMP/twin-$name.out" | tr -d '\r')
	qb=$(head -n 1 "$E2E_TMP/qemu-$name.out" | tr -d '\r')
	[ -n "$tb" ] || fail "$name: twin-vmm printed no banner"
	[ "$tb" = "$qb" ] || fail "$name: banners differ: twin-vmm '$tb', QEMU '$qb'"
	note "$name: exit $status under both, banner '$tb'"
}

cross hello hello 1 1 ""
assert_has_line "$E2E_TMP/qemu-hello.out" "hello: ring 3 ok"

cross memwriter memwriter 1 2 "$MW_ARGS"
tw=$(tr -d '\r' <"$E2E_TMP/twin-memwriter.out" | grep -E '^memwriter: done ' || true)
qm=$(tr -d '\r' <"$E2E_TMP/qemu-memwriter.out" | grep -E '^memwriter: done ' || true)
[ -n "$qm" ] || { show_file "$E2E_TMP/qemu-memwriter.out"; fail "memwriter: no done line under QEMU"; }
# The checksum depends only on the arguments, so the two platforms must agree.
[ "$tw" = "$qm" ] || fail "memwriter: twin-vmm '$tw' but QEMU '$qm'"

cross fault fault 205 1 ""

for n in 1 2 4; do
	cross "smp-$n" smp 1 "$n" ""
	assert_has_line "$E2E_TMP/qemu-smp-$n.out" "smp: $n cpus online"
done
note "ok"
