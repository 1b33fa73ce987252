"""The netns backend (orchestrator/backend/netns.py) on real labs: nodes are
network namespaces of this machine, no Docker. The labs pass their own
expectations, every host reaches every other, exec/stream/links/status/record
work, two labs side by side stay apart, and destroy leaves the host as it was
(network namespaces, host links, mounts, state folder), also after a SIGKILL
in the middle of a deploy. A host tool the nodes need that is missing fails
these tests with the backend's own message (never a skip)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from orchestrator import lab as api
from orchestrator.backend.netns import CGROUP_FS, IMAGE_REFUSED, NO_CGROUPS, STATE_ROOT, NetnsBackend
from orchestrator.errors import BackendError, EngineUnavailable
from orchestrator.operate import run_lab_tests
from orchestrator.repair import repair
from orchestrator.verify.ping import all_pairs_ping
from tests.conftest import LABS, ROOT

FIVE = "h7-five"
MESH = "h7-mesh"
CRASH = "h7-crash"


@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0:
        pytest.fail("the netns backend's tests need root (network namespaces)")
    b = NetnsBackend()
    try:
        b.check()
    except EngineUnavailable as exc:
        pytest.fail(str(exc))
    return b


def host_snapshot():
    """What a lab must leave as it found it: the host's named network namespaces,
    its own links, the namespace and labnet mounts (/run/netns itself, made a
    shared mount point once as `ip netns add` does, left out; other programs'
    container mounts come and go) and the labs of the state folder."""
    def run(*argv):
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    netns = sorted(run("ip", "netns", "list").split("\n"))
    links = sorted(ln["ifname"] for ln in json.loads(run("ip", "-j", "link")))
    with open("/proc/mounts", encoding="utf-8") as handle:   # ours: namespaces and labnet's folders
        mounts = sorted(ln for ln in handle if ln.split()[1] != "/run/netns"
                        and (ln.split()[2] == "nsfs" or "/netns" in ln.split()[1] or "labnet" in ln))
    state = sorted(os.listdir(STATE_ROOT)) if STATE_ROOT.is_dir() else []
    return {"netns": netns, "links": links, "mounts": mounts, "state": state}


def lab_processes(lab):
    """Processes still running for a lab: its keeper and holders, by command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().decode(errors="replace").split("\0")
            with open(f"/proc/{entry}/stat") as handle:
                zombie = handle.read().rsplit(")", 1)[1].split()[0] in "ZX"
        except OSError:
            continue
        if "labnet-netns-keeper" in argv and lab in argv and not zombie:
            found.append(int(entry))
    return found


WARNINGS = []


@pytest.fixture(scope="module")
def five(netns):
    netns.destroy(FIVE, lambda e: None)
    before = host_snapshot()
    result = api.deploy(LABS / "five-subnets", name=FIVE, backend=netns,
                        progress=lambda e: WARNINGS.append(e.message) if e.stage == "warning" else None)
    yield result.plan, before
    api.destroy(FIVE, backend=netns)


@pytest.fixture(scope="module")
def mesh(netns):
    netns.destroy(MESH, lambda e: None)
    result = api.deploy(LABS / "dijkstra-mesh", name=MESH, backend=netns)
    yield result.plan
    api.destroy(MESH, backend=netns)


def test_check_names_what_is_missing_and_its_package(monkeypatch):
    from orchestrator.backend import netns as module
    monkeypatch.setitem(module.HOST_TOOLS, "h7-no-such-tool", "h7-some-package")
    with pytest.raises(EngineUnavailable) as err:
        NetnsBackend().check()
    assert "h7-no-such-tool (Debian package h7-some-package)" in str(err.value)
    assert "apt-get install h7-some-package" in str(err.value)


@pytest.mark.parametrize("lab, fixture", [(FIVE, "five"), (MESH, "mesh")])
def test_the_labs_pass_their_own_expectations(netns, request, lab, fixture):
    request.getfixturevalue(fixture)
    results = run_lab_tests(lab, netns)
    assert results
    assert [r.what for r in results if not r.ok] == []


