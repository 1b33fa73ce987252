"""What a lab may take from this machine: only files inside its own folder,
and only so much of them.

A lab file names host paths in one place today (an http service's `root`,
copied into the node). Each such path must resolve, symbolic links followed,
inside the lab folder. Within a copied folder only plain folders, regular
files and symbolic links that stay inside the folder are taken; a link that
leads out of it, a device, a pipe or a socket is left out (and said so at
validation). Files keep their modes: nothing becomes more readable in a node
than it was here. The whole of what one lab copies is bounded.

The same walk decides what validation reports and what a deploy packs
(orchestrator.backend.archive), so the two cannot disagree. Pure: no engine.

`read_small_file` reads the other files a command is given (a roster, a
checks file): bounded, or a message saying why not.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

#: what one lab may copy into its nodes, every copy counted (a folder served by
#: ten nodes counts ten times): LABNET_MAX_COPY_MB overrides, in MiB
MAX_COPY_BYTES = 64 * 1024 * 1024
#: files (and folders and links) one lab may copy in, every copy counted
MAX_COPY_FILES = 20_000


def max_copy_bytes() -> int:
    raw = os.environ.get("LABNET_MAX_COPY_MB", "").strip()
    return int(raw) * 1024 * 1024 if raw.isdigit() and int(raw) > 0 else MAX_COPY_BYTES


def outside(folder: Path, name: str) -> Path | None:
    """Where `name` (relative to the lab folder, or absolute) really is, when
    that is outside `folder`; None when it is inside."""
    base = folder.resolve()
    real = (base / name).resolve()
    return None if real == base or real.is_relative_to(base) else real


@dataclass(frozen=True)
class Entry:
    """One thing to copy: `rel` inside the folder ('' is the folder itself)."""

    rel: str
    kind: str          # "dir", "file" or "link"
    mode: int          # permission bits, as they are here
    size: int = 0      # files
    target: str = ""   # links: where it points, relative to the link's folder


@dataclass
class Walk:
    """A folder as it would be copied: what goes, what is left out and why."""

    root: Path
    entries: list[Entry] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)   # (rel, why)
    size: int = 0
    truncated: bool = False   # stopped at the bound: more is there


def walk(root: Path, max_entries: int = MAX_COPY_FILES, max_bytes: int | None = None) -> Walk:
    """What copying `root` would take, in a stable order. Stops (truncated)
    once more than `max_entries` entries or `max_bytes` bytes are found, so
    that a huge folder costs no more than the bound to look at."""
    max_bytes = max_copy_bytes() if max_bytes is None else max_bytes
    base = root.resolve()
    out = Walk(base)
    st = os.lstat(base)
    out.entries.append(Entry("", "dir", stat.S_IMODE(st.st_mode)))
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        keep = []
        for name in dirnames + sorted(filenames):
            path = here / name
            rel = str(path.relative_to(base))
            try:
                st = os.lstat(path)
            except OSError as exc:
                out.left_out.append((rel, f"cannot be read ({exc.strerror})"))
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                entry = _link(base, path, rel, mode)
                if isinstance(entry, str):
                    out.left_out.append((rel, entry))
                    continue
                out.entries.append(entry)
            elif stat.S_ISDIR(mode):
                out.entries.append(Entry(rel, "dir", stat.S_IMODE(mode)))
                keep.append(name)
            elif stat.S_ISREG(mode):
                out.entries.append(Entry(rel, "file", stat.S_IMODE(mode), size=st.st_size))
                out.size += st.st_size
            else:
                out.left_out.append((rel, "is not a file, folder or link (a device, pipe or socket)"))
                continue
            if len(out.entries) > max_entries or out.size > max_bytes:
                out.truncated = True
                return out
        dirnames[:] = [d for d in dirnames if d in keep]
    return out


def _link(base: Path, path: Path, rel: str, mode: int) -> Entry | str:
    """A symbolic link kept as a link pointing where it did, relative, when it
    stays inside the folder; else why it is left out."""
    try:
        target = os.readlink(path)
        real = (path.parent / target).resolve()
    except (OSError, RuntimeError):   # a loop of links, or unreadable
        return "is a symbolic link that cannot be followed"
    if real != base and not real.is_relative_to(base):
        return f"is a symbolic link to {real}, outside the folder"
    return Entry(rel, "link", stat.S_IMODE(mode), target=os.path.relpath(real, path.parent))


def describe_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


def read_small_file(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of a file a command was given (`what`: "the roster"), at most
    `limit` of them; UsageError saying why not."""
    from .errors import UsageError
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {file}: {exc.strerror}") from None
    if len(data) > limit:
        raise UsageError(f"{what} {file} is larger than {limit // 1024} KiB")
    return data
