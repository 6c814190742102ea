#!/bin/bash
# e2e: pages retired before and while memwriter is protected are checkpointed right: after kill -9 of the primary the backup fails over and ends with the checksum; a backup refuses to retire its own frames, and retires once failed over.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
kernel=$(guest memwriter)
# 64 pages at 2 per ms: 32 ms an iteration, ~25 s in all, a heartbeat every 20.
PAGES=64 ITERS=800
want=$(expected_checksum "$PAGES" "$PAGES" 1 "$ITERS")
BASE=$((0x1000000))

# last_iter FILE: the last heartbeat's iteration (0 if none).
last_iter()
{
	tr -d '\r' <"$1" | sed -n 's/^memwriter: iter=\([0-9]*\)$/\1/p' | tail -n 1 | grep . || echo 0
}

# offline CTL I: retire memwriter's page I through the control socket CTL.
offline()
{
	ctl "$1" mem-offline "{\"gpa\": $((BASE + $2 * 4096))}" >/dev/null
}

repl_run_bg pri - --kernel "$kernel" --mem 64M --serial "file:$E2E_TMP/pri.serial" \
	--cmdline "pages=$PAGES rate=2 ws=$PAGES vcpus=1 iters=$ITERS progress=20"
PRI_PID=$VM_PID
wait_for_text "$E2E_TMP/pri.serial" "memwriter: iter=20" "$E2E_BOOT_TIMEOUT" ||
	{ show_file "$E2E_TMP/pri.serial"; fail "the primary never reached iteration 20"; }
# Before protect: the initial sync reads them.
for i in 0 5 10 15 20 25 30 35; do offline "$E2E_TMP/pri.ctl" "$i"; done

repl_backup_bg bak - 127.0.0.1:0 --insecure --serial "file:$E2E_TMP/bak.serial"
BAK_PID=$BACKUP_PID
repl_protect protect "$E2E_TMP/pri.ctl" "127.0.0.1:$BACKUP_PORT" --insecure
# Under protection: the epochs read them.  One of the earlier ones comes back.
for i in 2 7 12 17 22 27 32 37; do offline "$E2E_TMP/pri.ctl" "$i"; done
ctl "$E2E_TMP/pri.ctl" mem-online "{\"gpa\": $((BASE + 5 * 4096))}" >/dev/null
n=$(ctl "$E2E_TMP/pri.ctl" query-mem | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["offline"]))')
[ "$n" = 15 ] || fail "the primary lists $n retired pages, expected 15"

# The backup's RAM is written by its checkpoints: it refuses to move its frames, and a
# frame that is not its own is NotOwner (clusterd then asks the next twin-vmm).
desc=$(python3 - "$E2E_TMP/bak.ctl" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rwb")
f.readline()
out = []
for args in ({"gpa": 0x1000000}, {"pfn": 1}):
    f.write(json.dumps({"execute": "mem-offline", "arguments": args}).encode() + b"\n")
    f.flush()
    e = json.loads(f.readline()).get("error", {})
    out.append("%s: %s" % (e.get("class"), e.get("desc")))
f.write(b'{"execute": "query-mem"}\n')
f.flush()
out.append(json.dumps(json.loads(f.readline())["return"]))
print("\n".join(out))
PY
)
grep -q "^GenericError: GPA 0x1000000 is in a backup's copy of the VM's RAM.*cannot retire a backup's frame" <<<"$desc" ||
	fail "the backup's refusal of its own page: $desc"
grep -q "^NotOwner: PFN 0x1 backs no page of this VM" <<<"$desc" || fail "the backup's answer for another frame: $desc"
grep -q '^{"offline": \[\]}$' <<<"$desc" || fail "the backup's query-mem: $desc"

# A few epochs later, the primary dies; the backup takes over where the last one left it.
last=$(last_iter "$E2E_TMP/pri.serial")
wait_for_text "$E2E_TMP/pri.serial" "memwriter: iter=$((last + 40))" 30 ||
	{ show_file "$E2E_TMP/pri.serial"; fail "the primary stopped advancing while protected"; }
repl_kill9 "$PRI_PID" pri
grep -q "memwriter: done" "$E2E_TMP/pri.serial" && fail "the primary finished before its kill"
repl_failover failover "$E2E_TMP/bak.ctl"
# Failed over, it runs the VM: it retires like any primary.
for i in 40 45 50; do offline "$E2E_TMP/bak.ctl" "$i"; done
wait_bounded "$BAK_PID" 120
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/bak.serial"; show_file "$E2E_TMP/bak.err"; fail "the backup exited $WAIT_RC after failover, expected 1"; }
assert_has_line "$E2E_TMP/bak.serial" "memwriter: done iters=$ITERS pages=$PAGES vcpus=1 checksum=$want"
note "ok: 16 retired around protect (one back), killed at iteration $last+, failed over, 3 more retired: checksum $want"
