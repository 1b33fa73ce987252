"""What a lab file's parts that do not validate leave known (issue 15, "Daily
use"): a node with one bad field keeps its name, kind and other fields; the
checks of what did validate run too, and report no consequence of what did not."""

import pytest

from orchestrator.compile import compile_text
from orchestrator.errors import TopologyError
from orchestrator.model.load import parse_text


def errors(text: str) -> list[str]:
    with pytest.raises(TopologyError) as info:
        compile_text(text, default_name="x").result()
    return [p.format() for p in info.value.problems]


def test_a_node_with_a_bad_field_keeps_its_kind_and_other_fields():
    lab = parse_text("nodes:\n  srv: {kind: host, interfaces: {eth0: 10.0.0.2/24}, gateway: 10.0.0.1,"
                     " services: [{type: udp-echo, port: 8o}]}\n")
    assert "srv" in lab.broken and lab.name_only == set()
    spec = lab.nodes["srv"]
    assert (spec.kind, str(spec.interfaces["eth0"].address), str(spec.gateway)) == ("host", "10.0.0.2/24", "10.0.0.1")
    assert spec.services == [] and lab.unread.of("srv") == {"services"}


def test_a_bad_address_leaves_that_interface_known_without_its_address():
    lab = parse_text("nodes:\n  r1: {kind: router, interfaces: {eth0: 10.1.0.1/2x4, eth1: {address: 10.2.0.1/24,"
                     " mac: '02:00:00:00:00:01'}}}\n")
    spec = lab.nodes["r1"]
    assert spec.interfaces["eth0"].address is None and str(spec.interfaces["eth1"].address) == "10.2.0.1/24"
    assert lab.unread.of("r1") == {"interfaces.eth0"}


def test_a_misspelt_key_leaves_the_field_it_meant_unknown():
    lab = parse_text("nodes:\n  h1: {kind: host, gatway: 10.0.0.1}\n")
    assert lab.nodes["h1"].gateway is None and lab.unread.of("h1") == {"gateway"}


def test_a_node_whose_kind_cannot_be_read_is_known_by_name_only():
    lab = parse_text("nodes:\n  r1: {kind: ruoter}\n  r2: router\n  r3: {kind: router}\n")
    assert lab.name_only == {"r1", "r2"} and set(lab.nodes) == {"r3"}


def test_links_and_lans_keep_what_validated():
    lab = parse_text("nodes: {a: {kind: host}, b: {kind: host}}\n"
                     "links:\n  - {a: a, b: b, cost: 0}\n  - {a: a, b: b, prefix: 10.0.0.0/33}\n  - [a, b, a]\n"
                     "lans:\n  l1: {members: [{node: a, address: 10.1.0.1/33}, b]}\n  l2: {members: a}\n")
    assert lab.links[0] is not None and lab.links[0].cost == 10
    assert lab.links[1] is not None and lab.links[1].prefix is None
    assert lab.links[2] is None
    assert lab.unread.loose == {"a", "b"}   # a link with its subnet unknown, a link not read, a LAN not read
    assert [m.node for m in lab.lans["l1"].members] == ["a", "b"] and lab.unread.members == {("l1", 0)}
    assert "l2" not in lab.lans and lab.unread.lans == {"l2"}


def test_top_level_keys_that_validate_are_used_all_the_same():
    lab = parse_text("name: ok\nrouting: dynmic\npools: {lan: 10.0.0.0/33}\nnodes: {a: {kind: host}}\n")
    assert lab.header is not None and lab.name == "ok" and set(lab.nodes) == {"a"}
    assert lab.unread.sections == {"routing", "pools"}
    assert lab.header.routing == "static"   # the default, while the written one is not known


def test_without_nodes_there_is_nothing_to_check_but_form():
    assert errors("routing: dynmic\nnodes: [a, b]\n") == [
        "line 1: routing: 'dynmic' is not allowed; expected 'static', 'computed' or 'dynamic'",
        "line 2: nodes: expected a mapping (key: value), got a list"]


def test_a_router_with_a_bad_routing_key_is_still_linked_and_makes_no_router_id_error():
    # whether it runs the daemon is unknown, so its id (its first address, 1.1.1.2, which is
    # r2's id too) is not judged; and r2 is still linked to it
    compiled = compile_text("routing: dynamic\nnodes:\n  r1: {kind: router, routing: dynmic}\n"
                            "  r2: {kind: router, interfaces: {eth0: 1.1.1.1/30}, router_id: 1.1.1.2}\n"
                            "links: [[r1, r2]]\n", default_name="x")
    assert [p.format() for p in compiled.errors] == [
        "line 3: nodes.r1.routing: 'dynmic' is not allowed; expected 'static', 'computed' or 'dynamic'"]
    assert compiled.warnings == []


def test_form_and_sense_errors_together_without_cascades():
    found = errors("""
nodes:
  r1: {kind: router, interfaces: {eth0: 10.1.0.1/24}, firewall: {input: {rules: [{action: accept, from: pc9}]}}}
  pc1: {kind: host, interfaces: {eth0: 10.1.0.1/24}, gateway: 10.1.0.1, services: [{type: select, port: 8o}]}
  pc2: {kind: host, interfaces: {eth0: 10.1.0.2/24}, gateway: 10.1.0.1}
  pc9: {kind: hots}
  s1: {kind: switch}
links: [[r1, s1], [pc1, s1], [pc2, s1], [pc9, s1]]
expect:
  - reach: {from: pc9, to: pc1}
""")
    assert found == [
        "line 4: nodes.pc1.interfaces.eth0: address 10.1.0.1 is already used by nodes.r1.interfaces.eth0 "
        "(hint: every interface needs its own address)",
        "line 4: nodes.pc1.services[0].port: expected a whole number, got '8o'",
        "line 6: nodes.pc9.kind: 'hots' is not allowed; expected 'host', 'switch' or 'router'",
    ]


def test_an_unknown_name_among_many_gets_the_closest_few():
    nodes = "".join(f"  pc{i}: {{kind: host}}\n" for i in range(1, 41))
    links = "".join(f"  - [pc{i}, s1]\n" for i in range(1, 41))
    (line,) = errors(f"nodes:\n{nodes}  s1: {{kind: switch}}\nlinks:\n{links}  - [pc77, s1]\n")
    assert line.startswith("line 84: links[40].a: unknown node 'pc77' (hint: did you mean ")
    assert "closest of 41 nodes: " in line


def test_the_hint_for_an_unknown_firewall_name_lists_nodes_and_lans():
    (line,) = errors("nodes:\n  r1: {kind: router, firewall: {input: {rules: [{action: accept, from: offce}]}}}\n"
                     "  pc1: {kind: host}\nlans:\n  office: {members: [r1, pc1]}\n")
    assert line == ("line 2: nodes.r1.firewall.input.rules[0].from: unknown node, LAN or subnet 'offce' "
                    "(hint: did you mean 'office'? (nodes and LANs: office, pc1, r1))")
