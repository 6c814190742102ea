#!/bin/bash
# kv benchmark: request/response throughput and latency of the kv guest, twin-vmm vs QEMU 7.2, in one lab.
#
# Environment (set by `make bench` in bench/):
#   TWIN_VMM, TWIN_KV_ELF, TWIN_KV_CLIENT, TWIN_LAB   the binaries, the guest, the lab script
#   BENCH_KV_RUNS (2)      measured runs per platform, client count and boot
#   BENCH_KV_REQUESTS (5000)  requests per run
#   BENCH_KV_CLIENTS ("1 4")  client counts
#   BENCH_KV_GUEST_ARGS ("")  more kv guest cmdline (both platforms), e.g. poll_us=0
#   QEMU (qemu-system-x86_64)
#
# One lab host runs the guest, first under twin-vmm, then under QEMU microvm,pcie=on with
# virtio-net-pci,disable-legacy=on on a tap: never both at once, because the guest polls
# under QEMU (no debug device to wait on) and would take a core from the other.  Each
# platform first passes twin-kv-client's correctness run; a platform that fails it stops
# the bench.  The platforms then alternate BENCH_KV_ROUNDS (6) times, one boot each per
# round: a boot's placement on the shared cores (vCPU and I/O thread on one core or two)
# decides much of its speed, so the table takes medians over several boots.
#
# Load: twin-kv-client in the client namespace, which keeps one request outstanding per
# client, verifies every answer, and reports req/s and the median and p99 latency (first
# send to answer; a request unanswered for 200 ms is sent again unchanged, counted as a
# retry).  Its own cost is in every number, the same for both platforms.
set -euo pipefail

die()
{
	echo "kv-bench: $*" >&2
	exit 1
}

: "${TWIN_VMM:?TWIN_VMM is not set: run make bench in bench/}"
: "${TWIN_KV_ELF:?TWIN_KV_ELF is not set: run make bench in bench/}"
: "${TWIN_KV_CLIENT:?TWIN_KV_CLIENT is not set: run make bench in bench/}"
: "${TWIN_LAB:?TWIN_LAB is not set: run make bench in bench/}"
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${BENCH_KV_RUNS:-2}
REQUESTS=${BENCH_KV_REQUESTS:-5000}
ROUNDS=${BENCH_KV_ROUNDS:-6}
read -r -a CLIENTS <<<"${BENCH_KV_CLIENTS:-1 4}"
READY_SECS=60
IP=198.18.2.10
MAC=52:54:00:12:34:56
CMDLINE="ip=$IP/24 mac=$MAC port=7777${BENCH_KV_GUEST_ARGS:+ $BENCH_KV_GUEST_ARGS}"

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, /dev/kvm): run make bench as root"
( exec 3<>/dev/kvm ) 2>/dev/null || die "/dev/kvm cannot be opened read-write: run as root"
[ -x "$TWIN_VMM" ] || die "twin-vmm not built at $TWIN_VMM: run make first"
[ -f "$TWIN_KV_ELF" ] || die "kv guest not built at $TWIN_KV_ELF: run make first"
[ -x "$TWIN_KV_CLIENT" ] || die "twin-kv-client not built at $TWIN_KV_CLIENT: run make first"
[ -x "$TWIN_LAB" ] || die "lab script not found at $TWIN_LAB"
command -v "$QEMU" >/dev/null || die "$QEMU not found: install the Debian package qemu-system-x86"
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ && "$REQUESTS" =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_KV_RUNS, BENCH_KV_ROUNDS and BENCH_KV_REQUESTS must be numbers >= 1"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twin-kv-bench.XXXXXX")
state="$tmp/lab"
vm_pid=""
cleanup()
{
	[ ! -f "$state/netns" ] || "$TWIN_LAB" --state "$state" down >/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab() { "$TWIN_LAB" --state "$state" "$@"; }

"$TWIN_LAB" --state "$state" up --hosts 1 >/dev/null
p=$(lab get prefix)
lab tap h1 "$p-q0"

# boot PLATFORM: start the guest under PLATFORM (twin or qemu) in h1 and wait until it
# answers ping from the client; vm_pid is the VMM.
boot()
{
	local deadline=$((SECONDS + READY_SECS))
	case "$1" in
	twin)
		lab exec h1 "$TWIN_VMM" run --kernel "$TWIN_KV_ELF" --mem 64M \
			--nic "tap=$p-t0,mac=$MAC,bridge=$(lab get lan-bridge)" \
			--cmdline "$CMDLINE" \
			>"$tmp/twin.log" 2>&1 </dev/null &
		;;
	qemu)
		# shellcheck disable=SC2054 # the commas are QEMU option syntax
		lab exec h1 "$QEMU" \
			-M microvm,x-option-roms=off,rtc=off,pit=off,pic=off,pcie=on,auto-kernel-cmdline=off \
			-cpu kvm64 -enable-kvm -m 64M -display none -monitor none -serial stdio \
			-kernel "$TWIN_KV_ELF" -append "$CMDLINE" \
			-device "virtio-net-pci,disable-legacy=on,netdev=n0,mac=$MAC" \
			-netdev "tap,id=n0,ifname=$p-q0,script=no,downscript=no" \
			>"$tmp/qemu.log" 2>&1 </dev/null &
		;;
	esac
	vm_pid=$!
	until lab exec client ping -n -q -c 1 -W 1 "$IP" >/dev/null 2>&1; do
		if ! kill -0 "$vm_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			head -n 20 "$tmp/$1.log" >&2
			die "$1: the kv guest did not answer ping within ${READY_SECS}s"
		fi
	done
}

