#!/usr/bin/env python3
"""Reconcile against redeploy: one host added to a running labs/five-subnets
(12 nodes), changed in place by `lab deploy` against `lab deploy --force`,
interleaved (reconcile, redeploy, reconcile, ...), medians and their ratio.

Each round starts from the lab as shipped, running; the host added is pc7 on
LAN3 (an address, a gateway, a cable to s3), so the switch s3 gets a port and
every node's /etc/hosts a name. Goal: the reconcile at most 0.25x the redeploy.

    .venv/bin/python bench/bench_reconcile.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402

NAME = "bench-reconcile"
GOAL = 0.25
PC7 = "  pc7:\n    kind: host\n    interfaces: {eth0: 192.168.3.12/24}\n    gateway: 192.168.3.1\n"


def with_pc7(text: str) -> str:
    nodes = text.index("\nnodes:\n") + len("\nnodes:\n")
    text = text[:nodes] + PC7 + text[nodes:]
    return text.replace("\nlinks:\n", "\nlinks:\n  - [pc7, s3]\n", 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    backend = api.default_backend()
    folder = Path(tempfile.mkdtemp(prefix="labnet-bench-")) / NAME
    shutil.copytree(ROOT / "labs" / "five-subnets", folder)
    lab_file = folder / "lab.yml"
    plain = lab_file.read_text()
    added = with_pc7(plain)
    times: dict[str, list[float]] = {"reconcile": [], "redeploy": []}
    api.destroy(NAME, backend=backend)
    try:
        api.deploy(folder, name=NAME, backend=backend)
        for _ in range(args.rounds):
            for how in ("reconcile", "redeploy"):
                lab_file.write_text(added)
                t = time.perf_counter()
                result = api.deploy(folder, name=NAME, backend=backend, force=how == "redeploy")
                times[how].append(time.perf_counter() - t)
                if how == "reconcile":
                    assert result.reconciled is not None and result.reconciled.added == ["pc7"], result.reconciled
                lab_file.write_text(plain)
                api.deploy(folder, name=NAME, backend=backend)   # back as shipped (in place, not timed)
    finally:
        api.destroy(NAME, backend=backend)
        shutil.rmtree(folder.parent, ignore_errors=True)
    ours, theirs = statistics.median(times["reconcile"]), statistics.median(times["redeploy"])
    print(f"one host added to five-subnets (12 nodes), {args.rounds} interleaved rounds, medians:")
    print(f"  lab deploy (in place)   {ours:6.2f} s   {' '.join(f'{t:.2f}' for t in times['reconcile'])}")
    print(f"  lab deploy --force      {theirs:6.2f} s   {' '.join(f'{t:.2f}' for t in times['redeploy'])}")
    ratio = ours / theirs
    print(f"  ratio {ratio:.2f}; goal <= {GOAL} -> {'met' if ratio <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
