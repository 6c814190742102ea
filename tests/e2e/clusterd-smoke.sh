#!/bin/bash
# e2e: one lab host runs Corosync and twin-clusterd; cluster-status over its socket shows 1 member, quorate; SIGTERM stops it (exit 0), a lost Corosync ends it (exit 1).
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

clusterd_lab_up
start_corosync
start_clusterd "$dir/clusterd.log"

# The socket is 0600: the CLI's trust boundary is the file mode.
mode=$(lab a exec h1 stat -c %a /run/twin/clusterd.sock)
[ "$mode" = 600 ] || fail "the socket's mode is $mode, expected 600"

# cluster-status: one member (this host), quorate with 1 of 1 votes, the token shown.  The
# first confchg and the state sync may take a moment after the socket appears.
deadline=$((SECONDS + 10))
until reply=$(request '{"execute": "cluster-status", "id": 1}') &&
	python3 - "$reply" <<'EOT'
import json, sys
r = json.loads(sys.argv[1])
ret = r["return"]
assert r["id"] == 1, r
assert ret["quorate"] is True, ret
assert ret["votes"] == 1 and ret["expected_votes"] == 1, ret
assert len(ret["members"]) == 1, ret
assert ret["members"][0]["name"] == "h1", ret
assert ret["token_ms"] == 1000, ret
EOT
do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "cluster-status never showed 1 quorate member: $reply"; }
	sleep 0.2
done
note "cluster-status: $reply"

# Bad requests are answered with the class and the problem, and the connection goes on.
reply=$(request '{"execute": "vm-frob"}')
grep -q '"class": *"CommandNotFound"' <<<"$reply" || fail "vm-frob: $reply"
reply=$(request '{"execute": "vm-stop", "arguments": {"vm": "kv1", "x": 1}}')
grep -q 'unknown argument \\"x\\"' <<<"$reply" || fail "an unknown argument: $reply"
reply=$(request '{"execute": "vm-list"}')
grep -q '"return"' <<<"$reply" || fail "vm-list: $reply"

# A client that shuts its side down after two requests (echo ... | socat) gets both replies.
replies=$(lab a exec h1 python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect("/run/twin/clusterd.sock")
s.sendall(b"{\"execute\": \"vm-list\", \"id\": 1}\n{\"execute\": \"cluster-status\", \"id\": 2}\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(len(data.splitlines()))
')
[ "$replies" = 3 ] || fail "a half-closed client got $replies lines, expected the greeting and 2 replies"

# SIGTERM: a clean stop, exit 0, the socket gone.
kill -TERM "$CLUSTERD_PID"
wait_exit "$CLUSTERD_PID" 15
[ "$WAIT_RC" = 0 ] || { show_file "$dir/clusterd.log"; fail "twin-clusterd exited $WAIT_RC after SIGTERM, expected 0"; }
! lab a exec h1 test -e /run/twin/clusterd.sock || fail "the socket outlived twin-clusterd"
grep -q "stopped" "$dir/clusterd.log" || fail "no 'stopped' in the log"

# Corosync killed under a running clusterd: it ends loudly, exit 1.
start_clusterd "$dir/clusterd2.log"
kill -KILL "$COROSYNC_PID"
wait_exit "$CLUSTERD_PID" 15
[ "$WAIT_RC" = 1 ] || { show_file "$dir/clusterd2.log"; fail "twin-clusterd exited $WAIT_RC after corosync died, expected 1"; }
grep -q "connection is lost" "$dir/clusterd2.log" || fail "the log does not say the Corosync link was lost"

# A bad clusterd.conf: exit 2, file:line and the problem.
printf '[host]\nname = h1\nbogus = 1\n' >"$dir/bad.conf"
rc=0
"$CLUSTERD" --config "$dir/bad.conf" 2>"$dir/bad.log" || rc=$?
[ "$rc" = 2 ] || fail "a bad config exited $rc, expected 2"
grep -q "bad.conf:3: unknown key 'bogus' in \[host\]" "$dir/bad.log" || { show_file "$dir/bad.log"; fail "the error does not name bad.conf:3"; }
note "ok"
