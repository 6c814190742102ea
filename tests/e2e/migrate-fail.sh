#!/bin/bash
# e2e: migrations cut at several points leave the source running to the right checksum; a bad stream fails the destination cleanly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
kernel=$(guest memwriter)

# One source lives through every failure, then finishes: 2 vCPUs, 16 pages/ms each over a
# 256-page window, a heartbeat every 20 iterations, about 40 s of work.
pages=16 ws=256 k=2 iters=2500
want=$(expected_checksum "$pages" "$ws" "$k" "$iters")
sock="$E2E_TMP/src.sock"
start_bg src "$TWIN_VMM" run --kernel "$kernel" --vcpus "$k" \
	--cmdline "pages=$pages rate=1 ws=$ws vcpus=$k iters=$iters progress=20" \
	--serial "file:$E2E_TMP/src.serial" --control "$sock"
src=$BG_PID
wait_for_text "$E2E_TMP/src.serial" "memwriter: iter=20" "$E2E_BOOT_TIMEOUT" || {
	show_file "$E2E_TMP/src.serial"
	fail "the source guest never reached iteration 20"
}

# still_running CASE [PHASE]: the source reports running, query-migrate says PHASE
# (failed), and the guest advances: a heartbeat later than any before this check.
still_running()
{
	local last phase=${2:-failed}
	[ "$(ctl "$sock" query-status)" = '{"status":"running","running":true}' ] ||
		fail "$1: the source is not running"
	ctl "$sock" query-migrate | grep -q "\"phase\":\"$phase\"" ||
		fail "$1: query-migrate does not say $phase: $(ctl "$sock" query-migrate)"
	last=$(sed -n 's/^memwriter: iter=\([0-9]*\)\r\{0,1\}$/\1/p' "$E2E_TMP/src.serial" | tail -n 1)
	wait_for_text "$E2E_TMP/src.serial" "memwriter: iter=$((last + 20))" 20 ||
		fail "$1: the source guest stopped advancing after iteration $last"
	note "$1: source running, guest past iteration $((last + 20))"
}

# migrate_bg NAME PORT [OPTS]: twin-vmm migrate in the background; MIG_PID.
migrate_bg()
{
	local name=$1 port=$2
	shift 2
	start_bg "$name" "$TWIN_VMM" migrate --control "$sock" --to "127.0.0.1:$port" --insecure "$@"
	MIG_PID=$BG_PID
}

