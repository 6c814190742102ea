# tests/e2e/clusterd-lib.sh: one lab host ("a", h1) with Corosync and twin-clusterd; sourced.
# shellcheck shell=bash
#
# clusterd_lab_up writes h1's corosync.conf and clusterd.conf under $E2E_TMP/h1 (VM configs
# in $dir/vms); start_corosync and start_clusterd run the daemons in h1 (their pids in
# COROSYNC_PID and CLUSTERD_PID); request talks to the clusterd socket, twin_host runs
# `twin host` there; clusterd_kv1_cfg writes the kv guest's VM config.  The lab's teardown
# (lab-lib.sh) kills whatever is left in h1.

. "$(dirname "$0")/lab-lib.sh"

require_root
require_cmd corosync corosync
require_cmd python3 python3
require_cmd nsenter util-linux
CLUSTERD=${TWIN_CLUSTERD:?TWIN_CLUSTERD is not set: run this test through make check}
[ -x "$CLUSTERD" ] || fail "twin-clusterd not found at $CLUSTERD: build it (make)"

# clusterd_lab_up: lab "a" with one host, and h1's configs (dir, prefix: where, and its name).
clusterd_lab_up()
{
	lab_up a --hosts 1
	prefix=$(lab a get prefix)
	dir=$E2E_TMP/h1
	mkdir -p "$dir/corosync" "$dir/state" "$dir/vms"

	cat >"$dir/corosync.conf" <<-EOT
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
	cat >"$dir/clusterd.conf" <<-EOT
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
}

# start_corosync: in h1, until it says it is ready (LAB.md).
start_corosync()
{
	# The lab script itself, not lab-lib.sh's function: $! is then the daemon (it execs).
	"$LAB" --state "$E2E_TMP/lab-a" exec h1 corosync -f -c "$dir/corosync.conf" >"$dir/corosync.log" 2>&1 &
	COROSYNC_PID=$!
	E2E_PIDS+=("$COROSYNC_PID")
	# Killed by the teardown: no "Killed" notice from bash then.
	disown "$COROSYNC_PID"
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

# twin ARGS...: the twin CLI ($TWIN) in h1; its stdout in OUT, stderr in ERR, exit status in
# RC.  A script that needs another form (a user, a bound) defines its own twin after this.
twin()
{
	RC=0
	lab a exec h1 "${TWIN:?TWIN is not set: run this test through make check}" "$@" \
		>"$E2E_TMP/twin.out" 2>"$E2E_TMP/twin.err" || RC=$?
	OUT=$(cat "$E2E_TMP/twin.out")
	ERR=$(cat "$E2E_TMP/twin.err")
}

# clusterd_kv1_cfg: $dir/vms/kv1.cfg, the kv guest at 198.18.2.10 on the lab's LAN bridge.
clusterd_kv1_cfg()
{
	cat >"$dir/vms/kv1.cfg" <<EOT
name = kv1
memory = 64
kernel = $(guest kv)
cmdline = "ip=198.18.2.10/24 mac=52:54:00:12:34:56 port=7777"
nic = mac=52:54:00:12:34:56,bridge=$(lab a get lan-bridge)
EOT
}

# twin_host NAME ARGS...: `twin host ARGS` in h1 (the CLI at $CLI); RUN_RC, NAME.out, NAME.err.
twin_host()
{
	local name=$1
	shift
	RUN_RC=0
	lab a exec h1 "${CLI:?CLI is not set: the script sets it from TWIN_CLI}" host "$@" \
		>"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" || RUN_RC=$?
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

