#!/bin/bash
# e2e: every bad input to twin-vmm exits 2 with exactly one clear stderr line, fast, no crash.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm
require_cmd objcopy binutils
require_cmd readelf binutils
require_cmd setpriv util-linux
hello=$(guest hello)

# expect_bad NAME ERE ARGS...: `twin-vmm run ARGS...` must exit 2 within the error bound
# with one stderr line matching ERE.
expect_bad()
{
	local name=$1 re=$2
	shift 2
	if [ "${1:-}" = "--" ]; then
		# `expect_bad NAME ERE -- CMD...` runs CMD instead of `twin-vmm run`.
		shift
		run_bounded "$E2E_ERROR_TIMEOUT" "$name" "$@"
	else
		run_bounded "$E2E_ERROR_TIMEOUT" "$name" "$TWIN_VMM" run "$@"
	fi
	assert_status "$name" 2
	assert_one_error_line "$name" "$re"
	note "$name: $(cat "$E2E_TMP/$name.err")"
}

# write_elf FILE PADDR MEMSZ: a minimal x86-64 PVH ELF, one PT_LOAD of 16 bytes of code
# (filesz) at PADDR with MEMSZ bytes in memory, and a PT_NOTE holding the PVH entry note
# (XEN_ELFNOTE_PHYS32_ENTRY = 18) pointing at PADDR.
write_elf()
{
	perl -e '
		my ($paddr, $memsz) = (hex($ARGV[0]), hex($ARGV[1]));
		my $ehdr = pack("a16 v v V Q< Q< Q< V v v v v v v",
			"\x7fELF\x02\x01\x01", 2, 62, 1, $paddr, 64, 0, 0, 64, 56, 2, 64, 0, 0);
		my $load = pack("V V Q< Q< Q< Q< Q< Q<", 1, 5, 0x1000, $paddr, $paddr, 16, $memsz, 0x1000);
		my $note = pack("V V Q< Q< Q< Q< Q< Q<", 4, 4, 176, 0, 0, 20, 20, 4);
		my $body = pack("V V V a4 V", 4, 4, 18, "Xen", $paddr);
		my $f = $ehdr . $load . $note . $body;
		$f .= "\0" x (0x1000 - length($f));
		$f .= "\xf4" x 16;	# hlt
		print $f;
	' "$2" "$3" >"$1"
}

failed=()
# Each case runs in a subshell so that one failure does not hide the others.
check()
{
	local name=$1
	shift
	if ! ("$@"); then
		failed+=("$name")
	fi
}

# A FIFO with no writer: opening it for reading would block forever, so twin-vmm must refuse
# it as not a regular file without waiting.
case_fifo_kernel()
{
	mkfifo "$E2E_TMP/fifo.elf"
	expect_bad fifo-kernel 'not a regular file' --kernel "$E2E_TMP/fifo.elf"
}

case_missing_kernel()
{
	expect_bad missing-kernel 'No such file or directory' --kernel "$E2E_TMP/no-such-kernel.elf"
}

case_not_elf()
{
	echo "this is a text file, not an ELF kernel" >"$E2E_TMP/text.elf"
	expect_bad not-elf 'not an ELF file' --kernel "$E2E_TMP/text.elf"
}

case_empty_file()
{
	: >"$E2E_TMP/empty.elf"
	expect_bad empty-file 'ELF|empty|truncat' --kernel "$E2E_TMP/empty.elf"
}

case_truncated_elf()
{
	head -c 100 "$hello" >"$E2E_TMP/truncated.elf"
	expect_bad truncated-elf 'ELF|truncat|malformed' --kernel "$E2E_TMP/truncated.elf"
}

case_host_pie_binary()
{
	# A host executable: a valid x86-64 ELF, but a PIE without a PVH note, not a kernel.
	expect_bad host-pie-binary 'PVH|note|PHYS32|ELF' --kernel "$(type -P true)"
}

case_no_pvh_note_stripped()
{
	# hello.elf with its Xen note section(s) removed: everything else is bootable.
	local sections args=()
	sections=$(readelf -n "$hello" | sed -n 's/^Displaying notes found in: \(.*\)$/\1/p')
	[ -n "$sections" ] || fail "readelf finds no note section in $hello"
	local s
	for s in $sections; do
		args+=(-R "$s")
	done
	objcopy "${args[@]}" "$hello" "$E2E_TMP/nonote.elf"
	if readelf -n "$E2E_TMP/nonote.elf" 2>/dev/null | grep -q 'Xen'; then
		fail "objcopy left the Xen note in nonote.elf"
	fi
	expect_bad no-pvh-note-stripped 'PVH|note|PHYS32' --kernel "$E2E_TMP/nonote.elf"
}

