#!/bin/bash
# e2e: the kv guest, protected between two lab hosts, survives kill -9 of its primary twin-vmm at seeded random moments in epoch, event and hybrid mode (failover by command), and with --auto-failover both killed and hung (SIGSTOP): twin-kv-client gets every answer right and answers resume within a stated bound.
#
# Each trial protects the VM toward a fresh backup on the other host, starts twin-kv-client
# on the lab's client (2 clients, sequence-numbered INCR/PUT/GET, every 4th request sent
# twice and again after its answer, resent every RESEND_MS until answered), kills the
# primary with SIGKILL after a seeded random delay, and fails over: `twin-vmm failover` on
# the backup at once (the test plays the cluster), or the backup on its own in the last two
# trials (--auto-failover: the primary killed, then one stopped with SIGSTOP, which only
# its silence betrays, killed once the backup runs).  The client then must end with every answer verified against
# its model of the store: an acknowledged write missing after failover, or a request
# applied twice, shows as a wrong answer, in the final GET of every key, or in GET __stats
# growing by other than the requests sent.  The failover gap is the client's longest
# request, first send to answer: it must stay within GAP_MAX_MS (AUTO_GAP_MAX_MS with
# --auto-failover).  The VM moves host to host, trial after trial: each new primary is the
# failed-over backup of the one before, protected at once toward a new backup.
#
# TRIALS (default 10, modes in turn: epoch, event, hybrid) sets the failover-command trials,
# for longer campaigns (bench/); TWIN_SEED replays the random moments of a run.  Each trial
# prints one line: "trial N/T mode=M kill_after_ms=K failover_ms=F gap_ms=G ...".
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"
. "$(dirname "$0")/migrate-lib.sh"
. "$(dirname "$0")/repl-lib.sh"

repl_require
require_kv_client

TRIALS=${TRIALS:-10}
[[ "$TRIALS" =~ ^[1-9][0-9]*$ ]] || fail "TRIALS=$TRIALS is not a positive number"
MODES=(epoch event hybrid)
# The kill comes this long after the client starts: the random moment of each trial (the
# client's requests begin once its GET __stats is answered, tens of ms after its start).
KILL_MIN_MS=300 KILL_MAX_MS=1000
# The client sends for this long past the kill moment: past any failover within the bound.
AFTER_KILL_MS=2500
# twin-kv-client resends an unanswered request every RESEND_MS (the gap's resolution),
# and gives up after 30 s.
RESEND_MS=20
# The bound on the gap the client sees when the failover is commanded at once: the kill
# noticed, `twin-vmm failover` run, the last committed state restored, the VM started and
# announced, and the client's next resend.
GAP_MAX_MS=${GAP_MAX_MS:-2000}
# With --auto-failover a silent primary is lost after AUTO_TIMEOUT_MS (a closed connection
# at once).
AUTO_TIMEOUT_MS=500
AUTO_GAP_MAX_MS=$((AUTO_TIMEOUT_MS + GAP_MAX_MS))

repl_seed
REPL_LAB=rl
lab_up rl --hosts 2
p=$(lab rl get prefix)
br=$(lab rl get lan-bridge)

# nic N: instance N's NIC: its own tap in its host's LAN bridge, the guest's one MAC.
nic()
{
	echo "tap=$p-t$1,mac=$KV_MAC,bridge=$br"
}

# The first primary, on h1.
repl_run_bg vm0 h1 --kernel "$(guest kv)" --mem 64M --nic "$(nic 0)" \
	--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT"
PRIMARY_PID=$VM_PID
KV_PID=$VM_PID
kv_wait_ready rl vm0 "$E2E_BOOT_TIMEOUT"

# A counter every trial increments once before its kill and once after its failover:
# the state that must carry across all of them, each INCR applied once.
CTR=100 CTR_SEQ=1
kv_expect rl "rlab $CTR_SEQ PUT ctr $CTR" "rlab $CTR_SEQ OK $CTR"
ctr_incr()
{
	CTR_SEQ=$((CTR_SEQ + 1)) CTR=$((CTR + 1))
	kv_expect rl "rlab $CTR_SEQ INCR ctr" "rlab $CTR_SEQ OK $CTR"
}

GAPS=()

