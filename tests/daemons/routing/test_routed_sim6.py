"""Dual-stack on the simulated network: one adjacency per link, one SPF, routes
for both families; IPv6 next hops from the hellos' address6; an IPv4-only
router is what it always was."""
from __future__ import annotations

import logging

from routed_simnet import SimNet
from routed_topo import SQUARE, Topology

from labnode.routing import packet as pk
from labnode.routing.addr import ip_to_int, parse_prefix6
from labnode.routing.packet import Codec, Hello

DUAL = SQUARE.dual()
R = {r: ip_to_int(SQUARE.router_id(r)) for r in SQUARE.routers}


def converged_dual(**kwargs) -> SimNet:
    net = SimNet(DUAL, **kwargs)
    net.run_until(net.converged, limit=3)
    return net


def versions(net: SimNet) -> dict[int, set[int]]:
    """packet type -> versions seen on the wire."""
    seen: dict[int, set[int]] = {}
    for _, _, data in net.tap:
        packet = Codec(9).decode(data)
        seen.setdefault(packet.type, set()).add(packet.version)
    return seen


def test_both_families_converge_to_the_reference_with_ecmp():
    net = SimNet(DUAL)
    took = net.run_until(net.converged, limit=3)
    assert took < 0.3
    assert net.table("r1", 6)["2001:db8:100:4::/64"] == (
        20, frozenset({("l1a", "2001:db8:0:1::2"), ("l3a", "2001:db8:0:3::2")}))
    assert len(net.table("r4", 6)["2001:db8:100:1::/64"][1]) == 3  # three equal paths, as for IPv4
    for r in DUAL.routers:  # the same tree: every IPv6 LAN costs what the IPv4 LAN of its router costs
        v4, v6 = net.table(r), net.table(r, 6)
        for other in DUAL.routers:
            if other != r:
                assert v6[DUAL.lan6(other)][0] == v4[DUAL.lan(other)][0]
                assert len(v6[DUAL.lan6(other)][1]) == len(v4[DUAL.lan(other)][1])
    assert versions(net) == {pk.HELLO: {2}, pk.LSU: {2}, pk.ACK: {1}}


def test_link_failure_moves_both_families():
    net = converged_dual()
    net.set_link(1, up=False)
    net.run_until(lambda: net.converged(down={1}), limit=2)
    assert net.table("r1", 6)["2001:db8:100:2::/64"] == (30, frozenset({("l3a", "2001:db8:0:3::2")}))
    assert "2001:db8:0:1::/64" not in net.table("r3", 6)  # the link's IPv6 subnet went with it
    net.set_link(1, up=True)
    net.run_until(net.converged, limit=2)


def test_killed_router_takes_its_ipv6_prefixes_along():
    net = converged_dual()
    net.kill("r4")
    net.run_until(lambda: net.converged(dead={"r4"}), limit=3)
    assert "2001:db8:100:4::/64" not in net.table("r1", 6)


def test_an_ipv4_only_lab_sends_version_1_only_and_has_no_ipv6_routes():
    net = SimNet(SQUARE)
    net.run_until(net.converged, limit=3)
    assert versions(net) == {pk.HELLO: {1}, pk.LSU: {1}, pk.ACK: {1}}
    assert all(not router.routes6 for router in net.routers.values())
    assert all(not lsa.prefixes6 for lsa in net.routers["r1"].lsdb.lsas(net.now).values())


def without_address6(topo: Topology, router: str, iface: str) -> dict:
    cfg = topo.config(router)
    cfg["interfaces"] = [{k: v for k, v in i.items() if not (i["name"] == iface and k == "address6")}
                         for i in cfg["interfaces"]]
    return cfg


def test_a_link_without_ipv6_carries_ipv4_only_and_is_said_once(caplog):
    """r2's end of r1-r2 has no address6: r1 keeps its IPv4 ECMP to r4 but
    routes IPv6 through r3 alone, and says why once."""
    caplog.set_level(logging.DEBUG, logger="labnode.routing")
    per_router = {"r2": {"interfaces": without_address6(DUAL, "r2", "l1b")["interfaces"]}}
    net = SimNet(DUAL, per_router=per_router)
    net.run(1.0)
    assert net.table("r1") == DUAL.expected_routes("r1")  # IPv4 untouched
    r1_v6 = net.table("r1", 6)
    assert r1_v6["2001:db8:100:4::/64"] == (20, frozenset({("l3a", "2001:db8:0:3::2")}))
    assert "2001:db8:100:2::/64" not in r1_v6  # r2 is reached through l1a only: no IPv6 next hop there
    # single topology: r3 cannot know that r1 has no IPv6 way onward and keeps both of its paths
    # (docs/routing.md, Limits: every link should carry both families)
    assert net.table("r3", 6)["2001:db8:100:2::/64"] == net.table("r3")["10.100.2.0/24"][:1] + (
        frozenset({("l3b", "2001:db8:0:3::1"), ("l4a", "2001:db8:0:4::2")}),)
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("no IPv6 next hop through 2.2.2.2 on l1a")]
    assert said == ["no IPv6 next hop through 2.2.2.2 on l1a (it announces no address6 there): "
                    "IPv6 routes through it left out"]
    assert net.routers["r1"].stats["route6_no_nexthop"] == 1
    assert [n.address6 for n in net.routers["r1"].ports["l1a"].neighbors.values()] == [None]


