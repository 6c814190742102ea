#!/bin/bash
# e2e: twin vm peek/regs in a three-host cluster with a protected kv guest: served by the primary's host (the VM paused briefly under replication), refused on the others naming the primary's host (WrongHost), and the backup's twin-vmm refuses both itself; after a failover its host serves them.
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
cluster_up icl 1000
CMDLINE_PREFIX="ip=198.18.2.10/24"
cluster_start_protected h1 kv1 198.18.2.10 52:54:00:12:34:56
other=$(cluster_other "$CL_PRIMARY" "$CL_BACKUP")

# The primary's host: the command line at 0x7000, while epochs checkpoint the VM.
want=$(printf '%s' "$CMDLINE_PREFIX" | od -An -v -tx1 | tr -d ' \n')
twin_run peek "$CL_PRIMARY" vm peek kv1 0x7000 "${#CMDLINE_PREFIX}" --json
assert_status peek 0
python3 - "$E2E_TMP/peek.out" "$want" "$CL_PRIMARY" <<'EOF' || fail "the primary's peek is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["data"] == sys.argv[2] and r["vm"] == "kv1" and r["host"] == sys.argv[3], r
EOF
twin_run regs "$CL_PRIMARY" vm regs kv1 --json
assert_status regs 0
python3 - "$E2E_TMP/regs.out" <<'EOF' || fail "the primary's regs are wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert [v["vcpu"] for v in r["vcpus"]] == [0] and r["vcpus"][0]["cpl"] in (0, 3), r
EOF
# Replication went on through the pauses.
cluster_wait "$CL_PRIMARY" kv1 10 'v["state"] == "protected"' >/dev/null

# Every other host names the primary's.
for h in "$CL_BACKUP" "$other"; do
	twin_run "peek-$h" "$h" vm peek kv1 0x7000 16
	assert_status "peek-$h" 1
	assert_one_error_line "peek-$h" "vm-peek: kv1's primary runs on host $CL_PRIMARY, not here \($h\): run the command on $CL_PRIMARY"
	twin_run "regs-$h" "$h" vm regs kv1 --vcpu 0
	assert_status "regs-$h" 1
	assert_one_error_line "regs-$h" "vm-regs: kv1's primary runs on host $CL_PRIMARY, not here \($h\): run the command on $CL_PRIMARY"
done

# The backup's twin-vmm itself: no vCPU runs there, its shadow RAM changes at each commit.
python3 - "$(cluster_vmm_ctl "$CL_BACKUP" kv1)" <<'EOF' || fail "the backup's twin-vmm served peek or regs"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for req in ({"execute": "peek", "arguments": {"gpa": 0x7000, "len": 16}}, {"execute": "regs"}):
    f.write(json.dumps(req) + "\n")
    f.flush()
    r = json.loads(f.readline())
    assert "this twin-vmm is a backup (no vCPU runs)" in r["error"]["desc"], r
EOF
# After a failover the backup's twin-vmm is the primary: peek is served on its host (the
# RAM replicated there), refused on the old primary's.
old=$CL_PRIMARY
twin_client_run drill "$CL_PRIMARY" drill failover kv1 --json
assert_status drill 0
cluster_wait "$CL_BACKUP" kv1 "$CL_CHANGE_SECS" 'v["primary"] == "'"$CL_BACKUP"'"' >/dev/null
twin_run peek-new "$CL_BACKUP" vm peek kv1 0x7000 "${#CMDLINE_PREFIX}" --hex
assert_status peek-new 0
[ "$(cat "$E2E_TMP/peek-new.out")" = "$want" ] || { show_file "$E2E_TMP/peek-new.out"; fail "the new primary's peek is not the command line"; }
twin_run peek-old "$old" vm peek kv1 0x7000 16
assert_status peek-old 1
assert_one_error_line peek-old "kv1's primary runs on host $CL_BACKUP, not here \($old\)"
cluster_passed
echo "introspect-cluster: ok"
