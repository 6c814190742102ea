#!/bin/bash
# e2e: the kv guest keeps answering the lab client across a live migration from host h1 to h2
# (twin-vmm migrate over the replication network); every request is answered, the kv state
# carries over, the source exits 0, and the longest gap between answers is printed.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3-minimal
require_kv_client
"$TWIN_VMM" --help 2>&1 | grep -q 'twin-vmm incoming' ||
	fail "twin-vmm has no 'incoming' command (twin-vmm --help): build a twin-vmm with live migration"

PORT=7100
DST=198.18.1.2 # h2 on the replication network
# How long the client keeps sending, at the rate measured before the migration: longer than
# any migration of this 64 MiB guest should take; the test checks it was still sending
# when the migration ended.
CLIENT_SECS=10

# The gap meter: one request outstanding, INCR of its own key with a new SEQ each time,
# 10 ms after the previous answer; resent unchanged every 20 ms until answered (the
# protocol makes that safe).  Each answer must be the previous one + 1: the counter goes
# on across the migration, every INCR applied exactly once.  On SIGTERM it prints
# {"answers": N, "max_gap_ms": G, "resent": R} and exits 0, or names the first wrong
# answer and exits 1.  A request unanswered for 30 s fails it at once.
PROBE='
import json, signal, socket, sys, time
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = (sys.argv[1], int(sys.argv[2]))
seq, resent, max_gap, last = 0, 0, 0.0, None
def done(err=None):
    print(json.dumps({"answers": seq, "max_gap_ms": round(max_gap * 1000, 1), "resent": resent,
                      **({"error": err} if err else {})}), flush=True)
    sys.exit(1 if err else 0)
while not stop:
    seq += 1
    req = b"mlprobe %d INCR probe" % seq
    want = b"mlprobe %d OK %d" % (seq, seq)
    first = time.monotonic()
    s.sendto(req, addr)
    # SIGTERM ends the probe between requests only, so every request sent is answered
    # and the count the server holds is exactly the answers.
    while True:
        s.settimeout(0.02)
        try:
            got = s.recv(128)
        except socket.timeout:
            if time.monotonic() - first > 30:
                seq -= 1
                done("request %d unanswered for 30 s" % (seq + 1))
            s.sendto(req, addr)
            resent += 1
            continue
        if got.split(b" ")[1:2] != [b"%d" % seq]:
            continue  # a late answer to an earlier SEQ, already counted
        if got != want:
            seq -= 1
            done("request %d got %r, expected %r" % (seq + 1, got, want))
        now = time.monotonic()
        if last is not None:
            max_gap = max(max_gap, now - last)
        last = now
        break
    time.sleep(0.01)  # the pace of the probe, not synchronisation
done()
'

lab_up mig --hosts 2
p=$(lab mig get prefix)
nic="tap=$p-t0,mac=$KV_MAC,bridge=$(lab mig get lan-bridge)"

# The source: the kv guest on h1, its tap in h1's LAN bridge.
start_bg src "$LAB" --state "$E2E_TMP/lab-mig" exec h1 "$TWIN_VMM" run --kernel "$(guest kv)" \
	--mem 64M --nic "$nic" --control "$E2E_TMP/src.ctl" \
	--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT"
SRC_PID=$BG_PID
KV_PID=$SRC_PID
kv_wait_ready mig src "$E2E_BOOT_TIMEOUT"

# The destination: twin-vmm incoming on h2, the same NIC in h2's LAN bridge; ready once it
# listens on the replication network.
start_bg dst "$LAB" --state "$E2E_TMP/lab-mig" exec h2 "$TWIN_VMM" incoming \
	--listen "$DST:$PORT" --insecure --nic "$nic" --control "$E2E_TMP/dst.ctl"
DST_PID=$BG_PID
deadline=$((SECONDS + E2E_BOOT_TIMEOUT))
until [ -n "$(lab mig exec h2 ss -Hltn "sport = :$PORT")" ]; do
	kill -0 "$DST_PID" 2>/dev/null || { show_file "$E2E_TMP/dst.err"; fail "twin-vmm incoming exited before it listened"; }
	[ "$SECONDS" -lt "$deadline" ] || fail "twin-vmm incoming did not listen on $DST:$PORT within ${E2E_BOOT_TIMEOUT}s"
