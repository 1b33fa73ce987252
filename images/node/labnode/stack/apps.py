"""Applications that run on the Stack, in its process and event loop.

  * TcpEcho: every byte a client sends comes back; the connection closes
    after the client's FIN once everything is echoed.
  * UdpEcho: every datagram goes back to its sender.
  * HttpServer: HTTP/1.1 GET and HEAD of the files under a folder, with
    keep-alive; requests are parsed by labnode.httpparse (bounded: 16 KiB of
    head, 100 header lines) and mapped to files by labnode.webroot (confined
    to the root); anything else is answered with an error status and closed.
  * HttpGet: the client: GET one http://ADDRESS[:PORT]/PATH (an IPv4
    literal: there is no DNS), the body written to a file or only counted,
    its SHA-256 computed on the way; done(result) gets a dict {ok, url,
    status, bytes, sha256, seconds, error, tcp}.
Each logs one line with contract.READY_LINE once it listens.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable
from urllib.parse import urlsplit

from labnode import contract, httpparse, webroot

from . import ipv4, tcp
from .core import Stack

CHUNK = 64 * 1024
MAX_RESPONSE_HEAD = 16 * 1024
DEFAULT_MAX_BODY = 1 << 30
HTTP_IDLE = 30.0  # seconds a server connection may sit without a complete request


def _endpoint(stack: Stack, port: int) -> str:
    return f"{ipv4.text(stack.address)}:{port}"


class TcpEcho:
    def __init__(self, stack: Stack, port: int) -> None:
        self.stack = stack
        self.listener = stack.tcp_listen(port)
        self.listener.on_accept = self._accept
        stack.log(f"echo {contract.READY_LINE} {_endpoint(stack, port)}")

    def _accept(self, listener: tcp.Listener) -> None:
        while (conn := listener.accept()) is not None:
            pending = bytearray()

            def pump(c: tcp.Connection, pending: bytearray = pending) -> None:
                while True:
                    if pending:
                        taken = c.send(bytes(pending[:CHUNK]))
                        del pending[:taken]
                        if pending:
                            return  # the send buffer is full: on_writable resumes
                    if c.state not in (tcp.ESTABLISHED, tcp.CLOSE_WAIT):
                        return
                    try:
                        data = c.recv(CHUNK)
                    except ConnectionResetError:
                        return
                    if data is None:
                        return
                    if data == b"":
                        c.close()
                        return
                    pending += data

            conn.on_readable = pump
            conn.on_writable = pump
            pump(conn)


class UdpEcho:
    def __init__(self, stack: Stack, port: int) -> None:
        self.sock = stack.udp_bind(port)
        self.sock.on_readable = self._echo
        stack.log(f"udp-echo {contract.READY_LINE} {_endpoint(stack, port)}")

    @staticmethod
    def _echo(sock) -> None:
        while (item := sock.recvfrom()) is not None:
            data, addr = item
            sock.sendto(data, addr)


class _HttpConn:
    def __init__(self, server: HttpServer, conn: tcp.Connection) -> None:
        self.server = server
        self.conn = conn
        self.buf = bytearray()
        self.out = bytearray()
        self.fd: int | None = None
        self.left = 0
        self.close_after = False
        self.requests = 0
        conn.on_readable = self.readable
        conn.on_writable = self.writable
        conn.on_closed = self.closed
        self.deadline = server.stack.now() + HTTP_IDLE
        server.stack.call_at(self.deadline, self.idle_check)

    def peer(self) -> str:
        return repr((ipv4.text(self.conn.remote_ip), self.conn.remote_port))

    def idle_check(self) -> None:
        if self.conn.state == tcp.CLOSED:
            return
        if self.server.stack.now() >= self.deadline and self.fd is None and not self.out:
            self.conn.close()
        else:
            self.server.stack.call_at(self.deadline, self.idle_check)

    def readable(self, conn: tcp.Connection) -> None:
        while (data := self.recv(conn)) is not None:
            if data == b"":
                if not self.out and self.fd is None:
                    conn.close()
                self.close_after = True
                break
            self.buf += data
            if len(self.buf) > 4 * httpparse.MAX_HEAD:
                break  # the parser refuses it below; never buffer more
        self.serve()

    def recv(self, conn: tcp.Connection) -> bytes | None:
        try:
            return conn.recv(CHUNK)
        except ConnectionResetError:
            self.finish_file()
            return None

    def serve(self) -> None:
        while self.fd is None and not self.out and not self.close_after and self.buf:
            try:
                parsed = httpparse.parse_request(self.buf)
            except httpparse.HttpError as exc:
                self.error(exc.status, exc.detail, httpparse.first_line(self.buf))
                return
            if parsed is None:
                return
            request, used = parsed
            del self.buf[:used]
            self.requests += 1
            self.deadline = self.server.stack.now() + HTTP_IDLE
            self.respond(request)
        self.writable(self.conn)

    def respond(self, request: httpparse.Request) -> None:
        if request.method not in httpparse.SERVED_METHODS:
            status = 405 if request.method in httpparse.KNOWN_METHODS else 501
            self.error(status, f"{request.method} is not served here", request.line)
            return
        if request.has_body:
            self.close_after = True
        try:
            found = self.server.root.resolve(request.target)
            if found.kind == "redirect":
                self.head(request, 301, [("Location", found.location), ("Content-Length", "0")])
                return
            if found.kind == "listing":
                body = self.server.root.listing(found.path, webroot.split_target(request.target)[0])
                self.head(request, 200, [("Content-Type", "text/html; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
                if request.method == "GET":
                    self.out += body
                return
            fd = self.server.root.open(found)
        except httpparse.HttpError as exc:
            self.error(exc.status, exc.detail, request.line)
            return
        size = os.fstat(fd).st_size
        self.head(request, 200, [("Content-Type", webroot.content_type(found.path)),
                                 ("Content-Length", str(size))])
        if request.method == "GET" and size:
            self.fd, self.left = fd, size
        else:
            os.close(fd)

    def head(self, request: httpparse.Request, status: int, headers: list[tuple[str, str]]) -> None:
        if not request.keep_alive:
            self.close_after = True
        headers.append(("Connection", "close" if self.close_after else "keep-alive"))
        self.out += httpparse.response_head(status, headers)
        self.server.stack.log(f"{self.peer()} \"{request.line[:200]}\" {status}")

    def error(self, status: int, detail: str, line: str) -> None:
        reason = httpparse.REASONS.get(status, "Error")
        body = webroot.error_page(status, reason, detail)
        self.out += httpparse.response_head(status, [("Content-Type", "text/html; charset=utf-8"),
                                                     ("Content-Length", str(len(body))), ("Connection", "close")])
        self.out += body
        self.close_after = True
        self.buf.clear()
        self.server.stack.log(f"{self.peer()} \"{line[:200]}\" {status} ({detail})")

    def writable(self, conn: tcp.Connection) -> None:
        while conn.writable:
            if not self.out and self.fd is not None:
                chunk = os.read(self.fd, min(CHUNK, self.left))
                if not chunk:  # the file shrank: the promised length cannot be kept
                    self.finish_file()
                    self.close_after = True
                    self.out.clear()
                    break
                self.left -= len(chunk)
                self.out += chunk
                if self.left <= 0:
                    self.finish_file()
            if not self.out:
                break
            taken = conn.send(bytes(self.out[:CHUNK]))
            del self.out[:taken]
            if not taken:
                break
        if not self.out and self.fd is None:
            if self.close_after:
                if conn.state in (tcp.ESTABLISHED, tcp.CLOSE_WAIT):
                    conn.close()
            elif self.buf:
                self.serve()

    def finish_file(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def closed(self, conn: tcp.Connection) -> None:
        self.finish_file()


class HttpServer:
    def __init__(self, stack: Stack, port: int, root: str) -> None:
        self.stack = stack
        self.root = webroot.WebRoot(root)
        self.listener = stack.tcp_listen(port)
        self.listener.on_accept = self._accept
        stack.log(f"http {contract.READY_LINE} {_endpoint(stack, port)}")

    def _accept(self, listener: tcp.Listener) -> None:
        while (conn := listener.accept()) is not None:
            _HttpConn(self, conn)


class UrlError(ValueError):
    pass


def parse_url(url: str) -> tuple[str, int, str]:
    """(IPv4 address, port, request target) of http://ADDRESS[:PORT][/PATH]."""
    if len(url) > 2048:
        raise UrlError("URL longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise UrlError(f"bad URL {url[:100]!r}: {exc}") from None
    if parts.scheme != "http":
        raise UrlError(f"bad URL {url[:100]!r}: only http:// is supported")
    try:
        host = str(ipaddress.IPv4Address(parts.hostname or ""))
    except ValueError:
        raise UrlError(f"bad URL {url[:100]!r}: the host must be an IPv4 address (the stack has no DNS)") from None
    if any(c in url for c in " \r\n\t"):
        raise UrlError("bad URL: no spaces or control characters")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, target


class HttpGet:
    """One GET through the stack; done(result) is called exactly once."""

    def __init__(self, stack: Stack, url: str, done: Callable[[dict], None], output: str | None = None,
                 timeout: float = 60.0, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.stack = stack
        self.url = url
        self.done_callback = done
        self.max_body = max_body
        self.started = stack.now()
        self.head = bytearray()
        self.status: int | None = None
        self.length: int | None = None
        self.received = 0
        self.digest = hashlib.sha256()
        self.file = None
        self.finished = False
        self.conn: tcp.Connection | None = None
        try:
            host, port, target = parse_url(url)
            if output:
                self.file = open(output, "wb")  # closed in finish()
            self.conn = stack.tcp_connect(host, port)
        except (UrlError, OSError) as exc:
            self.finish(str(exc))
            return
        request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: labnode-stack\r\n" \
                  "Connection: close\r\n\r\n"
        self.conn.send(request.encode("latin-1"))
        self.conn.on_readable = self.readable
        self.conn.on_closed = self.closed
        stack.call_at(self.started + timeout, self.expire, timeout)

    def expire(self, timeout: float) -> None:
        if not self.finished:
            if self.conn is not None:
                self.conn.abort()
            self.finish(f"no complete answer within {timeout:g}s")

    def readable(self, conn: tcp.Connection) -> None:
        while not self.finished:
            try:
                data = conn.recv(CHUNK)
            except ConnectionResetError:
                self.finish(conn.error or "connection reset")
                return
            if data is None:
                return
            if data == b"":
                self.end_of_stream()
                return
            if self.status is None:
                self.head += data
                self.parse_head()
            else:
                self.body(data)

    def parse_head(self) -> None:
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_RESPONSE_HEAD:
                self.fail(f"response head longer than {MAX_RESPONSE_HEAD} bytes")
            return
        lines = bytes(self.head[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
            self.fail(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
            return
        headers = {}
        for line in lines[1:101]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.fail("chunked transfer coding is not supported by this client")
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or len(length) > 18:
                self.fail(f"bad Content-Length {length[:40]!r}")
                return
            self.length = int(length)
        self.status = int(parts[1])
        rest = bytes(self.head[end + 4:])
        self.head.clear()
        if rest:
            self.body(rest)
        elif self.length == 0:
            self.complete()

    def body(self, data: bytes) -> None:
        if self.length is not None and self.received + len(data) > self.length:
            data = data[:self.length - self.received]
        self.received += len(data)
        if self.received > self.max_body:
            self.fail(f"body larger than {self.max_body} bytes")
            return
        self.digest.update(data)
        if self.file is not None:
            self.file.write(data)
        if self.length is not None and self.received >= self.length:
            self.complete()

    def end_of_stream(self) -> None:
        if self.status is None:
            self.fail("connection closed before a complete response head")
        elif self.length is not None and self.received < self.length:
            self.fail(f"connection closed after {self.received} of {self.length} body bytes")
        else:
            self.complete()

    def closed(self, conn: tcp.Connection) -> None:
        if not self.finished:
            if conn.error:
                self.finish(conn.error)
            else:
                self.end_of_stream()

    def complete(self) -> None:
        if self.conn is not None and self.conn.state != tcp.CLOSED:
            self.conn.close()
        self.finish(None)

    def fail(self, error: str) -> None:
        if self.conn is not None:
            self.conn.abort()
        self.finish(error)

    def finish(self, error: str | None) -> None:
        if self.finished:
            return
        self.finished = True
        if self.file is not None:
            try:
                self.file.close()
            except OSError as exc:
                error = error or f"cannot write the output: {exc.strerror}"
        ok = error is None and self.status is not None and 200 <= self.status < 300
        if error is None and not ok:
            error = f"HTTP status {self.status}"
        result = {"ok": ok, "url": self.url, "status": self.status, "bytes": self.received,
                  "sha256": self.digest.hexdigest(), "seconds": round(self.stack.now() - self.started, 3),
                  "error": error, "tcp": self.conn.info() if self.conn is not None else None}
        self.done_callback(result)
