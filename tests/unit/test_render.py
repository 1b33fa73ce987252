"""Rendering: the per-node files from templates/, and `lab render`."""

from pathlib import Path

from orchestrator.compile import compile_file
from orchestrator.render.files import render_plan, write_rendered

LABS = Path(__file__).resolve().parent.parent.parent / "labs"


def files():
    return render_plan(compile_file(LABS / "five-subnets").result())


def commands(script: str) -> list[str]:
    return [ln for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]


def test_host_script():
    script = files()["pc1"]["/etc/labnet/setup.sh"]
    assert script.startswith("#!/bin/sh\n")
    assert commands(script) == [
        "set -eu",
        "ip -batch - <<'SETUP'",
        "link set lo up",
        "link set eth0 address 02:02:94:94:c4:47",
        "addr replace 192.168.1.10/24 dev eth0",
        "link set eth0 up",
        "route replace default via 192.168.1.1 dev eth0",
        "SETUP",
    ]


def test_switch_script_bridges_every_port_and_has_no_address():
    script = files()["s2"]["/etc/labnet/setup.sh"]
    cmds = commands(script)
    assert "ip link show br0 >/dev/null 2>&1 || ip link add br0 type bridge stp_state 0" in cmds
    assert [c for c in cmds if "master" in c] == [f"link set eth{i} master br0" for i in range(3)]
    assert not [c for c in cmds if "addr" in c.split()[:3]]


def test_router_script_has_its_static_routes():
    cmds = commands(files()["r1"]["/etc/labnet/setup.sh"])
    assert [c for c in cmds if c.startswith("route ")] == [
        "route replace 192.168.2.0/24 via 10.0.12.2 dev eth1",
        "route replace 192.168.3.0/24 via 10.0.12.2 dev eth1",
        "route replace 10.0.23.0/30 via 10.0.12.2 dev eth1",
    ]


def test_computed_routes_are_rendered():
    plan = compile_file(LABS / "five-subnets-auto").result()
    cmds = commands(render_plan(plan)["r3"]["/etc/labnet/setup.sh"])
    assert [c for c in cmds if c.startswith("route ")] == [
        "route replace 192.168.0.0/24 via 10.0.0.5 dev eth1",
        "route replace 192.168.1.0/24 via 10.0.0.5 dev eth1",
        "route replace 10.0.0.0/30 via 10.0.0.5 dev eth1",
    ]


def test_hosts_file_names_every_addressed_node():
    hosts = files()["pc4"]["/etc/hosts"]
    assert "127.0.0.1\tlocalhost" in hosts
    assert "192.168.2.1\tr2" in hosts
    assert "s1" not in hosts


def test_write_rendered(tmp_path):
    written = write_rendered(files(), tmp_path)
    assert len(written) == 12 * 4   # setup.sh, hosts, resolv.conf, node.json
    assert (tmp_path / "r2" / "etc/labnet/setup.sh").read_text().startswith("#!/bin/sh")
