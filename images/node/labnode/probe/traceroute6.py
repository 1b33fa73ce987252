"""traceroute's IPv6 half: the same trace with the hop limit (IPV6_UNICAST_HOPS).

The three methods send what IPv4's do, over IPv6: ICMPv6 echo requests
(--method icmp, built with labnode.icmp6: our own checksum), UDP to high
ports (udp) or TCP connects to --port (tcp).  A router whose hop limit runs
out answers "time exceeded" (ICMPv6 type 3 code 0) from its own address; the
target answers with an echo reply, "port unreachable" (type 1 code 4) or a
SYN-ACK / RST; "destination unreachable" (type 1) from a router ends the
trace, reached false.

The answers are read on one raw ICMPv6 socket (as ping's: only echo replies,
types 1 and 3 let in; the destination each came to from IPV6_RECVPKTINFO),
bound to the source address the kernel picks for the target; the UDP and TCP
sockets are bound to it too.  An error counts only if its checksum is right
(labnode.icmp6.verify, over the pseudo-header: our own check, on top of the
kernel's) and it quotes one of our probes: an IPv6 header (version 6, next
header 58 / 17 / 6 directly, no extension headers: we send none, from our
source to the target) and then the first bytes of our probe:

    icmp:  type 128 (echo request), our identifier; the probe is its sequence number
    udp:   source port ours; the probe is the destination port - 33434
    tcp:   destination port --port; the probe is the source port (one socket each)

An echo reply counts if it comes from the target (on its interface, for a
link-local one) with our identifier.  read() takes any bytes: it is bounded
(one datagram of at most RECV_BYTES) and what it cannot use is None, never
an exception.  Hops are IPv6 addresses as text (a link-local one with its
interface: fe80::1%eth0); the target's is the result's "address".
"""

from __future__ import annotations

import errno
import ipaddress
import random
import select
import socket
import struct
import time
from dataclasses import dataclass

from labnode import icmp6
from labnode.probe import icmp6probe
from labnode.probe.traceroute import BASE_PORT, _Trace

RECV_BYTES = icmp6probe.RECV_BYTES
IPV6_HEADER = 40
DRAIN = 64                      # datagrams read at most per wake-up, before TCP connects are looked at
PAYLOAD = b"labnode-traceroute"
PROTOCOLS = {"icmp": icmp6.NEXT_HEADER, "udp": socket.IPPROTO_UDP, "tcp": socket.IPPROTO_TCP}
#: bytes of our probe's own header an error must quote (identifier and sequence / the two ports)
QUOTED_NEEDED = {"icmp": 8, "udp": 4, "tcp": 4}


class TraceSetupError(LookupError):
    """The IPv6 sockets could not be set up: reported like a failed lookup (nothing was sent)."""


@dataclass(frozen=True)
class Probes:
    """What identifies our probes in what comes back."""
    method: str                      # icmp | udp | tcp
    target: icmp6probe.Target
    source: bytes | None = None      # our source address (None: not known, not checked)
    ident: int = 0                   # icmp: echo identifier / udp: our source port
    port: int = 80                   # tcp: the destination port


@dataclass(frozen=True)
class Answer:
    """One datagram's answer about probe `key`."""
    key: int
    hop: str            # who answered, as listed in "hops"
    final: bool         # echo reply / destination unreachable: the trace ends at this hop
    why: str            # "<what> from <whom>", for an unreachable from a router


def resolve(target: str) -> icmp6probe.Target:
    """target's IPv6 address (icmp6probe.resolve), if it is one a trace can go to."""
    resolved = icmp6probe.resolve(target)
    address = ipaddress.IPv6Address(resolved.packed)
    if address.is_multicast:
        raise LookupError(f"{address} is a multicast address: traceroute needs a unicast one")
    if address.ipv4_mapped is not None:
        raise LookupError(f"{address} is an IPv4-mapped address: trace {address.ipv4_mapped}")
    return resolved


def _hop(sender: ipaddress.IPv6Address, scope: int, target: icmp6probe.Target) -> str:
    """How a sender is listed: the target as its "address", a link-local sender with its interface."""
    if sender.packed == target.packed and (not target.scope_id or scope == target.scope_id):
        return target.text
    text = str(sender)
    if sender.is_link_local and scope:
        try:
            return f"{text}%{socket.if_indextoname(scope)}"
        except (OSError, ValueError, OverflowError):
            return f"{text}%{scope}"
    return text


def quoted_key(quote: bytes, probes: Probes) -> int | None:
    """The probe an error's quoted packet (from its IPv6 header on) is, if it is one of ours."""
    need = QUOTED_NEEDED.get(probes.method)
    if need is None or len(quote) < IPV6_HEADER + need:
        return None
    if quote[0] >> 4 != 6 or quote[6] != PROTOCOLS[probes.method]:
        return None
    if quote[24:40] != probes.target.packed:
        return None
    if probes.source is not None and quote[8:24] != probes.source:
        return None
    first, second, third, fourth = struct.unpack_from("!HHHH", quote + b"\0" * 4, IPV6_HEADER)
    if probes.method == "icmp":   # type, code | checksum | identifier | sequence
        if first >> 8 != icmp6.ECHO_REQUEST or third != probes.ident:
            return None
        return fourth
    if probes.method == "udp":    # source port | destination port
        return second - BASE_PORT if first == probes.ident and second > BASE_PORT else None
    return first if second == probes.port else None   # tcp: source port (the key) | destination port


