"""Dual-stack daemons in throw-away network namespaces: one adjacency per link
(the protocol on IPv4), routes for both families in the kernel.

Needs root and `ip netns`; skipped otherwise.  Every test builds its own
namespaces, labt6r-<random>-rN (IPv6 on, forwarding, no duplicate address
detection), and removes them, and its daemons, in teardown.  Traffic stays
inside the namespaces.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from routed_nslab import NODE_DIR, ip, lab, leftover_namespaces, netns_available
from routed_topo import SQUARE

REASON = netns_available()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
PREFIX = "labt6r-"
DUAL = SQUARE.dual()  # the square with a diagonal: r1 -> r4 is ECMP (via r2 and r3, 20 each)


@pytest.fixture
def square6():
    with lab(DUAL, prefix=PREFIX) as nslab:
        yield nslab
    assert leftover_namespaces(nslab.tag, PREFIX) == []


def lan(router: str, family: int) -> str:
    return (DUAL.lan_address6(router) if family == 6 else DUAL.lan_address(router)).split("/")[0]


def pings(nslab, pairs, family: int) -> dict[tuple[str, str], bool]:
    """From src's LAN address to dst's, one echo each (all at once)."""
    procs = {(src, dst): subprocess.Popen(
        ["ip", "netns", "exec", nslab.ns[src], "ping", f"-{family}", "-n", "-c", "1", "-W", "2",
         "-I", lan(src, family), lan(dst, family)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for src, dst in pairs}
    return {pair: proc.wait(timeout=10) == 0 for pair, proc in procs.items()}


ALL_PAIRS = [(a, b) for a in DUAL.routers for b in DUAL.routers if a != b]


def test_both_families_are_installed_with_ecmp_and_forward(square6):
    square6.wait_converged(8)  # every router's IPv4 and IPv6 kernel table is the reference's
    r1 = square6.ns["r1"]
    ecmp6 = ip("-n", r1, "-6", "route", "show", "2001:db8:100:4::/64")
    assert "nexthop via 2001:db8:0:1::2 dev l1a" in ecmp6 and "nexthop via 2001:db8:0:3::2 dev l3a" in ecmp6
    assert "proto openr metric 20" in ecmp6  # our protocol (99) and metric, as for IPv4
    assert "nexthop via" in ip("-n", r1, "route", "show", "10.100.4.0/24")
    assert len(square6.kernel_routes("r4", 6)["2001:db8:100:1::/64"]) == 3  # three equal paths back
    assert all(pings(square6, ALL_PAIRS, 6).values())
    assert all(pings(square6, ALL_PAIRS, 4).values())
    for r in DUAL.routers:  # the daemon's own view: both families, with the reference's costs
        reported = {(row["family"], row["prefix"]): row["cost"] for row in square6.ask(r, "routes")}
        expected = {(family, p): cost for family in (4, 6)
                    for p, (cost, _) in DUAL.expected_routes(r, family=family).items()}
        assert reported == expected
    neighbours = {n["router_id"]: n for n in square6.ask("r1", "neighbors")}
    assert neighbours["2.2.2.2"]["address6"] == "2001:db8:0:1::2"
    assert neighbours["3.3.3.3"]["address6"] == "2001:db8:0:3::2"
    counters = square6.ask("r1", "stats")["counters"]
    assert counters["kernel_replace6"] >= 5 and counters.get("rx_malformed", 0) == 0


def test_a_link_down_moves_both_families_and_back(square6):
    square6.wait_converged(8)
    assert square6.kernel_routes("r1", 6)["2001:db8:100:2::/64"] == {("l1a", "2001:db8:0:1::2")}
    square6.set_link(1, up=False)  # r1's end of r1-r2
    took = square6.wait_converged(3, down={1})
    assert took < 3
    assert square6.kernel_routes("r1", 6)["2001:db8:100:2::/64"] == {("l3a", "2001:db8:0:3::2")}
    assert square6.kernel_routes("r1")["10.100.2.0/24"] == {("l3a", "10.0.3.2")}
    assert all(pings(square6, [("r1", "r2"), ("r2", "r1"), ("r3", "r2")], 6).values())  # the long way round
    assert all(pings(square6, [("r1", "r2")], 4).values())
    square6.set_link(1, up=True)
    square6.wait_converged(3)
    assert square6.kernel_routes("r1", 6)["2001:db8:100:2::/64"] == {("l1a", "2001:db8:0:1::2")}
    assert all(pings(square6, [("r1", "r2")], 6).values())


def test_own_ipv6_routes_are_flushed_at_start_and_stop_and_the_key_covers_ipv6():
    with lab(DUAL, {"key": "lab-secret"}, start=False, prefix=PREFIX) as nslab:
        ns1 = nslab.ns["r1"]
        ip("-n", ns1, "-6", "route", "add", "2001:db8:123::/48", "via", "2001:db8:0:1::2", "proto", "99",
           "metric", "20")
        ip("-n", ns1, "-6", "route", "add", "2001:db8:124::/48", "via", "2001:db8:0:1::2")  # not ours: stays
        nslab.start_all()
        nslab.wait_converged(8)  # 2001:db8:123::/48 is gone: the tables are exactly the reference's
        assert "2001:db8:124::/48" in ip("-n", ns1, "-6", "route")
        assert "removed 1 stale IPv6 routes of protocol 99" in nslab.log_text("r1")
        counters = nslab.ask("r1", "stats")["counters"]
        assert counters["rx_hello"] > 0 and counters.get("rx_bad_auth", 0) == 0
        assert nslab.kernel_routes("r3", 6)
        assert nslab.signal("r3", signal.SIGTERM) == 0
        assert nslab.kernel_routes("r3", 6) == {} and nslab.kernel_routes("r3") == {}
        nslab.wait_converged(3, dead={"r3"})
        assert DUAL.lan6("r3") not in nslab.kernel_routes("r1", 6)
    assert leftover_namespaces(nslab.tag, PREFIX) == []


def test_cli_shows_ipv6_routes_and_neighbours(square6):
    square6.wait_converged(8)
    env = {**os.environ, "PYTHONPATH": str(NODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}

    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "labnode.routing.cli", *args, "--socket",
                              square6.socket_path("r1")], capture_output=True, text=True, env=env, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout

    routes = cli("routes")
    assert "IPv4 routes" in routes and "IPv6 routes" in routes
    v6_part = routes.split("IPv6 routes", 1)[1]
    row = next(line for line in v6_part.splitlines() if line.startswith("2001:db8:100:4::/64"))
    assert row.split()[1] == "20" and row.endswith("2 paths")
    assert "2001:db8:0:1::2" in cli("neighbors")
    data = json.loads(cli("routes", "--json"))
    assert {"family": 6, "prefix": "2001:db8:100:3::/64", "cost": 10,
            "nexthops": [{"gateway": "2001:db8:0:3::2", "interface": "l3a"}]} in data


def test_reconverges_quickly_after_a_daemon_dies(square6):
    square6.wait_converged(8)
    square6.signal("r4", signal.SIGKILL)
    started = time.monotonic()
    square6.wait_converged(4, dead={"r4"})  # the dead interval (0.8 s) and a little
    assert time.monotonic() - started < 4
    for r in ("r1", "r2", "r3"):
        assert DUAL.lan6("r4") not in square6.kernel_routes(r, 6)
