#!/bin/bash
# Replication benchmark (issue 5): pause time against dirty pages next to the floor measured in
# the same run, throughput and client latency per mode against unprotected, and the failover
# gap as the client sees it.  Only measured numbers are printed; a part that fails prints
# FAILED (not met) and the bench exits 1 after its tables.
#
# Environment (set by `make bench-replication` in bench/):
#   TWIN_VMM, TWIN_GUESTS_DIR, TWIN_KV_CLIENT, TWIN_LAB, TWIN_SRCDIR, REPL_FLOOR
#   BENCH_REPL_PAGES ("16 64 256 1024 4096")  dirty pages per epoch for the pause table
#   BENCH_REPL_MODES ("epoch:10 epoch:25 epoch:100 event hybrid:25")  MODE[:INTERVAL_MS]
#   BENCH_REPL_SECS (3)       seconds per measuring window
#   BENCH_REPL_ROUNDS (3)     memwriter: rounds of windows (unprotected and every mode)
#   BENCH_REPL_TRIALS (10)    failover trials (tests/e2e/repl-lab.sh TRIALS=N)
#   BENCH_REPL_ONLY ("pause throughput failover")  the parts to run
#
# 1. Pause.  For each N: memwriter (pages=ws=N, paced so that it goes round its N pages
#    about three times per epoch) under twin-vmm on lab host h1, protected toward a backup on
#    h2 over the replication network in epoch mode at PAUSE_INTERVAL_MS; after a settling
#    second, SECS seconds of epochs; Twin's pause is query-replication's pause_ns (p50, p99:
#    "vCPUs parked per checkpoint", over every epoch since protect) and dirty_pages_mean.  The
#    floor comes from bench/repl-floor in the same run, with the same guest, RAM and N: the
#    vCPU paused, dirty__harvest (KVM get-log, which also re-protects) + memcpy of the
#    harvested pages into a staging buffer (median of 21 epochs).  park is pausing and
#    resuming the vCPU around it, shown apart: part of every pause, not of the floor.  The
#    lab's write-fault cost (repl-floor: the guest's first writes to pages a harvest
#    re-protected, against writes to pages already dirty) is the guest's cost per epoch for N
#    pages on this shadow-paging host (LAB.md): the lab's floor, not Twin's overhead, and not
#    inside the pause (the guest pays it while it runs).
# 2. Throughput.  memwriter pages=ws=256 rate=0 (at most 256 dirty pages per epoch: the light
#    load) on h1: pages written per second from its progress lines, stamped as they arrive;
#    windows of SECS seconds unprotected, then protected in each mode (one protect, then
#    set-replication), then unprotected again; ROUNDS rounds, medians.  Before each mode but
#    event, an "idle" window in event mode (this guest does no I/O: no checkpoint, no harvest,
#    no fault, so it runs as unprotected) gives a paired ratio that the shared cores' drift
#    over the seconds between windows does not move as much.  kv: twin-kv-client
#    (every answer verified) from the lab's client against kv.elf on h1, 4 clients with one
#    request outstanding each, sized to run about SECS seconds, unprotected (before protect
#    and after unprotect) and in each mode.
# 3. Latency.  The same kv runs with 1 client (median, p99) and sparse requests: one INCR
#    every 20 ms (bench/repl-probe.py sparse; never two outstanding, so each meets an idle
#    guest); "adds" is the mode's median minus unprotected's.
# 4. Failover.  tests/e2e/repl-lab.sh with TRIALS=N: kill -9 of the primary twin-vmm at a
#    seeded random moment under kv load, `twin-vmm failover` on the backup at once; the gap
#    is the client's longest request (first send to answer, resent every 20 ms), per trial;
#    median and p99 per mode and overall.  It runs its own lab.
set -euo pipefail

die()
{
	echo "repl-bench: $*" >&2
	exit 1
}

