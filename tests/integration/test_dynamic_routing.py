"""labs/dijkstra-mesh on the real engine: the link-state daemon converges to
the shortest paths (checked against Floyd-Warshall over the plan's graph,
equal-cost next hops included), reconverges when a cable is pulled and put
back, and withdraws the prefixes of a router that stops."""

import ipaddress
import itertools
import json
import time

import pytest

from orchestrator import lab as api
from orchestrator import operate
from orchestrator.backend import netlink
from tests.conftest import LABS

NAME = "t-mesh"
PROTO = 99
INF = float("inf")


@pytest.fixture(scope="module")
def mesh(backend):
    api.destroy(NAME, backend=backend)
    plan = api.deploy(LABS / "dijkstra-mesh", name=NAME, backend=backend).plan
    yield plan
    api.destroy(NAME, backend=backend)


def graph(plan, without=()):
    """Routers, edges {(a, b): (cost, b's address on the link, a's interface)},
    and the routers attached to each prefix, from the plan's segments."""
    routers = sorted(n for n, node in plan.nodes.items() if node.kind == "router")
    addr = {f"{n.name}:{i.name}": i.address for n in plan.nodes.values() for i in n.interfaces}
    edges, attached = {}, {}
    for seg in plan.segments:
        ports = [p for p in seg.ports if p.split(":")[0] in routers]
        if seg.name in without:
            continue
        attached[seg.prefix] = {p.split(":")[0] for p in ports}
        for p, q in itertools.permutations(ports, 2):
            edges[(p.split(":")[0], q.split(":")[0])] = (seg.cost, addr[q].split("/")[0], p.split(":")[1])
    return routers, edges, attached


def expected_routes(plan, without=()):
    """{router: {prefix: {(via, dev), ...}}}: every equal-cost next hop."""
    routers, edges, attached = graph(plan, without)
    d = {(a, b): (0 if a == b else INF) for a in routers for b in routers}
    for (a, b), (c, _, _) in edges.items():
        d[(a, b)] = min(d[(a, b)], c)
    for k, i, j in itertools.product(routers, routers, routers):
        d[(i, j)] = min(d[(i, j)], d[(i, k)] + d[(k, j)])
    out = {}
    for r in routers:
        table = {}
        for prefix, owners in attached.items():
            if r in owners or not owners:
                continue
            best = min(d[(r, o)] for o in owners)
            if best == INF:
                continue
            hops = {(via, dev) for (a, b), (c, via, dev) in edges.items()
                    if a == r and any(c + d[(b, o)] == best for o in owners)}
            table[prefix] = hops
        out[r] = table
    return out


def installed_routes(backend, router):
    res = operate.exec_in(NAME, router, ["ip", "-j", "route", "show", "proto", str(PROTO)], backend=backend)
    table = {}
    for route in json.loads(res.stdout or "[]"):
        hops = route.get("nexthops") or [route]
        table[route["dst"]] = {(h["gateway"], h["dev"]) for h in hops}
    return table


def wait_for(backend, plan, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = {r: installed_routes(backend, r) for r in want}
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def set_link(backend, plan, node, iface, state):
    pid = next(n.pid for n in backend.nodes(plan.lab) if n.node == node)
    with netlink.open_netns(pid) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=iface)[0], state=state)


def segment_between(plan, a, b):
    for seg in plan.segments:
        if {p.split(":")[0] for p in seg.ports} == {a, b}:
            iface = next(p.split(":")[1] for p in seg.ports if p.startswith(f"{a}:"))
            return seg.name, iface
    raise AssertionError(f"no link {a}-{b}")


def hops_to(backend, src, dst_addr):
    res = operate.exec_in(NAME, src, ["lab-probe", "traceroute", dst_addr], backend=backend)
    return json.loads(res.stdout)["hops"]


def owner(plan, address):
    return next(n.name for n in plan.nodes.values() for a in n.addresses() if a.split("/")[0] == address)


def test_converges_to_the_shortest_paths_with_ecmp(mesh, backend):
    want = expected_routes(mesh)
    assert any(len(h) > 1 for table in want.values() for h in table.values()), "the lab should have ECMP"
    assert wait_for(backend, mesh, want) == want


def test_every_pc_reaches_every_pc(mesh, backend):
    wait_for(backend, mesh, expected_routes(mesh))
    results = operate.ping_all(NAME, backend=backend)
    assert [f"{r.src}->{r.dst}" for r in results if not r.ok] == []


def test_the_daemons_tables_name_the_routers(mesh, backend):
    wait_for(backend, mesh, expected_routes(mesh))
    res = operate.exec_in(NAME, "r1", operate.routes_argv("neighbors", as_json=False), backend=backend)
    assert res.ok, res.stderr
    neighbours = {n for n, node in mesh.nodes.items() if node.daemon is not None and n != "r1"
                  and any(i.peer.split(":")[0] == "r1" for i in node.interfaces)}
    assert neighbours and all(f"{n} ({mesh.nodes[n].daemon.router_id})" in res.stdout for n in neighbours)


def test_pulling_a_cable_moves_traffic_to_the_next_best_path(mesh, backend):
    wait_for(backend, mesh, expected_routes(mesh))
    pc4 = mesh.nodes["pc4"].addresses()[0].split("/")[0]
    before = [owner(mesh, h) for h in hops_to(backend, "pc1", pc4) if h]
    assert before == ["r1", "r4", "pc4"]                      # r1-r4 direct: 30
    seg, iface = segment_between(mesh, "r1", "r4")
    set_link(backend, mesh, "r1", iface, "down")
    try:
        want = expected_routes(mesh, without={seg})
        assert wait_for(backend, mesh, want) == want
        after = [owner(mesh, h) for h in hops_to(backend, "pc1", pc4) if h]
        assert after[:1] == ["r1"] and after[-2:] == ["r4", "pc4"] and "r5" in after
    finally:
        set_link(backend, mesh, "r1", iface, "up")
    want = expected_routes(mesh)
    assert wait_for(backend, mesh, want) == want


def test_a_stopped_router_has_its_prefixes_withdrawn(mesh, backend):
    want = expected_routes(mesh)
    wait_for(backend, mesh, want)
    lan3 = str(ipaddress.IPv4Interface(mesh.nodes["pc3"].addresses()[0]).network)
    assert all(lan3 in want[r] for r in want if r != "r3")
    backend.client.containers.get(mesh.nodes["r3"].container).stop(timeout=5)
    others = {r: t for r, t in want.items() if r != "r3"}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(lan3 not in installed_routes(backend, r) for r in others):
            break
        time.sleep(0.2)
    assert [r for r in others if lan3 in installed_routes(backend, r)] == []
