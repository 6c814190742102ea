#!/bin/bash
# e2e: `twin host mem-offline/-online/-status` through twin-clusterd: the twin-vmm that owns a PFN retires it, a frame of no VM is refused, memwriter's invariants and checksum hold, the metrics count the quarantine, which clusterd keeps once the VM ends.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
CLI=${TWIN_CLI:?TWIN_CLI is not set: run this test through make check}
[ -x "$CLI" ] || fail "the twin CLI is not built at $CLI: run make first"

# mw1 runs ~40 s to its checksum (longer than the steps below on a loaded lab); mw2 writes
# slowly until stopped.  Both have their working sets at 16 MiB (memwriter's base), so the
# same GPA lives in two VMs.
PAGES=64 ITERS=3000
want=$(expected_checksum "$PAGES" "$PAGES" 1 "$ITERS")
clusterd_lab_up
for vm in mw1 mw2; do
	if [ $vm = mw1 ]; then args="pages=$PAGES rate=5 ws=$PAGES vcpus=1 iters=$ITERS progress=100"; else
		args="pages=16 rate=1 ws=16 vcpus=1 iters=100000000 progress=100"; fi
	cat >"$dir/vms/$vm.cfg" <<-EOT
	name = $vm
	memory = 64
	kernel = $(guest memwriter)
	cmdline = "$args"
	EOT
done
# The frames retired show in the host's metrics.
printf '[metrics]\nlisten = 198.18.0.1:9464\n' >>"$dir/clusterd.conf"
start_corosync
start_clusterd "$dir/clusterd.log"

# refused NAME ERE ARGS...: `twin host ARGS` exits 1 with ERE on stderr.
refused()
{
	local name=$1 re=$2
	shift 2
	twin_host "$name" "$@"
	[ "$RUN_RC" -eq 1 ] || { show_file "$E2E_TMP/$name.out"; fail "$name: exit $RUN_RC, expected 1"; }
	grep -qE -- "$re" "$E2E_TMP/$name.err" || { show_file "$E2E_TMP/$name.err"; fail "$name: no '$re'"; }
}

vmm_pid()
{
	pgrep -f -- "--control $dir/state/vms/$1/control.sock" || true
}

# mem.py PID pfn GPA | check PAGES | other: twin-vmm PID's frame of a GPA; memwriter's
# invariants over its first PAGES pages (read live through /proc/PID/mem); a PFN of
# twin-vmm's own that is no guest RAM (its stack).
cat >"$E2E_TMP/mem.py" <<'PY'
import struct, sys
pid, what = int(sys.argv[1]), sys.argv[2]
PAGE, BASE, MUL, MASK = 4096, 0x1000000, 0x9e3779b97f4a7c15, (1 << 64) - 1
maps = [l.split() for l in open("/proc/%d/maps" % pid)]
pagemap = open("/proc/%d/pagemap" % pid, "rb", buffering=0)

