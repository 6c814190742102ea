# tests/e2e/cluster-lib.sh: a three-host lab with Corosync and twin-clusterd (lab up --cluster), the twin CLI, kv guests as cluster VMs; sourced.
# shellcheck shell=bash disable=SC2034 # CL_* are results for the caller
#
# Binaries come from the build tree through the test environment (tests/e2e/e2e.am):
# TWIN_VMM, TWIN_CLUSTERD, TWIN_TLS_CERTS, and the CLI TWIN_CLI (default: twin beside
# twin-vmm).  `lab up --cluster` reads the same variables, so the lab's clusterd.conf
# points at this build.  A missing one fails the test (cluster_require): never a skip.

. "$(dirname "${BASH_SOURCE[0]}")/kv-lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/migrate-lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repl-lib.sh"

TWIN_CLI=${TWIN_CLI:-${TWIN_VMM:+$(dirname "$TWIN_VMM")/twin}}
CL_LAB=""
# Bounds, in seconds: a VM's start and initial sync (64 MiB), a state change the cluster
# makes on its own (failover, re-protection: the membership change is within 3 tokens).
CL_PROTECT_SECS=${CL_PROTECT_SECS:-90}
CL_CHANGE_SECS=${CL_CHANGE_SECS:-60}

# cluster_require: root, /dev/kvm, corosync, and the built twin-vmm, twin-clusterd, twin,
# tls-certs and twin-kv-client.
cluster_require()
{
	require_root
	require_kvm
	require_vmm
	require_cmd corosync corosync
	require_cmd python3 python3-minimal
	require_cmd nsenter util-linux
	[ -n "${TWIN_CLUSTERD:-}" ] ||
		fail "TWIN_CLUSTERD is not set: run this test through make check (or set it to the built twin-clusterd)"
	[ -x "$TWIN_CLUSTERD" ] || fail "twin-clusterd not built at $TWIN_CLUSTERD: run make first"
	[[ -n "$TWIN_CLI" && -x "$TWIN_CLI" ]] ||
		fail "the twin CLI is not built at '$TWIN_CLI': run make first (or set TWIN_CLI)"
	[[ -n "${TWIN_TLS_CERTS:-}" && -x "$TWIN_TLS_CERTS" ]] ||
		fail "tls-certs not built at '${TWIN_TLS_CERTS:-}': make -C tests e2e/tls-certs (or run through make check)"
	export TWIN_VMM TWIN_CLUSTERD TWIN_TLS_CERTS
	require_kv_client
}

# cluster_up NAME TOKEN [HOSTS]: lab NAME with HOSTS (3) hosts, Corosync at TOKEN ms and
# twin-clusterd on each (CL_LAB_ARGS: more `lab up` options); CL_LAB, CL_DIR (the cluster
# dir), CL_PREFIX.  On exit, before the lab goes down, each host's clusterd log tail is
# shown if the test failed.
CL_LAB_ARGS=()
cluster_up()
{
	lab_up "$1" --hosts "${3:-3}" --cluster --token "$2" "${CL_LAB_ARGS[@]}"
	CL_LAB=$1
	CL_DIR=$(lab "$1" get cluster-dir)
	CL_PREFIX=$(lab "$1" get prefix)
	CL_HOSTS=${3:-3}
	lab "$1" get socket h1 >/dev/null || fail "lab up --cluster started no twin-clusterd"
}