case_segment_in_pci_hole()
{
	# A well-formed PVH ELF whose only segment sits at 2.75 GiB: in the PCI hole, never RAM.
	write_elf "$E2E_TMP/hole.elf" 0xb0000000 0x10
	expect_bad segment-in-hole 'RAM|range|outside|segment|memory' \
		--kernel "$E2E_TMP/hole.elf" --mem 256M
}

case_segment_beyond_mem()
{
	# A segment from 1 MiB with 64 MiB in memory, in a 32 MiB guest.
	write_elf "$E2E_TMP/big.elf" 0x100000 0x4000000
	expect_bad segment-beyond-mem 'RAM|range|outside|segment|memory' \
		--kernel "$E2E_TMP/big.elf" --mem 32M
}

case_mem_too_large()
{
	expect_bad mem-too-large 'out of range' --kernel "$hello" --mem 100T
}

case_mem_over_limit()
{
	# 100 TiB spelled in G: a size the parser reads, beyond any host.
	expect_bad mem-over-limit 'out of range' --kernel "$hello" --mem 102400G
}

case_mem_beyond_host()
{
	# Accepted by the argument parser (at most 1T), but more than this host has.
	local total_kib g
	total_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
	# shellcheck disable=SC2017 # whole GiB on purpose
	g=$(( total_kib / 1048576 * 2 + 16 ))
	[ "$g" -lt 1024 ] || fail "this host has too much RAM for the case (${total_kib} KiB)"
	expect_bad mem-beyond-host 'more than this host can give' --kernel "$hello" --mem "${g}G"
}

case_vcpus_zero()
{
	expect_bad vcpus-zero 'vcpus .0. is invalid' --kernel "$hello" --vcpus 0
}

case_no_kvm_device()
{
	TWIN_KVM_DEV="$E2E_TMP/no-such-kvm" \
		expect_bad no-kvm-device 'no such device' --kernel "$hello"
}

# Root bypasses permission bits, so the no-permission cases run twin-vmm as nobody.  A
# copy of the binary and the guest in the temp dir keep them reachable for uid 65534
# wherever the build tree lives (a checkout under /root is not).
as_nobody_setup()
{
	chmod 755 "$E2E_TMP"
	install -m 755 "$TWIN_VMM" "$E2E_TMP/twin-vmm"
	install -m 644 "$hello" "$E2E_TMP/hello-copy.elf"
	setpriv --reuid=65534 --regid=65534 --clear-groups -- test -x "$E2E_TMP/twin-vmm" ||
		fail "uid 65534 cannot run $E2E_TMP/twin-vmm: is ${TMPDIR:-/tmp} mounted noexec?"
}

case_kvm_no_permission_file()
{
	as_nobody_setup
	: >"$E2E_TMP/kvm-000"
	chmod 000 "$E2E_TMP/kvm-000"
	TWIN_KVM_DEV="$E2E_TMP/kvm-000" expect_bad kvm-no-permission-file \
		'permission|denied' \
		-- setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		"$E2E_TMP/twin-vmm" run --kernel "$E2E_TMP/hello-copy.elf"
}

case_kvm_no_permission_dev()
{
	as_nobody_setup
	setpriv --reuid=65534 --regid=65534 --clear-groups -- test -w /dev/kvm &&
		fail "/dev/kvm is writable by uid 65534 here, so this case cannot fail to open it"
	expect_bad kvm-no-permission-dev 'permission|denied' \
		-- setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		"$E2E_TMP/twin-vmm" run --kernel "$E2E_TMP/hello-copy.elf"
}

check missing-kernel case_missing_kernel
check fifo-kernel case_fifo_kernel
check not-elf case_not_elf
check empty-file case_empty_file
check truncated-elf case_truncated_elf
check host-pie-binary case_host_pie_binary
check no-pvh-note-stripped case_no_pvh_note_stripped
check segment-in-hole case_segment_in_pci_hole
check segment-beyond-mem case_segment_beyond_mem
check mem-too-large case_mem_too_large
check mem-over-limit case_mem_over_limit
check mem-beyond-host case_mem_beyond_host
check vcpus-zero case_vcpus_zero
check no-kvm-device case_no_kvm_device
check kvm-no-permission-file case_kvm_no_permission_file
check kvm-no-permission-dev case_kvm_no_permission_dev

if [ "${#failed[@]}" -ne 0 ]; then
	fail "cases failed: ${failed[*]}"
fi
note "ok: all bad-input cases exit 2 with one error line"
