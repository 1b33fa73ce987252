"""UDP (RFC 768): datagrams, and sockets bound to a port.

     0               1               2               3
    +-------------------------------+-------------------------------+
    |          Source Port          |       Destination Port        |
    +-------------------------------+-------------------------------+
    |            Length             |           Checksum            |
    +-------------------------------+-------------------------------+
    |  data ...

Length covers header and data.  The checksum covers the IPv4 pseudo
header (source, destination, zero, protocol 17, UDP length) and the whole
datagram; 0 on receipt means "not computed" and is accepted, and a computed
0 is sent as 0xFFFF.  A datagram to a port nobody has bound is answered
with ICMP port unreachable.

UdpSocket: bind (Stack.udp_bind), sendto(data, (ip, port)), recvfrom() ->
(data, (ip, port)) or None when nothing is queued, close(); on_readable is
called (if set) when a datagram arrives.  At most QUEUE_LIMIT datagrams
wait in a socket; more are dropped and counted.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from labnode.checksum import internet_checksum

from . import ipv4

if TYPE_CHECKING:
    from .core import Stack

HEADER = 8
QUEUE_LIMIT = 256
MAX_PAYLOAD = 1500 - ipv4.HEADER - HEADER  # no fragments: one datagram fits one frame
_HEADER = struct.Struct("!HHHH")


class DatagramError(ValueError):
    """A truncated UDP datagram or one with a bad checksum."""


def parse(src: bytes, dst: bytes, data: bytes | memoryview) -> tuple[int, int, memoryview]:
    """(source port, destination port, payload)."""
    if len(data) < HEADER:
        raise DatagramError(f"UDP datagram of {len(data)} bytes, shorter than {HEADER}")
    sport, dport, length, csum = _HEADER.unpack_from(data)
    if length < HEADER or length > len(data):
        raise DatagramError(f"UDP length {length} does not fit the {len(data)} bytes received")
    view = memoryview(data)[:length]
    if csum and internet_checksum(ipv4.pseudo_header(src, dst, ipv4.PROTO_UDP, length) + bytes(view)) != 0:
        raise DatagramError("bad UDP checksum")
    return sport, dport, view[HEADER:]


def build(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    length = HEADER + len(payload)
    datagram = bytearray(_HEADER.pack(sport, dport, length, 0)) + payload
    csum = internet_checksum(ipv4.pseudo_header(src, dst, ipv4.PROTO_UDP, length) + bytes(datagram))
    datagram[6:8] = (csum or 0xFFFF).to_bytes(2, "big")
    return bytes(datagram)


class UdpSocket:
    def __init__(self, stack: Stack, port: int) -> None:
        self.stack = stack
        self.port = port
        self.queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self.on_readable: Callable[[UdpSocket], None] | None = None
        self.dropped = 0
        self.received = 0
        self.sent = 0
        self.errors: deque[str] = deque(maxlen=8)  # ICMP errors about what it sent
        self.closed = False

    def deliver(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self.queue) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self.received += 1
        self.queue.append((data, addr))
        if self.on_readable is not None:
            self.on_readable(self)

    def recvfrom(self) -> tuple[bytes, tuple[str, int]] | None:
        return self.queue.popleft() if self.queue else None

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram; ValueError if it is too big, OSError if there is no route."""
        if self.closed:
            raise OSError("socket is closed")
        if len(data) > MAX_PAYLOAD:
            raise ValueError(f"datagram of {len(data)} bytes: at most {MAX_PAYLOAD} (no fragmentation)")
        dst = ipv4.packed(addr[0])
        self.stack.send_ip(dst, ipv4.PROTO_UDP, build(self.stack.address, dst, self.port, addr[1], data))
        self.sent += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stack.udp_unbind(self.port)
