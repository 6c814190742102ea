#!/usr/bin/env python3
# Regenerates the backup seed corpus for fuzz_backup.c from the vm_stream corpus's whole save of
# the fuzz VM (tests/fuzz/corpus/vm_stream/ok-save.bin): its state records make each epoch whole.
# Usage: tests/fuzz/gen-backup-corpus.py tests/fuzz/corpus/vm_stream/ok-save.bin tests/fuzz/corpus/backup
# Name prefixes are the driver's classes: committed- (an epoch committed, then END), open- (END
# with none committed), refused- (a record refused, or the stream cut before END).
import os
import struct
import sys

END, PAGE_DATA, DISK_WRITES, CHECKPOINT, VM_CONFIG, SYNC, HEARTBEAT = 0, 1, 5, 6, 7, 8, 9
RAW, ZERO, DELTA = 0, 1, 3
HEADER_LEN = 24
LIVE_CHECKPOINTED = 3


def pad(b):
    return b + bytes(-len(b) % 8)


def record(rtype, body=b""):
    return struct.pack("<II", rtype, len(body)) + pad(body)


def records(stream):
    out, off = [], HEADER_LEN
    while off < len(stream):
        rtype, length = struct.unpack_from("<II", stream, off)
        end = off + 8 + length + (-length % 8)
        out.append((rtype, stream[off:end]))
        off = end
    return out


def page(pfn, enc, data):
    return struct.pack("<QB3xI", pfn, enc, len(data)) + pad(data)


def pages(*ps):
    return record(PAGE_DATA, struct.pack("<II", len(ps), 0) + b"".join(ps))


def disk(disk_id, sector, nsectors):
    body = struct.pack("<IIQII", disk_id, 1, sector, nsectors, 0) + bytes([0x5A]) * (512 * nsectors)
    return record(DISK_WRITES, body)


def checkpoint(epoch):
    return record(CHECKPOINT, struct.pack("<Q", epoch))


def main():
    base, out = open(sys.argv[1], "rb").read(), sys.argv[2]
    recs = records(base)
    assert recs[0][0] == VM_CONFIG and recs[-1][0] == END, "not a whole save"
    header = base[:8] + struct.pack("<III", 1, 0x01020304, LIVE_CHECKPOINTED) + bytes(4)
    state = b"".join(r for t, r in recs[1:-1])
    text = bytes(range(256)) * 16
    epoch1 = pages(page(3, RAW, text), page(4, ZERO, b"")) + disk(0, 0, 8) + state + checkpoint(1)
    seeds = {
        "committed-epoch": epoch1 + record(END),
        "committed-heartbeat": record(HEARTBEAT) + epoch1 + record(HEARTBEAT) + record(END),
        "committed-then-open": pages(page(3, RAW, text))
        + state
        + checkpoint(1)
        + pages(page(3, DELTA, b"\x10\x02\xff\xff"), page(5, RAW, text))
        + record(END),
        "open-pages": pages(page(3, RAW, text)) + disk(0, 8, 1) + record(END),
        "open-state": state + record(END),
        "refused-cut": (pages(page(3, RAW, text)) + state)[:-9],
        "refused-no-state": pages(page(3, RAW, text)) + checkpoint(1),
        "refused-epoch-order": state + checkpoint(2) + checkpoint(1),
        "refused-config": recs[0][1],
        "refused-sync": record(SYNC),
        "refused-heartbeat-body": record(HEARTBEAT, bytes(8)),
        "refused-pfn": pages(page(512, RAW, text)),
        "refused-disk-outside": disk(0, 2048, 8),
    }
    os.makedirs(out, exist_ok=True)
    for name, body in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(header + body)


main()
