"""ping's IPv6 half: ICMPv6 echo (RFC 4443) on a raw AF_INET6 socket.

Requests are built with labnode.icmp6, our own checksum in them: over the
IPv6 pseudo-header (source, destination, length, next header 58) and the
message, so the source address must be known first; it is the one the
kernel picks for the target (a UDP socket connected to it, which sends
nothing), and the raw socket is bound to it so the kernel sends from exactly
that address.  On a raw ICMPv6 socket the kernel also fills in the checksum
of what we send and verifies the checksum of what we receive, dropping bad
ones before we see them (RFC 3542 section 3.1; an application cannot turn
that off): ours ends up identical on the wire, and every reply is verified
with ours again anyway (labnode.icmp6.verify), with the destination address
it came to taken from IPV6_RECVPKTINFO.  A reply that fails it counts in
"bad_checksum", as in IPv4.

A raw ICMPv6 socket reads ICMPv6 messages without their IPv6 header; the
sender comes from recvmsg's address.  ICMP6_FILTER lets in only echo
replies, destination unreachable (type 1) and time exceeded (type 3).  An
error counts if it quotes our echo request: an IPv6 header (next header 58,
destination our target) followed by an echo request with our identifier.

Targets: an IPv6 literal (a link-local one with its interface,
fe80::1%eth0, or a numeric zone, fe80::1%2) or a name with an IPv6 address.
read() is bounded (one datagram of at most RECV_BYTES) and never raises on
any bytes: what it cannot use is None.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from dataclasses import dataclass

from labnode import icmp6
from labnode.probe.ping import Heard

DEST_UNREACHABLE = 1
TIME_EXCEEDED = 3
ICMP6_FILTER = 1                  # <netinet/icmp6.h>; not in Python's socket module
RECV_BYTES = 65535                # the largest ICMPv6 message an IPv6 datagram carries
_ANCILLARY = socket.CMSG_SPACE(20)   # struct in6_pktinfo
_ECHO = struct.Struct("!BBHHH")
_IPV6_HEADER = 40

UNREACHABLE_CODES = {
    0: "no route to destination", 1: "communication administratively prohibited",
    2: "beyond scope of source address", 3: "address unreachable", 4: "port unreachable",
    5: "source address failed ingress/egress policy", 6: "reject route to destination",
}
TIME_EXCEEDED_CODES = {0: "hop limit exceeded in transit", 1: "fragment reassembly time exceeded"}


@dataclass(frozen=True)
class Target:
    text: str            # as the result's "address": fd00::1, fe80::1%eth0
    packed: bytes        # its 16 bytes
    scope_id: int = 0    # the interface of a link-local target

    @property
    def sockaddr(self) -> tuple[str, int, int, int]:
        return (socket.inet_ntop(socket.AF_INET6, self.packed), 0, 0, self.scope_id)


def _needs_zone(address: ipaddress.IPv6Address) -> bool:
    return address.is_link_local or (address.is_multicast and (address.packed[1] & 0x0F) <= 2)


def resolve(target: str) -> Target:
    """The IPv6 address of target: a literal (with %zone when link-local) or
    a name.  LookupError says what is wrong."""
    if ":" in target:
        try:
            address = ipaddress.IPv6Address(target)
        except ValueError:
            raise LookupError(f"not an IPv6 address: {target[:80]!r}") from None
        zone = address.scope_id
        scope = 0
        if zone:
            try:
                scope = int(zone) if zone.isdigit() else socket.if_nametoindex(zone)
                socket.if_indextoname(scope)
            except (OSError, ValueError, OverflowError):
                raise LookupError(f"{target[:80]}: no interface {zone[:20]!r}") from None
        return _checked(Target(str(address), address.packed, scope))
    try:
        sockaddr = socket.getaddrinfo(target, None, socket.AF_INET6, socket.SOCK_RAW)[0][4]
        plain = ipaddress.IPv6Address(str(sockaddr[0]).split("%", 1)[0])
        scope = int(sockaddr[3]) if len(sockaddr) >= 4 else 0
    except (socket.gaierror, IndexError, ValueError) as exc:
        raise LookupError(f"cannot resolve {target!r}: {exc}") from None
    text = str(plain)
    if scope:
        try:
            text += f"%{socket.if_indextoname(scope)}"
        except OSError:
            text += f"%{scope}"
    return _checked(Target(text, plain.packed, scope))


def _checked(target: Target) -> Target:
    address = ipaddress.IPv6Address(target.packed)
    if _needs_zone(address) and not target.scope_id:
        raise LookupError(f"{address} is link-local: say which interface, e.g. {address}%eth0")
    return target


def describe(kind: int, code: int) -> str:
    if kind == DEST_UNREACHABLE:
        return UNREACHABLE_CODES.get(code, f"destination unreachable (code {code})")
    if kind == TIME_EXCEEDED:
        return TIME_EXCEEDED_CODES.get(code, f"time exceeded (code {code})")
    return f"ICMPv6 type {kind} code {code}"


def echo_request(ident: int, seq: int, payload: bytes, src: icmp6.Address | None,
                 dst: icmp6.Address) -> bytes:
    """An echo request, its checksum ours for src -> dst (left 0 without a
    source: the kernel fills it in)."""
    if _ECHO.size + len(payload) <= icmp6.MAX_MESSAGE:
        return icmp6.build(icmp6.EchoRequest(ident, seq, payload), src, dst)
    # icmp6.build stops at MAX_MESSAGE (Neighbor Discovery's bound); a bigger ping is the same layout.
    message = _ECHO.pack(icmp6.ECHO_REQUEST, 0, 0, ident, seq) + payload
    return message if src is None else icmp6.with_checksum(src, dst, message)


def _source(target: Target) -> tuple[str, int, int, int] | None:
    """The source address the kernel picks for target (nothing is sent), or
    None when it has none (no route: sending then says so)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect((target.sockaddr[0], 9, 0, target.scope_id))
            host, _, _, scope = udp.getsockname()[:4]
        except OSError:
            return None
    return (str(host).split("%", 1)[0], 0, 0, scope)


