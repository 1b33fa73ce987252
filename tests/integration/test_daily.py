"""What people reach for every day, on the real engine and through the real
`lab` command: one command in several nodes, the one-screen status, lab names
suggested for typos, routes on a node with no routing daemon, images list and
prune, one message on Ctrl-C during a deploy, shell completion.

Every lab here is named h3-* and destroyed afterwards."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import lab as api
from tests.conftest import LABS
from tests.conftest import run_lab as lab

ROOT = Path(__file__).resolve().parent.parent.parent
NAME = "h3-daily"



@pytest.fixture(scope="module")
def daily(backend):
    """labs/services (two routers with computed routes, hosts, switches, services) as h3-daily."""
    api.destroy(NAME, backend=backend)
    plan = api.deploy(LABS / "services", name=NAME, backend=backend).plan
    yield plan
    api.destroy(NAME, backend=backend)


def test_exec_in_every_router_and_in_chosen_nodes(daily):
    got = lab("exec", NAME, "--kind", "router", "--", "hostname")
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == ["=== r1: exit 0 ===", "r1", "=== r2: exit 0 ===", "r2", "2/2 nodes ok"]
    bad = lab("exec", NAME, "--nodes", "pc1,srv", "--", "sh", "-c", '[ "$(hostname)" = pc1 ]')
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == "1/2 nodes ok; failed: srv (exit 1)"
    data = json.loads(lab("exec", NAME, "--all", "--json", "--", "hostname").stdout)
    assert [(d["node"], d["exit_code"], d["stdout"]) for d in data] == [(n, 0, f"{n}\n") for n in sorted(daily.nodes)]
    one = lab("exec", NAME, "pc1", "--", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (one.returncode, one.stdout, one.stderr) == (5, "out\n", "err\n")   # one node: relayed as it is


def test_status_wide_on_one_screen(daily):
    got = lab("status", NAME, "--wide")
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == f"lab {NAME}: up, 7 nodes (7 running), routing computed"
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "    eth0  up  192.168.1.10/24  -> clients:eth1" in lines
    assert "    gateway 192.168.1.1 (eth0)" in lines
    assert any(line.startswith("    services: http:80 running") for line in lines)
    data = json.loads(lab("status", NAME, "--wide", "--json").stdout)
    srv = next(n for n in data["nodes"] if n["node"] == "srv")
    assert {s["name"]: s["state"] for s in srv["services"]} == {s.name: "running" for s in daily.nodes["srv"].services}


def test_a_mistyped_lab_name_gets_the_nearest_one(daily):
    for args in (["status", "h3-daly"], ["exec", "h3-daly", "pc1", "--", "true"], ["routes", "h3-daly", "r1"]):
        got = lab(*args)
        assert got.returncode == 1 and "lab 'h3-daly' is not deployed; did you mean 'h3-daily'?" in got.stderr, args


def test_routes_of_a_node_without_a_routing_daemon(daily):
    got = lab("routes", NAME, "r1")
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == "this lab uses routing: computed; r1's routes:"
    assert "192.168.1.0/24 via 10.0.0.2 dev eth1" in lines
    data = json.loads(lab("routes", NAME, "pc1", "--json").stdout)
    assert data["source"] == "kernel" and {"dst": "default", "gateway": "192.168.1.1", "dev": "eth0",
                                           "flags": []} in data["routes"]


def test_images_list_and_prune_keep_what_is_used_and_not_ours(daily, backend):
    docker = "/usr/bin/docker"
    record = next(c for c in subprocess.run([docker, "ps", "-aq", "--filter", f"label=labnet.lab={NAME}",
                                             "--filter", "label=labnet.role=record"],
                                            capture_output=True, text=True, check=True).stdout.split())
    stale, shared = "labnet/node:h3stale00001", "labnet/node:h3stale00002"
    for tag in (stale, shared):   # two images of ours of no current recipe, used by no container
        subprocess.run([docker, "commit", "-c", "LABEL labnet.role=node", record, tag], check=True, capture_output=True)
    subprocess.run([docker, "tag", shared, "h3-someone-elses:keep"], check=True)
    try:
        listed = lab("images", "list")
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[2]: line for line in listed.stdout.splitlines()[1:] if line.startswith(("node", "base"))}
        assert rows["h3stale00001"].endswith("stale")
        node_tag = api.build_images(backend)["node"].partition(":")[2]
        assert rows[node_tag].split("  ")[-1].startswith("current;") and NAME in rows[node_tag]
        pruned = lab("images", "prune")
        assert pruned.returncode == 0, pruned.stderr
        assert stale in pruned.stdout and shared not in pruned.stdout
        gone = subprocess.run([docker, "image", "inspect", stale], capture_output=True)
        assert gone.returncode != 0
        kept = subprocess.run([docker, "image", "inspect", shared], capture_output=True)
        assert kept.returncode == 0
        assert lab("status", NAME).returncode == 0   # the lab's own image is still there
    finally:
        subprocess.run([docker, "rmi", "-f", stale, shared, "h3-someone-elses:keep"], capture_output=True)


def test_ctrl_c_during_a_deploy_says_interrupted_once(backend):
    name = "h3-intr"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "deploy", str(LABS / "five-subnets"),
                             "--name", name, "-v"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        seen = []
        assert proc.stderr is not None
        for line in proc.stderr:   # Ctrl-C once the first node has started
            seen.append(line)
            if "create [1/" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        proc.wait(timeout=120)
        text = "".join(seen) + rest
        assert proc.returncode == 130, text
        assert "failed" not in text
        assert text.count("interrupted") == 1 and text.rstrip().endswith("interrupted")
        assert f"removing what the deploy of {name} created" in text
        assert backend.nodes(name) == []
    finally:
        proc.kill()
        api.destroy(name, backend=backend)


def test_completion_of_lab_and_node_names(daily):
    script = Path(sys.executable).parent / "lab"   # the console script: completion goes by its name

    def complete(words: str, cword: int) -> list[str]:
        got = subprocess.run([str(script)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "_LAB_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                  "COMP_CWORD": str(cword)})
        assert got.returncode == 0, got.stderr
        return [line.partition(",")[2] for line in got.stdout.splitlines()]
    assert NAME in complete("lab status h3-da", 2)
    assert complete(f"lab exec {NAME} p", 3) == ["pc1", "pc2"]
    assert complete(f"lab routes {NAME} r", 3) == ["r1", "r2"]
    assert complete(f"lab exec {NAME} --nodes pc1,r", 4) == ["pc1,r1", "pc1,r2"]
