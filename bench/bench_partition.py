#!/usr/bin/env python3
"""Placing a big lab on k machines: how many links would cross between
machines (each one a VXLAN tunnel), and how evenly the nodes are spread.

The simulation behind docs/scaling.md. Generated labs of 1 000 to 10 000
nodes (a campus tree, an ISP-like graph, a ring of routers with chords, a
grid), each router with a LAN; every LAN is a switch node (as labnet deploys
it: a bridge in a node of its own) joined to its members. Each lab is placed
on k = 2..16 machines by:

    spread   nodes dealt round-robin in name order: what a scheduler that
             knows nothing of links does (Kubernetes spreads pods so)
    blocks   contiguous blocks grown breadth-first, no refinement
    min-cut  recursive bisection: breadth-first halves refined by
             Fiduccia-Mattheyses passes (moves that cut fewer links, each
             half within 3 % of its share of nodes)

and prints, per lab, k and method: the tunnels between machines (a cable
between two machines is one; a LAN with members on m machines besides its
switch's costs m), as a share of all links, the busiest machine's nodes against the mean, and the
time the placement took. Pure computation; nothing is deployed.

    python3 bench/bench_partition.py [--sizes 1000,10000] [--k 2,4,8,16] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BALANCE = 0.03       # a half may hold this much more than its share of nodes
FM_PASSES = 4


@dataclass
class Lab:
    """Nodes 0..n-1 and their links (an edge per cable: a switch port counts once)."""

    name: str
    kinds: list[str] = field(default_factory=list)          # router, host, switch
    adj: list[list[int]] = field(default_factory=list)

    def add(self, kind: str) -> int:
        self.kinds.append(kind)
        self.adj.append([])
        return len(self.kinds) - 1

    def link(self, a: int, b: int) -> None:
        self.adj[a].append(b)
        self.adj[b].append(a)

    def links(self) -> int:
        return sum(len(a) for a in self.adj) // 2

    def with_lan(self, router: int, hosts: int) -> None:
        """A LAN on `router`: a switch node, the router and `hosts` hosts on it."""
        sw = self.add("switch")
        self.link(router, sw)
        for _ in range(hosts):
            self.link(self.add("host"), sw)


# --- generated labs -------------------------------------------------------------

def campus(nodes: int, rng: random.Random) -> Lab:
    """Two core routers, distribution routers on both cores, access routers on
    two distribution routers each, a LAN of 6 hosts on each access router."""
    lab = Lab("campus")
    per_access = 1 + 1 + 6                 # router, switch, hosts
    access = max(4, nodes // per_access)
    dist_count = max(2, access // 12)
    cores = [lab.add("router"), lab.add("router")]
    lab.link(cores[0], cores[1])
    dist = []
    for _ in range(dist_count):
        d = lab.add("router")
        for c in cores:
            lab.link(d, c)
        dist.append(d)
    for i in range(access):
        a = lab.add("router")
        lab.link(a, dist[i % dist_count])
        lab.link(a, dist[(i + 1) % dist_count])
        lab.with_lan(a, 6)
    return lab


def isp(nodes: int, rng: random.Random) -> Lab:
    """Routers joined by preferential attachment (2 links each, a few hubs),
    a LAN of one host on each: the shape of an ISP's or the Internet's graph."""
    lab = Lab("isp")
    routers = max(3, nodes // 3)
    ids = [lab.add("router") for _ in range(routers)]
    lab.link(ids[0], ids[1])
    lab.link(ids[1], ids[2])
    lab.link(ids[0], ids[2])
    ends = [ids[0], ids[1], ids[1], ids[2], ids[0], ids[2]]   # one entry per link end
    for r in ids[3:]:
        peers: set[int] = set()
        while len(peers) < 2:
            peers.add(rng.choice(ends))
        for p in peers:
            lab.link(r, p)
            ends += [r, p]
    for r in ids:
        lab.with_lan(r, 1)
    return lab


def ring(nodes: int, rng: random.Random) -> Lab:
    """A ring of routers with a chord from every third to a quarter round,
    one host LAN each (bench_plan.py's lab)."""
    lab = Lab("ring+chords")
    n = max(4, nodes // 3)
    ids = [lab.add("router") for _ in range(n)]
    seen = set()
    for i in range(n):
        for j in ((i + 1) % n, (i + max(2, n // 4)) % n if i % 3 == 0 else None):
            if j is None or j == i or (min(i, j), max(i, j)) in seen:
                continue
            seen.add((min(i, j), max(i, j)))
            lab.link(ids[i], ids[j])
    for r in ids:
        lab.with_lan(r, 1)
    return lab


def grid(nodes: int, rng: random.Random) -> Lab:
    """A square grid of routers, one host LAN each."""
    lab = Lab("grid")
    side = max(2, math.isqrt(nodes // 3))
    ids = [[lab.add("router") for _ in range(side)] for _ in range(side)]
    for r in range(side):
        for c in range(side):
            if c + 1 < side:
                lab.link(ids[r][c], ids[r][c + 1])
            if r + 1 < side:
                lab.link(ids[r][c], ids[r + 1][c])
    for row in ids:
        for r in row:
            lab.with_lan(r, 1)
    return lab


TOPOLOGIES: list[Callable[[int, random.Random], Lab]] = [campus, isp, ring, grid]


# --- placements -----------------------------------------------------------------

def spread(lab: Lab, k: int) -> list[int]:
    return [i % k for i in range(len(lab.kinds))]


def _bfs_order(lab: Lab, members: list[int], inside: set[int]) -> list[int]:
    """Members in breadth-first order from a far-out one (two sweeps), every
    component of the part in turn."""
    order: list[int] = []
    seen: set[int] = set()
    for seed in members:
        if seed in seen:
            continue
        start = seed
        for _ in range(2):      # pseudo-peripheral start: the last one reached
            reached = _sweep(lab, start, inside)
            start = reached[-1]
        for v in _sweep(lab, start, inside):
            if v not in seen:
                seen.add(v)
                order.append(v)
    return order


def _sweep(lab: Lab, start: int, inside: set[int]) -> list[int]:
    out, seen, queue = [start], {start}, deque([start])
    while queue:
        v = queue.popleft()
        for w in lab.adj[v]:
            if w in inside and w not in seen:
                seen.add(w)
                out.append(w)
                queue.append(w)
    return out


def blocks(lab: Lab, k: int) -> list[int]:
    everyone = list(range(len(lab.kinds)))
    order = _bfs_order(lab, everyone, set(everyone))
    size = math.ceil(len(order) / k)
    place = [0] * len(order)
    for rank, v in enumerate(order):
        place[v] = rank // size
    return place


def _fm(lab: Lab, side: dict[int, int], want_left: float) -> None:
    """Fiduccia-Mattheyses passes on a bisection of the nodes in `side`
    (0 left, 1 right): move the node whose move cuts most links, keeping each
    part within BALANCE of its share; each pass keeps its best prefix."""
    total = len(side)
    want_right = total - want_left
    lo = max(want_left * (1 - BALANCE), total - want_right * (1 + BALANCE))
    hi = min(want_left * (1 + BALANCE), total - want_right * (1 - BALANCE))
    for _ in range(FM_PASSES):
        left = sum(1 for s in side.values() if s == 0)
        gain = {}
        for v, s in side.items():
            g = 0
            for w in lab.adj[v]:
                if w in side:
                    g += 1 if side[w] != s else -1
            gain[v] = g
        heap = [(-g, v) for v, g in gain.items()]
        heapq.heapify(heap)
        locked: set[int] = set()
        moves: list[int] = []
        best, best_at, run = 0, 0, 0
        while heap:
            neg, v = heapq.heappop(heap)
            if v in locked or -neg != gain[v]:
                continue
            to_left = side[v] == 1
            new_left = left + (1 if to_left else -1)
            if not lo <= new_left <= hi:
                locked.add(v)    # cannot move this pass without unbalancing
                continue
            locked.add(v)
            run += gain[v]
            s = side[v]
            side[v] = 1 - s
            left = new_left
            moves.append(v)
            for w in lab.adj[v]:
                if w in side and w not in locked:
                    gain[w] += 2 if side[w] == s else -2
                    heapq.heappush(heap, (-gain[w], w))
            if run > best:
                best, best_at = run, len(moves)
        for v in moves[best_at:]:      # undo the moves after the best point
            side[v] = 1 - side[v]
        if best <= 0:
            break


def min_cut(lab: Lab, k: int) -> list[int]:
    place = [0] * len(lab.kinds)

    def split(members: list[int], parts: int, first: int) -> None:
        if parts == 1:
            for v in members:
                place[v] = first
            return
        left_parts = parts // 2
        want_left = len(members) * left_parts / parts
        order = _bfs_order(lab, members, set(members))
        side = {v: (0 if rank < round(want_left) else 1) for rank, v in enumerate(order)}
        _fm(lab, side, want_left)
        split([v for v in members if side[v] == 0], left_parts, first)
        split([v for v in members if side[v] == 1], parts - left_parts, first + left_parts)

    split(list(range(len(lab.kinds))), k, 0)
    return place


METHODS: list[tuple[str, Callable[[Lab, int], list[int]]]] = [
    ("spread", spread), ("blocks", blocks), ("min-cut", min_cut)]


# --- what a placement costs -----------------------------------------------------

def cost(lab: Lab, place: list[int], k: int) -> tuple[int, float]:
    """(tunnels between machines, busiest machine's nodes / the mean). A cable
    between two machines is one tunnel; a LAN whose members are on m machines
    other than its switch's costs m tunnels (one per machine, joined to the
    switch's bridge there), however many of its members are on each."""
    switch = [k == "switch" for k in lab.kinds]
    crossing = sum(1 for v, ws in enumerate(lab.adj) for w in ws
                   if v < w and not switch[v] and not switch[w] and place[v] != place[w])
    crossing += sum(len({place[w] for w in ws} - {place[v]}) for v, ws in enumerate(lab.adj) if switch[v])
    load = [0] * k
    for p in place:
        load[p] += 1
    return crossing, max(load) / (len(place) / k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000", help="nodes per generated lab, comma-separated")
    ap.add_argument("--k", default="2,4,8,16", help="machines, comma-separated")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ks = [int(s) for s in args.k.split(",")]
    print(f"{'lab':12s} {'nodes':>6s} {'links':>6s} {'k':>3s} "
          + "  ".join(f"{m:>22s}" for m, _ in METHODS))
    print(f"{'':12s} {'':>6s} {'':>6s} {'':>3s} "
          + "  ".join(f"{'tunnels (%) load ms':>22s}" for _ in METHODS))
    for size in sizes:
        for make in TOPOLOGIES:
            lab = make(size, random.Random(args.seed))
            links = lab.links()
            for k in ks:
                cells = []
                for _, method in METHODS:
                    t = time.perf_counter()
                    place = method(lab, k)
                    ms = (time.perf_counter() - t) * 1000
                    crossing, load = cost(lab, place, k)
                    cells.append(f"{crossing:6d} ({100 * crossing / links:4.1f}) {load:4.2f} {ms:5.0f}")
                print(f"{lab.name:12s} {len(lab.kinds):6d} {links:6d} {k:3d} " + "  ".join(f"{c:>22s}" for c in cells))
    print("tunnels: VXLAN tunnels between machines (cables across, plus one per machine a LAN reaches beyond "
          "its switch); load: the busiest machine's nodes / the mean; ms: time to place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
