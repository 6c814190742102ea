#!/usr/bin/env python3
# repl-probe: small measuring tools for bench/repl-bench.sh.
#
#   repl-probe.py stamp
#       Copies stdin to stdout, each line prefixed with the wall clock (time.time(), s) at
#       which it arrived: the guest console of a twin-vmm, so that memwriter's progress lines
#       ("memwriter: iter=I") carry the host's time.
#   repl-probe.py rate FILE T0 T1 PAGES
#       From a stamped memwriter console: pages written per second between wall times T0 and
#       T1 (the first and last progress lines inside the window; a pass writes PAGES pages).
#   repl-probe.py sparse ADDR PORT COUNT GAP_MS PREFIX
#       Sparse kv requests: one INCR every GAP_MS (never two outstanding), each answer checked
#       (the counter goes up by one per request: nothing lost, nothing applied twice), a lost
#       datagram resent unchanged after 200 ms.  Prints "sparse n=N p50_us=X p99_us=Y
#       max_us=Z retries=R" (latency: first send to answer).
#   repl-probe.py ctl PATH COMMAND
#       One command on a twin-vmm control socket (JSON lines: a greeting, then request and
#       reply); prints the reply's "return" as JSON, exits 1 on an error or no socket.
#   repl-probe.py stats FILE...
#       Numbers, one a line, in each FILE: "n=N median=M p99=P max=X" (p99 by nearest rank).
import socket
import sys
import time


def stamp():
    for line in sys.stdin.buffer:
        sys.stdout.write("%.6f %s" % (time.time(), line.decode(errors="replace")))
        sys.stdout.flush()


def rate(path, t0, t1, pages):
    pts = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "memwriter:" and parts[2].startswith("iter="):
                t = float(parts[0])
                if t0 <= t <= t1:
                    pts.append((t, int(parts[2][5:])))
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        print("nan")
        return 1
    print("%.0f" % ((pts[-1][1] - pts[0][1]) * pages / (pts[-1][0] - pts[0][0])))
    return 0


def quantile(v, q):
    v = sorted(v)
    k = max(0, min(len(v) - 1, -(-int(q * len(v) * 1000) // 1000) - 1))
    return v[k]


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def sparse(addr, port, count, gap_ms, prefix):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dst = (addr, port)
    key = "sp"
    lat, retries = [], 0
    # Start the counter at a known value; seq 1 is the PUT.
    seq = 1

    def ask(req):
        nonlocal retries
        t0 = time.perf_counter()
        for attempt in range(50):
            s.sendto(req.encode(), dst)
            if attempt:
                retries += 1
            s.settimeout(0.2)
            while True:
                try:
                    data = s.recv(2048).decode(errors="replace")
                except socket.timeout:
                    break
                if data.split()[:2] == req.split()[:2]:
                    return data, (time.perf_counter() - t0) * 1e6
        sys.exit("repl-probe: no answer to %r after 50 tries" % req)

    got, _ = ask("%s %d PUT %s 0" % (prefix, seq, key))
    if got != "%s %d OK 0" % (prefix, seq):
        sys.exit("repl-probe: PUT answered %r" % got)
    next_t = time.monotonic()
    for i in range(1, count + 1):
        next_t += gap_ms / 1000
        d = next_t - time.monotonic()
        if d > 0:
            time.sleep(d)
        seq += 1
        got, us = ask("%s %d INCR %s" % (prefix, seq, key))
        if got != "%s %d OK %d" % (prefix, seq, i):
            sys.exit("repl-probe: INCR %d answered %r, expected OK %d" % (seq, got, i))
        lat.append(us)
    print("sparse n=%d p50_us=%.0f p99_us=%.0f max_us=%.0f retries=%d"
          % (len(lat), median(lat), quantile(lat, 0.99), max(lat), retries))
    return 0


def stats(paths):
    v = []
    for p in paths:
        with open(p) as f:
            v += [float(x) for x in f.read().split()]
    if not v:
        print("n=0 median=- p99=- max=-")
        return 0
    print("n=%d median=%.1f p99=%.1f max=%.1f" % (len(v), median(v), quantile(v, 0.99), max(v)))
    return 0


def ctl(path, command):
    import json
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        f = s.makefile("rwb")
        f.readline()  # greeting
        f.write(json.dumps({"execute": command}).encode() + b"\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                return 1
            msg = json.loads(line)
            if "return" in msg:
                print(json.dumps(msg["return"]))
                return 0
            if "error" in msg:
                print(json.dumps(msg["error"]), file=sys.stderr)
                return 1
    except (OSError, ValueError):
        return 1


def main():
    a = sys.argv[1:]
    if a[:1] == ["stamp"]:
        return stamp()
    if a[:1] == ["rate"] and len(a) == 5:
        return rate(a[1], float(a[2]), float(a[3]), int(a[4]))
    if a[:1] == ["sparse"] and len(a) == 6:
        return sparse(a[1], int(a[2]), int(a[3]), float(a[4]), a[5])
    if a[:1] == ["ctl"] and len(a) == 3:
        return ctl(a[1], a[2])
    if a[:1] == ["stats"]:
        return stats(a[1:])
    sys.exit(__doc__ or "usage: repl-probe.py stamp | rate | sparse | stats (see the file's head)")


if __name__ == "__main__":
    sys.exit(main())
