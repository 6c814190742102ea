#!/bin/bash
# e2e: the kv guest keeps answering the lab client across live migrations between two lab
# hosts over the replication network, h1 -> h2 with --insecure, then back h2 -> h1 over TLS
# 1.3 with certificates both ways; every request is answered, the kv state carries over,
# each source exits 0, and the longest gap between answers is printed for each.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/tls-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3-minimal
require_kv_client
"$TWIN_VMM" --help 2>&1 | grep -q 'twin-vmm incoming' ||
	fail "twin-vmm has no 'incoming' command (twin-vmm --help): build a twin-vmm with live migration"

PORT=7100
# How long the client keeps sending, at the rate measured before the migration: longer than
# any migration of this 64 MiB guest should take; the test checks it was still sending
# when the migration ended.
CLIENT_SECS=10

# The gap meter: one request outstanding, INCR of its own key with a new SEQ each time,
# 10 ms after the previous answer; resent unchanged every 20 ms until answered (the
# protocol makes that safe).  Each answer must be the previous one + 1: the counter goes
# on across the migration, every INCR applied exactly once.  argv: ADDR PORT NAME (the
# client id and the key).  On SIGTERM it prints
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
addr, name = (sys.argv[1], int(sys.argv[2])), sys.argv[3].encode()
seq, resent, max_gap, last = 0, 0, 0.0, None
def done(err=None):
    print(json.dumps({"answers": seq, "max_gap_ms": round(max_gap * 1000, 1), "resent": resent,
                      **({"error": err} if err else {})}), flush=True)
    sys.exit(1 if err else 0)
while not stop:
    seq += 1
    req = b"%s %d INCR %s" % (name, seq, name)
    want = b"%s %d OK %d" % (name, seq, seq)
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
# The PKI for the TLS leg: the server certificate names h1's replication address.
tls_pki "$E2E_TMP/pki" 198.18.1.1

# The first source: the kv guest on h1, its tap in h1's LAN bridge.
start_bg vm0 "$LAB" --state "$E2E_TMP/lab-mig" exec h1 "$TWIN_VMM" run --kernel "$(guest kv)" \
	--mem 64M --nic "$nic" --control "$E2E_TMP/vm0.ctl" \
	--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT"
SRC_PID=$BG_PID
KV_PID=$SRC_PID
kv_wait_ready mig vm0 "$E2E_BOOT_TIMEOUT"

# State the migrations must carry: a counter, and the count of applied requests.
kv_expect mig "mlab 1 PUT ctr 41" "mlab 1 OK 41"
stats_before=$(kv_stats mig mlabs1)

# The client's rate here, to size its runs.
kv_client_verify mig 2000 1
rps=$(sed -n 's/.*throughput \([0-9]*\) req\/s.*/\1/p' "$E2E_TMP/kv-client-2000-1.out")
[[ "$rps" =~ ^[1-9][0-9]*$ ]] || fail "cannot read twin-kv-client's throughput"
requests=$((rps * CLIENT_SECS))
applied=$((1 + 2000)) # since stats_before: that GET __stats and the client's run

