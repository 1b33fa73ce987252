"""SPF against hand-made graphs and against a Bellman-Ford reference; IPv6 routes
from the same tree, and their next hops."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from labnode.routing.config import Interface
from labnode.routing.lsa import LSA, Link, Prefix
from labnode.routing.spf import (
    Graph,
    Route,
    build_graph,
    compute_routes,
    compute_routes6,
    prefix_routes6,
    shortest_paths,
)
from labnode.routing.state import FULL, Neighbor, NextHop6, Port, RouteEntry
from labnode.routing.table import resolve, resolve6

INF = float("inf")


def lsas_from(edges: dict[int, dict[int, int]], prefixes: dict[int, list[tuple[int, int, int]]] | None = None):
    """{u: {v: cost}} (directed, as each router lists its links) -> LSDB."""
    prefixes = prefixes or {}
    nodes = set(edges) | {v for out in edges.values() for v in out} | set(prefixes)
    return {n: LSA(n, 1, 0, tuple(Link(v, c) for v, c in edges.get(n, {}).items()),
                   tuple(Prefix(*p) for p in prefixes.get(n, []))) for n in nodes}


def undirected(pairs):
    out: dict[int, dict[int, int]] = {}
    for a, b, cost in pairs:
        out.setdefault(a, {})[b] = cost
        out.setdefault(b, {})[a] = cost
    return out


def reference(edges: dict[int, dict[int, int]], root: int):
    """Bellman-Ford on the two-way graph, then first hops by definition:
    neighbour n of root is a first hop to t iff cost(root,n) + d(n,t) == d(root,t)."""
    nodes = set(edges) | {v for out in edges.values() for v in out}
    two_way = {(u, v): c for u, out in edges.items() for v, c in out.items()
               if u != v and u in edges.get(v, {})}

    def distances(src):
        d = {n: INF for n in nodes}
        d[src] = 0
        for _ in range(len(nodes)):
            for (u, v), c in two_way.items():
                if d[u] + c < d[v]:
                    d[v] = d[u] + c
        return d

    d_root = distances(root)
    d_from = {n: distances(n) for n, _ in [(v, 0) for (u, v) in two_way if u == root]}
    hops = {}
    for t, dt in d_root.items():
        if dt == INF or t == root:
            continue
        hops[t] = frozenset(n for n in d_from if two_way[(root, n)] + d_from[n][t] == dt)
    return {n: x for n, x in d_root.items() if x != INF}, hops


def test_line_and_costs():
    dist, hops = shortest_paths(build_graph(lsas_from(undirected([(1, 2, 5), (2, 3, 7)]))), 1)
    assert dist == {1: 0, 2: 5, 3: 12}
    assert hops == {2: {2}, 3: {2}}


def test_square_keeps_both_equal_cost_paths():
    lsas = lsas_from(undirected([(1, 2, 10), (2, 4, 10), (1, 3, 10), (3, 4, 10)]))
    dist, hops = shortest_paths(build_graph(lsas), 1)
    assert dist[4] == 20
    assert hops[4] == {2, 3}


def test_tie_through_a_longer_hop_count():
    # 1->4 direct costs 3; 1->2->3->4 also costs 3: both are kept.
    lsas = lsas_from(undirected([(1, 4, 3), (1, 2, 1), (2, 3, 1), (3, 4, 1)]))
    dist, hops = shortest_paths(build_graph(lsas), 1)
    assert dist[4] == 3 and hops[4] == {4, 2}
    assert hops[3] == {2}


def test_cheaper_indirect_path_wins_over_direct_link():
    lsas = lsas_from(undirected([(1, 2, 100), (1, 3, 1), (3, 2, 1)]))
    dist, hops = shortest_paths(build_graph(lsas), 1)
    assert dist[2] == 2 and hops[2] == {3}


def test_one_way_links_are_ignored():
    edges = undirected([(1, 2, 1)])
    edges[2][3] = 1  # 2 claims 3, but 3 does not list 2
    edges[3] = {}
    edges[1][4] = 1  # 1 claims 4 which has no LSA at all
    dist, hops = shortest_paths(build_graph(lsas_from(edges)), 1)
    assert dist == {1: 0, 2: 1}
    assert 4 not in build_graph(lsas_from(edges)).edges()[1]


def test_costs_are_per_direction():
    edges = {1: {2: 1}, 2: {1: 50, 3: 1}, 3: {2: 1, 1: 1}}
    edges[1][3] = 10
    dist1, _ = shortest_paths(build_graph(lsas_from(edges)), 1)
    dist2, hops2 = shortest_paths(build_graph(lsas_from(edges)), 2)
    assert dist1[3] == 2  # 1->2 (1) + 2->3 (1)
    assert dist2[1] == 2 and hops2[1] == {3}  # 2->3->1 beats 2->1 at 50


def test_parallel_links_use_the_cheaper():
    lsas = {1: LSA(1, 1, 0, (Link(2, 9), Link(2, 4))), 2: LSA(2, 1, 0, (Link(1, 4), Link(1, 9)))}
    dist, _ = shortest_paths(build_graph(lsas), 1)
    assert dist[2] == 4


def test_unreachable_partition_and_missing_root():
    lsas = lsas_from(undirected([(1, 2, 1), (3, 4, 1)]))
    dist, hops = shortest_paths(build_graph(lsas), 1)
    assert set(dist) == {1, 2} and set(hops) == {2}
    assert shortest_paths(build_graph(lsas), 99) == ({99: 0}, {})


def test_prefix_routes_cheapest_advertiser_and_ecmp_between_advertisers():
    edges = undirected([(1, 2, 10), (1, 3, 10), (2, 4, 1), (3, 4, 5)])
    prefixes = {2: [(0x0A000000, 24, 0)], 3: [(0x0A000000, 24, 0)],  # anycast: both at 10
                4: [(0x0A010000, 24, 0)], 1: [(0x0A020000, 24, 0)]}
    routes = compute_routes(lsas_from(edges, prefixes), 1)
    assert routes[(0x0A000000, 24)] == Route(10, frozenset({2, 3}))
    assert routes[(0x0A010000, 24)] == Route(11, frozenset({2}))
    assert (0x0A020000, 24) not in routes  # the root's own prefix


def test_prefix_metric_is_added():
    routes = compute_routes(lsas_from(undirected([(1, 2, 3)]), {2: [(0x0A000000, 8, 7)]}), 1)
    assert routes[(0x0A000000, 8)].cost == 10


def test_graph_from_adjacency_round_trip():
    adjacency = {1: {2: 3}, 2: {1: 3, 3: 4}, 3: {2: 4}}
    assert Graph.from_adjacency(adjacency).edges() == adjacency


graphs = st.integers(2, 9).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 6)), max_size=3 * n),
    st.integers(0, n - 1)))


@settings(max_examples=300, deadline=None, database=None)
@given(graphs)
def test_matches_bellman_ford_reference(case):
    """Random directed listings with small costs (many ties) and one-way links."""
    n, triples, root = case
    edges: dict[int, dict[int, int]] = {i: {} for i in range(n)}
    for u, v, c in triples:
        if u != v:
            edges[u][v] = c
    dist, hops = shortest_paths(build_graph(lsas_from(edges)), root)
    ref_dist, ref_hops = reference(edges, root)
    assert dist == ref_dist
    assert hops == ref_hops


def test_large_random_graph_matches_reference_distances():
    rng = random.Random(7)
    n = 300
    pairs = [(i, rng.randrange(i), rng.randint(1, 20)) for i in range(1, n)]
    pairs += [(rng.randrange(n), rng.randrange(n), rng.randint(1, 20)) for _ in range(n)]
    edges = undirected([(a, b, c) for a, b, c in pairs if a != b])
    dist, hops = shortest_paths(build_graph(lsas_from(edges)), 0)
    ref_dist, ref_hops = reference(edges, 0)
    assert dist == ref_dist and hops == ref_hops


# -- IPv6: the same tree, the other family --------------------------------------------

P6 = 0x20010DB8 << 96  # 2001:db8::


def test_ipv6_prefixes_follow_the_ipv4_tree_with_ecmp_and_metrics():
    edges = undirected([(1, 2, 10), (1, 3, 10), (2, 4, 10), (3, 4, 10), (2, 5, 1), (3, 5, 7)])
    lsas = {n: LSA(n, 1, 0, lsa.links, (Prefix(0x0A000000 + (n << 8), 24),),
                   (Prefix(P6 | n << 80, 48), Prefix(P6 | 0xFFFF << 64, 64, n)))  # + an anycast /64, metric n
            for n, lsa in lsas_from(edges).items()}
    v4, v6 = compute_routes(lsas, 1), compute_routes6(lsas, 1)
    for n in (2, 3, 4, 5):
        assert v6[(P6 | n << 80, 48)] == v4[(0x0A000000 + (n << 8), 24)]
    assert v6[(P6 | 4 << 80, 48)] == Route(20, frozenset({2, 3}))  # ECMP, as for IPv4
    assert v6[(P6 | 0xFFFF << 64, 64)] == Route(12, frozenset({2}))  # r2 at 10+2 beats r3 10+3, r5 11+5
    assert (P6 | 1 << 80, 48) not in v6  # the root's own
    dist, hops = shortest_paths(build_graph(lsas), 1)
    assert prefix_routes6(lsas, 1, dist, hops) == v6


def test_ipv4_only_lsas_give_no_ipv6_routes():
    lsas = lsas_from(undirected([(1, 2, 1)]), {2: [(0x0A000000, 24, 0)]})
    assert compute_routes6(lsas, 1) == {}


def port_with(name, cost, address6, neighbours):
    """A Port on name with neighbours [(router id, address, address6)], all full."""
    cfg = Interface(name, cost, 0x0A000001, 30, *((address6, 64) if address6 is not None else (None, 0)))
    port = Port(cfg, up=True)
    for rid, address, nb6 in neighbours:
        port.neighbors[rid] = Neighbor(rid, address, name, 1, 1.0, 0.0, state=FULL, address6=nb6)
    return port


def test_resolve6_uses_the_neighbours_address6_on_the_same_links_as_ipv4():
    a6, b6 = P6 | 1 << 64, P6 | 2 << 64  # 2001:db8:0:1::/64, 2001:db8:0:2::/64
    ports = [port_with("eth1", 10, a6 | 1, [(2, 0x0A000002, a6 | 2)]),
             port_with("eth2", 10, b6 | 1, [(3, 0x0A000006, b6 | 2)]),
             port_with("eth3", 30, a6 | 0x11, [(2, 0x0A00000A, None)])]  # a dearer parallel link to 2
    routes = {(P6 | 9 << 80, 48): Route(20, frozenset({2, 3})), (P6, 32): Route(5, frozenset({2}))}
    missing: set = set()
    table6 = resolve6(routes, ports, {(P6, 32)}, missing)
    assert table6 == {(P6 | 9 << 80, 48): RouteEntry(20, (NextHop6("eth1", a6 | 2), NextHop6("eth2", b6 | 2)))}
    assert missing == set()  # eth3 is not on a shortest path: not missed
    assert str(table6[(P6 | 9 << 80, 48)].nexthops[0]) == "via 2001:db8:0:1::2 dev eth1"
    v4 = resolve(routes, ports, set())
    assert [nh.iface for nh in v4[(P6 | 9 << 80, 48)].nexthops] == ["eth1", "eth2"]  # the very same links


def test_resolve6_leaves_out_first_hops_without_a_usable_address6():
    a6, b6 = P6 | 1 << 64, P6 | 2 << 64
    route = {(P6 | 9 << 80, 48): Route(20, frozenset({2, 3, 4, 5}))}
    ports = [port_with("eth1", 10, a6 | 1, [(2, 0x0A000002, None)]),  # it announces none
             port_with("eth2", 10, None, [(3, 0x0A000006, b6 | 2)]),  # we have none there
             port_with("eth3", 10, a6 | 1, [(4, 0x0A00000A, b6 | 2)]),  # its address is off our subnet
             port_with("eth4", 10, b6 | 1, [(5, 0x0A00000E, b6 | 5)])]
    missing: set = set()
    table6 = resolve6(route, ports, set(), missing)
    assert table6 == {(P6 | 9 << 80, 48): RouteEntry(20, (NextHop6("eth4", b6 | 5),))}
    assert missing == {("eth1", 2), ("eth2", 3), ("eth3", 4)}
    ports[3].neighbors[5].address6 = None
    assert resolve6(route, ports, set()) == {}  # no next hop at all: no route
