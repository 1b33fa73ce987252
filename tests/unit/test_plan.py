"""Planning: every interface, MAC, address, route, sysctl and label resolved."""

import ipaddress
from pathlib import Path

from orchestrator.compile import compile_file, compile_lab, compile_text
from orchestrator.compile.build import make_mac
from orchestrator.model.load import read_lab

LABS = Path(__file__).resolve().parent.parent.parent / "labs"


def five():
    return compile_file(LABS / "five-subnets").result()


def test_interfaces_addresses_and_peers():
    plan = five()
    r2 = plan.nodes["r2"]
    assert [(i.name, i.address, i.peer) for i in r2.interfaces] == [
        ("eth0", "192.168.2.1/24", "s2:eth2"),
        ("eth1", "10.0.12.2/30", "r1:eth1"),
        ("eth2", "10.0.23.1/30", "r3:eth1"),
    ]
    assert [(i.name, i.address) for i in plan.nodes["s1"].interfaces] == [
        ("eth0", None), ("eth1", None), ("eth2", None)]
    assert plan.nodes["s1"].bridge == "br0"
    assert plan.nodes["r1"].bridge is None


def test_routes_resolve_their_interface():
    plan = five()
    assert [(r.to, r.via, r.dev, r.origin) for r in plan.nodes["pc1"].routes] == [
        ("default", "192.168.1.1", "eth0", "gateway")]
    assert [(r.to, r.via, r.dev) for r in plan.nodes["r3"].routes] == [
        ("192.168.1.0/24", "10.0.23.1", "eth1"),
        ("192.168.2.0/24", "10.0.23.1", "eth1"),
        ("10.0.12.0/30", "10.0.23.1", "eth1"),
    ]


def test_only_routers_forward():
    plan = five()
    for node in plan.nodes.values():
        want = "1" if node.kind == "router" else "0"
        assert node.sysctls["net.ipv4.ip_forward"] == want, node.name


def test_labels_and_names():
    plan = compile_lab(read_lab(LABS / "five-subnets"), name="copy2", source="/x/lab.yml").result()
    pc1 = plan.nodes["pc1"]
    assert pc1.container == "labnet-copy2-pc1"
    assert pc1.hostname == "pc1"
    assert pc1.labels == {"labnet.project": "labnet", "labnet.lab": "copy2", "labnet.node": "pc1",
                          "labnet.kind": "host", "labnet.source": "/x/lab.yml"}


def test_macs_are_stable_unique_and_locally_administered():
    plan = five()
    macs = [i.mac for n in plan.nodes.values() for i in n.interfaces]
    assert len(macs) == len(set(macs)) == 22
    for mac in macs:
        first = int(mac[:2], 16)
        assert first & 0b10 and not first & 1
    assert five().model_dump() == plan.model_dump()
    assert make_mac("a", "n", "eth0") != make_mac("b", "n", "eth0")


def test_every_link_end_is_an_interface_exactly_once():
    plan = five()
    ends = [str(e) for link in plan.links for e in (link.a, link.b)]
    assert len(ends) == len(set(ends)) == 22
    for link in plan.links:
        a = next(i for i in plan.nodes[link.a.node].interfaces if i.name == link.a.iface)
        assert a.peer == str(link.b) and a.link == link.id


def test_bare_link_ends_take_declared_then_free_interfaces():
    plan = compile_text("""
name: auto
nodes:
  h1: {kind: host, interfaces: {eth0: 10.0.0.1/24}}
  h2: {kind: host, interfaces: {eth0: 10.0.0.2/24}}
  s1: {kind: switch}
links:
  - [h1, s1]
  - [h2, s1]
""").result()
    assert [(str(lk.a), str(lk.b)) for lk in plan.links] == [("h1:eth0", "s1:eth0"), ("h2:eth0", "s1:eth1")]


def test_hosts_file_entries():
    assert ("192.168.3.11", "pc6") in five().hosts_entries()
    assert all(name[0] in "prs" for _, name in five().hosts_entries())


def test_overlapping_pools_never_hand_out_an_address_twice():
    plan = compile_text("pools: {lan: 10.0.0.0/16, p2p: 10.0.0.0/16}\n"
                        "nodes:\n  r1: {kind: router}\n  r2: {kind: router}\n  h1: {kind: host}\n  h2: {kind: host}\n"
                        "links:\n  - [r1, r2]\n  - [h1, r1]\n  - [h2, r2]\n", default_name="x").result()
    subnets = [ipaddress.ip_interface(i.address).network for n in plan.nodes.values() for i in n.interfaces]
    distinct = sorted(set(subnets))
    assert len(distinct) == 3
    assert not any(a.overlaps(b) for a in distinct for b in distinct if a != b)
