"""Per-student variants of an exercise (model/variants.py): each student's lab
numbered, ported and named apart, always the same for the same student, and
what the teacher wrote (faults, checks, a checks file kept apart) moved with it."""

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import exercise, faults
from orchestrator.compile import compile_file, compile_text
from orchestrator.model import variants
from tests.conftest import LABS

ROUTING = LABS / "exercises" / "fix-the-routing"
FIREWALL = LABS / "exercises" / "open-the-firewall"


def subnets(plan):
    return [ipaddress.ip_network(s.prefix) for s in plan.segments if s.prefix]


def test_the_same_student_always_gets_the_same_lab():
    one = compile_file(ROUTING, student="alice").result()
    two = compile_file(ROUTING, student="alice").result()
    assert one.model_dump() == two.model_dump()
    assert one.exercise.student == "alice" and one.exercise.seed == "fix-the-routing"


def test_students_get_subnets_of_their_own_inside_the_ranges_and_apart_from_each_other():
    teacher = compile_file(ROUTING).result()
    assert ipaddress.ip_network("192.168.1.0/24") in subnets(teacher)
    seen = set()
    for student in ("alice", "bob", "carol", "dave", "erin", "frank"):
        plan = compile_file(ROUTING, student=student).result()
        nets = subnets(plan)
        assert len(nets) == len(subnets(teacher)) == 5
        for a, b in itertools.combinations(nets, 2):
            assert not a.overlaps(b), f"{student}: {a} overlaps {b}"
        lans = [n for n in nets if n.prefixlen == 24]
        links = [n for n in nets if n.prefixlen == 30]
        assert all(n.subnet_of(ipaddress.ip_network("172.16.0.0/12")) for n in lans)
        assert all(n.subnet_of(ipaddress.ip_network("10.0.0.0/8")) for n in links)
        assert len({n.supernet(new_prefix=16) for n in lans}) == 1     # the block moved as a whole
        seen.add(tuple(sorted(map(str, nets))))
    assert len(seen) >= 5     # six students, 16 x 256 variants: different labs (a shared draw is rare)


def test_addresses_routes_gateways_faults_and_checks_move_together():
    plan = compile_file(ROUTING, student="alice").result()
    moved = variants.Drawn.decode(plan.exercise.variant).subnets[ipaddress.ip_network("192.168.0.0/16")]
    lan1 = str(moved).replace(".0.0/16", ".1.0/24")
    r1 = plan.nodes["r1"]
    assert r1.interface("eth0").address == lan1.replace(".0/24", ".1/24")
    assert [r.via for r in plan.nodes["pc1"].routes if r.origin == "gateway"] == [lan1.replace(".0/24", ".1")]
    titles = [f.title for f in plan.exercise.faults]
    assert f"r3: route to {lan1} removed" in titles
    assert any(lan1.replace(".1.0/24", ".2.99") in t for t in titles)    # the wrong gateway, moved too
    assert "192.168." not in plan.model_copy(update={"exercise": None}).model_dump_json()


def test_the_faults_a_student_is_shown_are_those_dealt_to_their_copy():
    # `lab plan --student` compiles under the file's name, `class up` under <lab>-<student>:
    # the draw is made from the file's name, so both give the student the same faults
    for student in ("alice", "bob", "carol", "dave"):
        shown = compile_file(ROUTING, student=student).result()
        copy = compile_file(ROUTING, name=f"fix-the-routing-{student}", student=student).result()
        assert ([f.where for f in faults.dealt_for(shown, student)]
                == [f.where for f in faults.dealt_for(copy, student)])


def test_ports_and_names_move_in_services_rules_faults_and_checks():
    plan = compile_file(FIREWALL, student="carol").result()
    drawn = variants.Drawn.decode(plan.exercise.variant)
    port, name = drawn.ports[5000], drawn.names["ext"]
    assert 5000 < port <= 5999 and name in ("isp", "carrier", "partner", "remote", "upstream", "cloud")
    assert "ext" not in plan.nodes and name in plan.nodes
    assert [s.port for s in plan.nodes["chatsrv"].services] == [port]
    text = plan.model_dump_json()
    assert f'"port":{port}' in text.replace(" ", "") and ":5000" not in text
    assert all("ext" not in f.title for f in plan.exercise.faults)
    chats = [c for c in plan.exercise.checks if c.kind == "chat"]
    assert {c.src for c in chats} == {name, "pc2"} and {c.port for c in chats} == {port}   # the server's port


