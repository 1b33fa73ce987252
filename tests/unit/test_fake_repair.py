"""`lab repair` and `lab status` on the in-memory backend: which nodes need what,
and what repair does about a restarted, a stopped and a vanished node."""

import pytest

from orchestrator import contract, operate, status
from orchestrator.backend.protocol import ExecResult
from orchestrator.errors import BackendError, LabStateError
from orchestrator.lab import plan_lab
from orchestrator.labels import node_labels
from orchestrator.model.specs import Impairment
from orchestrator.repair import Fault, RepairResult, Trouble, needs_repair, repair
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend

LAB = "five-subnets"


def links_missing(*names):
    return Trouble(Fault.LINKS_MISSING, missing=names)


@pytest.fixture(scope="module")
def plan():
    return plan_lab(LABS / LAB)[0]


@pytest.fixture
def fake(plan):
    fake = FakeBackend()
    fake.load(plan)
    return fake


def setups(fake):
    """The nodes the setup script was run in (through exec), in order."""
    return [node for node, argv in fake.execs if argv == ["sh", contract.SETUP_SCRIPT]]


def iface_names(fake, node):
    return [i.name for i in fake.interfaces(LAB, node)]


def test_troubles_read_as_the_cli_shows_them():
    assert str(Trouble(Fault.GONE)) == "its container is gone (redeploy: lab deploy --force)"
    assert str(Trouble(Fault.STOPPED, state="exited")) == "container is exited"
    assert str(links_missing("eth0", "eth1")) == ("interfaces missing: eth0, eth1 "
                                                  "(the node or its link peer was restarted)")


def test_a_healthy_lab_needs_nothing(fake):
    assert needs_repair(LAB, fake) == {}
    assert repair(LAB, fake) == RepairResult()
    assert fake.called("relink") == [] and setups(fake) == []


def test_a_restarted_router_and_the_peers_that_lost_their_ends(fake):
    fake.restart(LAB, "r2")
    assert needs_repair(LAB, fake) == {"r1": links_missing("eth1"), "r2": links_missing("eth0", "eth1", "eth2"),
                                       "r3": links_missing("eth1"), "s2": links_missing("eth2")}


def test_repair_relinks_the_restarted_node_first_and_sets_up_exactly_the_touched_nodes(fake):
    fake.restart(LAB, "r2")
    events = []
    result = repair(LAB, fake, progress=events.append)
    assert fake.called("relink")[0] == "r2"
    assert result == RepairResult(repaired=["r2"], reconfigured=["r1", "r2", "r3", "s2"])
    assert setups(fake) == ["r1", "r2", "r3", "s2"]
    assert fake.called("start_services") == ["r1", "r2", "r3", "s2"]
    assert events[0].message == "r2: 3 link(s) re-created"
    assert iface_names(fake, "r2") == ["eth0", "eth1", "eth2"] and iface_names(fake, "r1") == ["eth0", "eth1"]
    assert needs_repair(LAB, fake) == {}


def test_a_stopped_node_is_started_then_relinked(fake):
    fake.stop(LAB, "r1")
    troubles = needs_repair(LAB, fake)
    assert troubles == {"r1": Trouble(Fault.STOPPED, state="exited"),
                        "r2": links_missing("eth1"), "s1": links_missing("eth2")}
    result = repair(LAB, fake)
    assert result == RepairResult(repaired=["r1"], reconfigured=["r1", "r2", "s1"], started=["r1"])
    steps = [(m, what) for m, what in fake.calls if m in ("start_node", "relink")]
    assert steps[:2] == [("start_node", "r1"), ("relink", "r1")]
    assert needs_repair(LAB, fake) == {}


def test_a_restarted_host_gets_its_link_back(fake):
    fake.restart(LAB, "pc1")
    assert needs_repair(LAB, fake) == {"s1": links_missing("eth0"), "pc1": links_missing("eth0")}
    result = repair(LAB, fake)
    assert sorted(result.reconfigured) == ["pc1", "s1"]
    assert iface_names(fake, "pc1") == ["eth0"] and needs_repair(LAB, fake) == {}


def test_a_gone_container_asks_for_a_redeploy(fake, plan):
    fake.remove(LAB, "r3")
    assert needs_repair(LAB, fake)["r3"] == Trouble(Fault.GONE)
    with pytest.raises(LabStateError) as info:
        repair(LAB, fake)
    assert str(info.value) == (f"lab {LAB}: the containers of r3 are gone; "
                               f"redeploy it with 'lab deploy --force {plan.source}'")
    assert fake.called("relink") == [] and fake.called("start_node") == []


def test_a_failing_setup_script_stops_the_repair(fake):
    fake.restart(LAB, "pc1")
    fake.exec_handlers.append(lambda node, argv: ExecResult(1, "", "nft: syntax error\n")
                              if argv == ["sh", contract.SETUP_SCRIPT] else None)
    with pytest.raises(BackendError, match=r"re-configuring pc1: /etc/labnet/setup.sh failed \(exit 1\): "
                                           r"nft: syntax error"):
        repair(LAB, fake)


def test_a_lab_that_is_not_deployed():
    with pytest.raises(LabStateError, match=f"lab '{LAB}' is not deployed"):
        needs_repair(LAB, FakeBackend())


# --- lab status ---------------------------------------------------------------------------------
def test_status_shows_what_needs_repair_and_the_impairments(fake):
    fake.impair(LAB, "r1", "eth1", Impairment(delay_ms=50))
    fake.restart(LAB, "r2")
    got = status.report(LAB, fake)
    assert got.advice == [f"run 'lab repair {LAB}' to re-create what is missing"] and got.drift is None
    rows = {r.state.node: r for r in got.nodes}
    assert str(rows["r2"].trouble) == "interfaces missing: eth0, eth1, eth2 (the node or its link peer was restarted)"
    assert rows["r1"].trouble == links_missing("eth1")
    assert rows["r1"].interfaces[0].name == "eth0" and rows["r2"].interfaces == []
    assert rows["pc1"].trouble is None
    assert rows["r1"].impairments == {}  # the link it was on went with r2's restart
    fake.impair(LAB, "r3", "eth0", Impairment(rate_kbit=1000))
    assert operate.impairments(LAB, fake) == {("r3", "eth0"): Impairment(rate_kbit=1000)}


def test_status_without_the_lab_file_shows_the_nodes_but_no_diagnosis(tmp_path):
    fake = FakeBackend()
    fake.add_container("labnet-old-pc1", node_labels("old", "pc1", "host", str(tmp_path / "gone.yml")))
    got = status.report("old", fake)
    [row] = got.nodes
    assert row.state.node == "pc1" and row.trouble is None
    assert got.state is None and "has no stored plan" in got.advice[0]
    with pytest.raises(LabStateError, match="lab 'old' has no stored plan and its lab file .* is gone"):
        repair("old", fake)


def test_a_stopped_node_without_links_gets_its_services_back(tmp_path):
    (tmp_path / "lab.yml").write_text("""
name: lone
nodes:
  a: {kind: host}
  b: {kind: host}
  echo: {kind: host, services: [{type: udp-echo, port: 7}]}
links:
  - {a: a, b: b, prefix: 10.0.0.0/24}
""")
    fake = FakeBackend()
    fake.load(plan_lab(tmp_path)[0])
    fake.stop("lone", "echo")
    assert repair("lone", fake).started == ["echo"]
    assert fake.node("lone", "echo").supervisor  # its udp-echo runs again
