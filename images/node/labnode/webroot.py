"""Mapping request targets to files under a document root, safely.

A target is confined to the root: any `..` segment (also when it arrives
percent-encoded as %2e%2e), a NUL byte, a backslash in a segment, or a path
that after resolving symlinks lands outside the root is refused with 403.
Symlinks that stay inside the root are followed; one that leads out (a file,
a directory on the way, an index.html) is refused with 403, and the file is
opened by its resolved path with O_NOFOLLOW and must still be the very file
that was checked (device and inode), so swapping a link in between does not
escape either.  Empty and `.` segments are ignored, so `//etc/passwd` means
`<root>/etc/passwd`, never `/etc/passwd`.
"""

from __future__ import annotations

import html
import os
import stat
from urllib.parse import quote, unquote_to_bytes, urlsplit

from labnode.httpparse import HttpError

CONTENT_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".wasm": "application/wasm",
    ".mp4": "video/mp4",
}
DEFAULT_TYPE = "application/octet-stream"
INDEX = "index.html"


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), DEFAULT_TYPE)


def split_target(target: str) -> tuple[str, str]:
    """(raw path, query) of an origin-form or absolute-form request target."""
    if target.startswith(("http://", "https://")):
        try:
            parts = urlsplit(target)
        except ValueError:  # "http://[oops/": urlsplit refuses a bad IPv6 host
            raise HttpError(400, "malformed absolute request target") from None
        return parts.path or "/", parts.query
    if not target.startswith("/"):
        raise HttpError(400, "request target is not an absolute path")
    path, _, query = target.partition("?")
    return path.partition("#")[0], query


def url_segments(raw_path: str) -> list[str]:
    """The decoded path segments, or HttpError if the path is not acceptable."""
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "path is not valid UTF-8 once decoded") from None
    if "\x00" in decoded:
        raise HttpError(400, "NUL byte in path")
    segments = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == ".." or "\\" in segment:
            raise HttpError(403, "path leaves the document root")
        segments.append(segment)
    return segments


class Resolved:
    """What a request target names: a file, a directory or a redirect."""

    __slots__ = ("kind", "path", "size", "mtime", "location", "identity", "lookup")

    def __init__(self, kind: str, path: str = "", size: int = 0, mtime: float = 0.0,
                 location: str = "", identity: tuple[int, int] = (0, 0), lookup: str = "") -> None:
        self.kind = kind          # "file", "listing" or "redirect"
        self.path = path          # real path on disk
        self.size = size
        self.mtime = mtime
        self.location = location  # for a redirect
        self.identity = identity  # (st_dev, st_ino) of the file that was checked
        # The path as the target names it, symlinks not resolved: os.stat(lookup)
        # is that same file (same st_dev, st_ino) for as long as the target still
        # names it, whatever symlink on the way is swapped (see http's cache).
        self.lookup = lookup


class WebRoot:
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"document root {root!r} is not a directory")

    def inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def confine(self, path: str) -> tuple[str, os.stat_result]:
        """realpath + stat of path, refusing anything that resolves outside."""
        real = os.path.realpath(path)
        if not self.inside(real):
            raise HttpError(403, "path leads outside the document root")
        try:
            return real, os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise HttpError(404, "no such file") from None
        except PermissionError:
            raise HttpError(403, "permission denied") from None
        except OSError as exc:  # symlink loops, names too long, ...
            raise HttpError(404, f"cannot open: {exc.strerror}") from None

    def resolve(self, target: str) -> Resolved:
        raw_path, query = split_target(target)
        segments = url_segments(raw_path)
        lookup = os.path.join(self.root, *segments)
        real, st = self.confine(lookup)
        if stat.S_ISDIR(st.st_mode):
            if not raw_path.endswith("/"):  # so relative links in the page work
                return Resolved("redirect", location=raw_path + "/" + ("?" + query if query else ""))
            index = os.path.join(real, INDEX)
            if os.path.lexists(index):
                real, st = self.confine(index)
                lookup = os.path.join(lookup, INDEX)
            else:
                return Resolved("listing", path=real)
        if not stat.S_ISREG(st.st_mode):  # fifos, devices, sockets: never opened
            raise HttpError(403, "not a regular file")
        return Resolved("file", path=real, size=st.st_size, mtime=st.st_mtime,
                        identity=(st.st_dev, st.st_ino), lookup=lookup)

    @staticmethod
    def open(found: Resolved) -> int:
        """A read-only descriptor of the file resolve() checked (HttpError if
        it cannot be opened, or is no longer that file: a symlink swapped in)."""
        try:
            fd = os.open(found.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError as exc:  # ELOOP: the file became a symlink since it was checked
            raise HttpError(403, f"cannot open: {exc.strerror}") from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != found.identity or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise HttpError(403, "file changed while being opened")
        return fd

    def listing(self, real: str, raw_path: str) -> bytes:
        """A small HTML index of a directory without index.html."""
        try:
            names = sorted(os.listdir(real))
        except OSError as exc:
            raise HttpError(403, f"cannot list directory: {exc.strerror}") from None
        title = html.escape(unquote_to_bytes(raw_path).decode("utf-8", "replace"))
        items = []
        for name in names:
            slash = "/" if os.path.isdir(os.path.join(real, name)) else ""
            raw = os.fsencode(name)  # names that are not UTF-8 must not break the page
            shown = html.escape(raw.decode("utf-8", "replace"))
            items.append(f'<li><a href="{quote(raw)}{slash}">{shown}{slash}</a></li>')
        page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}"
                f"</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
                + "\n".join(items) + "\n</ul></body></html>\n")
        return page.encode("utf-8")


def error_page(status: int, reason: str, detail: str) -> bytes:
    return (f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n"
            f"<body><h1>{status} {reason}</h1>\n<p>{html.escape(detail)}</p></body></html>\n"
            ).encode()
