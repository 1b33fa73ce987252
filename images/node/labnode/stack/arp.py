"""ARP (RFC 826) for IPv4 over Ethernet, and the neighbour cache.

     0       2       4   5   6       8
    +-------+-------+---+---+-------+
    | htype | ptype |hln|pln| oper  |    htype 1 (Ethernet), ptype 0x0800,
    +-------+-------+---+---+-------+    hln 6, pln 4, oper 1 request / 2 reply
    | sender MAC (6)        | sender IP (4) |
    | target MAC (6)        | target IP (4) |     28 bytes in all

The cache maps IPv4 addresses to MACs.  An entry is fresh for REACHABLE
seconds after it was learnt, then aged out (the next packet asks again).
A packet for an address not in the cache waits in a per-address queue (at
most QUEUE_LIMIT packets; more are dropped) while a request is broadcast
up to RETRIES times, RETRY_INTERVAL apart; when no reply comes the queue
is dropped and counted.  Following RFC 826, a received ARP packet updates
the sender's entry if there is one, and adds it if the packet is for us.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

HTYPE_ETHERNET = 1
PTYPE_IPV4 = 0x0800
REQUEST = 1
REPLY = 2
LENGTH = 28
REACHABLE = 60.0
RETRIES = 3
RETRY_INTERVAL = 1.0
QUEUE_LIMIT = 64
MAX_ENTRIES = 1024  # a lab link has a handful of hosts; a flood of senders cannot grow the cache beyond this
_FORMAT = struct.Struct("!HHBBH6s4s6s4s")


class ArpError(ValueError):
    """An ARP packet that is not IPv4-over-Ethernet or is truncated."""


@dataclass(frozen=True)
class ArpPacket:
    oper: int
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes

    def encode(self) -> bytes:
        return _FORMAT.pack(HTYPE_ETHERNET, PTYPE_IPV4, 6, 4, self.oper, self.sender_mac,
                            self.sender_ip, self.target_mac, self.target_ip)


def parse(data: bytes | memoryview) -> ArpPacket:
    if len(data) < LENGTH:
        raise ArpError(f"ARP packet of {len(data)} bytes, shorter than {LENGTH}")
    htype, ptype, hln, pln, oper, smac, sip, tmac, tip = _FORMAT.unpack_from(data)
    if (htype, ptype, hln, pln) != (HTYPE_ETHERNET, PTYPE_IPV4, 6, 4):
        raise ArpError("not an IPv4-over-Ethernet ARP packet")
    if oper not in (REQUEST, REPLY):
        raise ArpError(f"unknown ARP operation {oper}")
    return ArpPacket(oper, smac, sip, tmac, tip)


@dataclass
class Entry:
    mac: bytes
    expires: float


@dataclass
class Pending:
    tries: int
    next_try: float
    queue: deque = field(default_factory=deque)  # (ethertype, payload) waiting for the MAC


class ArpCache:
    """The neighbour table; the Stack sends what it asks for."""

    def __init__(self, reachable: float = REACHABLE) -> None:
        self.entries: dict[bytes, Entry] = {}
        self.pending: dict[bytes, Pending] = {}
        self.reachable = reachable

    def lookup(self, ip: bytes, now: float) -> bytes | None:
        entry = self.entries.get(ip)
        if entry is None:
            return None
        if entry.expires <= now:
            del self.entries[ip]
            return None
        return entry.mac

    def learn(self, ip: bytes, mac: bytes, now: float, add: bool) -> Pending | None:
        """Record ip -> mac (update only, unless `add`); returns the packets
        that were waiting for it, if any."""
        if ip in self.entries or add:
            if ip not in self.entries and len(self.entries) >= MAX_ENTRIES:
                self.expire(now)
                if len(self.entries) >= MAX_ENTRIES:
                    return self.pending.pop(ip, None)
            self.entries[ip] = Entry(mac, now + self.reachable)
        return self.pending.pop(ip, None)

    def enqueue(self, ip: bytes, ethertype: int, payload: bytes, now: float) -> tuple[bool, bool]:
        """Queue a packet for ip: (queued, a request must be sent now)."""
        pending = self.pending.get(ip)
        first = pending is None
        if pending is None:
            if len(self.pending) >= MAX_ENTRIES:
                return False, False
            pending = self.pending[ip] = Pending(tries=1, next_try=now + RETRY_INTERVAL)
        if len(pending.queue) >= QUEUE_LIMIT:
            return False, first
        pending.queue.append((ethertype, payload))
        return True, first

    def due(self, now: float) -> tuple[list[bytes], list[tuple[bytes, Pending]]]:
        """(addresses to ask again now, (address, pending) given up on)."""
        again, failed = [], []
        for ip, pending in list(self.pending.items()):
            if pending.next_try > now:
                continue
            if pending.tries >= RETRIES:
                failed.append((ip, self.pending.pop(ip)))
            else:
                pending.tries += 1
                pending.next_try = now + RETRY_INTERVAL
                again.append(ip)
        return again, failed

    def expire(self, now: float) -> None:
        for ip in [ip for ip, e in self.entries.items() if e.expires <= now]:
            del self.entries[ip]
