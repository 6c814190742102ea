#!/usr/bin/env python3
# Regenerates the vm_stream seed corpus (migrate/STREAM.md) for fuzz_vm_stream.c's VM:
# 2 MiB, one vCPU, a PIT, the PCI bus and the UART.
# Usage: tests/fuzz/gen-vm-stream-corpus.py tests/fuzz/corpus/vm_stream
# The name prefix is the class the driver expects: ok- (every epoch complete, applied),
# stream- (the reader refused), config- (VM_CONFIG refused), state- (a state record refused,
# or an epoch incomplete).  The sizes are STREAM.md's layout 1 and xen-core's state versions:
# when one changes, fix it here and regenerate.
import os
import struct
import sys

END, PAGE_DATA, VCPU, VM, DEVICE, DISK, CHECKPOINT, VM_CONFIG = range(8)
VCPU_STATE_SIZE, VM_STATE_SIZE = 10296, 1736
PCI_ID, PCI_VERSION, PCI_SIZE = 2, 1, 9992
UART_ID, UART_VERSION, UART_SIZE = 1, 1, 12
MIB = 1 << 20


def header(flags=0):
    return b"TWINSTRM" + struct.pack("<IIII", 1, 0x01020304, flags, 0)


def pad(b):
    return b + b"\0" * (-len(b) % 8)


def record(rtype, body=b""):
    return struct.pack("<II", rtype, len(body)) + pad(body)


def device(dev_id, version, size, name):
    return struct.pack("<IIII32s", dev_id, version, size, 0, name.encode())


DEVICES = [(PCI_ID, PCI_VERSION, PCI_SIZE, "PCI bus"), (UART_ID, UART_VERSION, UART_SIZE, "8250 UART")]


def config(mem=2 * MIB, vcpus=1, flags=1, layouts=(1, 1), devices=DEVICES):
    body = struct.pack("<QIIIIII", mem, vcpus, flags, layouts[0], layouts[1], len(devices), 0)
    return record(VM_CONFIG, body + b"".join(device(*d) for d in devices))


def vcpu_state(vcpu_id=0, marker=0x5EED, nr_msrs=0, tsc_khz=2000000):
    st = bytearray(VCPU_STATE_SIZE)
    # struct kvm_regs at 8: rax..r15 (16 x u64), rip, rflags; rbx carries the marker.
    struct.pack_into("<QQ", st, 8, 0, marker)
    struct.pack_into("<QQ", st, 8 + 16 * 8, 0xFFF0, 2)
    # struct kvm_sregs at 152: apic_base (at 272 in it) enabled, at the default address.
    struct.pack_into("<Q", st, 152 + 272, 0xFEE00900)
    struct.pack_into("<II", st, 6104, tsc_khz, nr_msrs)
    return record(VCPU, struct.pack("<II", vcpu_id, 1) + bytes(st))


def vm_state(vcpus=1, has_pit=1):
    st = bytearray(VM_STATE_SIZE)
    struct.pack_into("<I", st, 0, vcpus)
    for chip, off in enumerate((8, 528, 1048)):
        struct.pack_into("<I", st, off, chip)
    st[1568] = has_pit
    return record(VM, struct.pack("<II", 1, 0) + bytes(st))


def device_state(dev_id, version, size):
    # Each state struct starts with its version.
    return record(DEVICE, struct.pack("<II", dev_id, version) + struct.pack("<I", version)
                  + bytes(size - 4))


def epoch(**kw):
    return (vm_state() + vcpu_state(**kw) + device_state(PCI_ID, PCI_VERSION, PCI_SIZE)
            + device_state(UART_ID, UART_VERSION, UART_SIZE))


END_REC = record(END)
SEEDS = {
    "ok-save": header() + config() + epoch() + END_REC,
    "ok-checkpoint": header(3) + config() + epoch() + record(CHECKPOINT, struct.pack("<Q", 1))
    + END_REC,
    "stream-cut": (header() + config() + epoch())[:-100],
    "config-no-config": header() + epoch() + END_REC,
    "config-mem": header() + config(mem=4 * MIB) + END_REC,
    "config-vcpus": header() + config(vcpus=2) + END_REC,
    "config-nic": header() + config(devices=DEVICES + [(0x101, 1, 64, "virtio-net 0")]) + END_REC,
    "config-layout": header() + config(layouts=(2, 1)) + END_REC,
    "state-missing-vcpu": header() + config() + vm_state() + END_REC,
    "state-msrs": header() + config() + vcpu_state(nr_msrs=257) + END_REC,
    "state-duplicate": header() + config() + vm_state() + vm_state() + END_REC,
    "state-device-version": header() + config() + device_state(UART_ID, 2, UART_SIZE) + END_REC,
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
