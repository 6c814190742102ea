#!/usr/bin/env python3
# Regenerates the vm_stream seed corpus (migrate/STREAM.md) for fuzz_vm_stream.c's VM
# (fuzz_vm_stream_vm.h: 2 MiB, one vCPU, a PIT, the PCI bus, the UART, a virtio-blk in slot 1).
# Usage: tests/fuzz/gen-vm-stream-corpus.py tests/fuzz/corpus/vm_stream BUILD/tests/fuzz/gen-vm-stream-seed
# The base is a whole save of that VM written by gen-vm-stream-seed (real PCI config spaces and
# device states, needs /dev/kvm); every other seed edits it.  The name prefix is the class the
# driver expects: ok- (every epoch complete, applied), stream- (the reader refused), config-
# (VM_CONFIG refused), state- (a state record refused, or an epoch incomplete).  Offsets are
# STREAM.md's layout 1 and the device state tables: when one changes, fix it here and regenerate.
import os
import struct
import subprocess
import sys

END, PAGE_DATA, VCPU, VM, DEVICE, DISK, CHECKPOINT, VM_CONFIG = range(8)
HEADER_LEN = 24
UART_ID, BLK_ID = 1, 0x101
# VM_CONFIG body: mem u64, vcpus, flags, vcpu layout, vm layout, device count, reserved (u32s).
CONFIG_VCPUS, CONFIG_VCPU_LAYOUT, CONFIG_COUNT, CONFIG_DEVICES, CONFIG_DEVICE_LEN = 8, 16, 24, 32, 48
# VCPU_STATE body: vcpu_id, layout, then struct vcpu_state with tsc_khz, nr_msrs at 6104.
VCPU_NR_MSRS = 8 + 6108
# DEVICE_STATE body: device_id, version, then struct virtio_pci_state for a virtio device.
PCI_STATE = 8
STATUS, DRIVER_FEATURES, QUEUES, QUEUE_LEN = 34, 16, 40, 40
BLK_CAPACITY = PCI_STATE + 360 + 8
ACK, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
VERSION_1 = 1 << 32


def pad(b):
    return b + b"\0" * (-len(b) % 8)


def record(rtype, body=b""):
    return struct.pack("<II", rtype, len(body)) + pad(body)


def split(stream):
    """The header and the records (type, body) of a stream."""
    recs, off = [], HEADER_LEN
    while off < len(stream):
        rtype, length = struct.unpack_from("<II", stream, off)
        recs.append((rtype, bytearray(stream[off + 8:off + 8 + length])))
        off += 8 + length + (-length % 8)
    return bytearray(stream[:HEADER_LEN]), recs


def join(header, recs):
    return bytes(header) + b"".join(record(t, bytes(b)) for t, b in recs)


def find(recs, rtype, dev_id=None):
    for i, (t, b) in enumerate(recs):
        if t == rtype and (dev_id is None or struct.unpack_from("<I", b, 0)[0] == dev_id):
            return i
    raise SystemExit("gen-vm-stream-corpus: the base save has no record %d/%s" % (rtype, dev_id))


def edit(base, rtype, fn, dev_id=None):
    """A copy of base with fn applied to one record's body."""
    header, recs = split(base)
    i = find(recs, rtype, dev_id)
    recs[i] = (rtype, fn(bytearray(recs[i][1])))
    return join(header, recs)


def put(fmt, off, value):
    def fn(b):
        struct.pack_into(fmt, b, off, value)
        return b
    return fn


def blk_queue(enabled, size, desc, avail, used):
    """The disk as a driver left it: features accepted, DRIVER_OK, queue 0 placed."""
    def fn(b):
        offered = struct.unpack_from("<Q", b, PCI_STATE + 8)[0]
        struct.pack_into("<Q", b, PCI_STATE + DRIVER_FEATURES, offered & VERSION_1)
        b[PCI_STATE + STATUS] = ACK | DRIVER | FEATURES_OK | DRIVER_OK
        struct.pack_into("<BBBBHHHHIQQQ", b, PCI_STATE + QUEUES, enabled, 0, 0, 0, size, 0, 0,
                         0, 0, desc, avail, used)
        return b
    return fn


def add_nic(b):
    b = b + struct.pack("<IIII32s", 0x102, 1, 376, 0, b"virtio-net 1")
    struct.pack_into("<I", b, CONFIG_COUNT, struct.unpack_from("<I", b, CONFIG_COUNT)[0] + 1)
    return b


def without(base, *rtypes):
    header, recs = split(base)
    return join(header, [(t, b) for t, b in recs if t not in rtypes])


def main():
    out, seed_bin = sys.argv[1], sys.argv[2]
    base = subprocess.run([seed_bin], stdout=subprocess.PIPE, check=True).stdout
    header, recs = split(base)
    state = [(t, b) for t, b in recs if t not in (VM_CONFIG, END)]
    config = [r for r in recs if r[0] == VM_CONFIG]
    live = bytearray(header)
    struct.pack_into("<I", live, 16, 3)  # flags: live, checkpointed
    seeds = {
        "ok-save": base,
        "ok-checkpoint": join(live, config + state + [(CHECKPOINT, struct.pack("<Q", 1)),
                                                      (END, b"")]),
        "ok-blk-driver-ok": edit(base, DEVICE, blk_queue(1, 128, 0x10000, 0x11000, 0x12000),
                                 BLK_ID),
        "stream-cut": base[:-100],
        "config-no-config": without(base, VM_CONFIG),
        "config-mem": edit(base, VM_CONFIG, put("<Q", 0, 4 << 20)),
        "config-vcpus": edit(base, VM_CONFIG, put("<I", CONFIG_VCPUS, 2)),
        "config-nic": edit(base, VM_CONFIG, add_nic),
        "config-layout": edit(base, VM_CONFIG, put("<I", CONFIG_VCPU_LAYOUT, 2)),
        "config-blk-size": edit(base, VM_CONFIG,
                                put("<I", CONFIG_DEVICES + 2 * CONFIG_DEVICE_LEN + 8, 392)),
        "state-missing-vcpu": without(base, VCPU),
        "state-msrs": edit(base, VCPU, put("<I", VCPU_NR_MSRS, 257)),
        "state-duplicate": join(header, config + state[:1] + state),
        "state-device-version": edit(base, DEVICE, put("<I", 4, 2), UART_ID),
        "state-blk-ring-outside-ram": edit(base, DEVICE,
                                           blk_queue(1, 128, 0x10000, 0x11000, 2 << 20), BLK_ID),
        "state-blk-capacity": edit(base, DEVICE, put("<Q", BLK_CAPACITY, 4096), BLK_ID),
    }
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.unlink(os.path.join(out, name))
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