def read(data: bytes, ancdata: list, addr: tuple, ident: int, target: Target, at: float) -> Heard | None:
    """One datagram from the raw socket: an echo reply with our identifier,
    an error quoting our request to target, or None."""
    try:
        src = str(addr[0])
        dst: bytes | None = None
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
                dst = bytes(value[:16])
        if dst is None or len(data) < _ECHO.size or len(data) > RECV_BYTES:
            return None
        kind, code = data[0], data[1]
        if kind == icmp6.ECHO_REPLY and code == 0:
            reply_ident, seq = struct.unpack_from("!HH", data, 4)
            if reply_ident != ident:
                return None
            return Heard(at, seq, bytes(data[8:]), icmp6.verify(src, dst, data))
        if kind not in (DEST_UNREACHABLE, TIME_EXCEEDED):
            return None
        quoted = data[8:]
        if len(quoted) < _IPV6_HEADER + _ECHO.size or quoted[0] >> 4 != 6 or quoted[6] != icmp6.NEXT_HEADER:
            return None
        if bytes(quoted[24:40]) != target.packed:
            return None
        echo_type, _, _, quoted_ident, seq = _ECHO.unpack_from(quoted, _IPV6_HEADER)
        if echo_type != icmp6.ECHO_REQUEST or quoted_ident != ident or not icmp6.verify(src, dst, data):
            return None
        return Heard(at, seq, error=f"{describe(kind, code)} from {src}")
    except (icmp6.Icmp6Error, IndexError, TypeError, ValueError, struct.error):
        return None   # an address that is not one (the kernel's own are): nothing of ours


class Echo6:
    """ICMPv6 echo to one target: open, request(), hear()."""
    family = 6

    def __init__(self, target: Target) -> None:
        self.target = target
        self.address = target.text
        self.sock, self.source = open_raw(target)

    def request(self, ident: int, seq: int, payload: bytes) -> None:
        src = self.source[0] if self.source else None
        self.sock.sendto(echo_request(ident, seq, payload, src, self.target.packed), self.target.sockaddr)

    def hear(self, ident: int) -> Heard | None:
        data, ancdata, flags, addr = self.sock.recvmsg(RECV_BYTES, _ANCILLARY)
        at = time.monotonic()
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            return None
        return read(data, ancdata, addr, ident, self.target, at)


def _filter(sock: socket.socket) -> None:
    """Only echo replies and the two errors reach us (struct icmp6_filter:
    256 bits, a set bit blocks that type).  Without it, read() sorts them."""
    words = [0xFFFFFFFF] * 8
    for kind in (icmp6.ECHO_REPLY, DEST_UNREACHABLE, TIME_EXCEEDED):
        words[kind >> 5] &= ~(1 << (kind & 31))
    try:
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))
    except OSError:
        pass


# --- shared with traceroute (labnode.probe.traceroute6) ---------------------

ANCILLARY = _ANCILLARY   # recvmsg's ancillary buffer: room for one IPV6_PKTINFO


def pktinfo_destination(ancdata: list) -> bytes | None:
    """The 16-byte destination address of a datagram, from its IPV6_PKTINFO (None without one)."""
    dst: bytes | None = None
    for item in ancdata:
        if not isinstance(item, tuple) or len(item) != 3:
            continue
        level, kind, value = item
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO \
                and isinstance(value, bytes | bytearray) and len(value) >= 16:
            dst = bytes(value[:16])
    return dst


def open_raw(target: Target) -> tuple[socket.socket, tuple[str, int, int, int] | None]:
    """A raw ICMPv6 socket as ping's: IPV6_RECVPKTINFO on, only echo replies
    and the two errors let in, bound to the source the kernel picks for
    target; (socket, that source or None).  PermissionError without CAP_NET_RAW."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        raise PermissionError("raw ICMPv6 sockets need root or CAP_NET_RAW") from None
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        _filter(sock)
        source = _source(target)
        if source is not None:
            try:
                sock.bind(source)
            except OSError:   # gone since: let the kernel pick again
                source = None
    except BaseException:
        sock.close()
        raise
    return sock, source
