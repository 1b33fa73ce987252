#!/usr/bin/env python3
"""What the command line adds to everyday commands, and all-pairs reachability
end to end, on labs/five-subnets (12 nodes, 6 hosts, 30 host pairs).

For `lab status NAME`, `lab ping NAME`, `lab test NAME` (its all_pairs and
other checks) and `lab destroy NAME`: the command run as a user runs it (a
fresh `lab` process, output discarded) against the same library call made in
this process with a backend already open, interleaved (CLI, library, CLI,
library, ...), medians of --rounds. A destroy is measured on a lab deployed
again before each one (the deploy is not counted).

Baseline for all-pairs: Mininet's `pingAll()` (Debian package `mininet`,
installed with apt-get when missing; skipped with a reason when it cannot run)
on 6 hosts (LinearTopo k=3, n=2: three Linux bridges, two hosts each), built
once, `pingAll` timed in the same rounds.

Goals (issue 14): each command within 0.3 s of the library call; `lab ping`
and `lab test` of all pairs within 1.0 s end to end.

    .venv/bin/python bench/bench_ops.py [--rounds 3] [--no-mininet]

Needs root and the engine; the lab is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import mininet_ready  # noqa: E402

from orchestrator import lab as api  # noqa: E402
from orchestrator import operate  # noqa: E402
from orchestrator import status as lab_status  # noqa: E402

NAME = "t-ops-bench"
LAB = ROOT / "labs" / "five-subnets"
CLI = str(ROOT / ".venv" / "bin" / "lab")

MININET_PY = """
import json, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import LinearTopo

setLogLevel("error")
net = Mininet(topo=LinearTopo(k=3, n=2), switch=LinuxBridge, controller=None, autoSetMacs=True)
net.start()
try:
    net.pingAll()                   # the first round resolves ARP, like our warm-up
    for line in sys.stdin:          # one round per line asked
        t = time.perf_counter()
        loss = net.pingAll()
        print(json.dumps({"seconds": time.perf_counter() - t, "loss": loss, "hosts": len(net.hosts)}), flush=True)
finally:
    net.stop()
"""


class Mininet:
    """A Mininet of 6 hosts kept up for the run: pingAll on request."""

    def __init__(self) -> None:
        self.script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        self.script.write(MININET_PY)
        self.script.close()
        self.proc = subprocess.Popen(["/usr/bin/python3", self.script.name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ping_all(self) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("Mininet ended: " + (self.proc.stderr.read() if self.proc.stderr else "")[-300:])
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.script.name)
        subprocess.run(["mn", "-c"], capture_output=True)


def cli(*args: str) -> float:
    t = time.perf_counter()
    done = subprocess.run([CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"lab {' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return took


def timed(call: Callable[[], Any], check: Callable[[Any], bool] = lambda _: True) -> float:
    t = time.perf_counter()
    got = call()
    took = time.perf_counter() - t
    if not check(got):
        raise SystemExit(f"the library call gave an unexpected result: {got!r}"[:400])
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-mininet", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (the engine, network namespaces)", file=sys.stderr)
        return 2
    backend = api.default_backend()
    why_not = "not asked (--no-mininet)" if args.no_mininet else mininet_ready()
    mininet = Mininet() if why_not is None else None
    figures: dict[str, dict[str, list[float]]] = {op: {"cli": [], "lib": []}
                                                 for op in ("status", "ping", "test", "destroy")}
    mn: list[float] = []

    def all_ok(results: list[Any]) -> bool:
        return bool(results) and all(r.ok for r in results)

    def lib_status() -> Any:
        api.check_deployed(NAME, backend=backend)
        return lab_status.report(NAME, backend=backend)

    library = {"status": lambda: timed(lib_status),
               "ping": lambda: timed(lambda: operate.ping_all(NAME, backend=backend), all_ok),
               "test": lambda: timed(lambda: operate.run_lab_tests(NAME, backend=backend), all_ok)}
    api.destroy(NAME, backend=backend)
    try:
        api.deploy(LAB, name=NAME, backend=backend)
        operate.ping_all(NAME, backend=backend)     # ARP resolved before the first timed round
        for _ in range(args.rounds):
            for op in ("status", "ping", "test"):
                figures[op]["cli"].append(cli(op, NAME, "-q"))
                figures[op]["lib"].append(library[op]())
            if mininet is not None:
                mn.append(mininet.ping_all()["seconds"])
            figures["destroy"]["cli"].append(cli("destroy", NAME, "-q"))
            api.deploy(LAB, name=NAME, backend=backend)
            figures["destroy"]["lib"].append(timed(lambda: api.destroy(NAME, backend=backend)))
            api.deploy(LAB, name=NAME, backend=backend)
            operate.ping_all(NAME, backend=backend)
    finally:
        api.destroy(NAME, backend=backend)
        if mininet is not None:
            mininet.close()
    med = {op: {k: statistics.median(v) for k, v in f.items()} for op, f in figures.items()}
    print(f"five-subnets (12 nodes, 30 host pairs), medians of {args.rounds} interleaved rounds:")
    print(f"  {'command':<22}{'lab CLI':>9}{'library':>9}{'CLI adds':>10}   goal: adds <= 0.30 s")
    met = True
    for op, m in med.items():
        adds = m["cli"] - m["lib"]
        ok = adds <= 0.30
        met &= ok
        print(f"  lab {op + ' NAME':<18}{m['cli']:8.2f}s{m['lib']:8.2f}s{adds:9.2f}s   {'met' if ok else 'NOT met'}")
    for op in ("ping", "test"):
        ok = med[op]["cli"] <= 1.0
        met &= ok
        rounds = ", ".join(f"{x:.2f}" for x in figures[op]["cli"])
        print(f"  all pairs, lab {op}, end to end: {med[op]['cli']:.2f} s (rounds {rounds})"
              f"   goal <= 1.0 s: {'met' if ok else 'NOT met'}")
    if mininet is not None:
        m = statistics.median(mn)
        print(f"  Mininet pingAll, 6 hosts (30 pairs), in its own process: {m:.2f} s "
              f"(rounds {', '.join(f'{x:.2f}' for x in mn)}); lab ping / pingAll {med['ping']['cli'] / m:.1f}x, "
              f"library ping_all / pingAll {med['ping']['lib'] / m:.1f}x")
    else:
        print(f"  Mininet pingAll: not measured ({why_not})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
