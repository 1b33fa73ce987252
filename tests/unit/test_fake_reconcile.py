"""A running lab and its edited file, on the in-memory backend: the stored
plan, drift, `lab diff`, and deploy reconciling in place."""

import pytest

from orchestrator import contract, status
from orchestrator import lab as api
from orchestrator.errors import LabStateError
from orchestrator.record import Record
from tests.unit.fakebackend import FakeBackend

LAB = """
name: rc
nodes:
  r1: {kind: router}
  pc1: {kind: host}
  pc2: {kind: host}
  srv: {kind: host, services: [{type: udp-echo, port: 7}]}
lans:
  lan1: {members: [r1, pc1, pc2]}
  lan2: {members: [r1, srv]}
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LABNET_LOCK_DIR", str(tmp_path / "locks"))
    (tmp_path / "rc").mkdir()
    (tmp_path / "rc" / "lab.yml").write_text(LAB)
    return tmp_path / "rc"


@pytest.fixture
def fake(folder):
    fake = FakeBackend()
    api.deploy(folder, backend=fake)
    fake.calls.clear()
    return fake


def edit(folder, old, new):
    text = (folder / "lab.yml").read_text()
    assert old in text
    (folder / "lab.yml").write_text(text.replace(old, new))


def pids(fake):
    return {s.node: s.pid for s in fake.nodes("rc")}


def mutations(fake):
    watched = ("create_nodes", "remove_nodes", "wire_links", "remove_link_end", "configure", "restart_services",
               "put_files", "put_folder")
    return [(m, w) for m, w in fake.calls if m in watched]


def test_the_plan_is_stored_with_the_lab_and_read_back(folder, fake):
    record = Record.decode(fake.records["rc"], "rc")
    assert record.state == "up" and record.source == str(folder / "lab.yml")
    assert set(record.files) == {"r1", "pc1", "pc2", "srv", "lan1", "lan2"}
    assert set(record.files["srv"]) >= {contract.SETUP_SCRIPT, contract.SERVICES_CONFIG}
    assert api.attach("rc", fake).plan == record.plan


def test_commands_use_the_stored_plan_when_the_file_is_edited_or_gone(folder, fake):
    edit(folder, "lan1: {members: [r1, pc1, pc2]}", "lan1: {members: [r1, pc1, pc2, pc3]}")
    edit(folder, "  pc2: {kind: host}", "  pc2: {kind: host}\n  pc3: {kind: host}")
    got = status.report("rc", fake)
    assert all(r.trouble is None for r in got.nodes) and got.advice == []   # not "needs repair"
    assert got.drift == ("lab.yml changed since deploy: 1 node added, 1 node changed, 1 link added, /etc/hosts of 5 "
                         "more nodes (see: lab diff rc)")
    (folder / "lab.yml").unlink()
    got = status.report("rc", fake)
    assert got.drift == f"{folder / 'lab.yml'} is gone (moved or deleted); the lab runs as it was deployed"
    assert "pc3" not in api.attach("rc", fake).plan.nodes
    assert api.destroy("rc", backend=fake) == 6


def test_nothing_changed_nothing_done(folder, fake):
    before = pids(fake)
    result = api.deploy(folder, backend=fake)
    assert result.reconciled is not None and not result.reconciled
    assert mutations(fake) == [] and pids(fake) == before


def test_a_comment_is_not_a_change(folder, fake):
    edit(folder, "name: rc", "# a comment\nname: rc")
    assert status.report("rc", fake).drift == "lab.yml changed since deploy, but not what it deploys"
    changes, text = status.diff("rc", backend=fake)
    assert not changes and text == ""


def test_a_host_added_to_a_lan(folder, fake):
    before = pids(fake)
    edit(folder, "lan1: {members: [r1, pc1, pc2]}", "lan1: {members: [r1, pc1, pc2, pc3]}")
    edit(folder, "  pc2: {kind: host}", "  pc2: {kind: host}\n  pc3: {kind: host}")
    changes, text = status.diff("rc", backend=fake)
    assert changes.added == ["pc3"] and [str(lk.b) for lk in changes.links_added] == ["lan1:eth3"]
    assert "+link set eth3 master br0" in text and "+192.168.0.12\tpc3" in text
    dry = api.deploy(folder, backend=fake, dry_run=True)
    assert dry.reconciled.summary() == changes.summary() and mutations(fake) == []

    api.deploy(folder, backend=fake)
    after = pids(fake)
    assert {n: after[n] for n in before} == before           # every other node untouched: same process
    assert ("create_nodes", "rc: pc3") in mutations(fake)
    assert [w for m, w in mutations(fake) if m == "wire_links"] == ["rc: 1"]
    assert not [w for m, w in mutations(fake) if m in ("remove_nodes", "remove_link_end", "restart_services")]
    assert fake.node("rc", "pc3").interfaces["eth0"].addresses == ["192.168.0.12/24"]
    assert fake.node("rc", "pc1").files[contract.HOSTS_FILE].count("pc3") == 1  # names resolve everywhere
    assert status.report("rc", fake).drift is None
    assert Record.decode(fake.records["rc"], "rc").plan.nodes["pc3"]


def test_a_node_removed(folder, fake):
    edit(folder, "lan1: {members: [r1, pc1, pc2]}", "lan1: {members: [r1, pc1]}")
    edit(folder, "  pc2: {kind: host}\n", "")
    api.deploy(folder, backend=fake)
    assert ("remove_nodes", "pc2") in mutations(fake)
    assert sorted(pids(fake)) == ["lan1", "lan2", "pc1", "r1", "srv"]
    assert "eth2" not in fake.node("rc", "lan1").interfaces


def test_an_address_and_a_route_changed(folder, fake):
    edit(folder, "  pc1: {kind: host}", "  pc1: {kind: host, interfaces: {eth0: 192.168.0.99/24}}")
    api.deploy(folder, backend=fake)
    pc1 = fake.node("rc", "pc1")
    assert pc1.interfaces["eth0"].addresses == ["192.168.0.99/24"]   # the old one deleted, the new one set
    assert any("ip addr del 192.168.0.10/24 dev eth0" in " ".join(a) for n, a in fake.execs if n == "pc1")
    edit(folder, "  pc1: {kind: host, interfaces: {eth0: 192.168.0.99/24}}",
         "  pc1: {kind: host, interfaces: {eth0: 192.168.0.99/24}, routes: [{to: 10.9.0.0/16, via: 192.168.0.1}]}")
    api.deploy(folder, backend=fake)
    assert fake.node("rc", "pc1").routes["eth0"]["10.9.0.0/16"] == "192.168.0.1"
    edit(folder, ", routes: [{to: 10.9.0.0/16, via: 192.168.0.1}]", "")
    api.deploy(folder, backend=fake)
    assert "10.9.0.0/16" not in fake.node("rc", "pc1").routes["eth0"]


def test_a_firewall_rule_changed_and_removed(folder, fake):
    before = pids(fake)
    edit(folder, "  r1: {kind: router}", "  r1: {kind: router, firewall: {forward: {policy: drop}}}")
    api.deploy(folder, backend=fake)
    r1 = fake.node("rc", "r1")
    assert contract.NFT_RULESET in r1.files and pids(fake) == before
    assert not [m for m, _ in mutations(fake) if m == "restart_services"]
    edit(folder, "  r1: {kind: router, firewall: {forward: {policy: drop}}}", "  r1: {kind: router}")
    api.deploy(folder, backend=fake)
    assert contract.NFT_RULESET not in fake.node("rc", "r1").files   # nft flush ruleset ran
    assert any("nft flush ruleset" in " ".join(a) for n, a in fake.execs if n == "r1")


def test_a_service_changed_restarts_only_that_node_s_supervisor(folder, fake):
    starts = {n: fake.node("rc", n).service_starts for n in ("srv",)}
    edit(folder, "{type: udp-echo, port: 7}", "{type: udp-echo, port: 7007}")
    api.deploy(folder, backend=fake)
    assert [w for m, w in mutations(fake) if m == "restart_services"] == ["srv"]
    assert fake.node("rc", "srv").service_starts == starts["srv"] + 1
    assert '"7007"' in fake.node("rc", "srv").files[contract.SERVICES_CONFIG] or \
        "7007" in fake.node("rc", "srv").files[contract.SERVICES_CONFIG]


def test_a_link_removed_and_added(folder, fake):
    edit(folder, "lan2: {members: [r1, srv]}", "lan2: {members: [r1]}\nlinks:\n  - [r1, srv]")
    changes, _ = status.diff("rc", backend=fake)
    assert [f"{lk.a}-{lk.b}" for lk in changes.links_removed] == ["srv:eth0-lan2:eth1"]
    assert [f"{lk.a}-{lk.b}" for lk in changes.links_added] == ["r1:eth2-srv:eth0"]
    api.deploy(folder, backend=fake)
    assert fake._peers[("rc", "r1", "eth1")][1] == "lan2"            # r1:eth1 still goes to the LAN
    assert fake._peers[("rc", "srv", "eth0")] == ("rc", "r1", "eth2")  # srv now straight to r1
    assert status.report("rc", fake).drift is None


def test_a_changed_kind_makes_the_node_again(folder, fake):
    before = pids(fake)
    edit(folder, "  pc2: {kind: host}", "  pc2: {kind: router}")
    changes, _ = status.diff("rc", backend=fake)
    assert changes.changed["pc2"].recreate == "its kind changed (host -> router)"
    api.deploy(folder, backend=fake)
    after = pids(fake)
    assert after["pc2"] != before["pc2"] and after["pc1"] == before["pc1"]
    assert fake.node("rc", "pc2").interfaces["eth0"].up          # its link made again
    assert fake.node("rc", "lan1").setup_runs >= 2                 # the peer set up for its new end


def test_a_reconcile_that_stopped_half_way_is_finished_by_deploying_again(folder, fake):
    edit(folder, "lan1: {members: [r1, pc1, pc2]}", "lan1: {members: [r1, pc1, pc2, pc3]}")
    edit(folder, "  pc2: {kind: host}", "  pc2: {kind: host}\n  pc3: {kind: host}")
    fake.fail("wire", RuntimeError("the engine went away"))
    with pytest.raises(Exception, match="the engine went away"):
        api.deploy(folder, backend=fake)
    got = status.report("rc", fake)
    assert got.state == "reconciling"
    assert got.advice[0] == f"the last reconcile of rc did not finish: run 'lab deploy {folder / 'lab.yml'}' to " \
                            "finish it, or 'lab destroy rc'"
    fake.heal()
    api.deploy(folder, backend=fake)
    assert status.report("rc", fake).state == "up"
    assert fake.node("rc", "pc3").interfaces["eth0"].up and status.report("rc", fake).drift is None


def test_a_stopped_node_is_repaired_first(folder, fake):
    fake.stop("rc", "pc1")
    edit(folder, "{type: udp-echo, port: 7}", "{type: udp-echo, port: 7007}")
    with pytest.raises(LabStateError, match="lab rc: pc1 is not running; run 'lab repair rc' first"):
        api.deploy(folder, backend=fake)
