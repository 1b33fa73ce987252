"""labs/dhcp-lan on real nodes: Debian's dhclient takes its address from our
DHCP server, on the server's LAN and through the router's relay; the lease
table names the lab's nodes; the address carries the lease's lifetime; a
host that finds no free address is named by the deploy, which still runs the
lab; the netns backend runs it too. (The lab's own expectations run in
test_lab_test.py like every lab's.)"""

import json
import os

import pytest

from orchestrator import lab as api
from orchestrator import operate
from orchestrator.backend.netns import NetnsBackend
from orchestrator.compile import compile_text
from orchestrator.operate import run_lab_tests
from tests.conftest import LABS
from tests.conftest import run_lab as lab
from tests.integration.conftest import deployed_lab

NAME = "t-dhcp"


@pytest.fixture(scope="module")
def deployed(backend):
    yield from deployed_lab(backend, "dhcp-lan", NAME)


def test_every_host_holds_a_lease_named_in_the_servers_table(backend, deployed):
    rows = {r.node: r for r in operate.leases(NAME, backend=backend)}
    assert sorted(rows) == ["pc1", "pc2", "pc3", "pc4"]
    assert all(r.server == "dhcp1" and r.state == "bound" and 0 < r.expires_in <= 600 for r in rows.values())
    assert rows["pc3"].address == "10.0.2.50"                    # its reservation
    assert rows["pc4"].address.startswith("10.0.2.1")            # lan2's pool, through the relay
    assert {rows["pc1"].address, rows["pc2"].address} <= {f"10.0.1.{n}" for n in range(100, 200)}
    log = operate.exec_in(NAME, "dhcp1", ["cat", "/var/log/labnet/dhcp.log"], backend=backend).stdout
    assert "via relay 10.0.2.1; ACK 10.0.2.50" in log
    out = lab("leases", NAME)
    assert out.returncode == 0, out.stderr
    assert "10.0.2.50" in out.stdout and "pc3" in out.stdout and "bound" in out.stdout


def test_the_address_counts_down_its_lease_and_the_gateway_is_the_pools(backend, deployed):
    res = operate.exec_in(NAME, "pc4", ["ip", "-j", "-4", "addr", "show", "dev", "eth0"], backend=backend)
    info = json.loads(res.stdout)[0]["addr_info"][0]
    assert info["dynamic"] and 0 < info["valid_life_time"] <= 600
    route = operate.exec_in(NAME, "pc4", ["ip", "route", "show", "default"], backend=backend).stdout
    assert route.startswith("default via 10.0.2.1 dev eth0")


def test_a_host_that_finds_no_free_address_is_named_by_the_deploy(backend, tmp_path, monkeypatch):
    monkeypatch.setattr(api, "LEASE_WAIT_S", 4.0)
    name = "t-dhcp-full"
    (tmp_path / "lab.yml").write_text(f"""
name: {name}
nodes:
  srv:
    kind: host
    interfaces: {{eth0: 10.0.1.2/24}}
    services: [{{type: dhcp, pools: [{{range: [10.0.1.100, 10.0.1.100]}}]}}]
  pc1: {{kind: host, interfaces: {{eth0: dhcp}}}}
  pc2: {{kind: host, interfaces: {{eth0: dhcp}}}}
lans:
  lan1: {{members: [srv, pc1, pc2]}}
""")
    assert [w.message for w in compile_text((tmp_path / "lab.yml").read_text()).warnings] == [
        "the range 10.0.1.100 - 10.0.1.100 holds 1 address for 2 hosts that ask with no reservation"]
    api.destroy(name, backend=backend)
    try:
        result = api.deploy(tmp_path, backend=backend)
        said = [(w.where, w.message, w.hint) for w in result.warnings if "holds no address" in w.message]
        assert len(said) == 1, result.warnings
        where, message, hint = said[0]
        node = where.split(".")[1]
        assert where == f"nodes.{node}.interfaces.eth0" and node in ("pc1", "pc2")
        assert message == f"{node}:eth0 holds no address from DHCP (waited 4 s)"
        assert hint == (f"what its client sent: lab logs {name} {node} dhcp-eth0; "
                        f"what srv said: lab logs {name} srv dhcp")
        assert [r.address for r in operate.leases(name, backend=backend) if r.state == "bound"] == ["10.0.1.100"]
    finally:
        api.destroy(name, backend=backend)


def test_the_netns_backend_runs_it_too():
    if os.geteuid() != 0:
        pytest.fail("the netns backend needs root")
    netns = NetnsBackend()
    name = "t-dhcp-ns"
    api.destroy(name, backend=netns)
    try:
        api.deploy(LABS / "dhcp-lan", name=name, backend=netns)
        results = run_lab_tests(name, backend=netns)
        assert [f"{r.what}: {r.got}" for r in results if not r.ok] == []
        assert len(results) >= 10
        assert len([r for r in operate.leases(name, backend=netns) if r.state == "bound"]) == 4
    finally:
        api.destroy(name, backend=netns)


def test_two_servers_said_to_share_a_lan_each_lease_from_their_own_range(tmp_path):
    """A split scope on real clients: both servers offer (once listening), each
    client takes one offer, and every lease comes from its server's range."""
    if os.geteuid() != 0:
        pytest.fail("the netns backend needs root")
    netns = NetnsBackend()
    name = "t-dhcp-split"
    hosts = [f"pc{i}" for i in range(1, 5)]
    nodes = "".join(f"  {h}: {{kind: host, interfaces: {{eth0: dhcp}}}}\n" for h in hosts)
    checks = "".join(f"  - dhcp: {{host: {h}}}\n" for h in hosts)
    (tmp_path / "lab.yml").write_text(f"""
name: {name}
nodes:
  r1: {{kind: router, interfaces: {{eth0: 10.0.1.1/24}}}}
  a: {{kind: host, interfaces: {{eth0: 10.0.1.2/24}},
      services: [{{type: dhcp, pools: [{{range: [10.0.1.100, 10.0.1.149], shared: true}}]}}]}}
  b: {{kind: host, interfaces: {{eth0: 10.0.1.3/24}},
      services: [{{type: dhcp, pools: [{{range: [10.0.1.150, 10.0.1.199], shared: true}}]}}]}}
{nodes}lans:
  lan1: {{members: [r1:eth0, a, b, {", ".join(hosts)}]}}
expect:
  - all_pairs: hosts
{checks}""")
    api.destroy(name, backend=netns)
    try:
        api.deploy(tmp_path, backend=netns)
        results = run_lab_tests(name, backend=netns)
        assert [f"{r.what}: {r.got}" for r in results if not r.ok] == []
        rows = [r for r in operate.leases(name, backend=netns) if r.state == "bound"]
        assert sorted(r.node for r in rows) == hosts
        for r in rows:
            last = int(r.address.rsplit(".", 1)[1])
            assert 100 <= last <= 199 and (r.server == "a") == (last <= 149), r
    finally:
        api.destroy(name, backend=netns)
