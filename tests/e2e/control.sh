#!/bin/bash
# e2e: the --control socket (mode 0600) pauses and resumes a running guest, refuses to migrate it while paused, and quit exits 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3
kernel=$(guest memwriter)

# memwriter writes 1 page per ms and prints "memwriter: iter=I" every 100 pages: a
# heartbeat that shows whether the guest advances.
CMDLINE="pages=1 rate=1 ws=1 vcpus=1 iters=1000000000 progress=100"
serial="$E2E_TMP/serial.txt"
sock="$E2E_TMP/vm.sock"

# A path that is not a socket is refused and left alone.
: >"$E2E_TMP/plain"
vmm refuse "$E2E_ERROR_TIMEOUT" --kernel "$kernel" --control "$E2E_TMP/plain"
assert_status refuse 2
assert_one_error_line refuse "is not a socket"
[ -f "$E2E_TMP/plain" ] || fail "refuse: twin-vmm removed a regular file at the --control path"

# A stale socket (its server is gone) is replaced.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$sock"
: >"$serial"
start_bg vm "$TWIN_VMM" run --kernel "$kernel" --cmdline "$CMDLINE" --serial "file:$serial" \
	--control "$sock"
pid=$BG_PID
if ! wait_for_text "$serial" "memwriter: iter=" "$E2E_BOOT_TIMEOUT"; then
	show_file "$serial"
	show_file "$E2E_TMP/vm.err"
	fail "the guest never printed its heartbeat"
fi
mode=$(stat -c %a "$sock")
[ "$mode" = 600 ] || fail "the control socket has mode $mode, expected 600"

if ! python3 - "$sock" "$serial" <<'PY'; then
import json, socket, sys, time

sock_path, serial = sys.argv[1], sys.argv[2]


def fail(msg):
    sys.exit("control client: " + msg)


def beats():
    with open(serial) as f:
        return sum(line.startswith("memwriter: iter=") for line in f)


class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(sock_path)
        self.f = self.s.makefile("rwb")
        hello = self.read()
        if "version" not in hello.get("twin", {}):
            fail("bad greeting %r" % hello)

    def read(self):
        line = self.f.readline()
        if not line:
            return None
        return json.loads(line)

    def raw(self, line):
        self.f.write(line + b"\n")
        self.f.flush()
        return self.read()

    def cmd(self, name, want_class=None, **args):
        req = {"execute": name, "id": name}
        if args:
            req["arguments"] = args
        r = self.raw(json.dumps(req).encode())
        if r.get("id") != name:
            fail("%s: reply id %r" % (name, r.get("id")))
        if want_class:
            if r.get("error", {}).get("class") != want_class:
                fail("%s: expected %s, got %r" % (name, want_class, r))
        elif "return" not in r:
            fail("%s failed: %r" % (name, r))
        return r.get("return")

    def close(self):
        self.f.close()
        self.s.close()


c = Client()
if c.cmd("query-status") != {"status": "running", "running": True}:
    fail("not running at first")
# A second client is served while the first stays connected (a migrate client watching
# progress while another asks).
c2 = Client()
if c2.cmd("query-status")["status"] != "running":
    fail("the second client got another answer")
c2.close()
c.cmd("stop")
c.cmd("stop")  # idempotent
if c.cmd("query-status") != {"status": "paused", "running": False}:
    fail("not paused after stop")
# The stop reply comes after every vCPU parked, so no heartbeat may follow it.  The
# guest beats every ~100 ms when it runs; watch 1 s, bounded by query replies.
before = beats()
for _ in range(20):
    if c.cmd("query-status")["running"]:
        fail("running while stopped")
    time.sleep(0.05)
after = beats()
if after != before:
    fail("the guest advanced while stopped: %d -> %d heartbeats" % (before, after))
# A paused VM is not migrated: a failure late in it would pause it a second time.
r = c.raw(json.dumps({"execute": "migrate",
                      "arguments": {"uri": "127.0.0.1:9", "insecure": True}}).encode())
if r.get("error", {}).get("desc") != "migrate: the VM is paused: cont it first, or save it":
    fail("migrate of a paused VM: %r" % r)
c.cmd("cont")
c.cmd("cont")  # idempotent
if c.cmd("query-status")["status"] != "running":
    fail("not running after cont")
deadline = time.monotonic() + 20
while beats() <= after:
    if time.monotonic() > deadline:
        fail("no heartbeat within 20 s of cont")
    time.sleep(0.05)
