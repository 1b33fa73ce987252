"""Probes run from this process inside a node's network namespace: no exec.

A probe that needs nothing of its node but the network (ping, traceroute,
tcp, udp, http, chat, to a literal address) only has to make its sockets in
the node's network namespace: a thread of ours enters it (setns), the
probe's threads start from that thread and so live there too, and the
sockets they make belong to the node's network: its addresses, routes,
neighbours and firewall, exactly as for a probe run inside the node. The
code is the same labnode.probe the node image is built from
(images/node), run by this Python; what it costs is the probes' own work,
not an engine round, a runtime's exec and a Python start-up per node
(about 0.14 s of CPU each on this machine).

Used when the backend can name the namespace (a node on this machine, we
are root) and the probes qualify; anything else (dns, dhcp, neigh, a name
to resolve, an image whose programs we do not have) goes through the node
as before. The namespace is entered only if it is not this process's own:
a probe never runs in the host's network.
"""

from __future__ import annotations

import ctypes
import importlib
import ipaddress
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import PROJECT_ROOT

#: the in-node programs, as the node image is built from them
NODE_PROGRAMS = PROJECT_ROOT / "images" / "node"
#: probe kinds that need the node's network and nothing else of it (no file, no program)
NETWORK_ONLY = frozenset({"ping", "traceroute", "tcp", "udp", "http", "chat"})
CLONE_NEWNET = 0x40000000
#: probes of one batch running at once (as the in-node batch)
MAX_THREADS = 32

_lock = threading.Lock()
_probe: Any = None          # labnode.probe.__main__, once loaded; False: not available
_libc: ctypes.CDLL | None = None


def _literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return True


def qualifies(argv: list[str]) -> bool:
    """Whether a probe (its labnode.probe arguments) can run from here: a
    network-only kind aimed at a literal address."""
    if len(argv) < 2 or argv[0] not in NETWORK_ONLY:
        return False
    if argv[0] == "http":
        host = urlsplit(argv[1]).hostname
        return host is not None and _literal(host)
    return _literal(argv[1])


def _programs() -> Any:
    """labnode.probe.__main__ of images/node (None when this checkout has none)."""
    global _probe
    with _lock:
        if _probe is None:
            _probe = False
            if (NODE_PROGRAMS / "labnode" / "probe" / "__main__.py").is_file():
                if str(NODE_PROGRAMS) not in sys.path:
                    sys.path.append(str(NODE_PROGRAMS))
                try:
                    module = importlib.import_module("labnode.probe.__main__")
                except ImportError:
                    module = None
                # the programs of this checkout, not another labnode found on the path
                if module is not None and Path(module.__file__ or "").resolve().is_relative_to(NODE_PROGRAMS):
                    _probe = module
        return _probe or None


def _own_netns() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def run_batch(netns: str, jobs: list[list[str]]) -> list[list[Any]] | None:
    """Run the probes (each its labnode.probe arguments) at once inside the
    network namespace at `netns`: [exit code, result, seconds] per job, as
    the in-node batch gives them. None when they cannot run from here (the
    programs are missing, the namespace cannot be entered, or it is this
    process's own): the caller runs them in the node instead."""
    global _libc
    module = _programs()
    if module is None or not all(qualifies(argv) for argv in jobs):
        return None
    try:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_ino == _own_netns():
            return None       # a pid reused by a process of the host: never probe from here
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        module.preload({argv[0] for argv in jobs})   # imported here, before threads share them
        out: list[list[Any] | None] = [None] * len(jobs)
        entered: dict[str, Any] = {}
        gate = threading.Semaphore(MAX_THREADS)
        parser = module.build_parser()      # one parser (building one costs more than a probe's work)
        parsed: list[Any] = []
        for i, argv in enumerate(jobs):     # parsed here, one after the other: argparse is not made for threads
            try:
                parsed.append(parser.parse_args(argv))
            except module.UsageError as exc:
                parsed.append(None)
                out[i] = [2, {"probe": argv[0], "ok": False, "error": str(exc)}, 0.0]

        def one(i: int, args: Any) -> None:
            with gate:
                t = time.monotonic()
                try:
                    result = module.run(args)
                    code = 0 if result.get("ok") else 1
                except module.UsageError as exc:
                    result, code = {"probe": args.kind, "ok": False, "error": str(exc)}, 2
                except Exception as exc:  # a probe's own failure is its result, as in the node
                    result, code = {"probe": args.kind, "ok": False,
                                    "error": f"internal error: {type(exc).__name__}: {exc}"}, 1
                out[i] = [code, result, time.monotonic() - t]

        def inside() -> None:
            assert _libc is not None
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                entered["error"] = OSError(ctypes.get_errno(), "setns")
                return
            # threads started from here share this thread's namespaces: the probes run in the node's
            workers = [threading.Thread(target=one, args=(i, args), name="labnet-probe")
                       for i, args in enumerate(parsed) if args is not None]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

        # a thread of its own: it ends in the node's namespace, and no other work ever runs on it
        host = threading.Thread(target=inside, name="labnet-netns-probe")
        host.start()
        host.join()
        if "error" in entered or any(r is None for r in out):
            return None
        return [r for r in out if r is not None]
    finally:
        os.close(fd)
