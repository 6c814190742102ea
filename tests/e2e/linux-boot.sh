#!/bin/bash
# e2e: Debian's cloud kernel boots under Twin as far as this lab's emulated ring 0 lets it
# in the time bound (LAB.md): the vmlinux through PVH (twin-vmm) prints its banner, our
# cmdline and our e820 map, and with a busybox initramfs reports it where we put it; the
# bzImage through the 64-bit boot protocol, with the initramfs, reaches its decompressor's
# first message.  Neither reaches userspace here; that needs hardware virtualization.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd apt-get apt
require_cmd lz4 lz4
require_cmd cpio cpio
[ -n "${TWIN_LINUX_CACHE:-}" ] || fail "TWIN_LINUX_CACHE is not set: run this test through make check"

# Measured here on a loaded 2-core lab machine: the PVH banner and e820 lines after 45-70 s
# (QEMU microvm took 61 s at the same time), the bzImage decompressor's line after ~7 s.
LINUX_TIMEOUT=${LINUX_TIMEOUT:-240}
# Above the 3 GiB PCI hole, so the map has RAM on both sides of it.
MEM_MIB=4096

# Download (first run only), unpack, build the initramfs: a failure here fails the test.
"$TWIN_SRCDIR/tools/lab/linux-kernel" "$TWIN_LINUX_CACHE" >"$E2E_TMP/paths" 2>"$E2E_TMP/fetch.err" || {
	cat "$E2E_TMP/fetch.err" >&2
	fail "could not get Debian's cloud kernel (tools/lab/linux-kernel $TWIN_LINUX_CACHE)"
}
. "$E2E_TMP/paths"
note "kernel $(basename "$bzimage")"

# expected_e820 MIB PVH: the BIOS-e820 lines Linux prints for the map xen-core/e820.c
# builds for MIB MiB.  Low RAM runs to the PCI hole at 3 GiB, the rest from 4 GiB; the
# EBDA (0x9fc00) to 640 KiB and the BIOS area 0xf0000-1 MiB are reserved.  Linux's PVH
# entry adds the ISA hole 0xa0000-1 MiB as reserved (PVH=1), and Linux merges
# overlapping and adjacent entries of one type before printing.
expected_e820()
{
	local mem=$(($1 << 20)) pvh=$2 low high s e t cs=-1 ce=0 ct=""
	low=$((mem < 0xc0000000 ? mem : 0xc0000000))
	high=$((mem - low))
	while read -r s e t; do
		if [ "$t" = "$ct" ] && [ "$s" -le "$ce" ]; then
			[ "$e" -le "$ce" ] || ce=$e
			continue
		fi
		[ "$cs" -lt 0 ] || printf 'BIOS-e820: [mem 0x%016x-0x%016x] %s\n' "$cs" $((ce - 1)) "$ct"
		cs=$s ce=$e ct=$t
	done < <({
		echo 0 $((0x9fc00)) usable
		echo $((0x9fc00)) $((0xa0000)) reserved
		echo $((0xf0000)) $((0x100000)) reserved
		[ "$pvh" -eq 0 ] || echo $((0xa0000)) $((0x100000)) reserved
		[ "$low" -le $((0x100000)) ] || echo $((0x100000)) "$low" usable
		[ "$high" -eq 0 ] || echo $((0x100000000)) $((0x100000000 + high)) usable
	} | sort -n -k1,1)
	printf 'BIOS-e820: [mem 0x%016x-0x%016x] %s\n' "$cs" $((ce - 1)) "$ct"
}

# stop_when NAME TEXT: wait for TEXT in FILE (the VM started with start_bg), then stop
# the VM with SIGTERM; the run must not have ended on its own before.
stop_when()
{
	local name=$1 text=$2
	if ! wait_for_text "$E2E_TMP/$name.out" "$text" "$LINUX_TIMEOUT"; then
		show_file "$E2E_TMP/$name.out"
		show_file "$E2E_TMP/$name.err"
		fail "$name: no '$text' within ${LINUX_TIMEOUT}s"
	fi
	kill -TERM "$BG_PID"
	wait_bounded "$BG_PID" 30
	# Strip the printk timestamps so lines compare whole.
	tr -d '\r' <"$E2E_TMP/$name.out" | sed 's/^\[ *[0-9.]*\] //' >"$E2E_TMP/$name.txt"
}

# (a) vmlinux through PVH.
cmdline="earlyprintk=serial console=ttyS0 twin.test=pvh-$$"
start_bg pvh "$TWIN_VMM" run --kernel "$vmlinux" --mem "${MEM_MIB}M" --cmdline "$cmdline"
expected_e820 "$MEM_MIB" 1 >"$E2E_TMP/pvh.e820"
# Linux prints its early log, the e820 map included, when the early console starts.
stop_when pvh "bootconsole [earlyser0] enabled"
assert_match "$E2E_TMP/pvh.txt" '^Linux version 6\.1\.[0-9]+-[0-9]+-cloud-amd64 '
assert_has_line "$E2E_TMP/pvh.txt" "Command line: $cmdline"
grep '^BIOS-e820: ' "$E2E_TMP/pvh.txt" >"$E2E_TMP/pvh.got" || true
if ! diff -u "$E2E_TMP/pvh.e820" "$E2E_TMP/pvh.got" >&2; then
	fail "pvh: the kernel's BIOS-e820 map differs from the one twin-vmm built for ${MEM_MIB} MiB"
fi
note "pvh: banner, command line and $(wc -l <"$E2E_TMP/pvh.got") e820 lines as given"

# (a') the same with the initramfs (PVH modlist): xen-core/boot.c puts
# it page-aligned at the top of low RAM, and Linux prints its page-rounded range.
size=$(stat -c %s "$initrd")
low=$((MEM_MIB << 20 < 0xc0000000 ? MEM_MIB << 20 : 0xc0000000))
at=$(((low - size) & ~0xfff))
ramdisk=$(printf 'RAMDISK: [mem 0x%08x-0x%08x]' "$at" $(((at + size + 0xfff & ~0xfff) - 1)))
start_bg pvh-initrd "$TWIN_VMM" run --kernel "$vmlinux" --initrd "$initrd" --mem "${MEM_MIB}M" \
	--cmdline "$cmdline"
stop_when pvh-initrd "RAMDISK: "
assert_has_line "$E2E_TMP/pvh-initrd.txt" "$ramdisk"
note "pvh: the kernel found the ${size}-byte initramfs where it was put"

# (b) the bzImage through the 64-bit boot protocol, with the initramfs.  The Debian
# kernel has no CONFIG_X86_VERBOSE_BOOTUP, so its decompressor is silent except for
# warnings; nokaslr makes it print one, through the serial port it finds from the
# cmdline in the zero page.  Seeing it proves the 64-bit entry state, the zero page and
# the cmdline; LZ4 decompression then runs for minutes of emulated ring 0 here.
cmdline="nokaslr earlyprintk=serial console=ttyS0"
start_bg bz "$TWIN_VMM" run --kernel "$bzimage" --initrd "$initrd" --mem "${MEM_MIB}M" \
	--cmdline "$cmdline"
stop_when bz "KASLR disabled: 'nokaslr' on cmdline."
assert_has_line "$E2E_TMP/bz.txt" "KASLR disabled: 'nokaslr' on cmdline."
note "bzImage: the decompressor runs and reads the zero page's cmdline"
note "ok"
