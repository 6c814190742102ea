#!/bin/bash
# e2e: the smp guest brings up every vCPU twin-vmm gives it and counts exactly that many.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest smp)

for n in 1 2 4; do
	vmm "smp-$n" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$n"
	assert_status "smp-$n" 1
	assert_quiet "smp-$n"
	assert_has_line "$E2E_TMP/smp-$n.out" "smp: $n cpus online"
	# Exactly one count line, and no other count: a miscount must not hide behind it.
	c=$(tr -d '\r' <"$E2E_TMP/smp-$n.out" | grep -cE '^smp: [0-9]+ cpus online$' || true)
	[ "$c" -eq 1 ] || fail "smp-$n: $c count lines, expected one"
	note "--vcpus $n: $n cpus online"
done
note "ok"
