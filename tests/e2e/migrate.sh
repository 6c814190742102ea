#!/bin/bash
# e2e: memwriter migrates live over 127.0.0.1 (plaintext, mutual TLS) to the right checksum; a kv guest keeps answering across.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/tls-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
require_cmd script bsdutils
require_kv_client
kernel=$(guest memwriter)

pages=16 ws=256 k=2
# iter_of FILE first|last: a serial log's first or last heartbeat iteration ("" if none).
iter_of()
{
	local pick=head
	[ "$2" = last ] && pick=tail
	sed -n 's/^memwriter: iter=\([0-9]*\)\r\{0,1\}$/\1/p' "$1" | "$pick" -n 1
}

# source NAME ITERS: memwriter on 2 vCPUs at 16 pages/ms each, a heartbeat every 20
# iterations, control socket $E2E_TMP/NAME.sock; waits for its 40th iteration.
source_vm()
{
	local name=$1 iters=$2
	start_bg "$name" "$TWIN_VMM" run --kernel "$kernel" --vcpus "$k" \
		--cmdline "pages=$pages rate=1 ws=$ws vcpus=$k iters=$iters progress=20" \
		--serial "file:$E2E_TMP/$name.serial" --control "$E2E_TMP/$name.sock"
	SRC_PID=$BG_PID
	wait_for_text "$E2E_TMP/$name.serial" "memwriter: iter=40" "$E2E_BOOT_TIMEOUT" || {
		show_file "$E2E_TMP/$name.serial"
		fail "$name: the guest never reached iteration 40"
	}
}

