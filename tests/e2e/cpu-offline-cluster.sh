#!/bin/bash
# e2e: CPU offlining in a three-host cluster with a protected kv guest: on the backup's host the backup twin-vmm re-pins itself (set-cpus on a backup), and after a failover the vCPU threads it starts inherit the set (real affinity); cpu-online gives the CPU back.  No sysfs write (no --hotplug).
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
[ "$(grep -c ^processor /proc/cpuinfo)" -ge 2 ] || fail "this test needs 2 CPUs: the lab has 2 (LAB.md)"
cluster_up ccpu 1000
cluster_start_protected h1 kv1 198.18.2.10 52:54:00:12:34:56
B=$CL_BACKUP
P=$CL_PRIMARY

# the_vmm HOST: the one twin-vmm pid in HOST.
the_vmm()
{
	local pids
	pids=$(cluster_vmm_pids "$1")
	[ "$(wc -w <<<"$pids")" = 1 ] || fail "$1 runs twin-vmm(s) '$pids', not one"
	echo "$pids"
}

# assert_threads PID LIST WHAT VCPUS: every thread of PID may run on exactly LIST (the
# kernel's Cpus_allowed_list), and VCPUS of them are named vcpuN.
assert_threads()
{
	local t got n=0 vcpus=0
	for t in /proc/"$1"/task/*; do
		got=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null || true)
		[ -n "$got" ] || continue
		[ "$got" = "$2" ] || fail "$3: thread ${t##*/} ($(cat "$t/comm")) of twin-vmm $1 may run on CPUs $got, not $2"
		n=$((n + 1))
		[[ "$(cat "$t/comm" 2>/dev/null)" != vcpu[0-9]* ]] || vcpus=$((vcpus + 1))
	done
	[ "$vcpus" = "$4" ] || fail "$3: twin-vmm $1 has $vcpus vCPU threads, not $4"
	note "$3: all $n threads of twin-vmm $1 on CPUs $2"
}

backup=$(the_vmm "$B")
primary=$(the_vmm "$P")
assert_threads "$backup" 0-1 "the backup, before" 0

# Offline CPU 1 on the backup's host: the backup (connected after its initial sync) re-pins
# itself; the primary's host is not concerned.
twin_run off "$B" host cpu-offline 1
assert_status off 0
grep -q "kv1 backup (pid $backup): re-pinned by twin-vmm" "$E2E_TMP/off.out" ||
	fail "cpu-offline 1 on $B says: $(cat "$E2E_TMP/off.out")"
assert_threads "$backup" 0 "the backup after cpu-offline 1" 0
assert_threads "$primary" 0-1 "the primary on the other host" 1
twin_run cpus "$B" host cpus --json
assert_status cpus 0
python3 - "$E2E_TMP/cpus.out" "$backup" <<'PY' || fail "host cpus --json on $B: $(cat "$E2E_TMP/cpus.out")"
import json, sys
j = json.load(open(sys.argv[1]))
vm = j["vms"][0]
assert j["offline"] == "1" and j["allowed"] == "0", j
assert vm["vm"] == "kv1" and vm["role"] == "backup" and vm["pid"] == int(sys.argv[2]), vm
assert vm["allowed"] == "0" and vm["vcpus"] == [], vm
assert all(c["vcpus"] == [] for c in j["cpus"]), j["cpus"]
PY

# The primary dies: the backup activates, and the vCPU threads it starts now stay off CPU 1.
kill -KILL "$primary"
cluster_wait "$B" kv1 "$CL_CHANGE_SECS" "v['primary'] == '$B' and v['state'] in ('running', 'protecting', 'protected')" >/dev/null
[ "$(the_vmm "$B")" = "$backup" ] || fail "the twin-vmm on $B is not the backup that activated"
assert_threads "$backup" 0 "the activated backup" 1
twin_run cpus2 "$B" host cpus
assert_status cpus2 0
grep -Eq '^0 +online +online +kv1/vcpu0$' "$E2E_TMP/cpus2.out" || fail "host cpus on $B: $(cat "$E2E_TMP/cpus2.out")"
grep -Eq '^1 +online +offline +-$' "$E2E_TMP/cpus2.out" || fail "host cpus on $B: $(cat "$E2E_TMP/cpus2.out")"

twin_run on "$B" host cpu-online 1
assert_status on 0
grep -q "kv1 primary (pid $backup): re-pinned by twin-vmm" "$E2E_TMP/on.out" ||
	fail "cpu-online 1 on $B says: $(cat "$E2E_TMP/on.out")"
assert_threads "$backup" 0-1 "cpu-online 1" 1
cluster_passed
note "ok"