# migrate_failed NAME ERE [PHASE]: the client exited 1 naming PHASE (failed) and ERE in its
# one error line.
migrate_failed()
{
	wait_bounded "$MIG_PID" 30
	[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/$1.out"; show_file "$E2E_TMP/$1.err"; fail "$1: migrate exited $WAIT_RC, expected 1"; }
	assert_one_error_line "$1" "migrate to 127.0.0.1:[0-9]+ ${3:-failed}: .*$2.*the VM keeps running on the source"
}

# A free port with nothing listening on it: a closed listener's.
free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# fake_dest NAME MODE: a python destination on 127.0.0.1 (FAKE_PORT, FAKE_PID): "close"
# accepts and closes before reading a byte; "sink" says READY (STREAM.md, live handshake),
# reads everything and never acks.
fake_dest()
{
	start_bg "$1" python3 -c '
import socket, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
if sys.argv[1] == "close":
    c.close()
    sys.exit(0)
c.sendall(b"TWINRDY1" + bytes(248))
while c.recv(1 << 20):
    pass
' "$2"
	FAKE_PID=$BG_PID
	# Its first line is the port.
	wait_for_text "$E2E_TMP/$1.out" "" 10 || fail "$1: the fake destination never listened"
	FAKE_PORT=$(head -n 1 "$E2E_TMP/$1.out")
}

# 1. Nothing listens: refused before the first byte.
migrate_bg refused "$(free_port)"
migrate_failed refused "cannot connect"
still_running "nothing listening"

# 2. The destination accepts, then closes before reading the first byte.
fake_dest closer close
migrate_bg closed "$FAKE_PORT"
migrate_failed closed "."
wait_bounded "$FAKE_PID" 10
still_running "closed at once"

# 3. The destination is killed in the middle of the full pass (capped at 1 MiB/s so that
#    there is a middle).
start_bg dst3 "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure --serial "file:$E2E_TMP/dst3.serial"
dst3=$BG_PID
port=$(incoming_port dst3 "$E2E_ERROR_TIMEOUT")
migrate_bg fullpass "$port" --bandwidth 1
ctl_wait "$sock" 30 's["phase"] == "active" and s["rounds"] == 1 and s["bytes"] > 256 * 1024' >/dev/null
kill -KILL "$dst3"
wait_bounded "$dst3" 10
migrate_failed fullpass "."
still_running "destination killed in the full pass"

# 3b. The user cancels in the full pass: SIGINT to twin-vmm migrate, which sends
#     migrate-cancel.  The destination sees the stream cut and cleans up.
start_bg dst3b "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--serial "file:$E2E_TMP/dst3b.serial" --control "$E2E_TMP/dst3b.sock"
dst3b=$BG_PID
port=$(incoming_port dst3b "$E2E_ERROR_TIMEOUT")
migrate_bg cancel "$port" --bandwidth 1
ctl_wait "$sock" 30 's["phase"] == "active" and s["bytes"] > 128 * 1024' >/dev/null
kill -INT "$MIG_PID"
# The client's note about the signal, then its one error line.
wait_bounded "$MIG_PID" 30
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/cancel.err"; fail "cancel: migrate exited $WAIT_RC, expected 1"; }
assert_match "$E2E_TMP/cancel.err" "^twin-vmm: signal 2: cancelling the migration$"
assert_match "$E2E_TMP/cancel.err" "^twin-vmm: error: migrate to 127.0.0.1:$port cancelled: .*the VM keeps running on the source$"
wait_bounded "$dst3b" 20
[ "$WAIT_RC" -ne 0 ] || fail "dst3b: exited 0 from a cancelled migration"
[ ! -e "$E2E_TMP/dst3b.sock" ] || fail "dst3b: left a control socket"
[ ! -s "$E2E_TMP/dst3b.serial" ] || fail "dst3b: the guest ran from a cancelled migration"
still_running "cancelled by the user" cancelled

# 4. The destination takes everything, then dies before its ack: the source was paused
#    in stop-copy waiting for it, and must resume.  While it waits, END sent, a cancel is
#    too late (the destination may run the VM as soon as it acks): migrate-cancel and the
#    client's SIGINT are refused, and the migration goes on waiting.
fake_dest sink sink
migrate_bg noack "$FAKE_PORT"
ctl_wait "$sock" 30 's["phase"] == "stop-copy" and s["end_sent"]' >/dev/null
ctl_refused "$sock" migrate-cancel "^too late: the destination may already be running the VM" >/dev/null
kill -INT "$MIG_PID"
wait_for_text "$E2E_TMP/noack.err" "twin-vmm: signal 2: cannot cancel the migration: too late" 10 ||
	{ show_file "$E2E_TMP/noack.err"; fail "noack: the client's SIGINT did not get the too-late answer"; }
ctl "$sock" query-migrate | grep -q '"phase":"stop-copy"' ||
	fail "noack: a refused cancel ended the migration: $(ctl "$sock" query-migrate)"
kill -0 "$MIG_PID" 2>/dev/null || fail "noack: SIGINT ended the client"
kill -KILL "$FAKE_PID"
wait_bounded "$FAKE_PID" 10
wait_bounded "$MIG_PID" 30
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/noack.err"; fail "noack: migrate exited $WAIT_RC, expected 1"; }
assert_match "$E2E_TMP/noack.err" "^twin-vmm: error: migrate to 127.0.0.1:$FAKE_PORT failed: .*the VM keeps running on the source$"
still_running "destination killed before its ack"

# 5. The destination refuses the VM (a disk the source has not): its reason reaches the
#    source, and it cleans up after itself.
truncate -s 1M "$E2E_TMP/disk.img"
start_bg dst5 "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--disk "path=$E2E_TMP/disk.img" --serial "file:$E2E_TMP/dst5.serial" \
	--control "$E2E_TMP/dst5.sock"
dst5=$BG_PID
port=$(incoming_port dst5 "$E2E_ERROR_TIMEOUT")
migrate_bg refuse "$port"
migrate_failed refuse "(disk|blk)"
wait_bounded "$dst5" 20
[ "$WAIT_RC" -eq 2 ] || { show_file "$E2E_TMP/dst5.err"; fail "dst5: exited $WAIT_RC, expected 2"; }
[ ! -e "$E2E_TMP/dst5.sock" ] || fail "dst5: left a control socket"
still_running "destination refused the VM"

# 6. A destination fed a bad stream: the first half of a real save (truncated) exits 2
#    with one clear line and no socket left.  The same with its header's magic broken is
#    no Twin stream at all (another protocol, a scanner's probe): one line, and the
#    destination keeps waiting for its source (SIGTERM then stops it, status 0).
run_bounded 60 save "$TWIN_VMM" save --control "$sock" "$E2E_TMP/vm.twin"
assert_status save 0
ctl "$sock" cont >/dev/null
size=$(stat -c %s "$E2E_TMP/vm.twin")
head -c $((size / 2)) "$E2E_TMP/vm.twin" >"$E2E_TMP/cut.twin"
{ printf 'XXXX'; tail -c +5 "$E2E_TMP/vm.twin"; } >"$E2E_TMP/magic.twin"
for bad in cut magic; do
	start_bg "in-$bad" "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
		--serial "file:$E2E_TMP/in-$bad.serial" --control "$E2E_TMP/in-$bad.sock"
	pid=$BG_PID
	port=$(incoming_port "in-$bad" "$E2E_ERROR_TIMEOUT")
	# The destination may hang up mid-stream, which is what it should do with a bad one.
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(open(sys.argv[2], "rb").read())
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
except OSError:
    pass
' "$port" "$E2E_TMP/$bad.twin" || fail "in-$bad: could not feed the stream"
	if [ "$bad" = magic ]; then
		wait_for_text "$E2E_TMP/in-$bad.err" "sent no Twin stream" 20 ||
			{ show_file "$E2E_TMP/in-$bad.err"; fail "in-$bad: no line about the stranger"; }
		assert_match "$E2E_TMP/in-$bad.err" "incoming: a connection over plaintext .* sent no Twin stream \(.*bad magic.*\); still waiting$"
		kill -0 "$pid" 2>/dev/null || fail "in-$bad: a stranger's bytes ended the destination"
		kill -TERM "$pid"
	fi
	wait_bounded "$pid" 20
	if [ "$bad" = magic ]; then
		[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/in-$bad.err"; fail "in-$bad: exited $WAIT_RC on SIGTERM, expected 0"; }
	else
		[ "$WAIT_RC" -eq 2 ] || { show_file "$E2E_TMP/in-$bad.err"; fail "in-$bad: exited $WAIT_RC on a bad stream, expected 2"; }
	fi
	# The waiting line, then exactly one line: the error, or the stranger's note.
	[ "$(grep -vc "incoming: waiting on" "$E2E_TMP/in-$bad.err")" -eq 1 ] ||
		{ show_file "$E2E_TMP/in-$bad.err"; fail "in-$bad: not exactly one line"; }
	[ ! -e "$E2E_TMP/in-$bad.sock" ] || fail "in-$bad: left a control socket"
	[ ! -s "$E2E_TMP/in-$bad.serial" ] || fail "in-$bad: the guest ran from a bad stream"
	note "in-$bad: $(grep -v "incoming: waiting on" "$E2E_TMP/in-$bad.err")"
done

# 7. The source dies in the full pass (another VM, capped at 1 MiB/s): the destination
#    sees the stream cut, exits non-zero and leaves nothing behind.
start_bg src7 "$TWIN_VMM" run --kernel "$kernel" --cmdline "pages=16 rate=1 ws=256 vcpus=1 iters=100000" \
	--serial "file:$E2E_TMP/src7.serial" --control "$E2E_TMP/src7.sock"
src7=$BG_PID
wait_socket "$E2E_TMP/src7.sock" "$E2E_BOOT_TIMEOUT"
start_bg dst7 "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--serial "file:$E2E_TMP/dst7.serial" --control "$E2E_TMP/dst7.sock"
dst7=$BG_PID
port=$(incoming_port dst7 "$E2E_ERROR_TIMEOUT")
start_bg mig7 "$TWIN_VMM" migrate --control "$E2E_TMP/src7.sock" --to "127.0.0.1:$port" \
	--insecure --bandwidth 1
mig7=$BG_PID
ctl_wait "$E2E_TMP/src7.sock" 30 's["phase"] == "active" and s["bytes"] > 128 * 1024' >/dev/null
kill -KILL "$src7"
wait_bounded "$src7" 10
wait_bounded "$dst7" 20
[ "$WAIT_RC" -ne 0 ] && [ "$WAIT_RC" -ne 1 ] || { show_file "$E2E_TMP/dst7.err"; fail "dst7: exited $WAIT_RC when its source died"; }
assert_match "$E2E_TMP/dst7.err" "incoming: "
[ ! -e "$E2E_TMP/dst7.sock" ] || fail "dst7: left a control socket"
[ ! -s "$E2E_TMP/dst7.serial" ] || fail "dst7: the guest ran from half a migration"
wait_bounded "$mig7" 20
[ "$WAIT_RC" -eq 1 ] || fail "mig7: migrate exited $WAIT_RC when the source died, expected 1"
note "source killed in the full pass: $(grep -v "incoming: waiting on" "$E2E_TMP/dst7.err" | head -n 1)"

# 8. A destination still waiting for its source stops on SIGTERM, as a running VM does:
#    status 0, nothing left behind.
start_bg dst8 "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--serial "file:$E2E_TMP/dst8.serial" --control "$E2E_TMP/dst8.sock"
dst8=$BG_PID
incoming_port dst8 "$E2E_ERROR_TIMEOUT" >/dev/null
kill -TERM "$dst8"
wait_bounded "$dst8" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/dst8.err"; fail "dst8: exited $WAIT_RC on SIGTERM while waiting, expected 0"; }
[ ! -e "$E2E_TMP/dst8.sock" ] || fail "dst8: left a control socket"

# refused_at_start NAME DST_PID ERE: the destination took the whole stream, then could not
# run the VM: the source was told before any ack (the client exits 1 with ERE), keeps the
# VM, and the destination ran nothing.
refused_at_start()
{
	migrate_failed "$1" "the destination refused the VM: .*$3"
	wait_bounded "$2" 20
	[ "$WAIT_RC" -ne 0 ] || { show_file "$E2E_TMP/$1-dst.err"; fail "$1: the destination exited 0"; }
	[ ! -s "$E2E_TMP/$1-dst.serial" ] || fail "$1: the guest ran on the destination"
	still_running "$1"
}

# 9. The destination's control socket cannot be made once the VM came in (its directory
#    is gone): nothing is acked before it is there.
mkdir "$E2E_TMP/ctl9"
start_bg ctl9-dst "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--serial "file:$E2E_TMP/ctl9-dst.serial" --control "$E2E_TMP/ctl9/dst.sock"
dst9=$BG_PID
port=$(incoming_port ctl9-dst "$E2E_ERROR_TIMEOUT")
rmdir "$E2E_TMP/ctl9"
migrate_bg ctl9 "$port"
refused_at_start ctl9 "$dst9" "--control .*ctl9/dst.sock: cannot create the socket"

# 10. The destination cannot start the VM's threads (its own pids cgroup allows none
#     more): its threads start parked before the ack, so the failure reaches the source.
case_root=
if [ -w /sys/fs/cgroup/pids/cgroup.procs ]; then
	case_root=/sys/fs/cgroup/pids
elif grep -qw pids /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	case_root=/sys/fs/cgroup
fi
[ -n "$case_root" ] ||
	fail "no pids cgroup (v1 /sys/fs/cgroup/pids, or v2 with pids in cgroup.subtree_control): needed to make thread creation fail"
cg="$case_root/twin-e2e-$$"
mkdir "$cg"
trap 'e2e_cleanup; rmdir "$cg" 2>/dev/null || true' EXIT
start_bg thr10-dst "$TWIN_VMM" incoming --listen 127.0.0.1:0 --insecure \
	--serial "file:$E2E_TMP/thr10-dst.serial"
dst10=$BG_PID
port=$(incoming_port thr10-dst "$E2E_ERROR_TIMEOUT")
# One task: the main thread it has now, waiting.
echo 1 >"$cg/pids.max"
echo "$dst10" >"$cg/cgroup.procs"
migrate_bg thr10 "$port"
refused_at_start thr10 "$dst10" "cannot start the VM's threads"
assert_match "$E2E_TMP/thr10-dst.err" "incoming: cannot start the VM's threads: .*the source keeps it"
rmdir "$cg"
trap e2e_cleanup EXIT

# After all that, the source finishes its work with the right checksum.
wait_bounded "$src" 120
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/src.err"; fail "source exited $WAIT_RC, expected the guest's 1"; }
assert_has_line "$E2E_TMP/src.serial" "memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$want"
note "ok"