: "${TWIN_VMM:?TWIN_VMM is not set: run make bench-replication in bench/}"
: "${TWIN_GUESTS_DIR:?TWIN_GUESTS_DIR is not set: run make bench-replication in bench/}"
: "${TWIN_KV_CLIENT:?TWIN_KV_CLIENT is not set: run make bench-replication in bench/}"
: "${TWIN_LAB:?TWIN_LAB is not set: run make bench-replication in bench/}"
: "${TWIN_SRCDIR:?TWIN_SRCDIR is not set: run make bench-replication in bench/}"
: "${REPL_FLOOR:?REPL_FLOOR is not set: run make bench-replication in bench/}"
read -r -a PAGES <<<"${BENCH_REPL_PAGES:-16 64 256 1024 4096}"
read -r -a MODES <<<"${BENCH_REPL_MODES:-epoch:10 epoch:25 epoch:100 event hybrid:25}"
read -r -a ONLY <<<"${BENCH_REPL_ONLY:-pause throughput failover}"
SECS=${BENCH_REPL_SECS:-3}
ROUNDS=${BENCH_REPL_ROUNDS:-3}
TRIALS=${BENCH_REPL_TRIALS:-10}
PAUSE_INTERVAL_MS=50
LIGHT_PAGES=256
KV_CLIENTS=4
SPARSE_GAP_MS=20
PROBE=$(dirname "$0")/repl-probe.py
REPL_LAB_SH=$TWIN_SRCDIR/tests/e2e/repl-lab.sh
IP=198.18.2.10
MAC=52:54:00:12:34:56
BACKUP_ADDR=198.18.1.2
MEMWRITER=$TWIN_GUESTS_DIR/memwriter.elf
KV_ELF=$TWIN_GUESTS_DIR/kv.elf

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, /dev/kvm): run make bench-replication as root"
( exec 3<>/dev/kvm ) 2>/dev/null || die "/dev/kvm cannot be opened read-write: run as root"
[ -x "$TWIN_VMM" ] || die "twin-vmm not built at $TWIN_VMM: run make first"
[ -x "$REPL_FLOOR" ] || die "repl-floor not built at $REPL_FLOOR: run make in bench/"
{ [ -f "$MEMWRITER" ] && [ -f "$KV_ELF" ]; } || die "guests not built in $TWIN_GUESTS_DIR: run make first"
[ -x "$TWIN_KV_CLIENT" ] || die "twin-kv-client not built at $TWIN_KV_CLIENT: run make first"
[ -x "$TWIN_LAB" ] || die "lab script not found at $TWIN_LAB"
command -v python3 >/dev/null || die "python3 not found: install the Debian package python3"
help=$("$TWIN_VMM" --help 2>&1 || true)
for c in backup protect unprotect set-replication query-replication failover; do
	grep -q "twin-vmm $c" <<<"$help" ||
		die "twin-vmm has no '$c' command (twin-vmm --help): build a twin-vmm with replication"
