"""Reading a node's links, IPv4 addresses and root queueing disciplines
straight from rtnetlink, with the standard library: what `lab status`
needs, without pyroute2's import (0.08 s of every such command). Changing
anything stays with pyroute2 (backend/netlink.py).

The socket is made inside the node's network namespace by a thread that
alone enters it (the rest of the process never changes namespace); a dump
request is answered with messages until NLMSG_DONE. The kernel is the only
sender, but the parser is bounded all the same: a message or attribute that
does not fit is where the reading stops, never an exception or a loop.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError
from .protocol import InterfaceState

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_GETLINK, RTM_NEWLINK = 18, 16
RTM_GETADDR, RTM_NEWADDR = 22, 20
RTM_GETQDISC, RTM_NEWQDISC = 38, 36
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_OPERSTATE = 1, 3, 10, 16
IFA_ADDRESS = 1
TCA_KIND = 1
IFF_UP = 0x1
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
#: bounds of one dump: bytes read, and messages parsed
MAX_DUMP_BYTES = 16 * 2**20
MAX_MESSAGES = 65536
_NLMSGHDR = struct.Struct("=IHHII")
_libc: ctypes.CDLL | None = None


def netns_path(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def socket_in(path: str) -> int:
    """The file descriptor of a NETLINK_ROUTE socket created inside the network
    namespace at `path` (an existing one: nothing is ever created); OSError if
    it cannot be entered."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc
    result: dict[str, Any] = {}

    def enter_and_open() -> None:
        try:
            ns = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(ns, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(ns)
            result["fd"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach()
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=enter_and_open, name="labnet-netns")
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return int(result["fd"])


@dataclass
class Message:
    """One rtnetlink message: its type, fixed header and attributes (type -> raw value)."""

    type: int
    header: bytes
    attrs: dict[int, bytes] = field(default_factory=dict)


def attributes(data: bytes, start: int) -> dict[int, bytes]:
    """The rtattrs from `start` (4-byte aligned, each: length u16, type u16,
    value); the first one that does not fit ends them. Nested attributes
    keep their raw value."""
    out: dict[int, bytes] = {}
    at = start
    while at + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, at)
        if length < 4 or at + length > len(data):
            break
        out.setdefault(kind & 0x3FFF, data[at + 4:at + length])   # NLA_F_NESTED / NET_BYTEORDER flags off
        at += (length + 3) & ~3
    return out


def parse(data: bytes, header_size: int, want: int) -> tuple[list[Message], bool, int]:
    """The messages of type `want` in a datagram of a dump, whether the dump
    is done, and the error number if the kernel answered with one (0: none)."""
    out: list[Message] = []
    at = 0
    while at + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, at)
        if length < _NLMSGHDR.size or at + length > len(data):
            break
        body = data[at + _NLMSGHDR.size:at + length]
        if kind == NLMSG_DONE:
            return out, True, 0
        if kind == NLMSG_ERROR:
            code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            return out, True, code
        if kind == want and len(body) >= header_size:
            out.append(Message(kind, body[:header_size], attributes(body, (header_size + 3) & ~3)))
        at += (length + 3) & ~3
    return out, False, 0


def dump(fd: int, request: int, header: bytes, want: int, header_size: int) -> list[Message]:
    """Ask for a dump on the netlink socket fd and read it to the end."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.settimeout(5.0)
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(header), request, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + header)
        out: list[Message] = []
        read = 0
        while True:
            data = sock.recv(1 << 16)
            read += len(data)
            if not data or read > MAX_DUMP_BYTES:
                raise BackendError(f"netlink dump {request}: {'cut short' if not data else 'too large'}")
            got, done, error = parse(data, header_size, want)
            out += got
            if error:
                raise BackendError(f"netlink dump {request}: {os.strerror(error)}")
            if done or len(out) > MAX_MESSAGES:
                return out
    except OSError as exc:
        raise BackendError(f"reading the kernel's tables (netlink): {exc}") from None
    finally:
        sock.close()


def _string(raw: bytes | None) -> str | None:
    return None if raw is None else raw.split(b"\0", 1)[0].decode(errors="replace")


def _u32(raw: bytes | None) -> int | None:
    return struct.unpack_from("=I", raw)[0] if raw is not None and len(raw) >= 4 else None


@dataclass(frozen=True)
class Tables:
    """What one namespace's kernel says of its links (and, when asked, root qdiscs)."""

    interfaces: list[InterfaceState]
    root_qdiscs: dict[str, str]     # interface -> kind of its root qdisc (netem, tbf, noqueue, ...)