done

# State the migration must carry: a counter, and the count of applied requests.
kv_expect mig "mlab 1 PUT ctr 41" "mlab 1 OK 41"
stats_before=$(kv_stats mig mlabs1)

# The client's rate here, to size its run.
kv_client_verify mig 2000 1
rps=$(sed -n 's/.*throughput \([0-9]*\) req\/s.*/\1/p' "$E2E_TMP/kv-client-2000-1.out")
[[ "$rps" =~ ^[1-9][0-9]*$ ]] || fail "cannot read twin-kv-client's throughput"
requests=$((rps * CLIENT_SECS))

start_bg probe "$LAB" --state "$E2E_TMP/lab-mig" exec client python3 -c "$PROBE" "$KV_IP" "$KV_PORT"
PROBE_PID=$BG_PID
# Retransmit after 50 ms, up to 400 times: 20 s without an answer fails the client.
start_bg kvc "$LAB" --state "$E2E_TMP/lab-mig" exec client "$KV_CLIENT" --requests "$requests" \
	--timeout-ms 50 --tries 400 --json "$KV_IP"
KVC_PID=$BG_PID

# The live migration, h1 -> h2 over 198.18.1.0/24, while both clients send.
timeout 120 "$LAB" --state "$E2E_TMP/lab-mig" exec h1 "$TWIN_VMM" migrate \
	--control "$E2E_TMP/src.ctl" --to "$DST:$PORT" --insecure --downtime 30 \
	>"$E2E_TMP/migrate.out" 2>"$E2E_TMP/migrate.err" || {
	rc=$?
	show_file "$E2E_TMP/migrate.err"
	show_file "$E2E_TMP/src.err"
	show_file "$E2E_TMP/dst.err"
	fail "twin-vmm migrate exited $rc, expected 0"
}
kill -0 "$KVC_PID" 2>/dev/null ||
	fail "twin-kv-client finished before the migration ended: raise CLIENT_SECS"
status=$(sed -n 's/^migrate: //p' "$E2E_TMP/migrate.out" | tail -n 1)
[ -n "$status" ] || { show_file "$E2E_TMP/migrate.out"; fail "twin-vmm migrate printed no final 'migrate: {...}' status"; }

# The source hands over and exits 0 by itself.
wait_bounded "$SRC_PID" 30
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/src.err"; fail "the source twin-vmm exited $WAIT_RC after the migration, expected 0"; }

# The guest on h2 answers, with the state it had on h1.
kv_expect mig "mlab 2 INCR ctr" "mlab 2 OK 42"

# Every request of the client was answered and verified against its model of the store.
wait_bounded "$KVC_PID" 120
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kvc.out"; show_file "$E2E_TMP/kvc.err"; fail "twin-kv-client exited $WAIT_RC: a request unanswered or a wrong answer across the migration"; }
assert_match "$E2E_TMP/kvc.out" "\"ok\": true, \"requests\": $requests, \"verified\": $requests,"

kill -TERM "$PROBE_PID"
wait_bounded "$PROBE_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/probe.out"; show_file "$E2E_TMP/probe.err"; fail "the probe's counter did not go on by one per answer"; }
read -r answers gap resent < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["answers"], r["max_gap_ms"], r["resent"])' "$E2E_TMP/probe.out")
[ "$answers" -gt 0 ] || fail "the probe got no answer"
kv_expect mig "mlab 3 GET probe" "mlab 3 OK $answers"

# Nothing was lost or applied twice: every applied request of this test is counted.
stats_after=$(kv_stats mig mlabs2)
[ "$stats_after" -ge $((stats_before + 1 + 2000 + requests + answers + 2)) ] ||
	fail "GET __stats went from $stats_before to $stats_after: fewer than the 2000 + $requests + $answers + 3 requests applied since"

read -r total downtime bytes < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("%.1f %.1f %d" % (s["total_ns"] / 1e6, s["downtime_ns"] / 1e6, s["bytes"]))' "$status")
note "migration: total $total ms, downtime $downtime ms, $bytes bytes (twin-vmm's report)"
note "longest gap between answers: $gap ms (INCR probe every 10 ms, $resent resends; $requests client requests verified)"

kill -TERM "$DST_PID"
wait_bounded "$DST_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/dst.err"; fail "the destination twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
