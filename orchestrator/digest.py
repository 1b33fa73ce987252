"""Digests of files and folders: image recipes, lab files, folders a lab serves.

A folder's digest covers the relative path, content and executable bit of
every file and link in it (Python caches left out), so any change to what would be
copied changes it. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import confine

#: (folder, extra, what stat says of every file in it) -> its digest: a folder is
#: read again only when a file in it was changed, added or removed
_seen: dict[tuple[str, str, tuple[tuple[str, int, int, int], ...]], str] = {}


def tree_digest(root: Path, extra: str = "") -> str:
    """12 hex digits for a folder and everything in it (and `extra`): what
    orchestrator.confine's walk would copy of it, so a link leading out of the
    folder is never read."""
    found = confine.walk(root, max_entries=10**7, max_bytes=1 << 50)
    entries = [e for e in found.entries if e.kind != "dir" and "__pycache__" not in e.rel.split("/")
               and not e.rel.endswith(".pyc")]
    stats = []
    for entry in entries:
        st = os.lstat(root / entry.rel)
        stats.append((entry.rel, st.st_mtime_ns, st.st_size, st.st_mode))
    key = (str(root), extra, tuple(stats))
    known = _seen.get(key)
    if known is not None:
        return known
    h = hashlib.sha256(extra.encode())
    for entry in entries:
        h.update(entry.rel.encode() + b"\0")
        if entry.kind == "link":
            h.update(b"->" + entry.target.encode())
            continue
        h.update(hashlib.sha256((root / entry.rel).read_bytes()).digest())
        h.update(b"\1" if entry.mode & 0o111 else b"\0")
    _seen[key] = digest = h.hexdigest()[:12]
    return digest


def digest_of(path: Path) -> str | None:
    """The digest of a file or a folder; None when it is not there."""
    if path.is_dir():
        return tree_digest(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
