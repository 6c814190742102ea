# tests/e2e/kv-lib.sh: boot the kv guest in a lab host (twin-vmm or QEMU) and talk to it; sourced.
# shellcheck shell=bash disable=SC2034 # KV_* are results for the caller
#
# The guest sits on the lab LAN at KV_IP with KV_MAC and serves UDP port 7777
# (tests/guests/README.md).  twin-kv-client comes from the build tree (TWIN_KV_CLIENT
# overrides it).

. "$(dirname "$0")/lab-lib.sh"

KV_IP=198.18.2.10
KV_MAC=52:54:00:12:34:56
KV_PORT=7777
KV_CLIENT=${TWIN_KV_CLIENT:-${TWIN_VMM:+$(dirname "$TWIN_VMM")/twin-kv-client}}
QEMU=${QEMU:-qemu-system-x86_64}

require_kv_client()
{
	if [ -z "$KV_CLIENT" ] || [ ! -x "$KV_CLIENT" ]; then
		fail "twin-kv-client not built at '$KV_CLIENT': run make first (or set TWIN_KV_CLIENT)"
	fi
}

# kv_boot_twin LAB NAME [ARGS]: twin-vmm runs kv.elf in h1 of LAB, its tap LAB's P-t0 in
# the host's LAN bridge, ARGS added to the guest cmdline; KV_PID is the pid of the
# `lab exec` that runs twin-vmm (output in $E2E_TMP/NAME.out and .err).
kv_boot_twin()
{
	local lab=$1 name=$2 extra=${3:-} p kernel
	kernel=$(guest kv)
	p=$(lab "$lab" get prefix)
	start_bg "$name" "$LAB" --state "$E2E_TMP/lab-$lab" exec h1 "$TWIN_VMM" run \
		--kernel "$kernel" --mem 64M \
		--nic "tap=$p-t0,mac=$KV_MAC,bridge=$(lab "$lab" get lan-bridge)" \
		--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT${extra:+ $extra}"
	KV_PID=$BG_PID
}

# kv_boot_qemu LAB NAME: QEMU 7.2 runs kv.elf in h1 of LAB with TEAM.md's device line,
# a modern virtio-net-pci on the tap P-q0 made by `lab tap`; KV_PID is QEMU's pid.  No
# debug device under QEMU: the guest polls, and finds microvm's ECAM at its default.
kv_boot_qemu()
{
	local lab=$1 name=$2 p kernel
	require_cmd "$QEMU" qemu-system-x86
	kernel=$(guest kv)
	p=$(lab "$lab" get prefix)
	lab "$lab" tap h1 "$p-q0"
	# shellcheck disable=SC2054 # the commas are QEMU option syntax
	start_bg "$name" "$LAB" --state "$E2E_TMP/lab-$lab" exec h1 "$QEMU" \
		-M microvm,x-option-roms=off,rtc=off,pit=off,pic=off,pcie=on,auto-kernel-cmdline=off \
		-cpu kvm64 -enable-kvm -m 64M -display none -monitor none -serial stdio \
		-kernel "$kernel" -append "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT" \
		-device "virtio-net-pci,disable-legacy=on,netdev=n0,mac=$KV_MAC" \
		-netdev "tap,id=n0,ifname=$p-q0,script=no,downscript=no"
	KV_PID=$BG_PID
}

# kv_wait_ready LAB NAME SECS: the guest answers ping from the client within SECS, and
# its VMM (KV_PID, output NAME) is still running.
kv_wait_ready()
{
	local lab=$1 name=$2 deadline=$((SECONDS + $3))
	until lab "$lab" exec client ping -n -q -c 1 -W 1 "$KV_IP" >/dev/null 2>&1; do
		if ! kill -0 "$KV_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			show_file "$E2E_TMP/$name.out"
			show_file "$E2E_TMP/$name.err"
			fail "$name: the kv guest did not answer ping at $KV_IP within $3s"
		fi
	done
}

# kv_udp LAB REQUEST...: send each request from the client, one at a time, and print
# each reply on a line.  A lost datagram is sent again, unchanged: the protocol makes
# that safe.  A request with no reply after 5 tries fails.
kv_udp()
{
	local lab=$1
	shift
	lab "$lab" exec client python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
addr = (sys.argv[1], int(sys.argv[2]))
for req in sys.argv[3:]:
    for _ in range(5):
        s.sendto(req.encode(), addr)
        try:
            print(s.recv(2048).decode(), flush=True)
            break
        except socket.timeout:
            pass
    else:
        sys.exit("no reply to %r" % req)
' "$KV_IP" "$KV_PORT" "$@"
}

# kv_expect LAB REQUEST REPLY: one request gets exactly REPLY.
kv_expect()
{
	local got
	got=$(kv_udp "$1" "$2") || fail "no reply from the kv guest to '$2'"
	[ "$got" = "$3" ] || fail "kv: '$2' got '$got', expected '$3'"
}

# kv_stats LAB TAG: how many requests the guest has applied (GET __stats).
kv_stats()
{
	local r
	r=$(kv_udp "$1" "$2 1 GET __stats") || fail "no reply to GET __stats"
	[[ "$r" =~ ^"$2 1 OK "([0-9]+)$ ]] || fail "GET __stats answered '$r'"
	echo "${BASH_REMATCH[1]}"
}

# kv_stop NAME: SIGTERM the VMM, which must exit within 10 s.
kv_stop()
{
	kill -TERM "$KV_PID"
	wait_bounded "$KV_PID" 10
}

# kv_client_verify LAB N CLIENTS: twin-kv-client sends N requests from CLIENTS clients
# and verifies every answer against its own model of the store.
kv_client_verify()
{
	local out="$E2E_TMP/kv-client-$2-$3.out"
	lab "$1" exec client "$KV_CLIENT" --requests "$2" --clients "$3" "$KV_IP" >"$out" 2>&1 ||
		{ show_file "$out"; fail "twin-kv-client: $2 requests from $3 clients not all verified"; }
	assert_match "$out" "^twin-kv-client: $2 of $2 requests verified, $3 clients"
	assert_has_line "$out" "twin-kv-client: every answer verified"
	note "$(grep throughput "$out")"
}

# kv_client_retransmit LAB N: twin-kv-client's retransmit mode: some requests go twice,
# and again after their answer; each must get the remembered reply, and GET of every key
# and of __stats must show each request applied once.
kv_client_retransmit()
{
	local out="$E2E_TMP/kv-client-retransmit.out"
	lab "$1" exec client "$KV_CLIENT" --requests "$2" --retransmit "$KV_IP" >"$out" 2>&1 ||
		{ show_file "$out"; fail "twin-kv-client --retransmit: a request applied twice or a wrong reply"; }
	assert_match "$out" "^twin-kv-client: $2 of $2 requests verified, .* [1-9][0-9]* retransmitted \\([1-9][0-9]* replays verified\\)"
	assert_has_line "$out" "twin-kv-client: every answer verified"
}
