"""traceroute: which routers a packet crosses, found by stepping the TTL.

A probe sent with TTL n dies at the n-th router, which answers "time
exceeded" from its own address; the target itself answers "port
unreachable" (UDP probes to high ports, the default), "echo reply" (ICMP
probes, --method icmp) or a SYN-ACK / RST (TCP connects to --port, --method
tcp: what gets through a firewall that lets only a service's port in; a
TCP probe is matched to its answers by its source port).  Probes for all TTLs are sent at once, like
`traceroute -N`, and the ones still unanswered are sent again (--queries
rounds), so a whole trace takes about queries x timeout at worst.

Result: {"hops": ["10.0.1.1", null, "10.0.2.2"], "reached": true, ...}
where hops[i] answered for TTL i+1 (null: no answer).  Past the target, or
past the last hop that answered when it is not reached, nothing is listed.
An "unreachable" answer from a router ends the trace with reached false.

IPv4 first: an IPv4 address, or a name with an IPv4 address.  An IPv6
literal (a link-local one with its interface, fe80::1%eth0), or a name with
only IPv6 addresses, is traced over IPv6 the same way, stepping the hop
limit: labnode.probe.traceroute6.  The result says which: "family" 4 or 6.
"""

from __future__ import annotations

import errno
import random
import select
import socket
import struct
import time

from labnode.probe import icmp

BASE_PORT = 33434


class _Trace:
    family = 4

    def __init__(self, address: str, method: str, port: int = 80) -> None:
        self.address = address
        self.method = method
        self.port = port  # tcp: the destination port
        self.icmp = icmp.raw_socket()
        self.udp: socket.socket | None = None
        self.tcp: dict[int, socket.socket] = {}  # tcp: source port (the probe's key) -> its socket
        self.connecting: set[int] = set()        # tcp: probes whose connect has not finished
        self.ident = random.randrange(1, 0x10000)
        if method == "udp":
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("", 0))
            self.ident = self.udp.getsockname()[1]  # our source port names our probes
        self.probes: dict[int, tuple[int, float]] = {}  # probe key -> (ttl, send time)
        self.answers: dict[int, tuple[str, float]] = {}  # ttl -> (address, rtt ms)
        self.end_ttl: int | None = None   # the smallest TTL that reached the end
        self.reached = False
        self.unreachable: str | None = None
        self._key = 0

    def close(self) -> None:
        self.icmp.close()
        if self.udp:
            self.udp.close()
        for sock in self.tcp.values():
            sock.close()

    def send(self, ttl: int) -> None:
        self._key += 1
        key = self._key
        if self.method == "tcp":
            key = self._connect(ttl)
        elif self.method == "udp":
            assert self.udp is not None  # made in __init__ for udp
            self.udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self.udp.sendto(b"labnode-traceroute", (self.address, BASE_PORT + key))
        else:
            self.icmp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self.icmp.sendto(icmp.echo_request(self.ident, key, b"labnode-traceroute"),
                             (self.address, 0))
        self.probes[key] = (ttl, time.monotonic())

    def _connect(self, ttl: int) -> int:
        """A non-blocking connect whose SYN leaves with this TTL; its source port is its key."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            sock.bind(("", 0))
            key = sock.getsockname()[1]
            err = sock.connect_ex((self.address, self.port))
        except OSError:
            sock.close()
            raise
        if err not in (0, errno.EINPROGRESS, errno.ECONNREFUSED):
            sock.close()
            raise OSError(err, errno.errorcode.get(err, str(err)))
        self.tcp[key] = sock
        self.connecting.add(key)
        return key

    def key_of(self, message: icmp.IcmpMessage) -> int | None:
        """The probe an ICMP message answers, if it answers one of ours."""
        if self.method == "icmp" and message.type == icmp.ECHO_REPLY:
            return message.seq if message.ident == self.ident and message.src == self.address \
                else None
        quoted = message.quoted
        if quoted is None or quoted.dst != self.address:
            return None
        if self.method == "tcp":  # quoted: our SYN's source port (the key) and destination port
            return quoted.ident if quoted.protocol == socket.IPPROTO_TCP and quoted.seq == self.port else None
        if quoted.ident != self.ident:
            return None
        if self.method == "udp" and quoted.protocol == socket.IPPROTO_UDP:
            return quoted.seq - BASE_PORT
        if self.method == "icmp" and quoted.protocol == socket.IPPROTO_ICMP:
            return quoted.seq
        return None

    def record(self, message: icmp.IcmpMessage, when: float) -> None:
        key = self.key_of(message)
        if key not in self.probes or not message.checksum_ok:
            return
        final = message.type in (icmp.ECHO_REPLY, icmp.DEST_UNREACHABLE)
        self._answer(key, message.src, when, final, f"{message.describe()} from {message.src}")

    def _answer(self, key: int, src: str, when: float, final: bool, why: str) -> None:
        ttl, sent = self.probes[key]
        if ttl not in self.answers:
            self.answers[ttl] = (src, round((when - sent) * 1000.0, 3))
        if final and (self.end_ttl is None or ttl < self.end_ttl):
            self.end_ttl = ttl
            self.reached = src == self.address
            self.unreachable = None if self.reached else why

    def connected(self, key: int, when: float) -> None:
        """A TCP probe's connect finished: a SYN-ACK or a RST means the target answered."""
        self.connecting.discard(key)
        err = self.tcp[key].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in (0, errno.ECONNREFUSED):
            self._answer(key, self.address, when, True, "")
        # anything else came as an ICMP error, which the raw socket has read

    def complete(self) -> bool:
        return self.end_ttl is not None and all(t in self.answers for t in range(1, self.end_ttl + 1))

    def listen(self, until: float) -> None:
        while not self.complete() and (left := until - time.monotonic()) > 0:
            pending = {self.tcp[key]: key for key in self.connecting}
            readable, writable, _ = select.select([self.icmp], list(pending), [], left)
            for sock in writable:
                self.connected(pending[sock], time.monotonic())
            if readable:
                packet = self.icmp.recv(65535)
                message = icmp.parse(packet)
                if message is not None:
                    self.record(message, time.monotonic())


