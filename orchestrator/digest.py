"""Digests of files and folders: image recipes, lab files, folders a lab serves.

A folder's digest covers the relative path, content and executable bit of
every file in it (Python caches left out), so any change to what would be
copied changes it. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: (folder, extra, what stat says of every file in it) -> its digest: a folder is
#: read again only when a file in it was changed, added or removed
_seen: dict[tuple[str, str, tuple[tuple[str, int, int, int], ...]], str] = {}


def tree_digest(root: Path, extra: str = "") -> str:
    """12 hex digits for a folder and everything in it (and `extra`)."""
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    stats = []
    for path in files:
        st = path.stat()
        stats.append((path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size, st.st_mode))
    key = (str(root), extra, tuple(stats))
    known = _seen.get(key)
    if known is not None:
        return known
    h = hashlib.sha256(extra.encode())
    for path, (rel, *_) in zip(files, stats):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
        h.update(b"\1" if os.access(path, os.X_OK) else b"\0")
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