done
[[ "$SECS" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ && "$TRIALS" =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_REPL_SECS, BENCH_REPL_ROUNDS and BENCH_REPL_TRIALS must be numbers >= 1"
for m in "${MODES[@]}"; do
	[[ "$m" =~ ^(epoch|hybrid):[1-9][0-9]*$|^event$ ]] ||
		die "BENCH_REPL_MODES: '$m' is not epoch:MS, hybrid:MS or event"
done
want() { [[ " ${ONLY[*]} " == *" $1 "* ]]; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twin-repl-bench.XXXXXX")
state="$tmp/lab"
PIDS=()
cleanup()
{
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ ! -f "$state/netns" ] || "$TWIN_LAB" --state "$state" down >/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab() { "$TWIN_LAB" --state "$state" "$@"; }
now() { date +%s.%N; }
failures=0
failed()
{
	echo "repl-bench: FAILED: $*" >&2
	failures=$((failures + 1))
}

# start_vm NAME ARGS...: `twin-vmm run ARGS --control $tmp/NAME.ctl` on h1, its console
# stamped into $tmp/NAME.out; VM_PID; returns once the control socket answers.
start_vm()
{
	local name=$1 deadline=$((SECONDS + 30))
	shift
	rm -f "$tmp/$name.ctl"
	lab exec h1 "$TWIN_VMM" run "$@" --control "$tmp/$name.ctl" \
		> >(python3 -u "$PROBE" stamp >"$tmp/$name.out") 2>"$tmp/$name.err" </dev/null &
	VM_PID=$!
	PIDS+=("$VM_PID")
	until python3 "$PROBE" ctl "$tmp/$name.ctl" query-status >/dev/null 2>&1; do
		if ! kill -0 "$VM_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 5 "$tmp/$name.err" >&2
			return 1
		fi
		sleep 0.05
	done
}

# start_backup NAME ARGS...: `twin-vmm backup --listen BACKUP_ADDR:0 --insecure ARGS` on h2;
# BACKUP_PID, BACKUP_PORT.
start_backup()
{
	local name=$1 deadline=$((SECONDS + 30))
	shift
	# A fresh file: the port line of an earlier backup of this name must not be read.
	rm -f "$tmp/$name.err"
	lab exec h2 "$TWIN_VMM" backup --listen "$BACKUP_ADDR:0" --insecure "$@" \
		--control "$tmp/$name.ctl" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
	BACKUP_PID=$!
	PIDS+=("$BACKUP_PID")
	until BACKUP_PORT=$(sed -n 's/.*waiting on .*, port \([0-9]*\)$/\1/p' "$tmp/$name.err" 2>/dev/null | head -n 1) &&
		[ -n "$BACKUP_PORT" ]; do
		if ! kill -0 "$BACKUP_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 5 "$tmp/$name.err" >&2
			return 1
		fi
		sleep 0.05
	done
}

# mode_args MODE[:MS]: the protect / set-replication options for it.
mode_args()
{
	case "$1" in
	event) echo "--mode event" ;;
	*) echo "--mode ${1%%:*} --interval ${1#*:}" ;;
	esac
}

# protect NAME MODE: protect the VM NAME toward the backup; 0 once it says "protected".
protect()
{
	# shellcheck disable=SC2046 # a word list on purpose
	timeout 120 "$TWIN_VMM" protect --control "$tmp/$1.ctl" --peer "$BACKUP_ADDR:$BACKUP_PORT" \
		--insecure $(mode_args "$2") >"$tmp/protect.out" 2>&1 </dev/null || {
		tail -n 5 "$tmp/protect.out" >&2
		return 1
	}
	grep -q '^protect: .*"state": *"protected"' "$tmp/protect.out" || {
		tail -n 3 "$tmp/protect.out" >&2
		return 1
	}
}

set_mode()
{
	# shellcheck disable=SC2046
	timeout 30 "$TWIN_VMM" set-replication --control "$tmp/$1.ctl" $(mode_args "$2") \
		>"$tmp/set.out" 2>&1 </dev/null || {
		cat "$tmp/set.out" >&2
		return 1
	}
}

query() { timeout 30 "$TWIN_VMM" query-replication --control "$tmp/$1.ctl" 2>/dev/null </dev/null | tail -n 1; }
# jget JSON EXPR: EXPR over the dict s.
jget()
{
	python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"s": s}))' "$1" "$2"
}

# unprotect_and_stop NAME: unprotect (the backup exits 0), then stop the VM.
unprotect()
{
	timeout 60 "$TWIN_VMM" unprotect --control "$tmp/$1.ctl" >"$tmp/unprotect.out" 2>&1 </dev/null || {
		cat "$tmp/unprotect.out" >&2
		return 1
	}
	timeout 10 tail -s 0.1 --pid="$BACKUP_PID" -f /dev/null || {
		echo "repl-bench: the backup did not exit within 10 s of unprotect" >&2
		kill -KILL "$BACKUP_PID" 2>/dev/null || true
	}
	local rc=0
	wait "$BACKUP_PID" || rc=$?
	[ "$rc" -eq 0 ] || { echo "repl-bench: the backup exited $rc after unprotect, expected 0" >&2; tail -n 3 "$tmp/$2.err" >&2; return 1; }
}
stop_vm()
{
	kill -TERM "$1" 2>/dev/null || true
	timeout 10 tail -s 0.1 --pid="$1" -f /dev/null || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	[ -z "${BACKUP_PID:-}" ] || kill -KILL "$BACKUP_PID" 2>/dev/null || true
	wait "${BACKUP_PID:-}" 2>/dev/null || true
	BACKUP_PID=
}

