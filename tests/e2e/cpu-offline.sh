#!/bin/bash
# e2e: twin host cpu-offline/cpu-online/cpus on a one-host cluster: every thread of every twin-vmm (real affinity, /proc/PID/task/*/status) leaves an offlined CPU and comes back, new VMs start away from it, --hotplug writes the (fake) sysfs tree, the set survives a clusterd restart, the metrics page counts it, and every refusal names the problem.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
TWIN=${TWIN:?TWIN is not set: run this test through make check}
# Two CPUs at least: one to offline, one to keep.
[ "$(grep -c ^processor /proc/cpuinfo)" -ge 2 ] || fail "this test needs 2 CPUs: the lab has 2 (LAB.md)"
ALL=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$$/status)
[ "$ALL" = 0-1 ] || fail "this shell may run on CPUs $ALL: the test expects 0-1 (the lab's 2 CPUs, unrestricted)"

clusterd_lab_up
# A fake sysfs CPU tree (LAB.md: hotplugging the shared machine's CPU 1 is for a hand test):
# cpu0 without an online file, as x86 has it.
sysfs=$dir/sysfs
mkdir -p "$sysfs/cpu0" "$sysfs/cpu1"
echo 0-1 >"$sysfs/present"
echo 0-1 >"$sysfs/online"
echo 1 >"$sysfs/cpu1/online"
sed -i "/^\[host\]/a cpu_sysfs = $sysfs" "$dir/clusterd.conf"
# The metrics page counts the CPUs offline for Twin.
printf '[metrics]\nlisten = 198.18.0.1:9464\n' >>"$dir/clusterd.conf"
for vm in kv1 kv2; do
	n=${vm#kv}
	cat >"$dir/vms/$vm.cfg" <<-EOT
	name = $vm
	memory = 64
	kernel = $(guest kv)
	cmdline = "ip=198.18.2.1$n/24 mac=52:54:00:12:34:5$n port=7777"
	nic = mac=52:54:00:12:34:5$n,bridge=$(lab a get lan-bridge)
	EOT
done
start_corosync
start_clusterd "$dir/clusterd.log"

# twin_ok ARGS...: twin, which must exit 0.
twin_ok()
{
	twin "$@"
	[ "$RC" = 0 ] || { show_file "$dir/clusterd.log"; fail "twin $*: exit $RC: $ERR"; }
}

# refused STATUS TEXT ARGS...: twin ARGS exits STATUS with TEXT in its error.
refused()
{
	local status=$1 text=$2
	shift 2
	twin "$@"
	[ "$RC" = "$status" ] || fail "twin $*: exit $RC, expected $status (stderr: $ERR)"
	grep -qF -- "$text" <<<"$ERR" || fail "twin $*: the error lacks '$text': $ERR"
}

vmm_pid()
{
	pgrep -f -- "--control $dir/state/vms/$1/control.sock" || true
}

# start_vm VM: vm-start, until it runs; its twin-vmm's pid in PID.
start_vm()
{
	local deadline=$((SECONDS + 20))
	request "{\"execute\": \"vm-start\", \"arguments\": {\"path\": \"$1\"}}" | grep -q '"return"' ||
		fail "vm-start $1"
	until PID=$(vmm_pid "$1") && [ -n "$PID" ] && lab a exec h1 "$TWIN" status "$1" | grep -q running; do
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "$1 does not run after 20 s"; }
		sleep 0.1
	done
}

# assert_threads PID LIST WHAT: every thread of PID may run on exactly LIST (the kernel's
# Cpus_allowed_list: the real affinity), and its vCPU thread vcpu0 is among them.
assert_threads()
{
	local pid=$1 want=$2 t got n=0 vcpus=0
	for t in /proc/"$pid"/task/*; do
		got=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null || true)
		[ -n "$got" ] || continue # a thread that ended meanwhile
		[ "$got" = "$want" ] ||
			fail "$3: thread ${t##*/} ($(cat "$t/comm")) of twin-vmm $pid may run on CPUs $got, not $want"
		n=$((n + 1))
		[ "$(cat "$t/comm" 2>/dev/null)" != vcpu0 ] || vcpus=$((vcpus + 1))
	done
	[ "$vcpus" = 1 ] || fail "$3: twin-vmm $pid has no thread named vcpu0"
	note "$3: all $n threads of twin-vmm $pid on CPUs $want"
}