def test_limits_are_a_cgroup_per_node_or_a_warning_said_once(netns, five):
    plan, _ = five
    if (CGROUP_FS / "cgroup.controllers").is_file():
        group = netns.cgroup_root / FIVE / "r1"
        assert (group / "pids.max").read_text().strip() == str(plan.nodes["r1"].limits.pids)
        pid = {s.node: s.pid for s in netns.nodes(FIVE)}["r1"]
        assert f"/labnet/{FIVE}/r1" in open(f"/proc/{pid}/cgroup").read()
    else:
        assert [w for w in WARNINGS if "limits" in w] == [NO_CGROUPS.format(why="cgroup v1 or none")]


def test_every_host_reaches_every_other(netns, five):
    plan, _ = five
    results = all_pairs_ping(netns, plan)
    assert len(results) == 30   # six hosts
    assert [f"{r.src}->{r.dst}" for r in results if not r.ok] == []


def test_nothing_of_a_lab_is_in_the_host_namespace(netns, five):
    plan, before = five
    now = host_snapshot()
    assert now["links"] == before["links"]
    assert sorted(n for n in now["netns"] if FIVE in n) == sorted(f"{n.container}" for n in plan.nodes.values())


def test_exec_runs_in_the_node_with_its_own_names_and_files(netns, five):
    plan, _ = five
    res = netns.exec(FIVE, "r1", ["sh", "-c", "hostname; cat /etc/hosts; ls /etc/labnet; echo $$"])
    assert res.ok, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == plan.nodes["r1"].hostname
    assert "setup.sh" in lines
    assert any(ln.split()[-1:] == ["pc3"] for ln in lines)       # the lab's names in its /etc/hosts
    assert int(lines[-1]) > 1                                      # a PID namespace of its own
    links = netns.exec(FIVE, "r1", ["ip", "-o", "link"]).stdout
    names = sorted(ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines())
    assert names == sorted(["lo", *(i.name for i in plan.nodes["r1"].interfaces)])
    code, out, err = netns.exec(FIVE, "pc1", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (code, out, err) == (3, "out\n", "err\n")
    probe = netns.exec(FIVE, "pc1", ["lab-probe", "--help"])
    assert probe.ok and "usage" in probe.stdout.lower()


def test_the_nodes_files_are_private(netns, five):
    one = netns.exec(FIVE, "pc1", ["cat", "/etc/labnet/node.json"]).stdout
    other = netns.exec(FIVE, "pc2", ["cat", "/etc/labnet/node.json"]).stdout
    assert (json.loads(one)["name"], json.loads(other)["name"]) == ("pc1", "pc2")
    netns.exec(FIVE, "pc1", ["sh", "-c", "echo mine > /tmp/h7-private"])
    assert not netns.exec(FIVE, "pc2", ["test", "-e", "/tmp/h7-private"]).ok
    assert not os.path.exists("/tmp/h7-private")


def test_a_link_down_and_up_again(netns, five):
    plan, _ = five
    target = plan.nodes["pc3"].addresses()[0].split("/")[0]
    assert netns.exec(FIVE, "pc1", ["ping", "-c1", "-W1", target]).ok
    netns.set_link_state(FIVE, "pc1", "eth0", False)
    try:
        assert {i.name: i.state for i in netns.interfaces(FIVE, "pc1")}["eth0"] == "down"
        assert not netns.exec(FIVE, "pc1", ["ping", "-c1", "-W1", target]).ok
    finally:
        netns.set_link_state(FIVE, "pc1", "eth0", True)
    netns.wait_links(plan, ["pc1"])
    netns.replace_routes(FIVE, "pc1", "eth0", plan.nodes["pc1"].routes_through("eth0"))
    assert netns.exec(FIVE, "pc1", ["ping", "-c1", "-W2", target]).ok


def test_status_lists_the_lab_and_its_nodes(netns, five):
    plan, _ = five
    summary = {s.name: s for s in api.list_labs(netns)}[FIVE]
    assert (summary.nodes, summary.running) == (len(plan.nodes), len(plan.nodes))
    assert summary.source and summary.source.endswith("five-subnets/lab.yml")
    states = netns.nodes(FIVE)
    assert [s.node for s in states] == sorted(plan.nodes)
    assert {s.node: s.kind for s in states} == {n: p.kind for n, p in plan.nodes.items()}
    assert all(s.running and s.pid > 0 for s in states)
    assert netns.nodes("h7-not-deployed") == []
    with pytest.raises(Exception, match="has no node 'nope'"):
        netns.exec(FIVE, "nope", ["true"])


def test_the_record_gives_back_the_plan(netns, five):
    plan, _ = five
    running = api.attach(FIVE, backend=netns)
    assert running.record is not None
    assert running.plan == plan


def test_a_stream_is_read_and_stopped(netns, five):
    stream = netns.stream(FIVE, "pc1", ["sh", "-c", "echo first; exec sleep 30"])
    got = b""
    for chunk in stream.chunks(poll_s=0.1):
        if chunk is None:
            if b"first" in got:
                stream.stop("TERM")
            continue
        got += chunk[0]
    assert got == b"first\n"
    assert stream.exit_code() not in (None, 0)


def test_impairment_is_set_read_and_cleared(netns, five):
    from orchestrator.model.specs import Impairment
    assert netns.impair(FIVE, "pc2", "eth0", Impairment(rate_kbit=800)) == "tbf"
    assert netns.impairments(FIVE, "pc2") == {"eth0": Impairment(rate_kbit=800)}
    assert netns.clear_impairment(FIVE, "pc2", "eth0")
    assert netns.impairments(FIVE, "pc2") == {}


def test_a_node_whose_holder_died_is_exited_and_repair_brings_it_back(netns, mesh):
    plan = mesh
    st = {s.node: s for s in netns.nodes(MESH)}["pc1"]
    os.kill(st.pid, signal.SIGKILL)
    for _ in range(100):
        if not {s.node: s for s in netns.nodes(MESH)}["pc1"].running:
            break
        time.sleep(0.02)
    assert {s.node: s.state for s in netns.nodes(MESH)}["pc1"] == "exited"
    repair(MESH, backend=netns)
    assert {s.node: s.state for s in netns.nodes(MESH)}["pc1"] == "running"
    assert [r.what for r in run_lab_tests(MESH, netns) if not r.ok] == []
    assert sorted(i.name for i in netns.interfaces(MESH, "pc1")) == sorted(i.name for i in plan.nodes["pc1"].interfaces)


def test_two_labs_side_by_side_never_see_each_other(netns, five, mesh):
    """Both labs use 192.168.1.0/24 ... and neither sees the other's nodes."""
    mesh_pc1 = mesh.nodes["pc1"].addresses()[0].split("/")[0]
    five_names = set(five[0].nodes)
    seen = netns.exec(MESH, "r1", ["ip", "-o", "link"]).stdout
    assert not any(f"@{n}" in seen for n in five_names)
    neigh = netns.exec(FIVE, "r1", ["ip", "neigh"]).stdout
    assert mesh_pc1 not in neigh or all(ln.split()[0] != mesh_pc1 for ln in neigh.splitlines())
    assert {s.name for s in netns.list_labs()} >= {FIVE, MESH}


def test_an_image_lab_is_refused_naming_the_node(netns, tmp_path):
    (tmp_path / "lab.yml").write_text(textwrap.dedent("""
        name: h7-image
        nodes:
          pc1: {kind: host, interfaces: {eth0: 10.9.0.1/24}}
          odd: {kind: host, image: "frr:latest", interfaces: {eth0: 10.9.0.2/24}}
        links:
          - [pc1, odd]
    """))
    plan, _ = api.plan_lab(tmp_path)
    with pytest.raises(BackendError) as err:
        netns.create_nodes(plan, lambda e: None)
    assert "node odd names image 'frr:latest'" in str(err.value)
    assert IMAGE_REFUSED in str(err.value)
    assert "h7-image" not in {s.name for s in netns.list_labs()}
    assert netns.has_image("frr:latest") is False


def test_a_file_outside_the_private_folders_is_refused(netns, five):
    with pytest.raises(BackendError, match="only these paths are private to a node"):
        netns.put_files(FIVE, "pc1", {"/usr/lib/h7-file": "x"})
    assert not os.path.exists("/usr/lib/h7-file")


def test_destroy_leaves_the_host_as_it_was_and_is_safe_to_repeat(netns):
    name = "h7-two"
    netns.destroy(name, lambda e: None)
    before = host_snapshot()
    plan = api.deploy(LABS / "two-pcs", name=name, backend=netns).plan
    assert host_snapshot() != before
    assert api.destroy(name, backend=netns) == len(plan.nodes)
    assert host_snapshot() == before
    assert lab_processes(name) == []
    assert api.destroy(name, backend=netns) == 0


CRASHER = """
import os, signal, sys
sys.path.insert(0, {root!r})
from orchestrator import lab as api
from orchestrator.backend.netns import NetnsBackend
stage, at = sys.argv[1], int(sys.argv[2])

def progress(event):
    if event.stage == stage and (event.done or 0) >= at:
        os.kill(os.getpid(), signal.SIGKILL)

api.deploy({lab!r}, name={name!r}, backend=NetnsBackend(), progress=progress)
"""


@pytest.mark.parametrize("stage, at", [("create", 4), ("wire", 6), ("configure", 9)])
def test_a_deploy_killed_midway_is_removed_by_destroy(netns, tmp_path, stage, at):
    netns.destroy(CRASH, lambda e: None)
    before = host_snapshot()
    script = tmp_path / "crash.py"
    script.write_text(CRASHER.format(root=str(ROOT), lab=str(LABS / "five-subnets"), name=CRASH))
    done = subprocess.run([sys.executable, str(script), stage, str(at)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert CRASH in {s.name for s in netns.list_labs()}    # findable after the crash
    netns.destroy(CRASH, lambda e: None)
    assert host_snapshot() == before
    assert lab_processes(CRASH) == []


def test_removing_a_node_takes_both_ends_of_its_links_at_once(netns):
    name = "h7-remove"
    netns.destroy(name, lambda e: None)
    api.deploy(LABS / "two-pcs", name=name, backend=netns)
    try:
        assert [i.name for i in netns.interfaces(name, "pc1")] == ["eth0"]
        netns.remove_nodes(name, ["pc2"], lambda e: None)
        assert [s.node for s in netns.nodes(name)] == ["pc1"]
        assert netns.interfaces(name, "pc1") == []
        assert not os.path.exists(netns.netns_path(name, "pc2"))
    finally:
        assert api.destroy(name, backend=netns) == 1


OTHERS = sorted(p.parent.name for p in LABS.glob("*/lab.yml") if p.parent.name not in ("five-subnets", "dijkstra-mesh"))


@pytest.mark.parametrize("lab", OTHERS)
def test_every_other_lab_passes_its_own_expectations(netns, lab):
    """Services (supervisor, http, chat), firewalls and NAT (nft) too."""
    name = f"h7-{lab}"[:32]
    netns.destroy(name, lambda e: None)
    try:
        api.deploy(LABS / lab, name=name, backend=netns)
        results = run_lab_tests(name, netns)
        assert results
        assert [r.what for r in results if not r.ok] == []
    finally:
        api.destroy(name, backend=netns)


def test_the_interactive_command_line_enters_the_node(netns, five, monkeypatch):
    plan, _ = five
    monkeypatch.setenv("TERM", "h7-term")   # the user's terminal, passed on
    argv = netns.interactive_argv(FIVE, "r2", ["sh", "-c", "hostname; echo $TERM"])
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.stdout.splitlines() == [plan.nodes["r2"].hostname, "h7-term"]


def test_the_command_line_deploys_on_netns_and_finds_the_lab_there_afterwards(netns):
    def lab(*args):
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
    name = "h7-cli"
    try:
        up = lab("deploy", str(LABS / "five-subnets"), "--backend", "netns", "--name", name, "-q")
        assert up.returncode == 0, up.stderr
        assert (STATE_ROOT / name).is_dir()
        listed = json.loads(lab("--json", "status").stdout)
        assert {"name": name, "backend": "netns", "nodes": 12, "running": 12}.items() <= \
            next(s for s in listed if s["name"] == name).items()
        again = lab("deploy", str(LABS / "five-subnets"), "--backend", "docker", "--name", name)
        assert again.returncode == 1 and "runs on the netns backend; destroy it first" in again.stderr
        assert lab("exec", name, "pc1", "--", "hostname").stdout.strip() == "pc1"   # no --backend needed
        gone = lab("destroy", name)
        assert gone.returncode == 0 and "removed 12 nodes" in gone.stdout + gone.stderr
        assert not (STATE_ROOT / name).exists()
    finally:
        api.destroy(name, backend=netns)
