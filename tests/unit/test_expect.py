"""The expect section: parsing, validation messages, resolution against plans."""

import pytest
import yaml

from orchestrator.compile import compile_text
from orchestrator.compile.checks import check_expectations, plan_checks, resolve
from orchestrator.errors import TopologyError
from orchestrator.lab import plan_lab
from orchestrator.model.units import parse_duration
from tests.conftest import LABS

NODES = {"pc1": "host", "pc2": "host", "r1": "router", "s1": "switch"}
IFACES = {"pc1": ["eth0"], "pc2": ["eth0"], "r1": ["eth0", "eth1"], "s1": ["eth0", "eth1"]}


def problems(text: str, interfaces=IFACES) -> list[str]:
    _, found = check_expectations(yaml.safe_load(text), NODES, interfaces)
    return [f"{p.where}: {p.message}" + (f" (hint: {p.hint})" if p.hint else "") for p in found]


@pytest.fixture(scope="module")
def five():
    return plan_lab(LABS / "five-subnets")[0]


def checks(plan, text):
    return plan_checks(yaml.safe_load(text), plan)


def test_every_kind_parses():
    exps, found = check_expectations(yaml.safe_load("""
- all_pairs: hosts
- reach: {from: pc1, to: [pc2, r1.eth1, 10.0.0.1], proto: tcp:80}
- deny: {from: pc1, to: pc2, proto: udp:53, wait: 2s, timeout: 500ms}
- path: {from: pc1, to: pc2, via: [r1]}
- service: {node: pc2, http: /index.html, status: 200, contains: Hello, port: 8080, from: pc1}
- chat: {server: pc2, clients: pc1}
- nat_source: {from: pc1, to: pc2, seen_as: r1.eth1}
- {all_pairs: [pc1, pc2], name: both, wait: 3}
"""), NODES, IFACES)
    assert found == []
    assert [e.kind for e in exps] == ["all_pairs", "reach", "deny", "path", "service", "chat", "nat_source",
                                      "all_pairs"]
    assert exps[2].spec.wait == 2.0 and exps[2].spec.timeout == 0.5
    assert exps[5].spec.clients == ["pc1"]
    assert exps[7].spec.name == "both" and exps[7].spec.wait == 3.0


def test_unknown_kind_says_did_you_mean_and_lists_the_kinds():
    assert problems("- reachh: {from: pc1, to: pc2}") == [
        "expect[0].reachh: unknown expectation 'reachh' (hint: did you mean 'reach'? "
        "(kinds: all_pairs, chat, deny, dhcp, dns, nat_source, neigh, path, reach, service))"]


def test_unknown_kind_far_from_any_lists_kinds_not_common_keys():
    assert problems("- ping: {from: pc1, to: pc2}") == [
        "expect[0].ping: unknown expectation 'ping' "
        "(hint: kinds: all_pairs, chat, deny, dhcp, dns, nat_source, neigh, path, reach, service)"]


def test_unknown_key_next_to_a_kind():
    assert problems("- {reach: {from: pc1, to: pc2}, nmae: x}") == [
        "expect[0].nmae: unknown key 'nmae' next to reach "
        "(hint: did you mean 'name'? (allowed next to reach: name, timeout, wait))"]


def test_a_kind_key_written_outside_its_kind():
    assert problems("- {reach: {from: pc1, to: pc2}, proto: tcp:22}") == [
        "expect[0].proto: 'proto' belongs inside reach "
        "(hint: indent it under reach, like reach: {from: pc1, to: [pc2], proto: icmp})"]


