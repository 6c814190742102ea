#!/usr/bin/env python3
# Regenerates the bzimage seed corpus: small bzImages, valid and corrupt.
# Usage: tests/fuzz/gen-bzimage-corpus.py tests/fuzz/corpus/bzimage
# The name prefix is the result the driver expects: ok-, enoexec-, einval-, erange-, e2big-.
# Guest RAM in the target is 2 MiB and the cmdline 13 bytes (fuzz_bzimage.c); seeds stay
# under the driver's 2048-byte input limit, so setup_sects 0 (4 sectors) is left to mutants.
import os
import struct
import sys

MIB = 1 << 20

# Setup header fields from 0x1f1 (Documentation/arch/x86/boot.rst), in order.
FIELDS = [
    ("setup_sects", "B"), ("root_flags", "H"), ("syssize", "I"), ("ram_size", "H"),
    ("vid_mode", "H"), ("root_dev", "H"), ("boot_flag", "H"), ("jump", "H"),
    ("header", "I"), ("version", "H"), ("realmode_swtch", "I"), ("start_sys_seg", "H"),
    ("kernel_version", "H"), ("type_of_loader", "B"), ("loadflags", "B"),
    ("setup_move_size", "H"), ("code32_start", "I"), ("ramdisk_image", "I"),
    ("ramdisk_size", "I"), ("bootsect_kludge", "I"), ("heap_end_ptr", "H"),
    ("ext_loader_ver", "B"), ("ext_loader_type", "B"), ("cmd_line_ptr", "I"),
    ("initrd_addr_max", "I"), ("kernel_alignment", "I"), ("relocatable_kernel", "B"),
    ("min_alignment", "B"), ("xloadflags", "H"), ("cmdline_size", "I"),
    ("hardware_subarch", "I"), ("hardware_subarch_data", "Q"), ("payload_offset", "I"),
    ("payload_length", "I"), ("setup_data", "Q"), ("pref_address", "Q"), ("init_size", "I"),
    ("handover_offset", "I"), ("kernel_info_offset", "I"),
]


def bzimage(setup_sects=1, kernel_len=512, **over):
    f = dict.fromkeys((n for n, _ in FIELDS), 0)
    f.update(setup_sects=setup_sects, syssize=kernel_len // 16, boot_flag=0xaa55,
             jump=0x6aeb, header=0x53726448, version=0x020f, loadflags=1,
             code32_start=MIB, initrd_addr_max=0x7fffffff, kernel_alignment=MIB,
             relocatable_kernel=1, xloadflags=1, cmdline_size=2047, pref_address=MIB,
             init_size=0x10000)
    f.update(over)
    hdr = b"".join(struct.pack("<" + t, f[n]) for n, t in FIELDS)
    sects = setup_sects or 4
    boot = bytearray((sects + 1) * 512)
    boot[0x1f1:0x1f1 + len(hdr)] = hdr
    return bytes(boot) + bytes((i * 7 + 1) & 0xff for i in range(kernel_len))


def main(outdir):
    seeds = {
        "ok-bzimage": bzimage(),
        "ok-unaligned-pref": bzimage(pref_address=MIB + 0x80000,
                                     init_size=0x8000),
        "ok-initrd-max-low": bzimage(initrd_addr_max=0x13ffff),
        "enoexec-no-hdrs": bzimage(header=0x53726447),
        "enoexec-protocol-2-09": bzimage(version=0x0209),
        "enoexec-not-64bit": bzimage(xloadflags=2),
        "einval-setup-past-eof": bzimage(setup_sects=1)[:1000],
        "einval-syssize-past-eof": bzimage(syssize=0x1000),
        "einval-alignment": bzimage(kernel_alignment=0x180000),
        "einval-short-jump": bzimage(jump=0x02eb),
        "erange-init-size": bzimage(init_size=MIB + 1),
        "erange-initrd-max-below-kernel": bzimage(initrd_addr_max=MIB + 0x10000),
        "e2big-cmdline-size": bzimage(cmdline_size=12),
    }
    os.makedirs(outdir, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(outdir, name + ".bin"), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen-bzimage-corpus.py OUTDIR")
    main(sys.argv[1])
