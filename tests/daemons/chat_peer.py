"""A bare chat client for the tests: raw socket, our own framing checks."""

from __future__ import annotations

import socket
import time

from labnode import chatproto


class Peer:
    def __init__(self, port: int, nick: str | None = None, timeout: float = 3.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.decoder = chatproto.Decoder()
        self.inbox: list[dict] = []
        self.eof = False
        self.nick = nick
        if nick is not None:
            self.send(chatproto.hello(nick))
            self.expect(lambda p: p == {"type": "join", "nick": nick})

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def say(self, message: str) -> None:
        self.send(chatproto.chat(message))

    def _pump(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return
        self.inbox += self.decoder.packets(data)

    def expect(self, match, timeout: float = 3.0) -> dict:
        """Wait for (and consume) the first packet for which match(packet) is true."""
        deadline = time.monotonic() + timeout
        while True:
            for index, packet in enumerate(self.inbox):
                if match(packet):
                    return self.inbox.pop(index)
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                raise AssertionError(f"no matching packet; got {self.inbox}, eof={self.eof}")
            self._pump(left)

    def drain(self, quiet: float = 0.2) -> list[dict]:
        """Everything that arrives until nothing has for `quiet` seconds."""
        while not self.eof:
            before = len(self.inbox)
            self._pump(quiet)
            if len(self.inbox) == before:
                break
        got, self.inbox = self.inbox, []
        return got

    def closed(self, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())
        return self.eof