# migrated SRC DST ITERS: the source exited 0 and removed its socket; the destination ran
# the guest to the checksum of an uninterrupted run, its heartbeats following the source's.
migrated()
{
	local src=$1 dst=$2 iters=$3 want last first
	want=$(expected_checksum "$pages" "$ws" "$k" "$iters")
	wait_bounded "$SRC_PID" 20
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/$src.err"; fail "$src exited $WAIT_RC after migrating, expected 0"; }
	[ ! -e "$E2E_TMP/$src.sock" ] || fail "$src left its control socket"
	grep -q "memwriter: done" "$E2E_TMP/$src.serial" && fail "$src finished the guest itself"
	wait_bounded "$DST_PID" 60
	[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/$dst.err"; fail "$dst exited $WAIT_RC, expected the guest's 1"; }
	assert_has_line "$E2E_TMP/$dst.serial" \
		"memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"
	grep -q "^memwriter: pages=" "$E2E_TMP/$dst.serial" && fail "$dst booted the guest again"
	last=$(iter_of "$E2E_TMP/$src.serial" last)
	first=$(iter_of "$E2E_TMP/$dst.serial" first)
	[ "$first" -gt "$last" ] && [ "$first" -le $((last + 20)) ] ||
		fail "$dst: first heartbeat $first does not follow the source's last, $last"
	note "$src -> $dst: heartbeats to $last there, from $first here, checksum $want"
}

# knock PORT: a port scan's connection: open, then closed without a byte.
knock()
{
	python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' \
		"$1" || fail "cannot connect to port $1"
}

# Plaintext, asked for explicitly, with the default tuning.  A port scan first: the
# destination notes it and keeps waiting for its source.
source_vm src 700
incoming_bg dst --insecure
knock "$DST_PORT"
wait_for_text "$E2E_TMP/dst.err" "closed before sending a stream; still waiting" "$E2E_ERROR_TIMEOUT" ||
	{ show_file "$E2E_TMP/dst.err"; fail "dst: no line about the port scan"; }
# On a terminal (script(1) gives it one): the progress line is rewritten in place.
run_bounded 60 mig script -qefc "'$TWIN_VMM' migrate --control '$E2E_TMP/src.sock' \
	--to 127.0.0.1:$DST_PORT --insecure" /dev/null
assert_status mig 0
# (The first query follows the migrate reply at once, so there is always one.)
grep -qE $'\r\033\\[Kmigrate: (connecting to|active, round)' "$E2E_TMP/mig.out" ||
	{ show_file "$E2E_TMP/mig.out"; fail "mig: no progress line rewritten in place on the terminal"; }
# The final status is the last line.
final=$(tail -n 1 "$E2E_TMP/mig.out" | tr -d '\r')
final=${final##*$'\033[K'}
[[ $final == 'migrate: {"phase":"completed",'* ]] || { show_file "$E2E_TMP/mig.out"; fail "mig: last line is not the completed status: $final"; }
python3 - "${final#migrate: }" <<'PY' || fail "mig: the final status does not add up: $final"
import json, sys
s = json.loads(sys.argv[1])
assert s["rounds"] >= 1 and s["bytes"] > 0 and s["pages"] > 0, s
assert 0 < s["downtime_ns"] <= s["total_ns"], s
PY
migrated src dst 700
note "plaintext: $final"

# Mutual TLS: a port scan and a source whose certificate the CA never signed are refused
# (one line each in the destination's log), and neither ends the destination: the same
# source then migrates to it with the right certificate (zlib, a bandwidth cap, a downtime
# and the delta cache).
tls_pki "$E2E_TMP/pki"
# shellcheck disable=SC2046 # tls_opts prints several words on purpose
source_vm tsrc 1500
# shellcheck disable=SC2046
incoming_bg tdst $(tls_opts "$E2E_TMP/pki" server)
knock "$DST_PORT"
# shellcheck disable=SC2046
run_bounded 60 tmig-bad "$TWIN_VMM" migrate --control "$E2E_TMP/tsrc.sock" \
	--to "127.0.0.1:$DST_PORT" $(tls_opts "$E2E_TMP/pki" stranger)
assert_status tmig-bad 1
assert_match "$E2E_TMP/tmig-bad.err" "migrate to 127.0.0.1:$DST_PORT failed: .*certificate"
[ "$(ctl "$E2E_TMP/tsrc.sock" query-status)" = '{"status":"running","running":true}' ] ||
	fail "the source is not running after a refused migration"
wait_for_text "$E2E_TMP/tdst.err" "the peer's certificate is refused" "$E2E_ERROR_TIMEOUT" ||
	{ show_file "$E2E_TMP/tdst.err"; fail "tdst: no line about the stranger's certificate"; }
[ "$(grep -c "incoming: refused a connection: .*; still waiting$" "$E2E_TMP/tdst.err")" -eq 2 ] ||
	{ show_file "$E2E_TMP/tdst.err"; fail "tdst: not one line for each of the scan and the stranger"; }
kill -0 "$DST_PID" 2>/dev/null || fail "tdst: a stranger ended the destination"
[ ! -e "$E2E_TMP/tdst.sock" ] || fail "tdst: a control socket before any VM came in"
# shellcheck disable=SC2046
run_bounded 60 tmig "$TWIN_VMM" migrate --control "$E2E_TMP/tsrc.sock" \
	--to "127.0.0.1:$DST_PORT" $(tls_opts "$E2E_TMP/pki" client) \
	--compress zlib --bandwidth 200 --downtime 50 --xbzrle-cache 16
assert_status tmig 0
assert_match "$E2E_TMP/tmig.out" '^migrate: \{"phase":"completed",'
# Not a terminal: progress as lines.
assert_match "$E2E_TMP/tmig.out" '^migrate: (connecting to|active, round)'
migrated tsrc tdst 1500

# TLS 1.3 with a pre-shared key (a relative path: the client makes it absolute).
source_vm psrc 500
incoming_bg pdst --tls-psk "$E2E_TMP/pki/psk"
run_bounded 60 pmig "$TWIN_VMM" migrate --control "$E2E_TMP/psrc.sock" \
	--to "127.0.0.1:$DST_PORT" --tls-psk pki/psk
assert_status pmig 0
migrated psrc pdst 500

# The kv guest in a lab host migrates from tap t0 to tap t1 on the same LAN bridge while
# a client keeps sending: every answer verified (a request the switch caught is resent,
# as over any lossy network), and the store, exactly-once memory and counter carry over.
# The bridge learns the guest's new port from the destination's announcement.
lab_up km --hosts 1
p=$(lab km get prefix)
br=$(lab km get lan-bridge)
start_bg kvsrc "$LAB" --state "$E2E_TMP/lab-km" exec h1 "$TWIN_VMM" run --kernel "$(guest kv)" \
	--mem 64M --nic "tap=$p-t0,mac=$KV_MAC,bridge=$br" \
	--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT" --control "$E2E_TMP/kvsrc.sock"
KV_PID=$BG_PID
kv_wait_ready km kvsrc "$E2E_BOOT_TIMEOUT"
kvsrc=$KV_PID
kv_expect km "m 1 PUT a 41" "m 1 OK 41"
kv_expect km "m 2 INCR a" "m 2 OK 42"
before=$(kv_stats km q)
start_bg kvdst "$LAB" --state "$E2E_TMP/lab-km" exec h1 "$TWIN_VMM" incoming \
	--listen 127.0.0.1:0 --insecure --nic "tap=$p-t1,mac=$KV_MAC,bridge=$br" \
	--control "$E2E_TMP/kvdst.sock"
kvdst=$BG_PID
port=$(incoming_port kvdst "$E2E_ERROR_TIMEOUT")
start_bg kvload "$LAB" --state "$E2E_TMP/lab-km" exec client "$KV_CLIENT" --requests 40000 \
	--clients 2 --timeout-ms 100 --tries 100 --json "$KV_IP"
load=$BG_PID
run_bounded 60 kvmig "$TWIN_VMM" migrate --control "$E2E_TMP/kvsrc.sock" \
	--to "127.0.0.1:$port" --insecure
assert_status kvmig 0
# The load (about 4 s of requests) outlasts the migration, so it ran across it.
kill -0 "$load" 2>/dev/null || fail "kv: the client finished before the migration did: nothing crossed it"
wait_bounded "$kvsrc" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kvsrc.err"; fail "kvsrc exited $WAIT_RC after migrating"; }
wait_bounded "$load" 60
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kvload.out"; fail "twin-kv-client: not every answer verified across the migration"; }
assert_match "$E2E_TMP/kvload.out" '"ok": true, "requests": 40000, "verified": 40000'
kv_expect km "m 2 INCR a" "m 2 OK 42"
kv_expect km "m 3 INCR a" "m 3 OK 43"
after=$(kv_stats km r)
# q's GET, the load's 40000 and m 3 were applied since the first count.
[ "$after" -eq $((before + 40002)) ] ||
	fail "kv: __stats went from $before to $after across the migration, expected $((before + 40002))"
KV_PID=$kvdst
kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kvdst.err"; fail "kvdst exited $WAIT_RC after SIGTERM"; }
note "kv: 40000 requests verified across the migration, longest wait $(sed -n 's/.*"max": \([0-9.]*\).*/\1/p' "$E2E_TMP/kvload.out") us"
note "ok"
