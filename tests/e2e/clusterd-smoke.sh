#!/bin/bash
# e2e: one lab host runs Corosync and twin-clusterd; cluster-status over its socket shows 1 member, quorate; SIGTERM stops it (exit 0), a lost Corosync ends it (exit 1).
set -euo pipefail
. "$(dirname "$0")/lab-lib.sh"

require_root
require_cmd corosync corosync
require_cmd python3 python3
require_cmd nsenter util-linux
CLUSTERD=${TWIN_CLUSTERD:?TWIN_CLUSTERD is not set: run this test through make check}
[ -x "$CLUSTERD" ] || fail "twin-clusterd not found at $CLUSTERD: build it (make)"

lab_up a --hosts 1
prefix=$(lab a get prefix)
dir=$E2E_TMP/h1
mkdir -p "$dir/corosync" "$dir/state" "$dir/vms"

cat >"$dir/corosync.conf" <<EOT
totem {
	version: 2
	cluster_name: $prefix
	transport: knet
	token: 1000
	crypto_cipher: none
	crypto_hash: none
}
nodelist {
	node {
		ring0_addr: 198.18.0.1
		name: h1
		nodeid: 1
	}
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_stderr: yes
	to_syslog: no
	to_logfile: no
}
system {
	state_dir: $dir/corosync
}
EOT
cat >"$dir/clusterd.conf" <<EOT
[cluster]
name = $prefix
[host]
name = h1
replication_addr = 198.18.1.1
state_dir = $dir/state
socket = /run/twin/clusterd.sock
[paths]
twin_vmm = ${TWIN_VMM:-/usr/bin/twin-vmm}
vm_configs = $dir/vms
[tls]
insecure = yes
EOT

# start_corosync: in h1, until it says it is ready (LAB.md).
start_corosync()
{
	# The lab script itself, not lab-lib.sh's function: $! is then the daemon (it execs).
	"$LAB" --state "$E2E_TMP/lab-a" exec h1 corosync -f -c "$dir/corosync.conf" >"$dir/corosync.log" 2>&1 &
	COROSYNC_PID=$!
	E2E_PIDS+=("$COROSYNC_PID")
	local deadline=$((SECONDS + 20))
	until grep -q "ready to provide service" "$dir/corosync.log"; do
		kill -0 "$COROSYNC_PID" 2>/dev/null || { show_file "$dir/corosync.log"; fail "corosync exited"; }
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/corosync.log"; fail "corosync not ready in 20 s"; }
		sleep 0.1
	done
}

# start_clusterd LOG: in h1, until its socket answers.
start_clusterd()
{
	"$LAB" --state "$E2E_TMP/lab-a" exec h1 "$CLUSTERD" --config "$dir/clusterd.conf" 2>"$1" &
	CLUSTERD_PID=$!
	E2E_PIDS+=("$CLUSTERD_PID")
	local deadline=$((SECONDS + 10))
	until lab a exec h1 test -S /run/twin/clusterd.sock; do
		kill -0 "$CLUSTERD_PID" 2>/dev/null || { show_file "$1"; fail "twin-clusterd exited"; }
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$1"; fail "no socket in 10 s"; }
		sleep 0.1
	done
}

# request JSON: one request line to clusterd's socket in h1; prints the reply line.
request()
{
	lab a exec h1 python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect("/run/twin/clusterd.sock")
f = s.makefile("rw")
hello = json.loads(f.readline())
assert hello["twin"]["service"] == "clusterd", hello
f.write(sys.argv[1] + "\n")
f.flush()
print(f.readline().strip())
' "$1"
}

# wait_exit PID SECS: WAIT_RC is the status PID (our child) ended with; a failure after SECS.
wait_exit()
{
	local pid=$1 deadline=$((SECONDS + $2))
	# Our child stays in /proc as a zombie until waited for.
	while [ -e "/proc/$pid" ] && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "pid $pid still runs after $2 s"
		sleep 0.1
	done
	WAIT_RC=0
	wait "$pid" || WAIT_RC=$?
}

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
