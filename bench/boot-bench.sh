#!/bin/bash
# Boot benchmark: start-to-exit wall time of hello.elf under twin-vmm, QEMU microvm and QEMU pc.
# twin-vmm runs twice: as it ships (in-kernel PIT on) and with --pit off, the same legacy
# hardware as the microvm row (pit=off; twin-vmm has no RTC, and its PIC is part of KVM's
# in-kernel irqchip, which it always creates).
#
# Environment (set by `make bench` in bench/):
#   TWIN_VMM, TWIN_HELLO, BOOT_TIMER   the binaries and the guest
#   BENCH_RUNS (11), BENCH_PC_RUNS (3) runs per platform; QEMU (qemu-system-x86_64)
# The platforms run interleaved, one run of each per round, so that drift on the shared
# lab cores hits them alike.  One untimed warm-up run of each fills the page cache.
#
# Two times per run, both from fork to the event (bench/boot-timer.c):
#   banner  the guest's ring-0 banner appeared on the serial output;
#   exit    the process ended: twin-vmm with hello's status 1 (TWIN_GUEST_EXIT_OK), QEMU
#           microvm with 0 (the guest powers off through the microvm GED).
# Under -M pc the guest has no MMIO way to power off from ring 3 (no GED; PVM forbids
# port I/O there, LAB.md), so a pc run is timed to the banner and then killed, and
# twin/pc compares banner times.  A run that misses its banner or exit status stops the
# bench: a time for a failed boot means nothing.
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
BANNER="twin-guest: hello (ring 0 ok)"
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
# shellcheck disable=SC2054 # the commas are QEMU option syntax
qemu_common=(-enable-kvm -cpu kvm64 -m 256M -nographic -kernel "$TWIN_HELLO"
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
cmd_twin=("$TWIN_VMM" run --kernel "$TWIN_HELLO" --mem 256M)
cmd_twin_nopit=("${cmd_twin[@]}" --pit off)
# shellcheck disable=SC2054
cmd_microvm=("$QEMU" -M microvm,x-option-roms=off,rtc=off,pit=off,pic=off "${qemu_common[@]}")
cmd_pc=("$QEMU" -M pc "${qemu_common[@]}")

# run_once NAME COUNT WANT_STATUS TIMER_OPTS CMD...: time one boot; if COUNT is 1,
# append "exit_ns banner_ns" to NAME.times.  WANT_STATUS "-" accepts any status.
run_once()
{
	local name=$1 count=$2 want=$3 opts=$4 res ns st mark
	shift 4
	# shellcheck disable=SC2086 # opts is a word list on purpose
	res=$("$BOOT_TIMER" $opts -m "$BANNER" "$TIMEOUT" "$tmp/$name.log" "$@")
	read -r ns st mark <<<"$res"
	if [ "$mark" -lt 0 ] || { [ "$want" != - ] && [ "$st" -ne "$want" ]; }; then
		echo "boot-bench: $name: exit status $st (expected $want), banner at $mark ns; output:" >&2
		head -n 20 "$tmp/$name.log" >&2
		die "$name did not boot hello.elf as expected: $*"
	fi
	[ "$count" -eq 0 ] || echo "$ns $mark" >>"$tmp/$name.times"
}

echo "boot-bench: hello.elf, $RUNS runs each of twin-vmm (PIT on, PIT off) and QEMU microvm, $PC_RUNS of QEMU pc, interleaved"
echo "boot-bench: 256 MiB of guest RAM everywhere; QEMU -enable-kvm -cpu kvm64 -nographic, isa-debug-exit"
run_once twin 0 1 "" "${cmd_twin[@]}"
run_once twin-nopit 0 1 "" "${cmd_twin_nopit[@]}"
run_once microvm 0 0 "" "${cmd_microvm[@]}"
rounds=$(( RUNS > PC_RUNS ? RUNS : PC_RUNS ))
for ((i = 1; i <= rounds; i++)); do
	if [ "$i" -le "$RUNS" ]; then
		run_once twin 1 1 "" "${cmd_twin[@]}"
		run_once twin-nopit 1 1 "" "${cmd_twin_nopit[@]}"
		run_once microvm 1 0 "" "${cmd_microvm[@]}"
	fi
	[ "$i" -gt "$PC_RUNS" ] || run_once pc 1 - -k "${cmd_pc[@]}"
	printf '.' >&2
done
echo >&2

# stats NAME COLUMN: "median min max" in ms of column 1 (exit) or 2 (banner); for an
# even count the median is the mean of the middle two.
stats()
{
	awk -v c="$2" '{ print $c }' "$tmp/$1.times" | sort -n | awk '{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.1f %.1f %.1f\n", m / 1e6, v[1] / 1e6, v[NR] / 1e6
		}'
}

row()
{
	printf '%-22s %5s   %10s %17s   %10s %17s\n' "$@"
}

read -r tx_med tx_min tx_max <<<"$(stats twin 1)"
read -r tb_med tb_min tb_max <<<"$(stats twin 2)"
read -r nx_med nx_min nx_max <<<"$(stats twin-nopit 1)"
read -r nb_med nb_min nb_max <<<"$(stats twin-nopit 2)"
read -r mx_med mx_min mx_max <<<"$(stats microvm 1)"
read -r mb_med mb_min mb_max <<<"$(stats microvm 2)"
echo
row "" "" "exit ms" "" "banner ms" ""
row platform runs median "(min-max)" median "(min-max)"
row "twin-vmm" "$RUNS" "$tx_med" "($tx_min-$tx_max)" "$tb_med" "($tb_min-$tb_max)"
row "twin-vmm --pit off" "$RUNS" "$nx_med" "($nx_min-$nx_max)" "$nb_med" "($nb_min-$nb_max)"
row "QEMU 7.2 -M microvm" "$RUNS" "$mx_med" "($mx_min-$mx_max)" "$mb_med" "($mb_min-$mb_max)"
if [ "$PC_RUNS" -gt 0 ]; then
	read -r pb_med pb_min pb_max <<<"$(stats pc 2)"
	row "QEMU 7.2 -M pc" "$PC_RUNS" "n/a" "(cannot exit)" "$pb_med" "($pb_min-$pb_max)"
fi
echo
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'
}
goal()
{
	awk -v r="$1" -v g="$GOAL" 'BEGIN { print (r <= g) ? "met" : "NOT met" }'
}
r=$(ratio "$tx_med" "$mx_med")
rn=$(ratio "$nx_med" "$mx_med")
line()
{
	printf '%-41s %s\n' "$1" "$2"
}
line "twin/microvm, start to exit:" "${r}x   (goal <= ${GOAL}x: $(goal "$r"))"
line "twin --pit off/microvm, start to exit:" "${rn}x   (goal <= ${GOAL}x: $(goal "$rn"))"
line "twin/microvm, start to banner:" "$(ratio "$tb_med" "$mb_med")x"
line "twin --pit off/microvm, start to banner:" "$(ratio "$nb_med" "$mb_med")x"
if [ "$PC_RUNS" -gt 0 ]; then
	line "twin/pc, start to banner:" "$(ratio "$tb_med" "$pb_med")x"
fi
