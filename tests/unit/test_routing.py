"""Computed static routes: our Dijkstra against a reference (Floyd-Warshall
written independently here) on hand-made and random router graphs."""

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.compile import compile_text
from orchestrator.compile.routing import Edge, dijkstra

INF = float("inf")


def floyd_warshall(n, edges):
    d = [[0 if i == j else INF for j in range(n)] for i in range(n)]
    for a, b, c in edges:
        d[a][b] = min(d[a][b], c)
        d[b][a] = min(d[b][a], c)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if d[i][k] + d[k][j] < d[i][j]:
                    d[i][j] = d[i][k] + d[k][j]
    return d


def lab_text(n, edges):
    nodes = "\n".join(f"  r{i}: {{kind: router}}\n  h{i}: {{kind: host}}" for i in range(n))
    lans = "\n".join(f"  lan{i}: {{members: [r{i}, h{i}]}}" for i in range(n))
    links = "\n".join(f"  - {{a: r{a}, b: r{b}, cost: {c}}}" for a, b, c in edges)
    return f"name: g\nrouting: computed\nnodes:\n{nodes}\nlans:\n{lans}\nlinks:\n{links or '  []'}\n"


def check_against_reference(n, edges):
    plan = compile_text(lab_text(n, edges)).result()
    ref = floyd_warshall(n, edges)
    owner = {}
    for node in plan.nodes.values():
        for a in node.addresses():
            owner[ipaddress.IPv4Interface(a).ip] = int(node.name[1:])
    lan_of = {i: ipaddress.IPv4Interface(plan.nodes[f"h{i}"].addresses()[0]).network for i in range(n)}
    for i in range(n):
        routes = {to: g for g in plan.nodes[f"r{i}"].computed_routes for to in g.to}
        cost_to = {}
        for iface in plan.nodes[f"r{i}"].interfaces:
            peer = iface.peer.split(":")[0]
            if peer.startswith("r"):
                cost_to.setdefault(int(peer[1:]), []).append(iface.cost)
        for j in range(n):
            if j == i:
                continue
            route = routes.get(str(lan_of[j]))
            if ref[i][j] == INF:
                assert route is None, f"r{i} has a route to unreachable lan{j}"
                continue
            assert route is not None, f"r{i} has no route to lan{j}"
            hop = owner[ipaddress.IPv4Address(route.via)]
            # the next hop lies on a shortest path
            assert min(cost_to[hop]) + ref[hop][j] == ref[i][j], (i, j, hop)


def test_square_with_a_costly_side():
    check_against_reference(4, [(0, 1, 10), (1, 3, 10), (0, 3, 50), (0, 2, 30), (2, 3, 5)])


def test_line_and_an_unreachable_island():
    check_against_reference(5, [(0, 1, 1), (1, 2, 1), (3, 4, 7)])


def test_ties_are_broken_by_router_name():
    # r0 reaches r3 through r1 or r2 at the same cost: r1 (lower name) wins
    plan = compile_text(lab_text(4, [(0, 2, 5), (0, 1, 5), (1, 3, 5), (2, 3, 5)])).result()
    lan3 = plan.nodes["h3"].addresses()[0]
    net = str(ipaddress.IPv4Interface(lan3).network)
    route = next(g for g in plan.nodes["r0"].computed_routes if net in g.to)
    r1_addrs = [a.split("/")[0] for a in plan.nodes["r1"].addresses()]
    assert route.via in r1_addrs


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=9).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 40)),
             max_size=3 * n).map(lambda es: [(a, b, c) for a, b, c in es if a != b]))))
def test_random_graphs_match_the_reference(graph):
    n, edges = graph
    check_against_reference(n, edges)


def test_dijkstra_distances_on_a_random_graph():
    rng = random.Random(7)
    n = 60
    edges = [(rng.randrange(n), rng.randrange(n), rng.randint(1, 20)) for _ in range(150)]
    edges = [(a, b, c) for a, b, c in edges if a != b]
    adj = [[] for _ in range(n)]
    for a, b, c in edges:
        adj[a].append(Edge(b, c, "", ""))
        adj[b].append(Edge(a, c, "", ""))
    ref = floyd_warshall(n, edges)
    for s in range(0, n, 7):
        dist, first = dijkstra(adj, s)
        assert dist == ref[s]
        for v in range(n):
            if v != s and dist[v] < INF:
                e = first[v]
                assert e.cost + ref[e.to][v] == dist[v]


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_no_routes_are_computed_unless_asked(mode):
    plan = compile_text(lab_text(3, [(0, 1, 1), (1, 2, 1)]).replace("computed", mode)).result()
    assert all(not n.computed_routes for n in plan.nodes.values())
