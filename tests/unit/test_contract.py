"""The node contract holds on both sides: what the orchestrator renders is what
the in-node programs read, and both name the same paths, timers and signal."""

import json
import sys

import pytest

from orchestrator import contract
from orchestrator.lab import plan_lab
from orchestrator.render.files import render_plan
from tests.conftest import LABS, ROOT

sys.dont_write_bytecode = True  # images/node is the image's build context: no __pycache__ in it
if str(ROOT / "images" / "node") not in sys.path:
    sys.path.insert(0, str(ROOT / "images" / "node"))

from labnode import contract as node_contract  # noqa: E402
from labnode import svconfig  # noqa: E402
from labnode.routing import __main__ as routed_main  # noqa: E402
from labnode.routing import config as routing_config  # noqa: E402
from labnode.services import MODULES  # noqa: E402
from labnode.supervisor import main as supervisor_main  # noqa: E402

LAB_NAMES = sorted(p.parent.name for p in LABS.glob("*/lab.yml"))


@pytest.fixture(scope="module")
def rendered():
    out = {}
    for lab in LAB_NAMES:
        plan, _ = plan_lab(LABS / lab)
        out[lab] = (plan, render_plan(plan))
    return out


def test_paths_and_signal_are_the_same_on_both_sides():
    for name in ("SERVICES_CONFIG", "ROUTING_CONFIG", "ROUTER_NAMES", "LOG_DIR", "SUPERVISOR_PIDFILE", "READY_LINE",
                 "CONFIG_DIR"):
        assert getattr(contract, name) == getattr(node_contract, name), name
    assert routed_main.DEFAULT_CONFIG == contract.ROUTING_CONFIG
    assert contract.SUPERVISOR_ARGV[2] == "labnode.supervisor"


def test_the_supervisor_defaults_are_the_contract(monkeypatch, tmp_path):
    seen = {}

    def fake_load(path):
        seen["config"] = path
        raise svconfig.ConfigError("stop here")

    monkeypatch.setattr("labnode.supervisor.load", fake_load)
    monkeypatch.setattr("labnode.supervisor.os.makedirs", lambda path, exist_ok: seen.setdefault("logdir", path))
    monkeypatch.setattr("labnode.supervisor.LogFile", lambda path: type("L", (), {"note": lambda self, m: None})())
    assert supervisor_main([]) == 1
    assert seen == {"config": contract.SERVICES_CONFIG, "logdir": contract.LOG_DIR}


def test_routing_timer_defaults_are_the_contract():
    assert routing_config.DEFAULTS["hello_interval"] == contract.HELLO_INTERVAL
    assert routing_config.DEFAULTS["dead_interval"] == contract.DEAD_INTERVAL


def test_every_service_type_of_the_model_runs_in_the_node():
    from orchestrator.model.specs import DEFAULT_PORTS, SERVICE_TYPES
    # "stack" is what the supervisor of a user-space stack host runs, "dhcp-relay" what a router with
    # dhcp_relay runs: not service types of a lab file
    assert set(SERVICE_TYPES) == set(MODULES) - {"stack", "dhcp-relay", "ra"} | {"command"}
    assert set(DEFAULT_PORTS) == set(MODULES) - {"stack", "dhcp-relay", "ra"}


