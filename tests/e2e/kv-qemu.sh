#!/bin/bash
# e2e: the same kv guest under QEMU 7.2 (microvm, pcie=on, virtio-net-pci on a tap) answers ping and passes the client's correctness run.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"

require_root
require_kvm
require_cmd python3 python3-minimal
require_kv_client

lab_up kq --hosts 1
kv_boot_qemu kq qemu
kv_wait_ready kq qemu "$E2E_BOOT_TIMEOUT"
lab kq exec client ping -n -q -c 10 -i 0.05 -W 2 "$KV_IP" >"$E2E_TMP/ping.out" ||
	{ show_file "$E2E_TMP/ping.out"; fail "ping of the guest under QEMU lost replies"; }
lab kq exec client ip neigh show "$KV_IP" >"$E2E_TMP/neigh.out"
assert_match "$E2E_TMP/neigh.out" "lladdr $KV_MAC "

kv_expect kq "q 1 PUT a 7" "q 1 OK 7"
mapfile -t r < <(kv_udp kq "q 2 INCR a" "q 2 INCR a")
[ "${r[*]}" = "q 2 OK 8 q 2 OK 8" ] || fail "a retransmitted INCR under QEMU got '${r[*]}'"
kv_expect kq "q 3 GET a" "q 3 OK 8"
kv_client_verify kq 2000 1
kill -0 "$KV_PID" 2>/dev/null || fail "QEMU died during the kv run"
note "ok"
