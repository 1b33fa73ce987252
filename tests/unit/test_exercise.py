"""Exercises without an engine: faults resolved into the scripts that deal and
take them back, dealing on a running lab (the record remembers it and `lab
test` switches to the exercise's checks), and the negative control's verdicts
on the in-memory backend. (Real nodes: tests/integration/test_exercise.py.)"""

import shlex

import pytest

from orchestrator import exercise, faults
from orchestrator import lab as api
from orchestrator.backend.protocol import ExecResult
from orchestrator.compile import compile_text
from orchestrator.errors import DeployError, TopologyError, UsageError
from orchestrator.operate import run_lab_tests
from orchestrator.record import Record
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend

LAB = """
name: ex
nodes:
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}, routes: [{to: 10.0.9.0/24, via: 10.0.2.2}],
       nat: {out: eth1}}
  r2: {kind: router, interfaces: {eth0: 10.0.2.2/24, eth1: 10.0.9.1/24}, routes: [{to: 10.0.1.0/24, via: 10.0.2.1}]}
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1}
  pc3: {kind: host, interfaces: {eth0: 10.0.1.11/24}, gateway: 10.0.1.1}
  pc4: {kind: host, interfaces: {eth0: 10.0.1.12/24}, gateway: 10.0.1.1}
  pc2: {kind: host, interfaces: {eth0: 10.0.9.10/24}, gateway: 10.0.9.1}
lans:
  lan1: {members: [r1:eth0, pc1, pc3, pc4]}
links:
  - [r1:eth1, r2:eth0]
  - [r2:eth1, pc2:eth0]
exercise:
  title: Every kind
  faults:
    - route_removed: {node: r1, to: 10.0.9.0/24}
    - route_wrong: {node: r2, to: 10.0.1.0/24, via: 10.0.2.9}
    - gateway_wrong: {node: pc1, via: 10.0.1.99}
    - mask_wrong: {node: pc3, prefix: 16}
    - address_clash: {node: pc4, address: pc1}
    - link_down: {node: r2, iface: eth1}
    - firewall_block: {node: r1, from: pc1, to: pc2, proto: tcp:80}
    - nat_missing: {node: r1}
  checks:
    - reach: {from: pc1, to: pc2}
"""


@pytest.fixture(scope="module")
def plan():
    return compile_text(LAB).result()


def scripts(plan, n):
    fault = plan.exercise.faults[n]
    deal, undo = fault.deal.splitlines(), fault.undo.splitlines()
    assert deal[0] == undo[0] == "set -e"         # a command that fails stops it, and says why
    return fault.title, deal[1:], undo[1:]


def test_each_fault_is_dealt_and_taken_back_by_its_own_commands(plan):
    assert scripts(plan, 0) == ("r1: route to 10.0.9.0/24 removed", ["ip route del 10.0.9.0/24"],
                                ["ip route replace 10.0.9.0/24 via 10.0.2.2 dev eth1"])
    assert scripts(plan, 1) == ("r2: route to 10.0.1.0/24 via 10.0.2.9 (not 10.0.2.1)",
                                ["ip route replace 10.0.1.0/24 via 10.0.2.9 dev eth0"],
                                ["ip route replace 10.0.1.0/24 via 10.0.2.1 dev eth0"])
    assert scripts(plan, 2) == ("pc1: default gateway 10.0.1.99 (not 10.0.1.1)",
                                ["ip route replace default via 10.0.1.99 dev eth0"],
                                ["ip route replace default via 10.0.1.1 dev eth0"])
    title, deal, undo = scripts(plan, 3)
    assert title == "pc3:eth0 is 10.0.1.11/16 (not /24)"
    assert deal == ["ip addr del 10.0.1.11/24 dev eth0", "ip addr add 10.0.1.11/16 dev eth0",
                    "ip route replace default via 10.0.1.1 dev eth0 2>/dev/null || true"]   # the kernel took it away
    assert undo[:2] == ["ip addr del 10.0.1.11/16 dev eth0", "ip addr add 10.0.1.11/24 dev eth0"]
    title, deal, _ = scripts(plan, 4)
    assert title == "pc4:eth0 has pc1's address 10.0.1.10" and deal[:2] == ["ip addr del 10.0.1.12/24 dev eth0",
                                                                            "ip addr add 10.0.1.10/24 dev eth0"]
    title, deal, undo = scripts(plan, 5)
    assert (title, deal, undo[0]) == ("r2:eth1 down", ["ip link set eth1 down"], "ip link set eth1 up")
    title, deal, undo = scripts(plan, 6)
    assert title == "r1: a rule drops tcp:80 from pc1 to pc2"
    assert deal[0] == "nft add table inet labnet_exercise6"
    assert shlex.split(deal[1])[-1] == "{ type filter hook forward priority -10; policy accept; }"
    assert deal[2] == ("nft add rule inet labnet_exercise6 forward "
                       "ip saddr 10.0.1.10 ip daddr 10.0.9.10 tcp dport 80 drop")
    assert undo == ["nft delete table inet labnet_exercise6"]
    assert scripts(plan, 7) == ("r1: NAT removed", ["nft delete table ip labnet_nat"],
                                ["nft -f /etc/labnet/nftables.nft"])


