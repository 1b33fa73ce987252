"""Convergence after a link failure, with real daemons in network namespaces.

    sudo python3 bench/bench_convergence.py [--reps 10]

A dual-stack 6-router mesh with unequal costs (and an IPv4 and an IPv6 LAN
prefix behind every router) is built from throw-away namespaces (lsd-test-<random>-rN) and veth pairs,
one daemon per namespace.  Each repetition takes one link down (`ip link set
<veth> down` on one end, as the orchestrator does from the host), waits
until every router's kernel tables (both families) match a reference
shortest-path computation, then brings it back.

The time of every kernel route change (protocol 99) is taken from rtnetlink
events read in each namespace as they happen, so the figures do not depend
on how fast the tables are polled.  Figures per failure, for each family:

  paths: until the last route to a LAN prefix is final (what hosts see);
  all:   until every route is final, including the withdrawal of the failed
         link's own /30, which waits for the far end to notice its carrier
         loss (the kernel's linkwatch can hold that event back ~1 s) or for
         the dead interval.

The IPv6 figures come from the same failures as the IPv4 ones (one daemon,
one SPF for both families), so their ratio is measured in the same run; the
goal of issue 16 is IPv6 LAN paths within 1.2x of IPv4's (median).

Also printed: control traffic per router at steady state.  Needs root.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import pathlib
import selectors
import socket
import statistics
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve()
sys.dont_write_bytecode = True  # images/node is the image build context: keep it clean
sys.path.insert(0, str(HERE.parents[1] / "images" / "node"))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "daemons" / "routing"))

from routed_nslab import lab, netns_available  # noqa: E402
from routed_topo import Topology  # noqa: E402

from labnode.routing import netlink as nl  # noqa: E402
from labnode.routing.addr import format_prefix, format_prefix6  # noqa: E402

RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_ROUTE = 0x400
CLONE_NEWNET = 0x40000000

#   r1 -10- r2 -10- r3
#   |  \    |  \    |
#   20  40  15  25  10
#   |     \ |     \ |
#   r4 -10- r5 -20- r6        (r1-r5 costs 40 one way, 30 the other)
MESH = Topology.build(6, [(1, 2, 10), (2, 3, 10), (1, 4, 20), (2, 5, 15), (3, 6, 10),
                          (4, 5, 10), (5, 6, 20), (1, 5, 40, 30), (3, 5, 25)], dual_stack=True)
LAN4, LAN6 = "10.100.", "2001:db8:100:"


def route_socket_in(ns: str) -> socket.socket:
    """A NETLINK_ROUTE socket living in namespace `ns`, subscribed to IPv4 and IPv6 route events."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nl.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE))
    finally:
        if libc.setns(own, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back home")
        os.close(own)
        os.close(target)
    return sock


class RouteEvents:
    """Timestamps every protocol-99 route change in every namespace, on arrival."""

    def __init__(self, namespaces: dict[str, str]):
        self.selector = selectors.DefaultSelector()
        for router, ns in namespaces.items():
            self.selector.register(route_socket_in(ns), selectors.EVENT_READ, router)
        self.events: list[tuple[float, str, str, int]] = []  # (time, router, prefix, family)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(0.1):
                now = time.monotonic()
                data = key.fileobj.recv(1 << 16)
                for rtype, _, _, body in nl.messages(data):
                    if rtype not in (nl.RTM_NEWROUTE, nl.RTM_DELROUTE) or not body:
                        continue
                    family = 6 if body[0] == socket.AF_INET6 else 4
                    parsed = nl.parse_route(body, socket.AF_INET6 if family == 6 else socket.AF_INET)
                    if parsed and parsed[2] == 99:
                        prefix = (format_prefix6 if family == 6 else format_prefix)(*parsed[0])
                        with self.lock:
                            self.events.append((now, key.data, prefix, family))

    def since(self, start: float) -> list[tuple[float, str, str, int]]:
        with self.lock:
            return [e for e in self.events if e[0] >= start]

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def lan_changing_links(topo: Topology) -> list[int]:
    """Links whose failure changes some router's route to some LAN."""
    def lans(r, down):
        return {p: v for p, v in topo.expected_routes(r, down).items() if p.startswith("10.100.")}
    return [link.index for link in topo.links
            if any(lans(r, frozenset()) != lans(r, frozenset({link.index})) for r in topo.routers)]


def control_traffic(nslab, seconds: float) -> list[tuple[str, float, float]]:
    before = {r: nslab.ask(r, "stats")["counters"] for r in nslab.topo.routers}
    time.sleep(seconds)
    after = {r: nslab.ask(r, "stats")["counters"] for r in nslab.topo.routers}
    return [(r, (after[r]["tx_packets"] - before[r]["tx_packets"]) / seconds,
             (after[r]["tx_bytes"] - before[r]["tx_bytes"]) / seconds) for r in nslab.topo.routers]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def last_change(changes: list[tuple[float, str, str, int]], start: float, family: int,
                lan_only: bool) -> float:
    """ms from `start` to the last route change of `family` (to a LAN prefix only, or any)."""
    lan = LAN6 if family == 6 else LAN4
    times = [t for t, _, p, f in changes if f == family and (not lan_only or p.startswith(lan))]
    return (max(times) - start) * 1000 if times else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--hello", type=float, default=0.2)
    parser.add_argument("--dead", type=float, default=0.8)
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    reason = netns_available()
    if reason:
        print(f"bench_convergence: {reason}", file=sys.stderr)
        return 2
    settings = {"hello_interval": args.hello, "dead_interval": args.dead}
    candidates = lan_changing_links(MESH)
    print(f"dual-stack mesh: {len(MESH.routers)} routers, {len(MESH.links)} links; hello {args.hello}s, "
          f"dead {args.dead}s; failing links {candidates} in turn\n")
    figures: dict[str, list[float]] = {f"{name} v{family}": [] for name in ("paths", "all", "up") for family in (4, 6)}
    with lab(MESH, settings) as nslab:
        events = RouteEvents(nslab.ns)
        try:
            nslab.wait_converged(10)
            time.sleep(1.0)
            traffic = control_traffic(nslab, 5.0)
            print(f"{'rep':>3} {'link':>8} {'paths ms v4/v6':>15} {'all ms v4/v6':>15} {'back up ms v4/v6':>17}"
                  f" {'route changes':>14}")
            for rep in range(args.reps):
                index = candidates[rep % len(candidates)]
                link = next(candidate for candidate in MESH.links if candidate.index == index)
                start = time.monotonic()
                nslab.set_link(index, up=False)
                nslab.wait_converged(5, down={index}, poll=0.01)
                time.sleep(0.3)  # let stragglers show up, then check again
                assert all(nslab.matches(r, down={index}) for r in MESH.routers)
                changes = events.since(start)
                for family in (4, 6):
                    figures[f"paths v{family}"].append(last_change(changes, start, family, lan_only=True))
                    figures[f"all v{family}"].append(last_change(changes, start, family, lan_only=False))
                start = time.monotonic()
                nslab.set_link(index, up=True)
                nslab.wait_converged(5, poll=0.01)
                time.sleep(0.3)
                up_changes = events.since(start)
                for family in (4, 6):
                    figures[f"up v{family}"].append(last_change(up_changes, start, family, lan_only=False))

                def pair(name: str) -> str:
                    return f"{figures[name + ' v4'][-1]:.0f}/{figures[name + ' v6'][-1]:.0f}"
                print(f"{rep + 1:>3} {link.a + '-' + link.b:>8} {pair('paths'):>15} {pair('all'):>15}"
                      f" {pair('up'):>17} {len(changes):>14}")
                time.sleep(1.1)  # past the kernel's 1 s linkwatch rate limit
        finally:
            events.close()
    print()
    for name, label in (("paths", "link down, LAN paths final"), ("all", "link down, every route final"),
                        ("up", "link back up, every route final")):
        for family in (4, 6):
            values = figures[f"{name} v{family}"]
            print(f"{label + f' (IPv{family})':<40} median {statistics.median(values):7.1f} ms"
                  f"   p90 {percentile(values, 0.9):7.1f} ms   max {max(values):7.1f} ms")
    print("\ncontrol traffic at steady state (sent, per router; one set of packets carries both families):")
    for r, pps, bps in traffic:
        print(f"  {r}: {pps:5.1f} packets/s  {bps:7.0f} bytes/s  ({len(MESH.links_of(r))} routed interfaces)")
    median4, median6 = statistics.median(figures["paths v4"]), statistics.median(figures["paths v6"])
    ratio = median6 / median4 if median4 else float("inf")
    goal5 = median4 <= 1000
    goal16 = ratio <= 1.2
    print(f"\ngoal (issue 5): IPv4 median <= 1 s -> {'met' if goal5 else 'NOT met'} ({median4:.1f} ms)")
    print(f"goal (issue 16): IPv6 median within 1.2x of IPv4 -> {'met' if goal16 else 'NOT met'}"
          f" ({median6:.1f} ms / {median4:.1f} ms = {ratio:.2f}x)")
    return 0 if goal5 and goal16 else 1


if __name__ == "__main__":
    sys.exit(main())
