#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_virtio_pci.c into DIR (one file per seed).

Each op: a byte (bits 0-2 region, bit 3 write, bits 4-5 log2 length), a little-endian
u16 offset, and for writes the value.  The seed's name starts with the device state it
ends in: reset-, setup-, live- or broken-."""
import os
import struct
import sys

COMMON, ISR, DEVICE, NOTIFY, LEGACY, ECAM, CONF1, SPECIAL = range(8)
SERVE, POKE, CONFIG_CHANGED, DEVICE_BREAKS = range(4)
LOG2 = {1: 0, 2: 1, 4: 2, 8: 3}
ACK, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
EVENT_IDX = 1 << 29
DESC, AVAIL, USED, BUF = 0x10000, 0x11000, 0x12000, 0x20000
LEGACY_PFN = 0x30


def wr(where, off, value, n):
    return bytes([where | 8 | LOG2[n] << 4]) + struct.pack("<H", off) + value.to_bytes(n, "little")


def rd(where, off, n):
    return bytes([where | LOG2[n] << 4]) + struct.pack("<H", off)


def special(what, arg=0):
    return bytes([SPECIAL]) + struct.pack("<H", arg << 2 | what)


def poke(gpa, data):
    assert gpa % 16 == 0 and len(data) <= 16
    return special(POKE, gpa // 16) + data.ljust(16, b"\0")


def ring(desc, avail, addr, length):
    """One writable descriptor, offered as avail entry 0."""
    return (poke(desc, struct.pack("<QIHH", addr, length, 2, 0)) +
            poke(avail, struct.pack("<HHH", 0, 1, 0)))


def modern_setup(features_lo):
    return (wr(COMMON, 0x14, ACK | DRIVER, 1) + wr(COMMON, 0x08, 0, 4) +
            rd(COMMON, 0x04, 4) + wr(COMMON, 0x0c, features_lo, 4) +
            wr(COMMON, 0x08, 1, 4) + wr(COMMON, 0x0c, 1, 4) +
            wr(COMMON, 0x14, ACK | DRIVER | FEATURES_OK, 1) + rd(COMMON, 0x14, 1))


def modern_queue(desc, avail, used):
    return (wr(COMMON, 0x16, 0, 2) + rd(COMMON, 0x18, 2) + wr(COMMON, 0x20, desc, 4) +
            wr(COMMON, 0x24, 0, 4) + wr(COMMON, 0x28, avail, 8) + wr(COMMON, 0x30, used, 8) +
            wr(COMMON, 0x1c, 1, 2))


def modern_live(desc=DESC, avail=AVAIL, used=USED, features_lo=1 << 5 | EVENT_IDX):
    return (modern_setup(features_lo) + modern_queue(desc, avail, used) +
            wr(COMMON, 0x14, ACK | DRIVER | FEATURES_OK | DRIVER_OK, 1))


def legacy_live():
    return (wr(LEGACY, 18, ACK | DRIVER, 1) + rd(LEGACY, 0, 4) + wr(LEGACY, 14, 0, 2) +
            rd(LEGACY, 12, 2) + wr(LEGACY, 8, LEGACY_PFN, 4) + wr(LEGACY, 4, 1 << 5, 4) +
            wr(LEGACY, 18, ACK | DRIVER | DRIVER_OK, 1))


def kick_and_ack(notify):
    return notify + special(SERVE) + rd(ISR, 0, 1) + rd(LEGACY, 19, 1)


PCI_READS = b"".join(rd(ECAM, r, 4) for r in range(0, 0x60, 4)) + rd(CONF1, 0x00, 4) + \
    rd(CONF1, 0x2c, 2) + rd(CONF1, 0x34, 1)

SEEDS = {
    "reset-pci-reads": PCI_READS + rd(COMMON, 0x12, 2) + rd(DEVICE, 0, 8) + rd(LEGACY, 20, 4),
    "reset-bar-sizing": wr(ECAM, 0x14, 0xffffffff, 4) + rd(ECAM, 0x14, 4) +
    wr(CONF1, 0x10, 0xffffffff, 4) + rd(CONF1, 0x10, 4) + rd(COMMON, 0x12, 2),
    "setup-features": modern_setup(1 << 5 | EVENT_IDX) + rd(COMMON, 0x0c, 4),
    "setup-out-of-range-queue": wr(COMMON, 0x14, ACK, 1) + wr(COMMON, 0x16, 7, 2) +
    wr(COMMON, 0x18, 4, 2) + wr(COMMON, 0x20, DESC, 8) + wr(COMMON, 0x1c, 1, 2) +
    wr(LEGACY, 14, 0xffff, 2) + wr(LEGACY, 8, LEGACY_PFN, 4),
    "setup-config-straddle": wr(COMMON, 0x14, ACK, 1) + rd(DEVICE, 6, 4) + wr(DEVICE, 7, 9, 1) +
    wr(DEVICE, 6, 0xffffffff, 4) + rd(LEGACY, 26, 4) + wr(LEGACY, 27, 3, 1),
    "live-modern-ring": ring(DESC, AVAIL, BUF, 1500) + modern_live() +
    kick_and_ack(wr(NOTIFY, 0, 0, 2)) + special(CONFIG_CHANGED) + rd(ISR, 0, 1),
    "live-legacy-ring": ring(LEGACY_PFN * 4096, LEGACY_PFN * 4096 + 128, BUF, 64) +
    legacy_live() + kick_and_ack(wr(LEGACY, 16, 0, 2)),
    "live-bar-moved": wr(ECAM, 0x14, 0xc1000000, 4) + ring(DESC, AVAIL, BUF, 100) +
    modern_live() + kick_and_ack(wr(NOTIFY, 0, 0, 2)) + wr(COMMON, 0x1c, 1, 2),
    "live-no-event-idx": ring(DESC, AVAIL, BUF, 8) + modern_live(features_lo=0) +
    kick_and_ack(wr(CONF1, 0, 0, 4) + wr(NOTIFY, 4, 1, 2) + wr(NOTIFY, 0, 0, 2)),
    "broken-ring-outside-ram": ring(DESC, AVAIL, 0x7000000000, 4096) + modern_live() +
    kick_and_ack(wr(NOTIFY, 0, 0, 2)) + wr(COMMON, 0x14, 0x0f, 1),
    "broken-queue-outside-ram": modern_setup(1 << 5) + modern_queue(0xfffff000, AVAIL, USED),
    "broken-device-breaks": modern_live() + special(DEVICE_BREAKS) + rd(ISR, 0, 1) +
    special(DEVICE_BREAKS),
    "reset-after-broken": modern_live() + special(DEVICE_BREAKS) + wr(COMMON, 0x14, 0, 1) +
    rd(COMMON, 0x14, 1),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        assert len(data) <= 2048, name
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
