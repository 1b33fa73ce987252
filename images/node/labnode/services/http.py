"""Static file HTTP/1.1 server on one thread with selectors.

    python3 -m labnode.services.http --port 80 --root /srv/web [--timeout 15]

GET and HEAD; other standard methods get 405 (with Allow), unknown ones 501,
malformed requests 400.  Keep-alive by default for HTTP/1.1 (and for 1.0 with
"Connection: keep-alive"), "Connection: close" honoured, pipelined requests
answered in order.  A connection idle for --timeout seconds is closed, and a
request head that is not complete --timeout seconds after its first byte
gets 408 (slow clients cannot hold a connection open by trickling bytes).
Files are confined to --root (see labnode.webroot).  One access-log line per
request on stdout:

    10.0.1.2:40312 "GET /index.html HTTP/1.1" 200 1234

Small files are answered from a cache of ready-made responses, keyed by
the exact request bytes and the request target and checked on every request
with one stat() of the path the target names (device, inode, size, mtime and
ctime must be unchanged: an edited file, or a symlink on the way swapped to
lead elsewhere, goes the full way again, confinement checks included).  The
access log is written in batches, at least every LOG_EVERY seconds and as
soon as the server is idle.

Request heads are bounded (labnode.httpparse: size, line, header count); a
bad one gets its 4xx and costs only its own connection, and any unexpected
error while serving one connection is logged in one line and closes only
that connection, never the server.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections import deque
from email.utils import formatdate

from labnode import contract
from labnode.httpparse import (
    KNOWN_METHODS,
    REASONS,
    SERVED_METHODS,
    HttpError,
    Request,
    first_line,
    http_date,
    parse_request,
    response_head,
)
from labnode.netutil import (
    accept_ready,
    describe_error,
    endpoint,
    flush_log,
    listen,
    log,
    log_pending,
    run,
    service_parser,
)
from labnode.webroot import Resolved, WebRoot, content_type, error_page, split_target

RECV_SIZE = 65536
SMALL_FILE = 256 * 1024  # read into memory at once; bigger files are streamed with sendfile
LINGER = 2.0             # seconds to drain a closing connection (avoids resetting replies)
CACHE_FILE = 64 * 1024   # files up to this size have their responses cached ...
CACHE_BYTES = 16 << 20   # ... up to this much in all (then the cache starts afresh)
CACHE_ENTRIES = 512      # request heads and files remembered, each
CACHE_SETTLED = 1.0      # only files not modified for this long: a write while we read
                         # then sets a new mtime, which the next request's stat() sees
LOG_EVERY = 0.1          # seconds between access-log writes under load
_DATE_LINE = b"\r\nDate: "


class CachedFile:
    """Ready-made 200 responses for one small file, valid while os.stat(lookup)
    still gives `key` (device, inode, size, mtime, ctime)."""

    __slots__ = ("lookup", "key", "size", "head", "tails", "logs")

    def __init__(self, lookup: str, st: os.stat_result, head: list[tuple[str, str]],
                 body: bytes) -> None:
        self.lookup = lookup
        self.key = file_key(st)
        self.size = len(body)
        self.head = head  # Content-Type, Last-Modified, Content-Length
        self.tails: dict[tuple[bool, bool], tuple[bytes, bytes]] = {}
        for keep in (True, False):
            for head_only in (True, False):
                full = response_head(200, [("Connection", "keep-alive" if keep else "close")]
                                     + head)
                start = full.index(_DATE_LINE) + len(_DATE_LINE)
                end = full.index(b"\r\n", start)
                self.tails[keep, head_only] = (full[:start], full[end:]
                                               + (b"" if head_only else body))
        self.logs = (f" 200 {self.size}", " 200 0")


def file_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileBody:
    """An open file (descriptor) still to be sent with os.sendfile()."""

    __slots__ = ("fd", "offset", "remaining")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.offset = 0
        self.remaining = size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Conn:
    __slots__ = ("sock", "client", "inbuf", "out", "close_after", "linger", "closing",
                 "last_active", "request_started", "events")

    def __init__(self, sock: socket.socket, addr) -> None:
        self.sock = sock
        self.client = endpoint(addr)
        self.inbuf = bytearray()
        self.out: deque = deque()       # bytes / memoryview / FileBody, in order
        self.close_after = False        # close once `out` is sent
        self.linger = True              # ... after draining what the client still sends
        self.closing = False            # write side shut, draining until EOF
        self.last_active = time.monotonic()
        self.request_started: float | None = None
        self.events = selectors.EVENT_READ


class HttpServer:
    def __init__(self, sock: socket.socket, root: str, timeout: float = 15.0) -> None:
        self.listener = sock
        self.web = WebRoot(root)
        self.timeout = timeout
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)
        self.conns: set[Conn] = set()
        self._next_sweep = 0.0
        self._heads: dict[bytes, Request] = {}     # request bytes -> their parse (GET/HEAD)
        self._files: dict[str, CachedFile] = {}    # request target -> its cached responses
        self._cached_bytes = 0
        self._date = (0, b"")

    def serve_forever(self) -> None:
        tick = max(0.05, min(1.0, self.timeout / 4))
        flushed = time.monotonic()
        while True:
            ready = self.sel.select(LOG_EVERY if log_pending() else tick)
            for key, events in ready:
                conn = key.data
                if conn is None:
                    self._accept()
                    continue
                try:
                    if events & selectors.EVENT_READ:
                        self._on_readable(conn)
                    elif events & selectors.EVENT_WRITE:
                        self._process(conn)
                except Exception as exc:  # one connection's problem, never the server's
                    self._fail(conn, exc)
            self._sweep()
            if log_pending():  # access log lines: when idle, else every LOG_EVERY s
                now = time.monotonic()
                if not ready or now - flushed >= LOG_EVERY:
                    flush_log()
                    flushed = now

    # -- connections ------------------------------------------------------

    def _accept(self) -> None:
        for sock, addr in accept_ready(self.listener, nodelay=True):
            conn = Conn(sock, addr)
            self.conns.add(conn)
            try:
                self.sel.register(sock, selectors.EVENT_READ, conn)
                self._on_readable(conn)  # the request often arrived with the handshake
            except Exception as exc:
                self._fail(conn, exc)

    def _fail(self, conn: Conn, exc: Exception) -> None:
        """An unexpected error while serving conn: one log line, a 500 if no
        response has started, and that connection closed."""
        log(f"{conn.client}: internal error, connection closed: {describe_error(exc)}", flush=False)
        if not conn.out and not conn.closing:
            body = error_page(500, REASONS[500], "internal error")
            head = response_head(500, [("Content-Type", "text/html; charset=utf-8"),
                                       ("Content-Length", str(len(body))), ("Connection", "close")])
            try:
                conn.sock.send(head + body)
            except OSError:
                pass
        self._close(conn)

    def _close(self, conn: Conn) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            try:
                self.sel.unregister(conn.sock)
            except (KeyError, ValueError):  # never registered
                pass
            conn.sock.close()
            for item in conn.out:
                if isinstance(item, FileBody):
                    item.close()
            conn.out.clear()

    def _want(self, conn: Conn, events: int) -> None:
        if conn.events != events:
            conn.events = events
            self.sel.modify(conn.sock, events, conn)

    def _sweep(self) -> None:
        """Close idle connections; answer 408 to requests that take too long."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(1.0, self.timeout / 4)
        for conn in list(self.conns):
            try:
                self._sweep_one(conn, now)
            except Exception as exc:
                self._fail(conn, exc)

    def _sweep_one(self, conn: Conn, now: float) -> None:
        """Close conn if idle; answer 408 if its request takes too long."""
        if conn.closing:
            if now - conn.last_active > LINGER:
                self._close(conn)
        elif conn.request_started is not None and not conn.out \
                and now - conn.request_started > self.timeout:
            if not conn.inbuf.strip(b"\r\n"):  # only blank lines trickled in: nothing to answer
                self._close(conn)
                return
            self._error(conn, HttpError(408, f"request not complete after {self.timeout:g}s"),
                        first_line(conn.inbuf))
            conn.inbuf.clear()
            self._process(conn)
        elif now - conn.last_active > self.timeout:
            self._close(conn)

    # -- reading and answering -------------------------------------------

    def _on_readable(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        if conn.closing:
            return  # draining after our last response: discard
        conn.last_active = time.monotonic()
        if not conn.inbuf and not conn.out and self._answer_cached(conn, data):
            return
        if conn.request_started is None:
            conn.request_started = conn.last_active
        conn.inbuf += data
        self._process(conn)

    def _answer_cached(self, conn: Conn, data: bytes) -> bool:
        """Answer data (one whole request seen before) from the cache, if the
        file it names is unchanged; False to take the full way."""
        request = self._heads.get(data)
        if request is None:
            return False
        entry = self._files.get(request.target)
        if entry is None:
            return False
        try:
            unchanged = file_key(os.stat(entry.lookup)) == entry.key
        except OSError:
            unchanged = False
        if not unchanged:
            self._forget(request.target)
            return False
        keep = request.keep_alive
        head_only = request.method == "HEAD"
        start, tail = entry.tails[keep, head_only]
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, http_date().encode("latin-1"))
        conn.out.append(start + self._date[1] + tail)
        conn.close_after = not keep
        conn.linger = not request.wants_close
        log(f'{conn.client} "{request.line}"{entry.logs[head_only]}', flush=False)
        self._process(conn)
        return True

    def _forget(self, target: str) -> None:
        entry = self._files.pop(target, None)
        if entry is not None:
            self._cached_bytes -= entry.size

    def _remember(self, target: str, found: Resolved, st: os.stat_result,
                  head: list[tuple[str, str]], body: bytes) -> None:
        """Cache the responses for a small file that has settled."""
        if len(body) > CACHE_FILE or not found.lookup or st.st_size != len(body) \
                or time.time() - st.st_mtime < CACHE_SETTLED:
            return
        if len(self._files) >= CACHE_ENTRIES or self._cached_bytes + len(body) > CACHE_BYTES:
            self._files.clear()
            self._cached_bytes = 0
        self._forget(target)
        self._files[target] = CachedFile(found.lookup, st, head, body)
        self._cached_bytes += len(body)

    def _process(self, conn: Conn) -> None:
        """Send pending output, then answer buffered requests one at a time."""
        while True:
            if conn.out and not self._flush(conn):
                return  # socket full (resume on EVENT_WRITE) or connection gone
            if conn.close_after:
                if conn.linger or conn.inbuf:
                    self._shut(conn)
                else:
                    self._close(conn)  # the client asked to close and sent nothing more
                return
            if not conn.inbuf:
                break
            try:
                parsed = parse_request(conn.inbuf)
            except HttpError as exc:
                self._error(conn, exc, first_line(conn.inbuf))
                conn.inbuf.clear()
                continue
            if parsed is None:
                break  # the rest of the head has not arrived yet
            request, used = parsed
            if used == len(conn.inbuf) and used <= 4096 and not request.has_body \
                    and request.method in SERVED_METHODS:  # the same bytes again: no parsing
                if len(self._heads) >= CACHE_ENTRIES:
                    self._heads.clear()
                self._heads[bytes(conn.inbuf)] = request
            del conn.inbuf[:used]
            conn.request_started = time.monotonic() if conn.inbuf else None
            self._answer(conn, request)
        self._want(conn, selectors.EVENT_READ)

    def _answer(self, conn: Conn, request: Request) -> None:
        keep = request.keep_alive and not request.has_body  # bodies are not read: close after
        method = request.method
        try:
            if method not in SERVED_METHODS:
                if method in KNOWN_METHODS:
                    raise HttpError(405, f"{method} is not allowed here")
                raise HttpError(501, f"{method} is not implemented")
            found = self.web.resolve(request.target)
            headers = [("Connection", "keep-alive" if keep else "close")]
            status = 200
            body: bytes | FileBody
            if found.kind == "redirect":
                status = 301
                body = error_page(301, REASONS[301], f"see {found.location}")
                headers += [("Location", found.location),
                            ("Content-Type", "text/html; charset=utf-8")]
            elif found.kind == "listing":
                body = self.web.listing(found.path, split_target(request.target)[0])
                headers.append(("Content-Type", "text/html; charset=utf-8"))
            else:
                body, st = self._open(found)
                headers += [("Content-Type", content_type(found.path)),
                            ("Last-Modified", formatdate(found.mtime, usegmt=True))]
                if not isinstance(body, FileBody):
                    self._remember(request.target, found, st, headers[1:]
                                   + [("Content-Length", str(len(body)))], body)
        except HttpError as exc:
            self._error(conn, exc, request.line, keep=keep and exc.status in (403, 404))
            return
        size = body.remaining if isinstance(body, FileBody) else len(body)
        headers.append(("Content-Length", str(size)))
        head = response_head(status, headers)
        if method == "HEAD":
            if isinstance(body, FileBody):
                body.close()
            conn.out.append(head)
            size = 0
        elif isinstance(body, FileBody):
            conn.out += (head, body)
        else:
            conn.out.append(head + body)  # one send() for head and a small body
        conn.close_after = not keep
        # A client that said "Connection: close" sends nothing after this request
        # (RFC 9112 9.6), so we may close at once; otherwise drain first.
        conn.linger = request.has_body or not request.wants_close
        log(f'{conn.client} "{request.line}" {status} {size}', flush=False)

    def _open(self, found: Resolved) -> tuple[bytes | FileBody, os.stat_result]:
        """The file's bytes if small, else a FileBody to stream; and its fstat."""
        fd = self.web.open(found)
        st = os.fstat(fd)
        size = st.st_size  # the size of what we actually send
        if size > SMALL_FILE:
            return FileBody(fd, size), st
        try:
            chunks = []
            while size > 0 and (chunk := os.read(fd, size)):
                chunks.append(chunk)
                size -= len(chunk)
            return b"".join(chunks), st
        finally:
            os.close(fd)

    def _error(self, conn: Conn, error: HttpError, line: str, keep: bool = False) -> None:
        """Queue an error response (the connection closes after it unless keep)."""
        reason = REASONS.get(error.status, "Error")
        body = error_page(error.status, reason, error.detail)
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                   ("Connection", "keep-alive" if keep else "close")]
        if error.status == 405:
            headers.append(("Allow", ", ".join(SERVED_METHODS)))
        head = response_head(error.status, headers)
        conn.out.append(head if line.startswith("HEAD ") else head + body)
        conn.close_after = not keep
        conn.linger = True
        log(f'{conn.client} "{line}" {error.status} {len(body)}', flush=False)

    # -- writing ----------------------------------------------------------

    def _flush(self, conn: Conn) -> bool:
        """Send queued output; True once all of it is out."""
        sock = conn.sock
        try:
            while conn.out:
                item = conn.out[0]
                if isinstance(item, FileBody):
                    count = min(item.remaining, 1 << 20)
                    sent = os.sendfile(sock.fileno(), item.fd, item.offset, count)
                    item.offset += sent
                    item.remaining -= sent
                    if item.remaining <= 0 or sent == 0:  # sent == 0: the file shrank
                        item.close()
                        conn.out.popleft()
                else:
                    sent = sock.send(item)
                    if sent < len(item):
                        conn.out[0] = memoryview(item)[sent:]
                    else:
                        conn.out.popleft()
                conn.last_active = time.monotonic()
        except (BlockingIOError, InterruptedError):
            self._want(conn, selectors.EVENT_WRITE)  # not reading meanwhile
            return False
        except OSError:
            self._close(conn)
            return False
        return True

    def _shut(self, conn: Conn) -> None:
        """Everything sent: half-close and drain until the client closes too,
        so that unread request bytes do not make the kernel reset the reply."""
        conn.closing = True
        conn.last_active = time.monotonic()
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        self._want(conn, selectors.EVENT_READ)


def main(argv=None) -> int:
    parser = service_parser("http", "static file HTTP server", 80)
    parser.add_argument("--root", default="/srv/web", help="document root (default /srv/web)")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="idle / slow-request timeout in seconds (default 15)")
    args = parser.parse_args(argv)

    def serve() -> None:
        sock = listen(args.bind, args.port)
        server = HttpServer(sock, args.root, args.timeout)
        log(f"http {contract.READY_LINE} {endpoint(sock.getsockname())} serving {server.web.root}")
        server.serve_forever()

    return run("http", serve)


if __name__ == "__main__":
    raise SystemExit(main())
