"""traceroute: which routers a packet crosses, found by stepping the TTL.

A probe sent with TTL n dies at the n-th router, which answers "time
exceeded" from its own address; the target itself answers "port
unreachable" (UDP probes to high ports, the default) or "echo reply" (ICMP
probes, --method icmp).  Probes for all TTLs are sent at once, like
`traceroute -N`, and the ones still unanswered are sent again (--queries
rounds), so a whole trace takes about queries x timeout at worst.

Result: {"hops": ["10.0.1.1", null, "10.0.2.2"], "reached": true, ...}
where hops[i] answered for TTL i+1 (null: no answer).  Past the target, or
past the last hop that answered when it is not reached, nothing is listed.
An "unreachable" answer from a router ends the trace with reached false.
"""

from __future__ import annotations

import random
import select
import socket
import time

from labnode.probe import icmp

BASE_PORT = 33434


class _Trace:
    def __init__(self, address: str, method: str) -> None:
        self.address = address
        self.method = method
        self.icmp = icmp.raw_socket()
        self.udp = None
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

    def send(self, ttl: int) -> None:
        self._key += 1
        key = self._key
        if self.method == "udp":
            self.udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self.udp.sendto(b"labnode-traceroute", (self.address, BASE_PORT + key))
        else:
            self.icmp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self.icmp.sendto(icmp.echo_request(self.ident, key, b"labnode-traceroute"),
                             (self.address, 0))
        self.probes[key] = (ttl, time.monotonic())

    def key_of(self, message: icmp.IcmpMessage) -> int | None:
        """The probe an ICMP message answers, if it answers one of ours."""
        if self.method == "icmp" and message.type == icmp.ECHO_REPLY:
            return message.seq if message.ident == self.ident and message.src == self.address \
                else None
        quoted = message.quoted
        if quoted is None or quoted.dst != self.address or quoted.ident != self.ident:
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
        ttl, sent = self.probes[key]
        if ttl not in self.answers:
            self.answers[ttl] = (message.src, round((when - sent) * 1000.0, 3))
        final = message.type in (icmp.ECHO_REPLY, icmp.DEST_UNREACHABLE)
        if final and (self.end_ttl is None or ttl < self.end_ttl):
            self.end_ttl = ttl
            self.reached = message.src == self.address
            self.unreachable = None if self.reached else f"{message.describe()} from {message.src}"

    def complete(self) -> bool:
        return self.end_ttl is not None and all(t in self.answers for t in range(1, self.end_ttl + 1))

    def listen(self, until: float) -> None:
        while not self.complete() and (left := until - time.monotonic()) > 0:
            readable, _, _ = select.select([self.icmp], [], [], left)
            if readable:
                packet = self.icmp.recv(65535)
                message = icmp.parse(packet)
                if message is not None:
                    self.record(message, time.monotonic())


def traceroute(target: str, max_hops: int = 30, timeout: float = 1.0, queries: int = 2,
               method: str = "udp") -> dict:
    result: dict = {"probe": "traceroute", "target": target, "method": method, "ok": False}
    try:
        address = icmp.resolve4(target)
        trace = _Trace(address, method)
    except (LookupError, PermissionError) as exc:
        result["error"] = str(exc)
        return result
    result["address"] = address
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
