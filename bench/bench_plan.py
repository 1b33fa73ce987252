#!/usr/bin/env python3
"""Planning time for generated labs with computed routes.

Two shapes: a ring with chords (each router also linked to the one n/4 ahead,
unequal costs) and a square grid; each router has a LAN with one host. For
each size the script times validation (load: parse + every check) and
planning (addressing + Dijkstra from every router + routes) separately, and
compares our Dijkstra with networkx's single_source_dijkstra on the same
router graph in the same run (networkx: `pip install '.[bench]'`).

    .venv/bin/python bench/bench_plan.py [--sizes 10 100 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.addressing import assign  # noqa: E402
from orchestrator.load import load_text  # noqa: E402
from orchestrator.plan import make_plan  # noqa: E402
from orchestrator.routing import dijkstra, router_graph  # noqa: E402
from orchestrator.wiring import build_wiring  # noqa: E402


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


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    try:
        import networkx as nx
    except ImportError:
        nx = None
    print(f"{'shape':<8}{'routers':>8}{'links':>7}{'routes':>9}{'load s':>9}{'plan s':>9}"
          f"{'spf-all s':>11}{'nx-all s':>10}{'ratio':>7}")
    for shape, gen in (("ring", ring_with_chords), ("grid", grid)):
        for n in args.sizes:
            edges = gen(n)
            n = max(max(a, b) for a, b, _ in edges) + 1
            text = lab_text(n, edges)
            repeat = 3 if n <= 100 else 1
            topo = load_text(text)
            load_s = best_of(lambda: load_text(text), repeat)
            plan_s = best_of(lambda: make_plan(topo), repeat)
            plan = make_plan(topo)
            routes = sum(len(node.routes) + sum(len(g.to) for g in node.computed_routes)
                         for node in plan.nodes.values())

            wiring, _ = build_wiring(topo.nodes, topo.lans, topo.links)
            addressing, _, _ = assign(wiring, topo.pools)
            routers = sorted(x for x, s in wiring.nodes.items() if s.kind == "router")
            adj = router_graph(wiring, addressing, routers)
            ours = best_of(lambda: [dijkstra(adj, s) for s in range(len(adj))], repeat)
            theirs, ratio = float("nan"), float("nan")
            if nx is not None:
                g = nx.Graph()
                for u, edges_u in enumerate(adj):
                    for e in edges_u:
                        g.add_edge(u, e.to, weight=e.cost)
                theirs = best_of(lambda: [nx.single_source_dijkstra(g, s) for s in range(len(adj))], repeat)
                ratio = ours / theirs
            print(f"{shape:<8}{n:>8}{len(edges):>7}{routes:>9}{load_s:>9.3f}{plan_s:>9.3f}"
                  f"{ours:>11.3f}{theirs:>10.3f}{ratio:>7.2f}")
    print("load = parse + validate (incl. addressing); plan = addressing + SPF from every router + routes;")
    print("spf-all = our Dijkstra from every router; nx-all = networkx single_source_dijkstra from every router")


if __name__ == "__main__":
    main()
