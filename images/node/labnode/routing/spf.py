"""Shortest-path-first: Dijkstra with a binary heap over the LSDB.

Pure functions, no I/O, no protocol state:

    graph  = build_graph(lsas)                 # two-way links only, compact
    dist, hops = shortest_paths(graph, root)   # cost and first hops per router
    routes = prefix_routes(lsas, root, dist, hops)     # IPv4 prefixes
    routes6 = prefix_routes6(lsas, root, dist, hops)   # IPv6 prefixes, from the same tree

A link u->v is used only if v's LSA also lists u (the two-way check), with
u's cost for it (costs may differ per direction); parallel links keep the
cheapest.  Costs are positive integers, so a router's set of first hops is
final when it leaves the heap, and equal-cost paths (ECMP) are kept by
merging the first-hop sets of every predecessor on a shortest path.  First-hop
sets are bitmasks over the root's neighbours while the search runs, which
makes the merge a single integer OR.

One graph for both families (like IS-IS single topology): the IPv6 prefixes
of each LSA are routed from the very same distances and first hops as its
IPv4 prefixes, so an IPv6 route has the cost and the ECMP set of an IPv4
route to the same router.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Protocol, TypeVar

INF = float("inf")


class LinkLike(Protocol):  # a (neighbor, cost) named tuple
    @property
    def neighbor(self) -> int: ...

    @property
    def cost(self) -> int: ...

    def __iter__(self): ...


class PrefixLike(Protocol):
    @property
    def network(self) -> int: ...

    @property
    def length(self) -> int: ...

    @property
    def metric(self) -> int: ...


class LSALike(Protocol):
    @property
    def links(self) -> Sequence[LinkLike]: ...

    @property
    def prefixes(self) -> Sequence[PrefixLike]: ...


class LSALike6(LSALike, Protocol):
    @property
    def prefixes6(self) -> Sequence[PrefixLike]: ...


L = TypeVar("L", bound=LSALike)


@dataclass(frozen=True)
class Route:
    cost: int
    first_hops: frozenset[int]  # router ids of the root's neighbours to use


@dataclass(frozen=True)
class Graph:
    """A compact, index-based adjacency list: routers are numbered 0..n-1."""
    ids: list[int]  # index -> router id
    index: dict[int, int]  # router id -> index
    adj: list[tuple[tuple[int, int], ...]]  # index -> ((neighbour index, cost), ...)

    @classmethod
    def from_adjacency(cls, adjacency: Mapping[int, Mapping[int, int]]) -> Graph:
        """From {u: {v: cost}}; every v must also be a key."""
        ids = list(adjacency)
        index = {rid: i for i, rid in enumerate(ids)}
        adj = [tuple((index[v], cost) for v, cost in adjacency[rid].items()) for rid in ids]
        return cls(ids, index, adj)

    def edges(self) -> dict[int, dict[int, int]]:
        return {self.ids[u]: {self.ids[v]: c for v, c in out} for u, out in enumerate(self.adj)}


def build_graph(lsas: Mapping[int, LSALike]) -> Graph:
    """The graph of two-way links: u->v only if v's LSA also lists u."""
    listed: dict[int, dict[int, int]] = {}
    for rid, lsa in lsas.items():
        out: dict[int, int] = {}
        for neighbor, cost in lsa.links:
            old = out.get(neighbor)
            if old is None or cost < old:
                out[neighbor] = cost
        listed[rid] = out
    ids = list(listed)
    index = {rid: i for i, rid in enumerate(ids)}
    empty: dict[int, int] = {}
    adj = [tuple((index[v], cost) for v, cost in listed[u].items() if v != u and u in listed.get(v, empty))
           for u in ids]
    return Graph(ids, index, adj)


