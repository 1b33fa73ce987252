"""Routes computed from the lab's graph, with our own Dijkstra.

The graph: routers are vertices; two routers on one segment are joined by an
edge weighing the segment's cost. For each router, Dijkstra (binary heap)
gives the distance to every other router and the first hop on a shortest
path. A subnet the router is not on is routed towards the nearest router that
is on it; ties are broken by router name, so the result is predictable.
"""

from __future__ import annotations

import heapq
import os
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .addressing import Addressing
from .addressing6 import Addressing6
from .wiring import Wiring


@dataclass(frozen=True, eq=False)  # identity hashing: edges key the route groups
class Edge:
    to: int          # router index
    cost: int
    via: str         # the neighbour's address on the shared segment
    dev: str         # our interface on it


def router_graph(wiring: Wiring, addressing: Addressing | Addressing6, routers: list[str]
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


INF = float("inf")
#: adjacency as plain tuples (neighbour, cost, edge): what the SPF loop reads
Neighbours = list[list[tuple[int, int, Edge]]]


def neighbours(adj: list[list[Edge]]) -> Neighbours:
    return [[(e.to, e.cost, e) for e in edges] for edges in adj]


def spf(nbrs: Neighbours, source: int) -> tuple[list[float], list[Edge | None]]:
    """Dijkstra (binary heap) from source over `neighbours(adj)`: distances and
    the first edge of a shortest path to each vertex.

    Among equal-cost paths the first hop with the lowest vertex index wins, so
    the result does not depend on heap order. Costs are at least 1 (the model
    says so), so a vertex that is done is never reached more cheaply again.
    """
    n = len(nbrs)
    dist: list[float] = [INF] * n
    first: list[Edge | None] = [None] * n
    hop = [n] * n              # vertex index of the first hop (n: none yet)
    done = [False] * n
    dist[source] = 0
    done[source] = True
    push, pop = heapq.heappush, heapq.heappop
    heap: list[tuple[float, int]] = []
    for v, c, e in nbrs[source]:
        if c < dist[v] or (c == dist[v] and v < hop[v]):
            dist[v], first[v], hop[v] = c, e, v
            push(heap, (c, v))
    while heap:
        d, u = pop(heap)
        if done[u]:
            continue
        done[u] = True
        fu, hu = first[u], hop[u]
        for v, c, _ in nbrs[u]:
            nd = d + c
            dv = dist[v]
            if nd < dv or (nd == dv and hu < hop[v] and not done[v]):
                dist[v] = nd
                first[v] = fu
                hop[v] = hu
                push(heap, (nd, v))
    return dist, first


def dijkstra(adj: list[list[Edge]], source: int) -> tuple[list[float], list[Edge | None]]:
    """Distances from source and the first edge of a shortest path to each vertex."""
    return spf(neighbours(adj), source)


@dataclass(frozen=True)
class RouteGroup:
    """Computed routes of one router that share a next hop."""

    via: str
    dev: str
    to: list[str]      # subnets, e.g. "192.168.2.0/24"


class _Routes:
    """The router graph of one lab and its subnets, ready to route from any router."""

    def __init__(self, wiring: Wiring, addressing: Addressing | Addressing6):
        routers = sorted(n for n, s in wiring.nodes.items() if s.kind == "router")
        self.index = {r: i for i, r in enumerate(routers)}
        self.nbrs = neighbours(router_graph(wiring, addressing, routers))
        # subnets with one router on them, by router; subnets of two routers;
        # subnets shared by more, with those routers (sorted: the first of equals
        # wins, so ties go to the lowest router name)
        self.owned: list[list[str]] = [[] for _ in routers]
        self.pairs: list[tuple[str, int, int]] = []
        self.shared: list[tuple[str, list[int]]] = []
        for s, seg in enumerate(wiring.segments):
            members = sorted({self.index[p[0]] for p in seg.ports if p[0] in self.index})
            if s not in addressing.prefix or not members:
                continue
            subnet = str(addressing.prefix[s])
            if len(members) == 1:
                self.owned[members[0]].append(subnet)
            elif len(members) == 2:
                self.pairs.append((subnet, members[0], members[1]))
            else:
                self.shared.append((subnet, members))

    def of(self, name: str) -> list[RouteGroup]:
        """Routes of one router to every subnet it is not on, grouped by next
        hop in order of first use."""
        dist, first = spf(self.nbrs, self.index[name])
        groups: dict[Edge, list[str]] = {}
        for e, nets in zip(first, self.owned):
            if nets and e is not None:
                found = groups.get(e)
                if found is None:
                    groups[e] = list(nets)
                else:
                    found.extend(nets)
        for net, a, b in self.pairs:  # the hot loop of large labs: kept plain
            da, db = dist[a], dist[b]
            if da <= db:
                e, d = first[a], da
            else:
                e, d = first[b], db
            if e is not None and d != 0:  # 0: the router is on this subnet
                found = groups.get(e)
                if found is None:
                    groups[e] = [net]
                else:
                    found.append(net)
        for net, members in self.shared:
            best = min(members, key=dist.__getitem__)
            e = first[best]
            if e is not None and dist[best] != 0:
                groups.setdefault(e, []).append(net)
        return [RouteGroup(e.via, e.dev, nets) for e, nets in groups.items()]


#: below this many routers, a second process costs more than it saves
PARALLEL_FROM = 200


def computed_routes(wiring: Wiring, addressing: Addressing | Addressing6, for_routers: list[str],
                    parallel: bool = False) -> dict[str, list[RouteGroup]]:
    """Static routes for each router in `for_routers` to every subnet it is not on.

    With `parallel`, a large lab's routers are shared with one forked process
    (the SPF from every router is the one cost that grows faster than the lab);
    only when this process runs no other thread, so that forking is safe, and
    falling back to doing all here if the child fails."""
    routes = _Routes(wiring, addressing)
    if not (parallel and len(for_routers) >= PARALLEL_FROM and _can_fork()):
        return {name: routes.of(name) for name in for_routers}
    half = len(for_routers) // 2
    mine, theirs = for_routers[:half], for_routers[half:]
    child = _fork(lambda: {name: [(g.via, g.dev, g.to) for g in routes.of(name)] for name in theirs})
    out = {name: routes.of(name) for name in mine}
    done = _collect(child)
    if done is None:
        out.update((name, routes.of(name)) for name in theirs)
    else:
        out.update((name, [RouteGroup(*g) for g in groups]) for name, groups in done.items())
    return out


def _can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1


def _fork(work: Callable[[], object]) -> tuple[int, int] | None:
    """Run `work` in a forked child; (pid, read end of its result pipe), or None."""
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: compute, hand the result over, leave without cleaning up
        code = 1
        try:
            os.close(read_fd)
            data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _collect(child: tuple[int, int] | None) -> Any:
    """The child's result, or None if it failed."""
    if child is None:
        return None
    pid, read_fd = child
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not data:
        return None
    return pickle.loads(data)
