#!/bin/bash
# Live migration benchmark: the same memwriter guest migrated by twin-vmm and by QEMU 7.2 over
# loopback, side by side in one run; total time, downtime and bytes on the wire, with ratios.
#
# Environment (set by `make bench` in bench/):
#   TWIN_VMM, TWIN_MEMWRITER_ELF   twin-vmm and the memwriter guest
#   BENCH_MIG_RUNS (5)             migrations per platform and case; the table takes medians
#   BENCH_MIG_SIZES ("256M 1G")    guest RAM sizes
#   BENCH_MIG_LOADS ("idle moderate heavy")
#   BENCH_MIG_DOWNTIME (30)        downtime target, ms, for both
#   BENCH_MIG_BANDWIDTH (256)      bandwidth cap, MiB/s, for both
#   BENCH_MIG_PLATFORMS ("twin qemu")  one alone for a dry run: then no ratios are printed
#   QEMU (qemu-system-x86_64)
#
# Dirty loads (memwriter: rate = pages written per ms, ws = working set in 4 KiB pages; the
# guest writes whole pages round its working set, one vCPU, one iteration ~ 1 s):
#   idle      ws=1     rate=1   one page rewritten, the rest of RAM untouched after boot
#   moderate  ws=8192  rate=8   32 MiB working set, 32 MiB/s written
#   heavy     ws=32768 rate=32  128 MiB working set, 128 MiB/s written (half the default cap)
# The same loads for both sizes: the larger guest adds untouched (zero) RAM to send.
#
# Downtime is each VMM's own figure, not defined alike: QEMU's runs from the pause to the
# source's end of the migration, twin-vmm's (downtime_ns) from the pause to the
# destination's acknowledgement.  The run lines also show QEMU's STOP-to-RESUME time (the
# QMP event stamps of source and destination), a third view of the same pause.
#
# Each migration (bench/migrate-run.py) runs alone in a fresh network namespace, so the
# loopback byte counter there is its wire: every packet of the migration connection, both
# directions, IP/TCP headers included, counted the same way for both platforms.  Total time
# and downtime are each VMM's own numbers (QEMU query-migrate total-time/downtime; twin-vmm
# query-migrate total_ns/downtime_ns).  A migration starts once the guest has gone round
# its working set once, and counts only if the guest then runs on the destination (its
# next progress line) and, for twin-vmm, the source exits 0.  A failed migration gives no
# numbers: its case reads FAILED (not met) and the bench exits 1 after the table.
#
# Settings: twin-vmm migrate --downtime D --bandwidth B (lz4, its default; auto-converge is
# always on).  QEMU: migrate-set-parameters downtime-limit D, max-bandwidth B, and the
# auto-converge capability on, so the heavy load converges there too; everything else at
# QEMU's defaults (no compression, no xbzrle, no multifd).  Under QEMU the guest has no
# wait register and spins while it paces itself: it takes a core that twin-vmm's guest
# leaves idle (LAB.md).
set -euo pipefail

die()
{
	echo "migrate-bench: $*" >&2
	exit 1
}

: "${TWIN_VMM:?TWIN_VMM is not set: run make bench in bench/}"
: "${TWIN_MEMWRITER_ELF:?TWIN_MEMWRITER_ELF is not set: run make bench in bench/}"
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${BENCH_MIG_RUNS:-5}
DOWNTIME=${BENCH_MIG_DOWNTIME:-30}
BANDWIDTH=${BENCH_MIG_BANDWIDTH:-256}
read -r -a SIZES <<<"${BENCH_MIG_SIZES:-256M 1G}"
read -r -a LOADS <<<"${BENCH_MIG_LOADS:-idle moderate heavy}"
read -r -a PLATFORMS <<<"${BENCH_MIG_PLATFORMS:-twin qemu}"
RUN=$(dirname "$0")/migrate-run.py
PORT=4444 # alone in its network namespace
TIMEOUT=300

[ "$(id -u)" -eq 0 ] || die "needs root (a network namespace per migration, /dev/kvm): run make bench as root"
( exec 3<>/dev/kvm ) 2>/dev/null || die "/dev/kvm cannot be opened read-write: run as root"
[ -x "$TWIN_VMM" ] || die "twin-vmm not built at $TWIN_VMM: run make first"
[ -f "$TWIN_MEMWRITER_ELF" ] || die "memwriter guest not built at $TWIN_MEMWRITER_ELF: run make first"
command -v "$QEMU" >/dev/null || die "$QEMU not found: install the Debian package qemu-system-x86"
command -v python3 >/dev/null || die "python3 not found: install the Debian package python3"
command -v unshare >/dev/null || die "unshare not found: install the Debian package util-linux"
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$DOWNTIME" =~ ^[1-9][0-9]*$ && "$BANDWIDTH" =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_MIG_RUNS, BENCH_MIG_DOWNTIME and BENCH_MIG_BANDWIDTH must be numbers >= 1"
for plat in "${PLATFORMS[@]}"; do
	[[ "$plat" =~ ^(twin|qemu)$ ]] || die "BENCH_MIG_PLATFORMS: unknown platform '$plat' (twin, qemu)"
done

