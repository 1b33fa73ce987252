#!/usr/bin/env python3
"""Opening a network namespace for netlink, and wiring veths between
namespaces: ours (a thread enters the namespace and makes the socket;
orchestrator/backend/netlink.py) against pyroute2's own `netns=` (a helper
process forked per handle), interleaved ABAB in the same run.

Works on throw-away namespaces (`ip netns add labnet-bnsN`), removed at the
end; root only. Nothing is sent anywhere.

    .venv/bin/python bench/bench_netns.py [--namespaces 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyroute2 import IPRoute  # noqa: E402

from orchestrator.backend import netlink  # noqa: E402

PREFIX = "labnet-bns"


def pyroute2_netns(path: str) -> IPRoute:
    return IPRoute(netns=path, flags=0)


def ours(path: str) -> IPRoute:
    return netlink.open_namespace(path)


def opens(opener: Callable[[str], IPRoute], paths: list[str]) -> float:
    """Open each namespace, read its links, close it: seconds in all."""
    t = time.perf_counter()
    for path in paths:
        with opener(path) as ipr:
            ipr.get_links()
    return time.perf_counter() - t


def wire(opener: Callable[[str], IPRoute], paths: list[str]) -> float:
    """A chain of veths (n0-n1, n1-n2, ...) made the way a deploy makes them:
    each namespace opened once, each veth made in one namespace with its peer
    put straight into the next; then every namespace opened again to read its
    links (what the readiness wait does), and the veths removed."""
    t = time.perf_counter()
    handles = [opener(p) for p in paths]
    for i in range(len(paths) - 1):
        with open(paths[i + 1]) as peer_ns:
            handles[i].link("add", ifname=f"b{i}a", kind="veth",
                            peer={"ifname": f"b{i}b", "net_ns_fd": peer_ns.fileno()})
    for h in handles:
        h.close()
    for path in paths:
        with opener(path) as ipr:
            ipr.get_links()
    elapsed = time.perf_counter() - t
    for i, path in enumerate(paths[:-1]):
        with ours(path) as ipr:
            for idx in ipr.link_lookup(ifname=f"b{i}a"):
                ipr.link("del", index=idx)
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    names = [f"{PREFIX}{i}" for i in range(args.namespaces)]
    paths = [f"/run/netns/{n}" for n in names]
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
        results: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, opener in (("pyroute2 netns=", pyroute2_netns), ("ours", ours)):
                results.setdefault(f"open  {label}", []).append(opens(opener, paths))
                results.setdefault(f"wire  {label}", []).append(wire(opener, paths))
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
    med = {k: statistics.median(v) for k, v in results.items()}
    n = args.namespaces
    print(f"{n} namespaces, {n - 1} veths, {args.rounds} rounds ABAB, medians")
    for k, v in med.items():
        print(f"  {k:24s} {v * 1000:8.1f} ms  ({v / n * 1000:.2f} ms per namespace)")
    for what in ("open", "wire"):
        print(f"  {what}: ours / pyroute2 netns= = {med[f'{what}  ours'] / med[f'{what}  pyroute2 netns=']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
