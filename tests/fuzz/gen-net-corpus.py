#!/usr/bin/env python3
# Regenerates the guest_net seed corpus: Ethernet frames for 198.18.2.10/24, 52:54:00:12:34:56.
# Usage: tests/fuzz/gen-net-corpus.py tests/fuzz/corpus/guest_net
# The name prefix is the class the driver expects: drop- (dropped), ok- (handled), udp- (delivered).
import os
import struct
import sys

OUR_MAC = bytes.fromhex("525400123456")
PEER_MAC = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6
OUR_IP = bytes([198, 18, 2, 10])
PEER_IP = bytes([198, 18, 2, 2])
OTHER_IP = bytes([198, 18, 2, 3])


def csum(data, start=0):
    if len(data) % 2:
        data += b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, etype, payload, src=PEER_MAC):
    return dst + src + struct.pack("!H", etype) + payload


def arp(op, sha, spa, tha, tpa, dst=BCAST):
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa
    return eth(dst, 0x0806, body, sha)


def ipv4(proto, payload, src=PEER_IP, dst=OUR_IP, frag=0, options=b"", bad_csum=False):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), 0x1234, frag,
                      64, proto, 0, src, dst) + options
    c = csum(hdr) ^ (1 if bad_csum else 0)
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return eth(OUR_MAC, 0x0800, hdr + payload)


def udp(data, dport=7777, with_csum=True, **kw):
    u = struct.pack("!HHHH", 40000, dport, 8 + len(data), 0) + data
    if with_csum:
        pseudo = sum(struct.unpack("!HHHH", PEER_IP + OUR_IP)) + 17 + len(u)
        c = csum(u, pseudo) or 0xFFFF
        u = u[:6] + struct.pack("!H", c) + u[8:]
    return ipv4(17, u, **kw)


def icmp_echo(data):
    m = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + data
    return ipv4(1, m[:2] + struct.pack("!H", csum(m)) + m[4:])


SEEDS = {
    "ok-arp-request": arp(1, PEER_MAC, PEER_IP, b"\0" * 6, OUR_IP),
    "ok-arp-reply": arp(2, bytes.fromhex("020000000003"), OTHER_IP, OUR_MAC, OUR_IP, OUR_MAC),
    "ok-icmp-echo": icmp_echo(bytes(range(56))),
    "udp-kv-get": udp(b"c1 1 GET k"),
    "udp-no-csum": udp(b"c1 2 INCR k", with_csum=False),
    "udp-ip-options": udp(b"c1 3 PUT k 5", options=b"\x01\x01\x01\x00"),
    "drop-short": udp(b"x")[:20],
    "drop-fragment": udp(b"c1 4 GET k", frag=0x2000),
    "drop-ip-csum": udp(b"c1 5 GET k", bad_csum=True),
    "drop-not-us": udp(b"c1 6 GET k", dst=OTHER_IP),
    "drop-no-port": udp(b"hello", dport=9),
    "drop-ipv6": eth(OUR_MAC, 0x86DD, bytes(40)),
    "drop-arp-other": arp(1, bytes.fromhex("020000000004"), bytes([198, 18, 2, 4]), b"\0" * 6,
                          OTHER_IP),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
