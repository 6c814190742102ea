#!/bin/bash
# e2e: a retired frame stays held by twin-clusterd after its VM's twin-vmm exits (twin vm stop), until `twin host mem-online PFN` releases it or clusterd exits; frames retired or brought back through twin-vmm's control socket are followed too.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
CLI=${TWIN_CLI:?TWIN_CLI is not set: run this test through make check}
[ -x "$CLI" ] || fail "the twin CLI is not built at $CLI: run make first"

clusterd_lab_up
# memwriter writes its 16 pages slowly until stopped.
cat >"$dir/vms/mw1.cfg" <<-EOT
name = mw1
memory = 64
kernel = $(guest memwriter)
cmdline = "pages=16 rate=1 ws=16 vcpus=1 iters=100000000 progress=100"
EOT
printf '[metrics]\nlisten = 198.18.0.1:9464\n' >>"$dir/clusterd.conf"
start_corosync
start_clusterd "$dir/clusterd.log"

# ok NAME ARGS...: `twin host ARGS` exits 0.
ok()
{
	twin_host "$@"
	[ "$RUN_RC" -eq 0 ] || { show_file "$E2E_TMP/$1.err"; fail "twin host ${*:2}: exit $RUN_RC"; }
}

# mem.py: pfn PID GPA (twin-vmm PID's frame of a GPA); ctl SOCK JSON (one control request,
# the reply printed); ino SOCK PFN (the hold pipe inode query-mem names for old_pfn PFN);
# page PATH (the 4 KiB a hold pipe references, as hex, read with tee(2): the pipe keeps
# them); fdof PID INO (PID's fd on pipe:[INO], or nothing).
cat >"$E2E_TMP/mem.py" <<'PY'
import ctypes, json, os, socket, struct, sys
PAGE = 4096
what = sys.argv[1]

