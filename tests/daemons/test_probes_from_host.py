"""Probes run from the orchestrator's own process inside a node's network
namespace (orchestrator/verify/inns.py), in throw-away namespaces:

    ns A 10.233.1.1 ── 10.233.1.2 ns B (a TCP service on 8080; nftables reject 8081)

Nothing is sent outside these namespaces and the host's loopback; that a
probe ran in the namespace is shown with loopback: down in a namespace, up
on the host.
"""

from __future__ import annotations

import threading

import pytest
from daemon_helpers import Netns, Proc, netns_marks, sh, veth

from orchestrator.verify import inns

pytestmark = netns_marks()

B = "10.233.1.2"
RULES = """
table inet labtest {
  chain input {
    type filter hook input priority 0;
    tcp dport 8081 reject with tcp reset
    udp dport 9 drop
  }
}
"""


@pytest.fixture(scope="module")
def pair():
    a, b = Netns("inns-a"), Netns("inns-b")
    server = None
    try:
        veth(a, "a0", b, "b0")
        a.ip("addr", "add", "10.233.1.1/24", "dev", "a0")
        b.ip("addr", "add", f"{B}/24", "dev", "b0")
        a.ip("link", "set", "a0", "up")
        b.ip("link", "set", "b0", "up")
        sh(*b.exec_argv("nft", "-f", "-"), input=RULES)
        server = Proc(b.exec_argv("python3", "-c", (
            "import socket\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{B}', 8080)); s.listen(); print('listening', flush=True)\n"
            "while True:\n    c, _ = s.accept(); c.close()\n")))
        server.wait_for("listening")
        yield a, b
    finally:
        if server is not None:
            server.stop()
        a.delete()
        b.delete()


def path(ns: Netns) -> str:
    return f"/run/netns/{ns.name}"


def test_the_probes_see_the_nodes_network_and_not_the_hosts(pair):
    a, _ = pair
    before = threading.active_count()
    out = inns.run_batch(path(a), [
        ["ping", B, "--count", "2", "--interval", "0.02", "--timeout", "1"],
        ["tcp", B, "8080", "--timeout", "1"],
        ["tcp", B, "8081", "--timeout", "1"],
        ["ping", "10.233.9.9", "--count", "1", "--timeout", "0.5"],   # no route in A
        ["traceroute", B, "--method", "icmp", "--queries", "1", "--max-hops", "3", "--timeout", "1"],
    ])
    assert out is not None
    (c1, ping, _), (c2, tcp_open, _), (c3, tcp_closed, _), (c4, nowhere, _), (c5, trace, _) = out
    assert (c1, ping["ok"], ping["received"]) == (0, True, 2)
    assert (c2, tcp_open["ok"]) == (0, True)
    assert c3 == 1 and not tcp_closed["ok"]
    assert c4 == 1 and not nowhere["ok"]
    assert c5 == 0 and trace["reached"] and trace["hops"] == [B]
    assert threading.active_count() == before       # every probe thread ended


def test_loopback_is_the_namespaces_not_the_hosts():
    dark = Netns("inns-lo")
    try:
        dark.ip("link", "set", "lo", "down")
        job = [["ping", "127.0.0.1", "--count", "1", "--timeout", "0.5"]]
        out = inns.run_batch(path(dark), job)
        assert out is not None and out[0][0] == 1 and not out[0][1]["ok"]     # its lo is down
        dark.ip("link", "set", "lo", "up")
        out = inns.run_batch(path(dark), job)
        assert out is not None and out[0][1]["ok"]
    finally:
        dark.delete()


def test_same_verdicts_as_the_probe_run_inside_the_namespace(pair):
    a, _ = pair
    jobs = [["tcp", B, "8080,8081", "--timeout", "1"], ["udp", B, "9", "--timeout", "0.5"]]
    here = inns.run_batch(path(a), jobs)
    assert here is not None
    for job, (code, result, _) in zip(jobs, here):
        inside_code, inside = a.probe(*job)
        assert code == inside_code
        assert result["ok"] == inside["ok"]
        assert {k: v for k, v in result.items() if "time" not in k and k not in ("seconds", "rtt_ms")}.keys() \
            == {k: v for k, v in inside.items() if "time" not in k and k not in ("seconds", "rtt_ms")}.keys()


def test_bad_arguments_are_a_usage_result_not_an_exception(pair):
    a, _ = pair
    out = inns.run_batch(path(a), [["ping", B, "--count", "many"], ["ping", B, "--count", "1", "--timeout", "1"]])
    assert out is not None
    assert out[0][0] == 2 and "count" in out[0][1]["error"]
    assert out[1][0] == 0


def test_never_from_the_hosts_own_namespace_nor_a_missing_one():
    jobs = [["ping", "127.0.0.1", "--count", "1", "--timeout", "1"]]
    assert inns.run_batch("/proc/self/ns/net", jobs) is None
    assert inns.run_batch("/run/netns/lntest-no-such-namespace", jobs) is None


def test_what_needs_more_than_the_network_goes_through_the_node(pair):
    a, _ = pair
    for job in (["dns", "example.org", "--server", B], ["neigh", B], ["dhcp", "eth0"],
                ["ping", "pc1"], ["http", "http://pc1:80/"], []):
        assert not inns.qualifies(job)
        assert inns.run_batch(path(a), [job]) is None
    for job in (["ping", B], ["ping", "fe80::1%a0"], ["http", f"http://{B}:8080/x"], ["http", "http://[fd00::1]:80/"],
                ["chat", B, "--port", "7000"], ["udp", B, "9"]):
        assert inns.qualifies(job)
