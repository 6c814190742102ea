#!/bin/bash
# e2e: a guest that programs broken descriptor chains leaves twin-vmm alive, the device NEEDS_RESET, the error logged.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest badvirtq)
img="$E2E_TMP/disk.img"
truncate -s 1M "$img"

failed=()
for c in loop addr len head idx; do
	(
		vmm "$c" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$img" \
			--cmdline "case=$c"
		# Status 1: the guest saw DEVICE_NEEDS_RESET, and kept running to exit.
		assert_status "$c" 1
		assert_match "$E2E_TMP/$c.out" "^badvirtq: case=$c status=0x[0-9a-f]+ needs_reset=yes "
		assert_has_line "$E2E_TMP/$c.out" "badvirtq: still alive"
		# twin-vmm said why, once.
		assert_match "$E2E_TMP/$c.err" "virtio.*(broken|reset)"
		note "$c: device reset, VMM alive, error logged"
	) || failed+=("$c")
done
[ "${#failed[@]}" -eq 0 ] || fail "cases that failed: ${failed[*]}"
note "ok"
