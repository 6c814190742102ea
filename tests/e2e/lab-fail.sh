#!/bin/bash
# e2e: a lab up that fails, on bad arguments or half-way through, leaves nothing behind.
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

note "ok"
