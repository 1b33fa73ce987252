"""labs/user-stack on real nodes: hosts on our own TCP/IP stack talk to Linux
kernels. Real clients (curl) fetch from the stack's HTTP server intact, also
through the lossy stack, whose retransmissions `lab stack` then shows; the
stack host's kernel holds no address; the netns backend runs it too. (The
lab's own expectations run in test_lab_test.py like every lab's.)"""

import hashlib
import json
import os

import pytest

from orchestrator import lab as api
from orchestrator import operate
from orchestrator.backend.netns import NetnsBackend
from orchestrator.operate import run_lab_tests
from tests.conftest import LABS
from tests.conftest import run_lab as lab

NAME = "t-ustack"
BIG = hashlib.sha256((LABS / "user-stack" / "www" / "big.txt").read_bytes()).hexdigest()



@pytest.fixture(scope="module")
def deployed(backend):
    api.destroy(NAME, backend=backend)
    plan = api.deploy(LABS / "user-stack", name=NAME, backend=backend).plan
    yield plan
    api.destroy(NAME, backend=backend)


def sh(backend, node, command):
    return operate.exec_in(NAME, node, ["sh", "-c", command], backend=backend)


@pytest.mark.parametrize("server", ["ustack", "lossy"])
def test_curl_fetches_from_the_stacks_http_server_intact(backend, deployed, server):
    out = sh(backend, "pc", f"curl -sS --max-time 30 http://{server}/big.txt | sha256sum")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.split()[0] == BIG


def test_the_lossy_stack_retransmits_and_lab_stack_shows_it(backend, deployed):
    assert sh(backend, "pc", "curl -sS --max-time 30 -o /dev/null http://lossy/big.txt").exit_code == 0
    res = lab("--json", "stack", NAME, "lossy", "stats")
    assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout)["answer"]
    assert stats["loss"]["p"] == 0.03 and stats["loss"]["direction"] == "both"
    counters = stats["counters"]
    assert counters["loss_dropped_tx"] > 0 and counters["loss_dropped_rx"] > 0
    assert counters["tcp_retransmits"] + counters["tcp_fast_retransmits"] > 0


def test_lab_stack_prints_the_sockets_and_refuses_a_kernel_host(backend, deployed):
    res = lab("stack", NAME, "ustack", "sockets")
    assert res.returncode == 0, res.stderr
    listening = [line.split() for line in res.stdout.splitlines() if "LISTEN" in line or "UNCONN" in line]
    assert sorted((row[0], row[-2]) for row in listening) == [("tcp", "10.1.0.10:7"), ("tcp", "10.1.0.10:80"),
                                                             ("udp", "10.1.0.10:7")]
    res = lab("stack", NAME, "pc")
    assert res.returncode == 1 and "pc uses the kernel's TCP/IP stack, not ours" in res.stderr
    assert "Traceback" not in res.stderr


def test_the_stack_hosts_kernel_keeps_no_address_and_no_route(backend, deployed):
    addrs = json.loads(sh(backend, "ustack", "ip -j -4 addr show").stdout)
    assert [(a["ifname"], [i["local"] for i in a.get("addr_info", [])]) for a in addrs] == [("lo", ["127.0.0.1"])]
    assert sh(backend, "ustack", "ip -4 route show").stdout.strip() == ""
    links = {ln["ifname"]: ln.get("master") for ln in json.loads(sh(backend, "ustack", "ip -j link show").stdout)}
    assert links["eth0"] == "br0" and links["tap0"] == "br0"


def test_the_netns_backend_runs_it_too():
    if os.geteuid() != 0:
        pytest.fail("the netns backend needs root")
    netns = NetnsBackend()
    name = "t-ustack-ns"
    api.destroy(name, backend=netns)
    try:
        api.deploy(LABS / "user-stack", name=name, backend=netns)
        results = run_lab_tests(name, backend=netns)
        assert [f"{r.what}: {r.got}" for r in results if not r.ok] == []
        assert len(results) >= 12
    finally:
        api.destroy(name, backend=netns)