def test_every_error_is_reported_at_once_with_its_place():
    assert problems("""
- reach: {from: pc9, to: [pc2, r1.eth7, s1], proto: tcp}
- deny: {from: pc1, too: pc2}
- path: {from: pc1, to: pc2, via: [r1, pc2]}
- service: {node: pc2, http: index.html, status: 999}
- chat: {server: pc2, clients: []}
- all_pairs: everyone
- nat_source: {from: pc1, to: pc2}
- reach: {from: pc1, to: pc1, wait: soon, timeout: 0}
- 42
- {reach: {from: pc1, to: pc2}, deny: {from: pc1, to: pc2}}
- {reach: {from: pc1, to: pc2, name: a}, name: b}
- all_pairs: [pc1]
""") == [
        "expect[0].reach.proto: 'tcp' needs a port: write tcp:80",
        "expect[0].reach.from: unknown node 'pc9' (hint: did you mean 'pc2'? (nodes: pc1, pc2, r1, s1))",
        "expect[0].reach.to[1]: 'r1' has no interface 'eth7' (hint: did you mean 'eth1'? (its interfaces: eth0, eth1))",
        "expect[0].reach.to[2]: 's1' is a switch and cannot be the target (hint: the target must be a host or router)",
        "expect[1].deny.to: 'to' is required (hint: for example deny: {from: pc1, to: pc2, proto: tcp:22})",
        "expect[1].deny.too: unknown key 'too' (hint: did you mean 'to'?)",
        "expect[2].path.via[1]: 'pc2' is a host; via lists the routers on the way "
        "(hint: leave out the source and the target)",
        "expect[3].service.http: 'index.html' is not a URL path; write it from the root, like /index.html",
        "expect[3].service.status: must be at most 599, got 999",
        "expect[4].chat.clients: 'clients' needs at least one entry",
        "expect[5].all_pairs.nodes: 'everyone' is not a node group; write hosts, routers, all or a list of nodes",
        "expect[6].nat_source.seen_as: 'seen_as' is required "
        "(hint: for example nat_source: {from: pc1, to: web, seen_as: r1.eth1})",
        "expect[7].reach.wait: 'soon' is not a duration; write seconds like 5, 5s or 500ms",
        "expect[7].reach.timeout: a timeout must be more than 0 seconds",
        "expect[7].reach.to[0]: 'pc1' is also the source (hint: probe another node)",
        "expect[8]: expected a mapping like 'reach: {from: pc1, to: pc2}', got 42 "
        "(hint: kinds: reach, deny, path, service, chat, nat_source, all_pairs, dns, dhcp, neigh)",
        "expect[9]: has 2 expectations (reach, deny); write one per item "
        "(hint: kinds: reach, deny, path, service, chat, nat_source, all_pairs, dns, dhcp, neigh)",
        "expect[10].name: 'name' is given twice (here and in reach) (hint: keep one)",
        "expect[11].all_pairs.nodes: all_pairs needs at least two nodes (hint: list two or more, or write hosts)",
    ]


def test_interface_references_are_checked_only_when_interfaces_are_known():
    assert problems("- reach: {from: pc1, to: r1.eth9}", interfaces=None) == []


