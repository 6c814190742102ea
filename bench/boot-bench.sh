#!/bin/bash
# Boot benchmark: start-to-exit wall time of hello.elf under twin-vmm, QEMU microvm and QEMU pc.
#
# Environment (set by `make bench` in bench/):
#   TWIN_VMM, TWIN_HELLO, BOOT_TIMER   the binaries and the guest
#   BENCH_RUNS (11), BENCH_PC_RUNS (3) runs per platform; QEMU (qemu-system-x86_64)
# The three platforms run interleaved, one run of each per round, so that drift in the
# shared lab cores hits them alike.  One untimed warm-up run of each fills the page cache.
# Every counted run must end with hello's own exit status (1, TWIN_GUEST_EXIT_OK), or
# the bench stops: a time for a boot that failed means nothing.
set -euo pipefail

die()
{
	echo "boot-bench: $*" >&2
	exit 1
}

: "${TWIN_VMM:?TWIN_VMM is not set: run make bench in bench/}"
: "${TWIN_HELLO:?TWIN_HELLO is not set: run make bench in bench/}"
: "${BOOT_TIMER:?BOOT_TIMER is not set: run make bench in bench/}"
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${BENCH_RUNS:-11}
PC_RUNS=${BENCH_PC_RUNS:-3}
TIMEOUT=${BENCH_TIMEOUT:-120}
EXPECT=1
GOAL=0.25

[ -x "$TWIN_VMM" ] || die "twin-vmm not built at $TWIN_VMM: run make first"
[ -f "$TWIN_HELLO" ] || die "hello guest not built at $TWIN_HELLO: run make first"
[ -x "$BOOT_TIMER" ] || die "boot-timer not built at $BOOT_TIMER"
command -v "$QEMU" >/dev/null ||
	die "$QEMU not found: install the Debian package qemu-system-x86"
( exec 3<>/dev/kvm ) 2>/dev/null || die "/dev/kvm cannot be opened read-write: run as root"
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$PC_RUNS" =~ ^[0-9]+$ ]] ||
	die "BENCH_RUNS must be >= 1 and BENCH_PC_RUNS >= 0 (got $RUNS, $PC_RUNS)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twin-boot-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Same RAM everywhere: twin-vmm's default is 256M, QEMU's 128M.
qemu_common=(-enable-kvm -cpu kvm64 -m 256M -nographic -kernel "$TWIN_HELLO"
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
cmd_twin=("$TWIN_VMM" run --kernel "$TWIN_HELLO" --mem 256M)
cmd_microvm=("$QEMU" -M microvm,x-option-roms=off,rtc=off,pit=off,pic=off "${qemu_common[@]}")
cmd_pc=("$QEMU" -M pc "${qemu_common[@]}")

# run_once NAME COUNT CMD...: time one boot; if COUNT is 1, append the ns to NAME.times.
run_once()
{
	local name=$1 count=$2 res ns st
	shift 2
	res=$("$BOOT_TIMER" "$TIMEOUT" "$tmp/$name.log" "$@")
	read -r ns st <<<"$res"
	if [ "$st" -ne "$EXPECT" ]; then
		echo "boot-bench: $name: exit status $st, expected $EXPECT; its output:" >&2
		head -n 20 "$tmp/$name.log" >&2
		die "$name did not boot hello.elf to its exit: $*"
	fi
	[ "$count" -eq 0 ] || echo "$ns" >>"$tmp/$name.times"
}

echo "boot-bench: hello.elf start-to-exit, $RUNS runs of twin-vmm and QEMU microvm, $PC_RUNS of QEMU pc, interleaved"
run_once twin 0 "${cmd_twin[@]}"
run_once microvm 0 "${cmd_microvm[@]}"
rounds=$(( RUNS > PC_RUNS ? RUNS : PC_RUNS ))
for ((i = 1; i <= rounds; i++)); do
	if [ "$i" -le "$RUNS" ]; then
		run_once twin 1 "${cmd_twin[@]}"
		run_once microvm 1 "${cmd_microvm[@]}"
	fi
	[ "$i" -gt "$PC_RUNS" ] || run_once pc 1 "${cmd_pc[@]}"
	printf '.' >&2
done
echo >&2

# stats NAME: "median min max" in ms (for an even count, the mean of the middle two).
stats()
{
	sort -n "$tmp/$1.times" | awk '{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.2f %.2f %.2f\n", m / 1e6, v[1] / 1e6, v[NR] / 1e6
		}'
}

read -r twin_med twin_min twin_max <<<"$(stats twin)"
read -r mv_med mv_min mv_max <<<"$(stats microvm)"
printf '\n%-34s %5s %11s %9s %9s\n' platform runs "median ms" "min ms" "max ms"
printf '%-34s %5d %11s %9s %9s\n' "twin-vmm" "$RUNS" "$twin_med" "$twin_min" "$twin_max"
printf '%-34s %5d %11s %9s %9s\n' "QEMU 7.2 -M microvm" "$RUNS" "$mv_med" "$mv_min" "$mv_max"
if [ "$PC_RUNS" -gt 0 ]; then
	read -r pc_med pc_min pc_max <<<"$(stats pc)"
	printf '%-34s %5d %11s %9s %9s\n' "QEMU 7.2 -M pc" "$PC_RUNS" "$pc_med" "$pc_min" "$pc_max"
fi
echo
ratio_mv=$(awk -v a="$twin_med" -v b="$mv_med" 'BEGIN { printf "%.3f", a / b }')
met=$(awk -v r="$ratio_mv" -v g="$GOAL" 'BEGIN { print (r <= g) ? "met" : "NOT met" }')
echo "twin/microvm = ${ratio_mv}x   (goal: <= ${GOAL}x QEMU microvm: $met)"
if [ "$PC_RUNS" -gt 0 ]; then
	echo "twin/pc      = $(awk -v a="$twin_med" -v b="$pc_med" 'BEGIN { printf "%.4f", a / b }')x"
fi
