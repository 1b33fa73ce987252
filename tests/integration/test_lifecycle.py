"""Deploy and destroy on the real engine: clean-up after failures and Ctrl-C,
repeatable destroy, the command line end to end."""

import json
import subprocess
import sys

import pytest

from orchestrator import lab as api
from orchestrator import operate
from orchestrator.errors import DeployError
from tests.conftest import ROOT
from tests.integration.conftest import host_network_snapshot

SMALL = """
name: {name}
nodes:
  a: {{kind: host, interfaces: {{eth0: 10.1.0.1/24}}{extra_a}}}
  b: {{kind: host, interfaces: {{eth0: 10.1.0.2/24}}}}
  c: {{kind: host, interfaces: {{eth0: 10.1.0.3/24}}}}
  s: {{kind: switch}}
links:
  - [a, s]
  - [b, s]
  - [c, s]
"""


def small_lab(tmp_path, name, extra_a=""):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "lab.yml").write_text(SMALL.format(name=name, extra_a=extra_a))
    return folder


def containers(backend, lab, nodes_only=True):
    """The lab's node containers (with nodes_only=False: its record's too)."""
    labels = [f"labnet.lab={lab}", *(["labnet.node"] if nodes_only else [])]
    return backend.client.containers.list(all=True, filters={"label": labels})


def test_destroy_removes_everything_and_is_repeatable(backend, tmp_path):
    before = host_network_snapshot()
    folder = small_lab(tmp_path, "t-small")
    api.deploy(folder, backend=backend)
    assert len(containers(backend, "t-small")) == 4
    assert len(containers(backend, "t-small", nodes_only=False)) == 5   # and the record
    assert api.destroy(str(folder), backend=backend) == 4
    assert containers(backend, "t-small", nodes_only=False) == []
    assert api.destroy("t-small", backend=backend) == 0
    assert host_network_snapshot() == before


def test_a_failed_deploy_removes_what_it_created(backend, tmp_path):
    # a program that is not in the node: found while configuring, after every node was made
    folder = small_lab(tmp_path, "t-fail", extra_a=", services: [{type: command, command: [/no/such-program]}]")
    with pytest.raises(DeployError, match="everything it had created was removed"):
        api.deploy(folder, backend=backend)
    assert containers(backend, "t-fail", nodes_only=False) == []


def test_an_interrupted_deploy_removes_what_it_created(backend, tmp_path):
    folder = small_lab(tmp_path, "t-intr")

    def interrupt_while_wiring(event):
        if event.stage == "wire":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.deploy(folder, backend=backend, progress=interrupt_while_wiring)
    assert containers(backend, "t-intr", nodes_only=False) == []


def test_force_redeploys(backend, tmp_path):
    folder = small_lab(tmp_path, "t-force")
    api.deploy(folder, backend=backend)
    first = {c.id for c in containers(backend, "t-force")}
    try:
        api.deploy(folder, backend=backend, force=True)
        second = {c.id for c in containers(backend, "t-force")}
        assert len(second) == 4 and not first & second
    finally:
        api.destroy("t-force", backend=backend)


def lab_cli(*args):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_command_line_end_to_end(backend, tmp_path):
    folder = small_lab(tmp_path, "t-cli")
    try:
        up = lab_cli("deploy", str(folder), "--ping")
        assert up.returncode == 0, up.stderr
        assert "lab t-cli is up: 4 nodes, 3 links" in up.stdout
        assert "6/6 pairs reachable" in up.stdout

        again = lab_cli("deploy", str(folder))
        assert again.returncode == 0, again.stderr
        assert "lab t-cli is running as its file says: nothing to change" in again.stdout

        ex = lab_cli("exec", "t-cli", "b", "--", "ip", "-br", "addr", "show", "eth0")
        assert ex.returncode == 0 and "10.1.0.2/24" in ex.stdout
        failing = lab_cli("exec", "t-cli", "b", "--", "sh", "-c", "exit 3")
        assert failing.returncode == 3

        st = lab_cli("status", "t-cli")
        assert st.returncode == 0 and "10.1.0.3/24" in st.stdout

        listing = lab_cli("status")
        assert "t-cli" in listing.stdout
    finally:
        down = lab_cli("destroy", "t-cli")
    assert down.returncode == 0 and "removed 4 nodes" in down.stdout
    gone = lab_cli("status", "t-cli")
    assert gone.returncode == 1 and "not deployed" in gone.stderr


def test_stop_is_prompt_thanks_to_init(backend, tmp_path):
    """PID 1 is an init that passes SIGTERM on: a node exits on it (143)
    instead of being killed when the stop timeout runs out (137)."""
    folder = small_lab(tmp_path, "t-stop")
    plan = api.deploy(folder, backend=backend).plan
    try:
        c = backend.client.containers.get(plan.nodes["a"].container)
        c.stop(timeout=30)
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 143
    finally:
        api.destroy("t-stop", backend=backend)


def test_impairments_written_on_a_link_are_applied_at_deploy(backend, tmp_path):
    folder = tmp_path / "t-impair"
    folder.mkdir()
    (folder / "lab.yml").write_text(
        "nodes:\n  a: {kind: host}\n  b: {kind: host}\n"
        "links:\n  - {a: a, b: b, prefix: 10.9.0.0/24, impair: {rate: 100kbit}}\n")
    api.deploy(folder, backend=backend)
    try:
        imps = operate.impairments("t-impair", backend=backend)
        assert {k: v.describe() for k, v in imps.items()} == {
            ("a", "eth0"): "rate 100kbit", ("b", "eth0"): "rate 100kbit"}
        # 1400-byte pings every 10 ms through 100 kbit/s (about 110 ms a packet): once the
        # bucket's burst is spent they queue, and round trips grow past 100 ms
        out = operate.exec_in("t-impair", "a", ["lab-probe", "ping", "10.9.0.11", "--count", "4", "--size", "1400",
                                            "--interval", "0.01", "--timeout", "3"], backend=backend)
        result = json.loads(out.stdout)
        assert result["received"] >= 2 and result["max"] > 100, result  # tbf drops what waits over 200 ms
    finally:
        api.destroy("t-impair", backend=backend)


def test_images_of_older_recipes_are_pruned(backend, tmp_path):
    import io

    from orchestrator.backend.images import prune_old_images, wanted_tags
    current = wanted_tags()
    old_tag = "labnet/node:t-old-recipe"
    dockerfile = f"FROM {current.node}\nLABEL t.old=1\n".encode()
    backend.client.images.build(fileobj=io.BytesIO(dockerfile), tag=old_tag, network_mode="none",
                                labels={"labnet.project": "labnet", "labnet.role": "node"}, rm=True)
    removed = prune_old_images(backend.client, current)
    assert old_tag in removed
    assert [t for t in (i.tags for i in backend.client.images.list(name="labnet/node")) if old_tag in t] == []
    assert backend.client.images.get(current.node)  # the current one stays
    assert current.node in backend.client.images.get("labnet/node:latest").tags