def test_a_rule_against_the_node_itself_is_on_its_input_hook(plan):
    text = LAB.replace("{node: r1, from: pc1, to: pc2, proto: tcp:80}", "{node: r1, to: r1.eth0, proto: icmp}")
    fault = compile_text(text).result().exercise.faults[6]
    assert "hook input" in fault.deal and "ip daddr 10.0.1.1 ip protocol icmp drop" in fault.deal


def test_the_exercise_checks_have_their_own_places():
    plan = compile_text(LAB).result()
    assert [c.id for c in plan.exercise.checks] == ["exercise.checks[0].reach.to[0]"]
    assert plan.checks == []


@pytest.fixture
def deployed(tmp_path):
    fake = FakeBackend()
    (tmp_path / "lab.yml").write_text((LABS / "exercises" / "fix-the-routing" / "lab.yml").read_text())
    plan = api.deploy(tmp_path, backend=fake).plan
    return fake, plan


def test_dealing_runs_each_fault_in_its_node_and_lab_test_then_runs_the_exercise(deployed):
    fake, plan = deployed
    fake.probe = lambda node, argv: {"probe": argv[0], "ok": True, "sent": 2, "received": 2, "loss": 0.0,
                                     "avg": 0.1, "hops": [], "reached": True}
    before = run_lab_tests(plan.lab, backend=fake)
    assert {r.id.split("[")[0] for r in before} == {"expect"}
    dealt = exercise.deal(plan.lab, backend=fake)
    assert [f.node for f in dealt] == ["r3", "pc4"]
    ran = [(node, argv[2]) for node, argv in fake.execs if argv[:2] == ["sh", "-c"]]
    assert (("r3", "set -e\nip route del 192.168.1.0/24") in ran
            and ("pc4", "set -e\nip route replace default via 192.168.2.99 dev eth0") in ran)
    after = run_lab_tests(plan.lab, backend=fake)
    assert {r.id.split("[")[0] for r in after} == {"exercise.checks"}


def test_a_deploy_that_deals_breaks_the_lab_before_its_record_says_up(tmp_path):
    fake = FakeBackend()
    (tmp_path / "lab.yml").write_text((LABS / "exercises" / "fix-the-routing" / "lab.yml").read_text())
    saved: list[bytes] = []
    keep = fake.save_record
    fake.save_record = lambda lab, record: (saved.append(record), keep(lab, record))[1]
    result = api.deploy(tmp_path, backend=fake, student="ann", deal=True)
    assert [f.where for f in result.dealt] == [f.where for f in faults.dealt_for(result.plan, "ann")]
    ran = [(node, argv[2]) for node, argv in fake.execs if argv[:2] == ["sh", "-c"]]
    assert [node for node, _ in ran] == [f.node for f in result.dealt]
    records = [Record.decode(r, result.plan.lab) for r in saved]
    assert [(r.state, r.dealt) for r in records] == [("deploying", []), ("up", [f.where for f in result.dealt])]
    assert "deal" in result.timings
    # lab test then runs the exercise's checks, as after `exercise.deal`
    fake.probe = lambda node, argv: {"probe": argv[0], "ok": True, "sent": 2, "received": 2, "loss": 0.0,
                                     "avg": 0.1, "hops": [], "reached": True}
    assert {r.id.split("[")[0] for r in run_lab_tests(result.plan.lab, backend=fake)} == {"exercise.checks"}


def test_a_failing_deal_leaves_nothing_of_the_deploy(tmp_path):
    fake = FakeBackend()
    (tmp_path / "lab.yml").write_text((LABS / "exercises" / "fix-the-routing" / "lab.yml").read_text())
    real_exec = fake.exec

    def refuse(lab, node, argv):
        if argv[:2] == ["sh", "-c"]:
            return ExecResult(1, "", "RTNETLINK answers: No such process")
        return real_exec(lab, node, argv)
    fake.exec = refuse
    with pytest.raises(DeployError, match="dealing .* failed in .*No such process"):
        api.deploy(tmp_path, backend=fake, deal=True)
    assert fake.nodes("fix-the-routing") == [] and fake.load_record("fix-the-routing") is None