ROOT_HANDLE = 0xFFFFFFFF


def read(pid: int, qdiscs: bool = False, addresses: bool = True) -> Tables:
    """Interfaces of the namespace of process pid (loopback left out), with
    state, MAC, addresses (unless told not to dump them) and bridge; with
    qdiscs, each one's root qdisc kind."""
    return read_namespace(netns_path(pid), qdiscs, f"pid {pid}", addresses)


def read_namespace(path: str, qdiscs: bool = False, what: str = "", addresses: bool = True) -> Tables:
    """The same for the namespace file `path` (/proc/PID/ns/net, /run/netns/NAME)."""
    try:
        fd = socket_in(path)
    except OSError as exc:
        raise BackendError(f"cannot enter the network namespace of {what or path}: {exc.strerror or exc}") from exc
    try:
        links = dump(fd, RTM_GETLINK, struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0), RTM_NEWLINK, 16)
        addrs = (dump(fd, RTM_GETADDR, struct.pack("=BBBBi", socket.AF_UNSPEC, 0, 0, 0, 0), RTM_NEWADDR, 8)
                 if addresses else [])
        queues = (dump(fd, RTM_GETQDISC, struct.pack("=BxxxiIII", socket.AF_UNSPEC, 0, 0, 0, 0),
                       RTM_NEWQDISC, 20) if qdiscs else [])
    finally:
        os.close(fd)
    names: dict[int, str] = {}
    for ln in links:
        index = struct.unpack_from("=i", ln.header, 4)[0]
        names[index] = _string(ln.attrs.get(IFLA_IFNAME)) or f"if{index}"
    by_index: dict[int, list[str]] = {}
    for a in addrs:     # IPv4 ones, then IPv6 ones of global scope (not each interface's link-local)
        family, prefixlen, _, scope, index = struct.unpack_from("=BBBBi", a.header)
        raw = a.attrs.get(IFA_ADDRESS)
        if family == socket.AF_INET and raw is not None and len(raw) == 4:
            by_index.setdefault(index, []).append(f"{socket.inet_ntoa(raw)}/{prefixlen}")
        elif family == socket.AF_INET6 and scope == 0 and raw is not None and len(raw) == 16:
            by_index.setdefault(index, []).append(f"{socket.inet_ntop(socket.AF_INET6, raw)}/{prefixlen}")
    out = []
    for ln in links:
        index, flags = struct.unpack_from("=iI", ln.header, 4)
        name = names[index]
        if name == "lo":
            continue
        mac = ln.attrs.get(IFLA_ADDRESS) or b""
        master = _u32(ln.attrs.get(IFLA_MASTER))
        oper = ln.attrs.get(IFLA_OPERSTATE)
        out.append(InterfaceState(
            name=name,
            state="up" if flags & IFF_UP else "down",
            mac=":".join(f"{b:02x}" for b in mac),
            addresses=by_index.get(index, []),
            master=names.get(master) if master else None,
            oper=OPERSTATES[oper[0]] if oper and oper[0] < len(OPERSTATES) else "UNKNOWN",
        ))
    roots = {}
    for q in queues:
        index, _, parent = struct.unpack_from("=iII", q.header, 4)
        if parent == ROOT_HANDLE and index in names:
            roots[names[index]] = _string(q.attrs.get(TCA_KIND)) or ""
    # by name (eth2 before eth10), not by the kernel's numbers: a near end of a veth is numbered
    # apart from the far one (netlink.add_veth), so the kernel's order is not the order they were made in
    out.sort(key=lambda i: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", i.name)])
    return Tables(out, roots)
