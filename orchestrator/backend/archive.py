"""Tar archives of what goes into a node: its rendered files, and folders a
service serves. Built in memory (the engine takes an archive per copy).
Pure functions, no engine needed."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from .. import confine
from ..contract import NodeFiles
from ..errors import LabStateError


def of_files(files: NodeFiles | dict[str, bytes]) -> bytes:
    """path inside the node -> content (text or bytes), as an archive to unpack
    at /: the folders on the way made too; scripts (*.sh) executable."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for path in files:
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mtime = len(data), now
            info.mode = 0o755 if path.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def walk_folder(source: Path) -> confine.Walk:
    """What of a served folder goes into a node: orchestrator.confine's walk
    (files, folders, links that stay inside). The folder must still be where
    validation found it, with no symbolic link on the way, and within the bounds."""
    if source.resolve() != source:
        raise LabStateError(f"{source} is not where the lab was validated (a symbolic link on its path); "
                       "validate and deploy the lab again")
    found = confine.walk(source)
    if found.truncated:
        raise LabStateError(f"{source} holds more than a lab may copy into a node "
                       f"({confine.describe_size(confine.max_copy_bytes())} or {confine.MAX_COPY_FILES:,} files); "
                       "serve a smaller folder, or allow more with LABNET_MAX_COPY_MB")
    return found


def of_folder(source: Path, dest: str) -> bytes:
    """A folder of the lab as an archive to unpack at / that makes it `dest`
    (walk_folder's entries), owned by root, with the modes they have here
    (never more readable)."""
    found = walk_folder(source)
    buf = io.BytesIO()
    now = time.time()
    top = dest.strip("/")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in found.entries:
            info = tarfile.TarInfo(f"{top}/{entry.rel}" if entry.rel else top)
            info.mode, info.mtime = entry.mode, now
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
                tar.addfile(info)
            else:
                with open(source / entry.rel, "rb") as handle:
                    data = handle.read(entry.size)
                info.size = len(data)   # no more than the walk counted, if it grew since
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def member(tar: bytes, path: str, limit: int = 256 * 1024 * 1024) -> bytes | None:
    """The content of the file `path` in an archive the engine made of it (it
    holds the file under its own name); None if there is no such file."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        for info in archive:
            if info.isfile() and info.name.rsplit("/", 1)[-1] == name and info.size <= limit:
                handle = archive.extractfile(info)
                return handle.read() if handle is not None else None
    return None
