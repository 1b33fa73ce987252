"""backend/rtnl.py against iproute2 in a throw-away namespace (no engine):
the links, MACs, states, bridge ports and addresses it reads are the ones
`ip -j` shows, and a root tbf is seen as such."""

import json
import os
import subprocess
import uuid

import pytest

from orchestrator.backend import rtnl


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20).stdout


@pytest.fixture
def namespace():
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces)")
    name = f"lntest-rtnl-{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        ip("netns", "del", name)


def test_what_it_reads_is_what_iproute2_shows(namespace):
    n = ["-n", namespace]
    ip(*n, "link", "add", "br0", "type", "bridge")
    ip(*n, "link", "add", "eth0", "type", "veth", "peer", "name", "eth10")
    ip(*n, "link", "set", "eth0", "master", "br0")
    ip(*n, "link", "add", "eth2", "address", "02:00:00:00:00:22", "type", "veth", "peer", "name", "eth12")
    ip(*n, "addr", "add", "10.9.0.1/24", "dev", "eth2")
    ip(*n, "addr", "add", "10.9.1.1/30", "dev", "eth2")
    ip(*n, "link", "set", "eth2", "up")
    ip(*n, "link", "set", "eth0", "up")
    subprocess.run(["tc", *n, "qdisc", "add", "dev", "eth2", "root", "tbf", "rate", "1mbit", "burst", "4kb",
                    "latency", "200ms"], check=True, capture_output=True, timeout=20)
    tables = rtnl.read_namespace(f"/run/netns/{namespace}", qdiscs=True)
    shown = {ln["ifname"]: ln for ln in json.loads(ip(*n, "-j", "addr", "show")) if ln["ifname"] != "lo"}
    assert [i.name for i in tables.interfaces] == ["br0", "eth0", "eth2", "eth10", "eth12"]
    for i in tables.interfaces:
        want = shown[i.name]
        assert i.mac == want["address"]
        assert i.state == ("up" if "UP" in want["flags"] else "down")
        assert i.oper == want["operstate"]
        assert i.master == want.get("master")
        assert i.addresses == [f"{a['local']}/{a['prefixlen']}" for a in want["addr_info"] if a["family"] == "inet"]
    assert tables.root_qdiscs["eth2"] == "tbf"
    with pytest.raises(Exception, match="cannot enter the network namespace"):
        rtnl.read_namespace(f"/run/netns/{namespace}-missing")
