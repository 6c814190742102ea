#!/usr/bin/env python3
# Regenerates the receive seed corpus for fuzz_receive.c from the vm_stream corpus's whole
# save of the fuzz VM (tests/fuzz/corpus/vm_stream/ok-save.bin), adding what a migration
# carries besides state: PAGE_DATA (raw, zero, lz4-free) and DISK_WRITES records.
# Usage: tests/fuzz/gen-receive-corpus.py tests/fuzz/corpus/vm_stream/ok-save.bin tests/fuzz/corpus/receive
# Name prefixes are the driver's classes: ok- (received whole), refused- (anything else).
import os
import struct
import sys

END, PAGE_DATA, DISK_WRITES, CHECKPOINT, VM_CONFIG = 0, 1, 5, 6, 7
RAW, ZERO, DELTA = 0, 1, 3
HEADER_LEN = 24


def pad(b):
    return b + bytes(-len(b) % 8)


def record(rtype, body):
    return struct.pack("<II", rtype, len(body)) + pad(body)


def records(stream):
    """The header, then (type, whole record bytes) in order."""
    out, off = [], HEADER_LEN
    while off < len(stream):
        rtype, length = struct.unpack_from("<II", stream, off)
        end = off + 8 + length + (-length % 8)
        out.append((rtype, stream[off:end]))
        off = end
    return stream[:HEADER_LEN], out


def page(pfn, enc, data):
    return struct.pack("<QB3xI", pfn, enc, len(data)) + pad(data)


def pages(*ps):
    return record(PAGE_DATA, struct.pack("<II", len(ps), 0) + b"".join(ps))


def disk(disk_id, *writes):
    body = struct.pack("<II", disk_id, len(writes))
    for sector, nsectors, reserved in writes:
        body += struct.pack("<QII", sector, nsectors, reserved) + bytes([0x5A]) * (512 * nsectors)
    return record(DISK_WRITES, body)


def main():
    base, out = open(sys.argv[1], "rb").read(), sys.argv[2]
    header, recs = records(base)
    assert recs[0][0] == VM_CONFIG and recs[-1][0] == END, "not a whole save"
    cfg, state = recs[0][1], b"".join(r for _, r in recs[1:])
    text = bytes(range(256)) * 16
    seeds = {
        "ok-save": [],
        "ok-pages-disk": [pages(page(3, RAW, text), page(4, ZERO, b"")), disk(0, (0, 8, 0))],
        "ok-delta": [pages(page(5, RAW, text)), pages(page(5, DELTA, b"\x10\x02\xff\xff"))],
        "refused-delta-unsent": [pages(page(6, DELTA, b"\x00\x01\x01"))],
        "refused-disk-outside": [disk(0, (2048, 8, 0))],
        "refused-disk-id": [disk(1, (0, 8, 0))],
        "refused-checkpoint": [record(CHECKPOINT, struct.pack("<Q", 1))],
        "refused-pfn": [pages(page(512, RAW, text))],
    }
    os.makedirs(out, exist_ok=True)
    for name, extra in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(header + cfg + b"".join(extra) + state)
    with open(os.path.join(out, "refused-truncated.bin"), "wb") as f:
        f.write((header + cfg + pages(page(3, RAW, text)) + state)[:-9])


main()
