"""A tiny raw HTTP/1.1 client for the tests: exact bytes out, parsed replies in."""

from __future__ import annotations

import socket
import time


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, head: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.head = head


class RawHttp:
    def __init__(self, port: int, timeout: float = 3.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def reply(self, head_only: bool = False) -> Reply:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a full reply head: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", 0))
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed in the middle of a body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Reply(status, headers, body, head)

    def closed_by_peer(self, timeout: float = 3.0) -> bool:
        """True if the server closes the connection within timeout (data is discarded)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False


def get(port: int, target: str, extra: str = "", method: str = "GET") -> Reply:
    with RawHttp(port) as client:
        client.send(f"{method} {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode("latin-1"))
        return client.reply(head_only=method == "HEAD")
