#!/bin/bash
# e2e: the fault guest's ring-3 exception reaches its ring-0 handler and exits 193 + 2*vector.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest fault)

# The vectors the fault guest can raise on request (tests/guests/README.md).
FAULT_VECTORS="6"

# status = (TWIN_GUEST_EXIT_FAULT_BASE + vector) << 1 | 1 = 193 + 2 * vector (twin_abi.h)
status_of() { echo $(( ((0x60 + $1) << 1) | 1 )); }

# Default: #UD (vector 6) -> 205.
vmm fault-default "$E2E_BOOT_TIMEOUT" --kernel "$kernel"
assert_status fault-default 205
note "default (#UD): exit 205"

for v in $FAULT_VECTORS; do
	want=$(status_of "$v")
	vmm "fault-$v" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "vector=$v"
	assert_status "fault-$v" "$want"
	note "vector=$v: exit $want"
done
note "ok"
