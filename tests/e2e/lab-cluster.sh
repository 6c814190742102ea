#!/bin/bash
# e2e: lab up --cluster runs Corosync on 3 hosts (all members, the token as given), kill-host kills a host whole, revive brings it back, partition/heal unplug and replug it; bad cluster arguments and a failure half-way leave nothing behind.
set -euo pipefail
. "$(dirname "$0")/lab-lib.sh"

require_root
require_cmd corosync corosync
require_cmd corosync-quorumtool corosync
require_cmd nsenter util-linux

# members NAME HOST: the members HOST's corosync counts (corosync-quorumtool -s).
members()
{
	local out
	out=$(lab "$1" exec "$2" corosync-quorumtool -s 2>/dev/null) || true
	awk '/^Membership information/ { m = 1; next } m && $1 ~ /^[0-9]+$/ { n++ } END { print n + 0 }' <<<"$out"
}

# wait_members NAME HOST N SECS: HOST counts N members within SECS.
wait_members()
{
	local deadline=$((SECONDS + $4))
	until [ "$(members "$1" "$2")" -eq "$3" ]; do
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "$2 of lab $1 counts $(members "$1" "$2") members after $4 s, expected $3"
		sleep 0.2 # polling corosync-quorumtool, bounded by the deadline above
	done
}

# wait_quorate NAME HOST Yes|No SECS: HOST's corosync-quorumtool says "Quorate: ANSWER"
# within SECS.
wait_quorate()
{
	local deadline=$((SECONDS + $4)) out
	# Its status is 2 while not quorate: its output tells.
	until out=$(lab "$1" exec "$2" corosync-quorumtool -s 2>/dev/null || true) &&
		grep -q "^Quorate: *$3" <<<"$out"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "$2 of lab $1 does not say 'Quorate: $3' within $4 s"
		sleep 0.2 # polling corosync-quorumtool, bounded by the deadline above
	done
}

# Bad arguments: one error line each, no state dir left.
bad_args()
{
	local name=$1 re=$2 s="$E2E_TMP/lab-$1"
	shift 2
	run_bounded 20 "$name" "$LAB" --state "$s" up "$@"
	[ "$RUN_RC" -ne 0 ] || fail "$name: lab up $* succeeded"
	assert_one_error_line "$name" "$re"
	[ ! -e "$s" ] || fail "$name: lab up $* left its state dir"
}
bad_args token-alone "--token, --build and --no-clusterd go with --cluster" --hosts 3 --token 500
bad_args token-100 "--token must be milliseconds from 101" --hosts 3 --cluster --token 100
bad_args token-word "--token must be milliseconds from 101" --hosts 3 --cluster --token fast
bad_args build-missing "--build .* is not a directory" --hosts 3 --cluster --build "$E2E_TMP/nowhere"

# A failure after Corosync started: its processes, the namespaces and the cluster dir go.
p="lc$RANDOM"
TWIN_LAB_FAIL_AT=corosync run_bounded 60 fail-corosync "$LAB" --state "$E2E_TMP/lab-fc" up \
	--hosts 3 --prefix "$p" --cluster --no-clusterd
[ "$RUN_RC" -ne 0 ] || fail "fail-corosync: lab up succeeded despite TWIN_LAB_FAIL_AT=corosync"
assert_match "$E2E_TMP/fail-corosync.err" "injected failure at corosync"
assert_lab_gone "$p" ""
[ ! -e "$E2E_TMP/lab-fc" ] || fail "fail-corosync: the failed up left its state dir"
pgrep -f "corosync -f -c $E2E_TMP/lab-fc/" >/dev/null && fail "fail-corosync: a corosync of the failed up still runs"
note "a failure after Corosync started cleaned up"

# Three hosts with Corosync at token 500: every host counts 3, the token is 500 at run time.
lab_up c --hosts 3 --cluster --no-clusterd --token 500
pc=$(lab c get prefix)
[ "$(lab c get token)" = 500 ] || fail "lab get token says $(lab c get token), expected 500"
dir=$(lab c get cluster-dir)
for h in h1 h2 h3; do
	wait_members c "$h" 3 5
	grep -q "ready to provide service" "$dir/$h/corosync.log" || fail "$h's corosync log has no 'ready to provide service'"
done
tok=$(lab c exec h2 corosync-cmapctl -g runtime.config.totem.token | awk '{ print $NF }')
[ "$tok" = 500 ] || fail "h2's corosync runs with token $tok, expected 500 (token_coefficient 0)"
if lab c get socket h1 2>/dev/null; then
	fail "lab get socket answers for a lab without twin-clusterd"
fi
# Each host's corosync is its own: its pid lock is in the host's /run.
for h in h1 h2 h3; do
	lab c exec "$h" test -e /run/corosync.pid || fail "$h has no /run/corosync.pid"
done

# kill-host: h3 dies whole; h1 and h2 go on with 2 members, still quorate.
out=$(lab c kill-host h3)
[[ "$out" =~ ^lab:\ h3\ killed\ at\ [0-9]+$ ]] || fail "kill-host said '$out'"
if lab c exec h3 true 2>/dev/null; then
	fail "lab exec into the killed h3 worked"
fi
wait_members c h1 2 10
wait_members c h2 2 10
wait_quorate c h1 Yes 10
if lab c kill-host h3 2>"$E2E_TMP/kill-again.err"; then
	fail "kill-host of a dead host succeeded"
fi
# revive: h3 boots again, with a fresh /run, and rejoins.
lab c revive h3 >/dev/null
wait_members c h1 3 30
lab c exec h3 test -e /run/corosync.pid || fail "the revived h3 has no /run/corosync.pid"
note "kill-host h3: 2 members left, quorate; revive: 3 again"

# partition: h1 unplugged from all three networks is alone and not quorate; the others
# keep 2 and quorum; the client no longer reaches h1 on the LAN.  heal: 3 again.
lab c partition h1
wait_members c h2 2 10
wait_members c h1 1 10
wait_quorate c h1 No 10
wait_quorate c h2 Yes 10
if lab c exec client ping -n -q -c 1 -W 1 198.18.2.201 >/dev/null 2>&1; then
	fail "the client reaches the partitioned h1"
fi
lab c heal h1
wait_members c h1 3 30
wait_members c h2 3 30
wait_ping c client 198.18.2.201 5 || fail "the client cannot reach h1 after heal"
# A partition of the cluster network alone leaves the LAN.
lab c partition h2 cluster
wait_members c h1 2 10
wait_ping c client 198.18.2.202 5 || fail "the client cannot reach h2 with only its cluster network unplugged"
lab c heal h2
wait_members c h1 3 30
if lab c partition h2 wan 2>"$E2E_TMP/part-bad.err"; then
	fail "partition accepted the network 'wan'"
fi
grep -q "unknown network 'wan'" "$E2E_TMP/part-bad.err" || { show_file "$E2E_TMP/part-bad.err"; fail "partition's error does not name the network"; }
note "partition h1: alone and not quorate, the others quorate; heal: 3 members"

inodes=$(lab_inodes "$pc")
lab c down >/dev/null
assert_lab_gone "$pc" "$inodes"
[ ! -e "$dir" ] || fail "lab down left the cluster dir $dir"
note "down: nothing of lab $pc left"
