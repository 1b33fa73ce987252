"""IPv4 (RFC 791): the header, its checksum, and choosing the next hop.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-------+-------+---------------+-------------------------------+
    |Version|  IHL  |Type of Service|          Total Length         |
    +-------+-------+---------------+-----+-------------------------+
    |         Identification        |Flags|      Fragment Offset    |
    +---------------+---------------+-----+-------------------------+
    |  Time to Live |    Protocol   |         Header Checksum       |
    +---------------+---------------+-------------------------------+
    |                       Source Address                          |
    |                    Destination Address                        |
    |                    Options (IHL > 5) ...                      |

The header checksum is the Internet checksum (RFC 1071) of the header.
Received options are skipped, never interpreted; sent packets have none,
TTL 64 and DF set.

Fragments are REFUSED, not reassembled: a received packet with MF set or a
non-zero fragment offset is dropped and counted (ip_fragments_refused), and
nothing sent is ever fragmented (TCP keeps its segments within the MTU by
the MSS; a UDP datagram too big for the MTU is refused to the application).
Our own DF bit makes a router on the way answer "fragmentation needed"
instead, which is counted when it arrives.

The next hop: the destination itself when it is on the interface's prefix,
else the `via` of the longest configured route that covers it, else the
gateway; no gateway and no route means "no route to host".
"""

from __future__ import annotations

import ipaddress
import struct

from labnode.checksum import internet_checksum

HEADER = 20
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
DEFAULT_TTL = 64
FLAG_DF = 0x4000
FLAG_MF = 0x2000
OFFSET_MASK = 0x1FFF
_HEADER = struct.Struct("!BBHHHBBH4s4s")


class PacketError(ValueError):
    """An IPv4 packet that is malformed; the text says how."""


class Packet:
    __slots__ = ("header_length", "total_length", "ident", "flags_offset", "ttl", "proto", "src", "dst",
                 "payload", "header")

    def __init__(self, header_length: int, total_length: int, ident: int, flags_offset: int, ttl: int,
                 proto: int, src: bytes, dst: bytes, payload: memoryview, header: bytes = b"") -> None:
        self.header_length = header_length
        self.total_length = total_length
        self.ident = ident
        self.flags_offset = flags_offset
        self.ttl = ttl
        self.proto = proto
        self.src = src
        self.dst = dst
        self.payload = payload
        self.header = header  # the raw header, quoted by ICMP errors

    @property
    def is_fragment(self) -> bool:
        return bool(self.flags_offset & (FLAG_MF | OFFSET_MASK))


def parse(data: bytes | memoryview) -> Packet:
    """The packet in `data` (trailing Ethernet padding ignored); PacketError if malformed."""
    if len(data) < HEADER:
        raise PacketError(f"IPv4 packet of {len(data)} bytes, shorter than its header")
    vihl, _tos, total, ident, flags_offset, ttl, proto, _csum, src, dst = _HEADER.unpack_from(data)
    if vihl >> 4 != 4:
        raise PacketError(f"IP version {vihl >> 4}, not 4")
    ihl = (vihl & 0xF) * 4
    if ihl < HEADER:
        raise PacketError(f"IPv4 header length {ihl} below {HEADER}")
    if total < ihl or total > len(data):
        raise PacketError(f"IPv4 total length {total} does not fit the {len(data)} bytes received")
    view = memoryview(data)
    if internet_checksum(view[:ihl]) != 0:
        raise PacketError("bad IPv4 header checksum")
    return Packet(ihl, total, ident, flags_offset, ttl, proto, bytes(src), bytes(dst), view[ihl:total],
                  bytes(view[:ihl]))


def build(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int, ttl: int = DEFAULT_TTL) -> bytes:
    header = bytearray(_HEADER.pack(0x45, 0, HEADER + len(payload), ident & 0xFFFF, FLAG_DF, ttl, proto, 0,
                                    src, dst))
    header[10:12] = internet_checksum(header).to_bytes(2, "big")
    return bytes(header) + payload


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """What TCP and UDP checksums cover in front of their own bytes (RFC 793, 768)."""
    return src + dst + bytes((0, proto)) + length.to_bytes(2, "big")


def text(address: bytes) -> str:
    return str(ipaddress.IPv4Address(address))


def packed(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


class Routes:
    """The interface's prefix, the configured routes and the gateway."""

    def __init__(self, interface: ipaddress.IPv4Interface, gateway: bytes | None,
                 routes: list[tuple[ipaddress.IPv4Network, bytes]]) -> None:
        self.network = interface.network
        self.gateway = gateway
        # longest prefix first, so the first match is the best one
        self.routes = sorted(routes, key=lambda r: -r[0].prefixlen)

    def on_link(self, address: bytes) -> bool:
        return ipaddress.IPv4Address(address) in self.network

    def next_hop(self, dst: bytes) -> bytes | None:
        address = ipaddress.IPv4Address(dst)
        if address in self.network or address == ipaddress.IPv4Address("255.255.255.255"):
            return dst
        for network, via in self.routes:
            if address in network:
                return via
        return self.gateway
