"""Routes computed from the lab's graph, with our own Dijkstra.

The graph: routers are vertices; two routers on one segment are joined by an
edge weighing the segment's cost. For each router, Dijkstra (binary heap)
gives the distance to every other router and the first hop on a shortest
path. A subnet the router is not on is routed towards the nearest router that
is on it; ties are broken by router name, so the result is predictable.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .addressing import Addressing
from .wiring import Wiring


@dataclass(frozen=True, eq=False)  # identity hashing: edges key the route groups
class Edge:
    to: int          # router index
    cost: int
    via: str         # the neighbour's address on the shared segment
    dev: str         # our interface on it


def router_graph(wiring: Wiring, addressing: Addressing, routers: list[str]
                 ) -> list[list[Edge]]:
    """Adjacency lists over `routers` (index = position)."""
    index = {r: i for i, r in enumerate(routers)}
    adj: list[list[Edge]] = [[] for _ in routers]
    for seg in wiring.segments:
        members = [p for p in seg.ports if p[0] in index and p in addressing.address]
        for p in members:
            for q in members:
                if p[0] != q[0]:
                    adj[index[p[0]]].append(Edge(index[q[0]], seg.cost, str(addressing.address[q].ip), p[1]))
    return adj


def dijkstra(adj: list[list[Edge]], source: int) -> tuple[list[float], list[Edge | None]]:
    """Distances from source and the first edge of a shortest path to each vertex.

    Among equal-cost paths the first hop with the lowest vertex index wins, so
    the result does not depend on heap order.
    """
    inf = float("inf")
    n = len(adj)
    dist = [inf] * n
    first: list[Edge | None] = [None] * n
    hop = [n] * n              # vertex index of the first hop (n: none yet)
    done = [False] * n
    dist[source] = 0
    heap: list[tuple[float, int]] = [(0, source)]
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        d, u = pop(heap)
        if done[u]:
            continue
        done[u] = True
        fu, hu = first[u], hop[u]
        for e in adj[u]:
            v = e.to
            if done[v]:
                continue
            nd = d + e.cost
            if u == source:
                fe, he = e, v
            else:
                fe, he = fu, hu
            dv = dist[v]
            if nd < dv or (nd == dv and he < hop[v]):
                dist[v] = nd
                first[v] = fe
                hop[v] = he
                push(heap, (nd, v))
    return dist, first


@dataclass(frozen=True)
class RouteGroup:
    """Computed routes of one router that share a next hop."""

    via: str
    dev: str
    to: list[str]      # subnets, e.g. "192.168.2.0/24"


def computed_routes(wiring: Wiring, addressing: Addressing, for_routers: list[str]
                    ) -> dict[str, list[RouteGroup]]:
    """Static routes for each router in `for_routers` to every subnet it is not
    on, grouped by next hop (in order of first use)."""
    routers = sorted(n for n, s in wiring.nodes.items() if s.kind == "router")
    index = {r: i for i, r in enumerate(routers)}
    adj = router_graph(wiring, addressing, routers)
    # subnets with one router on them, by router; subnets shared by several
    # routers with those routers (sorted: the first of equals wins, so ties go
    # to the lowest router name)
    owned: list[list[str]] = [[] for _ in routers]
    pairs: list[tuple[str, int, int]] = []
    shared: list[tuple[str, list[int]]] = []
    for s, seg in enumerate(wiring.segments):
        net = addressing.prefix.get(s)
        members = sorted({index[p[0]] for p in seg.ports if p[0] in index})
        if net is None or not members:
            continue
        if len(members) == 1:
            owned[members[0]].append(str(net))
        elif len(members) == 2:
            pairs.append((str(net), members[0], members[1]))
        else:
            shared.append((str(net), members))
    out: dict[str, list[RouteGroup]] = {}
    for name in for_routers:
        dist, first = dijkstra(adj, index[name])
        groups: dict[Edge, list[str]] = {}
        for x, nets in enumerate(owned):
            e = first[x]
            if nets and e is not None:
                if e in groups:
                    groups[e].extend(nets)
                else:
                    groups[e] = list(nets)
        for net, a, b in pairs:  # the hot loop of large labs: kept plain
            da, db = dist[a], dist[b]
            if da <= db:
                best, d = a, da
            else:
                best, d = b, db
            e = first[best]
            if e is not None and d != 0:  # 0: the router is on this subnet
                if e in groups:
                    groups[e].append(net)
                else:
                    groups[e] = [net]
        for net, members in shared:
            best = min(members, key=dist.__getitem__)
            e = first[best]
            if e is not None and dist[best] != 0:
                groups.setdefault(e, []).append(net)
        out[name] = [RouteGroup(e.via, e.dev, nets) for e, nets in groups.items()]
    return out
