"""traceroute's three methods across a router whose firewall lets ICMP and
TCP port 80 through but drops UDP and TCP port 81, in throw-away namespaces:

    ns A 10.232.1.2 ── 10.232.1.1 ns R 10.232.2.1 ── 10.232.2.2 ns B (http on 80)

Each method is the packets a firewall sees: the trace gets as far as they do.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from daemon_helpers import Proc
from test_probes_netns import NODE_ROOT, Netns, sh

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
                       reason="needs root, iproute2 and nftables for network namespaces"),
]

TARGET = "10.232.2.2"
ROUTER = "10.232.1.1"
RULES = """
table inet labtest {
  chain forward {
    type filter hook forward priority 0;
    meta l4proto udp drop
    tcp dport 81 drop
  }
}
"""


@pytest.fixture(scope="module")
def lab():
    made: list[Netns] = []
    server = None
    try:
        a, r, b = (Netns(tag) for tag in "arb")
        made += [a, r, b]
        sh("ip", "link", "add", "eth-a", "netns", a.name, "type", "veth", "peer", "name", "eth-ra", "netns", r.name)
        sh("ip", "link", "add", "eth-rb", "netns", r.name, "type", "veth", "peer", "name", "eth-b", "netns", b.name)
        for ns, dev, addr in [(a, "eth-a", "10.232.1.2/24"), (r, "eth-ra", "10.232.1.1/24"),
                              (r, "eth-rb", "10.232.2.1/24"), (b, "eth-b", "10.232.2.2/24")]:
            ns.ip("addr", "add", addr, "dev", dev)
            ns.ip("link", "set", dev, "up")
        a.ip("route", "add", "default", "via", ROUTER)
        b.ip("route", "add", "default", "via", "10.232.2.1")
        sh(*r.exec_argv("sysctl", "-qw", "net.ipv4.ip_forward=1"))
        sh(*r.exec_argv("nft", "-f", "-"), input=RULES)
        server = Proc(b.exec_argv(sys.executable, "-m", "labnode.services.http", "--port", "80",
                                  "--root", NODE_ROOT))
        server.wait_for("listening on")
        yield a
    finally:
        if server is not None:
            server.stop()
        for ns in made:
            ns.delete()


def trace(a: Netns, *args: str) -> tuple[int, dict]:
    return a.probe("traceroute", TARGET, "--max-hops", "4", "--timeout", "0.5", *args)


@pytest.mark.parametrize("args", [["--method", "icmp"], ["--method", "tcp"], ["--method", "tcp", "--port", "84"]],
                         ids=["icmp", "tcp-open-port", "tcp-closed-port"])
def test_methods_the_firewall_lets_through_reach_the_target(lab, args):
    code, result = trace(lab, *args)
    assert code == 0, result
    assert result["hops"] == [ROUTER, TARGET] and result["reached"] is True
    assert result["method"] == args[1]


@pytest.mark.parametrize("args", [["--method", "udp"], ["--method", "tcp", "--port", "81"]], ids=["udp", "tcp-81"])
def test_methods_the_firewall_drops_stop_at_the_router(lab, args):
    code, result = trace(lab, *args)
    assert code == 1 and result["reached"] is False
    assert result["hops"] == [ROUTER]
    assert result["error"] == f"{TARGET} not reached within 4 hops"


def test_a_tcp_trace_says_which_port_it_used(lab):
    code, result = trace(lab, "--method", "tcp", "--port", "80")
    assert code == 0 and result["port"] == 80


def test_a_port_out_of_range_is_a_usage_error(lab):
    code, result = trace(lab, "--method", "tcp", "--port", "70000")
    assert code == 2 and "--port must be 1-65535" in result["error"]
