#!/bin/bash
# e2e: twin-clusterd on one lab host starts the kv guest from a VM config, restarts its crashed unprotected primary, stops it, kills it on SIGTERM, keeps its state across a restart, and takes it along when it crashes.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm

clusterd_lab_up
clusterd_kv1_cfg
start_corosync
start_clusterd "$dir/clusterd.log"

# vm_state: kv1's state in vm-list.
vm_state()
{
	request '{"execute": "vm-list"}' | python3 -c '
import json, sys
vms = [v for v in json.load(sys.stdin)["return"] if v["name"] == "kv1"]
print(vms[0]["state"] if vms else "absent")'
}

# wait_state STATE SECS
wait_state()
{
	local deadline=$((SECONDS + $2)) s
	until s=$(vm_state) && [ "$s" = "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "kv1 is $s, not $1, after $2 s"; }
		sleep 0.1
	done
}

# vmm_pid: the pid of kv1's twin-vmm (its control socket names it), or nothing.
vmm_pid()
{
	pgrep -f -- "--control $dir/state/vms/kv1/control.sock" || true
}

# A bare NAME is VM_CONFIGS/NAME.cfg.
reply=$(request '{"execute": "vm-start", "arguments": {"path": "kv1"}}')
grep -q '"return"' <<<"$reply" || fail "vm-start: $reply"
wait_state running 20
wait_ping a client 198.18.2.10 20 || fail "the kv guest does not answer ping"
grep -q -- "--nic tap=tw-kv1-0,bridge=$(lab a get lan-bridge),mac=52:54:00:12:34:56" \
	"$dir/state/vms/kv1/log" || { show_file "$dir/state/vms/kv1/log"; fail "the log lacks the command line"; }

# A crash of the unprotected primary: restarted in place, the model never sees it stop.
pid=$(vmm_pid)
[ -n "$pid" ] || fail "no twin-vmm for kv1"
kill -KILL "$pid"
deadline=$((SECONDS + 15))
until new=$(vmm_pid) && [ -n "$new" ] && [ "$new" != "$pid" ]; do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "kv1's twin-vmm was not restarted"; }
	sleep 0.1
done
grep -q "its unprotected primary crashed: restarting it in 1 s (1 of 3)" "$dir/clusterd.log" ||
	fail "the restart is not logged"
wait_ping a client 198.18.2.10 20 || fail "the restarted kv guest does not answer ping"
[ "$(vm_state)" = running ] || fail "kv1 is $(vm_state) after the restart"

# vm-stop: quit, reaped, stopped; no twin-vmm left.
request '{"execute": "vm-stop", "arguments": {"vm": "kv1"}}' | grep -q '"return"' || fail "vm-stop"
wait_state stopped 15
[ -z "$(vmm_pid)" ] || fail "kv1's twin-vmm outlived vm-stop"

# SIGTERM with a running VM: clusterd kills its twin-vmm first (a stop leaves no VM
# unsupervised), then exits 0.
request '{"execute": "vm-start", "arguments": {"path": "kv1"}}' | grep -q '"return"' || fail "vm-start again"
wait_state running 20
kill -TERM "$CLUSTERD_PID"
wait_exit "$CLUSTERD_PID" 15
[ "$WAIT_RC" = 0 ] || { show_file "$dir/clusterd.log"; fail "twin-clusterd exited $WAIT_RC after SIGTERM"; }
[ -z "$(vmm_pid)" ] || fail "kv1's twin-vmm outlived twin-clusterd"
grep -q "primary twin-vmm pid [0-9]* ended: signal 9 (Killed) (we ended it)" "$dir/clusterd.log" ||
	fail "the log does not show the twin-vmm killed at the stop"

# clusterd SIGKILLed (a crash): its twin-vmm dies with it, never left unsupervised.  The
# restart first takes back the state its last life wrote.
[ -s "$dir/state/cluster.json" ] || fail "no cluster state in $dir/state/cluster.json"
start_clusterd "$dir/clusterd2.log"
grep -q "restored the cluster state of this host's last life" "$dir/clusterd2.log" ||
	{ show_file "$dir/clusterd2.log"; fail "the restart did not restore the cluster state"; }
request '{"execute": "vm-start", "arguments": {"path": "kv1"}}' | grep -q '"return"' || fail "vm-start a third time"
wait_state running 20
kill -KILL "$CLUSTERD_PID"
{ wait "$CLUSTERD_PID"; } 2>/dev/null || true # no "Killed" notice in the log
deadline=$((SECONDS + 5))
while [ -n "$(vmm_pid)" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "kv1's twin-vmm outlived a SIGKILLed twin-clusterd"
	sleep 0.1
done
note "ok"
