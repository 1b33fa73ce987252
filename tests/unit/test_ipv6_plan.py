"""IPv6 in the plan (compile/addressing6.py, compile/ipv6.py): subnets and
addresses for both families, SLAAC predicted from the MAC, routes computed
for IPv6 as for IPv4, the advertisement senders and sysctls, and the checks
of both families."""

import ipaddress

from orchestrator.compile import compile_file, compile_text
from orchestrator.compile.addressing6 import eui64, lab_prefix
from orchestrator.render.files import render_plan
from tests.conftest import LABS

DUAL = LABS / "dual-stack"


def test_a_labs_own_prefix_is_a_stable_unique_local_48():
    a, b = lab_prefix("five-subnets"), lab_prefix("dual-stack")
    assert a == lab_prefix("five-subnets") and a != b
    assert a.prefixlen == 48 and a.subnet_of(ipaddress.ip_network("fd00::/8"))


def test_slaac_addresses_are_predicted_by_modified_eui64():
    # RFC 4291 appendix A: 52:54:00:12:34:56 -> interface id 5054:ff:fe12:3456 (the U/L bit inverted)
    net = ipaddress.ip_network("2001:db8:1:1::/64")
    assert str(eui64(net, "52:54:00:12:34:56")) == "2001:db8:1:1:5054:ff:fe12:3456/64"
    assert str(eui64(net, "02:00:00:00:00:01")) == "2001:db8:1:1:0:ff:fe00:1/64"


def test_dual_stack_gives_every_segment_a_64_and_every_router_its_v4_host_number():
    plan = compile_file(DUAL).result()
    prefixes = [ipaddress.ip_network(s.prefix6) for s in plan.segments if s.prefix6]
    assert len(prefixes) == len(plan.segments) == 5 and len(set(prefixes)) == 5
    assert all(p.prefixlen == 64 and p.subnet_of(ipaddress.ip_network("2001:db8:1::/48")) for p in prefixes)
    for node in plan.nodes.values():
        for iface in node.interfaces:
            if node.kind == "router":     # 10.0.0.5/30 -> ::5, 192.168.1.1 -> ::1
                v4 = ipaddress.ip_interface(iface.address)
                host = int(v4.ip) - int(v4.network.network_address)
                assert iface.address6.split("/")[0].endswith(f"::{host}") and not iface.slaac
            elif node.kind == "host":     # SLAAC: prefix + EUI-64 of its MAC
                lan = next(ipaddress.ip_network(s.prefix6) for s in plan.segments
                           if f"{node.name}:{iface.name}" in s.ports)
                assert iface.slaac and iface.address6 == str(eui64(lan, iface.mac))


def _reachable_v6(plan, src):
    """The IPv6 subnets a packet from router `src` reaches following the
    plan's routes hop by hop (an independent walk, not the compiler's SPF)."""
    owner = {i.address6.split("/")[0]: n.name for n in plan.nodes.values() for i in n.interfaces if i.address6}
    on = {n.name: {str(ipaddress.ip_interface(i.address6).network) for i in n.interfaces if i.address6}
          for n in plan.nodes.values()}
    every = {s.prefix6 for s in plan.segments if s.prefix6}
    reached = set()
    for net in every:
        node, hops = src, 0
        while net not in on[node] and hops < 10:
            routes = {to: g.via for g in plan.nodes[node].computed_routes for to in g.to}
            if net not in routes:
                break
            node, hops = owner[routes[net]], hops + 1
        if net in on[node]:
            reached.add(net)
    return reached, every


def test_computed_ipv6_routes_reach_every_subnet_from_every_router():
    plan = compile_file(DUAL).result()
    for router in ("r1", "r2", "r3"):
        reached, every = _reachable_v6(plan, router)
        assert reached == every, router
    r1 = plan.nodes["r1"]
    v6 = [g for g in r1.computed_routes if ":" in g.via]
    assert [g.via for g in v6] == [plan.nodes["r2"].interface("eth1").address6.split("/")[0]]


def test_the_square_with_127s_and_static_hosts_matches_its_v4_routes():
    plan = compile_file(LABS.parent / "tests" / "unit" / "plan" / "input" / "square-computed-v6.yml").result()
    p2p = [ipaddress.ip_network(s.prefix6) for s in plan.segments if s.prefix6 and
           ipaddress.ip_network(s.prefix6).prefixlen == 127]
    assert len(p2p) == 5 and all(p.subnet_of(ipaddress.ip_network("2001:db8:42:ffff::/64")) for p in p2p)
    h1 = plan.nodes["h1"]
    assert not h1.interface("eth0").slaac and h1.interface("eth0").address6.endswith("::10/64")
    gw6 = [r for r in h1.routes if r.to == "default" and ":" in r.via]
    assert len(gw6) == 1 and gw6[0].via.endswith("::1")
    # the same next hop router for both families, subnet by subnet
    for name in ("r1", "r2", "r3", "r4"):
        node = plan.nodes[name]
        owner = {a.split("/")[0]: n.name for n in plan.nodes.values() for i in n.interfaces
                 for a in (i.address, i.address6) if a}
        by_family = {4: {}, 6: {}}
        for g in node.computed_routes:
            by_family[6 if ":" in g.via else 4][owner[g.via]] = len(g.to)
        assert by_family[4] == by_family[6], name


