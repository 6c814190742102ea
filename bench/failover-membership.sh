#!/bin/bash
# Corosync membership-change time after a whole lab host dies (SIGKILL), at each token, measured here: bench/failover compares the host-death failover gap against it.
#
# For each token T in BENCH_MEMBER_TOKENS: a three-host lab with Corosync only
# (`lab up --hosts 3 --cluster --no-clusterd --token T`), then RUNS drills: `lab kill-host
# h3` (the time of its first SIGKILL), and on h1's Corosync log (timestamp: hires) the first
# "A new membership ... Members left: 3" (the token loss and consensus) and the next
# "Completed service synchronization" (the confchg CPG clients such as twin-clusterd get:
# the membership-change time); then `lab revive h3`.  Each drill waits first for 3 members
# and SETTLE_SECS without any membership change in h1's log (LAB.md: at token 300 spurious
# membership losses follow a rejoin by ~3 s; on a loaded 2-core host more).  A membership
# change that still shows between that quiet and the kill is counted as spurious, and the
# drill is done again.
#
# Environment:
#   TWIN_LAB (the lab script; default tools/lab/lab beside this file's source tree)
#   BENCH_MEMBER_TOKENS ("300 500 1000")   BENCH_MEMBER_RUNS (10)   BENCH_MEMBER_SETTLE (6)
#   BENCH_MEMBER_OUT (a file to write "TOKEN MEDIAN_MS P99_MS MAX_MS N" lines to, for bench/failover)
# Prints one table row per token: new membership and ready-to-serve, p50/p99/max, in ms.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=${TWIN_LAB:-$here/../tools/lab/lab}
TOKENS=${BENCH_MEMBER_TOKENS:-300 500 1000}
RUNS=${BENCH_MEMBER_RUNS:-10}
SETTLE_SECS=${BENCH_MEMBER_SETTLE:-6}
OUT=${BENCH_MEMBER_OUT:-}
# A drill's membership change must show within this many seconds of the kill.
DETECT_SECS=20
SETTLE_MAX_SECS=120

[ "$(id -u)" -eq 0 ] || { echo "failover-membership: needs root (lab namespaces)" >&2; exit 1; }
command -v corosync >/dev/null || { echo "failover-membership: corosync not found: apt-get install corosync" >&2; exit 1; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "failover-membership: BENCH_MEMBER_RUNS=$RUNS is not a positive number" >&2; exit 1; }

tmp=$(mktemp -d /tmp/twin-bench-member.XXXXXX)
state=""
cleanup()
{
	[ -z "$state" ] || [ ! -f "$state/netns" ] || "$LAB" --state "$state" down >/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# since_kill LOG KILL_NS: "NEW_MS READY_MS" for the first membership change in LOG (h1's
# corosync log, hires timestamps in UTC) after KILL_NS, or nothing yet; "SPURIOUS" if a
# change in LOG lies between the previous revive's settle and the kill, or if the last
# membership h1 listed before the kill lacked node 3.
since_kill()
{
	python3 - "$@" <<'PY'
import calendar, re, sys, time
log, kill_ns, since_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
year = time.gmtime(kill_ns / 1e9).tm_year
def ns(line):
    m = re.match(r"(\w{3} +\d+ \d\d:\d\d:\d\d)\.(\d{3})", line)
    if not m:
        return None
    t = calendar.timegm(time.strptime("%d %s" % (year, m.group(1)), "%Y %b %d %H:%M:%S"))
    return t * 10**9 + int(m.group(2)) * 10**6
new = None
members = None  # the membership in force, as h1 last listed it
for line in open(log, errors="replace"):
    t = ns(line)
    if t is None:
        continue
    q = re.search(r"\[QUORUM\] Members\[\d+\]:(.*)$", line)
    if q and t < kill_ns:
        members = q.group(1).split()
    # A token loss already under way at the kill is not the kill's.
    unrest = ("A new membership", "Token has not been received", "A processor failed")
    if any(u in line for u in unrest) and since_ns <= t < kill_ns:
        print("SPURIOUS")
        sys.exit(0)
    # Log stamps have ms resolution: one ms of slack before the kill.
    if t < kill_ns - 10**6:
        continue
    # h3 had left h1's membership before its kill: no change of the kill's to time.
    if members is not None and "3" not in members:
        print("SPURIOUS")
        sys.exit(0)
    if new is None and "A new membership" in line and "Members left: 3" in line:
        new = t
    elif new is not None and "Completed service synchronization" in line:
        print("%.1f %.1f" % ((new - kill_ns) / 1e6, (t - kill_ns) / 1e6))
        sys.exit(0)
PY
}

# settle LOG: wait (at most SETTLE_MAX_SECS) until h1 counts all 3 members and its log shows
# no membership change in the last SETTLE_SECS; prints the time (ns) the quiet began.
settle()
{
	local deadline=$((SECONDS + SETTLE_MAX_SECS)) last now n
	while :; do
		n=$("$LAB" --state "$state" exec h1 corosync-quorumtool -s 2>/dev/null |
			awk '/^Membership information/ { m = 1; next } m && $1 ~ /^[0-9]+$/ { n++ } END { print n + 0 }') || n=0
		last=$(python3 - "$1" <<'PY'
import calendar, re, sys, time
last = 0
year = time.gmtime().tm_year
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"(\w{3} +\d+ \d\d:\d\d:\d\d)\.(\d{3}).*A new membership", line)
    if m:
        t = calendar.timegm(time.strptime("%d %s" % (year, m.group(1)), "%Y %b %d %H:%M:%S"))
        last = t * 10**9 + int(m.group(2)) * 10**6
print(last)
PY
)
		now=$(date +%s%N)
		if [ "$n" -eq 3 ] && [ $((now - last)) -ge $((SETTLE_SECS * 1000000000)) ]; then
			echo "$((last + 2000000))"
			return
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			{ echo "failover-membership: no quiet ${SETTLE_SECS}s membership of 3 within ${SETTLE_MAX_SECS}s (token $token)" >&2; return 1; }
		sleep 0.5 # waiting for a quiet membership, bounded by the deadline above
	done
}

