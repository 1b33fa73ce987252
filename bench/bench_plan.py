#!/usr/bin/env python3
"""Planning generated labs: `lab plan --format json` end to end, where the time
goes, and our SPF against networkx's in the same run.

Two shapes: a ring with chords (each third router also linked to the one n/4
ahead, unequal costs) and a square grid; every router has a LAN with one
host (so n routers make 3n nodes), `routing: computed`. For each size:

- end to end: `python -m orchestrator.cli plan DIR --format json > /dev/null`,
  wall time, median of --rounds runs;
- in process, one compile: reading the file, the compile's steps, the SPF
  from every router (its share of the compile), the JSON dump; and the
  compile without its routes per router, to show that everything but the
  all-pairs SPF grows no faster than n log n;
- our SPF from every router against networkx's single_source_dijkstra from
  every router on the same graph, interleaved (ours, theirs, ours, ...),
  medians and their ratio (networkx: `pip install '.[bench]'`).

    .venv/bin/python bench/bench_plan.py [--sizes 100 1000 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orchestrator.compile as compiler  # noqa: E402
from orchestrator.compile import routing  # noqa: E402
from orchestrator.model.load import read_lab  # noqa: E402

GOAL_S = 3.0          # lab plan --format json of 1000 routers, end to end


def ring_with_chords(n: int) -> list[tuple[int, int, int]]:
    edges = [(i, (i + 1) % n, 10 + i % 7) for i in range(n)]
    step = max(2, n // 4)
    edges += [(i, (i + step) % n, 25 + i % 11) for i in range(0, n, 3) if (i + step) % n != i]
    return list({(min(a, b), max(a, b)): (a, b, c) for a, b, c in edges if a != b}.values())


def grid(n: int) -> list[tuple[int, int, int]]:
    side = math.isqrt(n)
    edges = []
    for r in range(side):
        for c in range(side):
            i = r * side + c
            if c + 1 < side:
                edges.append((i, i + 1, 10 + (i % 5)))
            if r + 1 < side:
                edges.append((i, i + side, 10 + (i % 3)))
    return edges


def lab_text(n: int, edges: list[tuple[int, int, int]]) -> str:
    lines = ["name: gen", "routing: computed", "pools: {lan: 10.0.0.0/8, p2p: 172.16.0.0/12}", "nodes:"]
    for i in range(n):
        lines += [f"  r{i}: {{kind: router}}", f"  h{i}: {{kind: host}}"]
    lines.append("lans:")
    lines += [f"  lan{i}: {{members: [r{i}, h{i}]}}" for i in range(n)]
    lines.append("links:")
    lines += [f"  - {{a: r{a}, b: r{b}, cost: {c}}}" for a, b, c in edges]
    return "\n".join(lines) + "\n"


def end_to_end(folder: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchestrator.cli", "plan", str(folder), "--format", "json"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def phases(folder: Path) -> dict[str, float]:
    """One compile, timed step by step (the compiler's own functions, wrapped)."""
    spent: dict[str, float] = {}
    originals = {}

    def wrap(name: str) -> None:
        fn = originals[name] = getattr(compiler, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        setattr(compiler, name, timed)

    for name in ("build_wiring", "assign", "resolve_routes", "computed_routes", "build_plan"):
        wrap(name)
    try:
        t = time.perf_counter()
        lab = read_lab(folder)
        spent["read"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = compiler.compile_lab(lab).result()
        spent["compile"] = time.perf_counter() - t
        t = time.perf_counter()
        plan.model_dump_json(indent=2)
        spent["dump"] = time.perf_counter() - t
    finally:
        for name, fn in originals.items():
            setattr(compiler, name, fn)
    spent["routes"] = sum(len(g.to) for node in plan.nodes.values() for g in node.computed_routes)
    return spent


def spf_inputs(folder: Path) -> list[list[routing.Edge]]:
    from orchestrator.compile.addressing import assign
    from orchestrator.compile.problems import Problems
    from orchestrator.compile.wiring import build_wiring
    lab = read_lab(folder)
    out = Problems()
    wiring = build_wiring(lab.nodes, lab.lans, lab.links, lab.broken, out)
    addressing = assign(wiring, lab.header.pools, out)
    routers = sorted(n for n, s in wiring.nodes.items() if s.kind == "router")
    return routing.router_graph(wiring, addressing, routers)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each function, run A B A B ... so load affects both alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["ring", "grid"], choices=["ring", "grid"])
    args = parser.parse_args()
    try:
        import networkx as nx
    except ImportError:
        nx = None
        print("networkx is not installed (pip install '.[bench]'): no baseline column", file=sys.stderr)
    print(f"machine: {os.cpu_count()} cores; end-to-end = median of {args.rounds} runs of "
          "`lab plan --format json`")
    head = (f"{'shape':<6}{'routers':>8}{'links':>7}{'routes':>10}{'e2e s':>8}{'read':>7}{'compile':>8}"
            f"{'spf+rt':>8}{'build':>7}{'dump':>7}{'rest/rtr µs':>12}{'spf-all':>9}{'nx-all':>9}{'ratio':>7}")
    print(head)
    goal_met = None
    with tempfile.TemporaryDirectory(prefix="labnet-bench-plan-") as tmp:
        for shape in args.shapes:
            gen = ring_with_chords if shape == "ring" else grid
            for size in args.sizes:
                edges = gen(size)
                n = max(max(a, b) for a, b, _ in edges) + 1
                folder = Path(tmp) / f"{shape}{n}"
                folder.mkdir()
                (folder / "lab.yml").write_text(lab_text(n, edges))
                e2e = statistics.median(end_to_end(folder) for _ in range(args.rounds))
                p = phases(folder)
                rest = p["compile"] - p["computed_routes"]
                adj = spf_inputs(folder)
                nbrs = routing.neighbours(adj)
                fns: dict[str, Callable[[], object]] = {
                    "ours": lambda nbrs=nbrs: [routing.spf(nbrs, s) for s in range(len(nbrs))]}
                if nx is not None:
                    g = nx.Graph()
                    g.add_nodes_from(range(len(adj)))
                    for u, out in enumerate(adj):
                        for e in out:
                            g.add_edge(u, e.to, weight=e.cost)
                    fns["nx"] = lambda g=g: [nx.single_source_dijkstra(g, s) for s in range(g.number_of_nodes())]
                med = interleaved(fns, args.rounds if n <= 1000 else 1)
                theirs = med.get("nx", float("nan"))
                print(f"{shape:<6}{n:>8}{len(edges):>7}{int(p['routes']):>10}{e2e:>8.2f}{p['read']:>7.2f}"
                      f"{p['compile']:>8.2f}{p['computed_routes']:>8.2f}{p['build_plan']:>7.2f}{p['dump']:>7.2f}"
                      f"{rest / n * 1e6:>12.0f}{med['ours']:>9.2f}{theirs:>9.2f}{med['ours'] / theirs:>7.2f}")
                if n == 1000 and shape == "ring":
                    goal_met = e2e <= GOAL_S
    print("e2e: the whole command; read: YAML -> parsed lab; compile: every check and the plan "
          "(spf+rt: computed routes, SPF from every router, shared with a second process on 2+ cores; "
          "build: the Plan assembled); dump: the plan as JSON; rest/rtr: compile less its routes, per router "
          "(flat or slowly growing = n log n or better); spf-all: our SPF from every router, one process; "
          "nx-all: networkx single_source_dijkstra from every router; ratio = ours / networkx")
    if goal_met is not None:
        print(f"goal: lab plan --format json of a 1000-router ring <= {GOAL_S:g} s -> "
              f"{'met' if goal_met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
