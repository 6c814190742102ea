#!/bin/bash
# e2e: twin vm peek and twin vm regs through twin-clusterd on one lab host read memwriter's RAM and registers; [api] admin_group/viewer_group: the socket is 0660 for the viewers' group, a viewer (setpriv) runs status but is refused peek, regs and vm stop, an admin-group member is served, anyone else cannot connect; bad arguments are refused.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
require_cmd setpriv util-linux
# As another user: Debian's python3, not one in root's own directories.
[ -x /usr/bin/python3 ] || fail "no /usr/bin/python3: apt-get install python3-minimal"
TWIN=${TWIN:?TWIN is not set: run this test through make check}
[ -x "$TWIN" ] || fail "no twin binary at $TWIN: build it (make)"
# Groups every Debian host has: viewers are nogroup (nobody's own), admins staff.
VIEWERS=nogroup
ADMINS=staff
viewer_gid=$(getent group "$VIEWERS" | cut -d: -f3) || fail "no group $VIEWERS on this host"
admin_gid=$(getent group "$ADMINS" | cut -d: -f3) || fail "no group $ADMINS on this host"
NOBODY=65534

# memwriter pages 1 per ms, endless: word 0 of a page is the iteration that wrote it last.
CMDLINE="pages=64 ws=64 rate=1 vcpus=1 iters=1000000000"
clusterd_lab_up
cat >>"$dir/clusterd.conf" <<EOT
[api]
admin_group = $ADMINS
viewer_group = $VIEWERS
EOT
cat >"$dir/vms/mw1.cfg" <<EOT
name = mw1
memory = 64
kernel = $(guest memwriter)
cmdline = "$CMDLINE"
EOT
start_corosync
start_clusterd "$dir/clusterd.log"

# twin NAME [SETPRIV-ARGS... --] ARGS...: the CLI in h1 (as root, or through setpriv with
# the arguments before --), bounded; RUN_RC and NAME.out/.err set.
twin()
{
	local name=$1 as=()
	shift
	if [ "${1:-}" = --as ]; then
		shift
		while [ "$1" != -- ]; do as+=("$1"); shift; done
		shift
		as=(setpriv "${as[@]}")
	fi
	run_bounded 30 "$name" "$LAB" --state "$E2E_TMP/lab-a" exec h1 \
		env TWIN_SOCKET=/run/twin/clusterd.sock "${as[@]}" "$TWIN" "$@"
}

# The socket: 0660, root's, the viewers' group.
perm=$(lab a exec h1 stat -c '%a %U %G' /run/twin/clusterd.sock)
[ "$perm" = "660 root $VIEWERS" ] || fail "the socket is '$perm', expected '660 root $VIEWERS'"

twin start vm start "$dir/vms/mw1.cfg"
assert_status start 0
deadline=$((SECONDS + 20))
until twin st status mw1 --json && grep -q '"state": *"running"' "$E2E_TMP/st.out"; do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$E2E_TMP/st.out"; show_file "$dir/clusterd.log"; fail "mw1 not running in 20 s"; }
	sleep 0.2
done
# Written once the guest has passed iteration 1 on every page (its first line says it runs).
serial=$dir/state/vms/mw1/log
deadline=$((SECONDS + 20))
until grep -q "memwriter: pages=" "$serial" 2>/dev/null; do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$serial"; fail "memwriter did not start in 20 s"; }
	sleep 0.2
done