# medf FILE COL: the median of column COL of FILE, - when there is no FILE.
medf() { if [ -s "$1" ]; then awk -v c="$2" '{ print $c }' "$1" | med; else echo -; fi; }
med() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
cmp_goal() { awk -v r="$1" -v op="$2" -v g="$3" 'BEGIN { if (r == "-") print "not-met"; else if ((op == "<=" && r + 0 <= g + 0) || (op == ">=" && r + 0 >= g + 0) || (op == "<" && r + 0 < g + 0)) print "met"; else print "not-met" }'; }

echo "repl-bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if want pause || want throughput; then
	lab up --hosts 2 >/dev/null
	p=$(lab get prefix)
	br=$(lab get lan-bridge)
fi

# ---- 1. pause against dirty pages ----------------------------------------------------
if want pause; then
	echo "repl-bench: pause: floor (bench/repl-floor, same guest, 256 MiB) for N = ${PAGES[*]}"
	REPL_FLOOR_PAGES="${PAGES[*]}" REPL_FLOOR_INTERVAL_MS=$PAUSE_INTERVAL_MS \
		TWIN_GUESTS_DIR="$TWIN_GUESTS_DIR" "$REPL_FLOOR" --raw >"$tmp/floor.raw" ||
		failed "repl-floor (above)"
	for n in "${PAGES[@]}"; do
		# About three rounds of the working set per epoch; memwriter paces every 16 pages.
		rate=$(((3 * n + PAUSE_INTERVAL_MS - 1) / PAUSE_INTERVAL_MS))
		echo "repl-bench: pause: N=$n: memwriter pages=$n ws=$n rate=$rate, epoch mode ${PAUSE_INTERVAL_MS} ms, ${SECS} s"
		if start_vm mw "--kernel" "$MEMWRITER" --mem 256M \
			--cmdline "pages=$n ws=$n rate=$rate iters=1000000000000" &&
			start_backup mwb && protect mw "epoch:$PAUSE_INTERVAL_MS"; then
			sleep 1
			e0=$(jget "$(query mw)" 's["epochs"]')
			sleep "$SECS"
			j=$(query mw)
			echo "$n $(jget "$j" '"%d %d %d %d %d %d" % (s["pause_ns"]["p50"], s["pause_ns"]["p99"], s["dirty_pages_mean"], s["epochs"], s["ack_latency_ns"]["p50"], s["epoch_bytes_mean"])') $e0" \
				>>"$tmp/pause.twin"
			unprotect mw mwb || failed "N=$n: unprotect"
		else
			failed "N=$n: start, backup or protect (above)"
		fi
		stop_vm "$VM_PID"
	done
fi

# ---- 2 and 3. throughput and latency -------------------------------------------------
mw_window() # LABEL: one memwriter window of SECS seconds after a settling half second
{
	local t0 t1 r e0=0 j
	sleep 0.5
	[ "$1" = unprotected ] || e0=$(jget "$(query tp)" 's["epochs"]')
	t0=$(now)
	sleep "$SECS"
	[ "$1" = unprotected ] || j=$(query tp)
	t1=$(now)
	r=$(python3 "$PROBE" rate "$tmp/tp.out" "$t0" "$t1" "$LIGHT_PAGES") || r=nan
	[ "$r" != nan ] || { failed "memwriter $1: no progress lines in the window"; return 0; }
	echo "$r" >>"$tmp/mw-$1.ops"
	# dirty pages in the window's last epoch, epochs per second over the window
	[ "$1" = unprotected ] ||
		jget "$j" '"%d %.1f" % (s["dirty_pages_last"], (s["epochs"] - '"$e0"') / ('"$t1 - $t0"'))' >>"$tmp/mw-$1.dirty"
}

# paired MODE: the last window of MODE over the idle window just before it.
paired()
{
	local a b
	a=$(tail -n 1 "$tmp/mw-$1.ops" 2>/dev/null) b=$(tail -n 1 "$tmp/mw-idle.ops" 2>/dev/null)
	[ -z "$a" ] || [ -z "$b" ] || ratio "$a" "$b" >>"$tmp/mw-$1.paired"
}

