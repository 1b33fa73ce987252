"""SPF speed: our Dijkstra against networkx on the same random graphs, same run.

    python3 bench/bench_spf.py [--sizes 1000 10000] [--roots 7] [--repeat 3] [--seed 1]

Graphs: a random spanning tree plus random extra links up to an average
degree of ~4, integer costs 1..100 (many equal-cost ties).  For each of
--roots roots both implementations run from the same router, --repeat
times, interleaved; the median over all runs is reported.

- ours:      labnode.routing.spf.shortest_paths on its compact graph, i.e.
             distances plus the set of ECMP first hops to every router;
- networkx:  single_source_dijkstra(G, root) (distances and one path each);
- nx-length: single_source_dijkstra_path_length (distances only), shown
             for reference.

The goal (issue 5) is ours <= 0.5 x networkx.  Also printed: the cost of
building our graph from an LSDB of LSAs (two-way check included), which the
daemon pays once per SPF run.  networkx is a bench dependency only.
"""
from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import sys
import time

sys.dont_write_bytecode = True  # images/node is the image build context: keep it clean
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "images" / "node"))

from labnode.routing.lsa import LSA, Link  # noqa: E402
from labnode.routing.spf import build_graph, shortest_paths  # noqa: E402

try:
    import networkx as nx
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("bench_spf needs networkx (pip install networkx): it is the yardstick")


def random_graph(n: int, seed: int, degree: float = 4.0) -> dict[tuple[int, int], int]:
    """Undirected edges {(a, b): cost}, connected, ~degree * n / 2 edges."""
    rng = random.Random(seed)
    edges: dict[tuple[int, int], int] = {}
    for i in range(1, n):
        j = rng.randrange(i)
        edges[(j, i)] = rng.randint(1, 100)
    target = int(degree * n / 2)
    while len(edges) < target:
        a, b = rng.sample(range(n), 2)
        edges[(min(a, b), max(a, b))] = rng.randint(1, 100)
    return edges


def router_id(i: int) -> int:
    return 0x0A000000 + i  # 10.0.0.0 + i, as the daemon would see router ids


def as_lsdb(n: int, edges: dict[tuple[int, int], int]) -> dict[int, LSA]:
    links: dict[int, list[Link]] = {router_id(i): [] for i in range(n)}
    for (a, b), cost in edges.items():
        links[router_id(a)].append(Link(router_id(b), cost))
        links[router_id(b)].append(Link(router_id(a), cost))
    return {rid: LSA(rid, 1, 0, tuple(out)) for rid, out in links.items()}


def as_networkx(n: int, edges: dict[tuple[int, int], int]):
    graph = nx.Graph()
    graph.add_nodes_from(router_id(i) for i in range(n))
    graph.add_weighted_edges_from((router_id(a), router_id(b), c) for (a, b), c in edges.items())
    return graph


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench(n: int, roots: int, seed: int, repeat: int) -> dict:
    edges = random_graph(n, seed)
    lsdb = as_lsdb(n, edges)
    build_s, graph = timed(build_graph, lsdb)
    nxg = as_networkx(n, edges)
    rng = random.Random(seed + 1)
    ours, theirs, lengths = [], [], []
    for root in (router_id(rng.randrange(n)) for _ in range(roots)):
        for _ in range(repeat):  # interleaved, so both see the same machine load
            t_ours, (dist, hops) = timed(shortest_paths, graph, root)
            t_nx, (nx_dist, _) = timed(nx.single_source_dijkstra, nxg, root)
            t_len, _ = timed(nx.single_source_dijkstra_path_length, nxg, root)
            if dist != nx_dist:
                raise SystemExit(f"distances differ from networkx for root {root}")
            ours.append(t_ours)
            theirs.append(t_nx)
            lengths.append(t_len)
    ours_ms = statistics.median(ours) * 1000
    nx_ms = statistics.median(theirs) * 1000
    return {"routers": n, "links": len(edges), "ours_ms": ours_ms, "nx_ms": nx_ms,
            "nx_len_ms": statistics.median(lengths) * 1000, "ratio": ours_ms / nx_ms,
            "build_ms": build_s * 1000, "ecmp": sum(1 for h in hops.values() if len(h) > 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--roots", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per root")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, networkx {nx.__version__}, "
          f"median of {args.roots} roots x {args.repeat} runs\n")
    header = f"{'routers':>8} {'links':>7} {'ours ms':>9} {'networkx ms':>12} {'ratio':>6} " \
             f"{'nx-length ms':>13} {'graph build ms':>15} {'ECMP routers':>13}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for n in args.sizes:
        r = bench(n, args.roots, args.seed, args.repeat)
        worst = max(worst, r["ratio"])
        print(f"{r['routers']:>8} {r['links']:>7} {r['ours_ms']:>9.2f} {r['nx_ms']:>12.2f} {r['ratio']:>6.2f} "
              f"{r['nx_len_ms']:>13.2f} {r['build_ms']:>15.2f} {r['ecmp']:>13}")
    print(f"\ngoal: ours <= 0.5 x networkx single_source_dijkstra -> {'met' if worst <= 0.5 else 'NOT met'}"
          f" (worst ratio {worst:.2f})")
    return 0 if worst <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
