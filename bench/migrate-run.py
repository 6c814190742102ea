#!/usr/bin/env python3
# migrate-run: one live migration of a memwriter guest over loopback, by twin-vmm or by QEMU
# 7.2, and its measured numbers on one line of JSON.  bench/migrate-bench.sh runs it.
#
# Usage: migrate-run.py --platform twin|qemu --guest memwriter.elf --mem SIZE --cmdline STR
#                       --downtime MS --bandwidth MIB_S --port PORT [--vmm twin-vmm]
#                       [--qemu BIN] [--timeout SEC] [--auto-converge] [--verbose]
#
# Run it alone in a fresh network namespace (`unshare -n`, lo up): the bytes on the wire are
# the loopback interface's transmit counter across the migration, so nothing else may use
# lo there.  They count every packet of the migration connection, both directions, IP and
# TCP headers included, the same way for both platforms.
#
# Steps: start the source VM and the destination (twin-vmm incoming --listen / QEMU
# -incoming tcp:), wait until the guest has gone once round its working set (its first
# "memwriter: iter=" line), migrate with the downtime target and bandwidth cap, wait for
# the end, then check that the guest runs on the destination: it prints its next
# "memwriter: iter=" line there.  Any failure exits 1 with the reason: a failed migration
# gives no numbers.
#
# stdout: {"platform":..., "total_ms":..., "downtime_ms":..., "wire_bytes":...,
#          "reported_bytes":..., "rounds":..., "throttle_pct":..., "stop_to_resume_ms":...}
#   total_ms, downtime_ms  as the source VMM reports them (QEMU query-migrate total-time and
#                          downtime; twin-vmm migrate_status total_ns and downtime_ns)
#   reported_bytes         the VMM's own count (QEMU ram.transferred; twin-vmm bytes)
#   rounds, throttle_pct   QEMU dirty-sync-count and cpu-throttle-percentage; twin-vmm
#                          rounds and throttle_pct
#   stop_to_resume_ms      QEMU only: source STOP event to destination RESUME event.  QEMU's
#                          downtime ends when the source is done; twin-vmm's downtime_ns
#                          runs from the pause to the destination's ack (STREAM.md)
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

QEMU_MACHINE = "microvm,x-option-roms=off,rtc=off,pit=off,pic=off,pcie=on,auto-kernel-cmdline=off"
ITER_LINE = re.compile(rb"memwriter: iter=(\d+)")
LISTEN_LINE = re.compile(rb"incoming: waiting on ")
verbose = False


class Failed(Exception):
    pass


def say(msg):
    print("migrate-run: " + msg, file=sys.stderr, flush=True)


def lo_tx_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[8])  # receive: 8 fields, then transmit bytes
    raise Failed("no lo in /proc/net/dev: run in a network namespace with lo up")