def test_a_checks_file_kept_apart_is_moved_for_the_student(tmp_path):
    checks = tmp_path / "checks.yml"
    checks.write_text("- reach: {from: pc1, to: 192.168.3.10}\n- path: {from: pc1, to: pc6, via: [r1, r2, r3]}\n")
    plan = compile_file(ROUTING, student="bob").result()
    found = exercise.read_checks(checks, plan)
    moved = variants.Drawn.decode(plan.exercise.variant).subnets[ipaddress.ip_network("192.168.0.0/16")]
    assert found[0].address == str(moved.network_address).replace(".0.0", ".3.10")


def test_without_a_student_the_file_is_as_written_and_its_variants_checked():
    plan = compile_file(ROUTING).result()
    assert plan.exercise.student is None and plan.exercise.variant == {}
    assert plan.nodes["r1"].interface("eth0").address == "192.168.1.1/24"


LAB = """
name: v
description: LAN 10.0.1.0/24, port 8080
nodes:
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}}
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1}
  pc2: {kind: host, interfaces: {eth0: 10.0.2.10/24}, gateway: 10.0.2.1,
        services: [{type: chat, port: 8080}, {type: udp-echo, port: 80}]}
links: [[pc1:eth0, r1:eth0], [r1:eth1, pc2:eth0]]
exercise:
  faults: [{firewall_block: {node: r1, from: pc1, to: pc2, proto: udp:8080}}]
  checks: [{reach: {from: pc1, to: pc2}}, {service: {node: pc2, from: pc1, port: 8080}}]
  variants:
    subnets: [{from: 10.0.1.0/24, to: 10.0.128.0/17}]
    ports: [{from: 8080, to: 9000-9999}]
    names: [{from: pc2, to: [srv-a, srv-b, srv-c]}]
"""


def test_the_rewrite_touches_only_what_it_moves():
    plan = compile_text(LAB, student="zoe").result()
    drawn = variants.Drawn.decode(plan.exercise.variant)
    new, port = drawn.names["pc2"], drawn.ports[8080]
    assert sorted(plan.nodes) == sorted(["r1", "pc1", new])
    assert [s.port for s in plan.nodes[new].services] == [port, 80]           # port 80 stays
    assert plan.nodes["r1"].interface("eth1").address == "10.0.2.1/24"      # outside the block: stays
    assert plan.description == f"LAN {drawn.subnets[ipaddress.ip_network('10.0.1.0/24')]}, port 8080"
    assert f"udp:{port}" in plan.exercise.faults[0].title


def test_the_rewriter_leaves_alone_what_only_looks_like_it():
    drawn = variants.Drawn(subnets={ipaddress.ip_network("10.0.0.0/16"): ipaddress.ip_network("10.9.0.0/16")},
                           ports={80: 8081}, names={"r1": "core"})
    assert variants.rewrite(["10.0.80.1/24", "fd00::80", "tcp:80", "r10", "r1.eth0", "1.10.0.0.1", "web:80"],
                            drawn) == ["10.9.80.1/24", "fd00::80", "tcp:8081", "r10", "core.eth0", "1.10.0.0.1",
                                       "web:8081"]
    assert variants.rewrite({"port": 80, "cost": 80, "lans": {"r1": {}}}, drawn) == {
        "port": 8081, "cost": 80, "lans": {"r1": {}}}        # a node is renamed only as a key of the top nodes:
    assert variants.rewrite({"nodes": {"r1": {"port": 80}}}, drawn) == {"nodes": {"core": {"port": 8081}}}


@settings(max_examples=25, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True))
def test_every_student_name_makes_a_lab_that_compiles(student):
    plan = compile_text(LAB, student=student).result()
    nets = subnets(plan)
    assert all(not a.overlaps(b) for a, b in itertools.combinations(nets, 2))
    assert plan.exercise.student == student
