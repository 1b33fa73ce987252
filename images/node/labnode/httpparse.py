"""HTTP/1.x request parsing and response heads, for labnode.services.http.

parse_request() looks at the bytes a connection has buffered and returns a
Request once the whole head (request line + headers) is there, None while it
is still incomplete, and raises HttpError (only) for anything malformed or
over a limit: the head, blank lines before it included, is at most MAX_HEAD
bytes, the request line at most MAX_LINE, at most MAX_HEADERS header lines.
Bodies are never read (a request with one is answered, then the connection
closes), so Content-Length is only checked to be a plain decimal number and
Transfer-Encoding (chunked or not) is never parsed.
"""

from __future__ import annotations

import re
import time
from email.utils import formatdate

MAX_HEAD = 16 * 1024  # request line + headers: 16 KiB, like the smaller of nginx's buffers
MAX_LINE = 8 * 1024   # the request line alone (414 if longer)
MAX_HEADERS = 100     # header lines (431 beyond): browsers send about 10-20
SERVED_METHODS = ("GET", "HEAD")
# Standard methods we know but do not allow here: 405 (with Allow).  Any other
# well-formed method is 501 Not Implemented.
KNOWN_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})

REASONS = {
    200: "OK", 301: "Moved Permanently", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    414: "URI Too Long", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 505: "HTTP Version Not Supported",
}

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_LENGTH = re.compile(r"[0-9]+")


class HttpError(Exception):
    """A request we answer with an error status (and then close)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Request:
    __slots__ = ("method", "target", "version", "headers", "line", "keep_alive", "wants_close",
                 "has_body")

    def __init__(self, method: str, target: str, version: tuple[int, int],
                 headers: dict[str, str], line: str) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.line = line
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        self.wants_close = "close" in connection
        if version >= (1, 1):
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection
        self.has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def first_line(buf: bytes) -> str:
    """The request line as far as it goes, for the access log of a bad request."""
    line = bytes(buf[:200]).split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("latin-1").encode("unicode_escape").decode("ascii")


def parse_request(buf: bytearray) -> tuple[Request, int] | None:
    """(request, bytes consumed) if buf holds a complete head, else None."""
    start = 0
    while buf[start:start + 1] in (b"\r", b"\n"):  # blank lines before a request are allowed
        start += 1                                   # (and count towards MAX_HEAD)
        if start > MAX_HEAD:
            raise HttpError(400, f"more than {MAX_HEAD} bytes of blank lines")
    end = _HEAD_END.search(buf, start, start + MAX_HEAD + 4)
    if end is None:
        if len(buf) - start > MAX_LINE + 1 and buf.find(b"\n", start, start + MAX_LINE + 2) < 0:
            raise HttpError(414, f"request line longer than {MAX_LINE} bytes")  # + 1: its "\r"
        if len(buf) > MAX_HEAD:
            raise HttpError(431, f"request head longer than {MAX_HEAD} bytes")
        return None
    if end.start() > MAX_HEAD:
        raise HttpError(431, f"request head longer than {MAX_HEAD} bytes")
    head = bytes(buf[start:end.start()]).decode("latin-1")
    lines = head.split("\n")
    line = lines[0].rstrip("\r")
    if len(line) > MAX_LINE:
        raise HttpError(414, f"request line longer than {MAX_LINE} bytes")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header lines")
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise HttpError(400, "malformed request line")
    method, target, version_text = parts
    if not _TOKEN.fullmatch(method):
        raise HttpError(400, "malformed method")
    version_match = _VERSION.fullmatch(version_text)
    if not version_match:
        raise HttpError(400, "malformed HTTP version")
    version = (int(version_match[1]), int(version_match[2]))
    if version[0] != 1:
        raise HttpError(505, f"HTTP/{version[0]}.{version[1]} is not supported")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        raw = raw.rstrip("\r")
        name, colon, value = raw.partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
            raise HttpError(400, f"malformed header line {raw[:40]!r}")
        name = name.lower()
        value = value.strip(" \t")
        if name in headers:
            if name in ("content-length", "host") and headers[name] != value:
                raise HttpError(400, f"conflicting {name} headers")
            value = f"{headers[name]}, {value}"
        headers[name] = value
    if version >= (1, 1) and "host" not in headers:
        raise HttpError(400, "HTTP/1.1 request without Host header")
    length = headers.get("content-length")
    if length is not None and not _LENGTH.fullmatch(length):
        raise HttpError(400, "malformed Content-Length")
    return Request(method, target, version, headers, line), end.end()


_date_cache = (0, "")


def http_date() -> str:
    """The Date header value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
             "Server: labnode-http", f"Date: {http_date()}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
