#!/bin/bash
# e2e: memwriter runs to completion with 1 and 2 vCPUs and prints the checksum its arguments imply.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest memwriter)

# check NAME PAGES WS K ITERS: boot memwriter on K vCPUs and compare its checksum.
check()
{
	local name=$1 pages=$2 ws=$3 k=$4 iters=$5 want
	want=$(expected_checksum "$pages" "$ws" "$k" "$iters")
	vmm "$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$k" \
		--cmdline "pages=$pages rate=0 ws=$ws vcpus=$k iters=$iters"
	assert_status "$name" 1
	assert_quiet "$name"
	assert_has_line "$E2E_TMP/$name.out" \
		"memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"
	note "$name: pages=$pages ws=$ws vcpus=$k iters=$iters checksum=$want"
}

for k in 1 2; do
	# Every page of the window rewritten each iteration: all words end as ITERS.
	check "full-$k" 256 256 "$k" 4
	# A window larger than one iteration: pages end with different iterations.
	check "partial-$k" 50 96 "$k" 3
	# Fewer writes than pages: the untouched tail stays zero.
	check "sparse-$k" 10 64 "$k" 2
done
note "ok"