def test_v4_only_labs_keep_ipv6_off():
    plan = compile_file(LABS / "five-subnets").result()
    assert all(i.address6 is None for n in plan.nodes.values() for i in n.interfaces)
    assert all(n.sysctls["net.ipv6.conf.all.disable_ipv6"] == "1" for n in plan.nodes.values())
    assert not any(s.name.startswith("ra-") for n in plan.nodes.values() for s in n.services)


def test_routers_advertise_on_slaac_lans_only_and_switch_ipv6_on():
    plan = compile_file(DUAL).result()
    r2 = plan.nodes["r2"]
    assert [(s.type, s.args) for s in r2.services if s.name.startswith("ra-")] == [
        ("ra", {"iface": "eth0", "prefix": "2001:db8:1:2::/64", "interval": 10})]
    assert r2.sysctls["net.ipv6.conf.all.forwarding"] == "1" and r2.sysctls["net.ipv6.conf.all.disable_ipv6"] == "0"
    pc3 = plan.nodes["pc3"]
    assert pc3.sysctls["net.ipv6.conf.default.accept_ra"] == "1"
    assert pc3.sysctls["net.ipv6.conf.default.addr_gen_mode"] == "0"    # EUI-64, as the plan predicts


def test_the_setup_script_adds_static_addresses_and_both_families_routes():
    files = render_plan(compile_file(DUAL).result())
    r1 = files["r1"]["/etc/labnet/setup.sh"]
    assert "addr replace 2001:db8:1:1::1/64 dev eth0" in r1
    assert "route replace 2001:db8:1:3::/64 via 2001:db8:1:4::2 dev eth1" in r1
    assert "route replace 192.168.2.0/24 via 10.0.0.2 dev eth1" in r1
    pc1 = files["pc1"]["/etc/labnet/setup.sh"]
    assert "addr replace 2001:db8" not in pc1 and "by SLAAC" in pc1


def test_checks_of_both_families_probe_each_address():
    plan = compile_file(DUAL).result()
    pairs = [c for c in plan.checks if c.title.startswith("every PC reaches every PC")]
    assert len(pairs) == 2 * 30 and len({c.id for c in plan.checks}) == len(plan.checks)
    v6 = [c for c in pairs if c.family == 6]
    assert len(v6) == 30 and all(":" in c.address for c in v6) and all("IPv6" in c.title for c in v6)
    pc6 = plan.nodes["pc6"].interface("eth0").address6.split("/")[0]
    assert any(c.src == "pc1" and c.dst == "pc6" and c.address == pc6 for c in v6)


STATIC = """
name: six
ipv6: {hosts: static}
nodes:
  r1: {kind: router, interfaces: {eth0: [10.0.1.1/24, "2001:db8:7::1/64"], eth1: 10.0.2.1/24},
       routes: [{to: "2001:db8:9::/64", via: "2001:db8:7::99"}]}
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1}
  pc9: {kind: host, interfaces: {eth0: [10.0.1.99/24, "2001:db8:7::99/64"]}}
  pc2: {kind: host, interfaces: {eth0: 10.0.2.20/24}, gateway: 10.0.2.1}
lans:
  lan: {members: [r1:eth0, pc1, pc9]}
links: [[r1:eth1, pc2:eth0]]
"""


def test_written_addresses_win_and_the_others_follow_their_subnet():
    plan = compile_text(STATIC).result()
    assert plan.nodes["pc1"].interface("eth0").address6 == "2001:db8:7::10/64"    # the LAN of r1's written /64
    assert plan.nodes["pc9"].interface("eth0").address6 == "2001:db8:7::99/64"
    own = lab_prefix("six")
    pc2 = ipaddress.ip_interface(plan.nodes["pc2"].interface("eth0").address6)
    assert pc2.network.subnet_of(own) and str(pc2.ip).endswith("::20")
    r1 = plan.nodes["r1"]
    assert [(r.to, r.via, r.origin) for r in r1.routes] == [("2001:db8:9::/64", "2001:db8:7::99", "static")]
    assert [(r.to, r.via) for r in plan.nodes["pc1"].routes] == [("default", "10.0.1.1"), ("default", "2001:db8:7::1")]


def test_a_lan_may_keep_ipv6_off_and_another_turn_it_on_alone():
    text = STATIC.replace("ipv6: {hosts: static}\n", "").replace(
        "lan: {members: [r1:eth0, pc1, pc9]}", "lan: {members: [r1:eth0, pc1, pc9], ipv6: static}")
    plan = compile_text(text).result()
    assert plan.nodes["pc1"].interface("eth0").address6 == "2001:db8:7::10/64"
    assert plan.nodes["pc2"].interface("eth0").address6 is None            # its link was not asked
    assert plan.nodes["pc2"].sysctls["net.ipv6.conf.all.disable_ipv6"] == "1"
