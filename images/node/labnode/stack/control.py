"""The control socket: a unix stream socket, one JSON request line, one reply line.

Requests (each on one line):
    {"command": "arp"}       the ARP cache
    {"command": "sockets"}   listeners, TCP connections (state, cwnd, srtt, ...), UDP sockets
    {"command": "stats"}     interface, loss knob, counters
    {"command": "get", "url": "http://10.0.0.1/file", "output": "/tmp/f", "timeout": 60}
                             an HTTP GET through the stack; answered when it is done
Replies: {"ok": true, "data": ...} or {"ok": false, "error": "..."}; the get
reply's data is apps.HttpGet's result (ok, status, bytes, sha256, ...).

Bounded like the routing daemon's: a request is at most MAX_REQUEST bytes,
decoded by labnode.bounded, and must arrive within REQUEST_TIMEOUT seconds;
at most MAX_CLIENTS at once and MAX_GETS GETs running.  Clients are served
from the stack's own event loop, so the process has one thread.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import stat

from labnode import bounded

from .apps import HttpGet
from .core import Stack

COMMANDS = ("arp", "sockets", "stats", "get")
MAX_REQUEST = 4096
REQUEST_TIMEOUT = 2.0
MAX_CLIENTS = 16
MAX_GETS = 4
MAX_GET_TIMEOUT = 3600.0
USAGE = 'expected {"command": one of arp, sockets, stats, get}'


class RequestError(ValueError):
    pass


def parse_request(line: bytes) -> dict:
    """The request object; RequestError (only) if it is not a valid one."""
    if len(line) > MAX_REQUEST:
        raise RequestError(f"request longer than {MAX_REQUEST} bytes")
    try:
        request = bounded.loads(line or b"null", max_bytes=MAX_REQUEST, max_depth=2)
    except bounded.BoundedError as exc:
        raise RequestError(f"bad request: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError("bad request: not a JSON object")
    command = request.get("command")
    if not isinstance(command, str) or command not in COMMANDS:
        raise RequestError(f"unknown command {str(command)[:40]!r}")
    allowed = {"command", "url", "output", "timeout"} if command == "get" else {"command"}
    extra = sorted(set(request) - allowed)
    if extra:
        raise RequestError(f"unknown key {extra[0][:40]!r} for {command}")
    if command == "get":
        if not isinstance(request.get("url"), str):
            raise RequestError("get needs a url (a string)")
        if request.get("output") is not None and not isinstance(request["output"], str):
            raise RequestError("get: output must be a path")
        timeout = request.get("timeout", 60)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_GET_TIMEOUT:
            raise RequestError(f"get: timeout must be a number of seconds in (0, {MAX_GET_TIMEOUT:g}]")
    return request


class _Client:
    def __init__(self, server: ControlServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.data = bytearray()
        self.done = False
        sock.setblocking(False)
        server.register(sock, self.readable)
        server.stack.call_at(server.stack.now() + REQUEST_TIMEOUT, self.too_slow)

    def readable(self) -> None:
        try:
            chunk = self.sock.recv(MAX_REQUEST + 1 - len(self.data))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self.data += chunk
        if b"\n" in self.data or not chunk or len(self.data) > MAX_REQUEST:
            self.server.unregister(self.sock)
            self.server.respond(self, bytes(self.data).split(b"\n", 1)[0])

    def too_slow(self) -> None:
        if not self.done and not self.data.endswith(b"\n") and b"\n" not in self.data:
            self.server.unregister(self.sock)
            self.reply({"ok": False, "error": f"no complete request line within {REQUEST_TIMEOUT:g}s; {USAGE}"})

    def reply(self, answer: dict) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(1.0)
            self.sock.sendall(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self.done = True
        self.server.unregister(self.sock)
        self.server.clients.discard(self)
        self.sock.close()


class ControlServer:
    def __init__(self, stack: Stack, path: str) -> None:
        self.stack = stack
        self.path = path
        self.clients: set[_Client] = set()
        self.gets = 0
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # left over by a stack that did not exit cleanly
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.sock.setblocking(False)

    def register(self, sock: socket.socket, callback) -> None:
        if self.stack.selector is not None:
            self.stack.selector.register(sock, selectors.EVENT_READ, callback)

    def unregister(self, sock: socket.socket) -> None:
        if self.stack.selector is not None:
            try:
                self.stack.selector.unregister(sock)
            except (KeyError, ValueError):
                pass

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.stack.log(f"control socket: accept failed: {exc}")
            return
        if len(self.clients) >= MAX_CLIENTS:
            conn.close()
            return
        self.clients.add(_Client(self, conn))

    def respond(self, client: _Client, line: bytes) -> None:
        try:
            request = parse_request(line)
        except RequestError as exc:
            self.stack.log(f"control request refused: {exc}")
            client.reply({"ok": False, "error": f"{exc}; {USAGE}"})
            return
        command = request["command"]
        if command == "get":
            if self.gets >= MAX_GETS:
                client.reply({"ok": False, "error": f"{MAX_GETS} GETs are already running; try again later"})
                return
            self.gets += 1

            def done(result: dict) -> None:
                self.gets -= 1
                self.stack.log(f"get {result['url'][:200]}: {'ok' if result['ok'] else result['error']}, "
                               f"{result['bytes']} bytes, sha256 {result['sha256']}")
                client.reply({"ok": True, "data": result})

            HttpGet(self.stack, request["url"], done, output=request.get("output"),
                    timeout=float(request.get("timeout", 60)))
            return
        try:
            data = {"arp": self.stack.arp_table, "sockets": self.stack.sockets, "stats": self.stack.stats}[command]()
        except Exception as exc:  # a bug in one view: say so, keep serving
            self.stack.log(f"control command {command} failed: {type(exc).__name__}: {exc}")
            client.reply({"ok": False, "error": f"internal error answering {command}"})
            return
        client.reply({"ok": True, "data": data})

    def close(self) -> None:
        for client in list(self.clients):
            client.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