def test_rendered_services_json_is_what_the_supervisor_reads(rendered, tmp_path):
    checked = 0
    for lab, (plan, files) in rendered.items():
        for node, node_files in files.items():
            if contract.SERVICES_CONFIG not in node_files:
                continue
            path = tmp_path / f"{lab}-{node}.json"
            path.write_text(node_files[contract.SERVICES_CONFIG])
            specs = svconfig.load(str(path))
            planned = plan.nodes[node].services
            assert [s.name for s in specs] == [s.name for s in planned], (lab, node)
            for spec, svc in zip(specs, planned):
                assert spec.error is None, (lab, node, spec.error)
                if svc.type == "command":
                    assert spec.argv == svc.command
                elif svc.type == "stack":
                    assert spec.argv[1:] == ["-m", "labnode.stack", "--config", contract.STACK_CONFIG]
                elif svc.type == "dns":   # its port is in its config
                    assert spec.argv[1:] == ["-m", "labnode.dns.server", "--config", contract.DNS_CONFIG]
                elif svc.type == "dhcp":
                    assert spec.argv[1:] == ["-m", "labnode.dhcp.server", "--config", contract.DHCP_CONFIG]
                elif svc.type == "dhcp-relay":
                    assert spec.argv[1:] == ["-m", "labnode.dhcp.relay", "--config", contract.DHCP_RELAY_CONFIG]
                elif svc.type == "ra":      # what the advertisement sender reads from its command line
                    from labnode import radvd
                    said = radvd.parse_args(spec.argv[3:])
                    assert (said.iface, [str(p) for p in said.prefixes], said.interval) == (
                        svc.args["iface"], [svc.args["prefix"]], contract.RA_INTERVAL)
                else:
                    assert spec.argv[1:3] == ["-m", MODULES[svc.type]]
                    assert "--port" in spec.argv and str(svc.port) in spec.argv
            checked += 1
    assert checked >= 5  # services, home-nat, dmz-firewall and the dynamic routers


def test_rendered_stack_json_is_what_the_user_space_stack_reads(rendered):
    from labnode.stack import config as stack_config
    assert contract.STACK_SOCKET == stack_config.DEFAULT_SOCKET
    assert set(contract.STACK_APP_TYPES.values()) <= set(stack_config.APP_TYPES)
    plan, files = rendered["user-stack"]
    users = {name: node for name, node in plan.nodes.items() if node.stack is not None}
    assert sorted(users) == ["lossy", "ustack"]
    for name, node in users.items():
        cfg = stack_config.parse(json.loads(files[name][contract.STACK_CONFIG]))
        iface = node.interfaces[0]
        assert str(cfg.interface) == iface.address and cfg.gateway == "10.1.0.1"
        assert ":".join(f"{b:02x}" for b in cfg.mac) == iface.mac   # neighbours see the planned MAC
        assert [(a.type, a.port) for a in cfg.apps] == [(contract.STACK_APP_TYPES[s.type], s.port)
                                                        for s in node.stack.apps]
        assert [s.name for s in node.services] == [contract.STACK_SERVICE]
        setup = files[name][contract.SETUP_SCRIPT]
        assert "ip tuntap add mode tap name tap0" in setup and "master br0" in setup
        assert "addr replace" not in setup and "route replace" not in setup   # the kernel keeps nothing
    lossy = stack_config.parse(json.loads(files["lossy"][contract.STACK_CONFIG]))
    assert (lossy.loss_p, lossy.loss_seed, lossy.loss_direction) == (0.03, 7, "both")
    assert contract.STACK_CONFIG not in files["pc"]


def test_rendered_dns_json_is_what_the_dns_server_reads(rendered):
    from labnode.dns import server as dns_server
    assert contract.DNS_CONFIG == node_contract.CONFIG_DIR + "/dns.json"
    plan, files = rendered["dns-hierarchy"]
    servers = {name: dns_server.parse_config(json.loads(f[contract.DNS_CONFIG]))
               for name, f in files.items() if contract.DNS_CONFIG in f}
    assert sorted(servers) == ["auth1", "auth2", "resolver", "root", "tld"]
    assert [z.origin for z in servers["auth1"].zones] == ["example.lab"]
    assert "nodes.lab" in [z.origin for z in servers["auth2"].zones]   # lab_zone, and its PTR zones
    assert any(z.origin.endswith("in-addr.arpa") for z in servers["auth2"].zones)
    root = plan.nodes["root"].addresses()[0].split("/")[0]
    assert [h.address for h in servers["resolver"].hints] == [root]
    resolver = plan.nodes["resolver"].addresses()[0].split("/")[0]
    assert all(f[contract.RESOLV_FILE].splitlines()[1] == f"nameserver {resolver}" for f in files.values())
    assert "nameserver" not in rendered["five-subnets"][1]["pc1"][contract.RESOLV_FILE]   # no resolver: none named


