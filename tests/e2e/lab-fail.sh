#!/bin/bash
# e2e: a lab up that fails, on bad arguments or half-way through, leaves nothing behind; down with stale pid files kills nothing outside the lab.
set -euo pipefail
. "$(dirname "$0")/lab-lib.sh"

require_root

# bad_args NAME ERE ARGS...: `lab up ARGS` fails with one error line matching ERE and
# creates no state dir.
bad_args()
{
	local name=$1 re=$2 s="$E2E_TMP/lab-$1"
	shift 2
	run_bounded 20 "$name" "$LAB" --state "$s" up "$@"
	[ "$RUN_RC" -ne 0 ] || fail "$name: lab up $* succeeded"
	assert_one_error_line "$name" "$re"
	[ ! -e "$s" ] || fail "$name: lab up $* left its state dir"
}
bad_args hosts-zero "--hosts must be a number from 1 to" --hosts 0
bad_args hosts-word "--hosts must be a number from 1 to" --hosts three
bad_args hosts-many "--hosts must be a number from 1 to" --hosts 33
bad_args prefix-long "--prefix must be 1-8" --hosts 1 --prefix abcdefghi
bad_args prefix-chars "--prefix must be 1-8" --hosts 1 --prefix 'a;b'

# inject NAME STEP: `lab up` fails at STEP (TWIN_LAB_FAIL_AT, a test hook in the lab
# script) after creating namespaces, links and holders; all of them are gone after it.
inject()
{
	local name=$1 step=$2 p="lf$RANDOM" s="$E2E_TMP/lab-$1"
	TWIN_LAB_FAIL_AT=$step run_bounded 30 "$name" "$LAB" --state "$s" up --hosts 3 --prefix "$p"
	[ "$RUN_RC" -ne 0 ] || fail "$name: lab up succeeded despite TWIN_LAB_FAIL_AT=$step"
	assert_match "$E2E_TMP/$name.err" "injected failure at $step"
	# Only holders ran inside the lab, so no inode list is needed: the holder check of
	# assert_lab_gone covers its processes.
	assert_lab_gone "$p" ""
	[ ! -e "$s" ] || fail "$name: the failed up left its state dir"
	note "$name: failure at $step cleaned up"
}
inject fail-host2 host:2
inject fail-audit audit

# A dead host's pid file may name a recycled pid by the time of `down`, which kills every
# process in the namespaces it finds: nothing outside the lab may die.  After their
# holders die, h1's file names a plain process of the root namespace, the client's names
# this test, and h2's names a root-namespace process tagged as h2's holder (which passes
# the tag check, so only lab's never-its-own-namespace backstop saves it).
stale_pids()
{
	local p="lf$RANDOM" s="$E2E_TMP/lab-stale" where pid victim forged inodes deadline
	lab_up stale --hosts 2 --prefix "$p"
	start_bg victim sleep 600
	victim=$BG_PID
	# shellcheck disable=SC2016 # $0 is the inner bash's
	start_bg forged bash -c 'exec -a "$0" sleep 600' "twin-lab-holder $p-h2"
	forged=$BG_PID
	deadline=$((SECONDS + 10))
	until [[ "$(tr '\0' ' ' <"/proc/$forged/cmdline")" == "twin-lab-holder $p-h2 "* ]]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "the forged holder did not start within 10s"
	done
	for where in h1 h2 cl; do
		pid=$(<"$s/$p-$where.pid")
		kill -KILL "$pid"
		timeout 10 tail --pid="$pid" -f /dev/null || fail "holder of $p-$where outlived SIGKILL by 10s"
	done
	echo "$victim" >"$s/$p-h1.pid"
	echo "$forged" >"$s/$p-h2.pid"
	echo "$$" >"$s/$p-cl.pid"
	inodes=$(lab_inodes "$p")
	run_bounded 30 stale-down "$LAB" --state "$s" down
	assert_status stale-down 0
	kill -0 "$victim" 2>/dev/null || fail "lab down killed the root-namespace process named by h1's pid file"
	kill -0 "$forged" 2>/dev/null || fail "lab down killed the root-namespace process tagged as h2's holder"
	kill -KILL "$forged"
	wait_bounded "$forged" 10
	assert_lab_gone "$p" "$inodes"
	[ ! -e "$s" ] || fail "lab down left the state dir of lab $p"
	note "stale pid files: down killed nothing outside lab $p"
}
stale_pids

note "ok"