# kv_runs LABEL: twin-kv-client, KV_CLIENTS clients then 1, each sized to about SECS
# seconds by a short run first; then the sparse probe.
kv_client()
{
	lab exec client "$TWIN_KV_CLIENT" "$@" "$IP" >"$tmp/kvc.out" 2>&1 </dev/null || {
		cat "$tmp/kvc.out" >&2
		return 1
	}
	sed -n 's/.*throughput \([0-9.]*\) req\/s, latency median \([0-9.]*\) us, p99 \([0-9.]*\) us$/\1 \2 \3/p' "$tmp/kvc.out"
}
kv_runs()
{
	local label=$1 c v rps n iv
	for c in "$KV_CLIENTS" 1; do
		v=$(kv_client --requests $((10 * c)) --clients "$c") || { failed "kv $label: twin-kv-client (calibration)"; return 0; }
		rps=${v%% *}
		n=$(awk -v r="$rps" -v s="$SECS" 'BEGIN { n = int(r * s); print (n < 20) ? 20 : n }')
		v=$(kv_client --requests "$n" --clients "$c") || { failed "kv $label: twin-kv-client, $c clients"; return 0; }
		echo "$v" >>"$tmp/kv-$label-$c.runs"
		printf '.' >&2
	done
	# About SECS seconds: an answer in epoch or hybrid mode may wait for the interval.
	iv=0
	[[ "$label" != *:* ]] || iv=${label#*:}
	n=$((SECS * 1000 / (SPARSE_GAP_MS + iv)))
	[ "$n" -ge 20 ] || n=20
	v=$(lab exec client python3 "$PROBE" sparse "$IP" 7777 "$n" "$SPARSE_GAP_MS" "sp${label%%:*}$RANDOM" 2>&1) ||
		{ failed "kv $label: sparse probe: $v"; return 0; }
	echo "$v" | sed -n 's/.*p50_us=\([0-9]*\) p99_us=\([0-9]*\).*/\1 \2/p' >>"$tmp/kv-$label-sparse.runs"
	printf '.' >&2
}

if want throughput; then
	echo "repl-bench: throughput: memwriter pages=ws=$LIGHT_PAGES rate=0; $ROUNDS rounds of ${SECS} s windows: unprotected, ${MODES[*]}, unprotected"
	if start_vm tp --kernel "$MEMWRITER" --mem 256M \
		--cmdline "pages=$LIGHT_PAGES ws=$LIGHT_PAGES rate=0 iters=1000000000000 progress=200"; then
		for ((r = 1; r <= ROUNDS; r++)); do
			mw_window unprotected
			if start_backup tpb && protect tp "${MODES[0]}"; then
				for m in "${MODES[@]}"; do
					# A paired baseline right before each mode: event mode with a
					# guest that does no I/O takes no checkpoint (nothing harvested,
					# no fault), so drift in the shared cores' load cancels out.
					if [ "$m" != event ]; then
						set_mode tp event || { failed "set-replication event"; continue; }
						mw_window idle
					fi
					set_mode tp "$m" || { failed "set-replication $m"; continue; }
					mw_window "$m"
					[ "$m" = event ] || paired "$m"
					printf '.' >&2
				done
				unprotect tp tpb || failed "memwriter: unprotect"
			else
				failed "memwriter round $r: backup or protect (above)"
			fi
			mw_window unprotected
		done
		echo >&2
	else
		failed "memwriter: twin-vmm run (above)"
	fi
	stop_vm "$VM_PID"

	echo "repl-bench: kv: kv.elf on h1, twin-kv-client $KV_CLIENTS and 1 clients (~${SECS} s each), sparse INCR every ${SPARSE_GAP_MS} ms"
	if start_vm kv --kernel "$KV_ELF" --mem 64M --nic "tap=$p-t0,mac=$MAC,bridge=$br" \
		--cmdline "ip=$IP/24 mac=$MAC port=7777"; then
		deadline=$((SECONDS + 60))
		until lab exec client ping -n -q -c 1 -W 1 "$IP" >/dev/null 2>&1; do
			[ "$SECONDS" -lt "$deadline" ] || { failed "kv: no ping answer in 60 s"; break; }
		done
		kv_client --requests 500 >/dev/null || failed "kv: warm-up"
		kv_runs unprotected
		if start_backup kvb --nic "tap=$p-t1,mac=$MAC,bridge=$br" && protect kv "${MODES[0]}"; then
			for m in "${MODES[@]}"; do
				set_mode kv "$m" || { failed "set-replication $m"; continue; }
				sleep 0.3
				kv_runs "$m"
			done
			unprotect kv kvb || failed "kv: unprotect"
			kv_runs unprotected
		else
			failed "kv: backup or protect (above)"
		fi
		echo >&2
	else
		failed "kv: twin-vmm run (above)"
	fi
	stop_vm "$VM_PID"
fi
if [ -f "$state/netns" ]; then
	lab down >/dev/null || true
fi

# ---- 4. failover gap -----------------------------------------------------------------
if want failover; then
	echo "repl-bench: failover: tests/e2e/repl-lab.sh TRIALS=$TRIALS (kill -9 of the primary under kv load, failover command at once)"
	frc=0
	TWIN_GUESTS="$TWIN_GUESTS_DIR" TWIN_KV_CLIENT="$TWIN_KV_CLIENT" TRIALS="$TRIALS" \
		TWIN_LAB="$TWIN_LAB" "$REPL_LAB_SH" >"$tmp/failover.out" 2>"$tmp/failover.err" || frc=$?
	grep '^repl-lab: trial ' "$tmp/failover.out" || true
	[ "$frc" -eq 0 ] || { tail -n 15 "$tmp/failover.err" >&2; failed "repl-lab.sh exited $frc (its trials above count)"; }
	sed -n 's/^repl-lab: trial .* mode=\([a-z]*\) failover=\([a-z-]*\) .*failover_ms=\([0-9.]*\) gap_ms=\([0-9.]*\) .*/\1 \2 \3 \4/p' \
		"$tmp/failover.out" >"$tmp/failover.trials"
fi

# ---- tables --------------------------------------------------------------------------
echo
if want pause && [ -f "$tmp/floor.raw" ]; then
	echo "Table 1. Checkpoint pause against dirty pages per epoch (epoch mode ${PAUSE_INTERVAL_MS} ms, memwriter, 256 MiB; us; Twin: p50/p99 of its epochs, floor parts: medians)"
	printf '%6s %8s %9s %9s %8s %8s %8s %7s %7s %6s %8s %8s | %12s %9s\n' N dirty \
		"pause50" "pause99" harvest memcpy floor park state "p/fl" "<=1.5x" "p/(all)" \
		"lab fault/pg" "lab ms/ep"
	for n in "${PAGES[@]}"; do
		fl=$(grep "^floor n=$n " "$tmp/floor.raw" || true)
		tw=$(grep "^$n " "$tmp/pause.twin" 2>/dev/null || true)
		fget() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$fl"; }
		if [ -z "$fl" ]; then
			printf '%6s %s\n' "$n" "floor FAILED"
			continue
		fi
		if [ -n "$tw" ]; then
			read -r _ p50 p99 dmean _ _ _ _ <<<"$tw"
			p50=$(awk -v v="$p50" 'BEGIN { printf "%.1f", v / 1000 }')
			p99=$(awk -v v="$p99" 'BEGIN { printf "%.1f", v / 1000 }')
		else
			p50=FAILED p99=- dmean=-
		fi
		fl_us=$(fget floor_us) pk=$(fget park_us) st=$(fget state_us)
		r=$(ratio "$p50" "$fl_us")
		r2=$(ratio "$p50" "$(awk -v a="$fl_us" -v b="$pk" -v c="$st" 'BEGIN { print a + b + c }')")
		printf '%6s %8s %9s %9s %8s %8s %8s %7s %7s %6s %8s %8s | %12s %9s\n' "$n" \
			"$dmean/$(fget dirty)" "$p50" "$p99" "$(fget harvest_us)" "$(fget memcpy_us)" \
			"$fl_us" "$pk" "$st" "$r" "$(cmp_goal "$r" "<=" 1.5)" "$r2" "$(fget fault_us_page)" \
			"$(fget fault_ms)"
	done
	echo "  dirty: Twin's dirty_pages_mean / the floor's median harvest.  floor = harvest + memcpy (vCPU paused);"
	echo "  park = vm__pause_all + vm__resume_all around it, state = vm_stream__write_state into memory (the"
	echo "  vCPU, VM and device records): both in every checkpoint's pause, neither in the floor, both measured"
	echo "  by repl-floor.  p/fl = Twin pause p50 / floor (the goal, <= 1.5x); p/(all) = Twin pause p50 /"
	echo "  (floor + park + state): what Twin adds beyond the work any checkpoint does here."
	echo "  Right of |: THE LAB'S FLOOR, not Twin's overhead: the shadow-paging write fault the guest pays on its"
	echo "  first write to each page after a harvest (us per page; ms per epoch for N pages), outside the pause."
	echo
fi

if want throughput; then
	echo "Table 2. Throughput, protected against unprotected (medians; memwriter: $ROUNDS rounds of ${SECS} s; kv: $KV_CLIENTS clients)"
	# The lab's write-fault cost per page, from table 1's N closest to the light load.
	fpp=$(awk -v n="$LIGHT_PAGES" '/^floor / { split($2, a, "="); d = a[2] - n; d = d < 0 ? -d : d
		for (i = 2; i <= NF; i++) if ($i ~ /^fault_us_page=/) { split($i, b, "="); f = b[2] }
		if (best == "" || d < best) { best = d; v = f } } END { print (v == "") ? "-" : v }' "$tmp/floor.raw" 2>/dev/null || echo -)
	printf '%-12s %12s %7s %7s %12s %9s %9s | %10s %7s %7s\n' mode "mw pages/s" ratio paired "dirty/epoch" "epochs/s" "lab fault" "kv req/s" ratio ">=0.9x"
	mw_u=$(medf "$tmp/mw-unprotected.ops" 1)
	kv_u=$(medf "$tmp/kv-unprotected-$KV_CLIENTS.runs" 1)
	printf '%-12s %12s %7s %7s %12s %9s %9s | %10s %7s %7s\n' unprotected "$mw_u" 1.00 - - - - "$kv_u" 1.00 -
	for m in "${MODES[@]}"; do
		mw=$(medf "$tmp/mw-$m.ops" 1)
		[ -s "$tmp/mw-$m.ops" ] || mw=FAILED
		d=$(medf "$tmp/mw-$m.dirty" 1)
		kv=$(medf "$tmp/kv-$m-$KV_CLIENTS.runs" 1)
		[ -s "$tmp/kv-$m-$KV_CLIENTS.runs" ] || kv=FAILED
		rm_=$(ratio "$mw" "$mw_u") rk=$(ratio "$kv" "$kv_u")
		eps=$(medf "$tmp/mw-$m.dirty" 2)
		# The share of the guest's time the lab's write faults take: epochs/s x pages x cost.
		lf=$(awk -v e="$eps" -v d="$d" -v f="$fpp" 'BEGIN { if (e == "-" || d == "-" || f == "-") print "-"; else printf "%.1f%%\n", e * d * f / 1e4 }')
		pr=$(medf "$tmp/mw-$m.paired" 1)
		[ "$pr" = - ] || pr=$(awk -v v="$pr" 'BEGIN { printf "%.2f", v }')
		printf '%-12s %12s %7s %7s %12s %9s %9s | %10s %7s %7s\n' "$m" "$mw" "$rm_" "$pr" "$d" "$eps" "$lf" "$kv" "$rk" \
			"mw $(cmp_goal "$rm_" ">=" 0.9)/$(cmp_goal "$pr" ">=" 0.9), kv $(cmp_goal "$rk" ">=" 0.9)"
	done
	echo "  mw = memwriter pages=ws=$LIGHT_PAGES rate=0: at most $LIGHT_PAGES dirty pages per epoch (the light load);"
	echo "  ratio = over the unprotected windows (each round's first and last); paired = median over rounds of the"
	echo "  window over the event-mode window right before it (protected, no I/O: no checkpoint, no harvest, no"
	echo "  fault, so it runs as unprotected but seconds apart; idle mw pages/s: $(medf "$tmp/mw-idle.ops" 1)).  Goal met: ratio/paired."
	echo "  dirty/epoch = query-replication dirty_pages_last at the end of each window; epochs/s = checkpoints per second in the windows."
	echo "  lab fault = epochs/s x dirty/epoch x the lab's write-fault cost per page (table 1, N=$LIGHT_PAGES): the share of"
	echo "  the guest's time that THE LAB'S FLOOR takes (shadow paging), so memwriter's ratio cannot exceed 1 minus it here."
	echo "  The replication thread (lz4, sending) and the backup run on the same 2 shared cores as the guest."
	echo "  kv = twin-kv-client, $KV_CLIENTS clients, one request outstanding each: every answer waits for its epoch's ack."
	echo
	echo "Table 3. kv client latency each mode adds (us; 1 client back to back, and sparse: one INCR every ${SPARSE_GAP_MS} ms)"
	printf '%-12s %10s %10s %10s | %10s %10s %10s %9s\n' mode "1c p50" "1c p99" "adds p50" "sparse p50" "sparse p99" "adds p50" "<2ms"
	l_u=$(medf "$tmp/kv-unprotected-1.runs" 2)
	l9_u=$(medf "$tmp/kv-unprotected-1.runs" 3)
	s_u=$(medf "$tmp/kv-unprotected-sparse.runs" 1)
	s9_u=$(medf "$tmp/kv-unprotected-sparse.runs" 2)
	printf '%-12s %10s %10s %10s | %10s %10s %10s %9s\n' unprotected "$l_u" "$l9_u" - "$s_u" "$s9_u" - -
	for m in "${MODES[@]}"; do
		l=$(medf "$tmp/kv-$m-1.runs" 2)
		l9=$(medf "$tmp/kv-$m-1.runs" 3)
		s=$(medf "$tmp/kv-$m-sparse.runs" 1)
		s9=$(medf "$tmp/kv-$m-sparse.runs" 2)
		a1=$(awk -v a="$l" -v b="$l_u" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f", a - b }')
		a2=$(awk -v a="$s" -v b="$s_u" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f", a - b }')
		g=-
		[ "$m" != event ] || g=$(awk -v a="$a2" 'BEGIN { if (a == "-") print "not-met"; else print (a + 0 < 2000) ? "met" : "not-met" }')
		printf '%-12s %10s %10s %10s | %10s %10s %10s %9s\n' "$m" "$l" "$l9" "$a1" "$s" "$s9" "$a2" "$g"
	done
	echo "  unprotected = the runs before protect and after unprotect together.  Goal: event mode adds < 2 ms"
	echo "  at the median for sparse requests."
	echo
fi

if want failover; then
	echo "Table 4. Failover gap as the client sees it (ms; kill -9 of the primary, then twin-vmm failover; $TRIALS trials)"
	printf '%-8s %-10s %7s %10s %10s %10s | %12s\n' mode failover trials "gap p50" "gap p99" "gap max" "failover p50"
	for sel in epoch event hybrid all; do
		for how in manual auto auto-stall; do
			awk -v m="$sel" -v h="$how" '($1 == m || m == "all") && $2 == h { print $4 }' "$tmp/failover.trials" >"$tmp/g" || true
			awk -v m="$sel" -v h="$how" '($1 == m || m == "all") && $2 == h { print $3 }' "$tmp/failover.trials" >"$tmp/f" || true
			[ -s "$tmp/g" ] || continue
			read -r gn gm g9 gx < <(python3 "$PROBE" stats "$tmp/g" | sed 's/[a-z0-9]*=//g')
			read -r _ fm _ _ < <(python3 "$PROBE" stats "$tmp/f" | sed 's/[a-z0-9]*=//g')
			printf '%-8s %-10s %7s %10s %10s %10s | %12s\n' "$sel" "$how" "$gn" "$gm" "$g9" "$gx" "$fm"
		done
	done
	echo "  gap = the client's longest request, first send to answer (resent every 20 ms); failover = the"
	echo "  failover command's own time.  p99 by nearest rank: with fewer than 100 trials it is the maximum."
	echo
fi
echo "repl-bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$failures" -eq 0 ] || die "$failures parts failed (FAILED lines above); they have no numbers"
