#!/bin/bash
# e2e: twin-vmm's replication commands on 127.0.0.1: exit codes, refusals that name the fix, a backup's four commands, failover to the right checksum.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
kernel=$(guest memwriter)

# memwriter on one vCPU, an iteration (16 pages) a ms: a minute, time to protect and fail over.
pages=16 rate=16 ws=256 k=1 iters=60000

# cli NAME ARGS...: a twin-vmm client command, bounded; RUN_RC and NAME.out/.err set.
cli()
{
	local name=$1
	shift
	run_bounded 60 "$name" "$TWIN_VMM" "$@"
}

# backup_bg NAME ARGS...: twin-vmm backup on 127.0.0.1 (a free port), serial and control
# socket in $E2E_TMP; sets BAK_PID and BAK_PORT.
backup_bg()
{
	local name=$1 f="$E2E_TMP/$1.err"
	shift
	start_bg "$name" "$TWIN_VMM" backup --listen 127.0.0.1:0 --insecure "$@" \
		--serial "file:$E2E_TMP/$name.serial" --control "$E2E_TMP/$name.sock"
	BAK_PID=$BG_PID
	wait_for_text "$f" "backup: waiting on" "$E2E_ERROR_TIMEOUT" ||
		{ show_file "$f"; fail "$name: twin-vmm backup never said it was waiting"; }
	BAK_PORT=$(sed -n 's/.*backup: waiting on .*, port \([0-9]*\)$/\1/p' "$f" | head -n 1)
}

start_bg pri "$TWIN_VMM" run --kernel "$kernel" \
	--cmdline "pages=$pages rate=$rate ws=$ws vcpus=$k iters=$iters progress=1000" \
	--serial "file:$E2E_TMP/pri.serial" --control "$E2E_TMP/pri.sock"
PRI_PID=$BG_PID
wait_for_text "$E2E_TMP/pri.serial" "memwriter: iter=1000" "$E2E_BOOT_TIMEOUT" ||
	{ show_file "$E2E_TMP/pri.serial"; fail "pri: the guest never reached iteration 1000"; }
P="$E2E_TMP/pri.sock"

# Never protected: state none; unprotect and set-replication refused, failover too.
cli q0 query-replication --control "$P"
assert_status q0 0
grep -q '^{"state":"none","role":"primary",' "$E2E_TMP/q0.out" || { show_file "$E2E_TMP/q0.out"; fail "q0: not state none"; }
cli u0 unprotect --control "$P"
assert_status u0 1
assert_one_error_line u0 "the VM is not protected"
cli s0 set-replication --control "$P" --mode event
assert_status s0 1
assert_one_error_line s0 "not protected .*protect it first"
cli f0 failover --control "$P"
assert_status f0 1
assert_one_error_line f0 "not a backup"

# A migration into a backup is refused, naming incoming; the VM runs on.
backup_bg b0
cli m0 migrate --control "$P" --to "127.0.0.1:$BAK_PORT" --insecure
assert_status m0 1
grep -q "migrate into a twin-vmm incoming instead" "$E2E_TMP/m0.err" || { show_file "$E2E_TMP/m0.err"; fail "m0: the refusal does not name incoming"; }
wait_bounded "$BAK_PID" 20
[ "$WAIT_RC" -eq 2 ] || { show_file "$E2E_TMP/b0.err"; fail "b0 exited $WAIT_RC, expected 2"; }

# A protect into an incoming is refused, naming backup.
incoming_bg in0 --insecure
cli p0 protect --control "$P" --peer "127.0.0.1:$DST_PORT" --insecure
assert_status p0 1
grep -q '^protect: {"state":"failed"' "$E2E_TMP/p0.out" || { show_file "$E2E_TMP/p0.out"; fail "p0: no failed status line"; }
grep -q "protect toward a twin-vmm backup instead" "$E2E_TMP/p0.err" || { show_file "$E2E_TMP/p0.err"; fail "p0: the refusal does not name backup"; }
wait_bounded "$DST_PID" 20
[ "$WAIT_RC" -eq 2 ] || { show_file "$E2E_TMP/in0.err"; fail "in0 exited $WAIT_RC, expected 2"; }

