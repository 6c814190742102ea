#!/bin/bash
# e2e: twin-vmm's virtio-net on a tap it creates: the kv guest answers ping and kv requests, a tap joins a bridge, a missing bridge is one clear error, and the tap goes with the VM.
set -euo pipefail
# The whole test runs in a throwaway network namespace: no tap, bridge or address ever
# reaches the host's.  unshare needs root and fails loudly without it.
if [ -z "${TWIN_E2E_NETNS:-}" ]; then
	TWIN_E2E_NETNS=1 exec unshare --net -- "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
require_cmd ping iputils-ping
require_cmd setpriv util-linux
kernel=$(guest kv)
guest_ip=198.18.2.10
ip link set lo up

start_bg kv "$TWIN_VMM" run --kernel "$kernel" --nic tap=twe0,mac=52:54:00:12:34:70 \
	--cmdline "ip=$guest_ip/24"
kv=$BG_PID
if ! wait_for_text "$E2E_TMP/kv.out" "kv: listening on $guest_ip:7777 mac=52:54:00:12:34:70" \
	"$E2E_BOOT_TIMEOUT"; then
	show_file "$E2E_TMP/kv.out"
	show_file "$E2E_TMP/kv.err"
	fail "the kv guest never listened"
fi
# twin-vmm made the tap and brought it up; the host side gets the client's address.
ip -o link show twe0 | grep -q "[<,]UP[,>]" || fail "twin-vmm did not bring twe0 up"
ip addr add 198.18.2.2/24 dev twe0
ping -c 3 -W 5 "$guest_ip" >"$E2E_TMP/ping.out" || {
	show_file "$E2E_TMP/ping.out"
	fail "the guest does not answer ping"
}

# 500 INCRs, each answered with the count so far, then a GET of the total.
python3 - "$guest_ip" >"$E2E_TMP/client.out" <<'PY' || { show_file "$E2E_TMP/client.out"; fail "kv requests over virtio-net failed"; }
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
dst = (sys.argv[1], 7777)
def ask(req):
    s.sendto(req.encode(), dst)
    return s.recv(512).decode()
for i in range(1, 501):
    want = f"e2e {i} OK {i}"
    got = ask(f"e2e {i} INCR hits")
    if got != want:
        sys.exit(f"request {i}: got '{got}', want '{want}'")
got = ask("e2e 501 GET hits")
if got != "e2e 501 OK 500":
    sys.exit(f"GET: got '{got}'")
print("kv ok")
PY

# A second VM whose tap joins a bridge.
ip link add twbr0 type bridge
start_bg bridged "$TWIN_VMM" run --kernel "$kernel" --nic tap=twe1,bridge=twbr0 \
	--cmdline "ip=198.18.2.11/24"
bridged=$BG_PID
wait_for_text "$E2E_TMP/bridged.out" "kv: listening" "$E2E_BOOT_TIMEOUT" ||
	fail "the bridged kv guest never listened"
ip -o link show twe1 | grep -q " master twbr0 " || fail "twe1 is not attached to twbr0"
kill -TERM "$bridged"
wait_bounded "$bridged" 10
[ "$WAIT_RC" -eq 0 ] || fail "the bridged VM exited $WAIT_RC on SIGTERM"

vmm nobridge "$E2E_BOOT_TIMEOUT" --kernel "$kernel" --nic tap=twe2,bridge=nobr0
assert_status nobridge 2
assert_one_error_line nobridge "bridge nobr0 does not exist: create it with ip link add nobr0 type bridge"
if ip link show twe2 >/dev/null 2>&1; then
	fail "a refused --nic left its tap behind"
fi

# Without CAP_NET_ADMIN no tap can be made: one line naming the fix.  A copy of twin-vmm
# in the temp dir keeps it reachable for uid 65534 wherever the build tree lives.
chmod 755 "$E2E_TMP"
install -m 755 "$TWIN_VMM" "$E2E_TMP/twin-vmm"
run_bounded "$E2E_BOOT_TIMEOUT" noperm setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	"$E2E_TMP/twin-vmm" run --kernel "$kernel" --nic tap=twe3
assert_status noperm 2
assert_one_error_line noperm "^twin-vmm: error: tap twe3: .*run as root \(CAP_NET_ADMIN\)"

# Stopping the VM takes its tap with it (twin-vmm created it).
kill -TERM "$kv"
wait_bounded "$kv" 10
[ "$WAIT_RC" -eq 0 ] || fail "the kv VM exited $WAIT_RC on SIGTERM"
if ip link show twe0 >/dev/null 2>&1; then
	fail "twe0 outlived the VM that created it"
fi
assert_quiet kv
note "ok"
