"""The deployed lab is the truth, on the real engine: the stored plan when the
file is edited or deleted, drift, `lab diff`, reconcile in place with no
packet lost between untouched nodes, stopped nodes and a killed supervisor,
and commands racing on one lab.

Labs here are named t-truth-*; each test destroys what it deployed."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator import lab as api
from orchestrator import operate, repair
from tests.conftest import ROOT

LAB = """
name: {name}
nodes:
  r1:
    kind: router
    firewall:
      forward: {{policy: accept, rules: [{{from: lan2, to: lan1, proto: tcp, port: 22, action: drop}}]}}
  pc1: {{kind: host}}
  pc2: {{kind: host}}
  srv: {{kind: host, services: [{{type: udp-echo, port: 7}}]}}
  extra: {{kind: host, interfaces: {{eth0: 10.0.0.2/30}}}}
lans:
  lan1: {{members: [r1, pc1, pc2]}}
  lan2: {{members: [r1, srv]}}
links:
  - {{a: r1, b: extra, prefix: 10.0.0.0/30}}
expect:
  - reach: {{from: pc1, to: [pc2, srv]}}
  - reach: {{from: pc1, to: srv, proto: "udp:7"}}
"""


WIDE = {**os.environ, "COLUMNS": "240"}   # rich wraps table cells at the terminal's width


def lab_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=WIDE)


def write(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lab.yml").write_text(LAB.format(name=name))
    return folder


def edit(folder: Path, old: str, new: str) -> None:
    text = (folder / "lab.yml").read_text()
    assert old in text, old
    (folder / "lab.yml").write_text(text.replace(old, new))


def containers(backend, lab: str) -> dict[str, str]:
    found = backend.client.api.containers(all=True, filters={"label": [f"labnet.lab={lab}"]})
    return {c["Labels"].get("labnet.node", "(record)"): c["Id"] for c in found}


class Ping(threading.Thread):
    """A ping of count packets every 20 ms, from one node to another, in the background."""

    def __init__(self, backend, lab, src, dst, count=500):
        super().__init__(daemon=True)
        self.argv = ["ping", "-n", "-q", "-i", "0.02", "-c", str(count), "-W", "1", dst]
        self.backend, self.lab, self.src = backend, lab, src
        self.out = ""

    def run(self):
        res = self.backend.exec(self.lab, self.src, self.argv)
        self.out = res.stdout + res.stderr


@pytest.fixture
def deployed(backend, tmp_path):
    name = "t-truth-a"
    api.destroy(name, backend=backend)
    folder = write(tmp_path / name, name)
    plan = api.deploy(folder, backend=backend).plan
    yield name, folder, plan
    api.destroy(name, backend=backend)


def test_reconcile_in_place_loses_no_packet_between_untouched_nodes(backend, deployed):
    name, folder, plan = deployed
    srv = plan.nodes["srv"].addresses()[0].split("/")[0]
    pc2 = plan.nodes["pc2"].addresses()[0].split("/")[0]
    before = containers(backend, name)
    edit(folder, "lan1: {members: [r1, pc1, pc2]}", "lan1: {members: [r1, pc1, pc2, pc3]}")
    edit(folder, "  pc2: {kind: host}", "  pc2: {kind: host}\n  pc3: {kind: host}")
    edit(folder, "proto: tcp, port: 22", "proto: tcp, port: 23")
    edit(folder, "links:\n  - {a: r1, b: extra, prefix: 10.0.0.0/30}\n", "")
    edit(folder, "to: [pc2, srv]}", "to: [pc2, srv, pc3]}")

    status = lab_cli("status", name)
    assert status.returncode == 0, status.stderr
    assert "needs repair" not in status.stdout
    assert "lab.yml changed since deploy: 1 node added, 3 nodes changed, 1 link added, 1 link removed" in status.stdout
    diff = lab_cli("diff", name)
    assert diff.returncode == 1, diff.stderr
    assert "+link set eth3 master br0" in diff.stdout               # lan1's new port
    assert "tcp dport 23 drop" in diff.stdout and "tcp dport 22 drop" in diff.stdout   # r1's rule
    assert "-addr replace 10.0.0.1/30 dev eth2" in diff.stdout       # r1's link to extra

    pings = [Ping(backend, name, "pc1", pc2), Ping(backend, name, "pc1", srv)]
    for p in pings:
        p.start()
    time.sleep(0.5)
    result = api.deploy(folder, backend=backend)
    assert all(p.is_alive() for p in pings), "the pings ended before the reconcile did"
    for p in pings:
        p.join(30)
    assert result.reconciled is not None and result.reconciled.added == ["pc3"]
    for p in pings:
        assert " 0% packet loss" in p.out, p.out
    after = containers(backend, name)
    assert {n: after[n] for n in before} == before   # the same containers: none made again
    assert "pc3" in after
    assert [i.name for i in backend.interfaces(name, "r1")] == ["eth0", "eth1"]   # the link to extra is gone
    rules = operate.exec_in(name, "r1", ["nft", "list", "ruleset"], backend=backend).stdout
    assert "tcp dport 23 drop" in rules and "dport 22" not in rules
    test = lab_cli("test", name)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "4/4 checks passed" in test.stdout
    assert lab_cli("diff", name).returncode == 0


def test_the_lab_runs_on_when_its_folder_is_gone(backend, deployed):
    name, folder, _ = deployed
    shutil.rmtree(folder)
    status = lab_cli("status", name)
    assert status.returncode == 0, status.stderr
    assert f"{folder / 'lab.yml'} is gone (moved or deleted); the lab runs as it was deployed" in status.stdout
    test = lab_cli("test", name)
    assert test.returncode == 0 and "3/3 checks passed" in test.stdout, test.stdout + test.stderr
    down = lab_cli("destroy", name)
    assert down.returncode == 0 and "removed 7 nodes" in down.stdout
    assert containers(backend, name) == {}


def test_a_stopped_node_is_reported_then_repaired(backend, deployed):
    name, _, _ = deployed
    backend.client.containers.get(f"labnet-{name}-pc2").stop(timeout=1)
    test = lab_cli("test", name)
    assert test.returncode == 1
    assert "ERROR" in test.stdout and "pc2 is exited — run 'lab repair t-truth-a'" in test.stdout
    assert "Traceback" not in test.stderr + test.stdout
    ping = lab_cli("ping", name)
    assert ping.returncode == 1 and "Traceback" not in ping.stderr + ping.stdout
    assert lab_cli("repair", name).returncode == 0
    assert lab_cli("test", name).returncode == 0


def test_a_killed_supervisor_shows_and_repair_restarts_it(backend, deployed):
    name, _, _ = deployed
    operate.exec_in(name, "srv", ["sh", "-c", "kill -9 $(cat /run/labnet-supervisor.pid)"], backend=backend)
    troubles = repair.needs_repair(name, backend=backend)
    assert str(troubles["srv"]) == "its supervisor is not running: udp-echo not supervised"
    status = json.loads(lab_cli("--json", "status", name).stdout)
    flagged = {n["node"]: n["needs_repair"] for n in status["nodes"] if n["needs_repair"]}
    assert flagged == {"srv": "its supervisor is not running: udp-echo not supervised"}
    assert status["advice"] == [f"run 'lab repair {name}' to re-create what is missing"]
    result = repair.repair(name, backend=backend)
    assert result.restarted == ["srv"]
    assert repair.needs_repair(name, backend=backend) == {}
    echo = operate.exec_in(name, "pc1", ["lab-probe", "udp", "srv", "7"], backend=backend)
    assert echo.ok, echo.stdout + echo.stderr


def test_destroy_during_deploy_leaves_nothing(backend, tmp_path):
    name = "t-truth-race"
    api.destroy(name, backend=backend)
    folder = write(tmp_path / name, name)
    deploy = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "deploy", str(folder)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not containers(backend, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    destroy = lab_cli("destroy", name)
    out, err = deploy.communicate(timeout=600)
    assert destroy.returncode == 0, destroy.stderr
    assert "Traceback" not in err + out + destroy.stderr
    assert containers(backend, name) == {}


def test_two_deploys_of_one_lab_at_once(backend, tmp_path):
    name = "t-truth-twice"
    api.destroy(name, backend=backend)
    folder = write(tmp_path / name, name)
    runs = [subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "deploy", str(folder)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in runs]
    try:
        codes = sorted(p.returncode for p in runs)
        text = " ".join(o + e for o, e in outs)
        assert "Traceback" not in text
        # the second either found the first busy, or came after it and had nothing to change
        assert codes == [0, 0] or (codes == [0, 1] and f"lab {name} is busy: deploy by pid" in text), text
        assert len([c for c in containers(backend, name) if c != "(record)"]) == 7
    finally:
        assert lab_cli("destroy", name).returncode == 0
    assert containers(backend, name) == {}
