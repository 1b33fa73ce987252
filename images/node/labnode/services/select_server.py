"""The select() server of the classic exercise.

Accepts any number of clients on one thread, and logs for each client

    ('10.0.1.2', 40312): connected
    ('10.0.1.2', 40312): received 6 bytes: b'hello\\n'
    ('10.0.1.2', 40312): disconnected

It echoes what it receives back to the sender (--no-echo turns that off), so
`nc HOST PORT` shows it working from the other side too.  It uses the
selectors module (epoll on Linux), which is select() without the 1024-socket
limit of select.select.  It parses nothing; what it holds per client is
bounded (CHUNK per read, MAX_PENDING unsent), and an unexpected error while
serving one client is logged in one line and closes only that client.
"""

from __future__ import annotations

import selectors
import socket

from labnode import contract
from labnode.netutil import accept_ready, describe_error, endpoint, listen, log, peer, run, service_parser

CHUNK = 4096
MAX_PENDING = 1 << 20  # echo bytes a client may leave unread before we stop reading it


class Client:
    __slots__ = ("sock", "name", "out", "closed")

    def __init__(self, sock: socket.socket, addr) -> None:
        self.sock = sock
        self.name = peer(addr)
        self.out = bytearray()
        self.closed = False


class SelectServer:
    def __init__(self, sock: socket.socket, echo: bool = True) -> None:
        self.listener = sock
        self.echo = echo
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)

    def serve_forever(self) -> None:
        while True:
            for key, events in self.sel.select():
                if key.data is None:
                    self._accept()
                    continue
                client = key.data
                try:
                    if events & selectors.EVENT_READ and not self._read(client):
                        continue
                    if events & selectors.EVENT_WRITE:
                        self._write(client)
                except Exception as exc:  # one client's problem, never the server's
                    self._close(client, f"disconnected (internal error: {describe_error(exc)})")

    def _accept(self) -> None:
        for sock, addr in accept_ready(self.listener):
            client = Client(sock, addr)
            try:
                self.sel.register(sock, selectors.EVENT_READ, client)
            except Exception as exc:
                log(f"{client.name}: cannot serve: {describe_error(exc)}")
                sock.close()
                continue
            log(f"{client.name}: connected")

    def _read(self, client: Client) -> bool:
        try:
            data = client.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            self._close(client, f"disconnected ({exc.strerror or exc})")
            return False
        if not data:
            self._close(client, "disconnected")
            return False
        log(f"{client.name}: received {len(data)} bytes: {data!r}")
        if self.echo:
            client.out += data
            self._write(client)
        return True

    def _write(self, client: Client) -> None:
        if client.closed:
            return
        try:
            sent = client.sock.send(client.out) if client.out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._close(client, f"disconnected ({exc.strerror or exc})")
            return
        del client.out[:sent]
        events = selectors.EVENT_WRITE if client.out else 0
        if len(client.out) < MAX_PENDING:  # a client that never reads stops being read
            events |= selectors.EVENT_READ
        self.sel.modify(client.sock, events, client)

    def _close(self, client: Client, how: str) -> None:
        if client.closed:
            return
        client.closed = True
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
        log(f"{client.name}: {how}")


def main(argv=None) -> int:
    parser = service_parser("select", "select() server: logs every connection and chunk", 7000)
    parser.add_argument("--no-echo", dest="echo", action="store_false",
                        help="only log what arrives, do not send it back")
    args = parser.parse_args(argv)

    def serve() -> None:
        sock = listen(args.bind, args.port)
        log(f"select {contract.READY_LINE} {endpoint(sock.getsockname())}")
        SelectServer(sock, echo=args.echo).serve_forever()

    return run("select", serve)


if __name__ == "__main__":
    raise SystemExit(main())
