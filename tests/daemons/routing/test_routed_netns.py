"""Real daemons in throw-away network namespaces, wired with veth pairs.

Needs root and `ip netns`; skipped otherwise.  Every test builds its own
namespaces (lsd-test-<random>-rN) and removes them, and its daemons, in
teardown.  Traffic stays inside the namespaces.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from routed_nslab import NODE_DIR, ip, lab, leftover_namespaces, netns_available
from routed_topo import SQUARE

REASON = netns_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture
def square():
    with lab(SQUARE) as nslab:
        yield nslab
    assert leftover_namespaces(nslab.tag) == []


def tcp_reaches(nslab, src_router: str, dst_router: str) -> bool:
    """A TCP exchange from src's LAN address to dst's LAN address."""
    dst_ip = SQUARE.lan_address(dst_router).split("/")[0]
    src_ip = SQUARE.lan_address(src_router).split("/")[0]
    server = subprocess.Popen(
        ["ip", "netns", "exec", nslab.ns[dst_router], sys.executable, "-c", textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("{dst_ip}", 7007)); s.listen(1); s.settimeout(5); print("ready", flush=True)
            c, _ = s.accept(); c.sendall(c.recv(100).upper())
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        result = nslab.run_in(src_router, textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.settimeout(3); s.bind(("{src_ip}", 0))
            s.connect(("{dst_ip}", 7007)); s.sendall(b"hello"); print(s.recv(100).decode())
        """))
        return result.stdout.strip() == "HELLO"
    finally:
        server.kill()
        server.wait()


def test_converges_to_the_reference_and_forwards(square):
    square.wait_converged(5)
    for r in SQUARE.routers:  # costs as the daemon reports them
        expected = SQUARE.expected_routes(r)
        reported = {row["prefix"]: row["cost"] for row in square.ask(r, "routes")}
        assert reported == {p: cost for p, (cost, _) in expected.items()}
    assert "nexthop via" in ip("-n", square.ns["r1"], "route", "show", "10.100.4.0/24")  # ECMP
    assert tcp_reaches(square, "r1", "r4")
    neighbours = square.ask("r1", "neighbors")
    assert {(n["interface"], n["state"]) for n in neighbours} == {("l1a", "full"), ("l3a", "full"), ("l5a", "full")}


def test_link_down_reconverges_and_recovers(square):
    square.wait_converged(5)
    square.set_link(1, up=False)  # r1's end of r1-r2; r2 sees its carrier go
    square.wait_converged(2.5, down={1})
    assert tcp_reaches(square, "r1", "r2")  # the long way round, r1-r3-r4-r2
    square.set_link(1, up=True)
    square.wait_converged(2.5)


def test_killed_daemon_is_withdrawn_by_the_others(square):
    square.wait_converged(5)
    square.signal("r4", signal.SIGKILL)
    square.wait_converged(3, dead={"r4"})
    for r in ("r1", "r2", "r3"):
        assert "10.100.4.0/24" not in square.kernel_routes(r)


def test_sigterm_removes_own_routes_and_says_goodbye():
    settings = {"hello_interval": 0.5, "dead_interval": 3.0}
    with lab(SQUARE, settings) as nslab:
        nslab.wait_converged(8)
        assert nslab.kernel_routes("r3")
        assert nslab.signal("r3", signal.SIGTERM) == 0
        assert nslab.kernel_routes("r3") == {}
        took = nslab.wait_converged(2.5, dead={"r3"})
        assert took < 2.5  # well inside the 3 s dead interval: the flush did it
        assert "SIGTERM received" in nslab.log_text("r3")


def test_stale_routes_go_and_authenticated_packets_work():
    with lab(SQUARE, {"key": "lab-secret"}, start=False) as nslab:
        ns1 = nslab.ns["r1"]
        ip("-n", ns1, "route", "add", "10.123.0.0/16", "via", "10.0.1.2", "proto", "99", "metric", "20")
        ip("-n", ns1, "route", "add", "10.124.0.0/16", "via", "10.0.1.2")  # not ours: stays
        nslab.start_all()
        nslab.wait_converged(5)
        assert "10.124.0.0/16" in ip("-n", ns1, "route")
        stats = nslab.ask("r1", "stats")["counters"]
        assert stats["rx_hello"] > 0 and stats.get("rx_bad_auth", 0) == 0
        # a forged hello (wrong key) sent into r1's link from r2's namespace
        forged = textwrap.dedent("""
            import socket
            from labnode.routing.packet import Codec, Hello
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"l1b")
            s.sendto(Codec(0x09090909, "guess").hello(Hello(0.2, 0.8, 1)), ("10.0.1.1", 5299))
        """)
        assert nslab.run_in("r2", forged).returncode == 0
        for _ in range(50):
            if nslab.ask("r1", "stats")["counters"].get("rx_bad_auth", 0):
                break
            subprocess.run(["sleep", "0.02"])
        assert nslab.ask("r1", "stats")["counters"]["rx_bad_auth"] == 1
        assert all(n["router_id"] != "9.9.9.9" for n in nslab.ask("r1", "neighbors"))


def test_cli_prints_tables_and_json(square):
    square.wait_converged(5)
    env = {**os.environ, "PYTHONPATH": str(NODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
    for command, fragment in (("routes", "10.100.4.0/24"), ("neighbors", "2.2.2.2"),
                              ("lsdb", "4.4.4.4"), ("stats", "spf_runs")):
        out = subprocess.run([sys.executable, "-m", "labnode.routing.cli", command,
                              "--socket", square.socket_path("r1")],
                             capture_output=True, text=True, env=env, timeout=10)
        assert out.returncode == 0 and fragment in out.stdout, out.stderr
    out = subprocess.run([str(NODE_DIR / "bin" / "lab-routed"), "routes", "--json", "--socket",
                          square.socket_path("r1")], capture_output=True, text=True, env=env, timeout=10)
    assert out.returncode == 0 and '"prefix": "10.100.4.0/24"' in out.stdout
