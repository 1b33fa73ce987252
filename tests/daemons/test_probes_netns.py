"""Probes across a real router, in throw-away network namespaces:

    ns A 10.231.1.2 ── 10.231.1.1 ns R 10.231.2.1 ── 10.231.2.2 ns B

R forwards, and its nftables drop TCP port 81 and reject port 82 with
admin-prohibited.  B runs the services.  Everything is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from daemon_helpers import Netns, Proc, netns_marks, node_env, sh, veth

pytestmark = netns_marks("needs root and iproute2 for network namespaces")

TARGET = "10.231.2.2"
ROUTER = "10.231.1.1"
RULES = """
table inet labtest {
  chain forward {
    type filter hook forward priority 0;
    tcp dport 81 drop
    tcp dport 82 reject with icmp type admin-prohibited
  }
}
"""
NODE_ROOT = os.path.dirname(os.path.abspath(__file__))  # any directory will do as a web root


@pytest.fixture(scope="module")
def lab():
    made: list[Netns] = []
    services: list[Proc] = []
    try:
        for tag in "arb":
            made.append(Netns(tag))
        a, r, b = made
        veth(a, "eth-a", r, "eth-ra")
        veth(r, "eth-rb", b, "eth-b")
        for ns, dev, addr in [(a, "eth-a", "10.231.1.2/24"), (r, "eth-ra", "10.231.1.1/24"),
                              (r, "eth-rb", "10.231.2.1/24"), (b, "eth-b", "10.231.2.2/24")]:
            ns.ip("addr", "add", addr, "dev", dev)
            ns.ip("link", "set", dev, "up")
        a.ip("route", "add", "default", "via", "10.231.1.1")
        b.ip("route", "add", "default", "via", "10.231.2.1")
        sh(*r.exec_argv("sysctl", "-qw", "net.ipv4.ip_forward=1"))
        # R keeps the default ICMP error rate limits (a burst of about 6, then one
        # a second, per source host): the tests stay within them.  Setting
        # icmp_ratelimit=0 would *not* help: it empties the token bucket that
        # "network unreachable" errors (ip_error) share, and those stop coming.
        has_nft = shutil.which("nft") is not None
        if has_nft:
            sh(*r.exec_argv("nft", "-f", "-"), input=RULES)
        for module, port in [("http", "80"), ("chat", "5000"), ("udp_echo", "7"),
                             ("select_server", "83")]:
            extra = ["--root", NODE_ROOT] if module == "http" else []
            proc = Proc(b.exec_argv(sys.executable, "-m", f"labnode.services.{module}",
                                    "--port", port, *extra))
            services.append(proc)
            proc.wait_for("listening on")
        yield {"a": a, "r": r, "b": b, "nft": has_nft}
    finally:
        for proc in services:
            proc.stop()
        for ns in made:
            ns.delete()


def test_traceroute_finds_the_router(lab):
    for method in ("udp", "icmp"):
        code, result = lab["a"].probe("traceroute", TARGET, "--method", method)
        assert code == 0, result
        assert result["hops"] == [ROUTER, TARGET] and result["reached"] is True
        assert len(result["rtt_ms"]) == 2


def test_neigh_learns_the_routers_mac_and_says_when_no_one_answers(lab):
    r_mac = json.loads(subprocess.run(lab["r"].exec_argv("ip", "-j", "link", "show", "eth-ra"), capture_output=True,
                                      text=True, check=True).stdout)[0]["address"]
    lab["a"].ip("neigh", "flush", "dev", "eth-a")
    code, result = lab["a"].probe("neigh", ROUTER)
    assert code == 0, result
    assert result["mac"] == r_mac and result["dev"] == "eth-a" and result["state"] in ("REACHABLE", "DELAY", "STALE")
    code, result = lab["a"].probe("neigh", "10.231.1.77", "--timeout", "1.5")   # on the link, nobody there
    assert code == 1 and result["mac"] is None
    assert result["error"].startswith("10.231.1.77 did not answer ARP (state ")
    code, result = lab["a"].probe("neigh", TARGET)   # behind the router: a's kernel asks for the router, not it
    assert code == 1 and result["error"].startswith(f"no neighbour entry for {TARGET}")


def test_ping_across_the_router(lab):
    code, result = lab["a"].probe("ping", TARGET, "--count", "2", "--interval", "0.05")
    assert code == 0 and result["received"] == 2


def test_unroutable_target_reports_the_router_saying_so(lab):
    code, result = lab["a"].probe("ping", "10.231.9.9", "--count", "1")
    assert code == 1 and result["received"] == 0
    assert result["errors"] and "network unreachable from 10.231.1.1" in result["errors"][0], result
    code, result = lab["a"].probe("traceroute", "10.231.9.9", "--max-hops", "5")
    assert code == 1 and result["reached"] is False
    assert result["hops"] == [ROUTER] and "unreachable" in result["error"]


def test_tcp_scan_sees_open_closed_and_filtered(lab):
    if not lab["nft"]:
        pytest.skip("nft not installed")
    code, result = lab["a"].probe("tcp", TARGET, "80-84", "--timeout", "0.5")
    assert code == 0
    assert result["ports"] == {"80": "open", "81": "filtered", "82": "filtered",
                               "83": "open", "84": "closed"}


def test_service_probes_across_the_router(lab):
    a = lab["a"]
    code, result = a.probe("http", f"http://{TARGET}/test_probes_netns.py", "--contains", "netns")
    assert code == 0 and result["status"] == 200
    code, result = a.probe("chat", TARGET)
    assert code == 0 and result["echoed"]
    code, result = a.probe("udp", TARGET, "7")
    assert code == 0 and result["received"] == 1


FORGER = textwrap.dedent("""
    # Answers our own ping by hand, once with a broken checksum and once
    # correctly, while the kernel is told not to answer at all.
    import json, random, socket, struct, threading
    from labnode.checksum import internet_checksum
    from labnode.probe import icmp, ping
    random.randrange = lambda *a: 0x4242          # ping's identifier
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    def forge():
        answered = 0
        while answered < 2:
            message = icmp.parse(raw.recv(65535))
            if message and message.type == icmp.ECHO_REQUEST and message.ident == 0x4242:
                body = struct.pack("!HH", message.ident, message.seq) + message.payload
                good = internet_checksum(b"\\0\\0\\0\\0" + body)
                checksum = good ^ 0x0F0F if message.seq == 1 else good
                raw.sendto(struct.pack("!BBH", 0, 0, checksum) + body, ("127.0.0.1", 0))
                answered += 1
    threading.Thread(target=forge, daemon=True).start()
    print(json.dumps(ping.ping("127.0.0.1", count=2, interval=0.1, timeout=0.5)))
""")


def test_ping_rejects_replies_with_a_bad_checksum():
    ns = Netns("ck")
    try:
        sh(*ns.exec_argv("sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"))
        done = subprocess.run(ns.exec_argv(sys.executable, "-c", FORGER), capture_output=True,
                              text=True, env=node_env(), timeout=20)
        result = json.loads(done.stdout)
        assert result["sent"] == 2 and result["received"] == 1, result
        assert result["bad_checksum"] == 1
        assert result["loss"] == 0.5
    finally:
        ns.delete()
