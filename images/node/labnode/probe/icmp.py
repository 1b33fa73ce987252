"""ICMPv4 messages built and read by hand (RFC 792), for ping and traceroute.

    echo request/reply:  type(1) code(1) checksum(2) identifier(2) sequence(2) data
    errors (3, 11):      type(1) code(1) checksum(2) unused(4) original IP header + 8 bytes
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from labnode.checksum import internet_checksum

ECHO_REPLY = 0
DEST_UNREACHABLE = 3
ECHO_REQUEST = 8
TIME_EXCEEDED = 11

UNREACHABLE_CODES = {
    0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
    3: "port unreachable", 4: "fragmentation needed", 5: "source route failed",
    6: "destination network unknown", 7: "destination host unknown",
    9: "network administratively prohibited", 10: "host administratively prohibited",
    13: "communication administratively prohibited",
}

_ECHO = struct.Struct("!BBHHH")


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request with its checksum computed over header and data."""
    header = _ECHO.pack(ECHO_REQUEST, 0, 0, ident, seq)
    checksum = internet_checksum(header + payload)
    return _ECHO.pack(ECHO_REQUEST, 0, checksum, ident, seq) + payload


@dataclass
class Quoted:
    """The start of our own datagram, quoted back in an ICMP error."""
    protocol: int
    dst: str
    ident: int = 0   # ICMP echo: identifier / UDP, TCP: source port
    seq: int = 0     # ICMP echo: sequence   / UDP, TCP: destination port


@dataclass
class IcmpMessage:
    src: str
    type: int
    code: int
    checksum_ok: bool
    ident: int = 0
    seq: int = 0
    payload: bytes = b""
    quoted: Quoted | None = None

    def describe(self) -> str:
        if self.type == DEST_UNREACHABLE:
            return UNREACHABLE_CODES.get(self.code, f"destination unreachable (code {self.code})")
        if self.type == TIME_EXCEEDED:
            return "time to live exceeded" if self.code == 0 else "fragment reassembly time exceeded"
        return f"ICMP type {self.type} code {self.code}"


def _ip_header(packet: bytes) -> tuple[int, int, str, str] | None:
    """(header length, protocol, src, dst) of an IPv4 header, or None."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl:
        return None
    return ihl, packet[9], socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])


def parse(packet: bytes) -> IcmpMessage | None:
    """An IPv4 datagram as read from a raw ICMP socket, or None if not ICMP."""
    header = _ip_header(packet)
    if header is None or header[1] != socket.IPPROTO_ICMP:
        return None
    ihl, _, src, _ = header
    total = struct.unpack_from("!H", packet, 2)[0]
    icmp = packet[ihl:total] if ihl < total <= len(packet) else packet[ihl:]
    if len(icmp) < 8:
        return None
    kind, code = icmp[0], icmp[1]
    message = IcmpMessage(src, kind, code, internet_checksum(icmp) == 0)
    if kind in (ECHO_REPLY, ECHO_REQUEST):
        message.ident, message.seq = struct.unpack_from("!HH", icmp, 4)
        message.payload = icmp[8:]
    elif kind in (DEST_UNREACHABLE, TIME_EXCEEDED):
        message.quoted = _quoted(icmp[8:])
    return message


def _quoted(original: bytes) -> Quoted | None:
    header = _ip_header(original)
    if header is None:
        return None
    ihl, protocol, _, dst = header
    inner = original[ihl:ihl + 8]
    quoted = Quoted(protocol, dst)
    if len(inner) >= 8 and protocol == socket.IPPROTO_ICMP:
        quoted.ident, quoted.seq = struct.unpack_from("!HH", inner, 4)
    elif len(inner) >= 4 and protocol in (socket.IPPROTO_UDP, socket.IPPROTO_TCP):
        quoted.ident, quoted.seq = struct.unpack_from("!HH", inner, 0)
    return quoted


def raw_socket() -> socket.socket:
    """A raw ICMP socket; PermissionError explains what is needed."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        raise PermissionError("raw ICMP sockets need root or CAP_NET_RAW") from None


def resolve4(target: str) -> str:
    """The IPv4 address of target (an address or a name)."""
    try:
        return str(socket.getaddrinfo(target, None, socket.AF_INET, socket.SOCK_RAW)[0][4][0])
    except (socket.gaierror, IndexError) as exc:
        raise LookupError(f"cannot resolve {target!r}: {exc}") from None