def read(data: bytes, ancdata: list, addr: tuple, probes: Probes) -> Answer | None:
    """One datagram from the raw ICMPv6 socket: an answer to one of our probes, or None."""
    try:
        if not isinstance(data, bytes | bytearray) or not 8 <= len(data) <= RECV_BYTES:
            return None
        data = bytes(data)
        dst = icmp6probe.pktinfo_destination(ancdata)
        if dst is None or not isinstance(addr, tuple) or not addr:
            return None
        sender = ipaddress.IPv6Address(str(addr[0]).split("%", 1)[0])
        scope = addr[3] if len(addr) >= 4 and isinstance(addr[3], int) else 0
        kind, code = data[0], data[1]
        target = probes.target
        key: int | None
        if kind == icmp6.ECHO_REPLY and code == 0:
            ident, seq = struct.unpack_from("!HH", data, 4)
            from_target = sender.packed == target.packed and (not target.scope_id or scope == target.scope_id)
            key = seq if probes.method == "icmp" and ident == probes.ident and from_target else None
        elif kind in (icmp6probe.DEST_UNREACHABLE, icmp6probe.TIME_EXCEEDED):
            key = quoted_key(data[8:], probes)
        else:
            key = None
        if key is None or not icmp6.verify(sender.packed, dst, data):
            return None
        hop = _hop(sender, scope, target)
        final = kind in (icmp6.ECHO_REPLY, icmp6probe.DEST_UNREACHABLE)
        why = "" if kind == icmp6.ECHO_REPLY else f"{icmp6probe.describe(kind, code)} from {hop}"
        return Answer(key, hop, final, why)
    except (icmp6.Icmp6Error, IndexError, TypeError, ValueError, struct.error):
        return None


class Trace6(_Trace):
    """_Trace over IPv6: its bookkeeping (answers, the end, reached), IPv6 sockets."""
    family = 6

    def __init__(self, target: icmp6probe.Target, method: str, port: int = 80) -> None:
        # Not _Trace.__init__: that opens IPv4 sockets.  The same state, then ours.
        self.target = target
        self.address = target.text
        self.method = method
        self.port = port
        self.udp: socket.socket | None = None
        self.tcp: dict[int, socket.socket] = {}
        self.connecting: set[int] = set()
        self.ident = random.randrange(1, 0x10000)
        self.probes: dict[int, tuple[int, float]] = {}
        self.answers: dict[int, tuple[str, float]] = {}
        self.end_ttl: int | None = None
        self.reached = False
        self.unreachable: str | None = None
        self._key = 0
        self.icmp, self.source = icmp6probe.open_raw(target)
        try:
            self.icmp.setblocking(False)
            if method == "udp":
                self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                self.udp.setblocking(False)
                self.udp.bind(self._local())
                self.ident = self.udp.getsockname()[1]
        except OSError as exc:
            self.close()
            if isinstance(exc, PermissionError):
                raise
            raise TraceSetupError(f"cannot set up IPv6 sockets: {exc.strerror or exc}") from None
        source = ipaddress.IPv6Address(self.source[0]).packed if self.source else None
        self.matching = Probes(method, target, source, self.ident, port)

    def _local(self) -> tuple[str, int, int, int]:
        """Where our UDP and TCP sockets are bound: the raw socket's source, any port."""
        return (self.source[0], 0, 0, self.source[3]) if self.source else ("::", 0, 0, 0)

    def _remote(self, port: int) -> tuple[str, int, int, int]:
        return (socket.inet_ntop(socket.AF_INET6, self.target.packed), port, 0, self.target.scope_id)

    def send(self, ttl: int) -> None:
        self._key += 1
        key = self._key
        try:
            if self.method == "tcp":
                key = self._connect(ttl)
            elif self.method == "udp":
                assert self.udp is not None
                self.udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
                self.udp.sendto(PAYLOAD, self._remote(BASE_PORT + key))
            else:
                src = self.source[0] if self.source else None
                self.icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
                self.icmp.sendto(icmp6probe.echo_request(self.ident, key, PAYLOAD, src, self.target.packed),
                                 self._remote(0))
        except BlockingIOError:
            pass   # a full send buffer: this probe is lost, like one dropped on the way
        self.probes[key] = (ttl, time.monotonic())

    def _connect(self, ttl: int) -> int:
        """A non-blocking connect whose SYN leaves with this hop limit; its source port is its key."""
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            sock.bind(self._local())
            key = sock.getsockname()[1]
            err = sock.connect_ex(self._remote(self.port))
        except OSError:
            sock.close()
            raise
        if err not in (0, errno.EINPROGRESS, errno.ECONNREFUSED):
            sock.close()
            raise OSError(err, errno.errorcode.get(err, str(err)))
        self.tcp[key] = sock
        self.connecting.add(key)
        return key

    def drain(self) -> None:
        """Read what the raw socket holds (at most DRAIN datagrams), without waiting."""
        for _ in range(DRAIN):
            try:
                data, ancdata, flags, addr = self.icmp.recvmsg(RECV_BYTES, icmp6probe.ANCILLARY,
                                                               socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            when = time.monotonic()
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                continue
            answer = read(data, ancdata, addr, self.matching)
            if answer is not None and answer.key in self.probes:
                self._answer(answer.key, answer.hop, when, answer.final, answer.why)

    def listen(self, until: float) -> None:
        while not self.complete() and (left := until - time.monotonic()) > 0:
            pending = {self.tcp[key]: key for key in self.connecting}
            readable, writable, _ = select.select([self.icmp], list(pending), [], left)
            when = time.monotonic()
            # ICMPv6 first: a router's error about a SYN (port unreachable is ECONNREFUSED to
            # the socket too) is then this hop's answer, not the target's.
            if readable:
                self.drain()
            for sock in writable:
                self.connected(pending[sock], when)


def open_trace(target: icmp6probe.Target, method: str, port: int = 80) -> Trace6:
    return Trace6(target, method, port)
