#!/bin/bash
# e2e: the device guests under QEMU 7.2 microvm,pcie=on: virtio console, blkwriter, badvirtq, kv on a tap.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_cmd qemu-system-x86_64 qemu-system-x86
require_cmd python3 python3-minimal
require_cmd ip iproute2
qemu_run=$(qemu_run_path)
img="$E2E_TMP/disk.img"
truncate -s 2M "$img"

# The guest LAN of LAB.md in a private namespace: the client is 198.18.2.2 on the tap.
NS="tgq$$"
TAP="tgq$$t0"
net_cleanup()
{
	e2e_cleanup # kills qemu-run first (QEMU dies with it), then the namespace goes
	ip netns del "$NS" 2>/dev/null || true
}
trap net_cleanup EXIT

# qemu NAME ARGS...: tests/guests/qemu-run ARGS through run_bounded.
qemu()
{
	local name=$1
	shift
	run_bounded "$((E2E_BOOT_TIMEOUT + 10))" "$name" "$qemu_run" --timeout "$E2E_BOOT_TIMEOUT" "$@"
}

failed=()
check()
{
	("$@") || failed+=("$1")
}

# The virtio console carries the ring-3 output: the same lines as the log-buffer path.
console()
{
	qemu con-log "$(guest hello)" "x=1"
	assert_status con-log 1
	qemu con-virtio --console "$(guest hello)" "x=1"
	assert_status con-virtio 1
	diff <(grep -v "took" "$E2E_TMP/con-log.out") \
		<(grep -v "took" "$E2E_TMP/con-virtio.out") >&2 ||
		fail "hello prints differently through the virtio console"
	note "console: same output through virtio-console and the log buffer"
}

blk()
{
	local k
	k=$(guest blkwriter)
	qemu blk-write --console --disk "$img" "$k" "mode=write blocks=300 seed=9"
	assert_status blk-write 1
	assert_match "$E2E_TMP/blk-write.out" "^blkwriter: disk id=\"qemu-d0\" sectors=4096$"
	assert_match "$E2E_TMP/blk-write.out" "^blkwriter: write OK blocks=300 seed=9 "
	qemu blk-verify --console --disk "$img" "$k" "mode=verify blocks=300 seed=9"
	assert_status blk-verify 1
	assert_match "$E2E_TMP/blk-verify.out" "^blkwriter: verify OK blocks=300 seed=9 "
	printf '\x5a' | dd of="$img" bs=1 seek=$((12 * 4096 + 2000)) conv=notrunc status=none
	qemu blk-corrupt --console --disk "$img" "$k" "mode=verify blocks=300 seed=9"
	assert_status blk-corrupt 3
	assert_has_line "$E2E_TMP/blk-corrupt.out" "blkwriter: bad block index=12: checksum"
	assert_has_line "$E2E_TMP/blk-corrupt.out" "blkwriter: verify FAIL blocks=300 bad=1"
	note "blk: write, verify, and a corrupted block caught"
}

# QEMU's virtio marks the device NEEDS_RESET for every case but addr: it bounces
# an unmapped guest address like MMIO and completes the request.
badvirtq()
{
	local c want
	for c in loop addr len head idx; do
		want=yes
		[ "$c" = addr ] && want=no
		qemu "bad-$c" --console --disk "$img" "$(guest badvirtq)" "case=$c"
		assert_status "bad-$c" "$([ $want = yes ] && echo 1 || echo 3)"
		assert_match "$E2E_TMP/bad-$c.out" "^badvirtq: case=$c status=0x[0-9a-f]+ needs_reset=$want "
		assert_has_line "$E2E_TMP/bad-$c.out" "badvirtq: still alive"
	done
	note "badvirtq: QEMU stays up for every broken chain"
}

# kv_ask: one exchange per line of stdin ("REQUEST => REPLY") from the client side,
# resending a request up to 5 times on a lost datagram (the protocol makes that safe).
kv_ask()
{
	ip netns exec "$NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for line in sys.stdin:
    req, want = (x.strip() for x in line.split("=>"))
    for _ in range(5):
        s.sendto(req.encode(), ("198.18.2.10", 7777))
        try:
            got = s.recv(256).decode()
            break
        except socket.timeout:
            got = "(no reply)"
    if got != want:
        sys.exit(f"kv: {req!r} got {got!r}, expected {want!r}")
'
}

kv()
{
	local i
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip -n "$NS" tuntap add "$TAP" mode tap
	ip -n "$NS" addr add 198.18.2.2/24 dev "$TAP"
	ip -n "$NS" link set "$TAP" up
	start_bg kv ip netns exec "$NS" "$qemu_run" --timeout 120 --console \
		--nic "tap=$TAP,mac=52:54:00:12:34:56" "$(guest kv)" "ip=198.18.2.10/24"
	KV_PID=$BG_PID
	# This runs in a subshell: stop QEMU on failure here, before the namespace goes.
	trap 'kill -KILL "$KV_PID" 2>/dev/null || true' EXIT
	# Ready when it answers ping: each try waits for its reply, at most 60 tries.
	for ((i = 0; i < 60; i++)); do
		ip netns exec "$NS" ping -c 1 -W 1 198.18.2.10 >/dev/null 2>&1 && break
		kill -0 "$KV_PID" 2>/dev/null || break
	done
	((i < 60)) || fail "the kv guest never answered ping at 198.18.2.10"
	ip netns exec "$NS" ping -c 3 -i 0.2 -W 1 198.18.2.10 >"$E2E_TMP/ping.out" ||
		fail "the kv guest stopped answering ping"
	kv_ask <<-'EOF_KV' || fail "kv gave wrong answers under QEMU"
		a 1 PUT k 41 => a 1 OK 41
		a 2 INCR k => a 2 OK 42
		a 2 INCR k => a 2 OK 42
		b 1 GET k => b 1 OK 42
		b 2 GET nothing => b 2 OK 0
		b 3 GET __stats => b 3 OK 4
	EOF_KV
	kill -TERM "$KV_PID"
	wait_bounded "$KV_PID" 20
	trap - EXIT
	[ "$WAIT_RC" -eq 143 ] || fail "qemu-run exited $WAIT_RC after SIGTERM, expected 143"
	assert_has_line "$E2E_TMP/kv.out" \
		"kv: listening on 198.18.2.10:7777 mac=52:54:00:12:34:56"
	note "kv: ping, PUT/INCR/GET, a retransmit not applied twice"
}

check console
check blk
check badvirtq
check kv
[ "${#failed[@]}" -eq 0 ] || fail "failed under QEMU: ${failed[*]}"
note "ok"
