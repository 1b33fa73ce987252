"""A lab file from a stranger, on the real engine: it cannot read host files
outside its folder, cannot make the engine pull an image, and one node cannot
exhaust the machine (pids, memory and CPU limits hold a fork bomb in).

Labs here are named t-hard-*; each module-scoped lab is destroyed afterwards."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import lab as api
from orchestrator.errors import DeployError, TopologyError
from tests.conftest import ROOT

WEB = """
name: t-hard-web
limits: {pids: 64, memory: 96m, cpus: 0.5}
nodes:
  srv: {kind: host, services: [{type: http, root: www}], limits: {pids: 128}}
  pc: {kind: host}
  pc2: {kind: host}
  sw: {kind: switch}
links:
  - [srv, sw]
  - [pc, sw]
  - [pc2, sw]
"""


def lab_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


def containers(backend, lab: str) -> list:
    return backend.client.containers.list(all=True, sparse=True, filters={"label": f"labnet.lab={lab}"})


@pytest.fixture(scope="module")
def web(backend, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hard") / "web"
    www = folder / "www"
    www.mkdir(parents=True)
    (folder / "lab.yml").write_text(WEB)
    (www / "index.html").write_text("<h1>lab</h1>\n")
    (www / "private.txt").write_text("for root only\n")
    os.chmod(www / "private.txt", 0o600)
    (www / "shadow").symlink_to("/etc/shadow")          # leads out of the lab: never copied
    (www / "home.html").symlink_to("index.html")        # stays inside: kept
    api.destroy("t-hard-web", backend=backend)
    result = api.deploy(folder, backend=backend)
    yield result.plan, folder
    api.destroy("t-hard-web", backend=backend)


def run(backend, node: str, *argv: str):
    return backend.exec("t-hard-web", node, list(argv))


def test_a_served_folder_arrives_with_its_modes_and_without_links_leading_out(backend, web):
    plan, _ = web
    root = plan.nodes["srv"].services[0].files_to
    listing = run(backend, "srv", "sh", "-c", f"cd {root} && stat -c '%n %a %F' * | sort")
    assert listing.stdout.splitlines() == ["home.html 777 symbolic link", "index.html 644 regular file",
                                           "private.txt 600 regular file"]
    srv = plan.nodes["srv"].addresses()[0].split("/")[0]
    got = run(backend, "pc", "python3", "-c",
              "import sys, urllib.request, urllib.error\n"
              "for path in ('home.html', 'shadow'):\n"
              "    try:\n"
              f"        print(path, urllib.request.urlopen('http://{srv}/' + path, timeout=5).status)\n"
              "    except urllib.error.HTTPError as exc:\n"
              "        print(path, exc.code)\n")
    assert got.stdout.split() == ["home.html", "200", "shadow", "404"], got.stderr


def test_a_root_outside_the_lab_folder_is_refused_before_anything_is_made(backend, tmp_path):
    folder = tmp_path / "t-hard-etc"
    folder.mkdir()
    (folder / "lab.yml").write_text("nodes:\n  srv: {kind: host, services: [{type: http, root: ../../../../../etc}]}\n"
                                    "  pc: {kind: host}\nlinks: [[srv, pc]]\n")
    (folder / "escape").symlink_to("/etc")
    done = lab_cli("deploy", str(folder))
    assert done.returncode == 1, done.stderr
    assert "nodes.srv.services[0].root: '../../../../../etc' is outside the lab folder (it resolves to /etc)" \
        in done.stderr
    assert "Traceback" not in done.stderr
    (folder / "lab.yml").write_text((folder / "lab.yml").read_text().replace("../../../../../etc", "escape"))
    with pytest.raises(TopologyError, match=r"'escape' is outside the lab folder \(it resolves to /etc\)"):
        api.deploy(folder, backend=backend)
    assert containers(backend, "t-hard-etc") == []


def test_a_missing_image_is_refused_and_never_pulled(backend, tmp_path):
    folder = tmp_path / "t-hard-image"
    folder.mkdir()
    (folder / "lab.yml").write_text("nodes:\n  a: {kind: host, image: 'no/such-image:xyz'}\n  b: {kind: host}\n"
                                    "links: [[a, b]]\n")
    since = int(time.time()) - 1
    for command in ("validate", "deploy"):
        done = lab_cli(command, str(folder))
        assert done.returncode == 1
        assert ("nodes.a.image: image 'no/such-image:xyz' is not on this engine; build or load it first "
                "(docker load -i FILE, or docker build --network none -t no/such-image:xyz FOLDER)") in done.stderr
    assert containers(backend, "t-hard-image") == []
    events = backend.client.events(since=since, until=int(time.time()) + 1, decode=True,
                                   filters={"type": "image"})
    assert [e for e in events if e.get("Action") == "pull"] == []   # the engine was never asked to pull


def test_every_node_runs_within_its_limits(backend, web):
    plan, _ = web
    for name, pids, memory, nanos in (("srv", 128, 96 * 1024**2, 5 * 10**8), ("pc", 64, 96 * 1024**2, 5 * 10**8)):
        host = backend.client.api.inspect_container(plan.nodes[name].container)["HostConfig"]
        assert (host["PidsLimit"], host["Memory"], host["MemorySwap"], host["NanoCpus"]) == \
            (pids, memory, memory, nanos)


def test_a_fork_bomb_in_one_node_leaves_the_others_and_the_host_responsive(backend, web):
    plan, _ = web
    # every process forks for ever and retries when the kernel says no, so the bomb stays at the limit
    # (a shell bomb burns out as soon as its forks fail, which a sampler can miss)
    bomb = subprocess.Popen(["/usr/bin/docker", "exec", plan.nodes["pc"].container, "python3", "-c",
                             "import os, time\nwhile True:\n    try:\n        os.fork()\n"
                             "    except OSError:\n        time.sleep(0.05)\n"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        current = 0
        while time.monotonic() < deadline:   # the bomb fills its node up to the limit, and no further
            out = subprocess.run(["cat", f"/sys/fs/cgroup/pids/docker/{_id(backend, plan, 'pc')}/pids.current"],
                                 capture_output=True, text=True).stdout.strip()
            current = int(out or 0)
            if current >= 60:
                break
            time.sleep(0.2)
        assert 60 <= current <= 64
        t = time.monotonic()
        pc2 = plan.nodes["pc2"].addresses()[0].split("/")[0]
        ping = run(backend, "srv", "ping", "-c", "3", "-i", "0.2", "-W", "2", pc2)
        assert ping.ok, ping.stdout + ping.stderr
        assert subprocess.run(["true"]).returncode == 0   # the host still makes processes
        assert time.monotonic() - t < 20
    finally:
        bomb.kill()
        subprocess.run(["/usr/bin/docker", "restart", "-t", "0", plan.nodes["pc"].container], capture_output=True)


def _id(backend, plan, node: str) -> str:
    return backend.client.api.inspect_container(plan.nodes[node].container)["Id"]


def test_a_command_service_whose_program_is_not_there_fails_the_deploy(backend, tmp_path):
    folder = tmp_path / "t-hard-cmd"
    folder.mkdir()
    (folder / "lab.yml").write_text("nodes:\n  a: {kind: host, services: [{type: command, name: tool, "
                                    "command: [/opt/no-such-tool, --serve]}]}\n  b: {kind: host}\nlinks: [[a, b]]\n")
    with pytest.raises(DeployError, match=r"the service 'tool' of a runs '/opt/no-such-tool', which is not in the "
                                          r"node .*\neverything it had created was removed"):
        api.deploy(folder, backend=backend)
    assert containers(backend, "t-hard-cmd") == []
