"""The client side of the in-node control sockets (the routing daemon's and
the user-space stack's): one JSON request line, one JSON answer line
`{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`, read within
a bound; and the plain tables their command-line tools print."""

from __future__ import annotations

import json
import socket

from labnode import bounded


class ControlError(Exception):
    """The program could not be asked, or refused: the message says which."""


def ask(path: str, request: dict, *, what: str, max_reply: int, timeout: float = 3.0):
    """The data `what` (e.g. "the routing daemon") answers to `request` on the
    unix socket at `path`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = bytearray()
            while not data.endswith(b"\n") and len(data) <= max_reply:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        raise ControlError(f"{what} at {path} did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise ControlError(f"cannot reach {what} at {path}: {exc.strerror or exc}") from None
    try:
        reply = bounded.loads(data, max_bytes=max_reply, max_items=max_reply)
    except bounded.BoundedError as exc:
        raise ControlError(f"{what} sent an unreadable answer ({exc})") from None
    if not isinstance(reply, dict):
        raise ControlError(f"{what} sent an unreadable answer (not a JSON object)")
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "request refused")))
    return reply.get("data")


def table(headers: list[str], rows: list[list]) -> str:
    """Columns padded to their widest cell, a line of dashes under the header;
    None shows as '-'."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths)] + lines[1:])
