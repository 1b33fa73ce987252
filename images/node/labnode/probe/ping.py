"""ping: ICMP echo with our own packets, checksums and timing.

Sends --count echo requests --interval seconds apart on a raw socket, each
with a random identifier, its sequence number and a payload of a timestamp
plus a pattern.  A reply counts if it has our identifier, an outstanding
sequence number, the payload we sent and a correct checksum, and arrives
within --timeout of its request; replies with a wrong checksum are counted
in "bad_checksum" and otherwise ignored.  ICMP errors about our requests
(unreachable, TTL exceeded) are reported in "errors".  ok = at least one reply.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time

from labnode.probe import icmp


def make_payload(size: int, seq: int) -> bytes:
    stamp = struct.pack("!dH", time.time(), seq)
    pattern = bytes(range(256)) * (size // 256 + 1)
    return (stamp + pattern)[:max(size, len(stamp))]


def ping(target: str, count: int = 3, timeout: float = 1.0, interval: float = 0.2,
         size: int = 56) -> dict:
    result: dict = {"probe": "ping", "target": target, "ok": False}
    try:
        address = icmp.resolve4(target)
        sock = icmp.raw_socket()
    except (LookupError, PermissionError) as exc:
        result["error"] = str(exc)
        return result
    result["address"] = address
    ident = random.randrange(1, 0x10000)
    sent: dict[int, tuple[float, bytes]] = {}   # seq -> (send time, payload)
    rtts: dict[int, float] = {}
    errors: list[str] = []
    bad_checksum = 0
    with sock:
        next_send = time.monotonic()
        seq = 0
        while True:
            now = time.monotonic()
            if seq < count and now >= next_send:
                seq += 1
                payload = make_payload(size, seq)
                try:
                    sock.sendto(icmp.echo_request(ident, seq, payload), (address, 0))
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
            readable, _, _ = select.select([sock], [], [], max(0.0, wake - time.monotonic()))
            if not readable:
                continue
            packet = sock.recv(65535)
            received = time.monotonic()
            message = icmp.parse(packet)
            if message is None:
                continue
            if message.type == icmp.ECHO_REPLY and message.ident == ident:
                if not message.checksum_ok:
                    bad_checksum += 1
                    continue
                entry = sent.get(message.seq)
                if entry is None or message.seq in rtts or message.payload != entry[1]:
                    continue  # unknown, duplicate or mangled
                if received - entry[0] <= timeout:
                    rtts[message.seq] = (received - entry[0]) * 1000.0
            elif message.quoted and message.quoted.protocol == socket.IPPROTO_ICMP \
                    and message.quoted.ident == ident and message.quoted.dst == address:
                errors.append(f"seq {message.quoted.seq}: {message.describe()} from {message.src}")
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

