"""The control socket: a unix stream socket answering one JSON request.

The client sends one line, `{"command": "routes"}`, and reads one line back,
`{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`.  Commands:
neighbors, lsdb, routes, stats.  The views are plain JSON-able data built
from the Router's state; the CLI turns them into tables.  Both families are
in them: `routes` lists the IPv4 routes, then the IPv6 ones, each row with
its `family` (4 or 6); a neighbour shows its `address6` (null when its hellos
announce none); an LSA its `prefixes6`.

One request per connection, read within REQUEST_TIMEOUT seconds in all, at
most MAX_REQUEST bytes, decoded by labnode.bounded (MAX_REQUEST_DEPTH): a bad
request gets `ok: false` and one log line, a failing client is dropped, and
nothing a client sends can stop the daemon.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
from collections.abc import Callable

from .. import bounded
from .addr import format_prefix, format_prefix6, int_to_ip, int_to_ip6
from .router import Router
from .spf import build_graph, shortest_paths

log = logging.getLogger("labnode.routing")
COMMANDS = ("neighbors", "lsdb", "routes", "stats")
MAX_REQUEST = 4096  # bytes in a request line: {"command": "neighbors"} is 24
MAX_REQUEST_DEPTH = 4  # a request is one flat object
REQUEST_TIMEOUT = 0.5  # seconds for a whole request, however slowly it trickles in (the CLI needs ~1 ms)
USAGE = f"expected {{\"command\": one of {', '.join(COMMANDS)}}}"


class RequestError(ValueError):
    """A request that cannot be answered; the text says why."""


def neighbors(router: Router, now: float) -> list[dict]:
    rows = []
    for port in router.ports.values():
        for nb in sorted(port.neighbors.values(), key=lambda n: n.router_id):
            rows.append({
                "interface": port.name, "router_id": int_to_ip(nb.router_id),
                "address": int_to_ip(nb.address),
                "address6": None if nb.address6 is None else int_to_ip6(nb.address6), "state": nb.state,
                "cost": port.config.cost, "for": round(now - nb.since, 3),
                "dead_in": round(max(0.0, nb.expires() - now), 3),
                "retransmit_queue": len(nb.retransmit),
            })
    return rows


def lsdb(router: Router, now: float) -> list[dict]:
    dist, _ = shortest_paths(build_graph(router.lsdb.lsas(now)), router.rid)
    return [{
        "router_id": int_to_ip(lsa.router_id), "seq": lsa.seq, "age": lsa.age,
        "checksum": f"{lsa.checksum:08x}", "self": lsa.router_id == router.rid,
        "flushed": lsa.age >= router.lsdb.max_age,
        "reachable": lsa.router_id in dist, "distance": dist.get(lsa.router_id),
        "links": [{"neighbor": int_to_ip(link.neighbor), "cost": link.cost} for link in lsa.links],
        "prefixes": [{"prefix": format_prefix(p.network, p.length), "metric": p.metric} for p in lsa.prefixes],
        "prefixes6": [{"prefix": format_prefix6(p.network, p.length), "metric": p.metric} for p in lsa.prefixes6],
    } for lsa in router.lsdb.snapshot(now)]


def routes(router: Router) -> list[dict]:
    """IPv4 routes, then IPv6 routes, each in prefix order."""
    return [{
        "family": 4, "prefix": format_prefix(*key), "cost": entry.cost,
        "nexthops": [{"gateway": int_to_ip(nh.gateway), "interface": nh.iface} for nh in entry.nexthops],
    } for key, entry in sorted(router.routes.items())] + [{
        "family": 6, "prefix": format_prefix6(*key), "cost": entry.cost,
        "nexthops": [{"gateway": int_to_ip6(nh.gateway), "interface": nh.iface} for nh in entry.nexthops],
    } for key, entry in sorted(router.routes6.items())]


def stats(router: Router, now: float) -> dict:
    return {
        "router_id": int_to_ip(router.rid), "uptime": round(now - router.started, 3),
        "seq": router.seq, "lsdb_size": len(router.lsdb), "routes": len(router.routes),
        "routes6": len(router.routes6),
        "neighbors_full": sum(len(p.full_neighbors()) for p in router.ports.values()),
        "interfaces_up": sorted(p.name for p in router.ports.values() if p.up),
        "spf_last_ms": round(router.spf_last_ms, 3),
        "counters": dict(sorted(router.stats.items())),
    }


def answer(router: Router, command: str, now: float):
    if command == "neighbors":
        return neighbors(router, now)
    if command == "lsdb":
        return lsdb(router, now)
    if command == "routes":
        return routes(router)
    if command == "stats":
        return stats(router, now)
    raise KeyError(command)


class ControlServer:
    """Listens on `path`; `handle(command)` returns the data to send back."""

    def __init__(self, path: str, handle: Callable[[str], object]):
        self.path = path
        self.handle = handle
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # left over by a daemon that did not exit cleanly
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(8)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # out of file descriptors, say: try again next time
            log.warning("control socket: accept failed: %s", exc)
            return
        with conn:
            try:
                self.serve(conn)
            except OSError as exc:
                log.debug("control client went away: %s", exc)
            except Exception as exc:  # a bug answering one client must not stop the daemon
                log.error("control client dropped: internal error %s: %s", type(exc).__name__, exc)

    def serve(self, conn: socket.socket) -> None:
        """Read one request from conn and send the answer."""
        try:
            reply = self._respond(self._read(conn))
        except TimeoutError:
            reply = self._refuse(RequestError(f"no complete request line within {REQUEST_TIMEOUT:g}s"))
        conn.settimeout(REQUEST_TIMEOUT)
        conn.sendall(json.dumps(reply).encode() + b"\n")

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        """The request line without its newline: at most MAX_REQUEST + 1 bytes
        (so that a longer one is recognised), read within REQUEST_TIMEOUT
        seconds in all (TimeoutError otherwise)."""
        deadline = time.monotonic() + REQUEST_TIMEOUT
        data = bytearray()
        while b"\n" not in data and len(data) <= MAX_REQUEST:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request too slow")
            conn.settimeout(left)
            chunk = conn.recv(MAX_REQUEST + 1 - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data).split(b"\n", 1)[0]

    def _respond(self, data: bytes) -> dict:
        try:
            command = parse_request(data)
        except RequestError as exc:
            return self._refuse(exc)
        try:
            return {"ok": True, "data": self.handle(command)}
        except Exception as exc:  # a bug in one view: say so, keep serving
            log.error("control command %s failed: %s: %s", command, type(exc).__name__, exc)
            return {"ok": False, "error": f"internal error answering {command}"}

    @staticmethod
    def _refuse(exc: RequestError) -> dict:
        log.warning("control request refused: %s", exc)
        return {"ok": False, "error": f"{exc}; {USAGE}"}

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def parse_request(line: bytes) -> str:
    """The command of one request line; RequestError (only) if there is none."""
    if len(line) > MAX_REQUEST:
        raise RequestError(f"request longer than {MAX_REQUEST} bytes")
    try:
        request = bounded.loads(line or b"null", max_bytes=MAX_REQUEST, max_depth=MAX_REQUEST_DEPTH)
    except bounded.BoundedError as exc:
        raise RequestError(f"bad request: {exc}") from None
    command = request.get("command") if isinstance(request, dict) else None
    if not isinstance(command, str) or command not in COMMANDS:
        raise RequestError(f"unknown command {str(command)[:40]!r}" if isinstance(request, dict)
                           else "bad request: not a JSON object")
    return command
