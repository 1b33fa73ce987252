"""Convergence after a link failure, with real daemons in network namespaces.

    sudo python3 bench/bench_convergence.py [--reps 10]

A 6-router mesh with unequal costs (and a LAN prefix behind every router)
is built from throw-away namespaces (lsd-test-<random>-rN) and veth pairs,
one daemon per namespace.  Each repetition takes one link down (`ip link set
<veth> down` on one end, as the orchestrator does from the host), waits
until every router's kernel table matches a reference shortest-path
computation, then brings it back.

The time of every kernel route change (protocol 99) is taken from rtnetlink
events read in each namespace as they happen, so the figures do not depend
on how fast the tables are polled.  Two figures per failure:

  paths: until the last route to a LAN prefix is final (what hosts see);
  all:   until every route is final, including the withdrawal of the failed
         link's own /30, which waits for the far end to notice its carrier
         loss (the kernel's linkwatch can hold that event back ~1 s) or for
         the dead interval.

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
from labnode.routing.addr import format_prefix  # noqa: E402

RTMGRP_IPV4_ROUTE = 0x40
CLONE_NEWNET = 0x40000000

#   r1 -10- r2 -10- r3
#   |  \    |  \    |
#   20  40  15  25  10
#   |     \ |     \ |
#   r4 -10- r5 -20- r6        (r1-r5 costs 40 one way, 30 the other)
MESH = Topology.build(6, [(1, 2, 10), (2, 3, 10), (1, 4, 20), (2, 5, 15), (3, 6, 10),
                          (4, 5, 10), (5, 6, 20), (1, 5, 40, 30), (3, 5, 25)])


def route_socket_in(ns: str) -> socket.socket:
    """A NETLINK_ROUTE socket living in namespace `ns`, subscribed to IPv4 route events."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nl.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_IPV4_ROUTE))
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
        self.events: list[tuple[float, str, str]] = []  # (time, router, prefix)
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
                    parsed = nl.parse_route(body) if rtype in (nl.RTM_NEWROUTE, nl.RTM_DELROUTE) else None
                    if parsed and parsed[2] == 99:
                        with self.lock:
                            self.events.append((now, key.data, format_prefix(*parsed[0])))

    def since(self, start: float) -> list[tuple[float, str, str]]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--hello", type=float, default=0.2)
    parser.add_argument("--dead", type=float, default=0.8)
    args = parser.parse_args(argv)
    reason = netns_available()
    if reason:
        print(f"bench_convergence: {reason}", file=sys.stderr)
        return 2
    settings = {"hello_interval": args.hello, "dead_interval": args.dead}
    candidates = lan_changing_links(MESH)
    print(f"mesh: {len(MESH.routers)} routers, {len(MESH.links)} links; hello {args.hello}s, dead {args.dead}s; "
          f"failing links {candidates} in turn\n")
    paths, alls, ups = [], [], []
    with lab(MESH, settings) as nslab:
        events = RouteEvents(nslab.ns)
        try:
            nslab.wait_converged(10)
            time.sleep(1.0)
            traffic = control_traffic(nslab, 5.0)
            print(f"{'rep':>3} {'link':>8} {'paths ms':>9} {'all ms':>8} {'back up ms':>11} {'route changes':>14}")
            for rep in range(args.reps):
                index = candidates[rep % len(candidates)]
                link = next(candidate for candidate in MESH.links if candidate.index == index)
                start = time.monotonic()
                nslab.set_link(index, up=False)
                nslab.wait_converged(5, down={index}, poll=0.01)
                time.sleep(0.3)  # let stragglers show up, then check again
                assert all(nslab.matches(r, down={index}) for r in MESH.routers)
                changes = [e for e in events.since(start)]
                lan = [t for t, _, p in changes if p.startswith("10.100.")]
                paths.append((max(lan) - start) * 1000 if lan else 0.0)
                alls.append((max(t for t, _, _ in changes) - start) * 1000 if changes else 0.0)
                start = time.monotonic()
                nslab.set_link(index, up=True)
                nslab.wait_converged(5, poll=0.01)
                time.sleep(0.3)
                up_changes = events.since(start)
                ups.append((max(t for t, _, _ in up_changes) - start) * 1000 if up_changes else 0.0)
                print(f"{rep + 1:>3} {link.a + '-' + link.b:>8} {paths[-1]:>9.1f} {alls[-1]:>8.1f} {ups[-1]:>11.1f}"
                      f" {len(changes):>14}")
                time.sleep(1.1)  # past the kernel's 1 s linkwatch rate limit
        finally:
            events.close()
    print()
    for name, values in (("link down, LAN paths final", paths), ("link down, every route final", alls),
                         ("link back up, every route final", ups)):
        print(f"{name:<32} median {statistics.median(values):7.1f} ms   p90 {percentile(values, 0.9):7.1f} ms"
              f"   max {max(values):7.1f} ms")
    print("\ncontrol traffic at steady state (sent, per router):")
    for r, pps, bps in traffic:
        print(f"  {r}: {pps:5.1f} packets/s  {bps:7.0f} bytes/s  ({len(MESH.links_of(r))} routed interfaces)")
    goal = statistics.median(paths) <= 1000
    print(f"\ngoal (issue 5): median <= 1 s -> {'met' if goal else 'NOT met'}")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
