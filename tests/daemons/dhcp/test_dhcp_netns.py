"""Our DHCP server (and relay) against real Debian clients, in throw-away
network namespaces: dhclient (isc-dhcp-client) and udhcpc (busybox).

Needs root (skipped without it); a missing client is a failure naming its
package.  Every test builds its own namespaces (dhcpt<tag>-<role>) and
removes them, and kills what it started, at teardown.

    c1, c2, c9 ... eth0 --+
                          [sw: br0]  -- eth0 srv (10.0.1.1/24, the server)
    hostile (10.0.1.7) ---+

    relayed: c1 eth0 -- eth1 (10.0.2.1) relay eth0 (10.0.0.2) -- eth0 (10.0.0.1) srv

The clients run a script of ours (conftest.CLIENT_SCRIPT) instead of
/sbin/dhclient-script, which records what they received and installs the
address and default route, and never touches the host's /etc/resolv.conf.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.netns]

RESERVED_MAC = "02:00:00:00:00:09"

NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"  # (conftest puts it on sys.path)


def pool(**extra) -> dict:
    base = {"subnet": "10.0.1.0/24", "range": ["10.0.1.100", "10.0.1.199"], "router": "10.0.1.1",
            "dns": ["10.0.1.53", "10.0.1.54"], "domain": "lab", "lease": 600,
            "reservations": [{"mac": RESERVED_MAC, "address": "10.0.1.50", "hostname": "pc9"}]}
    base.update(extra)
    return base


def lan(lab, *clients: tuple[str, str]):
    """The server on a bridge with the given (role, mac) clients; the server Proc."""
    lab.add("sw", "srv", *(role for role, _ in clients))
    lab.bridge("sw")
    lab.plug("srv", "eth0", "sw")
    lab.addr("srv", "eth0", "10.0.1.1/24")
    for role, mac in clients:
        lab.plug(role, "eth0", "sw", mac=mac)
    return lab.start("srv", "server", {"interfaces": ["eth0"], "pools": [pool()],
                                       "lease_file": str(lab.workdir / "leases.json")})


def leases_file(lab) -> dict:
    return {e["address"]: e for e in json.loads((lab.workdir / "leases.json").read_text())["leases"]}


def test_dhclient_gets_address_mask_router_and_dns(netlab):
    server = lan(netlab, ("c1", "02:00:00:00:00:01"))
    client = netlab.client("c1")
    result = client.get()
    assert result.returncode == 0, result.stderr + server.output()
    got = client.received("BOUND")
    assert got["new_ip_address"] == "10.0.1.100"
    assert got["new_subnet_mask"] == "255.255.255.0"
    assert got["new_routers"] == "10.0.1.1"
    assert got["new_domain_name_servers"] == "10.0.1.53 10.0.1.54"
    assert got["new_domain_name"] == "lab"
    assert got["new_dhcp_lease_time"] == "600"
    assert got["new_dhcp_server_identifier"] == "10.0.1.1"
    assert client.addresses() == ["10.0.1.100/24"]
    assert client.default_route().startswith("default via 10.0.1.1 dev eth0")
    assert (client.dir / "resolv.conf").read_text() == "search lab\nnameserver 10.0.1.53\nnameserver 10.0.1.54\n"
    server.wait_for(r"DISCOVER from 02:00:00:00:00:01 via eth0; OFFER 10\.0\.1\.100")
    server.wait_for(r"REQUEST from 02:00:00:00:00:01 via eth0; ACK 10\.0\.1\.100 for 600 s")  # saved by then
    assert leases_file(netlab)["10.0.1.100"]["state"] == "bound"


def test_reservation_gives_the_reserved_address(netlab):
    server = lan(netlab, ("c9", RESERVED_MAC))
    client = netlab.client("c9")
    assert client.get().returncode == 0, server.output()
    assert client.received("BOUND")["new_ip_address"] == "10.0.1.50"
    assert client.received("BOUND")["new_host_name"] == "pc9"
    assert client.addresses() == ["10.0.1.50/24"]


def test_release_frees_the_address_and_two_clients_differ(netlab):
    server = lan(netlab, ("c1", "02:00:00:00:00:01"), ("c2", "02:00:00:00:00:02"))
    one, two = netlab.client("c1"), netlab.client("c2")
    assert one.get().returncode == 0, server.output()
    assert two.get().returncode == 0, server.output()
    first = one.received("BOUND")["new_ip_address"]
    second = two.received("BOUND")["new_ip_address"]
    assert {first, second} == {"10.0.1.100", "10.0.1.101"}
    assert one.release().returncode == 0
    server.wait_for(rf"RELEASE from 02:00:00:00:00:01 via eth0: {first} released")
    table = leases_file(netlab)
    assert table[first]["state"] == "released" and table[second]["state"] == "bound"
    assert one.addresses() == []
    listing = subprocess.run([sys.executable, "-m", "labnode.dhcp.cli", "leases", "--file",
                              str(netlab.workdir / "leases.json")], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1"))
    assert listing.returncode == 0, listing.stderr
    assert f"{second}" in listing.stdout and "released" in listing.stdout


def wait_file(path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.2)
    return False


def test_renewing_init_reboot_and_nak_with_dhclient(netlab):
    netlab.add("sw", "srv", "c1")
    netlab.bridge("sw")
    netlab.plug("srv", "eth0", "sw")
    netlab.addr("srv", "eth0", "10.0.1.1/24")
    netlab.plug("c1", "eth0", "sw", mac="02:00:00:00:00:01")
    config = {"interfaces": ["eth0"], "pools": [pool(lease=10)],
              "lease_file": str(netlab.workdir / "leases.json")}
    server = netlab.start("srv", "server", config)
    client = netlab.client("c1")
    assert client.get().returncode == 0, server.output()
    # renewing: at T1 (5 s) dhclient unicasts a REQUEST from 10.0.1.100; we unicast the ACK
    assert wait_file(client.dir / "RENEW", 15), server.output()
    assert client.received("RENEW")["new_ip_address"] == "10.0.1.100"
    first = next(i for i, line in enumerate(server.lines) if "; ACK 10.0.1.100" in line)
    server.wait_for(r"REQUEST from 02:00:00:00:00:01 via eth0; ACK 10\.0\.1\.100", start=first + 1)
    # init-reboot: a restarted dhclient asks for its address back (no server id) and gets it
    client.stop()
    time.sleep(0.3)
    netlab.ip("c1", "-4", "addr", "flush", "dev", "eth0")
    assert client.get().returncode == 0, server.output()
    assert client.received("REBOOT")["new_ip_address"] == "10.0.1.100"
    # the server moves to another subnet: the old address gets a NAK, then a new lease
    client.stop()
    server.stop()
    netlab.ip("srv", "addr", "flush", "dev", "eth0")
    netlab.addr("srv", "eth0", "10.0.3.1/24")
    moved = {"subnet": "10.0.3.0/24", "range": ["10.0.3.100", "10.0.3.110"], "router": "10.0.3.1"}
    server = netlab.start("srv", "server", {**config, "pools": [moved]})
    (client.dir / "BOUND").unlink()
    result = client.get()
    assert result.returncode == 0, result.stderr + server.output()
    assert "DHCPNAK" in result.stderr
    server.wait_for(r"NAK 10\.0\.1\.100: 10\.0\.1\.100 is not in 10\.0\.3\.0/24")
    assert client.received("BOUND")["new_ip_address"] == "10.0.3.100"
    assert client.addresses() == ["10.0.3.100/24"]


def test_one_server_two_interfaces_two_pools(netlab):
    netlab.add("srv", "c1", "c2")
    netlab.link("srv", "eth0", "c1", "eth0")
    netlab.link("srv", "eth1", "c2", "eth0")
    netlab.addr("srv", "eth0", "10.0.1.1/24")
    netlab.addr("srv", "eth1", "10.0.2.1/24")
    second = {"subnet": "10.0.2.0/24", "range": ["10.0.2.10", "10.0.2.20"], "router": "10.0.2.1"}
    server = netlab.start("srv", "server", {"interfaces": ["eth0", "eth1"], "pools": [pool(), second],
                                            "lease_file": str(netlab.workdir / "leases.json")}, ready=2)
    one, two = netlab.client("c1"), netlab.client("c2", kind="udhcpc")
    assert one.get().returncode == 0, server.output()
    assert two.get().returncode == 0, server.output()
    assert one.received("BOUND")["new_ip_address"] == "10.0.1.100"
    assert two.received("udhcpc-bound")["ip"] == "10.0.2.10"
    assert two.received("udhcpc-bound")["serverid"] == "10.0.2.1"
    server.wait_for(r"DISCOVER from \S+ via eth1; OFFER 10\.0\.2\.10")


def test_udhcpc_client_is_served_too(netlab):
    server = lan(netlab, ("u1", "02:00:00:00:00:21"))
    client = netlab.client("u1", kind="udhcpc")
    result = client.get()
    assert result.returncode == 0, result.stderr + server.output()
    got = client.received("udhcpc-bound")
    assert got["ip"] == "10.0.1.100" and got["mask"] == "24" and got["router"] == "10.0.1.1"
    assert got["dns"].split() == ["10.0.1.53", "10.0.1.54"] and got["domain"] == "lab"
    assert client.addresses() == ["10.0.1.100/24"]


def test_relayed_client_gets_an_address_of_the_relayed_pool(netlab):
    # c1 eth0 -- eth1 (10.0.2.1/24) relay eth0 (10.0.0.2/24) -- eth0 (10.0.0.1/24) srv
    netlab.add("c1", "relay", "srv")
    netlab.link("c1", "eth0", "relay", "eth1")
    netlab.link("relay", "eth0", "srv", "eth0")
    netlab.addr("relay", "eth1", "10.0.2.1/24")
    netlab.addr("relay", "eth0", "10.0.0.2/24")
    netlab.addr("srv", "eth0", "10.0.0.1/24")
    netlab.ip("srv", "route", "add", "10.0.2.0/24", "via", "10.0.0.2")
    far = {"subnet": "10.0.2.0/24", "range": ["10.0.2.100", "10.0.2.110"], "router": "10.0.2.1",
           "dns": ["10.0.0.53"], "lease": 300}
    near = {"subnet": "10.0.0.0/24", "range": ["10.0.0.100", "10.0.0.110"]}
    server = netlab.start("srv", "server", {"interfaces": ["eth0"], "pools": [near, far],
                                            "lease_file": str(netlab.workdir / "leases.json")})
    relay = netlab.start("relay", "relay", {"listen": ["eth1"], "servers": ["10.0.0.1"],
                                            "agent_info": True})
    relay.wait_for(r"dhcp-relay listening on 10\.0\.2\.1:67 \(eth1\)")
    client = netlab.client("c1")
    result = client.get()
    assert result.returncode == 0, result.stderr + server.output() + relay.output()
    got = client.received("BOUND")
    assert got["new_ip_address"] == "10.0.2.100"
    assert got["new_routers"] == "10.0.2.1" and got["new_subnet_mask"] == "255.255.255.0"
    assert client.addresses() == ["10.0.2.100/24"]
    server.wait_for(r"DISCOVER from \S+ via relay 10\.0\.2\.1; OFFER 10\.0\.2\.100")
    relay.wait_for(r"OFFER for \S+ 10\.0\.2\.100: to 255\.255\.255\.255 on eth1")


GARBAGE = [b"", b"\x00", b"x" * 3000, bytes(239), bytes(240),
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x09\x01",   # option past the end
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35",           # no length byte
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x01\x02\x03\x04" + b"\x35\x01\x01\xff",  # wrong cookie
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x34\x01\x03\xff",  # overload
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x01\x63\xff",  # type 99
           bytes([1, 1, 17, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x01\x01\xff",  # hlen 17
           bytes([2, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63" + b"\x35\x01\x02\xff",   # a reply
           bytes([1, 1, 6, 0]) + bytes(232) + b"\x63\x82\x53\x63"
           + b"".join(bytes([c, 1, 0]) for c in range(60, 200)) + b"\xff"]               # 140 options


def test_garbage_on_port_67_does_not_stop_the_next_client(netlab):
    server = lan(netlab, ("hostile", "02:00:00:00:00:66"), ("c1", "02:00:00:00:00:01"))
    netlab.addr("hostile", "eth0", "10.0.1.7/24")
    sender = (
        "import socket, sys, os\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')\n"
        "for data in eval(sys.stdin.read()):\n"
        "    for to in ('10.0.1.1', '255.255.255.255'):\n"
        "        s.sendto(data, (to, 67))\n"
        "for _ in range(200):\n"
        "    s.sendto(os.urandom(300), ('10.0.1.1', 67))\n")
    result = subprocess.run(netlab.netns("hostile", [sys.executable, "-c", sender]),
                            input=repr(GARBAGE), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    server.wait_for(r"bad message: wrong magic cookie")
    server.wait_for(r"bad message: option 53 at byte 240 says 9 bytes")
    server.wait_for(r"bad message: option overload \(52\) is not supported")
    server.wait_for(r"more than 128 options")
    client = netlab.client("c1")
    assert client.get().returncode == 0, server.output()
    assert client.received("BOUND")["new_ip_address"] == "10.0.1.100"
    assert server.proc.poll() is None
    assert "Traceback" not in server.output()


def test_server_sigterm_is_exit_0_and_bad_config_names_the_key(netlab):
    netlab.add("srv")
    netlab.link("srv", "eth0", "srv", "eth1")
    netlab.addr("srv", "eth0", "10.0.1.1/24")
    server = netlab.start("srv", "server", {"interfaces": ["eth0"], "pools": [pool()],
                                            "lease_file": str(netlab.workdir / "leases.json")})
    server.wait_for(r"dhcp listening on 10\.0\.1\.1:67 \(eth0\)")
    assert server.stop() == 0
    bad = netlab.write("bad.json", {"interfaces": ["eth0"], "pools": [pool(router="10.9.9.9")]})
    result = subprocess.run(netlab.netns("srv", [sys.executable, "-m", "labnode.dhcp.server", "--config", bad]),
                            capture_output=True, text=True, timeout=20,
                            env=dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dhcp: config: pools[0].router: 10.9.9.9 is not a host address of 10.0.1.0/24"]
    no_iface = netlab.write("noif.json", {"interfaces": ["nosuch0"], "pools": [pool()]})
    result = subprocess.run(netlab.netns("srv", [sys.executable, "-m", "labnode.dhcp", "--config", no_iface]),
                            capture_output=True, text=True, timeout=20,
                            env=dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1"))
    assert result.returncode == 1 and "nosuch0" in result.stderr and "Traceback" not in result.stderr
