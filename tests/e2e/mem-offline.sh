#!/bin/bash
# e2e: pages retired under a running memwriter (by GPA and by host PFN, over twin-vmm's control socket) keep its invariants and checksum; every refusal is clear; save reads retired pages right.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
kernel=$(guest memwriter)

# 2 vCPUs, 256 pages each, 20 pages/ms per vCPU: ~13 ms an iteration, ~32 s in all, far
# longer than the retirements below, which never wait on the guest's clock.
PAGES=256 ITERS=2500 VCPUS=2
CMDLINE="pages=$PAGES rate=20 ws=$PAGES vcpus=$VCPUS iters=$ITERS progress=50"
want=$(expected_checksum "$PAGES" "$PAGES" "$VCPUS" "$ITERS")
serial="$E2E_TMP/serial.txt"
sock="$E2E_TMP/vm.sock"

: >"$serial"
start_bg vm "$TWIN_VMM" run --kernel "$kernel" --vcpus "$VCPUS" --mem 64M --cmdline "$CMDLINE" \
	--serial "file:$serial" --control "$sock"
pid=$BG_PID
if ! wait_for_text "$serial" "memwriter: iter=" "$E2E_BOOT_TIMEOUT"; then
	show_file "$serial"
	show_file "$E2E_TMP/vm.err"
	fail "the guest never printed its heartbeat"
fi

if ! python3 - "$sock" "$pid" "$PAGES" "$VCPUS" <<'PY'; then
import ctypes, json, mmap, socket, struct, sys

sock_path, vmm_pid, pages, vcpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
PAGE, BASE, MUL, MASK = 4096, 0x1000000, 0x9e3779b97f4a7c15, (1 << 64) - 1
PFN_MASK = (1 << 55) - 1


def fail(msg):
    sys.exit("mem-offline: " + msg)