def test_deal_needs_an_exercise(tmp_path):
    fake = FakeBackend()
    (tmp_path / "lab.yml").write_text((LABS / "two-pcs" / "lab.yml").read_text())
    with pytest.raises(UsageError, match="has no exercise: section"):
        api.deploy(tmp_path, backend=fake, deal=True)
    assert fake.nodes("two-pcs") == []


def test_a_lab_without_an_exercise_cannot_be_dealt(tmp_path):
    fake = FakeBackend()
    (tmp_path / "lab.yml").write_text((LABS / "two-pcs" / "lab.yml").read_text())
    plan = api.deploy(tmp_path, backend=fake).plan
    with pytest.raises(UsageError, match="has no exercise: section"):
        exercise.deal(plan.lab, backend=fake)


CONTROL = """
name: ctl
nodes:
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}}
  pc2: {kind: host, interfaces: {eth0: 10.0.1.11/24}}
  pc3: {kind: host, interfaces: {eth0: 10.0.1.12/24}}
lans:
  lan1: {members: [pc1, pc2, pc3]}
exercise:
  faults:
    - link_down: {node: pc2, iface: eth0}
    - link_down: {node: pc3, iface: eth0}
  checks:
    - reach: {from: pc1, to: pc2}
"""


def control_on_fake(tmp_path, text):
    """The control on the in-memory backend: an interface set down (by the fault's
    script) makes pings to its node fail, as on real nodes."""
    fake = FakeBackend()
    down: set[str] = set()

    def handler(node, argv):
        if argv[:2] == ["sh", "-c"]:
            (down.add if " down" in argv[2] else down.discard)(node)
        return None

    fake.exec_handlers.append(handler)
    owner = {"10.0.1.10": "pc1", "10.0.1.11": "pc2", "10.0.1.12": "pc3"}

    def probe(node, argv):
        ok = owner.get(argv[1]) not in down and node not in down
        return {"probe": "ping", "ok": ok, "sent": 2, "received": 2 if ok else 0, "loss": 0.0 if ok else 1.0,
                "avg": 0.1 if ok else None}

    fake.probe = probe
    (tmp_path / "lab.yml").write_text(text)
    return exercise.control(tmp_path, backend=fake), fake


def test_the_control_refuses_a_fault_no_check_notices(tmp_path):
    got, fake = control_on_fake(tmp_path, CONTROL)
    assert not got.ok
    assert [(v.fault.node, v.noticed_by, v.back) for v in got.faults] == [
        ("pc2", ["reach pc1 -> pc2 icmp"], True), ("pc3", [], True)]
    assert got.problems() == ["no check notices 'pc3:eth0 down' (exercise.faults[1].link_down)"]
    assert "ctl-check" not in fake.labs          # the copy is gone


def test_the_control_passes_an_exercise_whose_every_fault_is_noticed(tmp_path):
    got, _ = control_on_fake(tmp_path, CONTROL.replace("    - reach: {from: pc1, to: pc2}\n",
                                                       "    - reach: {from: pc1, to: [pc2, pc3]}\n"))
    assert got.ok and got.problems() == []
    assert all(r.ok for r in got.unbroken) and any(not r.ok for r in got.dealt)


def test_a_fault_that_cannot_be_dealt_is_an_error_naming_it(deployed):
    from orchestrator.backend.protocol import ExecResult
    from orchestrator.errors import BackendError
    fake, plan = deployed
    fake.exec_handlers.append(lambda node, argv: ExecResult(2, "", "RTNETLINK answers: No such process\n")
                              if argv[:2] == ["sh", "-c"] else None)
    with pytest.raises(BackendError, match=r"dealing 'r3: route to 192.168.1.0/24 removed' "
                                           r"\(exercise.faults\[0\].one_of\[0\].route_removed\) failed in r3: "
                                           "RTNETLINK answers: No such process"):
        exercise.deal(plan.lab, backend=fake)
    record = api.attach(plan.lab, fake).record
    assert record is not None and record.dealt == []      # lab test keeps to the expect: section