print("control: %d heartbeats before stop, none while stopped, more after cont" % after)
# Errors are replies, and the connection survives them.
if c.raw(b"{not json")["error"]["class"] != "GenericError":
    fail("bad JSON")
c.cmd("no-such-command", want_class="CommandNotFound")
c.cmd("migrate", want_class="InvalidParameter", uri="tcp:127.0.0.1:4444")
c.close()

# An over-long line is refused, and the server closes the connection.
c = Client()
c.f.write(b"x" * 5000)
c.f.flush()
r = c.read()
if r.get("error", {}).get("class") != "GenericError" or c.read() is not None:
    fail("over-long line: %r and the connection stayed open" % r)
c.close()

c = Client()
c.cmd("quit")
c.close()
PY
	show_file "$E2E_TMP/vm.err"
	fail "the control session failed"
fi
wait_bounded "$pid" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/vm.err"; fail "quit: twin-vmm exited $WAIT_RC, expected 0"; }
[ ! -e "$sock" ] || fail "quit: the control socket $sock was not removed"

# The migrate client against a fake twin-vmm (fake_vmm MODE: FAKE_SOCK, FAKE_PID; it prints
# "ready", then each command it gets).  "nophase": query-migrate answers without a phase,
# which the client must call a protocol error, not loop on.  "slow": the migrate reply
# waits for a line on the fifo $E2E_TMP/go; query-migrate says cancelled after a cancel.
fake_vmm()
{
	FAKE_SOCK="$E2E_TMP/fake-$1.sock"
	cat >"$E2E_TMP/fake_vmm.py" <<'PY'
import json, socket, sys
path, mode, go = sys.argv[1:]
l = socket.socket(socket.AF_UNIX)
l.bind(path)
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
f = c.makefile("rwb")
f.write(b'{"twin": {"version": "fake", "protocol": 1}}\n')
f.flush()
cancelled = False
for line in f:
    cmd = json.loads(line)["execute"]
    print(cmd, flush=True)
    if cmd == "migrate" and mode == "slow":
        open(go).readline()
    if cmd == "migrate-cancel":
        cancelled = True
    ret = {}
    if cmd == "query-migrate":
        ret = {"rounds": 1}
        if mode == "slow":
            ret["phase"] = "cancelled" if cancelled else "active"
            ret["error"] = "cancelled by the user"
    f.write(json.dumps({"return": ret}).encode() + b"\n")
    f.flush()
PY
	start_bg "fake-$1" python3 "$E2E_TMP/fake_vmm.py" "$FAKE_SOCK" "$1" "$E2E_TMP/go"
	FAKE_PID=$BG_PID
	wait_for_text "$E2E_TMP/fake-$1.out" ready 10 || { show_file "$E2E_TMP/fake-$1.err"; fail "fake-$1 never listened"; }
}

fake_vmm nophase
run_bounded 30 nophase "$TWIN_VMM" migrate --control "$FAKE_SOCK" --to 127.0.0.1:1 --insecure
assert_status nophase 1
assert_one_error_line nophase "query-migrate says phase \(none\) while a job runs: is twin-vmm another version"
wait_bounded "$FAKE_PID" 10

# A ^C that comes before migrate's reply is not lost: the signals are blocked before the
# request, so it cancels the migration once it has started.
mkfifo "$E2E_TMP/go"
fake_vmm slow
start_bg early "$TWIN_VMM" migrate --control "$FAKE_SOCK" --to 127.0.0.1:1 --insecure
early=$BG_PID
wait_for_text "$E2E_TMP/fake-slow.out" "migrate" 10 || fail "early: the client never sent migrate"
kill -INT "$early"
echo go >"$E2E_TMP/go"
wait_bounded "$early" 20
[ "$WAIT_RC" -eq 1 ] || { show_file "$E2E_TMP/early.err"; fail "early: the client exited $WAIT_RC, expected 1 (130: killed by the ^C)"; }
assert_match "$E2E_TMP/early.err" "^twin-vmm: signal 2: cancelling the migration$"
assert_match "$E2E_TMP/early.err" "migrate to 127.0.0.1:1 cancelled: cancelled by the user"
assert_match "$E2E_TMP/fake-slow.out" "^migrate-cancel$"
wait_bounded "$FAKE_PID" 10
note "ok"
