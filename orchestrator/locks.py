"""One command at a time changes a lab: a per-lab lock across processes.

Commands that change a lab (deploy and reconcile, destroy, repair, link,
impair) hold `/run/labnet/locks/<lab>.lock` (an flock, so a killed holder
frees it at once) and write who holds it into the file. A second command
either says who is busy ("lab x is busy: deploy by pid 812 since 12:01:03")
or, when it says it can wait (destroy), waits for the holder to finish.
Taking the same lab's lock again in the same process is allowed (a deploy
with --force destroys the running copy under its own lock).

The lock is per machine: commands on other machines sharing one engine are
not held back by it. LABNET_LOCK_DIR moves the folder (tests use their own).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LabStateError
from .progress import Event, Progress, silent

DEFAULT_DIR = "/run/labnet/locks"
POLL_S = 0.1
UNSAID_S = 1.0   # how long a held lock may say nothing of its holder before we say "another command"
_held: dict[str, int] = {}   # lab -> how many times this process holds its lock


class LabBusy(LabStateError):
    """Another command is changing this lab."""


def lock_dir() -> Path:
    wanted = Path(os.environ.get("LABNET_LOCK_DIR", DEFAULT_DIR))
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        return wanted
    except OSError:  # not root: a folder of our own in the temporary directory
        fallback = Path(tempfile.gettempdir()) / "labnet-locks"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _holder(fd: int) -> str | None:
    """Who holds the lock, as the holder wrote it: 'deploy by pid 812 since 12:01:03';
    None while the file says nothing (a holder that has just taken or is just
    letting go of the lock)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        return f"{info['what']} by pid {info['pid']} since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def lab_lock(lab: str, what: str, *, wait_s: float = 0.0, progress: Progress = silent) -> Iterator[None]:
    """Hold lab's lock while the block runs. Busy: LabBusy at once, or after
    waiting up to wait_s seconds for the holder to finish."""
    if _held.get(lab):
        _held[lab] += 1
        try:
            yield
        finally:
            _held[lab] -= 1
        return
    fd = os.open(lock_dir() / f"{lab}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        unsaid_until = time.monotonic() + UNSAID_S
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if holder is None:
                    # taken a moment ago (who is not written yet) or being let go: ask again
                    if time.monotonic() < unsaid_until:
                        time.sleep(0.01)
                        continue
                    holder = "another command"
                if time.monotonic() >= deadline:
                    hint = "; wait for it to finish" if not wait_s else f" (waited {wait_s:g} s)"
                    raise LabBusy(f"lab {lab} is busy: {holder}{hint}") from None
                if not told:
                    progress(Event("lock", f"lab {lab} is busy ({holder}): waiting for it to finish"))
                    told = True
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}).encode(), 0)
        _held[lab] = 1
        try:
            yield
        finally:
            _held.pop(lab, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # and with it the flock
