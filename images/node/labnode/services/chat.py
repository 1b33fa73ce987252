"""The multi-user chat server (wire format: labnode.chatproto).

One thread, one selector.  Each client has its own input decoder and output
buffer, so packets split or coalesced across recv() calls are handled and a
slow reader never blocks the others.  Fan-out is per round of the loop, not
per message: the packets broadcast while handling one round of input are
encoded once each, joined once, appended to every client's buffer and sent
with one send() per client; a client's socket is watched for writability
only while its buffer is not empty.

Rules:
  * The first packet must be `hello {nick}`.  The nick is 1-32 characters,
    no control characters, and not in use: otherwise the client gets
    `error {reason}` and is disconnected.  On success everyone, the newcomer
    included, gets `join {nick}` (the newcomer's confirmation).
  * `chat {message}` is sent to everyone, the sender included, as
    `chat {nick, message}`.  A message too long to relay within the 65535-byte
    limit gets `error {reason}` back, and the connection stays open.
  * Bad framing, bad UTF-8/JSON, an unknown type or a missing field: that
    client gets `error {reason}` and is disconnected; no one else notices
    (besides its `leave`).
  * A client that has not said hello within --hello-timeout seconds, or that
    lets more than --max-backlog bytes pile up unread, is disconnected.
  * When a client with a nick goes, the others get `leave {nick}`.
  * Whatever one client sends (a 30 000-deep JSON array, say), the worst it
    can cause is its own disconnection: decoding is bounded
    (labnode.chatproto, labnode.bounded), and any unexpected error while
    handling one client is logged in one line and drops only that client.
"""

from __future__ import annotations

import selectors
import socket
import time
import unicodedata

from labnode import chatproto, contract
from labnode.netutil import (
    accept_ready,
    describe_error,
    endpoint,
    flush_log,
    listen,
    log,
    log_pending,
    peer,
    run,
    service_parser,
    short,
)

RECV_SIZE = 262144
MAX_NICK = 32
LOG_EVERY = 0.1  # seconds between log writes under load (at once when idle)


class Client:
    __slots__ = ("sock", "name", "decoder", "out", "nick", "since", "events", "dead", "mark")

    def __init__(self, sock: socket.socket, addr) -> None:
        self.sock = sock
        self.name = peer(addr)
        self.decoder = chatproto.Decoder()
        self.out = bytearray()
        self.nick: str | None = None
        self.since = time.monotonic()
        self.events = selectors.EVENT_READ
        self.dead = False
        self.mark = 0  # the first of the round's broadcasts not yet in `out`


def nick_problem(nick) -> str | None:
    """Why `nick` cannot be used (None if it can)."""
    if not isinstance(nick, str) or not nick.strip():
        return "hello needs a non-empty string nick"
    if len(nick) > MAX_NICK:
        return f"nick longer than {MAX_NICK} characters"
    if any(unicodedata.category(ch).startswith("C") for ch in nick):
        return "nick contains control characters"
    return None