def test_an_address6_off_the_link_is_counted_and_not_used(caplog):
    """A neighbour announcing an address6 outside the link's IPv6 subnet: no
    IPv6 route through it (the kernel could not reach that gateway); IPv4 fine."""
    caplog.set_level(logging.WARNING, logger="labnode.routing")
    cfg = DUAL.config("r2")
    for entry in cfg["interfaces"]:
        if entry["name"] == "l1b":
            entry["address6"] = "2001:db8:77::2/64"
    net = SimNet(DUAL, per_router={"r2": {"interfaces": cfg["interfaces"]}})
    net.run(1.0)
    r1 = net.routers["r1"]
    assert r1.stats["rx_bad_address6"] == 1  # once, not once per hello
    assert net.table("r1") == DUAL.expected_routes("r1")
    assert net.table("r1", 6)["2001:db8:100:4::/64"] == (20, frozenset({("l3a", "2001:db8:0:3::2")}))
    assert any("announces address6 2001:db8:77::2, which is not on l1a's IPv6 subnet 2001:db8:0:1::/64"
               in r.getMessage() for r in caplog.records)


def test_a_changed_address6_moves_the_ipv6_next_hop():
    net = converged_dual()
    r1 = net.routers["r1"]
    nb = r1.ports["l1a"].neighbors[R["r2"]]
    hello = Hello(0.2, 0.8, nb.incarnation, (R["r1"],), parse_prefix6("2001:db8:0:1::99/128")[0])
    net.inject("r1", "l1a", "10.0.1.2", Codec(R["r2"]).hello(hello))
    net.run(0.05)
    hops = net.table("r1", 6)["2001:db8:100:2::/64"][1]
    assert hops == frozenset({("l1a", "2001:db8:0:1::99")})
    assert net.table("r1")["10.100.2.0/24"][1] == frozenset({("l1a", "10.0.1.2")})


def test_configured_ipv6_prefixes_with_metrics_and_a_routed_subnet_that_follows_its_link():
    extra = {"r4": {"prefixes6": [DUAL.lan6("r4"), {"prefix": "2001:db8:9::/48", "metric": 5},
                                  "2001:db8:0:2::/64"]}}  # the last is r4's l2b subnet: goes with the link
    net = SimNet(DUAL, per_router=extra)
    net.run(1.0)
    assert net.table("r1", 6)["2001:db8:9::/48"][0] == 25
    assert "2001:db8:0:2::/64" in net.table("r1", 6)
    net.set_link(2, up=False)
    net.run(0.5)
    assert "2001:db8:0:2::/64" not in net.table("r1", 6)
    assert net.table("r1", 6)["2001:db8:9::/48"][0] == 25
    lsa = net.routers["r1"].lsdb.get(R["r4"], net.now)
    assert (parse_prefix6("2001:db8:9::/48")[0], 48, 5) in lsa.prefixes6


def test_an_ipv4_only_router_in_a_dual_stack_lab_carries_the_others_lsas():
    """r3 speaks no IPv6 at all: it floods the others' IPv6 prefixes (version 2
    LSUs) and installs no IPv6 route; the others route IPv6 around it."""
    plain = {k: v for k, v in SQUARE.config("r3").items()}
    net = SimNet(DUAL, per_router={"r3": {"interfaces": plain["interfaces"], "prefixes6": []}})
    net.run(1.0)
    r3 = net.routers["r3"]
    assert not r3.config.dual_stack and r3.routes6 == {}
    assert net.table("r3") == DUAL.expected_routes("r3")
    assert any(lsa.prefixes6 for lsa in r3.lsdb.lsas(net.now).values())
    assert net.table("r1", 6)["2001:db8:100:4::/64"] == (20, frozenset({("l1a", "2001:db8:0:1::2")}))
    assert DUAL.lan6("r3") not in net.table("r1", 6)