def open_trace(target: str, method: str, port: int = 80) -> _Trace:
    """IPv4 if target is an IPv4 address or has one, else IPv6; LookupError
    (the IPv4 lookup's, for a name with neither) or PermissionError."""
    if ":" not in target:
        try:
            address = icmp.resolve4(target)
        except LookupError as v4_error:
            from labnode.probe import traceroute6
            try:
                resolved = traceroute6.resolve(target)
            except LookupError:
                raise v4_error from None
            return traceroute6.open_trace(resolved, method, port)
        return _Trace(address, method, port)
    from labnode.probe import traceroute6
    return traceroute6.open_trace(traceroute6.resolve(target), method, port)


def traceroute(target: str, max_hops: int = 30, timeout: float = 1.0, queries: int = 2,
               method: str = "udp", port: int = 80) -> dict:
    result: dict = {"probe": "traceroute", "target": target, "method": method, "ok": False}
    if method == "tcp":
        result["port"] = port
    try:
        trace = open_trace(target, method, port)
    except (LookupError, PermissionError) as exc:
        result["error"] = str(exc)
        return result
    address = trace.address
    result["address"] = address
    result["family"] = trace.family
    started = time.monotonic()
    try:
        for _ in range(queries):
            last = trace.end_ttl or max_hops
            missing = [ttl for ttl in range(1, last + 1) if ttl not in trace.answers]
            if not missing:
                break
            for ttl in missing:
                trace.send(ttl)
            trace.listen(time.monotonic() + timeout)
    except OSError as exc:
        result["error"] = f"send failed: {exc.strerror or exc}"
        trace.close()
        return result
    trace.close()
    last = trace.end_ttl or max(trace.answers, default=0)
    result["hops"] = [trace.answers.get(ttl, (None, None))[0] for ttl in range(1, last + 1)]
    result["rtt_ms"] = [trace.answers.get(ttl, (None, None))[1] for ttl in range(1, last + 1)]
    result["reached"] = trace.reached
    result["time_ms"] = round((time.monotonic() - started) * 1000.0, 1)
    result["ok"] = trace.reached
    if trace.unreachable:
        result["error"] = trace.unreachable
    elif not trace.reached:
        result["error"] = f"{address} not reached within {max_hops} hops"
    return result
