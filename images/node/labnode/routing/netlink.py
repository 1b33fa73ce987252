"""rtnetlink with the standard library: our routes, and link state events.

Messages are built and parsed with `struct` on an AF_NETLINK/NETLINK_ROUTE
socket.  Routes carry our own protocol number (rtm_protocol, 99 by default)
and a metric, so they never collide with the kernel's connected routes and
`ip route show proto 99` lists exactly ours.  Equal-cost routes are one
route with an RTA_MULTIPATH attribute holding an rtnexthop per path.

Both families go the same way: a KernelRoutes per family (AF_INET, AF_INET6),
the same messages with 4- or 16-byte addresses, the same protocol, table and
metric; `ip -6 route show proto 99` lists our IPv6 routes, an equal-cost one
as a single route with its `nexthop` lines.  (A kernel that dumps an IPv6
multipath route as one route per path is read back just as well: the paths
of one prefix are merged.)
"""
from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_CREATE = 0x100, 0x400
RTMGRP_LINK = 0x1
RT_SCOPE_UNIVERSE, RT_SCOPE_NOWHERE = 0, 255
RTN_UNICAST = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 6, 9, 15
IFLA_IFNAME = 3
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000

NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
NLMSGERR = struct.Struct("=i")
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTATTR = struct.Struct("=HH")  # length, type
RTNEXTHOP = struct.Struct("=HBBi")  # length, flags, hops (weight - 1), ifindex
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
U32 = struct.Struct("=I")
IPV4 = struct.Struct("!I")
MAX_DELETES = 64  # requests to remove one IPv6 route, path by path on an old kernel


class NetlinkError(OSError):
    pass


class KernelNexthop(NamedTuple):
    ifindex: int
    gateway: int  # an IPv4 or IPv6 address as an integer, by the table's family


Prefix = tuple[int, int]  # (network, length)
KernelNexthops = tuple[KernelNexthop, ...]  # sorted


class LinkState(NamedTuple):
    index: int  # type: ignore[assignment]  # shadows tuple.index, as rtnetlink names it
    name: str
    running: bool  # administratively up and carrier present
    deleted: bool = False


# -- encoding ---------------------------------------------------------------
def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def message(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), msg_type, flags, seq, 0) + payload


def pack_address(family: int, value: int) -> bytes:
    return value.to_bytes(16, "big") if family == socket.AF_INET6 else IPV4.pack(value)


def unpack_address(family: int, data: bytes) -> int | None:
    """The address in an attribute, None if it is not one of `family`."""
    if len(data) != (16 if family == socket.AF_INET6 else 4):
        return None
    return int.from_bytes(data, "big")


def route_payload(prefix: Prefix, nexthops: KernelNexthops, *, protocol: int, metric: int,
                  table: int, delete: bool = False, family: int = socket.AF_INET) -> bytes:
    network, length = prefix
    scope = RT_SCOPE_NOWHERE if delete else RT_SCOPE_UNIVERSE
    body = RTMSG.pack(family, length, 0, 0, table, protocol, scope, RTN_UNICAST, 0)
    body += attr(RTA_TABLE, U32.pack(table)) + attr(RTA_PRIORITY, U32.pack(metric))
    if length:
        body += attr(RTA_DST, pack_address(family, network))
    if len(nexthops) == 1:
        body += attr(RTA_GATEWAY, pack_address(family, nexthops[0].gateway))
        body += attr(RTA_OIF, U32.pack(nexthops[0].ifindex))
    elif nexthops:
        paths = b""
        for nh in nexthops:
            gateway = attr(RTA_GATEWAY, pack_address(family, nh.gateway))
            paths += RTNEXTHOP.pack(RTNEXTHOP.size + len(gateway), 0, 0, nh.ifindex) + gateway
        body += attr(RTA_MULTIPATH, paths)
    return body


# -- parsing ----------------------------------------------------------------
def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        attrs[kind & 0x3FFF] = data[offset + RTATTR.size: offset + length]
        offset += _align(length)
    return attrs


def messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of every message in one datagram."""
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, msg_type, flags, seq, _ = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size:
            break
        yield msg_type, flags, seq, data[offset + NLMSGHDR.size: offset + length]
        offset += _align(length)


def parse_route(payload: bytes, family: int = socket.AF_INET) -> tuple[Prefix, KernelNexthops, int, int, int] | None:
    """(prefix, nexthops, protocol, table, metric) of a unicast route of
    `family` (AF_INET or AF_INET6); None for anything else."""
    if len(payload) < RTMSG.size:
        return None
    rfamily, dst_len, _, _, table, protocol, _, rtype, _ = RTMSG.unpack_from(payload)
    if rfamily != family or rtype != RTN_UNICAST:
        return None
    attrs = parse_attrs(payload, RTMSG.size)
    table = U32.unpack(attrs[RTA_TABLE])[0] if len(attrs.get(RTA_TABLE, b"")) == 4 else table
    network = unpack_address(family, attrs[RTA_DST]) if RTA_DST in attrs else 0
    metric = U32.unpack(attrs[RTA_PRIORITY])[0] if len(attrs.get(RTA_PRIORITY, b"")) == 4 else 0
    if network is None:
        return None
    hops = []
    if RTA_GATEWAY in attrs and len(attrs.get(RTA_OIF, b"")) == 4:
        gateway = unpack_address(family, attrs[RTA_GATEWAY])
        if gateway is not None:
            hops.append(KernelNexthop(U32.unpack(attrs[RTA_OIF])[0], gateway))
    data, offset = attrs.get(RTA_MULTIPATH, b""), 0
    while offset + RTNEXTHOP.size <= len(data):
        length, _, _, ifindex = RTNEXTHOP.unpack_from(data, offset)
        if length < RTNEXTHOP.size:
            break
        sub = parse_attrs(data[offset + RTNEXTHOP.size: offset + length])
        gateway = unpack_address(family, sub[RTA_GATEWAY]) if RTA_GATEWAY in sub else None
        if gateway is not None:
            hops.append(KernelNexthop(ifindex, gateway))
        offset += _align(length)
    return (network, dst_len), tuple(sorted(hops)), protocol, table, metric


def parse_link(msg_type: int, payload: bytes) -> LinkState | None:
    if len(payload) < IFINFOMSG.size:
        return None
    _, _, index, flags, _ = IFINFOMSG.unpack_from(payload)
    name = parse_attrs(payload, IFINFOMSG.size).get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
    running = bool(flags & IFF_UP and flags & IFF_LOWER_UP)
    return LinkState(index, name, running, deleted=msg_type == RTM_DELLINK)


# -- sockets ----------------------------------------------------------------
class _Netlink:
    def __init__(self, groups: int = 0):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, groups))
        self._seq = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def request(self, msg_type: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        """Send one request; return the (type, payload) answers of a dump, or
        [] once a plain request is acknowledged.  Raises NetlinkError."""
        self._seq += 1
        seq = self._seq
        self.sock.settimeout(2.0)
        self.sock.send(message(msg_type, flags | NLM_F_REQUEST, seq, payload))
        answers: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 16)
            for rtype, _, rseq, body in messages(data):
                if rseq != seq:
                    continue
                if rtype == NLMSG_DONE:
                    return answers
                if rtype == NLMSG_ERROR:
                    code = -NLMSGERR.unpack_from(body)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return answers
                answers.append((rtype, body))


class KernelRoutes(_Netlink):
    """Our routes of one family in one kernel table, identified by protocol and metric."""

    def __init__(self, protocol: int, metric: int, table: int, family: int = socket.AF_INET):
        super().__init__()
        self.protocol, self.metric, self.table, self.family = protocol, metric, table, family

    def _payload(self, prefix: Prefix, nexthops: KernelNexthops, delete: bool = False) -> bytes:
        return route_payload(prefix, nexthops, protocol=self.protocol, metric=self.metric,
                             table=self.table, delete=delete, family=self.family)

    def dump(self) -> dict[Prefix, KernelNexthops]:
        """Every route of our protocol in our table, as the kernel has it
        (the paths of a prefix listed more than once are merged)."""
        request = RTMSG.pack(self.family, 0, 0, 0, 0, 0, 0, 0, 0)
        routes: dict[Prefix, KernelNexthops] = {}
        for rtype, body in self.request(RTM_GETROUTE, NLM_F_DUMP, request):
            parsed = parse_route(body, self.family) if rtype == RTM_NEWROUTE else None
            if parsed and parsed[2] == self.protocol and parsed[3] == self.table:
                prefix, hops = parsed[0], parsed[1]
                routes[prefix] = tuple(sorted(set(routes.get(prefix, ())) | set(hops)))
        return routes

    def replace(self, prefix: Prefix, nexthops: KernelNexthops) -> None:
        flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        self.request(RTM_NEWROUTE, flags, self._payload(prefix, nexthops))

    def delete(self, prefix: Prefix) -> None:
        """Remove our route to `prefix`, all its paths; fine if there is none.
        An IPv6 delete is repeated until the kernel has none left: kernels
        before 4.11 removed one path of a multipath route per request."""
        for _ in range(MAX_DELETES if self.family == socket.AF_INET6 else 1):
            try:
                self.request(RTM_DELROUTE, NLM_F_ACK, self._payload(prefix, (), delete=True))
            except NetlinkError as exc:
                if exc.errno not in (errno.ESRCH, errno.ENOENT):
                    raise
                return


class LinkMonitor(_Netlink):
    """Link events (up, down, carrier, created, deleted) as they happen."""

    def __init__(self):
        super().__init__(RTMGRP_LINK)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._query = _Netlink()  # dumps go on their own socket, events on this one

    def close(self) -> None:
        self._query.close()
        super().close()

    def dump(self) -> list[LinkState]:
        request = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        answers = self._query.request(RTM_GETLINK, NLM_F_DUMP, request)
        return [link for rtype, body in answers if (link := parse_link(rtype, body))]

    def read(self) -> list[LinkState] | None:
        """Pending events; None if the kernel dropped some (resync with dump)."""
        events: list[LinkState] = []
        while True:
            try:
                data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    return None
                raise
            for rtype, _, _, body in messages(data):
                if rtype in (RTM_NEWLINK, RTM_DELLINK):
                    link = parse_link(rtype, body)
                    if link:
                        events.append(link)
