#!/bin/bash
# e2e: guests print through twin-vmm's virtio console into the serial sink (--console virtio, the default), and through the debug device with --console none, with the same output.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest hello)
# No ecam=: the guest finds PCI through the MP table twin-vmm writes.
cmdline="marker=virtio-console-e2e"

check_output()
{
	local name=$1
	assert_status "$name" 1
	assert_first_line "$E2E_TMP/$name.out" "twin-guest: hello (ring 0 ok)"
	assert_has_line "$E2E_TMP/$name.out" "hello: ring 3 ok"
	assert_has_line "$E2E_TMP/$name.out" "hello: cmdline=\"$cmdline\""
}

# Default: the device is there, the guest's driver takes it, and output arrives whole.
TWIN_LOG=info vmm virtio "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "$cmdline"
check_output virtio
assert_match "$E2E_TMP/virtio.err" "virtio-console: driver ready"

# The same through --serial file: one sink for the 8250, the debug device and virtio.
vmm virtio-file "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "$cmdline" \
	--serial "file:$E2E_TMP/serial.log"
assert_status virtio-file 1
[ ! -s "$E2E_TMP/virtio-file.out" ] || fail "guest output went to stdout with --serial file:"
# Lines but the timing one are the same on either sink.
same_output()
{
	grep -v "took .* us" "$1" >"$E2E_TMP/a" || true
	grep -v "took .* us" "$2" >"$E2E_TMP/b" || true
	cmp -s "$E2E_TMP/a" "$E2E_TMP/b" || fail "$3: $(diff "$E2E_TMP/a" "$E2E_TMP/b" | head -5)"
}
same_output "$E2E_TMP/serial.log" "$E2E_TMP/virtio.out" "serial.log differs from stdout"

# --console none: no device; the guest falls back to the debug device.
TWIN_LOG=info vmm none "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "$cmdline" \
	--console none
check_output none
if grep -q "virtio-console" "$E2E_TMP/none.err"; then
	show_file "$E2E_TMP/none.err"
	fail "--console none still made a virtio console"
fi
same_output "$E2E_TMP/virtio.out" "$E2E_TMP/none.out" "output differs between virtio and none"

vmm bad "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --console serial
assert_status bad 2
assert_one_error_line bad "--console 'serial' is invalid: use virtio or none"
note "ok"
