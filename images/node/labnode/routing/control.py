"""The control socket: a unix stream socket answering one JSON request.

The client sends one line, `{"command": "routes"}`, and reads one line back,
`{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`.  Commands:
neighbors, lsdb, routes, stats.  The views are plain JSON-able data built
from the Router's state; the CLI turns them into tables.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import stat
from collections.abc import Callable

from .addr import format_prefix, int_to_ip
from .router import Router
from .spf import build_graph, shortest_paths

log = logging.getLogger("labnode.routing")
COMMANDS = ("neighbors", "lsdb", "routes", "stats")
MAX_REQUEST = 4096


def neighbors(router: Router, now: float) -> list[dict]:
    rows = []
    for port in router.ports.values():
        for nb in sorted(port.neighbors.values(), key=lambda n: n.router_id):
            rows.append({
                "interface": port.name, "router_id": int_to_ip(nb.router_id),
                "address": int_to_ip(nb.address), "state": nb.state,
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
    } for lsa in router.lsdb.snapshot(now)]


def routes(router: Router) -> list[dict]:
    return [{
        "prefix": format_prefix(*key), "cost": entry.cost,
        "nexthops": [{"gateway": int_to_ip(nh.gateway), "interface": nh.iface} for nh in entry.nexthops],
    } for key, entry in sorted(router.routes.items())]


def stats(router: Router, now: float) -> dict:
    return {
        "router_id": int_to_ip(router.rid), "uptime": round(now - router.started, 3),
        "seq": router.seq, "lsdb_size": len(router.lsdb), "routes": len(router.routes),
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
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(1.0)
            try:
                conn.sendall(json.dumps(self._respond(self._read(conn))).encode() + b"\n")
            except OSError as exc:
                log.debug("control client went away: %s", exc)

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = conn.recv(MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        return data

    def _respond(self, data: bytes) -> dict:
        try:
            request = json.loads(data.split(b"\n", 1)[0] or b"null")
            command = request["command"]
            if command not in COMMANDS:
                raise KeyError(command)
        except (ValueError, TypeError, KeyError):
            return {"ok": False, "error": f"expected {{\"command\": one of {', '.join(COMMANDS)}}}"}
        return {"ok": True, "data": self.handle(command)}

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
