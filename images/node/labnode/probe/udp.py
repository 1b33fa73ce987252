"""udp: send datagrams to an echo service and check they come back unchanged.

ok = at least one datagram came back.  An ICMP port unreachable (nothing
listening) shows as "port unreachable" in "error".
"""

from __future__ import annotations

import secrets
import socket
import time


def probe(host: str, port: int, count: int = 1, timeout: float = 2.0,
          payload: str | None = None) -> dict:
    result: dict = {"probe": "udp", "host": host, "port": port, "ok": False}
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        result["error"] = f"cannot resolve {host!r}: {exc}"
        return result
    result["address"] = sockaddr[0]
    rtts: list[float] = []
    errors: list[str] = []
    with socket.socket(family, kind, proto) as sock:
        sock.connect(sockaddr)  # connected: ICMP errors surface as exceptions
        for index in range(count):
            data = (payload or f"labnode-udp {index} {secrets.token_hex(8)}").encode("utf-8")
            sent = time.monotonic()
            try:
                sock.send(data)
                while True:
                    left = sent + timeout - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    sock.settimeout(left)
                    reply = sock.recv(65535)
                    if reply == data:
                        rtts.append(round((time.monotonic() - sent) * 1000.0, 3))
                        break
            except TimeoutError:
                errors.append(f"datagram {index}: no echo within {timeout:g}s")
            except ConnectionRefusedError:
                errors.append(f"datagram {index}: port unreachable")
            except OSError as exc:
                errors.append(f"datagram {index}: {exc.strerror or exc}")
    result.update(sent=count, received=len(rtts), rtt_ms=rtts, ok=bool(rtts))
    if errors:
        result["errors"] = errors
        if not rtts:
            result["error"] = errors[0].split(": ", 1)[1]
    return result
