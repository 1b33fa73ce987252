"""A fresh node that configures itself: no archive copy, no exec (Docker backend).

A node made from the project's node image by an engine on this machine gets
its configuration as folders of this machine bound in read-only, made in
STATE_ROOT/<lab>/<node>/ before the container is created:

    etc-labnet/  ->  /etc/labnet   the rendered files (setup.sh, services.json, ...)
    srv/         ->  /srv          the folders its services serve (copied with
                                   orchestrator.confine's rules)

Its first process is the boot script (labnet-boot, the container's command).
It waits, blocked on a FIFO of its folder, until the orchestrator has written
the files and wired the cables and writes to the FIFO; then it runs setup.sh,
waits until its interfaces are up, starts the supervisor and waits until its
services listen, prints one line, "labnet-boot: ready" or "labnet-boot:
failed: WHY", and sleeps. The orchestrator reads that line from the
container's log file (the engine's json-file log, on this machine).

So configuring a node is a few file writes here, and the nodes configure
themselves all at once instead of waiting their turn for the engine. A node
started again later (a restart) only sleeps: `lab repair` configures it, as
before. The folders are read-only inside the node, so nothing in a node can
plant a link there for the orchestrator to follow; they go with the lab.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import stat
import time
from pathlib import Path

from .. import contract
from ..errors import BackendError
from ..plan import PlanNode
from . import archive

STATE_ROOT = Path("/var/lib/labnet/docker")
FIFO = "boot.fifo"                        # in etc-labnet: what the boot script waits on
BOOT_ENV = "boot.env"                     # in etc-labnet: what this node waits for (sh)
MARK = "labnet-boot: "
READY = MARK + "ready"
BOOT_TIMEOUT = 30.0                       # setup, links up and services listening, per node
MAX_LOG_READ = 256 * 1024

#: the node's first process: a sh script of the node image (images/node/bin/labnet-boot;
#: sh, not Python, which would cost a start-up per node). boot.env defines IFACES and
#: calls check_program / wait_log; tests/unit/test_contract.py holds the script to
#: the paths and lines named here.
BOOT_PROGRAM = "labnet-boot"


def command() -> list[str]:
    return [BOOT_PROGRAM]


def lab_dir(lab: str, root: Path = STATE_ROOT) -> Path:
    return root / lab


def node_dir(lab: str, node: str, root: Path = STATE_ROOT) -> Path:
    return root / lab / node


def prepare(lab: str, node: str, root: Path = STATE_ROOT) -> dict[str, dict[str, str]]:
    """The node's folders, empty, and its FIFO; the binds that put them in the node."""
    base = node_dir(lab, node, root)
    if base.exists():
        shutil.rmtree(base)      # left by a deploy that was killed: nothing of it is used
    etc, srv = base / "etc-labnet", base / "srv"
    etc.mkdir(parents=True, mode=0o755)
    srv.mkdir(mode=0o755)
    os.mkfifo(etc / FIFO, 0o600)
    return {str(etc): {"bind": contract.CONFIG_DIR, "mode": "ro"},
            str(srv): {"bind": contract.SERVICE_ROOT, "mode": "ro"}}


def is_bound(lab: str, node: str, root: Path = STATE_ROOT) -> bool:
    return (node_dir(lab, node, root) / "etc-labnet").is_dir()


def host_path(lab: str, node: str, path: str, root: Path = STATE_ROOT) -> Path | None:
    """Where a file of the node's bound folders is on this machine (None: not in them)."""
    clean = os.path.normpath("/" + path.lstrip("/"))
    for inside, folder in ((contract.CONFIG_DIR, "etc-labnet"), (contract.SERVICE_ROOT, "srv")):
        if clean == inside or clean.startswith(inside + "/"):
            return node_dir(lab, node, root) / folder / os.path.relpath(clean, inside)
    return None


def write_file(target: Path, text: str) -> None:
    """Written beside, then renamed: a node reading it sees the old or the new file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    if target.name.endswith(".sh"):
        tmp.chmod(0o755)
    os.replace(tmp, target)


def copy_folder(source: Path, target: Path) -> None:
    """A folder of the lab into the node's srv/, as confine's walk takes it
    (files, folders, links that stay inside; modes kept; nothing else)."""
    found = archive.walk_folder(source)
    shutil.rmtree(target, ignore_errors=True)
    for entry in found.entries:
        dest = target / entry.rel if entry.rel else target
        if entry.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
            dest.chmod(entry.mode)
        elif entry.kind == "link":
            dest.symlink_to(entry.target)
        else:
            with open(source / entry.rel, "rb") as src, open(dest, "wb") as out:
                out.write(src.read(entry.size))   # no more than the walk counted, if it grew since
            dest.chmod(entry.mode)


def boot_env(node: PlanNode) -> str:
    """What the boot script of this node checks and waits for."""
    lines = [f"IFACES={shlex.quote(' '.join(i.name for i in node.interfaces))}"]
    lines += [f"check_program {shlex.quote(s.name)} {shlex.quote(s.command[0])}"
              for s in node.services if s.type == "command" and s.command]
    lines += [f"wait_log {shlex.quote(contract.log_file(s.name))}" for s in node.services if s.type != "command"]
    return "\n".join(lines) + "\n"


def release(lab: str, node: str, deadline: float, root: Path = STATE_ROOT) -> None:
    """Tell the node's boot script to go (its files are written, its cables made)."""
    fifo = node_dir(lab, node, root) / "etc-labnet" / FIFO
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:  # ENXIO: not reading yet
                raise BackendError(f"node {node} did not start its boot ({exc.strerror})") from exc
            time.sleep(0.01)
            continue
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                raise BackendError(f"{fifo} is not the FIFO labnet made")
            os.write(fd, b"go\n")
        finally:
            os.close(fd)
        return


def boot_line(log_path: str) -> str | None:
    """The boot script's "labnet-boot: ..." line in a json-file log, if it has printed it."""
    try:
        with open(log_path, "rb") as handle:
            data = handle.read(MAX_LOG_READ)
    except OSError:
        return None
    for raw in data.splitlines():
        try:
            line = json.loads(raw).get("log", "")
        except (ValueError, AttributeError):
            continue
        if isinstance(line, str) and line.startswith(MARK):
            return line.strip()
    return None


def wait(logs: dict[str, str], timeout_s: float = BOOT_TIMEOUT) -> dict[str, str]:
    """node -> why it did not boot (empty: all ready), from their log files."""
    pending = dict(logs)
    failed: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while pending:
        for node, path in list(pending.items()):
            line = boot_line(path)
            if line is None:
                continue
            del pending[node]
            if line != READY:
                failed[node] = line[len(MARK):].removeprefix("failed: ")
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    for node in pending:
        failed[node] = f"it did not finish configuring itself within {timeout_s:.0f} s"
    return failed


def remove(lab: str, nodes: list[str] | None = None, root: Path = STATE_ROOT) -> None:
    """The folders of a lab (or of some of its nodes); safe to repeat."""
    if nodes is None:
        shutil.rmtree(lab_dir(lab, root), ignore_errors=True)
        return
    for node in nodes:
        shutil.rmtree(node_dir(lab, node, root), ignore_errors=True)
