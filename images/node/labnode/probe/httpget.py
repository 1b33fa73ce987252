"""http: GET a URL and report status, headers, body length and time.

Redirects are reported, not followed.  ok = a status below 400 (or exactly
--status when given) and, with --contains, the text found in the body.  The
result carries the body's sha256, so that a transfer can be checked intact.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
from urllib.parse import urlsplit

MAX_KEEP = 16 * 1024 * 1024  # body bytes kept for --contains; longer bodies are only counted
MAX_READ = 256 * 1024 * 1024  # body bytes read at all: a server streaming forever cannot hold the probe


def get(url: str, timeout: float = 5.0, contains: str | None = None,
        status: int | None = None) -> dict:
    if "://" not in url:
        url = "http://" + url
    result: dict = {"probe": "http", "url": url, "ok": False}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        result["error"] = f"not an http(s) URL: {url!r}"
        return result
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" \
        else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    conn = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "labnode-probe"})
        response = conn.getresponse()
        kept = bytearray()
        length = 0
        digest = hashlib.sha256()
        while length < MAX_READ and (chunk := response.read(65536)):
            length += len(chunk)
            digest.update(chunk)
            if len(kept) < MAX_KEEP:
                kept += chunk
        truncated = length >= MAX_READ
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else (
            getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        result["error"] = f"request failed: {reason}"
        result["time_ms"] = round((time.monotonic() - started) * 1000.0, 3)
        return result
    finally:
        conn.close()
    result.update(status=response.status, reason=response.reason,
                  headers={k.lower(): v for k, v in response.getheaders()},
                  body_length=length, sha256=digest.hexdigest(),
                  time_ms=round((time.monotonic() - started) * 1000.0, 3))
    if truncated:
        result["body_truncated"] = True  # stopped reading at MAX_READ bytes
    ok = response.status == status if status is not None else response.status < 400
    if not ok:
        result["error"] = f"status {response.status} {response.reason}"
    if contains is not None:
        found = contains.encode("utf-8") in kept
        result["contains"] = found
        if not found and ok:
            result["error"] = f"body does not contain {contains!r}"
        ok = ok and found
    result["ok"] = ok
    return result