def die_with_parent():
    # A VMM must not outlive this script, even when it is SIGKILLed (PR_SET_PDEATHSIG).
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Vm:
    """A VMM process whose stdout (the guest's console) and stderr are read line by line on
    threads, so that a test can wait for a line."""

    def __init__(self, name, cmd):
        self.name = name
        self.lines = {"out": [], "err": []}
        self.eof = {"out": False, "err": False}
        self.cond = threading.Condition()
        if verbose:
            say(name + ": " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=die_with_parent)
        for which, f in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._read, args=(which, f), daemon=True).start()

    def _read(self, which, f):
        for line in f:
            with self.cond:
                self.lines[which].append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof[which] = True
            self.cond.notify_all()

    def wait_line(self, regex, deadline, which="out"):
        """The first match of regex in a line of stdout (or stderr)."""
        start = 0
        with self.cond:
            while True:
                lines = self.lines[which]
                for i in range(start, len(lines)):
                    m = regex.search(lines[i])
                    if m:
                        return m
                start = len(lines)
                left = deadline - time.monotonic()
                if self.eof[which] or left <= 0:
                    why = "exited" if self.eof[which] else "timed out"
                    raise Failed(f"{self.name}: {why} waiting for /{regex.pattern.decode()}/; "
                                 f"{self.tail()}")
                self.cond.wait(left)

    def tail(self):
        with self.cond:
            out = b"".join(self.lines["out"][-5:]).decode(errors="replace").strip()
            err = b"".join(self.lines["err"][-5:]).decode(errors="replace").strip()
        return f"stdout tail: {out!r}; stderr tail: {err!r}"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class JsonLines:
    """QMP, or twin-vmm's QMP-like control socket: a greeting, then request/reply lines."""

    def __init__(self, path, vm, deadline, qmp):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                # The VMM creates the socket while it starts: no event to wait for.
                if vm.proc.poll() is not None or time.monotonic() > deadline:
                    raise Failed(f"{vm.name}: no control socket at {path}; {vm.tail()}")
                time.sleep(0.01)
        self.deadline = deadline
        self.buf = b""
        self.events = []
        self.seen = []  # events already waited past
        self.recv()  # greeting
        if qmp:
            self.command("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Failed("timed out waiting on a control socket")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise Failed("a control socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        if verbose:
            say("<- " + line.decode(errors="replace"))
        return json.loads(line)

    def command(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.recv()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise Failed(f"{name}: {msg['error'].get('desc', msg['error'])}")
            self.events.append(msg)

    def wait_event(self, pred):
        while True:
            while self.events:
                msg = self.events.pop(0)
                self.seen.append(msg)
                if pred(msg):
                    return msg
            self.events.append(self.recv())

    def event_time(self, name):
        """The timestamp (s) of the first event name seen, or None."""
        for m in self.seen:
            if m.get("event") == name:
                return m["timestamp"]["seconds"] + m["timestamp"]["microseconds"] / 1e6
        return None


def qemu_cmd(a, qmp, incoming=None):
    # The guest's ring-3 output goes to a virtio console on QEMU's stdout, as it goes to
    # twin-vmm's stdout.
    cmd = [a.qemu, "-M", QEMU_MACHINE, "-enable-kvm", "-cpu", "kvm64", "-m", a.mem,
           "-smp", "1", "-kernel", a.guest, "-append", a.cmdline, "-display", "none",
           "-monitor", "none", "-serial", "null", "-nodefaults",
           "-chardev", "stdio,id=con0,signal=off",
           "-device", "virtio-serial-pci,disable-legacy=on", "-device", "virtconsole,chardev=con0",
           "-qmp", f"unix:{qmp},server=on,wait=off"]
    if incoming:
        cmd += ["-incoming", incoming]
    return cmd


def run_qemu(a, tmp, deadline):
    src = Vm("qemu-source", qemu_cmd(a, os.path.join(tmp, "src.qmp")))
    dst = Vm("qemu-destination",
             qemu_cmd(a, os.path.join(tmp, "dst.qmp"), f"tcp:127.0.0.1:{a.port}"))
    try:
        sq = JsonLines(os.path.join(tmp, "src.qmp"), src, deadline, True)
        dq = JsonLines(os.path.join(tmp, "dst.qmp"), dst, deadline, True)
        src.wait_line(ITER_LINE, deadline)
        caps = [{"capability": "events", "state": True}]
        if a.auto_converge:
            caps.append({"capability": "auto-converge", "state": True})
        sq.command("migrate-set-capabilities", capabilities=caps)
        sq.command("migrate-set-parameters", **{"downtime-limit": a.downtime,
                                                  "max-bandwidth": a.bandwidth << 20})
        wire0 = lo_tx_bytes()
        sq.command("migrate", uri=f"tcp:127.0.0.1:{a.port}")
        ev = sq.wait_event(lambda m: m.get("event") == "MIGRATION" and
                           m["data"]["status"] in ("completed", "failed", "cancelled"))
        wire1 = lo_tx_bytes()
        if ev["data"]["status"] != "completed":
            st = sq.command("query-migrate")
            raise Failed(f"QEMU migration {ev['data']['status']}: {st.get('error-desc', st)}")
        # QEMU 7.2 sends "completed" before it computes total-time and downtime, and enters
        # postmigrate right after; no event marks that, so ask until it has happened.
        while sq.command("query-status")["status"] != "postmigrate":
            if time.monotonic() > deadline:
                raise Failed("the QEMU source never reached postmigrate")
            time.sleep(0.01)
        st = sq.command("query-migrate")
        # The guest runs on the destination: QEMU says so, and the guest prints again.
        dq.wait_event(lambda m: m.get("event") == "RESUME")
        if dq.command("query-status")["status"] != "running":
            raise Failed("the QEMU destination is not running after the migration")
        dst.wait_line(ITER_LINE, deadline)
        # QEMU's downtime ends on the source; STOP (source, once paused) to RESUME
        # (destination) is another view of the pause, both stamps from this host's clock.
        stop, resume = sq.event_time("STOP"), dq.event_time("RESUME")
        return {"total_ms": st["total-time"], "downtime_ms": st["downtime"],
                "stop_to_resume_ms": round((resume - stop) * 1000, 1) if stop and resume else None,
                "wire_bytes": wire1 - wire0, "reported_bytes": st["ram"]["transferred"],
                "rounds": st["ram"].get("dirty-sync-count"),
                "throttle_pct": st.get("cpu-throttle-percentage", 0)}
    finally:
        src.stop()
        dst.stop()


def run_twin(a, tmp, deadline):
    src_ctl, dst_ctl = os.path.join(tmp, "src.ctl"), os.path.join(tmp, "dst.ctl")
    src = Vm("twin-source", [a.vmm, "run", "--kernel", a.guest, "--mem", a.mem, "--cmdline",
                             a.cmdline, "--control", src_ctl])
    dst = Vm("twin-destination", [a.vmm, "incoming", "--listen", f"127.0.0.1:{a.port}",
                                  "--insecure", "--control", dst_ctl])
    try:
        # The destination's control socket appears with its VM, once a stream arrives.
        dst.wait_line(LISTEN_LINE, deadline, "err")
        src.wait_line(ITER_LINE, deadline)
        # The source runs; then its control socket is the migrate client's alone.
        sc = JsonLines(src_ctl, src, deadline, False)
        if sc.command("query-status").get("status") != "running":
            raise Failed("the twin-vmm source is not running before the migration")
        sc.sock.close()
        wire0 = lo_tx_bytes()
        # The migrate client: returns once the destination runs (TEAM.md, twin-vmm migrate).
        # Its last stdout line is "migrate: " and the final query-migrate JSON.
        cli = subprocess.run([a.vmm, "migrate", "--control", src_ctl, "--to",
                              f"127.0.0.1:{a.port}", "--insecure", "--downtime", str(a.downtime),
                              "--bandwidth", str(a.bandwidth)],
                             stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=max(1.0, deadline - time.monotonic()))
        wire1 = lo_tx_bytes()
        if cli.returncode != 0:
            raise Failed(f"twin-vmm migrate exited {cli.returncode}: "
                         f"{cli.stderr.decode(errors='replace').strip()}")
        st = final_status(cli.stdout)
        if st.get("phase") != "completed":
            raise Failed(f"twin-vmm migration ended in phase {st.get('phase')}: {st.get('error')}")
        dc = JsonLines(dst_ctl, dst, deadline, False)
        if dc.command("query-status").get("status") != "running":
            raise Failed("the twin-vmm destination is not running after the migration")
        dst.wait_line(ITER_LINE, deadline)
        # The source exits 0 by itself once the destination runs.
        rc = src.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        if rc != 0:
            raise Failed(f"the twin-vmm source exited {rc} after the migration, expected 0")
        return {"total_ms": st["total_ns"] / 1e6, "downtime_ms": st["downtime_ns"] / 1e6,
                "wire_bytes": wire1 - wire0, "reported_bytes": st["bytes"],
                "rounds": st.get("rounds"), "throttle_pct": st.get("throttle_pct", 0)}
    finally:
        src.stop()
        dst.stop()


def final_status(out):
    """The migrate_status JSON object on the migrate client's last line that holds one."""
    for line in reversed(out.decode(errors="replace").splitlines()):
        j = line.find("{")
        if j >= 0:
            try:
                st = json.loads(line[j:])
            except ValueError:
                continue
            if "total_ns" in st:
                return st
    raise Failed("twin-vmm migrate printed no final status JSON (with total_ns): "
                 f"{out.decode(errors='replace')[-300:]!r}")


def main():
    global verbose
    ap = argparse.ArgumentParser(description="one live migration of a memwriter guest")
    ap.add_argument("--platform", choices=("twin", "qemu"), required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--mem", required=True)
    ap.add_argument("--cmdline", required=True)
    ap.add_argument("--downtime", type=int, required=True, help="ms")
    ap.add_argument("--bandwidth", type=int, required=True, help="MiB/s")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--vmm", default="twin-vmm")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--auto-converge", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    verbose = a.verbose
    if a.platform == "qemu" and not shutil.which(a.qemu):
        say(f"{a.qemu} not found: install the Debian package qemu-system-x86")
        return 2
    deadline = time.monotonic() + a.timeout
    tmp = tempfile.mkdtemp(prefix="migrate-run.")
    try:
        r = (run_qemu if a.platform == "qemu" else run_twin)(a, tmp, deadline)
    except (Failed, subprocess.TimeoutExpired) as e:
        say(f"{a.platform}: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r["platform"] = a.platform
    print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
