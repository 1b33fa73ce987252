"""ping: ICMP echo with our own packets, checksums and timing.

Sends --count echo requests --interval seconds apart on a raw socket, each
with a random identifier, its sequence number and a payload of a timestamp
plus a pattern.  A reply counts if it has our identifier, an outstanding
sequence number, the payload we sent and a correct checksum, and arrives
within --timeout of its request; replies with a wrong checksum are counted
in "bad_checksum" and otherwise ignored.  ICMP errors about our requests
(unreachable, TTL exceeded) are reported in "errors".  ok = at least one reply.

IPv4 first: an IPv4 address, or a name with an IPv4 address.  An IPv6
literal (fd00::1, a link-local one with its interface: fe80::1%eth0), or a
name with only IPv6 addresses, is pinged with ICMPv6 echo (RFC 4443) the
same way, its errors destination unreachable (1) and time exceeded (3):
labnode.probe.icmp6probe.  The result says which: "family" 4 or 6.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Protocol

from labnode.probe import icmp


def make_payload(size: int, seq: int) -> bytes:
    stamp = struct.pack("!dH", time.time(), seq)
    pattern = bytes(range(256)) * (size // 256 + 1)
    return (stamp + pattern)[:max(size, len(stamp))]


@dataclass
class Heard:
    """What one datagram said about our pings."""
    at: float                  # time.monotonic() when it was read
    seq: int = 0
    payload: bytes = b""
    checksum_ok: bool = True
    error: str | None = None   # an ICMP error about request seq: "<what> from <whom>"


class Echo(Protocol):
    """Echo requests to one target, and what comes back about them."""
    family: int
    address: str            # the result's "address"
    sock: socket.socket

    def request(self, ident: int, seq: int, payload: bytes) -> None: ...

    def hear(self, ident: int) -> Heard | None: ...


class Echo4:
    family = 4

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = icmp.raw_socket()

    def request(self, ident: int, seq: int, payload: bytes) -> None:
        self.sock.sendto(icmp.echo_request(ident, seq, payload), (self.address, 0))

    def hear(self, ident: int) -> Heard | None:
        packet = self.sock.recv(65535)
        received = time.monotonic()
        message = icmp.parse(packet)
        if message is None:
            return None
        if message.type == icmp.ECHO_REPLY and message.ident == ident:
            return Heard(received, message.seq, message.payload, message.checksum_ok)
        if message.quoted and message.quoted.protocol == socket.IPPROTO_ICMP \
                and message.quoted.ident == ident and message.quoted.dst == self.address:
            return Heard(received, message.quoted.seq, error=f"{message.describe()} from {message.src}")
        return None


def open_echo(target: str) -> Echo:
    """IPv4 if target is an IPv4 address or has one, else IPv6; LookupError
    (the IPv4 lookup's, for a name with neither) or PermissionError."""
    if ":" not in target:
        try:
            return Echo4(icmp.resolve4(target))
        except LookupError as v4_error:
            from labnode.probe import icmp6probe
            try:
                resolved = icmp6probe.resolve(target)
            except LookupError:
                raise v4_error from None
            return icmp6probe.Echo6(resolved)
    from labnode.probe import icmp6probe
    return icmp6probe.Echo6(icmp6probe.resolve(target))


def ping(target: str, count: int = 3, timeout: float = 1.0, interval: float = 0.2,
         size: int = 56) -> dict:
    result: dict = {"probe": "ping", "target": target, "ok": False}
    try:
        echo = open_echo(target)
    except (LookupError, PermissionError) as exc:
        result["error"] = str(exc)
        return result
    result["address"] = echo.address
    result["family"] = echo.family
    ident = random.randrange(1, 0x10000)
    sent: dict[int, tuple[float, bytes]] = {}   # seq -> (send time, payload)
    rtts: dict[int, float] = {}
    errors: list[str] = []
    bad_checksum = 0
    with echo.sock:
        next_send = time.monotonic()
        seq = 0
        while True:
            now = time.monotonic()
            if seq < count and now >= next_send:
                seq += 1
                payload = make_payload(size, seq)
                try:
                    echo.request(ident, seq, payload)
                except OSError as exc:  # e.g. no route to host
                    errors.append(f"seq {seq}: {exc.strerror or exc}")
                sent[seq] = (time.monotonic(), payload)
                next_send += interval
            pending = [s for s, (t, _) in sent.items() if s not in rtts and now - t < timeout]
            if seq >= count and not pending:
                break
            deadlines = [sent[s][0] + timeout for s in pending]
            if seq < count:
                deadlines.append(next_send)
            wake = min(deadlines, default=now)
            readable, _, _ = select.select([echo.sock], [], [], max(0.0, wake - time.monotonic()))
            if not readable:
                continue
            heard = echo.hear(ident)
            if heard is None:
                continue
            if heard.error is not None:
                errors.append(f"seq {heard.seq}: {heard.error}")
                continue
            if not heard.checksum_ok:
                bad_checksum += 1
                continue
            entry = sent.get(heard.seq)
            if entry is None or heard.seq in rtts or heard.payload != entry[1]:
                continue  # unknown, duplicate or mangled
            if heard.at - entry[0] <= timeout:
                rtts[heard.seq] = (heard.at - entry[0]) * 1000.0
    return summarize(result, count, rtts, errors, bad_checksum)


def summarize(result: dict, count: int, rtts: dict[int, float], errors: list[str],
              bad_checksum: int) -> dict:
    times = [round(rtts[s], 3) for s in sorted(rtts)]
    result.update(
        sent=count, received=len(times),
        loss=round(1 - len(times) / count, 4) if count else 0.0,
        rtt_ms=times,
        min=min(times) if times else None,
        avg=round(sum(times) / len(times), 3) if times else None,
        max=max(times) if times else None,
        bad_checksum=bad_checksum,
        errors=errors,
        ok=bool(times),
    )
    if not times:
        result["error"] = errors[0] if errors else f"no reply from {result['address']}"
    return result

