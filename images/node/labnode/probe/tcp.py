"""tcp: connect to one port, or scan a range of ports.

Each port is "open" (the handshake completed), "closed" (refused: RST) or
"filtered" (no answer within --timeout, or an ICMP unreachable /
prohibited answer).  Up to 256 connects are in flight at once, non-blocking,
so a /24-sized range takes about one timeout.  Open connections are closed
with an RST (SO_LINGER 0) so scanning leaves no TIME_WAIT behind.
ok = at least one port open.
"""

from __future__ import annotations

import errno
import selectors
import socket
import struct
import time

CONCURRENCY = 256
FILTERED_ERRORS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM,
                   errno.ETIMEDOUT}


def parse_ports(spec: str) -> list[int]:
    """'80', '1-1024', '22,80,8000-8010' -> sorted unique ports (ValueError if bad)."""
    ports: set[int] = set()
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"bad port or range {part!r}")
        first, last = int(low), int(high) if dash else int(low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"bad port or range {part!r} (ports are 1-65535, low-high)")
        ports.update(range(first, last + 1))
    return sorted(ports)


def _state(err: int) -> str:
    if err == 0:
        return "open"
    if err == errno.ECONNREFUSED:
        return "closed"
    return "filtered"


def scan(target: str, ports: list[int], timeout: float = 1.0) -> dict:
    result: dict = {"probe": "tcp", "target": target, "ok": False}
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(target, None, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        result["error"] = f"cannot resolve {target!r}: {exc}"
        return result
    address = sockaddr[0]
    result["address"] = address
    states: dict[int, str] = {}
    times: dict[int, float] = {}
    sel = selectors.DefaultSelector()
    queue = iter(ports)
    active = 0
    started = time.monotonic()

    def finish(sock: socket.socket, port: int, state: str, began: float) -> None:
        nonlocal active
        states[port] = state
        times[port] = round((time.monotonic() - began) * 1000.0, 3)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        active -= 1

    def launch() -> None:
        nonlocal active
        for port in queue:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            active += 1
            began = time.monotonic()
            err = sock.connect_ex((address, port) + tuple(sockaddr[2:]))
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                sel.register(sock, selectors.EVENT_WRITE, (port, began))
            else:
                finish(sock, port, _state(err), began)
            if active >= CONCURRENCY:
                return

    launch()
    while active:
        now = time.monotonic()
        oldest = min((key.data[1] for key in sel.get_map().values()), default=now)
        for key, _ in sel.select(max(0.0, oldest + timeout - now)):
            port, began = key.data
            sel.unregister(key.fileobj)
            finish(key.fileobj, port, _state(key.fileobj.getsockopt(socket.SOL_SOCKET,
                                                                    socket.SO_ERROR)), began)
        now = time.monotonic()
        for key in list(sel.get_map().values()):
            port, began = key.data
            if now - began >= timeout:
                sel.unregister(key.fileobj)
                finish(key.fileobj, port, "filtered", began)
        launch()
    sel.close()
    open_ports = [p for p in ports if states[p] == "open"]
    result.update(ports={str(p): states[p] for p in ports}, open=open_ports,
                  time_ms=round((time.monotonic() - started) * 1000.0, 1), ok=bool(open_ports))
    if len(ports) == 1:
        result["port"] = ports[0]
        result["state"] = states[ports[0]]
        result["connect_ms"] = times[ports[0]]
    if not open_ports:
        result["error"] = "no open port" if len(ports) > 1 else f"port {ports[0]} is {states[ports[0]]}"
    return result
