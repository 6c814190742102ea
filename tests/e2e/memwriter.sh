#!/bin/bash
# e2e: memwriter runs to completion with 1 and 2 vCPUs and prints a reproducible checksum line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest memwriter)

PAGES=256
ITERS=4

# run_memwriter NAME K: boot memwriter on K vCPUs, check its done line, print the checksum.
run_memwriter()
{
	local name=$1 k=$2 line
	vmm "$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --vcpus "$k" \
		--cmdline "pages=$PAGES rate=0 ws=$PAGES vcpus=$k iters=$ITERS"
	assert_status "$name" 1 >&2
	assert_match "$E2E_TMP/$name.out" \
		"^memwriter: done iters=$ITERS pages=$PAGES vcpus=$k checksum=0x[0-9a-f]+\$" >&2
	line=$(tr -d '\r' <"$E2E_TMP/$name.out" | grep -E '^memwriter: done ')
	echo "${line##*checksum=}"
}

for k in 1 2; do
	a=$(run_memwriter "memwriter-$k-a" "$k")
	b=$(run_memwriter "memwriter-$k-b" "$k")
	[ "$a" = "$b" ] ||
		fail "vcpus=$k: checksum $a then $b for the same arguments: the result is not reproducible"
	note "vcpus=$k: checksum $a (twice)"
done
note "ok"