@pytest.mark.parametrize("text, seconds", [(5, 5.0), (2.5, 2.5), ("5s", 5.0), ("500ms", 0.5), ("1m", 60.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_load_reports_expect_problems_with_lines_when_load_calls_the_check():
    # load.py keeps `expect` raw; resolving against the plan reports with the file's name
    plan = plan_lab(LABS / "two-pcs")[0]
    with pytest.raises(TopologyError) as info:
        plan_checks([{"reach": {"from": "pc1", "to": "pc3"}}], plan)
    assert str(info.value).endswith("1 error in the lab file:\n"
                                    "  expect[0].reach.to[0]: unknown node 'pc3' "
                                    "(hint: did you mean 'pc2'? (nodes: pc1, pc2))")


def test_resolution_turns_names_into_plan_addresses(five):
    got = checks(five, """
- reach: {from: pc1, to: [pc6, r2.eth2, 10.0.12.1], proto: icmp}
- path: {from: pc1, to: pc6, via: [r1, r2, r3]}
- nat_source: {from: pc1, to: pc5, seen_as: r1.eth1}
- nat_source: {from: pc1, to: pc5, seen_as: r2, name: any address of r2}
- service: {node: pc3, http: /x, status: 404}
- chat: {server: pc3, clients: [pc1, pc2], port: 5001}
""")
    assert [(c.id, c.kind, c.src, c.address) for c in got] == [
        ("expect[0].reach.to[0]", "reach", "pc1", "192.168.3.11"),
        ("expect[0].reach.to[1]", "reach", "pc1", "10.0.23.1"),
        ("expect[0].reach.to[2]", "reach", "pc1", "10.0.12.1"),
        ("expect[1].path", "path", "pc1", "192.168.3.11"),
        ("expect[2].nat_source", "nat_source", "pc1", "192.168.3.10"),
        ("expect[3].nat_source", "nat_source", "pc1", "192.168.3.10"),
        ("expect[4].service", "service", "pc3", "192.168.2.10"),
        ("expect[5].chat.clients[0]", "chat", "pc1", "192.168.2.10"),
        ("expect[5].chat.clients[1]", "chat", "pc2", "192.168.2.10"),
    ]
    assert got[0].title == "reach pc1 -> pc6 icmp" and got[0].expected == "reply"
    assert got[3].via == ["r1", "r2", "r3"] and got[3].expected == "via r1 -> r2 -> r3 -> pc6"
    assert got[4].seen_as == ["10.0.12.1"] and got[4].expected == "seen as r1.eth1 (10.0.12.1)"
    assert got[5].seen_as == ["192.168.2.1", "10.0.12.2", "10.0.23.1"]
    assert got[6].expected == "status 404" and got[6].timeout == 3.0
    assert got[7].port == 5001


def test_all_pairs_hosts_is_every_ordered_pair_of_hosts(five):
    got = checks(five, "- all_pairs: hosts")
    assert len(got) == 30
    assert {(c.src, c.dst) for c in got} == {(a, b) for a in ("pc1", "pc2", "pc3", "pc4", "pc5", "pc6")
                                             for b in ("pc1", "pc2", "pc3", "pc4", "pc5", "pc6") if a != b}
    assert len({c.title for c in got}) == 30  # each is its own test id
    assert len(checks(five, "- all_pairs: routers")) == 6


def test_names_and_duplicate_titles(five):
    got = checks(five, """
- reach: {from: pc1, to: [pc2, pc3], name: lan}
- reach: {from: pc1, to: pc4, name: one}
- reach: {from: pc1, to: pc4}
- reach: {from: pc1, to: pc4}
""")
    assert [c.title for c in got] == ["lan [pc1 -> pc2]", "lan [pc1 -> pc3]", "one", "reach pc1 -> pc4 icmp",
                                      "reach pc1 -> pc4 icmp #2"]


def test_interface_without_such_name_in_plan(five):
    with pytest.raises(TopologyError) as info:
        checks(five, "- reach: {from: pc1, to: r2.eth9}")
    assert [p.format() for p in info.value.problems] == [
        "expect[0].reach.to[0]: 'r2' has no interface 'eth9' "
        "(hint: did you mean 'eth2'? (its interfaces: eth0, eth1, eth2))"]


def test_resolve_reports_nodes_without_address():
    text = """
name: t
nodes:
  a: {kind: host}
  b: {kind: host}
  lone: {kind: host}
links:
  - {a: a, b: b, prefix: 10.0.0.0/24}
"""
    plan = compile_text(text).result()
    exps, found = check_expectations([{"reach": {"from": "a", "to": "lone"}}],
                                     {n: "host" for n in ("a", "b", "lone")})
    assert found == []
    _, unresolved = resolve(exps, plan)
    assert [(p.where, p.message) for p in unresolved] == [("expect[0].reach.to[0]", "'lone' has no address")]


@pytest.mark.parametrize("lab", sorted(p.parent.name for p in LABS.glob("*/lab.yml")))
def test_every_lab_has_valid_expectations(lab):
    plan = plan_lab(LABS / lab)[0]
    assert plan.checks, f"labs/{lab} has no expect section"


@pytest.mark.parametrize("written, method", [(None, "icmp"), ("icmp", "icmp"), ("UDP", "udp"), ("tcp", "tcp:80"),
                                             ("tcp:8080", "tcp:8080")])
def test_path_method_defaults_to_icmp_and_tcp_to_port_80(five, written, method):
    extra = f", method: '{written}'" if written else ""
    [check] = checks(five, f"- path: {{from: pc1, to: pc6, via: [r1, r2, r3]{extra}}}")
    assert check.proto == method


@pytest.mark.parametrize("written, message", [
    ("ping", "expect[0].path.method: 'ping' is not a traceroute method; expected icmp, udp, tcp or tcp:PORT"),
    ("udp:53", "expect[0].path.method: 'udp:53' is not a traceroute method; expected icmp, udp, tcp or tcp:PORT"),
    ("tcp:0", "expect[0].path.method: port 0 is out of range (1-65535)"),
])
def test_a_bad_path_method_says_what_is_allowed(written, message):
    assert problems(f"- path: {{from: pc1, to: pc2, via: [r1], method: '{written}'}}") == [message]