# load_args LOAD: memwriter's cmdline for LOAD.  pages = ws (idle: 1000 writes of its one
# page) makes one iteration, and so one progress line, about a second.
load_args()
{
	case "$1" in
	idle) echo "pages=1000 ws=1 rate=1" ;;
	moderate) echo "pages=8192 ws=8192 rate=8" ;;
	heavy) echo "pages=32768 ws=32768 rate=32" ;;
	*) die "BENCH_MIG_LOADS: unknown load '$1' (idle, moderate, heavy)" ;;
	esac
}
for load in "${LOADS[@]}"; do load_args "$load" >/dev/null; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twin-migrate-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# migrate PLATFORM SIZE LOAD: one migration; appends "total_ms downtime_ms wire_bytes" to
# PLATFORM-SIZE-LOAD.runs and prints the run's numbers.  A failed migration gives no
# numbers: it is counted in PLATFORM-SIZE-LOAD.failed, and its case's row says FAILED.
migrate()
{
	local plat=$1 size=$2 load=$3 out=$tmp/run.json args=()
	[ "$plat" = qemu ] && args+=(--auto-converge)
	unshare -n sh -c 'ip link set lo up && exec "$@"' sh \
		python3 "$RUN" --platform "$plat" --guest "$TWIN_MEMWRITER_ELF" --mem "$size" \
		--cmdline "$(load_args "$load") iters=1000000000 progress=1" --downtime "$DOWNTIME" \
		--bandwidth "$BANDWIDTH" --port "$PORT" --vmm "$TWIN_VMM" --qemu "$QEMU" \
		--timeout "$TIMEOUT" "${args[@]}" >"$out" || {
		echo "run: $plat $size $load: FAILED (above)"
		echo x >>"$tmp/$plat-$size-$load.failed"
		failures=$((failures + 1))
		return 0
	}
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["total_ms"], r["downtime_ms"], r["wire_bytes"])
extra = "  wire/total %.0f MB/s" % (r["wire_bytes"] / r["total_ms"] / 1000) if r["total_ms"] > 0 else ""
if r.get("stop_to_resume_ms") is not None:
    extra += "  stop->resume %.1f ms" % r["stop_to_resume_ms"]
print("run: %-4s %4s %-8s total %9.1f ms  downtime %7.1f ms  wire %11d B  reported %11d B  rounds %s  throttle %s%%%s"
      % (sys.argv[2], sys.argv[3], sys.argv[4], r["total_ms"], r["downtime_ms"], r["wire_bytes"],
         r["reported_bytes"], r["rounds"], r["throttle_pct"], extra), file=sys.stderr)
' "$out" "$plat" "$size" "$load" >>"$tmp/$plat-$size-$load.runs" 2>"$tmp/line"
	cat "$tmp/line"
}

# Other work on the 2 shared cores moves every number: say how busy the machine was.
echo "migrate-bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "migrate-bench: $RUNS runs per platform and case; downtime target ${DOWNTIME} ms, bandwidth cap ${BANDWIDTH} MiB/s"
for load in "${LOADS[@]}"; do
	echo "migrate-bench: load $load: memwriter $(load_args "$load")"
done
failures=0
# Rounds outside, platforms inside: drift in the machine's load hits both alike.
for ((i = 1; i <= RUNS; i++)); do
	for size in "${SIZES[@]}"; do
		for load in "${LOADS[@]}"; do
			for plat in "${PLATFORMS[@]}"; do
				migrate "$plat" "$size" "$load"
			done
		done
	done
done

# med FILE COL: the median of column COL (the mean of the middle two for an even count);
# bytes (column 3) as a whole number.
med()
{
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk -v f="$([ "$2" = 3 ] && echo %.0f || echo %.1f)" '
		{ v[NR] = $1 } END { printf f "\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# cell PLATFORM SIZE LOAD COL: the median, FAILED when any run of the case failed, - when
# the platform was not run.
cell()
{
	local f="$tmp/$1-$2-$3"
	if [ -f "$f.failed" ]; then
		echo FAILED
	elif [ -f "$f.runs" ]; then
		med "$f.runs" "$4"
	else
		echo -
	fi
}
row() { printf '%-5s %-9s %-13s %14s %14s %10s %7s %8s\n' "$@"; }

echo
echo "migrate-bench: medians of $RUNS runs (twin-vmm vs QEMU 7.2, loopback)"
row size load metric twin-vmm "QEMU 7.2" twin/QEMU goal met
for size in "${SIZES[@]}"; do
	for load in "${LOADS[@]}"; do
		col=1
		for m in "total ms:1.00" "downtime ms:0.50" "wire bytes:0.70"; do
			metric=${m%:*} goal=${m#*:}
			r=- met=-
			t=$(cell twin "$size" "$load" "$col")
			q=$(cell qemu "$size" "$load" "$col")
			if [ "$t" = FAILED ] || [ "$q" = FAILED ]; then
				met=not-met
			elif [ "$t" != - ] && [ "$q" != - ]; then
				read -r r met < <(awk -v t="$t" -v q="$q" -v g="$goal" 'BEGIN {
					if (q == 0) { print "n/a n/a"; exit }
					printf "%.3f %s\n", t / q, (t / q <= g) ? "met" : "not-met" }')
			fi
			row "$size" "$load" "$metric" "$t" "$q" "$r" "<=$goal" "$met"
			col=$((col + 1))
		done
	done
done
echo "migrate-bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "goal: twin/QEMU downtime <= 0.50x, total time <= 1.00x, bytes on the wire <= 0.70x"
[ "$failures" -eq 0 ] || die "$failures migrations failed (run: lines above); their cases have no numbers"
