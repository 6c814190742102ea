#!/bin/bash
# e2e: tools/lab/lab brings up 3 hosts and a client that reach each other, with private /run, two labs at once, and leaves nothing after down.
set -euo pipefail
. "$(dirname "$0")/lab-lib.sh"

require_root
require_cmd ping iputils-ping
require_cmd nsenter util-linux

lab_up a --hosts 3
pa=$(lab a get prefix)
[ "$(lab a get hosts)" = 3 ] || fail "lab a reports $(lab a get hosts) hosts, expected 3"

# Hosts reach each other on the cluster and replication networks, the client reaches
# every host on the LAN.
for i in 1 2 3; do
	for j in 1 2 3; do
		[ "$i" -ne "$j" ] || continue
		for net in 0 1; do
			wait_ping a "h$i" "198.18.$net.$j" 5 || fail "h$i cannot ping h$j at 198.18.$net.$j"
		done
	done
	wait_ping a client "198.18.2.$((200 + i))" 5 || fail "client cannot ping h$i at 198.18.2.$((200 + i))"
done
# The networks are separate: a host's cluster address is not on the LAN.
if lab a exec client ping -n -q -c 1 -W 1 198.18.0.1 >/dev/null 2>&1; then
	fail "client reaches 198.18.0.1: the cluster network leaks into the LAN"
fi

# Only lab addresses exist, and no route leads anywhere else.
for ns in $(ip netns list | awk -v p="^$pa-" '$1 ~ p { print $1 }'); do
	while read -r a; do
		case "$a" in
		198.18.* | 198.19.* | 127.*) ;;
		*) fail "$ns holds address $a, outside 198.18.0.0/15" ;;
		esac
	done < <(ip -n "$ns" -4 -o addr show | awk '{ print $4 }')
	[ -z "$(ip -n "$ns" -6 -o addr show)" ] || fail "$ns has an IPv6 address"
	routes=$(ip -n "$ns" -4 route show)
	if [ -n "$routes" ] && grep -qv '^198\.1[89]\.' <<<"$routes"; then
		echo "$routes" >&2
		fail "$ns has a route outside 198.18.0.0/15"
	fi
done

# Each host has its own /run: a file written in h1 is seen only in h1.
mark=/run/twin-lab-smoke-$pa
lab a exec h1 sh -c "echo h1 >$mark"
[ "$(lab a exec h1 cat "$mark")" = h1 ] || fail "h1 cannot read back its own $mark"
for where in h2 h3 client; do
	if lab a exec "$where" test -e "$mark"; then
		fail "$where sees h1's $mark: /run is not private"
	fi
done
[ ! -e "$mark" ] || fail "the root namespace sees h1's $mark: /run is not private"

# A second lab at the same time: its own prefix, the same addresses, no interference.
lab_up b --hosts 1
pb=$(lab b get prefix)
[ "$pa" != "$pb" ] || fail "two labs got the same prefix $pa"
wait_ping b client 198.18.2.201 5 || fail "lab b: client cannot ping h1"
if "$LAB" --state "$E2E_TMP/lab-c" up --hosts 1 --prefix "$pa" >"$E2E_TMP/dup.out" 2>&1; then
	fail "a second lab with the prefix $pa in use came up"
fi
assert_match "$E2E_TMP/dup.out" "prefix $pa is in use"
wait_ping a h1 198.18.0.2 5 || fail "lab a broken by the refused duplicate"

# Processes inside hosts and the client die with the lab.
start_bg sleeper-h2 "$LAB" --state "$E2E_TMP/lab-a" exec h2 sleep 600
sleeper_h2=$BG_PID
start_bg sleeper-cl "$LAB" --state "$E2E_TMP/lab-a" exec client sleep 600
sleeper_cl=$BG_PID
# Ready when each sleeper runs inside its namespace (exec replaced the lab script).
deadline=$((SECONDS + 10))
until [ "$(readlink "/proc/$sleeper_h2/ns/net" 2>/dev/null)" = "$(lab a exec h2 readlink /proc/self/ns/net)" ] &&
	[ "$(readlink "/proc/$sleeper_cl/ns/net" 2>/dev/null)" = "$(lab a exec client readlink /proc/self/ns/net)" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "sleepers did not enter h2 and the client within 10s"
done

# A host dies when its processes are killed (LAB.md): exec into it then fails with one
# clear line, status says so, and down still removes it.
h3_holder=$(pgrep -f "^twin-lab-holder $pa-h3 ") || fail "no holder process for $pa-h3"
kill -KILL "$h3_holder"
run_bounded 10 exec-dead "$LAB" --state "$E2E_TMP/lab-a" exec h3 true
[ "$RUN_RC" -ne 0 ] || fail "exec into h3 succeeded after its processes were killed"
assert_one_error_line exec-dead "$pa-h3 is dead"
lab a status >"$E2E_TMP/status.out"
assert_match "$E2E_TMP/status.out" "^  $pa-h3 +dead"

inodes_a=$(lab_inodes "$pa")
[ "$(wc -l <<<"$inodes_a")" -eq 5 ] || fail "lab a has $(wc -l <<<"$inodes_a") netns, expected 5 (switch, 3 hosts, client)"
lab a down >/dev/null
wait_bounded "$sleeper_h2" 10
[ "$WAIT_RC" -eq 137 ] || fail "the sleeper in h2 exited $WAIT_RC, expected 137 (SIGKILL by down)"
wait_bounded "$sleeper_cl" 10
[ "$WAIT_RC" -eq 137 ] || fail "the sleeper in the client exited $WAIT_RC, expected 137"
assert_lab_gone "$pa" "$inodes_a"
[ ! -e "$E2E_TMP/lab-a" ] || fail "lab a's state dir is left after down"

# Lab b outlived lab a's down.
wait_ping b client 198.18.2.201 5 || fail "lab b broken by lab a's down"
inodes_b=$(lab_inodes "$pb")
lab b down >/dev/null
assert_lab_gone "$pb" "$inodes_b"
note "ok: labs $pa and $pb"