# cluster_logs: the tail of every clusterd and VM log, on stderr (for a failing test).
cluster_logs()
{
	local f
	[ -n "$CL_LAB" ] && [ -d "${CL_DIR:-}" ] || return 0
	for f in "$CL_DIR"/h*/clusterd.log "$CL_DIR"/h*/state/vms/*/log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 15 lines) ----" >&2
		tail -n 15 "$f" >&2
	done
}
cluster_on_exit()
{
	# Only on failure: $? of the exit is not visible here, so the marker file tells.
	[ -e "$E2E_TMP/.passed" ] || cluster_logs
}
E2E_ON_EXIT=(cluster_on_exit "${E2E_ON_EXIT[@]}")

# cluster_passed: the test passed (no logs on exit).
cluster_passed()
{
	: >"$E2E_TMP/.passed"
}

# twin_at HOST ARGS...: the twin CLI against HOST's clusterd.
twin_at()
{
	local h=$1
	shift
	"$TWIN_CLI" --socket "$(lab "$CL_LAB" get socket "$h")" "$@"
}

# twin_client_run NAME HOST ARGS...: the twin CLI in the lab's client namespace (it reaches
# the guest LAN, as a drill's kv probe must) against HOST's clusterd socket (a file, seen
# from there too), bounded; RUN_RC.
twin_client_run()
{
	local name=$1 h=$2
	shift 2
	run_bounded "$CL_CHANGE_SECS" "$name" "$LAB" --state "$E2E_TMP/lab-$CL_LAB" exec client \
		"$TWIN_CLI" --socket "$(lab "$CL_LAB" get socket "$h")" "$@"
}

# twin_run NAME HOST ARGS...: twin_at bounded, output in NAME.out/.err, RUN_RC.
twin_run()
{
	local name=$1 h=$2
	shift 2
	run_bounded "$CL_CHANGE_SECS" "$name" "$TWIN_CLI" --socket "$(lab "$CL_LAB" get socket "$h")" "$@"
}

# cluster_vm_cfg VM IP MAC PROTECT [EXTRA]: write VM's config (kv guest at IP with MAC, on
# each host's LAN bridge, probe IP:7777, protect = PROTECT) into the cluster's vm_configs
# dir; prints its path.
cluster_vm_cfg()
{
	local f="$CL_DIR/vms/$1.cfg"
	cat >"$f" <<-EOT
	# $1: the kv guest, a cluster VM of $E2E_NAME
	name = $1
	memory = 64
	kernel = $(guest kv)
	cmdline = "ip=$2/24 mac=$3 port=$KV_PORT"
	nic = mac=$3,bridge=$CL_PREFIX-lan
	protect = $4
	mode = epoch
	interval_ms = 25
	probe = $2:$KV_PORT
	${5:-}
	EOT
	echo "$f"
}

# cluster_status HOST VM: VM's object from `twin status VM --json` on HOST (one line).
cluster_status()
{
	local out rc=0
	out=$(timeout 30 "$TWIN_CLI" --socket "$(lab "$CL_LAB" get socket "$1")" status "$2" --json 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "twin status $2 --json on $1 exited $rc: $out"
	python3 -c '
import json, sys
v = json.loads(sys.argv[1])
if isinstance(v, list):
    v = v[0]
print(json.dumps(v, separators=(",", ":")))' "$out" || fail "twin status $2 --json printed no JSON: $out"
}

# cluster_wait HOST VM SECS PY_EXPR: poll VM's status on HOST's clusterd socket (every
# 20 ms) until PY_EXPR over the VM object v holds; prints that object; fails after SECS.
cluster_wait()
{
	python3 - "$(lab "$CL_LAB" get socket "$1")" "$2" "$3" "$4" <<'PY' ||
import json, socket, sys, time
path, vm, secs, expr = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + secs
last = None
while True:
    try:
        sk = socket.socket(socket.AF_UNIX)
        sk.settimeout(10)
        sk.connect(path)
        f = sk.makefile("rw")
        f.readline()
        while True:
            f.write(json.dumps({"execute": "status", "arguments": {"vm": vm}}) + "\n")
            f.flush()
            r = json.loads(f.readline())
            v = r.get("return")
            if isinstance(v, list):
                v = v[0] if v else None
            last = v if v is not None else r
            if v is not None and eval(expr, {}, {"v": v}):
                print(json.dumps(v, separators=(",", ":")))
                sys.exit(0)
            if time.monotonic() > deadline:
                sys.exit("still %s after %gs" % (json.dumps(last), secs))
            time.sleep(0.02)
    except (OSError, ValueError) as e:
        if time.monotonic() > deadline:
            sys.exit("%s: %s (last %s)" % (path, e, json.dumps(last)))
        time.sleep(0.1)
PY
		fail "$2 on $1: its status never showed $4 within $3 s"
}

# cluster_get JSON PY_EXPR: print PY_EXPR over the object v.
cluster_get()
{
	python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(eval(sys.argv[2], {}, {"v": v}))' "$1" "$2" || fail "cannot read $2 from $1"
}

# cluster_start_protected HOST VM IP MAC: vm start of VM's config (protect = yes) through
# HOST's clusterd; waits until protected; CL_PRIMARY and CL_BACKUP are its hosts.
cluster_start_protected()
{
	local cfg st
	cfg=$(cluster_vm_cfg "$2" "$3" "$4" yes)
	twin_run "start-$2" "$1" vm start "$cfg"
	assert_status "start-$2" 0
	st=$(cluster_wait "$1" "$2" "$CL_PROTECT_SECS" 'v["state"] == "protected"')
	CL_PRIMARY=$(cluster_get "$st" 'v["primary"]')
	CL_BACKUP=$(cluster_get "$st" 'v["backup"]')
	[[ "$CL_PRIMARY" =~ ^h[0-9]+$ && "$CL_BACKUP" =~ ^h[0-9]+$ && "$CL_PRIMARY" != "$CL_BACKUP" ]] ||
		fail "$2: protected with primary '$CL_PRIMARY' and backup '$CL_BACKUP'"
}

# cluster_other A B: the host of h1..hN that is neither A nor B.
cluster_other()
{
	local i
	for ((i = 1; i <= CL_HOSTS; i++)); do
		[ "h$i" = "$1" ] || [ "h$i" = "$2" ] || { echo "h$i"; return; }
	done
	fail "no host other than $1 and $2"
}

# cluster_client_bg NAME VM IP MS [ONLY]: twin-kv-client from the lab's client against VM at
# IP for MS ms (2 clients, every 4th request twice, resent every CL_CLIENT_RESEND_MS ms
# for up to 30 s, JSON), started with start_bg; CL_CLIENT_PID.  Returns once the client is
# under way: VM's protected primary on CL_PRIMARY released CL_CLIENT_FRAMES more frames
# (its answers, on their way to the client) since the start, so a failure that follows
# lands in the client's traffic.  ONLY "shared": without --retransmit, whose final GET
# __stats check needs the guest to have no other client (a drill's probe is one).
CL_CLIENT_FRAMES=${CL_CLIENT_FRAMES:-40}
CL_CLIENT_RESEND_MS=${CL_CLIENT_RESEND_MS:-20}
cluster_client_bg()
{
	cluster_client_start "$@" ||
		fail "$1: no answer from $2's primary twin-vmm on $CL_PRIMARY ($CL_CLIENT_CTL)"
	cluster_client_ready ||
		fail "$1: $2's primary on $CL_PRIMARY released fewer than $CL_CLIENT_FRAMES frames in ${CL_CHANGE_SECS}s of client traffic: the client is not under way"
}

# cluster_client_start NAME VM IP MS [ONLY]: cluster_client_bg's start alone; returns 1,
# starting nothing, if VM's primary twin-vmm on CL_PRIMARY does not answer.
cluster_client_start()
{
	local name=$1 vm=$2 ip=$3 ms=$4 re=--retransmit st
	[ "${5:-}" != shared ] || re=""
	CL_CLIENT_CTL=$(cluster_vmm_ctl "$CL_PRIMARY" "$vm")
	st=$(ctl_poll query-replication "$CL_CLIENT_CTL" 10 10 True 2>/dev/null) || return 1
	CL_CLIENT_R0=$(repl_get "$st" 's["released_frames"]')
	start_bg "$name" "$LAB" --state "$E2E_TMP/lab-$CL_LAB" exec client "$KV_CLIENT" \
		--duration-ms "$ms" --clients 2 ${re:+"$re"} --timeout-ms "$CL_CLIENT_RESEND_MS" \
		--tries $((30000 / CL_CLIENT_RESEND_MS)) --json "$ip"
	CL_CLIENT_PID=$BG_PID
}

# cluster_client_ready: the client cluster_client_start started is under way (see
# cluster_client_bg); returns 1 if not within CL_CHANGE_SECS, or if the primary is gone.
cluster_client_ready()
{
	ctl_poll query-replication "$CL_CLIENT_CTL" "$CL_CHANGE_SECS" 10 \
		"s['released_frames'] >= $CL_CLIENT_R0 + $CL_CLIENT_FRAMES" >/dev/null 2>&1
}

# cluster_client_wait NAME [AFTER_NS]: the client NAME verified every answer; CL_GAP_MS is
# its longest wait for an answer (first send to answer: the failover gap the client saw).
# AFTER_NS (date +%s%N), when the failure under test was complete (the old primary dead or
# fenced): the client's report must be written after it, so its requests span the failure
# (cluster_client_bg saw them start before) and answers after it were verified too.
cluster_client_wait()
{
	local end_ns
	wait_bounded "$CL_CLIENT_PID" 120
	if [ "$WAIT_RC" -ne 0 ]; then
		show_file "$E2E_TMP/$1.out"
		show_file "$E2E_TMP/$1.err"
		fail "$1: twin-kv-client exited $WAIT_RC: an answer missing or wrong, a write lost or applied twice"
	fi
	CL_GAP_MS=$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["verified"] == c["requests"], c
print("%d" % (c["latency_us"]["max"] / 1000))' "$E2E_TMP/$1.out") ||
		{ show_file "$E2E_TMP/$1.out"; fail "$1: twin-kv-client's JSON report does not show every request verified"; }
	[ -n "${2:-}" ] || return 0
	end_ns=$(stat -c %.9Y "$E2E_TMP/$1.out" | tr -d .)
	[ "$end_ns" -gt "$2" ] ||
		fail "$1: the client ended $((($2 - end_ns) / 1000000)) ms before the failure was complete: its requests do not span it (give it a longer duration)"
}

# cluster_vmm_ctl HOST VM: the control socket of VM's twin-vmm on HOST (clusterd's state dir).
cluster_vmm_ctl()
{
	echo "$CL_DIR/$1/state/vms/$2/control.sock"
}

# cluster_vmm_log HOST VM: the log of VM's twin-vmm on HOST (clusterd's state dir).
cluster_vmm_log()
{
	echo "$CL_DIR/$1/state/vms/$2/log"
}

# cluster_log_mark FILE: how many lines FILE has now (0 if none), for cluster_wait_log.
cluster_log_mark()
{
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# cluster_wait_log FILE MARK TEXT SECS: a line after the first MARK lines of FILE holds TEXT
# within SECS (followed by inotify, not polled); returns 1 if none did.
cluster_wait_log()
{
	local rc=0 fd tpid
	exec {fd}< <(exec timeout "$4" tail -s 0.1 -n +"$(($2 + 1))" -F "$1" 2>/dev/null)
	tpid=$!
	grep -qF -m 1 -- "$3" <&"$fd" || rc=1
	kill "$tpid" 2>/dev/null || true
	exec {fd}<&-
	return "$rc"
}

# cluster_fence_bound_ms HOST: how long after it loses its cluster link HOST's VMs must be
# fenced: Corosync's token plus consensus on HOST (the membership change that ends quorum,
# as its cmap has them) plus CL_FENCE_SLACK_MS for clusterd's fence and the 5 ms polls.
CL_FENCE_SLACK_MS=${CL_FENCE_SLACK_MS:-500}
cluster_fence_bound_ms()
{
	local token consensus
	token=$(lab "$CL_LAB" exec "$1" corosync-cmapctl -g runtime.config.totem.token | sed -n 's/.* = //p')
	consensus=$(lab "$CL_LAB" exec "$1" corosync-cmapctl -g runtime.config.totem.consensus | sed -n 's/.* = //p')
	[[ "$token" =~ ^[0-9]+$ && "$consensus" =~ ^[0-9]+$ ]] ||
		fail "cannot read totem.token and totem.consensus from $1's corosync-cmapctl"
	echo "$((token + consensus + CL_FENCE_SLACK_MS))"
}

# cluster_vmm_pids HOST: the pids of the twin-vmm processes in HOST's network namespace.
cluster_vmm_pids()
{
	local ino pid
	ino=$(stat -L -c %i "/run/netns/$CL_PREFIX-$1") || fail "no netns of $1 in lab $CL_PREFIX"
	# One stat for all of /proc; it fails when a process exits under it, and lists the rest.
	for pid in $({ stat -L -c '%n %i' /proc/[0-9]*/ns/net 2>/dev/null || true; } |
		awk -v ino="$ino" '$2 == ino { split($1, f, "/"); print f[3] }'); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != twin-vmm ] || echo "$pid"
	done
}
