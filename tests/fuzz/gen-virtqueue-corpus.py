#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_virtqueue.c into DIR (one file per seed).

Input layout (see fuzz_virtqueue.c): byte 0 picks the queue size (1 << (b % 9)), byte 1
bit 0 event idx, bytes 2-3 the device's starting avail index; then guest RAM from GPA 0:
descriptor table at 0, driver area at 0x1000, device area at 0x2000.  Every seed has
queue size 8 and buffers at 0x8000 and up (zero RAM past the input)."""
import os
import struct
import sys

HEADER, DESC, AVAIL, USED, RAM_SIZE = 4, 0x0000, 0x1000, 0x2000, 64 << 10
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def seed(size, descs, avail_idx, ring, event_idx=0, start_idx=0):
    b = bytearray(HEADER + size)
    b[0:4] = bytes([3, event_idx]) + struct.pack("<H", start_idx)
    for i, (addr, length, flags, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", b, HEADER + DESC + 16 * i, addr, length, flags, nxt)
    struct.pack_into("<H", b, HEADER + AVAIL + 2, avail_idx)
    for i, head in enumerate(ring):
        struct.pack_into("<H", b, HEADER + AVAIL + 4 + 2 * i, head)
    return bytes(b)


GOOD, BROKEN = USED + 0x100, USED
SEEDS = {
    # one chain: header out, data in
    "good-two-part": seed(GOOD, [(0x8000, 16, F_NEXT, 1), (0x9000, 1500, F_WRITE, 0)], 1, [0]),
    # four chains, event idx
    "good-event-idx": seed(
        GOOD,
        [(0x8000 + 0x100 * i, 0x100, F_WRITE if i & 1 else F_NEXT, i + 1) for i in range(8)],
        4, [0, 2, 4, 6], event_idx=1),
    # wrapping indices: the device starts at 0xffff
    "good-wrap": seed(GOOD, [(0x8000, 64, 0, 0)], 1, [0], start_idx=0xFFFF),
    "broken-loop": seed(BROKEN, [(0x8000, 64, F_NEXT, 1), (0x8000, 64, F_NEXT, 0)], 1, [0]),
    "broken-out-of-ram": seed(BROKEN, [(RAM_SIZE - 8, 64, 0, 0)], 1, [0]),
    "broken-indirect": seed(BROKEN, [(0x8000, 64, F_INDIRECT, 0)], 1, [0]),
}

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen-virtqueue-corpus.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(sys.argv[1], name + ".bin"), "wb") as f:
            f.write(data)