def ctl(path, req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()
    f.write(req + "\n")
    f.flush()
    return json.loads(f.readline())

if what == "pfn":
    pid, gpa = int(sys.argv[2]), int(sys.argv[3], 0)
    maps = [l.split() for l in open("/proc/%d/maps" % pid)]
    base = [int(m[0].split("-")[0], 16) for m in maps
            if len(m) >= 6 and m[5] == "/memfd:twin-guest-ram" and int(m[2], 16) == 0][0]
    pm = open("/proc/%d/pagemap" % pid, "rb", buffering=0)
    pm.seek((base + gpa) // PAGE * 8)
    e = struct.unpack("<Q", pm.read(8))[0]
    assert e >> 63 and e & ((1 << 55) - 1), "GPA 0x%x of pid %d has no frame" % (gpa, pid)
    print("0x%x" % (e & ((1 << 55) - 1)))
elif what == "ctl":
    print(json.dumps(ctl(sys.argv[2], sys.argv[3])))
elif what == "ino":
    r = ctl(sys.argv[2], '{"execute": "query-mem"}')["return"]["offline"]
    print([e["hold_ino"] for e in r if e["old_pfn"] == int(sys.argv[3], 0)][0])
elif what == "page":
    libc = ctypes.CDLL(None, use_errno=True)
    src = os.open(sys.argv[2], os.O_RDONLY | os.O_NONBLOCK)
    rd, wr = os.pipe()
    n = libc.tee(src, wr, PAGE, 2)  # SPLICE_F_NONBLOCK: never waits
    assert n == PAGE, "tee from %s gave %d (errno %d)" % (sys.argv[2], n, ctypes.get_errno())
    print(os.read(rd, PAGE).hex())
else:
    pid, ino = sys.argv[2], sys.argv[3]
    for fd in os.listdir("/proc/%s/fd" % pid):
        try:
            if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == "pipe:[%s]" % ino:
                print(fd)
        except OSError:
            pass
PY
mem() { python3 "$E2E_TMP/mem.py" "$@"; }

# kpage FILE PFN: the PFN's 64-bit entry in /proc/kpagecount or /proc/kpageflags.
kpage()
{
	python3 -c 'import struct, sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2], 0) * 8)
print(struct.unpack("<Q", f.read(8))[0])' "$1" "$2"
}

# assert_allocated PFN WHAT: kpageflags say the frame is not free (no BUDDY, bit 10) and
# still the shmem page it was (SWAPBACKED, bit 14).
assert_allocated()
{
	local flags
	flags=$(kpage /proc/kpageflags "$1")
	[ $((flags >> 10 & 1)) = 0 ] && [ $((flags >> 14 & 1)) = 1 ] ||
		fail "PFN $1 $2: kpageflags 0x$(printf %x "$flags"): free or reused"
}

pages_offline()
{
	lab a exec h1 curl -sf http://198.18.0.1:9464/metrics | sed -n 's/^twin_host_pages_offline{.*} //p'
}

# status_until NAME ERE: mem-status until its output has a line matching ERE (clusterd
# reaps the twin-vmm on its own loop), at most 20 s.
status_until()
{
	local deadline=$((SECONDS + 20))
	until ok "$1" mem-status && grep -qE -- "$2" "$E2E_TMP/$1.out"; do
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$E2E_TMP/$1.out"; fail "mem-status: no '$2' in 20 s"; }
		sleep 0.1
	done
}

clusterd_pid=
for pid in $(pgrep -f -- "--config $dir/clusterd.conf"); do
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = twin-clusterd ] && clusterd_pid=$pid
done
[ -n "$clusterd_pid" ] || fail "no twin-clusterd process"
request '{"execute": "vm-start", "arguments": {"path": "mw1"}}' | grep -q '"return"' || fail "vm-start mw1"
wait_for_text "$dir/state/vms/mw1/log" "memwriter: iter=100" "$E2E_BOOT_TIMEOUT" ||
	{ show_file "$dir/state/vms/mw1/log"; fail "mw1 never wrote"; }
sock=$dir/state/vms/mw1/control.sock
p1=$(pgrep -f -- "--control $sock")
[ -n "$p1" ] || fail "no twin-vmm for mw1"

# A: by PFN through clusterd.  B: straight through twin-vmm's control socket (clusterd sees
# it at its next query-mem: this mem-status).  C: through clusterd, then back online through
# the control socket: clusterd lets its copy go.
pfa=$(mem pfn "$p1" 0x1005000) pfb=$(mem pfn "$p1" 0x1007000) pfc=$(mem pfn "$p1" 0x1009000)
ok offa mem-offline "$pfa"
assert_match "$E2E_TMP/offa.out" "^PFN $pfa retired: GPA 0x1005000 of VM mw1 \(primary\)"
mem ctl "$sock" '{"execute": "mem-offline", "arguments": {"gpa": 16805888}}' | grep -q '"return"' ||
	fail "mem-offline of GPA 0x1007000 over the control socket"
ok offc mem-offline "$pfc"
inoa=$(mem ino "$sock" "$pfa") inob=$(mem ino "$sock" "$pfb") inoc=$(mem ino "$sock" "$pfc")
ok st1 mem-status
for pf in "$pfa" "$pfb" "$pfc"; do
	grep -qE "host mem: PFN $pf \(GPA 0x10[0-9a-f]+ of VM mw1\) held by clusterd too \(/proc/$p1/fd/[0-9]+\)" "$dir/clusterd.log" ||
		{ show_file "$dir/clusterd.log"; fail "clusterd did not take PFN $pf's hold pipe"; }
done
for ino in "$inoa" "$inob" "$inoc"; do
	[ -n "$(mem fdof "$clusterd_pid" "$ino")" ] || fail "clusterd has no fd on hold pipe pipe:[$ino]"
done
mem ctl "$sock" "{\"execute\": \"mem-online\", \"arguments\": {\"pfn\": $((pfc))}}" | grep -q '"return"' ||
	fail "mem-online of PFN $pfc over the control socket"
ok st2 mem-status
assert_has_line "$E2E_TMP/st2.out" "2 frames quarantined"
grep -qE "host mem: PFN $pfc .*no longer held by clusterd: its twin-vmm brought the page back online" "$dir/clusterd.log" ||
	{ show_file "$dir/clusterd.log"; fail "clusterd kept PFN $pfc after its online"; }
[ -z "$(mem fdof "$clusterd_pid" "$inoc")" ] || fail "clusterd still has pipe:[$inoc] open after PFN $pfc came back"

# Before the stop: twin-vmm maps the held frames (kpagecount is a map count).
for pf in "$pfa" "$pfb"; do
	[ "$(kpage /proc/kpagecount "$pf")" -ge 1 ] || fail "PFN $pf: kpagecount 0 while twin-vmm holds it"
	assert_allocated "$pf" "while twin-vmm holds it"
done
page_a=$(mem page "/proc/$p1/fd/$(mem fdof "$p1" "$inoa")")

lab a exec h1 "$CLI" vm stop mw1 >"$E2E_TMP/stop.out" 2>&1 || { show_file "$E2E_TMP/stop.out"; fail "twin vm stop mw1"; }
deadline=$((SECONDS + 20))
while kill -0 "$p1" 2>/dev/null; do
	[ "$SECONDS" -lt "$deadline" ] || fail "mw1's twin-vmm $p1 still runs 20 s after twin vm stop"
	sleep 0.1
done

# After it: clusterd alone holds A and B.
state="held by clusterd: the VM's twin-vmm exited"
status_until st3 "^mw1 +primary +0x1005000 +$pfa +0x[0-9a-f]+ +yes .*  $state$"
assert_match "$E2E_TMP/st3.out" "^mw1 +primary +0x1007000 +$pfb +0x[0-9a-f]+ +yes .*  $state$"
assert_has_line "$E2E_TMP/st3.out" "2 frames quarantined"
assert_has_line "$E2E_TMP/st3.out" "2 of them held by clusterd alone, their VM's twin-vmm gone: twin host mem-online OLD-PFN gives one back to the kernel"
ok st3j mem-status --json
python3 - "$E2E_TMP/st3j.out" "$pfa" "$pfb" "$state" <<'PY' || fail "mem-status --json: $(cat "$E2E_TMP/st3j.out")"
import json, sys
r = json.load(open(sys.argv[1]))
got = sorted((e["old_pfn"], e["vm"], e["state"], e["held"]) for e in r["offline"])
want = sorted((int(p, 0), "mw1", sys.argv[4], True) for p in sys.argv[2:4])
assert got == want and not r["errors"], (got, want)
PY
grep -qE "host mem: VM mw1's twin-vmm \(pid $p1\) exited: PFN $pfa \(its GPA 0x1005000\) stays held by clusterd" "$dir/clusterd.log" ||
	{ show_file "$dir/clusterd.log"; fail "clusterd did not log that it holds PFN $pfa"; }
[ "$(pages_offline)" = 2 ] || fail "twin_host_pages_offline is '$(pages_offline)' after the stop, expected 2"
for pf in "$pfa" "$pfb"; do
	# No mapping is left, so the map count is 0; the frame is still allocated.
	note "PFN $pf after the stop: kpagecount $(kpage /proc/kpagecount "$pf")"
	assert_allocated "$pf" "after its twin-vmm exited"
done
fda=$(mem fdof "$clusterd_pid" "$inoa")
[ -n "$fda" ] || fail "clusterd has no fd on pipe:[$inoa] after the stop"
[ "$(mem page "/proc/$clusterd_pid/fd/$fda")" = "$page_a" ] ||
	fail "the page clusterd's pipe references differs from the one twin-vmm held"

# mem-online releases A: it leaves mem-status, clusterd closes the pipe.
ok ona mem-online "$pfa"
assert_match "$E2E_TMP/ona.out" "^PFN $pfa \(was GPA 0x1005000 of VM mw1, whose twin-vmm exited\) released: clusterd no longer holds it, the kernel may reuse it$"
ok st4 mem-status
! grep -q "^mw1 .* $pfa " "$E2E_TMP/st4.out" || { show_file "$E2E_TMP/st4.out"; fail "PFN $pfa still listed after mem-online"; }
assert_has_line "$E2E_TMP/st4.out" "1 frame quarantined"
[ -z "$(mem fdof "$clusterd_pid" "$inoa")" ] || fail "clusterd still has pipe:[$inoa] open after mem-online"
[ "$(pages_offline)" = 1 ] || fail "twin_host_pages_offline is '$(pages_offline)' after one mem-online, expected 1"
twin_host again mem-online "$pfa"
[ "$RUN_RC" -eq 1 ] && grep -q "PFN $pfa is not a frame Twin took offline on this host" "$E2E_TMP/again.err" ||
	{ show_file "$E2E_TMP/again.err"; fail "a second mem-online of $pfa: exit $RUN_RC"; }

# clusterd's exit gives B back, and says so.
kill -TERM "$clusterd_pid"
deadline=$((SECONDS + 20))
while kill -0 "$clusterd_pid" 2>/dev/null; do
	[ "$SECONDS" -lt "$deadline" ] || fail "twin-clusterd still runs 20 s after SIGTERM"
	sleep 0.1
done
grep -qE "host mem: clusterd exits: PFN $pfb \(GPA 0x1007000 of VM mw1\) is no longer held by clusterd: it goes back to the kernel now; memmap= at boot or soft_offline_page keeps it out of use for good" "$dir/clusterd.log" ||
	{ show_file "$dir/clusterd.log"; fail "clusterd's exit did not name PFN $pfb"; }
note "ok: 3 retired (2 via clusterd, 1 via the control socket), 1 back via the socket; after twin vm stop clusterd held 2 (kpageflags allocated, same page through its pipe), mem-online released one, clusterd's exit named the other"