class ChatServer:
    def __init__(self, sock: socket.socket, hello_timeout: float = 30.0,
                 max_backlog: int = 8 << 20) -> None:
        self.listener = sock
        self.hello_timeout = hello_timeout
        self.max_backlog = max_backlog
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)
        self.clients: dict[socket.socket, Client] = {}
        self.nicks: dict[str, Client] = {}
        self._dirty: set[Client] = set()    # have output not yet tried to send
        self._doomed: list[Client] = []     # to disconnect once this round is done
        self._round: list[bytes] = []       # packets broadcast this round, not yet queued

    # -- the loop ---------------------------------------------------------

    def serve_forever(self) -> None:
        flushed = time.monotonic()
        while True:
            tick = min(1.0, self.hello_timeout / 4)
            ready = self.sel.select(LOG_EVERY if log_pending() else tick)
            for key, events in ready:
                if key.data is None:
                    self._accept()
                    continue
                client = key.data
                if client.dead:
                    continue
                try:
                    if events & selectors.EVENT_READ:
                        self._read(client)
                except Exception as exc:  # one client's bad luck, never the server's
                    self._fail(client, exc)
                if events & selectors.EVENT_WRITE and not client.dead:
                    self._dirty.add(client)
            self._expire_silent()
            self._settle()
            if log_pending():  # when idle, else every LOG_EVERY s: one write for many lines
                now = time.monotonic()
                if not ready or now - flushed >= LOG_EVERY:
                    flush_log()
                    flushed = now

    def _settle(self) -> None:
        """Send what the round produced, then disconnect who must go.

        Disconnecting sends `leave` to the others, which may doom more
        clients (a full buffer), so repeat until nothing is left to do.
        """
        while self._round or self._dirty or self._doomed:
            if self._round:
                self._fan_out()
            dirty, self._dirty = self._dirty, set()
            for client in dirty:
                if not client.dead:
                    try:
                        self._flush(client)
                    except Exception as exc:
                        self._fail(client, exc)
            doomed, self._doomed = self._doomed, []
            for client in doomed:
                try:
                    self._disconnect(client)
                except Exception as exc:
                    log(f"{client.name}: error while disconnecting: {describe_error(exc)}")

    # -- events -----------------------------------------------------------

    def _accept(self) -> None:
        for sock, addr in accept_ready(self.listener, nodelay=True):
            try:
                client = Client(sock, addr)
                self.sel.register(sock, selectors.EVENT_READ, client)
            except Exception as exc:
                log(f"{peer(addr)}: cannot serve: {describe_error(exc)}")
                sock.close()
                continue
            self.clients[sock] = client
            log(f"{client.name}: connected")

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._doom(client, f"connection error: {exc.strerror or exc}")
            return
        if not data:
            self._doom(client, "disconnected")
            return
        client.decoder.feed(data)
        try:
            for packet in client.decoder:
                self._handle(client, packet)
                if client.dead:
                    return
        except chatproto.ProtocolError as exc:
            self._reject(client, str(exc))

    def _handle(self, client: Client, packet: dict) -> None:
        kind = packet["type"]
        if client.nick is None:
            if kind != "hello":
                self._reject(client, f"expected hello, got {short(kind)}")
                return
            nick = packet.get("nick")
            problem = nick_problem(nick)
            if problem is None and nick in self.nicks:
                problem = f"nick {nick!r} is already taken"
            if problem:
                self._reject(client, problem)
                return
            client.nick = nick
            client.mark = len(self._round)  # from its own join on, nothing before
            self.nicks[nick] = client
            log(f"{client.name}: joined as {nick!r} ({len(self.nicks)} online)")
            self.broadcast({"type": "join", "nick": nick})
        elif kind == "chat":
            message = packet.get("message")
            if not isinstance(message, str):
                self._reject(client, "chat needs a string message")
                return
            try:
                data = chatproto.encode({"type": "chat", "nick": client.nick, "message": message})
            except chatproto.ProtocolError as exc:
                self.send(client, {"type": "error", "reason": f"message not relayed: {exc}"})
                return
            log(f"<{client.nick}> {message[:200]}", flush=False)
            self.broadcast_bytes(data)
        elif kind == "hello":
            self._reject(client, "hello sent twice")
        else:
            self._reject(client, f"unknown packet type {short(kind)}")

    def _expire_silent(self) -> None:
        limit = time.monotonic() - self.hello_timeout
        for client in list(self.clients.values()):
            if client.nick is None and not client.dead and client.since < limit:
                self._reject(client, f"no hello within {self.hello_timeout:g}s")

    # -- sending ----------------------------------------------------------

    def broadcast(self, packet: dict) -> None:
        self.broadcast_bytes(chatproto.encode(packet))

    def broadcast_bytes(self, data: bytes) -> None:
        """data to every client with a nick (those joined so far), in order."""
        self._round.append(data)

    def _fan_out(self) -> None:
        """Queue the round's broadcasts: one join, one append per client."""
        packets, self._round = self._round, []
        everything = b"".join(packets)
        for client in list(self.nicks.values()):
            mark, client.mark = client.mark, 0
            if client.dead:
                continue
            self._queue(client, everything if mark == 0 else b"".join(packets[mark:]))

    def _catch_up(self, client: Client) -> None:
        """Queue the round's broadcasts so far for client (before something
        addressed to it alone, or its last words): order is kept."""
        if client.nick is not None and client.mark < len(self._round):
            data = b"".join(self._round[client.mark:])
            client.mark = len(self._round)
            self._queue(client, data)

    def send(self, client: Client, packet: dict) -> None:
        self._catch_up(client)
        self._queue(client, chatproto.encode(packet))

    def _queue(self, client: Client, data: bytes) -> None:
        if client.dead:
            return
        client.out += data
        self._dirty.add(client)  # sent once per round: many packets, one send()
        if len(client.out) > self.max_backlog:
            client.out.clear()
            self._doom(client, f"too slow: more than {self.max_backlog} bytes unread")

    def _flush(self, client: Client) -> None:
        if client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._doom(client, f"connection error: {exc.strerror or exc}")
                return
            del client.out[:sent]
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        if wanted != client.events:
            client.events = wanted
            self.sel.modify(client.sock, wanted, client)

    # -- leaving ----------------------------------------------------------

    def _reject(self, client: Client, reason: str) -> None:
        """Tell the client what was wrong, then disconnect it."""
        log(f"{client.name}: protocol error: {reason}")
        self.send(client, {"type": "error", "reason": reason})
        self._doom(client, f"disconnected ({reason})")

    def _fail(self, client: Client, exc: Exception) -> None:
        """An unexpected error while serving one client: log it, drop that client."""
        client.mark = len(self._round)  # nothing more for it: no catching up
        client.out.clear()
        how = f"disconnected (internal error: {describe_error(exc)})"
        if client.dead:
            log(f"{client.name}: {how}")
        self._doom(client, how)

    def _doom(self, client: Client, how: str) -> None:
        if not client.dead:
            self._catch_up(client)  # may doom it already (a full buffer)
        if not client.dead:
            client.dead = True
            self._doomed.append(client)
            log(f"{client.name}: {how}")

    def _disconnect(self, client: Client) -> None:
        if client.out:  # best effort: the last words (an error packet) if they fit
            try:
                client.sock.send(client.out)
            except OSError:
                pass
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):  # never registered, or the socket is already gone
            pass
        self.clients.pop(client.sock, None)
        client.sock.close()
        if client.nick is not None and self.nicks.get(client.nick) is client:
            del self.nicks[client.nick]
            self.broadcast({"type": "leave", "nick": client.nick})


def main(argv=None) -> int:
    parser = service_parser("chat", "multi-user chat server", chatproto.DEFAULT_PORT)
    parser.add_argument("--hello-timeout", type=float, default=30.0,
                        help="seconds a new client has to send hello (default 30)")
    parser.add_argument("--max-backlog", type=int, default=8 << 20,
                        help="bytes a client may leave unread before it is dropped")
    args = parser.parse_args(argv)

    def serve() -> None:
        sock = listen(args.bind, args.port)
        log(f"chat {contract.READY_LINE} {endpoint(sock.getsockname())}")
        ChatServer(sock, args.hello_timeout, args.max_backlog).serve_forever()

    return run("chat", serve)


if __name__ == "__main__":
    raise SystemExit(main())
