#!/bin/bash
# e2e: a running memwriter migrates live over 127.0.0.1, plaintext and with mutual TLS, and ends with the right checksum.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/tls-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
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

# dest NAME SECURITY...: twin-vmm incoming on 127.0.0.1, a port of its choosing; DST_PORT.
dest_vm()
{
	local name=$1
	shift
	start_bg "$name" "$TWIN_VMM" incoming --listen 127.0.0.1:0 "$@" \
		--serial "file:$E2E_TMP/$name.serial" --control "$E2E_TMP/$name.sock"
	DST_PID=$BG_PID
	DST_PORT=$(incoming_port "$name" "$E2E_ERROR_TIMEOUT")
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

# Plaintext, asked for explicitly, with the default tuning.
source_vm src 700
dest_vm dst --insecure
run_bounded 60 mig "$TWIN_VMM" migrate --control "$E2E_TMP/src.sock" \
	--to "127.0.0.1:$DST_PORT" --insecure
assert_status mig 0
# Not a terminal: progress lines, then the final status as the last line.
final=$(tail -n 1 "$E2E_TMP/mig.out")
[[ $final == 'migrate: {"phase":"completed",'* ]] || { show_file "$E2E_TMP/mig.out"; fail "mig: last line is not the completed status: $final"; }
python3 - "${final#migrate: }" <<'PY' || fail "mig: the final status does not add up: $final"
import json, sys
s = json.loads(sys.argv[1])
assert s["rounds"] >= 1 and s["bytes"] > 0 and s["pages"] > 0, s
assert 0 < s["downtime_ns"] <= s["total_ns"], s
PY
migrated src dst 700
note "plaintext: $final"

# Mutual TLS: a certificate the CA never signed is refused, the source keeps running, and
# the same source then migrates with the right one (zlib, a bandwidth cap and a downtime).
tls_pki "$E2E_TMP/pki"
# shellcheck disable=SC2046 # tls_opts prints several words on purpose
source_vm tsrc 1500
# shellcheck disable=SC2046
dest_vm bad $(tls_opts "$E2E_TMP/pki" server)
# shellcheck disable=SC2046
run_bounded 60 tmig-bad "$TWIN_VMM" migrate --control "$E2E_TMP/tsrc.sock" \
	--to "127.0.0.1:$DST_PORT" $(tls_opts "$E2E_TMP/pki" stranger)
assert_status tmig-bad 1
assert_match "$E2E_TMP/tmig-bad.err" "migrate to 127.0.0.1:$DST_PORT failed: .*certificate"
wait_bounded "$DST_PID" 20
[ "$WAIT_RC" -ne 0 ] || fail "the destination accepted a stranger's certificate"
assert_match "$E2E_TMP/bad.err" "certificate"
[ ! -e "$E2E_TMP/bad.sock" ] || fail "the refused destination left a control socket"
[ "$(ctl "$E2E_TMP/tsrc.sock" query-status)" = '{"status":"running","running":true}' ] ||
	fail "the source is not running after a refused migration"
# shellcheck disable=SC2046
dest_vm tdst $(tls_opts "$E2E_TMP/pki" server)
# shellcheck disable=SC2046
run_bounded 60 tmig "$TWIN_VMM" migrate --control "$E2E_TMP/tsrc.sock" \
	--to "127.0.0.1:$DST_PORT" $(tls_opts "$E2E_TMP/pki" client) \
	--compress zlib --bandwidth 200 --downtime 50
assert_status tmig 0
assert_match "$E2E_TMP/tmig.out" '^migrate: \{"phase":"completed",'
migrated tsrc tdst 1500
note "ok"
