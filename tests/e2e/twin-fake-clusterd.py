#!/usr/bin/env python3
"""A fake twin-clusterd for twin-cli.sh: the socket protocol with scripted state, and a kv service.

Usage: twin-fake-clusterd.py SOCKET KV_PORT_FILE REQUEST_LOG
Serves JSON lines on the unix socket SOCKET (a greeting first, as twin-vmm's control socket
does), logs every request line to REQUEST_LOG, and answers kv INCRs on a free UDP port of
127.0.0.1, written to KV_PORT_FILE.  Replies are shaped as clusterd/cl_msg.c's (a VM object,
an array of them, cluster-status's object) with the daemon's additions the CLI shows: a VM's
"repl", "probe" and "error", cluster-status's "cluster" and "token_ms".  protect reaches "protected" after three status polls; a
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
            v.update(state="running", primary="h2", backup=None)
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
        vms[name] = {"name": name, "state": "starting", "primary": "h1", "backup": None,
                     "mode": "epoch", "interval_ms": 25, "protect": False,
                     "backup_ready": False, "awaiting_operator": False, "generation": 1,
                     "memory_mib": int(cfg["memory"]), "error": "",
                     "probe": cfg.get("probe", ""), "polls": 0}
        reply = dict(vms[name])
        vms[name]["state"] = "running"
        return reply
    if cmd == "vm-list" or (cmd == "status" and name is None):
        return [vm_view(v) for v in vms.values()]
    if cmd == "cluster-status":
        hosts = ["h1", "h2", "h3"]
        return {"node": 3, "name": "h3", "quorate": True, "votequorum_quorate": True,
                "votes": 3, "expected_votes": 3, "syncing": False, "version": 7,
                "members": [{"node": i + 1, "name": h} for i, h in enumerate(hosts[1:], 1)],
                "hosts": [{"name": h, "node": i + 1, "state": "online",
                           "addr": f"198.18.1.{i + 1}", "free_mib": 1000, "protected_vms": 0}
                          for i, h in enumerate(hosts)],
                "cluster": "twin-lab", "token_ms": 1000}
    if name not in vms:
        return None, {"class": "GenericError",
                      "desc": f'{cmd}: no VM named "{name}" (twin vm list shows them)'}
    vm = vms[name]
    if cmd == "status":
        vm["polls"] += 1
        if vm["state"] == "protecting" and vm["polls"] >= 3:
            vm.update(state="protected", repl={"state": "protected", "epoch": 120,
                                               "acked_epoch": 119, "epochs_per_s": 40.0,
                                               "pause_ns": {"p99": 1500000}})
        return vm_view(vm)
    if cmd == "protect":
        if name == "kv2":
            vm.update(state="protecting", backup="h3", polls=1,
                      error="sync: the backup closed the connection")
            vm["fail"] = True
            return vm_view(vm)
        vm.update(state="protecting", backup=args.get("peer", "h2"), polls=0,
                  repl={"sync": {"phase": "active", "rounds": 2, "bytes": 3 << 20}})
        return vm_view(vm)
    if cmd == "failover":
        if not args.get("force"):
            return None, {"class": "NoQuorum",
                          "desc": "failover: expected votes 2 < 3: use --force if you know"}
        vm.update(state="running", primary=vm["backup"], backup=None)
        return vm_view(vm)
    if cmd == "drill":
        drill_at = time.monotonic()
        return {"vm": name, "host": vm["primary"], "killed": True}
    if cmd in ("vm-stop", "unprotect"):
        vm.update(state="stopping" if cmd == "vm-stop" else "running", backup=None)
        return vm_view(vm)
    return None, {"class": "CommandNotFound", "desc": f"unknown command {cmd}"}


def status_poll_fails(vm):
    """kv2's sync fails once polled: back to running with the error."""
    if vm.get("fail") and vm["polls"] >= 2:
        vm.update(state="running", backup=None, fail=False)


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