# cpus_json EXPR: a python expression over twin host cpus --json (as j), printed.
cpus_json()
{
	twin_ok host cpus --json
	python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$OUT" "$1"
}

start_vm kv1
kv1=$PID
assert_threads "$kv1" 0-1 "before"
grep -q -- "starting the primary: .* --cpus 0-1$" "$dir/state/vms/kv1/log" ||
	{ show_file "$dir/state/vms/kv1/log"; fail "kv1's twin-vmm was not started with --cpus 0-1"; }
[ "$(cpus_json 'j["cpus"][1]["vcpus"][0]["vm"]')" = kv1 ] || fail "host cpus: kv1's vCPU is not listed on CPU 1: $OUT"

# Offline CPU 1 for Twin: every thread of kv1's twin-vmm leaves it, clusterd too.
twin_ok host cpu-offline 1
grep -q "CPU 1 is offline for Twin; twin-vmms here run on CPUs 0" <<<"$OUT" || fail "cpu-offline 1 says: $OUT"
grep -q "kv1 primary (pid $kv1): re-pinned by twin-vmm" <<<"$OUT" || fail "cpu-offline 1 says: $OUT"
assert_threads "$kv1" 0 "cpu-offline 1"
cd_pid=$(pgrep -f -- "$CLUSTERD --config $dir/clusterd.conf" | head -1)
[ "$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$cd_pid/status")" = 0 ] || fail "twin-clusterd may still run on CPU 1"
[ "$(cat "$sysfs/cpu1/online")" = 1 ] || fail "cpu-offline without --hotplug wrote sysfs"

# cpus_metric: twin_host_cpus_offline's value on h1's metrics page.
cpus_metric()
{
	lab a exec h1 curl -sf http://198.18.0.1:9464/metrics |
		awk '$1 == "twin_host_cpus_offline{host=\"h1\"}" { print $2 }'
}
[ "$(cpus_metric)" = 1 ] || fail "metrics: twin_host_cpus_offline is '$(cpus_metric)', not 1"

# twin host cpus shows it: the table, and the JSON.
twin_ok host cpus
grep -Eq '^1 +online +offline +-$' <<<"$OUT" || fail "host cpus does not show CPU 1 offline for Twin and empty: $OUT"
grep -Eq '^0 +online +online +kv1/vcpu0$' <<<"$OUT" || fail "host cpus does not show kv1/vcpu0 on CPU 0: $OUT"
[ "$(cpus_json '[j["offline"], j["allowed"], j["cpus"][1]["twin_offline"], j["cpus"][1]["vcpus"], j["vms"][0]["vcpus"][0]["cpus"]]')" = "['1', '0', True, [], '0']" ] ||
	fail "host cpus --json: $OUT"

# A new VM starts away from it.
start_vm kv2
kv2=$PID
assert_threads "$kv2" 0 "a VM started while CPU 1 is offline"
grep -q -- "starting the primary: .* --cpus 0$" "$dir/state/vms/kv2/log" ||
	{ show_file "$dir/state/vms/kv2/log"; fail "kv2's twin-vmm was not started with --cpus 0"; }

# Every refusal, with the problem named; nothing changes.
refused 1 "CPU 1 is offline for Twin already: twin host cpu-online 1 brings it back" host cpu-offline 1
refused 1 "CPU 0 is the last CPU Twin may use (allowed: 0)" host cpu-offline 0
refused 1 "CPU 0 is the last CPU Twin may use" host cpu-offline 0 --hotplug
refused 1 "this host has no CPU 7 (present: 0-1)" host cpu-offline 7
refused 1 "this host has no CPU 7 (present: 0-1)" host cpu-online 7
refused 1 "CPU 0 is not offline for Twin: nothing to do" host cpu-online 0
refused 2 "N '1024' is not a CPU number: use 0 to 1023" host cpu-offline 1024
refused 2 "N 'one' is not a CPU number" host cpu-offline one
refused 2 "missing N" host cpu-online
refused 2 "--hotplug does not apply to twin host cpu-online" host cpu-online 1 --hotplug
reply=$(request '{"execute": "host-cpu-offline", "arguments": {"cpu": "1"}}')
grep -q '"InvalidParameter"' <<<"$reply" || fail "a string cpu was not refused: $reply"
reply=$(request '{"execute": "host-cpus", "arguments": {"cpu": 1}}')
grep -q 'unknown argument \\"cpu\\"' <<<"$reply" || fail "an unknown argument was not refused: $reply"
assert_threads "$kv1" 0 "after the refusals"

