"""labs/five-subnets on the real engine: reachability, paths, tables, isolation."""

import json

import pytest
import testinfra

from orchestrator import lab as api
from orchestrator import operate, status
from orchestrator.errors import LabStateError
from tests.integration.conftest import host_network_snapshot


def host(plan, node):
    return testinfra.get_host(f"docker://{plan.nodes[node].container}")


def node_of_address(plan, address):
    for node in plan.nodes.values():
        for a in node.addresses():
            if a.split("/")[0] == address:
                return node.name
    return None


def test_every_pc_pings_every_other_pc(five_subnets, backend):
    plan, _ = five_subnets
    results = operate.ping_all(plan.lab, backend=backend)
    assert len(results) == 30
    failed = [f"{r.src}->{r.dst}: {r.detail}" for r in results if not r.ok]
    assert failed == []


def test_traceroute_left_to_right_passes_r1_r2_r3(five_subnets, backend):
    plan, _ = five_subnets
    out = operate.exec_in(plan.lab, "pc1", ["traceroute", "-n", "-q", "1", "-w", "2", "192.168.3.11"],
                      backend=backend)
    assert out.ok, out.stderr
    hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
    assert [node_of_address(plan, h) for h in hops] == ["r1", "r2", "r3", "pc6"]


def test_pc_routing_table_is_as_the_lab_says(five_subnets):
    plan, _ = five_subnets
    routes = json.loads(host(plan, "pc3").check_output("ip -j route"))
    default = [r for r in routes if r["dst"] == "default"]
    assert default == [{"dst": "default", "gateway": "192.168.2.1", "dev": "eth0", "flags": []}]
    connected = [r["dst"] for r in routes if r.get("protocol") == "kernel"]
    assert connected == ["192.168.2.0/24"]


def test_router_routing_table_is_as_the_lab_says(five_subnets):
    plan, _ = five_subnets
    routes = json.loads(host(plan, "r2").check_output("ip -j route"))
    static = {r["dst"]: (r["gateway"], r["dev"]) for r in routes if "gateway" in r}
    assert static == {"192.168.1.0/24": ("10.0.12.1", "eth1"), "192.168.3.0/24": ("10.0.23.2", "eth2")}
    connected = sorted(r["dst"] for r in routes if r.get("protocol") == "kernel")
    assert connected == ["10.0.12.0/30", "10.0.23.0/30", "192.168.2.0/24"]


def test_routers_forward_and_hosts_do_not(five_subnets):
    plan, _ = five_subnets
    assert host(plan, "r1").sysctl("net.ipv4.ip_forward") == 1
    assert host(plan, "pc1").sysctl("net.ipv4.ip_forward") == 0
    assert host(plan, "s1").sysctl("net.ipv4.ip_forward") == 0


def test_switch_is_a_bridge_of_its_ports(five_subnets, backend):
    plan, _ = five_subnets
    ifaces = {i.name: i for i in backend.interfaces(plan.lab, "s2")}
    assert {n: i.master for n, i in ifaces.items()} == {"eth0": "br0", "eth1": "br0", "eth2": "br0", "br0": None}
    assert all(i.state == "up" for i in ifaces.values())
    assert all(not i.addresses for i in ifaces.values())


def test_addresses_and_macs_are_the_planned_ones(five_subnets, backend):
    plan, _ = five_subnets
    for name, node in plan.nodes.items():
        live = {i.name: i for i in backend.interfaces(plan.lab, name)}
        for iface in node.interfaces:
            assert live[iface.name].mac == iface.mac
            assert live[iface.name].addresses == ([iface.address] if iface.address else [])


def test_containers_are_confined(five_subnets, backend):
    plan, _ = five_subnets
    for name, node in plan.nodes.items():
        c = backend.client.containers.get(node.container)
        hc = c.attrs["HostConfig"]
        assert hc["NetworkMode"] == "none"
        assert hc["Privileged"] is False
        assert sorted(hc["CapAdd"]) == ["NET_ADMIN", "NET_RAW"]
        assert hc["Init"] is True
        assert c.attrs["Config"]["Hostname"] == name
        assert c.labels["labnet.project"] == "labnet"
        assert c.labels["labnet.lab"] == plan.lab
        assert c.labels["labnet.node"] == name
        assert c.labels["labnet.kind"] == node.kind


def test_nothing_of_the_lab_in_the_host_namespace(five_subnets):
    plan, before = five_subnets
    assert host_network_snapshot() == before


def test_names_resolve_inside_the_lab(five_subnets):
    plan, _ = five_subnets
    assert host(plan, "pc1").run("ping -c1 -W2 pc6").rc == 0


def test_status_lists_nodes_and_addresses(five_subnets, backend):
    plan, _ = five_subnets
    rows = {n.node: (n, ifs) for n, ifs in status.status(plan.lab, backend=backend)}
    assert set(rows) == set(plan.nodes)
    assert all(n.state == "running" for n, _ in rows.values())
    assert [i.addresses for i in rows["r3"][1]] == [["192.168.3.1/24"], ["10.0.23.2/30"]]
    summary = [s for s in api.list_labs(backend) if s.name == plan.lab]
    assert summary and summary[0].nodes == summary[0].running == 12


def test_deploying_again_changes_nothing(five_subnets, backend):
    from tests.conftest import LABS
    plan, _ = five_subnets
    before = {n.node: n.pid for n in backend.nodes(plan.lab)}
    again = api.deploy(LABS / "five-subnets", name=plan.lab, backend=backend)
    assert again.reconciled is not None and again.reconciled.summary() == "no change"
    assert {n.node: n.pid for n in backend.nodes(plan.lab)} == before


def test_exec_in_unknown_node_is_a_clear_error(five_subnets, backend):
    plan, _ = five_subnets
    with pytest.raises(LabStateError, match="has no node 'r9'"):
        operate.exec_in(plan.lab, "r9", ["true"], backend=backend)


def test_setup_script_is_in_the_node_and_rerunnable(five_subnets, backend):
    plan, _ = five_subnets
    again = operate.exec_in(plan.lab, "r2", ["sh", "/etc/labnet/setup.sh"], backend=backend)
    assert again.ok, again.stderr
    assert operate.ping_all(plan.lab, backend=backend)[0].ok