# stats FILE COLUMN: "p50 p99 max" of the numbers in COLUMN of FILE.
stats()
{
	sort -n -k "$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END {
		if (NR == 0) { print "- - -"; exit }
		p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%.0f %.0f %.0f\n", p50, v[i], v[NR] }'
}

printf 'Corosync membership change after kill -9 of a whole host (3 hosts, kill h3, seen from h1), ms from the SIGKILL\n'
printf '%-7s %5s | %-20s | %-20s | %s\n' token drills "new membership p50/p99/max" "confchg p50/p99/max" spurious
[ -z "$OUT" ] || : >"$OUT"
for token in $TOKENS; do
	state=$tmp/lab-$token
	"$LAB" --state "$state" up --hosts 3 --cluster --no-clusterd --token "$token" >"$tmp/up.out" 2>&1 ||
		{ cat "$tmp/up.out" >&2; echo "failover-membership: lab up --token $token failed" >&2; exit 1; }
	log=$("$LAB" --state "$state" get cluster-dir)/h1/corosync.log
	: >"$tmp/$token.txt"
	spurious=0 unstable=0
	for ((r = 1; r <= RUNS; r++)); do
		if ! since=$(settle "$log"); then
			unstable=1
			break
		fi
		out=$("$LAB" --state "$state" kill-host h3)
		kill_ns=${out##* }
		[[ "$kill_ns" =~ ^[0-9]+$ ]] || { echo "failover-membership: kill-host said '$out'" >&2; exit 1; }
		deadline=$((SECONDS + DETECT_SECS))
		until got=$(since_kill "$log" "$kill_ns" "$since") && [ -n "$got" ]; do
			[ "$SECONDS" -lt "$deadline" ] ||
				{ tail -n 20 "$log" >&2; echo "failover-membership: no membership change within ${DETECT_SECS}s of the kill (token $token)" >&2; exit 1; }
			sleep 0.1 # polling a log, bounded by the deadline above
		done
		if [ "$got" = SPURIOUS ]; then
			spurious=$((spurious + 1))
			r=$((r - 1))
			if [ "$spurious" -gt "$RUNS" ]; then
				unstable=1
				break
			fi
		else
			echo "$got" >>"$tmp/$token.txt"
			echo "token $token drill $r: new membership $(cut -d' ' -f1 <<<"$got") ms, confchg $(cut -d' ' -f2 <<<"$got") ms" >>"$tmp/drills.log"
		fi
		"$LAB" --state "$state" revive h3 >"$tmp/revive.out" 2>&1 ||
			{ cat "$tmp/revive.out" >&2; echo "failover-membership: revive h3 failed (token $token)" >&2; exit 1; }
	done
	"$LAB" --state "$state" down >/dev/null
	state=""
	read -r n50 n99 nmax < <(stats "$tmp/$token.txt" 1)
	read -r c50 c99 cmax < <(stats "$tmp/$token.txt" 2)
	printf '%-7s %5d | %6s %6s %6s   | %6s %6s %6s   | %d%s\n' "$token" "$(wc -l <"$tmp/$token.txt")" \
		"$n50" "$n99" "$nmax" "$c50" "$c99" "$cmax" "$spurious" \
		"$([ "$unstable" = 0 ] || echo ", then UNSTABLE: Corosync flapping (no ${SETTLE_SECS}s quiet, or more spurious changes than drills)")"
	[ -z "$OUT" ] || echo "$token $c50 $c99 $cmax $(wc -l <"$tmp/$token.txt")" >>"$OUT"
done
[ -z "${BENCH_MEMBER_VERBOSE:-}" ] || cat "$tmp/drills.log"
printf 'LAB.md measured (2 nodes, kill -9 to confchg): token 1000: 2200 ms, 500: 1060 ms, 300: 630 ms\n'