# Online again: both VMs' threads may use CPU 1 again.
twin_ok host cpu-online 1
grep -q "CPU 1 is online for Twin; twin-vmms here run on CPUs 0-1" <<<"$OUT" || fail "cpu-online 1 says: $OUT"
[ "$(cpus_metric)" = 0 ] || fail "metrics: twin_host_cpus_offline is '$(cpus_metric)', not 0"
assert_threads "$kv1" 0-1 "cpu-online 1 (kv1)"
assert_threads "$kv2" 0-1 "cpu-online 1 (kv2)"

# A twin-vmm that does not answer set-cpus (stopped here): clusterd pins its threads itself.
kill -STOP "$kv2"
twin_ok host cpu-offline 1
kill -CONT "$kv2"
grep -q "kv2 primary (pid $kv2): re-pinned by clusterd" <<<"$OUT" || fail "cpu-offline 1 with kv2 stopped says: $OUT"
grep -q "kv1 primary (pid $kv1): re-pinned by twin-vmm" <<<"$OUT" || fail "cpu-offline 1 with kv2 stopped says: $OUT"
grep -q "pid $kv2: no answer to set-cpus within 3000 ms: pinning it from clusterd" "$dir/clusterd.log" || fail "clusterd did not log the late set-cpus"
assert_threads "$kv2" 0 "cpu-offline 1, kv2 stopped"
# Its set-cpus stayed queued on its connection: it runs first, then this one, in order.
twin_ok host cpu-online 1
grep -q "kv2 primary (pid $kv2): re-pinned by twin-vmm" <<<"$OUT" || fail "cpu-online 1 after kv2's stop says: $OUT"
assert_threads "$kv2" 0-1 "cpu-online 1, kv2 running again"

# --hotplug: the (fake) sysfs file too, and back.
twin_ok host cpu-offline 1 --hotplug
grep -q "CPU 1 is offline for Twin and in the kernel" <<<"$OUT" || fail "cpu-offline 1 --hotplug says: $OUT"
[ "$(cat "$sysfs/cpu1/online")" = 0 ] || fail "cpu-offline --hotplug did not write 0 to cpu1/online"
assert_threads "$kv2" 0 "cpu-offline 1 --hotplug"
[ "$(cpus_json '[j["cpus"][1]["online"], j["cpus"][1]["hotplugged"], j["hotplugged"]]')" = "[False, True, '1']" ] ||
	fail "host cpus --json after --hotplug: $OUT"
twin_ok host cpus
grep -Eq '^1 +offline +offline \(hotplugged\) +-$' <<<"$OUT" || fail "host cpus after --hotplug: $OUT"
twin_ok host cpu-online 1
[ "$(cat "$sysfs/cpu1/online")" = 1 ] || fail "cpu-online of a hotplugged CPU did not write 1 to cpu1/online"
assert_threads "$kv2" 0-1 "cpu-online 1 after --hotplug"

# The set survives a clusterd restart: the new clusterd and the VMs it starts avoid CPU 1.
twin_ok host cpu-offline 1
kill -TERM "$CLUSTERD_PID"
wait_exit "$CLUSTERD_PID" 15
[ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["offline"])' "$dir/state/cpus.json")" = 1 ] ||
	fail "cpus.json: $(cat "$dir/state/cpus.json")"
start_clusterd "$dir/clusterd2.log"
grep -q "cpus: restored from $dir/state/cpus.json: CPUs 1 offline for Twin" "$dir/clusterd2.log" ||
	{ show_file "$dir/clusterd2.log"; fail "the restart did not restore the CPUs offline for Twin"; }
start_vm kv1
assert_threads "$PID" 0 "a VM started by the restarted clusterd"
twin_ok host cpu-online 1
assert_threads "$PID" 0-1 "cpu-online 1 after the restart"
note "ok"
