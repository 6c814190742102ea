#!/usr/bin/env python3
# Regenerates the stream seed corpus (migrate/STREAM.md) for a 16-page guest.
# Usage: tests/fuzz/gen-stream-corpus.py tests/fuzz/corpus/stream
# The name prefix is the class the driver expects: end- (read to END), corrupt- (-EBADMSG),
# unsupported- (-EPROTONOSUPPORT), badpage- (a PAGE_DATA batch refused).
import os
import struct
import sys

END, PAGE_DATA, VCPU, VM, DEVICE, DISK, CHECKPOINT = range(7)
OPTIONAL = 1 << 31
LIVE, CHECKPOINTED = 1, 2
RAW, ZERO, LZ4, DELTA = range(4)


def header(flags=0, version=1, order=0x01020304):
    return b"TWINSTRM" + struct.pack("<IIII", version, order, flags, 0)


def pad(b):
    return b + b"\0" * (-len(b) % 8)


def record(rtype, body=b"", length=None):
    return struct.pack("<II", rtype, len(body) if length is None else length) + pad(body)


def page(pfn, enc, data=b""):
    return struct.pack("<QB3xI", pfn, enc, len(data)) + pad(data)


def batch(*pages):
    return record(PAGE_DATA, struct.pack("<II", len(pages), 0) + b"".join(pages))


# One page of b"A": a literal, a 4090-byte match at offset 1, then the 5 literals LZ4 ends with.
LZ4_PAGE = bytes([0x1F]) + b"A" + struct.pack("<H", 1) + bytes([255] * 15 + [246]) \
    + bytes([0x50]) + b"AAAAA"
RAW_PAGE = bytes((i * 7) & 0xFF for i in range(4096))
# Skip 100 bytes, XOR the next 3 with 1, 2, 3.
DELTA_DATA = bytes([100, 3, 1, 2, 3])
END_REC = record(END)

SEEDS = {
    "end-minimal": header() + END_REC,
    "end-state": header() + record(VM, bytes(8) + b"irqchip") + record(VCPU, bytes(8) + b"regs")
    + record(VCPU, struct.pack("<II", 1, 0) + b"regs") + record(DEVICE, struct.pack("<II", 3, 1))
    + record(DISK, struct.pack("<II", 0, 0)) + END_REC,
    "end-pages": header(LIVE) + batch(page(0, ZERO), page(3, RAW, RAW_PAGE), page(15, LZ4, LZ4_PAGE))
    + batch(page(3, DELTA, DELTA_DATA)) + END_REC,
    "end-replication": header(LIVE | CHECKPOINTED) + batch(page(1, ZERO)) + record(CHECKPOINT, struct.pack("<Q", 1))
    + batch(page(2, ZERO)) + record(CHECKPOINT, struct.pack("<Q", 2)) + END_REC,
    "end-optional": header() + record(OPTIONAL | 0x40, b"future") + END_REC,
    "corrupt-truncated": (header() + record(VM, bytes(16)))[:-5],
    "corrupt-oversize": header() + struct.pack("<II", VM, (8 << 20) + 1),
    "corrupt-padding": header() + record(DEVICE, bytes(9))[:-1] + b"\x01",
    "corrupt-epoch": header(CHECKPOINTED) + record(CHECKPOINT, struct.pack("<Q", 2))
    + record(CHECKPOINT, struct.pack("<Q", 2)),
    "corrupt-no-end": header() + record(VM, bytes(8)),
    "unsupported-mandatory": header() + record(0x40, b"future") + END_REC,
    "unsupported-version": header(version=2) + END_REC,
    "badpage-beyond": header() + batch(page(16, ZERO)) + END_REC,
    "badpage-duplicate": header() + batch(page(2, ZERO), page(2, ZERO)) + END_REC,
    "badpage-delta-unsent": header() + batch(page(5, DELTA, DELTA_DATA)) + END_REC,
    "badpage-count": header() + record(PAGE_DATA, struct.pack("<II", 2, 0) + page(0, ZERO)) + END_REC,
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
