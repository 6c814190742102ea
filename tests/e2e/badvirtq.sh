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
n=0
for c in loop addr len head idx; do
	(
		vmm "$c" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$img" \
			--cmdline "case=$c"
		# Status 1: the guest saw DEVICE_NEEDS_RESET, and kept running to exit.
		assert_status "$c" 1
		assert_match "$E2E_TMP/$c.out" "^badvirtq: case=$c status=0x[0-9a-f]+ needs_reset=yes "
		assert_has_line "$E2E_TMP/$c.out" "badvirtq: still alive"
		# twin-vmm said why, once.
		n=$(grep -c "virtio-blk 0: broken: queue 0: " "$E2E_TMP/$c.err" || true)
		if [ "$n" -ne 1 ]; then
			show_file "$E2E_TMP/$c.err"
			fail "$c: twin-vmm logged the broken queue $n times, expected once"
		fi
		assert_match "$E2E_TMP/$c.err" "^twin-vmm: error: virtio-blk 0: broken: .*; the guest must reset the device$"
		note "$c: device reset, VMM alive, error logged"
	) || failed+=("$c")
done
[ "${#failed[@]}" -eq 0 ] || fail "cases that failed: ${failed[*]}"
note "ok"