def pfn(addr):
    pagemap.seek(addr // PAGE * 8)
    e = struct.unpack("<Q", pagemap.read(8))[0]
    assert e >> 63 and e & ((1 << 55) - 1), "page 0x%x of pid %d has no frame" % (addr, pid)
    return e & ((1 << 55) - 1)

base = [int(m[0].split("-")[0], 16) for m in maps
        if len(m) >= 6 and m[5] == "/memfd:twin-guest-ram" and int(m[2], 16) == 0][0]
if what == "pfn":
    print("0x%x" % pfn(base + int(sys.argv[3], 0)))
elif what == "other":
    stack = [m for m in maps if len(m) >= 6 and m[5] == "[stack]"][0]
    print("0x%x" % pfn(int(stack[0].split("-")[1], 16) - PAGE))
else:
    mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
    for i in range(int(sys.argv[3])):
        mem.seek(base + BASE + i * PAGE)
        words = struct.unpack("<512Q", mem.read(PAGE))
        w0, newer = words[0], True
        for j in range(1, 512):
            if newer and words[j] == ((w0 + 1) * MUL + j) & MASK:
                continue
            newer = False
            if words[j] != (w0 * MUL + j) & MASK and not (w0 == 0 and words[j] == 0):
                sys.exit("page %d breaks memwriter's invariant: word 0 = %d, word %d = 0x%x"
                         % (i, w0, j, words[j]))
PY
mem() { python3 "$E2E_TMP/mem.py" "$@"; }

# pages_offline: how many frames the metrics say are quarantined on this host.
pages_offline()
{
	lab a exec h1 curl -sf http://198.18.0.1:9464/metrics | sed -n 's/^twin_host_pages_offline{.*} //p'
}

# assert_pages_offline N
assert_pages_offline()
{
	local got
	got=$(pages_offline)
	[ "$got" = "$1" ] || fail "twin_host_pages_offline is '$got', expected $1"
}

for vm in mw1 mw2; do
	request "{\"execute\": \"vm-start\", \"arguments\": {\"path\": \"$vm\"}}" | grep -q '"return"' ||
		fail "vm-start $vm"
done
for vm in mw1 mw2; do
	wait_for_text "$dir/state/vms/$vm/log" "memwriter: iter=100" "$E2E_BOOT_TIMEOUT" ||
		{ show_file "$dir/state/vms/$vm/log"; fail "$vm never wrote"; }
done
p1=$(vmm_pid mw1) p2=$(vmm_pid mw2)
[ -n "$p1" ] && [ -n "$p2" ] || fail "no twin-vmm for mw1 or mw2"

# By PFN: mw2's frame, whichever twin-vmm clusterd asks first.
pfn2=$(mem "$p2" pfn 0x1005000)
twin_host off2 mem-offline "$pfn2"
[ "$RUN_RC" -eq 0 ] || { show_file "$E2E_TMP/off2.err"; fail "mem-offline $pfn2: exit $RUN_RC"; }
assert_match "$E2E_TMP/off2.out" "^PFN $pfn2 retired: GPA 0x1005000 of VM mw2 \(primary\) moved to PFN 0x[0-9a-f]+ \(the VM paused [0-9]+ us\)$"
[ "$(mem "$p2" pfn 0x1005000)" != "$pfn2" ] || fail "mw2's page is still on $pfn2"
# By GPA, in mw1.
pfn1=$(mem "$p1" pfn 0x1003000)
twin_host off1 mem-offline --vm mw1 --gpa 0x1003000
[ "$RUN_RC" -eq 0 ] || { show_file "$E2E_TMP/off1.err"; fail "mem-offline --vm mw1: exit $RUN_RC"; }
assert_match "$E2E_TMP/off1.out" "^PFN $pfn1 retired: GPA 0x1003000 of VM mw1 \(primary\)"
# Many more under mw1's writer, by PFN.
for i in $(seq 8 4 60); do
	twin_host many mem-offline "$(mem "$p1" pfn $((0x1000000 + i * 4096)))"
	[ "$RUN_RC" -eq 0 ] || { show_file "$E2E_TMP/many.err"; fail "mem-offline of mw1's page $i"; }
done
mem "$p1" check "$PAGES" || fail "mw1's memory breaks memwriter's invariant"
mem "$p2" check 16 || fail "mw2's memory breaks memwriter's invariant"
assert_pages_offline 16

# mem-status: the table, --json, one PFN.
twin_host st mem-status
assert_match "$E2E_TMP/st.out" "^mw2 +primary +0x1005000 +$pfn2 +0x[0-9a-f]+ +yes "
assert_match "$E2E_TMP/st.out" "^mw1 +primary +0x1003000 +$pfn1 +0x[0-9a-f]+ +yes "
assert_has_line "$E2E_TMP/st.out" "16 frames quarantined"
! grep -q " NO " "$E2E_TMP/st.out" || { show_file "$E2E_TMP/st.out"; fail "mem-status: a frame not held"; }
twin_host stj mem-status --json
python3 - "$E2E_TMP/stj.out" <<'PY' || fail "mem-status --json: $(cat "$E2E_TMP/stj.out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["offline"]) == 16 and not r["errors"], r
assert all(e["held"] is True for e in r["offline"]), r
assert sorted(set(e["vm"] for e in r["offline"])) == ["mw1", "mw2"], r
PY
twin_host st1 mem-status "$pfn2"
assert_match "$E2E_TMP/st1.out" "^mw2 +primary +0x1005000 +$pfn2 "
assert_has_line "$E2E_TMP/st1.out" "1 frame quarantined"
twin_host st0 mem-status 0x1
assert_has_line "$E2E_TMP/st0.out" "PFN 0x1 is not offline on this host"

# Refusals.
other=$(mem "$p1" other)
refused notours "PFN $other backs no Twin VM on this host: Twin retires only frames of its own VMs" \
	mem-offline "$other"
refused again "already offline since" mem-offline "$pfn2"
refused novm "VM nosuch has no twin-vmm on this host" mem-offline --vm nosuch --gpa 0x1000000
refused unaligned "GPA 0x1000001 is not page aligned" mem-offline --vm mw1 --gpa 0x1000001
refused outside "outside the VM's RAM" mem-offline --vm mw1 --gpa 0x10000000
refused notoff "PFN 0x1 is not a frame Twin took offline on this host" mem-online 0x1
refused notoffgpa "GPA 0x1000000 is not offline" mem-online --vm mw1 --gpa 0x1000000

# Online: by PFN and by GPA.
twin_host on2 mem-online "$pfn2"
assert_match "$E2E_TMP/on2.out" "^GPA 0x1005000 of VM mw2 \(primary\) is back on PFN 0x[0-9a-f]+$"
twin_host on1 mem-online --vm mw1 --gpa 0x1003000
assert_match "$E2E_TMP/on1.out" "^GPA 0x1003000 of VM mw1 \(primary\) is back on PFN 0x[0-9a-f]+$"
twin_host st2 mem-status
assert_has_line "$E2E_TMP/st2.out" "14 frames quarantined"
assert_pages_offline 14
mem "$p2" check 16 || fail "mw2's memory breaks memwriter's invariant after online"

# mw1 ends with its checksum, 14 pages still retired.
wait_for_text "$dir/state/vms/mw1/log" "memwriter: done" 120 ||
	{ show_file "$dir/state/vms/mw1/log"; fail "mw1 never finished"; }
assert_match "$dir/state/vms/mw1/log" "^memwriter: done iters=$ITERS pages=$PAGES vcpus=1 checksum=$want"
# Its twin-vmm gone, clusterd holds its quarantine (mem-offline-keep.sh): still counted.
deadline=$((SECONDS + 20))
until [ -z "$(vmm_pid mw1)" ] || [ "$(vmm_pid mw1)" != "$p1" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "mw1's twin-vmm $p1 still runs after its guest ended"
	sleep 0.1
done
until twin_host st3 mem-status && grep -q "^14 of them held by clusterd alone" "$E2E_TMP/st3.out"; do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$E2E_TMP/st3.out"; fail "mw1's 14 frames not held by clusterd after its twin-vmm exited"; }
	sleep 0.1
done
assert_pages_offline 14
note "ok: 16 retired through clusterd, 2 brought back, refusals named, metrics 16/14, 14 kept by clusterd after mw1 ended, mw1's checksum $want"
