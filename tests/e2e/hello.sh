#!/bin/bash
# e2e: the hello guest boots under twin-vmm, prints its ring-0 banner and ring-3 line, exits OK.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest hello)

vmm hello "$E2E_BOOT_TIMEOUT" --kernel "$kernel"
assert_status hello 1
assert_quiet hello
# The banner is the very first output line (tests/guests/README.md).
assert_first_line "$E2E_TMP/hello.out" "twin-guest: hello (ring 0 ok)"
assert_has_line "$E2E_TMP/hello.out" "hello: ring 3 ok"
# The guest found the Twin debug device (CPUID signature, then the ID register).
assert_match "$E2E_TMP/hello.out" '^hello: platform=twin '
assert_has_line "$E2E_TMP/hello.out" 'hello: cmdline=""'

# The same through the file sink, which gets all of it, and a command line.
vmm hello-file "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --serial "file:$E2E_TMP/serial.txt" \
	--cmdline "alpha=1 beta=two"
assert_status hello-file 1
assert_quiet hello-file
assert_first_line "$E2E_TMP/serial.txt" "twin-guest: hello (ring 0 ok)"
assert_has_line "$E2E_TMP/serial.txt" "hello: ring 3 ok"
assert_has_line "$E2E_TMP/serial.txt" 'hello: cmdline="alpha=1 beta=two"'
note "ok"
