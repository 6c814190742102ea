#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_virtio_blk.c into DIR (one file per seed).

Input layout (see fuzz_virtio_blk.c): flags byte (bit 0: read-only disk), readable and
writable descriptor counts, a little-endian u16 length per descriptor, then the bytes of
the readable descriptors in order, the 16-byte request header first."""
import os
import struct
import sys

T_IN, T_OUT, T_FLUSH, T_GET_ID = 0, 1, 4, 8


def seed(readonly, outs, ins, payload):
    head = bytes([readonly, len(outs), len(ins)])
    lens = b"".join(struct.pack("<H", n) for n in outs + ins)
    return head + lens + payload


def hdr(typ, sector):
    return struct.pack("<IIQ", typ, 0, sector)


def data(n, salt):
    return bytes((i * 7 + salt) & 0xFF for i in range(n))


SEEDS = {
    "ok-read": seed(0, [16], [1024, 1], hdr(T_IN, 3)),
    "ok-read-split": seed(0, [8, 8], [100, 412, 1], hdr(T_IN, 15)),
    "ok-write": seed(0, [16, 512], [1], hdr(T_OUT, 5) + data(512, 1)),
    "ok-write-split": seed(0, [16, 300, 724], [1], hdr(T_OUT, 0) + data(1024, 2)),
    "ok-flush": seed(1, [16], [1], hdr(T_FLUSH, 0)),
    "ok-get-id": seed(0, [16], [20, 1], hdr(T_GET_ID, 0)),
    "ioerr-past-end": seed(0, [16], [1024, 1], hdr(T_IN, 15)),
    "ioerr-read-only": seed(1, [16, 512], [1], hdr(T_OUT, 0) + data(512, 3)),
    "ioerr-part-sector": seed(0, [16, 100], [1], hdr(T_OUT, 1) + data(100, 4)),
    "unsupp-type": seed(0, [16], [1], hdr(0x55, 0)),
    "proto-short-header": seed(0, [8], [1], hdr(T_IN, 0)[:8]),
    "proto-no-status": seed(0, [16, 512], [], hdr(T_OUT, 0) + data(512, 5)),
}

if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, blob in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(blob)