class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(sock_path)
        self.f = self.s.makefile("rwb")
        self.read()

    def read(self):
        return json.loads(self.f.readline())

    def cmd(self, name, want_class=None, want_desc=None, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        r = self.read()
        if want_class:
            err = r.get("error", {})
            if err.get("class") != want_class or want_desc not in err.get("desc", ""):
                fail("%s %r: expected %s with %r, got %r" % (name, args, want_class, want_desc, r))
            return err["desc"]
        if "return" not in r:
            fail("%s %r failed: %r" % (name, args, r))
        return r["return"]


def ram_base():
    """The host address of GPA 0: the RAM memfd's mapping at offset 0 in twin-vmm."""
    with open("/proc/%d/maps" % vmm_pid) as f:
        for line in f:
            cols = line.split()
            if len(cols) >= 6 and cols[5] == "/memfd:twin-guest-ram" and int(cols[2], 16) == 0:
                return int(cols[0].split("-")[0], 16)
    fail("no /memfd:twin-guest-ram mapping at offset 0 in twin-vmm's maps")


base = ram_base()
pagemap = open("/proc/%d/pagemap" % vmm_pid, "rb", buffering=0)
mem = open("/proc/%d/mem" % vmm_pid, "rb", buffering=0)


def pfn_of(gpa):
    pagemap.seek((base + gpa) // PAGE * 8)
    e = struct.unpack("<Q", pagemap.read(8))[0]
    if not e >> 63:
        fail("GPA 0x%x has no frame in twin-vmm's pagemap" % gpa)
    return e & PFN_MASK


def page(gpa):
    mem.seek(base + gpa)
    return mem.read(PAGE)


def check_page(gpa, data):
    """memwriter's invariant for one page: words 1..511 of iteration w0+1 (being written,
    a prefix) then of w0 (word 0 is written last), or all of w0; w0 = 0: never written."""
    words = struct.unpack("<512Q", data)
    w0, newer = words[0], True
    for j in range(1, 512):
        if newer and words[j] == ((w0 + 1) * MUL + j) & MASK:
            continue
        newer = False
        if words[j] != (w0 * MUL + j) & MASK and not (w0 == 0 and words[j] == 0):
            fail("GPA 0x%x breaks memwriter's invariant: word 0 = %d, word %d = 0x%x"
                 % (gpa, w0, j, words[j]))
    return w0


def check_all(last):
    """Every page of every window: the invariant, and word 0 never goes back."""
    for i in range(pages * vcpus):
        gpa = BASE + i * PAGE
        w0 = check_page(gpa, page(gpa))
        if w0 < last.get(gpa, 0):
            fail("GPA 0x%x went back from iteration %d to %d" % (gpa, last[gpa], w0))
        last[gpa] = w0


c = Client()
last = {}
check_all(last)

# While stopped, a retirement must copy the page exactly; the old frame leaves the pagemap.
c.cmd("stop")
stopped = {}
for i in range(0, 32):
    gpa = BASE + i * 16 * PAGE
    before, old = page(gpa), pfn_of(gpa)
    r = c.cmd("mem-offline", gpa=gpa)
    if r["gpa"] != gpa or r["old_pfn"] != old or r["new_pfn"] in (0, old):
        fail("mem-offline gpa 0x%x: %r (pfn before 0x%x)" % (gpa, r, old))
    if pfn_of(gpa) != r["new_pfn"]:
        fail("GPA 0x%x is on PFN 0x%x, not the new 0x%x" % (gpa, pfn_of(gpa), r["new_pfn"]))
    if page(gpa) != before:
        fail("GPA 0x%x changed across its retirement" % gpa)
    stopped[gpa] = r
c.cmd("cont")

# Under the running writer: by GPA, and by the host PFN read from twin-vmm's pagemap.
pauses = [r["pause_ns"] for r in stopped.values()]
running = {}
for i in range(0, pages * vcpus, 7):
    gpa = BASE + i * PAGE
    if gpa in stopped:
        continue
    if i % 2:
        r = c.cmd("mem-offline", gpa=gpa)
    else:
        pfn = pfn_of(gpa)
        r = c.cmd("mem-offline", pfn=pfn)
        if r["old_pfn"] != pfn or r["gpa"] != gpa:
            fail("mem-offline pfn 0x%x: %r (GPA 0x%x)" % (pfn, r, gpa))
    running[gpa] = r
    pauses.append(r["pause_ns"])
    if i % 70 == 0:
        check_all(last)
retired = {**stopped, **running}
mine = set(pfn_of(g) for g in range(BASE, BASE + pages * vcpus * PAGE, PAGE))
for gpa, r in retired.items():
    if r["old_pfn"] in mine:
        fail("quarantined PFN 0x%x (GPA 0x%x) is still mapped in twin-vmm" % (r["old_pfn"], gpa))
q = c.cmd("query-mem")["offline"]
if sorted((e["gpa"], e["old_pfn"], e["new_pfn"]) for e in q) != \
        sorted((g, r["old_pfn"], r["new_pfn"]) for g, r in retired.items()):
    fail("query-mem does not list exactly the retired pages: %r" % q)
# Each quarantined frame is held where old_pfn says (re-read at the query), even after a
# forced compaction of all memory, which moves unheld pages.
with open("/proc/sys/vm/compact_memory", "w") as f:
    f.write("1")
loose = [e for e in c.cmd("query-mem")["offline"] if e["held"] is not True]
if loose:
    fail("quarantined frames not held after compact_memory: %r" % loose)

# Refusals, each with its class and words.
own = mmap.mmap(-1, PAGE)
own.write(b"x" * PAGE)  # a frame of this script's, never the VM's
addr = ctypes.addressof((ctypes.c_char * PAGE).from_buffer(own))
with open("/proc/self/pagemap", "rb", buffering=0) as f:
    f.seek(addr // PAGE * 8)
    own_pfn = struct.unpack("<Q", f.read(8))[0] & PFN_MASK
g, r = next(iter(stopped.items()))
c.cmd("mem-offline", "NotOwner", "backs no page of this VM", pfn=own_pfn)
c.cmd("mem-offline", "InvalidParameter", "beyond this machine's RAM", pfn=1 << 40)
c.cmd("mem-offline", "InvalidParameter", "not page aligned", gpa=BASE + 8)
c.cmd("mem-offline", "InvalidParameter", "outside the VM's RAM", gpa=64 << 20)
c.cmd("mem-offline", "InvalidParameter", "exactly one of", gpa=BASE, pfn=own_pfn)
c.cmd("mem-offline", "InvalidParameter", "exactly one of")
c.cmd("mem-offline", "InvalidParameter", "non-negative integer", gpa="0x1000")
c.cmd("mem-offline", "GenericError", "already offline since", gpa=g)
c.cmd("mem-offline", "GenericError", "already offline since", pfn=r["old_pfn"])
c.cmd("mem-online", "GenericError", "is not offline", gpa=BASE + PAGE)
c.cmd("mem-online", "NotOwner", "is not a frame this VM took offline", pfn=own_pfn)

# Half of them back online, by GPA and by the quarantined PFN.
for n, (gpa, r) in enumerate(sorted(retired.items())[::2]):
    back = c.cmd("mem-online", **({"gpa": gpa} if n % 2 else {"pfn": r["old_pfn"]}))
    if back["gpa"] != gpa or pfn_of(gpa) != back["pfn"]:
        fail("mem-online of GPA 0x%x: %r, pagemap says 0x%x" % (gpa, back, pfn_of(gpa)))
    del retired[gpa]
if len(c.cmd("query-mem")["offline"]) != len(retired):
    fail("query-mem after online does not list the %d pages still offline" % len(retired))
check_all(last)
pauses.sort()
print("mem-offline: %d pages retired (%d while stopped), %d still offline; pause per page "
      "p50 %d us, p99 %d us, max %d us"
      % (len(pauses), len(stopped), len(retired), pauses[len(pauses) // 2] // 1000,
         pauses[len(pauses) * 99 // 100] // 1000, pauses[-1] // 1000))
c.f.close()
c.s.close()
PY
	show_file "$E2E_TMP/vm.err"
	fail "the retirement session failed"
fi

# The guest runs to its end and reads back exactly what it wrote.
wait_bounded "$pid" 120
[ "$WAIT_RC" -eq 1 ] || { show_file "$serial"; show_file "$E2E_TMP/vm.err"; fail "twin-vmm exited $WAIT_RC, expected 1 (guest OK)"; }
assert_has_line "$serial" "memwriter: done iters=$ITERS pages=$PAGES vcpus=$VCPUS checksum=$want"
# The frames still quarantined at exit are named for the host's operator.
grep -q "quarantined PFN 0x[0-9a-f]* (GPA 0x[0-9a-f]*) goes back to the kernel" "$E2E_TMP/vm.err" ||
	{ show_file "$E2E_TMP/vm.err"; fail "no exit warning about the quarantined frames"; }
note "under a running writer: checksum $want"

# save reads guest RAM through the mapping (the memfd's extents only say where data is):
# a VM saved with pages retired, one of them twice and one brought back, restores whole.
# The VM is stopped early (retiring works on a stopped VM too), so its restore is short.
PAGES=16 ITERS=400 VCPUS=1
CMDLINE="pages=$PAGES rate=1 ws=64 vcpus=$VCPUS iters=$ITERS progress=10"
want=$(expected_checksum "$PAGES" 64 "$VCPUS" "$ITERS")
sock="$E2E_TMP/save.sock"
start_bg src "$TWIN_VMM" run --kernel "$kernel" --vcpus "$VCPUS" --mem 64M --cmdline "$CMDLINE" \
	--serial "file:$E2E_TMP/src.serial" --control "$sock"
src=$BG_PID
wait_for_text "$E2E_TMP/src.serial" "memwriter: iter=20" "$E2E_BOOT_TIMEOUT" ||
	{ show_file "$E2E_TMP/src.serial"; fail "the save source never reached iteration 20"; }
ctl "$sock" stop >/dev/null
for i in $(seq 0 3 63); do
	ctl "$sock" mem-offline "{\"gpa\": $((0x1000000 + i * 4096))}" >/dev/null
done
new_pfn=$(ctl "$sock" query-mem | python3 -c 'import json,sys; print(json.load(sys.stdin)["offline"][0]["new_pfn"])')
ctl "$sock" mem-offline "{\"pfn\": $new_pfn}" >/dev/null
ctl "$sock" mem-online '{"gpa": 16789504}' >/dev/null
[ "$(ctl "$sock" query-mem | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["offline"]))')" = 22 ] ||
	fail "query-mem does not list 22 retirements before the save: $(ctl "$sock" query-mem)"
run_bounded "$E2E_BOOT_TIMEOUT" save "$TWIN_VMM" save --control "$sock" "$E2E_TMP/vm.twin"
assert_status save 0
ctl "$sock" quit >/dev/null
wait_bounded "$src" 20
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/src.err"; fail "quit after save exited $WAIT_RC"; }
grep -q "memwriter: done" "$E2E_TMP/src.serial" && fail "the source finished before its save"
run_bounded 120 restore "$TWIN_VMM" restore "$E2E_TMP/vm.twin" --serial "file:$E2E_TMP/restore.serial"
assert_status restore 1
assert_has_line "$E2E_TMP/restore.serial" \
	"memwriter: done iters=$ITERS pages=$PAGES vcpus=$VCPUS checksum=$want"
note "ok: saved with 22 retirements, restored: checksum $want"