def test_rendered_dhcp_json_is_what_the_dhcp_server_and_relay_read(rendered):
    from labnode.dhcp import relay as dhcp_relay
    from labnode.dhcp import server as dhcp_server
    assert contract.DHCP_LEASES == dhcp_server.DEFAULT_LEASE_FILE
    plan, files = rendered["dhcp-lan"]
    server = dhcp_server.parse_config(json.loads(files["dhcp1"][contract.DHCP_CONFIG]))
    assert server.interfaces == ["eth0"]
    pools = {str(p.subnet): p for p in server.pools}
    assert sorted(pools) == ["10.0.1.0/24", "10.0.2.0/24"]
    assert str(pools["10.0.2.0/24"].router) == "10.0.2.1" and pools["10.0.2.0/24"].lease == 600
    pc3 = plan.nodes["pc3"].interface("eth0")
    assert pc3 is not None and pc3.dhcp and pc3.address == "10.0.2.50/24"
    assert str(pools["10.0.2.0/24"].reservations[pc3.mac].address) == "10.0.2.50"
    relay = dhcp_relay.parse_config(json.loads(files["r1"][contract.DHCP_RELAY_CONFIG]))
    assert relay.listen == ["eth1"] and [str(a) for a in relay.servers] == ["10.0.1.2"]
    for host in ("pc1", "pc2", "pc3", "pc4"):
        assert [(s.name, s.command) for s in plan.nodes[host].services] == [("dhcp-eth0", ["lab-dhclient", "eth0"])]
        assert "addr replace" not in files[host][contract.SETUP_SCRIPT]   # the client installs it


def test_rendered_routing_json_is_what_the_daemon_reads(rendered):
    checked = 0
    for plan, files in rendered.values():
        for node, node_files in files.items():
            if contract.ROUTING_CONFIG not in node_files:
                continue
            config = routing_config.parse(json.loads(node_files[contract.ROUTING_CONFIG]))
            daemon = plan.nodes[node].daemon
            assert daemon is not None
            assert config.hello_interval == daemon.hello_interval
            assert config.dead_interval == daemon.dead_interval
            assert [i.name for i in config.interfaces] == [i["name"] for i in daemon.interfaces]
            assert len(config.prefixes) == len(daemon.prefixes)
            assert len(config.prefixes6) == len(daemon.prefixes6)     # dual-stack-mesh: IPv6 too
            written6 = [i.get("address6") for i in daemon.interfaces]
            assert [i.address6 is not None for i in config.interfaces] == [a is not None for a in written6]
            # the daemon runs under the supervisor with the contract's command line
            assert contract.ROUTING_ARGV in [s.command for s in plan.nodes[node].services]
            checked += 1
    assert checked == 12  # labs/dijkstra-mesh and dual-stack-mesh: six routers each



def test_every_dynamic_router_gets_the_names_of_all_of_them(rendered):
    plan, files = rendered["dijkstra-mesh"]
    routers = {name: node for name, node in plan.nodes.items() if node.daemon is not None}
    for name in routers:
        names = json.loads(files[name][contract.ROUTER_NAMES])
        for other, node in routers.items():
            assert names[node.daemon.router_id] == other
            assert all(names[a.split("/")[0]] == other for a in node.addresses())
    assert not any(contract.ROUTER_NAMES in f for n, f in files.items() if n not in routers)


def test_the_node_images_boot_script_is_the_one_the_docker_backend_expects():
    from orchestrator.backend import dockerboot
    script = (ROOT / "images" / "node" / "bin" / dockerboot.BOOT_PROGRAM).read_text()
    for needed in (f"cfg={contract.CONFIG_DIR}", f"$cfg/{dockerboot.FIFO}", f". $cfg/{dockerboot.BOOT_ENV}",
                   "sh $cfg/setup.sh", f"[ -e {contract.SERVICES_CONFIG} ]", " ".join(contract.SUPERVISOR_ARGV),
                   f"grep -q '{contract.READY_LINE}'", f'echo "{dockerboot.READY}"',
                   f'echo "{dockerboot.MARK}failed: '):
        assert needed in script, needed