# Protected: the status line last, exit 0.
backup_bg b1
B="$E2E_TMP/b1.sock" B1_PID=$BAK_PID
cli p1 protect --control "$P" --peer "127.0.0.1:$BAK_PORT" --insecure --mode hybrid --interval 50
assert_status p1 0
tail -n 1 "$E2E_TMP/p1.out" | grep -q '^protect: {"state":"protected","role":"primary","mode":"hybrid","interval_ms":50,' ||
	{ show_file "$E2E_TMP/p1.out"; fail "p1: the last line is not the protected status"; }
wait_for_text "$E2E_TMP/b1.err" "backup: protected" "$E2E_ERROR_TIMEOUT" || fail "b1: no protected line"

# While protected: migrate, save and a second protect are refused with the fix.
cli m1 migrate --control "$P" --to 127.0.0.1:9 --insecure
assert_status m1 1
assert_one_error_line m1 "unprotect first"
cli sv1 save --control "$P" "$E2E_TMP/vm.twin"
assert_status sv1 1
assert_one_error_line sv1 "unprotect first"
cli p2 protect --control "$P" --peer 127.0.0.1:9 --insecure
assert_status p2 1
assert_one_error_line p2 "already protected .*unprotect first"
cli s1 set-replication --control "$P" --mode event --interval 10
assert_status s1 0
assert_has_line "$E2E_TMP/s1.out" \
	"set-replication: event mode, interval 10 ms, min spacing 2 ms (from the next checkpoint)"

# The backup serves its four commands and refuses the rest.
[ "$(ctl "$B" query-status)" = '{"status":"backup","running":false}' ] || fail "b1: query-status is not backup"
ctl_refused "$B" stop "is a backup .*failover makes it run the VM" >/dev/null
ctl_refused "$B" unprotect "is a backup" >/dev/null
cli qb query-replication --control "$B"
assert_status qb 0
grep -q '^{"state":"protected","role":"backup",' "$E2E_TMP/qb.out" || { show_file "$E2E_TMP/qb.out"; fail "qb: not the backup's protected status"; }

# The primary dies: the backup says so and waits; failover runs the VM there, which ends
# the guest with the checksum of an uninterrupted run.
kill -KILL "$PRI_PID"
wait_for_text "$E2E_TMP/b1.err" "THE PRIMARY IS LOST" 10 || { show_file "$E2E_TMP/b1.err"; fail "b1: the loss was not logged"; }
cli fo failover --control "$B"
assert_status fo 0
grep -q '^failover: the VM runs here now, from epoch [1-9]' "$E2E_TMP/fo.out" || { show_file "$E2E_TMP/fo.out"; fail "fo: no failover line"; }
[ "$(ctl "$B" query-status)" = '{"status":"running","running":true}' ] || fail "b1: not running after failover"
cli f2 failover --control "$B"
assert_status f2 1
assert_one_error_line f2 "not a backup|done already"

# The new primary is protected toward a new backup at once; unprotect makes that backup
# exit 0.
backup_bg b2
cli p3 protect --control "$B" --peer "127.0.0.1:$BAK_PORT" --insecure
assert_status p3 0
cli u1 unprotect --control "$B"
assert_status u1 0
wait_bounded "$BAK_PID" 30
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/b2.err"; fail "b2 exited $WAIT_RC after unprotect, expected 0"; }
grep -q "backup: the primary unprotected the VM: exiting" "$E2E_TMP/b2.err" || { show_file "$E2E_TMP/b2.err"; fail "b2: no unprotected line"; }

# Protected again, the guest then ends by itself: its backup is told (END) and exits 0.
backup_bg b3
cli p4 protect --control "$B" --peer "127.0.0.1:$BAK_PORT" --insecure --mode event
assert_status p4 0
wait_bounded "$B1_PID" 180
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/b1.err"; fail "b1 exited $WAIT_RC, expected the guest's 1"; }
assert_has_line "$E2E_TMP/b1.serial" \
	"memwriter: done iters=$iters pages=$pages vcpus=$k checksum=$(expected_checksum "$pages" "$ws" "$k" "$iters")"
grep -q "^memwriter: pages=" "$E2E_TMP/b1.serial" && fail "b1 booted the guest again"
wait_bounded "$BAK_PID" 30
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/b3.err"; fail "b3 exited $WAIT_RC after its guest ended, expected 0"; }
note "refusals, a backup's commands, failover to the right checksum, re-protection, unprotect and a guest ending while protected as specified"