def shortest_paths(graph: Graph, root: int) -> tuple[dict[int, int], dict[int, frozenset[int]]]:
    """Dijkstra from router `root`: distance and set of first hops (router
    ids of root's neighbours) for every reachable router, in order of
    distance.  The root itself has distance 0 and no first hops."""
    if root not in graph.index:
        return {root: 0}, {}
    adj, ids, n = graph.adj, graph.ids, len(graph.adj)
    src = graph.index[root]
    # Heap keys are single ints, distance << shift | node: they sort like
    # (distance, node) tuples but are much cheaper to compare and unpack.
    shift = n.bit_length()
    low = (1 << shift) - 1
    push, pop = heappush, heappop
    dist: list[float] = [INF] * n
    masks = [0] * n  # bit i set: the path may start through root's i-th link
    dist[src] = 0
    heap: list[int] = []
    first = [ids[v] for v, _ in adj[src]]
    for bit, (v, cost) in enumerate(adj[src]):
        dist[v] = cost
        masks[v] = 1 << bit
        push(heap, cost << shift | v)
    out_dist: dict[int, int] = {root: 0}
    out_hops: dict[int, frozenset[int]] = {}
    hop_sets: dict[int, frozenset[int]] = {}
    while heap:
        key = pop(heap)
        d, u = key >> shift, key & low
        if d > dist[u]:
            continue  # a stale entry: u was reached more cheaply since
        hu = masks[u]  # final: every equal-cost predecessor was popped before u
        rid = ids[u]
        out_dist[rid] = d
        hops = hop_sets.get(hu)
        if hops is None:
            hops = hop_sets[hu] = frozenset(r for i, r in enumerate(first) if hu >> i & 1)
        out_hops[rid] = hops
        for v, cost in adj[u]:
            nd = d + cost
            dv = dist[v]
            if nd < dv:
                dist[v] = nd
                masks[v] = hu
                push(heap, nd << shift | v)
            elif nd == dv:
                masks[v] |= hu  # another shortest path: merge its first hops
    return out_dist, out_hops


def prefix_routes(lsas: Mapping[int, LSALike], root: int, dist: Mapping[int, int],
                  hops: Mapping[int, frozenset[int]]) -> dict[tuple[int, int], Route]:
    """Cheapest route to every prefix advertised by a reachable router other
    than the root; routers advertising it at equal cost merge their hops."""
    return _prefix_routes(lsas, root, dist, hops, lambda lsa: lsa.prefixes)


def prefix_routes6(lsas: Mapping[int, LSALike6], root: int, dist: Mapping[int, int],
                   hops: Mapping[int, frozenset[int]]) -> dict[tuple[int, int], Route]:
    """The same for the IPv6 prefixes (`prefixes6`), over the same tree."""
    return _prefix_routes(lsas, root, dist, hops, lambda lsa: lsa.prefixes6)


def _prefix_routes(lsas: Mapping[int, L], root: int, dist: Mapping[int, int], hops: Mapping[int, frozenset[int]],
                   select: Callable[[L], Sequence[PrefixLike]]) -> dict[tuple[int, int], Route]:
    best: dict[tuple[int, int], tuple[int, set[int]]] = {}
    for rid, d in dist.items():
        if rid == root:
            continue
        for prefix in select(lsas[rid]):
            key = (prefix.network, prefix.length)
            cost = d + prefix.metric
            current = best.get(key)
            if current is None or cost < current[0]:
                best[key] = (cost, set(hops[rid]))
            elif cost == current[0]:
                current[1].update(hops[rid])
    return {key: Route(cost, frozenset(h)) for key, (cost, h) in best.items()}


def compute_routes(lsas: Mapping[int, LSALike], root: int) -> dict[tuple[int, int], Route]:
    """The whole pipeline: LSDB -> routes keyed by (network, length)."""
    graph = build_graph(lsas)
    dist, hops = shortest_paths(graph, root)
    return prefix_routes(lsas, root, dist, hops)


def compute_routes6(lsas: Mapping[int, LSALike6], root: int) -> dict[tuple[int, int], Route]:
    """The same pipeline for the IPv6 prefixes: one tree, the other family."""
    graph = build_graph(lsas)
    dist, hops = shortest_paths(graph, root)
    return prefix_routes6(lsas, root, dist, hops)
