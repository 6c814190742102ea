#!/bin/bash
# e2e: twin-vmm's legacy flags give exactly the devices named an I/O BAR (transitional), the default gives none, a malformed flag is one clear error, and the guest boots either way.
set -euo pipefail
# The NIC's tap lives and dies in a throwaway network namespace.
if [ -z "${TWIN_E2E_NETNS:-}" ]; then
	TWIN_E2E_NETNS=1 exec unshare --net -- "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
kernel=$(guest hello)
disk=$E2E_TMP/disk.img
truncate -s 1M "$disk"

# run_legacy NAME WANT ARGS...: boot hello with ARGS; WANT lists (sorted, comma-ended) the
# devices that must get an I/O BAR 0 in the legacy port window, and no others.
run_legacy()
{
	local name=$1 want=$2 got
	shift 2
	TWIN_LOG=debug vmm "$name" "$E2E_BOOT_TIMEOUT" --kernel "$kernel" "$@"
	assert_status "$name" 1
	assert_has_line "$E2E_TMP/$name.out" "hello: ring 3 ok"
	got=$(sed -nE 's/^twin-vmm: debug: (.+): BAR 0 now at 0x[0-9a-f]{4}$/\1/p' \
		"$E2E_TMP/$name.err" | sort | tr '\n' ',')
	[ "$got" = "$want" ] || fail "$name: I/O BARs for '$got', expected '$want'"
}

run_legacy all "virtio-blk 0,virtio-console,virtio-net 0," --console virtio,legacy \
	--nic tap=twl0,legacy --disk "path=$disk,legacy"
run_legacy default "" --nic tap=twl0 --disk "path=$disk"
run_legacy disk-only "virtio-blk 0," --nic tap=twl0 --disk "legacy,path=$disk"

vmm bad "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --disk "path=$disk,legacy=yes"
assert_status bad 2
assert_one_error_line bad "legacy is given twice or in the wrong form: use path=FILE"