# leg N FROM TO IN_SEC OUT_SEC: live-migrate the guest (twin-vmm serving vm$((N-1)).ctl on
# host FROM) to twin-vmm incoming on host TO (hI listens on 198.18.1.I), IN_SEC and OUT_SEC
# the channel security options of incoming and of migrate, while twin-kv-client and the
# probe send; checks everything and notes the numbers.  SRC_PID becomes the destination.
leg()
{
	local n=$1 from=$2 to=$3 in_sec=$4 out_sec=$5 addr sec kv_max status answers gap resent total downtime bytes
	addr=198.18.1.${to#h}:$PORT

	# The destination, the same NIC in TO's LAN bridge; ready once it listens.
	# shellcheck disable=SC2086 # the security options are a word list
	start_bg "vm$n" "$LAB" --state "$E2E_TMP/lab-mig" exec "$to" "$TWIN_VMM" incoming \
		--listen "$addr" $in_sec --nic "$nic" --control "$E2E_TMP/vm$n.ctl"
	DST_PID=$BG_PID
	deadline=$((SECONDS + E2E_BOOT_TIMEOUT))
	until [ -n "$(lab mig exec "$to" ss -Hltn "sport = :$PORT")" ]; do
		kill -0 "$DST_PID" 2>/dev/null || { show_file "$E2E_TMP/vm$n.err"; fail "leg $n: twin-vmm incoming exited before it listened"; }
		[ "$SECONDS" -lt "$deadline" ] || fail "leg $n: twin-vmm incoming did not listen on $addr within ${E2E_BOOT_TIMEOUT}s"
	done

	start_bg "probe$n" "$LAB" --state "$E2E_TMP/lab-mig" exec client python3 -c "$PROBE" \
		"$KV_IP" "$KV_PORT" "mlprobe$n"
	PROBE_PID=$BG_PID
	# Retransmit after 50 ms, up to 400 times: 20 s without an answer fails the client.
	start_bg "kvc$n" "$LAB" --state "$E2E_TMP/lab-mig" exec client "$KV_CLIENT" \
		--requests "$requests" --timeout-ms 50 --tries 400 --json "$KV_IP"
	KVC_PID=$BG_PID

	# The live migration over 198.18.1.0/24, while both clients send.
	# shellcheck disable=SC2086 # the security options are a word list
	timeout 120 "$LAB" --state "$E2E_TMP/lab-mig" exec "$from" "$TWIN_VMM" migrate \
		--control "$E2E_TMP/vm$((n - 1)).ctl" --to "$addr" $out_sec --downtime 30 \
		>"$E2E_TMP/migrate$n.out" 2>"$E2E_TMP/migrate$n.err" || {
		local rc=$?
		show_file "$E2E_TMP/migrate$n.err"
		show_file "$E2E_TMP/vm$((n - 1)).err"
		show_file "$E2E_TMP/vm$n.err"
		fail "leg $n: twin-vmm migrate $from -> $to exited $rc, expected 0"
	}
	kill -0 "$KVC_PID" 2>/dev/null ||
		fail "leg $n: twin-kv-client finished before the migration ended: raise CLIENT_SECS"
	status=$(sed -n 's/^migrate: //p' "$E2E_TMP/migrate$n.out" | tail -n 1)
	[ -n "$status" ] || { show_file "$E2E_TMP/migrate$n.out"; fail "leg $n: twin-vmm migrate printed no final 'migrate: {...}' status"; }

	# The source hands over and exits 0 by itself.
	wait_bounded "$SRC_PID" 30
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/vm$((n - 1)).err"; fail "leg $n: the source twin-vmm exited $WAIT_RC after the migration, expected 0"; }
	SRC_PID=$DST_PID
	KV_PID=$SRC_PID

	# The guest on TO answers, with the state it had on FROM.
	kv_expect mig "mlab $((n + 1)) INCR ctr" "mlab $((n + 1)) OK $((41 + n))"

	# Every request of the client was answered and verified against its model of the store.
	wait_bounded "$KVC_PID" 120
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/kvc$n.out"; show_file "$E2E_TMP/kvc$n.err"; fail "leg $n: twin-kv-client exited $WAIT_RC: a request unanswered or a wrong answer across the migration"; }
	assert_match "$E2E_TMP/kvc$n.out" "\"ok\": true, \"requests\": $requests, \"verified\": $requests,"

	kill -TERM "$PROBE_PID"
	wait_bounded "$PROBE_PID" 10
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/probe$n.out"; show_file "$E2E_TMP/probe$n.err"; fail "leg $n: the probe's counter did not go on by one per answer"; }
	read -r answers gap resent < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["answers"], r["max_gap_ms"], r["resent"])' "$E2E_TMP/probe$n.out")
	[ "$answers" -gt 0 ] || fail "leg $n: the probe got no answer"
	applied=$((applied + requests + answers + 1))

	read -r total downtime bytes < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("%.1f %.1f %d" % (s["total_ns"] / 1e6, s["downtime_ns"] / 1e6, s["bytes"]))' "$status")
	sec="TLS 1.3, certificates"
	[ "$out_sec" != --insecure ] || sec=insecure
	note "leg $n, $from -> $to ($sec): total $total ms, downtime $downtime ms, $bytes bytes (twin-vmm's report)"
	kv_max=$(python3 -c '
import json, sys
print("%.1f" % (json.load(open(sys.argv[1]))["latency_us"]["max"] / 1000))' "$E2E_TMP/kvc$n.out")
	note "leg $n: longest gap between answers: $gap ms (INCR probe every 10 ms, $resent resends); twin-kv-client's longest request $kv_max ms (first send to answer, resent every 50 ms; $requests verified)"
}

leg 1 h1 h2 --insecure --insecure
leg 2 h2 h1 "$(tls_opts "$E2E_TMP/pki" server)" "$(tls_opts "$E2E_TMP/pki" client)"

# Each probe's counter holds exactly its answers, and nothing was lost or applied twice:
# every applied request of this test is counted in __stats.
kv_expect mig "mlab 4 GET mlprobe1" "mlab 4 OK $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answers"])' "$E2E_TMP/probe1.out")"
kv_expect mig "mlab 5 GET mlprobe2" "mlab 5 OK $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answers"])' "$E2E_TMP/probe2.out")"
stats_after=$(kv_stats mig mlabs2)
[ "$stats_after" -ge $((stats_before + applied + 2)) ] ||
	fail "GET __stats went from $stats_before to $stats_after: fewer than the $((applied + 2)) requests applied since"

kill -TERM "$SRC_PID"
wait_bounded "$SRC_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/vm2.err"; fail "the last twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
