#!/bin/bash
# e2e: the fault guest's ring-3 exception reaches its ring-0 handler and exits 193 + 2*vector.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest fault)

# The vectors the fault guest can raise on request (tests/guests/README.md).
FAULT_VECTORS="0 3 6 13 14"
# #DE, #BP, #UD, #GP, #PF

# status = (TWIN_GUEST_EXIT_FAULT_BASE + vector) << 1 | 1 = 193 + 2 * vector (twin_abi.h)
status_of() { echo $(( ((0x60 + $1) << 1) | 1 )); }

# Default: #UD (vector 6) -> 205.
vmm fault-default "$E2E_BOOT_TIMEOUT" --kernel "$kernel"
assert_status fault-default 205
assert_quiet fault-default
assert_has_line "$E2E_TMP/fault-default.out" "fault: raising vector 6 in ring 3"
note "default (#UD): exit 205"

for v in $FAULT_VECTORS; do
	want=$(status_of "$v")
	vmm "fault-$v" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "vector=$v"
	assert_status "fault-$v" "$want"
	assert_quiet "fault-$v"
	# The fault happened where the guest said, in ring 3, not somewhere earlier.
	assert_has_line "$E2E_TMP/fault-$v.out" "fault: raising vector $v in ring 3"
	# The ring-0 handler's report: this vector, taken at CPL 3.
	assert_match "$E2E_TMP/fault-$v.out" "^twin-guest: fault vector=$v .*cpl=3\$"
	note "vector=$v: exit $want"
done
# A vector the guest does not raise is its own failure (status 3), not a fault status.
vmm fault-bad "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --cmdline "vector=5"
assert_status fault-bad 3
note "ok"
