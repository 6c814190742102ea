#!/usr/bin/env python3
"""A fake twin-clusterd for twin-cli.sh: the socket protocol with scripted state, and a kv service.

Usage: twin-fake-clusterd.py SOCKET KV_PORT_FILE REQUEST_LOG
Serves JSON lines on the unix socket SOCKET (a greeting first, as twin-vmm's control socket
does), logs every request line to REQUEST_LOG, and answers kv INCRs on a free UDP port of
127.0.0.1, written to KV_PORT_FILE.  protect reaches "protected" after three status polls; a
drill makes the kv service silent, shows failing-over 20 ms after it and h2 as the primary
40 ms after it, when kv answers again.
"""
import json
import os
import socket
import sys
import threading
import time

DETECT_S, ACTIVATE_S = 0.020, 0.040

lock = threading.Lock()
vms = {}
drill_at = None


def vm_view(vm):
    """The VM as status shows it, the drill's scripted progress applied."""
    v = dict(vm)
    if drill_at is not None and v["name"] == "kv1":
        dt = time.monotonic() - drill_at
        if dt >= ACTIVATE_S:
            v.update(state="running", primary="h2", backup="")
        elif dt >= DETECT_S:
            v.update(state="failing-over")
    return v


def handle(req):
    global drill_at
    cmd, args = req.get("execute"), req.get("arguments", {})
    name = args.get("vm")
    if cmd == "vm-start":
        cfg = dict((k.strip(), v.split(" ;")[0].strip()) for k, v in
                   (l.split("=", 1) for l in args["config"].splitlines() if "=" in l))
        name = cfg["name"]
        vms[name] = {"name": name, "state": "running", "primary": "h1", "backup": "",
                     "mode": "epoch", "interval_ms": 25, "memory_mib": int(cfg["memory"]),
                     "error": "", "probe": cfg.get("probe", ""), "polls": 0}
        return {"vm": name, "state": "running", "primary": "h1"}
    if cmd == "vm-list":
        return {"vms": [vm_view(v) for v in vms.values()]}
    if cmd == "cluster-status":
        return {"cluster": "twin-lab", "local": "h3", "quorate": True, "votes": 3,
                "expected_votes": 3, "token_ms": 1000,
                "members": [{"name": h, "nodeid": i + 1, "state": "online", "free_mib": 1000,
                             "vms_protected": 0} for i, h in enumerate(["h1", "h2", "h3"])]}
    if cmd == "status" and name is None:
        return {"vms": [vm_view(v) for v in vms.values()]}
    if name not in vms:
        return None, {"class": "NotFound", "desc": f"no VM {name}: twin vm list shows the VMs"}
    vm = vms[name]
    if cmd == "status":
        vm["polls"] += 1
        if vm["state"] == "protecting" and vm["polls"] >= 3:
            vm.update(state="protected", repl={"state": "protected", "epoch": 120,
                                               "acked_epoch": 119, "epochs_per_s": 40.0,
                                               "pause_ns": {"p99": 1500000}})
        return {"vms": [vm_view(vm)]}
    if cmd == "protect":
        if name == "kv2":
            vm.update(state="protecting", backup="h3", polls=1, error="sync: the backup closed")
            vm["fail"] = True
            return {"vm": name, "state": "protecting"}
        vm.update(state="protecting", backup=args.get("peer", "h2"), polls=0,
                  repl={"sync": {"phase": "active", "rounds": 2, "bytes": 3 << 20}})
        return {"vm": name, "state": "protecting"}
    if cmd == "failover":
        if not args.get("force"):
            return None, {"class": "GenericError",
                          "desc": "automatic failover needs 3 votes: twin failover --force"}
        vm.update(state="running", primary=vm["backup"], backup="")
        return {"vm": name, "state": "running", "primary": vm["primary"]}
    if cmd == "drill":
        drill_at = time.monotonic()
        return {"vm": name, "primary": vm["primary"], "backup": vm["backup"]}
    if cmd in ("vm-stop", "unprotect"):
        return {"vm": name, "state": "stopping" if cmd == "vm-stop" else "running"}
    return None, {"class": "CommandNotFound", "desc": f"unknown command {cmd}"}


def status_poll_fails(vm):
    """kv2's sync fails once polled: back to running with the error."""
    if vm.get("fail") and vm["polls"] >= 2:
        vm.update(state="running", backup="", fail=False)


def serve(conn, log):
    conn.sendall(b'{"twin": {"version": "0.1.0", "protocol": 1}}\n')
    buf = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            log.write(line.decode() + "\n")
            log.flush()
            req = json.loads(line)
            with lock:
                for vm in vms.values():
                    status_poll_fails(vm)
                r = handle(req)
            rep = {"error": r[1]} if isinstance(r, tuple) else {"return": r}
            conn.sendall(json.dumps(rep).encode() + b"\n")


def kv(udp):
    n = 0
    while True:
        data, peer = udp.recvfrom(512)
        client, seq, op, _key = data.decode().split(" ")[:4]
        with lock:
            silent = drill_at is not None and time.monotonic() - drill_at < ACTIVATE_S
        if op == "INCR" and not silent:
            n += 1
            udp.sendto(f"{client} {int(seq)} OK {n}".encode(), peer)


def main():
    path, port_file, log_path = sys.argv[1:4]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    threading.Thread(target=kv, args=(udp,), daemon=True).start()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(udp.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    log = open(log_path, "a")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, log), daemon=True).start()


if __name__ == "__main__":
    main()
