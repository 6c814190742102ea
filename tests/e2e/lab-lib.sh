# tests/e2e/lab-lib.sh: helpers for the tests that run in a lab (tools/lab/lab); sourced.
# shellcheck shell=bash
#
# Every lab a test brings up is taken down on exit, pass or fail, before lib.sh removes
# the temp dir that holds its state.  TWIN_LAB overrides the lab script's path.

. "$(dirname "$0")/lib.sh"

LAB=${TWIN_LAB:-${TWIN_SRCDIR:?TWIN_SRCDIR is not set: run this test through make check}/tools/lab/lab}
[ -x "$LAB" ] || fail "lab script not found at $LAB"
LAB_STATES=()

lab_down_all()
{
	local s
	for s in "${LAB_STATES[@]}"; do
		[ ! -f "$s/netns" ] || "$LAB" --state "$s" down >/dev/null || true
	done
}
E2E_ON_EXIT+=(lab_down_all)

# lab_up NAME ARGS...: `lab up ARGS` with its state in $E2E_TMP/lab-NAME (taken down on
# exit); prints nothing, fails the test if up fails.
lab_up()
{
	local s="$E2E_TMP/lab-$1"
	shift
	LAB_STATES+=("$s")
	"$LAB" --state "$s" up "$@" >"$E2E_TMP/lab-up.out" 2>&1 || {
		show_file "$E2E_TMP/lab-up.out"
		fail "lab up $* failed"
	}
}

# lab NAME ARGS...: run the lab script on lab NAME.
lab()
{
	local s="$E2E_TMP/lab-$1"
	shift
	"$LAB" --state "$s" "$@"
}

# wait_ping LAB WHERE ADDR SECS: from host WHERE of LAB, ping ADDR until it answers, for
# at most SECS seconds (the first ping also waits for ARP); returns 1 if it never did.
wait_ping()
{
	local name=$1 where=$2 addr=$3 deadline=$((SECONDS + $4))
	until lab "$name" exec "$where" ping -n -q -c 1 -W 1 "$addr" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
	done
}

# lab_inodes PREFIX: the inode of each of the prefix's named network namespaces.
lab_inodes()
{
	local f
	for f in /run/netns/"$1"-*; do
		[ ! -e "$f" ] || stat -L -c %i "$f"
	done
}

# assert_lab_gone PREFIX INODES: nothing of lab PREFIX is left: no named netns, no link
# in the root namespace, no mount of its namespace files anywhere (a leftover one would
# keep the namespace and its links alive), and no process in any of its namespaces.
assert_lab_gone()
{
	local p=$1 inodes=$2 pid
	local netns links
	# Captured first: with pipefail, grep -q ending a pipe early can fail the pipe.
	netns=$(ip netns list)
	if grep -q "^$p-" <<<"$netns"; then
		echo "$netns" >&2
		fail "netns of lab $p left behind"
	fi
	links=$(ip -o link show | awk -F': ' '{ print $2 }')
	if grep -q "^$p-" <<<"$links"; then
		echo "$links" >&2
		fail "links of lab $p left in the root namespace"
	fi
	if grep -qs "/run/netns/$p-" /proc/[0-9]*/mountinfo; then
		fail "a mount of lab $p's namespace files is left in some mount namespace"
	fi
	# One stat for all of /proc, not one per process; it fails when a process exits
	# under it, and still lists the others.
	pid=$({ stat -L -c '%n %i' /proc/[0-9]*/ns/net 2>/dev/null || true; } |
		awk -v list="$inodes" 'BEGIN { n = split(list, l, "\n"); for (i = 1; i <= n; i++) w[l[i]] = 1 }
			$2 in w { split($1, f, "/"); print f[3] }')
	pid=${pid%%$'\n'*}
	[ -z "$pid" ] || fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) is still in lab $p"
	if pgrep -f "twin-lab-holder $p-" >/dev/null; then
		fail "a holder process of lab $p is still running"
	fi
}