# peek: the command line twin-vmm wrote at 0x7000, as raw hex and as a hexdump -C dump.
want_hex=$(printf '%s\0' "$CMDLINE" | od -An -v -tx1 | tr -d ' \n')
len=$(( ${#want_hex} / 2 ))
twin peek-hex vm peek mw1 0x7000 "$len" --hex
assert_status peek-hex 0
[ "$(cat "$E2E_TMP/peek-hex.out")" = "$want_hex" ] || { show_file "$E2E_TMP/peek-hex.out"; fail "peek --hex of the cmdline is not '$want_hex'"; }
twin peek-dump vm peek mw1 0x7000 "$len"
assert_status peek-dump 0
# shifted BASE: hexdump -C's lines on stdin with BASE added to their addresses.
shifted()
{
	local line
	while IFS= read -r line; do
		if [ "$line" = "*" ]; then echo "*"; else printf '%08x%s\n' $((16#${line:0:8} + $1)) "${line:8}"; fi
	done
}
printf '%s\0' "$CMDLINE" | hexdump -C | shifted 0x7000 >"$E2E_TMP/want-dump"
diff -u "$E2E_TMP/want-dump" "$E2E_TMP/peek-dump.out" || fail "the dump differs from hexdump -C's (shifted to 0x7000)"
# RAM nothing wrote: zeros, the repeated lines squeezed to "*" as hexdump -C does.
twin peek-zero vm peek mw1 0x2000000 100
assert_status peek-zero 0
head -c 100 /dev/zero | hexdump -C | shifted 0x2000000 >"$E2E_TMP/want-zero"
diff -u "$E2E_TMP/want-zero" "$E2E_TMP/peek-zero.out" || fail "the zero dump differs from hexdump -C's"

# peek: a page memwriter rewrites, whole; every word of the iteration in word 0 or the next.
twin peek-page vm peek mw1 0x1000000 4096 --json
assert_status peek-page 0
python3 - "$E2E_TMP/peek-page.out" <<'EOF' || fail "the page read is not memwriter's"
import json, struct, sys
r = json.load(open(sys.argv[1]))
assert r["gpa"] == 0x1000000 and r["len"] == 4096, r
words = struct.unpack("<512Q", bytes.fromhex(r["data"]))
w0, mul = words[0], 0x9e3779b97f4a7c15
assert w0 >= 1, w0
for j in range(1, 512):
    assert words[j] in ((w0 * mul + j) % 2**64, ((w0 + 1) * mul + j) % 2**64), (j, hex(words[j]), w0)
print("peek pause_ns", r["pause_ns"], file=sys.stderr)
EOF

# regs: vCPU 0 in ring 3, its rip inside memwriter's code.
twin regs vm regs mw1 --json
assert_status regs 0
python3 - "$E2E_TMP/regs.out" "$(guest memwriter)" <<'EOF' || fail "the registers are not memwriter's"
import json, struct, sys
r = json.load(open(sys.argv[1]))
elf = open(sys.argv[2], "rb").read()
phoff, = struct.unpack_from("<Q", elf, 0x20)
phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
code = []
for i in range(phnum):
    p_type, p_flags, _, p_vaddr, _, _, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize)
    if p_type == 1 and p_flags & 1:
        code.append((p_vaddr, p_vaddr + p_memsz))
(v,) = r["vcpus"]
rip = int(v["rip"], 16)
assert v["vcpu"] == 0 and v["cpl"] == 3, v
assert any(lo <= rip < hi for lo, hi in code), (hex(rip), code)
assert int(v["cr0"], 16) & 0x80000001 == 0x80000001 and int(v["efer"], 16) & 0x500 == 0x500, v
EOF
twin regs-table vm regs mw1 --vcpu 0
assert_status regs-table 0
assert_has_line "$E2E_TMP/regs-table.out" "vCPU 0: runnable, ring 3"
assert_match "$E2E_TMP/regs-table.out" "^  rip       0x[0-9a-f]{16}  rsp       0x[0-9a-f]{16}  rflags    0x[0-9a-f]{16}$"
assert_match "$E2E_TMP/regs-table.out" "^  cs   sel 0x002b  base 0x0{16}  .*  dpl 3  present  64-bit$"

# Refusals: a vCPU, a VM or memory that is not there; bad arguments (usage, exit 2).
twin no-vcpu vm regs mw1 --vcpu 1
assert_status no-vcpu 1
assert_one_error_line no-vcpu "this VM has no vCPU 1: it has 1 \(0 to 0\)"
twin no-vm vm peek nosuch 0x1000 16
assert_status no-vm 1
assert_one_error_line no-vm "no VM named \"nosuch\""
twin mmio vm peek mw1 0xfee00000 4
assert_status mmio 1
assert_one_error_line mmio "0xfee00000\+4 is not wholly guest RAM .*RAM is 0x0-0x3ffffff"
twin past-end vm peek mw1 0x3fffff0 32
assert_status past-end 1
assert_one_error_line past-end "runs past low RAM's end \(0x4000000\)"
for bad in "0x1000 0" "0x1000 4097" "zz 16" "0x1000"; do
	# shellcheck disable=SC2086 # the words are the arguments
	twin bad-args vm peek mw1 $bad
	assert_status bad-args 2
done
twin bad-vcpu vm regs mw1 --vcpu x
assert_status bad-vcpu 2

# A viewer (nobody, in nogroup only): read-only commands, nothing else.
viewer=(--as --reuid="$NOBODY" --regid="$viewer_gid" --clear-groups --)
twin v-status "${viewer[@]}" status
assert_status v-status 0
twin v-cluster "${viewer[@]}" cluster status
assert_status v-cluster 0
twin v-peek "${viewer[@]}" vm peek mw1 0x7000 16
assert_status v-peek 1
assert_one_error_line v-peek "uid $NOBODY may not run vm-peek: it needs root or group $ADMINS \(\[api\] admin_group\): add the user to it \(usermod -aG $ADMINS \"\\\$\(id -nu $NOBODY\)\"\)"
twin v-regs "${viewer[@]}" vm regs mw1
assert_status v-regs 1
assert_one_error_line v-regs "uid $NOBODY may not run vm-regs"
twin v-stop "${viewer[@]}" vm stop mw1
assert_status v-stop 1
assert_one_error_line v-stop "may not run vm-stop"
grep -q "api: refused vm-peek to uid $NOBODY (pid" "$dir/clusterd.log" || fail "the refusal is not logged"
# A request naming a file is refused before clusterd (root) opens it: nothing of it leaks.
lab a exec h1 setpriv --reuid="$NOBODY" --regid="$viewer_gid" --clear-groups /usr/bin/python3 -c '
import json, socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect("/run/twin/clusterd.sock")
f = s.makefile("rw")
f.readline()
f.write(json.dumps({"execute": "vm-start", "arguments": {"path": "/etc/shadow"}, "id": 5}) + "\n")
f.flush()
r = json.loads(f.readline())
assert r["id"] == 5 and r["error"]["class"] == "PermissionDenied", r
assert "shadow" not in r["error"]["desc"] and "root:" not in r["error"]["desc"], r
# What the gate cannot judge is refused too (default deny), not left to the parser.
for line, rid in (("not json", None), ("{\"execute\":\"no-such\",\"id\":6}", 6)):
    f.write(line + "\n")
    f.flush()
    r = json.loads(f.readline())
    assert r.get("id") == rid and r["error"]["class"] == "PermissionDenied", r
    assert "cannot judge" in r["error"]["desc"], r
' || fail "a viewer's vm-start naming /etc/shadow was not refused up front"

# The same user in the admins' group alone (the socket's ACL lets it in): served.
twin a-peek --as --reuid="$NOBODY" --regid="$admin_gid" --clear-groups -- vm peek mw1 0x7000 "$len" --hex
assert_status a-peek 0
[ "$(cat "$E2E_TMP/a-peek.out")" = "$want_hex" ] || fail "an admin's peek differs"
grep -q "api: vm-peek mw1 by uid $NOBODY (pid [0-9]*)" "$dir/clusterd.log" ||
	fail "the admin's peek is not logged with who ran it"

# Neither group: the socket itself refuses (0660).
twin outsider --as --reuid="$NOBODY" --regid=1 --clear-groups -- status
assert_status outsider 1
assert_match "$E2E_TMP/outsider.err" "[Pp]ermission denied"

# The VM survived it all: stopped cleanly by root.
twin stop vm stop mw1
assert_status stop 0
echo "introspect: ok"
