#!/usr/bin/env python3
# Regenerates the elf_loader seed corpus: small PVH ELFs, valid and corrupt.
# Usage: tests/fuzz/gen-elf-corpus.py tests/fuzz/corpus/elf_loader
# The name prefix is the result the driver expects: ok-, enoexec-, einval-, erange-.
import os
import struct
import sys

MIB = 1 << 20
PT_LOAD, PT_NOTE = 1, 4
EM_386, EM_X86_64 = 3, 62
XEN_ELFNOTE_PHYS32_ENTRY = 18


def note(name, ntype, desc, align, start=0):
    """One note placed at offset start of its PT_NOTE; padding is relative to the segment."""
    out = struct.pack("<III", len(name), len(desc), ntype) + name
    out += b"\0" * (-(start + len(out)) % align) + desc
    return out + b"\0" * (-(start + len(out)) % align)


def elf(is64=True, machine=None, notes=None, loads=None, note_align=4, phnum=None):
    """loads: (paddr, data, memsz) tuples; notes: the PT_NOTE contents (None: no PT_NOTE)."""
    if machine is None:
        machine = EM_X86_64 if is64 else EM_386
    if loads is None:
        loads = [(MIB, bytes(range(0x40)), 0x100), (MIB + 0x1000, b"\xb2" * 0x20, 0x20)]
    ehsize, phsize = (64, 56) if is64 else (52, 32)
    nph = len(loads) + (notes is not None)
    off = ehsize + nph * phsize
    blobs, phdrs = b"", []
    if notes is not None:
        off += -off % note_align
        blobs += b"\0" * (off - ehsize - nph * phsize)
        phdrs.append((PT_NOTE, off, 0, len(notes), len(notes), note_align))
        blobs += notes
        off += len(notes)
    for paddr, data, memsz in loads:
        phdrs.append((PT_LOAD, off, paddr, len(data), memsz, 16))
        blobs += data
        off += len(data)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1]) + b"\0" * 9
    if phnum is None:
        phnum = nph
    if is64:
        eh = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, MIB, ehsize, 0, 0, ehsize,
                                 phsize, phnum, 0, 0, 0)
        ph = b"".join(struct.pack("<IIQQQQQQ", t, 7, o, p, p, fs, ms, a)
                      for t, o, p, fs, ms, a in phdrs)
    else:
        eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, MIB, ehsize, 0, 0, ehsize,
                                 phsize, phnum, 0, 0, 0)
        ph = b"".join(struct.pack("<IIIIIIII", t, o, p, p, fs, ms, 7, a)
                      for t, o, p, fs, ms, a in phdrs)
    return eh + ph + blobs


def pvh(entry=MIB, size=4, align=4):
    desc = struct.pack("<I" if size == 4 else "<Q", entry)
    gnu = note(b"GNU\0", 3, b"\x11" * 20, align)
    return gnu + note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, desc, align, len(gnu))


def main(outdir):
    good64 = elf(notes=pvh())
    seeds = {
        "ok-elf64": good64,
        "ok-elf32": elf(is64=False, notes=pvh()),
        "ok-elf64-note8": elf(notes=pvh(size=8, align=8), note_align=8),
        "ok-elf32-one-segment": elf(is64=False, notes=pvh(MIB + 4),
                                    loads=[(MIB, b"\x90" * 0x80, 0x80)]),
        "enoexec-no-pvh-note": elf(notes=note(b"GNU\0", 3, b"\x11" * 20, 4)),
        "enoexec-arm64": elf(machine=183, notes=pvh()),
        "einval-truncated-phdrs": good64[:64 + 56 + 20],
        "einval-note-desc-6": elf(notes=note(b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY, b"\0" * 6, 4)),
        "einval-phnum-past-eof": elf(notes=pvh(), phnum=200),
        "erange-overlap": elf(notes=pvh(), loads=[(MIB, b"\1" * 0x40, 0x2000),
                                                  (MIB + 0x1000, b"\2" * 0x20, 0x20)]),
        "erange-below-1mib": elf(is64=False, notes=pvh(0x1000),
                                 loads=[(0x1000, b"\3" * 0x40, 0x40)]),
        "erange-entry-outside": elf(notes=pvh(MIB + 0x8000)),
    }
    os.makedirs(outdir, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(outdir, name + ".elf"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