# trial N MODE manual|auto|auto-stall: protect instance CUR (host HOST) toward instance N on
# the other host, kill it (stop it: auto-stall) at a random moment under load, fail over to
# N (by command: manual; by itself: auto*), check everything.
CUR=0 HOST=h1
trial()
{
	local n=$1 mode=$2 how=$3 other addr kill_ms requests out gap retries bound t_kill fo_ms
	local -a bargs
	other=h2
	[ "$HOST" = h2 ] && other=h1
	addr=198.18.1.${other#h}
	bargs=(--insecure --nic "$(nic "$n")")
	[ "$how" = manual ] || bargs+=(--auto-failover --timeout "$AUTO_TIMEOUT_MS")
	repl_backup_bg "vm$n" "$other" "$addr:0" "${bargs[@]}"
	repl_protect "protect$n" "$E2E_TMP/vm$CUR.ctl" "$addr:$BACKUP_PORT" --insecure --mode "$mode"
	repl_check "$REPL_STATUS" "s['mode'] == '$mode' and s['peer'] == '$addr:$BACKUP_PORT'" \
		"trial $n: protect's status"
	repl_check "$(repl_status "$E2E_TMP/vm$n.ctl")" 's["status"] == "backup"' \
		"trial $n: the backup's query-status"

	# Protected, the VM answers (its reply released by an ack), and epochs are acked.
	ctr_incr
	repl_check "$(repl_query "$E2E_TMP/vm$CUR.ctl")" \
		"s['state'] == 'protected' and s['mode'] == '$mode' and s['acked_epoch'] >= 1 and s['epochs'] >= s['acked_epoch']" \
		"trial $n: the primary's query-replication after an answer"

	repl_random kill_ms "$KILL_MIN_MS" "$KILL_MAX_MS"
	start_bg "kvc$n" "$LAB" --state "$E2E_TMP/lab-rl" exec client "$KV_CLIENT" \
		--duration-ms $((kill_ms + AFTER_KILL_MS)) --clients 2 --retransmit --timeout-ms "$RESEND_MS" \
		--tries $((30000 / RESEND_MS)) --seed $((REPL_SEED + n)) --prefix "rl$n" --json "$KV_IP"
	KVC_PID=$BG_PID
	repl_pause_ms "$kill_ms"
	kill -0 "$KVC_PID" 2>/dev/null || {
		show_file "$E2E_TMP/kvc$n.out"
		fail "trial $n: twin-kv-client ended before the kill at ${kill_ms} ms: nothing crossed the failover"
	}
	t_kill=$(date +%s%N)
	if [ "$how" = auto-stall ]; then
		# A hung primary: its connection stays open, silent.
		kill -STOP "$(repl_vmm_pid "$PRIMARY_PID")"
	else
		repl_kill9 "$PRIMARY_PID" "vm$CUR"
	fi
	if [ "$how" = manual ]; then
		repl_failover "failover$n" "$E2E_TMP/vm$n.ctl"
		fo_ms=$REPL_FAILOVER_MS
		bound=$GAP_MAX_MS
	else
		# Nobody commands it: the backup finds the primary gone (its connection closed, or
		# silent for AUTO_TIMEOUT_MS) and activates by itself.
		wait_for_text "$E2E_TMP/vm$n.err" "backup: failed over" $((AUTO_TIMEOUT_MS / 1000 + 20)) || {
			show_file "$E2E_TMP/vm$n.err"
			fail "trial $n: the --auto-failover backup did not fail over by itself"
		}
		fo_ms=$((($(date +%s%N) - t_kill) / 1000000))
		if [ "$how" = auto-stall ]; then
			# Not before the silence lasted its timeout (less the last epoch's age).
			[ "$fo_ms" -ge $((AUTO_TIMEOUT_MS * 8 / 10)) ] ||
				fail "trial $n: the backup activated $fo_ms ms into a ${AUTO_TIMEOUT_MS} ms timeout"
			repl_kill9 "$PRIMARY_PID" "vm$CUR"
		fi
		repl_check "$(repl_query "$E2E_TMP/vm$n.ctl")" 's["state"] == "failed-over"' \
			"trial $n: the auto-failed-over backup's query-replication"
		repl_check "$(repl_status "$E2E_TMP/vm$n.ctl")" 's["running"] is True' \
			"trial $n: the auto-failed-over VM's query-status"
		bound=$AUTO_GAP_MAX_MS
	fi

	wait_bounded "$KVC_PID" 90
	out="$E2E_TMP/kvc$n.out"
	[ "$WAIT_RC" -eq 0 ] || {
		show_file "$out"
		show_file "$E2E_TMP/kvc$n.err"
		show_file "$E2E_TMP/vm$n.err"
		fail "trial $n ($mode, $how failover, kill at ${kill_ms} ms, TWIN_SEED=$REPL_SEED): twin-kv-client exited $WAIT_RC: an answer wrong or missing across the failover"
	}
	read -r requests gap retries < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["requests"] == r["verified"] > 0, r
print("%d %.1f %d" % (r["requests"], r["latency_us"]["max"] / 1000, r["retries"]))' "$out") ||
		fail "trial $n: twin-kv-client's report is not all verified: $(cat "$out")"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$gap" "$bound" ||
		fail "trial $n ($mode, $how failover, TWIN_SEED=$REPL_SEED): answers stopped for $gap ms, over the bound of $bound ms"
	if [ "$how" = manual ]; then GAPS+=("$mode:$gap"); else GAPS+=("$mode+$how:$gap"); fi

	# The counter went on from its value before the kill: acked, kept, applied once.
	ctr_incr
	note "trial $n/$((TRIALS + 2)) mode=$mode failover=$how kill_after_ms=$kill_ms failover_ms=$fo_ms gap_ms=$gap bound_ms=$bound requests=$requests retries=$retries"
	PRIMARY_PID=$BACKUP_PID
	KV_PID=$PRIMARY_PID
	CUR=$n HOST=$other
}

for ((i = 1; i <= TRIALS; i++)); do
	trial "$i" "${MODES[(i - 1) % 3]}" manual
done
# --auto-failover: the primary killed (its connection closes), then hung (SIGSTOP: only the
# silence tells), each killed for good once the backup runs.
trial $((TRIALS + 1)) hybrid auto
trial $((TRIALS + 2)) epoch auto-stall

# The summary: the longest gap per mode.
python3 - "${GAPS[@]}" <<'PY'
import collections, sys
g = collections.defaultdict(list)
for a in sys.argv[1:]:
    m, v = a.split(":")
    g[m].append(float(v))
for m, v in g.items():
    v.sort()
    print("repl-lab: %s: %d trials, gap_ms median %.1f max %.1f" % (m, len(v), v[(len(v) - 1) // 2], v[-1]))
PY

kill -TERM "$PRIMARY_PID"
wait_bounded "$PRIMARY_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/vm$CUR.err"; fail "the last twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