# halt: stop the VMM and wait for it (bounded: SIGKILL after 10 s).
halt()
{
	kill -TERM "$vm_pid" 2>/dev/null || true
	timeout 10 tail -s 0.1 --pid="$vm_pid" -f /dev/null || kill -KILL "$vm_pid" 2>/dev/null || true
	wait "$vm_pid" 2>/dev/null || true
	# The guest's MAC moves to the other platform's tap: forget where it was, so the
	# client asks again by ARP and the bridges learn the new port.
	lab exec client ip neigh flush all
	lab exec h1 ip link set "$(lab get lan-bridge)" type bridge fdb_flush
}

# client ARGS...: twin-kv-client in the client namespace; its output in $tmp/client.out.
client()
{
	lab exec client "$TWIN_KV_CLIENT" "$@" "$IP" >"$tmp/client.out" 2>&1
}

# measure PLATFORM CLIENTS RUN: one verified run; appends "req/s p50_us p99_us retries"
# to PLATFORM-CLIENTS.runs.
measure()
{
	local v retries rps p50 p99
	client --requests "$REQUESTS" --clients "$2" || {
		cat "$tmp/client.out" >&2
		die "$1, $2 clients, run $3: twin-kv-client failed: no numbers from a failed run"
	}
	# "... N retries, ..." and "throughput R req/s, latency median M us, p99 P us"
	v=$(sed -n 's/.* \([0-9]*\) retries,.*/\1/p; s/.*throughput \([0-9.]*\) req\/s, latency median \([0-9.]*\) us, p99 \([0-9.]*\) us$/\1 \2 \3/p' \
		"$tmp/client.out" | tr '\n' ' ')
	read -r retries rps p50 p99 <<<"$v"
	[ -n "${p99:-}" ] || die "cannot read twin-kv-client's report: $(cat "$tmp/client.out")"
	echo "$rps $p50 $p99 $retries" >>"$tmp/$1-$2.runs"
}

# correctness PLATFORM: 10,000 verified requests from 4 clients, then the retransmit mode
# (the same reply to a repeated SEQ, nothing applied twice), before any timing.
correctness()
{
	local args
	for args in "--requests 10000 --clients 4" "--requests 2000 --retransmit"; do
		# shellcheck disable=SC2086 # a word list on purpose
		client $args || {
			cat "$tmp/client.out" >&2
			die "$1: the correctness pass failed (twin-kv-client $args): no numbers for it"
		}
	done
	echo "kv-bench: $1: correctness pass ok (10000 requests from 4 clients, 2000 with retransmits, all verified)"
}

# Other work on the 2 shared cores moves every number: say how busy the machine was.
echo "kv-bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kv-bench: kv.elf in lab $p, $REQUESTS requests per run, $RUNS runs per round x $ROUNDS rounds, clients: ${CLIENTS[*]}"
echo "kv-bench: guest cmdline: $CMDLINE"
for plat in twin qemu; do
	boot "$plat"
	correctness "$plat"
	halt
done
run=0
for ((round = 1; round <= ROUNDS; round++)); do
	for plat in twin qemu; do
		boot "$plat"
		# One untimed run warms ARP, caches and the guest's tables.
		client --requests 500 || die "$plat: the warm-up run failed"
		for k in "${CLIENTS[@]}"; do
			for ((i = 1; i <= RUNS; i++)); do
				run=$((run + 1))
				measure "$plat" "$k" "$run"
				printf '.' >&2
			done
		done
		halt
	done
done
echo >&2

# med FILE COL: the median of column COL (the mean of the middle two for an even count).
med()
{
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 }
		END { printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sum() { awk -v c="$2" '{ s += $c } END { print s }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-10s %8s %5s %12s %12s %12s %9s\n' "$@"; }

echo
row platform clients runs "req/s" "p50 us" "p99 us" retries
for k in "${CLIENTS[@]}"; do
	for plat in twin qemu; do
		f="$tmp/$plat-$k.runs"
		name=twin-vmm
		[ "$plat" = twin ] || name="QEMU 7.2"
		row "$name" "$k" "$(wc -l <"$f")" "$(med "$f" 1)" "$(med "$f" 2)" "$(med "$f" 3)" "$(sum "$f" 4)"
	done
done
echo
printf '%-8s %18s %18s %18s\n' clients "twin/QEMU req/s" "twin/QEMU p50" "twin/QEMU p99"
for k in "${CLIENTS[@]}"; do
	t="$tmp/twin-$k.runs" q="$tmp/qemu-$k.runs"
	printf '%-8s %18s %18s %18s\n' "$k" "$(ratio "$(med "$t" 1)" "$(med "$q" 1)")x" \
		"$(ratio "$(med "$t" 2)" "$(med "$q" 2)")x" "$(ratio "$(med "$t" 3)" "$(med "$q" 3)")x"
done
echo "kv-bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "goal: req/s ratio >= 1.00x, latency ratios <= 1.00x (medians of this run's runs only)"