def test_a_checks_file_is_read_against_the_plan_with_its_lines(plan, tmp_path):
    file = tmp_path / "private.yml"
    file.write_text("# the teacher's\n- reach: {from: pc1, to: pc2}\n- reach: {from: pc3, to: [pc2, r2.eth1]}\n")
    checks = exercise.read_checks(file, plan)
    assert [(c.id, c.src, c.address) for c in checks] == [
        ("checks[0].reach.to[0]", "pc1", "10.0.9.10"), ("checks[1].reach.to[0]", "pc3", "10.0.9.10"),
        ("checks[1].reach.to[1]", "pc3", "10.0.9.1")]
    file.write_text("checks:\n  - reach: {from: pc1, to: pc2}\n  - reach: {from: pc1, to: pc7}\n")
    with pytest.raises(TopologyError) as raised:
        exercise.read_checks(file, plan)
    (problem,) = raised.value.problems
    assert (problem.line, problem.where) == (3, "checks[1].reach.to[0]") and "unknown node 'pc7'" in problem.message
    file.write_text("- reach: {from: pc1, to: pc2\n")
    with pytest.raises(TopologyError, match="not valid YAML"):
        exercise.read_checks(file, plan)
    file.write_text("[]\n")
    with pytest.raises(TopologyError, match="the file names no check"):
        exercise.read_checks(file, plan)
    with pytest.raises(UsageError, match="cannot read the checks file"):
        exercise.read_checks(tmp_path / "missing.yml", plan)


def test_an_exercise_may_keep_its_checks_in_a_file_of_their_own(tmp_path):
    text = LAB.split("  checks:")[0]
    compiled = compile_text(text)
    assert not compiled.errors and compiled.plan.exercise.checks == []
    assert [w.where for w in compiled.warnings] == ["exercise.checks"]
    (tmp_path / "lab.yml").write_text(text)
    fake = FakeBackend()
    api.deploy(tmp_path, backend=fake)
    exercise.deal("ex", backend=fake)
    with pytest.raises(UsageError, match="keeps its checks apart from the lab file: lab test ex --checks FILE"):
        run_lab_tests("ex", backend=fake)
    (tmp_path / "private.yml").write_text("- reach: {from: pc1, to: pc2}\n")
    fake.probe = lambda node, argv: {"probe": "ping", "ok": True, "sent": 2, "received": 2, "loss": 0.0, "avg": 0.1}
    (result,) = run_lab_tests("ex", backend=fake, checks_file=tmp_path / "private.yml")
    assert result.ok and result.id == "checks[0].reach.to[0]"
    with pytest.raises(UsageError, match="has no checks in its file: give them with --checks FILE"):
        exercise.control(tmp_path, backend=fake)


def test_each_student_is_dealt_one_alternative_of_a_one_of_always_the_same():
    plan = compile_text((LABS / "exercises" / "fix-the-routing" / "lab.yml").read_text()).result()
    assert [(f.choice, f.option) for f in plan.exercise.faults] == [(0, 0), (0, 1), (1, 0)]
    drawn = {s: [f.title for f in faults.dealt_for(plan, s)] for s in ("ann", "hal", "ivy")}
    assert drawn["ann"] == [f.title for f in faults.dealt_for(plan, "ann")]          # the same, every time
    assert {d[0] for d in drawn.values()} == {"r3: route to 192.168.1.0/24 removed",
                                               "r1: route to 192.168.3.0/24 removed"}   # students differ
    assert all(d[1] == "pc4: default gateway 192.168.2.99 (not 192.168.2.1)" for d in drawn.values())
    assert [f.title for f in faults.dealt_for(plan)] == ["r3: route to 192.168.1.0/24 removed",
                                                          "pc4: default gateway 192.168.2.99 (not 192.168.2.1)"]


def test_a_stopped_service_is_frozen_in_its_process_group_and_thawed_back(tmp_path):
    text = LAB.replace("pc2: {kind: host, interfaces: {eth0: 10.0.9.10/24}, gateway: 10.0.9.1}",
                       "pc2: {kind: host, interfaces: {eth0: 10.0.9.10/24}, gateway: 10.0.9.1, "
                       "services: [{type: udp-echo, port: 7}]}")
    text = text.replace("    - nat_missing: {node: r1}\n", "    - nat_missing: {node: r1}\n"
                        "    - service_stopped: {node: pc2}\n")
    plan = compile_text(text).result()
    title, deal, undo = scripts(plan, 8)
    assert title == "pc2: service udp-echo frozen (SIGSTOP)"
    assert "/var/log/labnet/status.json udp-echo" in deal[0] and deal[0].startswith("pid=$(python3 ")
    assert deal[1:] == ["test -n \"$pid\" || { echo 'udp-echo is not running in pc2' >&2; exit 1; }",
                        'kill -s STOP -- "-$pid"']
    assert undo[1:] == ['test -z "$pid" || kill -s CONT -- "-$pid"']
