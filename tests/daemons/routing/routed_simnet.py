"""An in-memory network of `Router`s on a simulated clock.

Packets sent on an interface are delivered, after `delay` seconds and unless
dropped by `loss`, to every other router on the same link whose address (or
the multicast group) they are sent to.  No sockets, no threads: the whole
protocol runs deterministically and much faster than real time.
"""
from __future__ import annotations

import heapq
import itertools
import random

from routed_topo import INF, Topology

from labnode.routing import config as config_mod
from labnode.routing.addr import format_prefix, format_prefix6, int_to_ip, int_to_ip6, ip_to_int
from labnode.routing.router import Router


class SimNet:
    def __init__(self, topo: Topology, *, loss: float = 0.0, delay: float = 0.001, seed: int = 1,
                 settings: dict | None = None, per_router: dict | None = None):
        self.topo = topo
        self.now = 0.0
        self.loss = loss
        self.delay = delay
        self.rng = random.Random(seed)
        self.settings = settings or {}
        self.per_router = per_router or {}
        self.queue: list = []
        self.counter = itertools.count()
        self.routers: dict[str, Router] = {}
        self.down: set[int] = set()  # link indexes
        self.blocked: set[tuple[str, str]] = set()  # (sender, iface): one direction mute
        self.tap: list[tuple[str, str, bytes]] = []  # (router, iface, data) of every packet sent
        # (router, iface) -> link
        self.wire = {(r, link.iface(r)): link for link in topo.links for r in (link.a, link.b)}
        for name in topo.routers:
            self.start(name)

    def make_config(self, name: str):
        raw = self.topo.config(name, **{**self.settings, **self.per_router.get(name, {})})
        return config_mod.parse(raw)

    def start(self, name: str, **kwargs) -> Router:
        cfg = self.make_config(name)
        router = Router(cfg, lambda ifname, dst, data: self._send(name, ifname, dst, data),
                        now=self.now, rng=random.Random(self.rng.random()), **kwargs)
        self.routers[name] = router
        for link in self.topo.links_of(name):
            if link.index not in self.down:
                router.interface_up(link.iface(name), self.now)
        return router

    def kill(self, name: str) -> None:
        """The daemon vanishes without a word (SIGKILL)."""
        del self.routers[name]

    def stop(self, name: str) -> None:
        """A clean shutdown (SIGTERM)."""
        self.routers[name].shutdown(self.now)
        del self.routers[name]

    def set_link(self, index: int, up: bool) -> None:
        link = next(link for link in self.topo.links if link.index == index)
        (self.down.discard if up else self.down.add)(index)
        for r in (link.a, link.b):
            if r in self.routers:
                router = self.routers[r]
                if up:
                    router.interface_up(link.iface(r), self.now)
                else:
                    router.interface_down(link.iface(r), self.now)

    def inject(self, name: str, ifname: str, src: str, data: bytes) -> None:
        self.routers[name].receive(ifname, ip_to_int(src), data, self.now)

    def _send(self, sender: str, ifname: str, dst: int, data: bytes) -> None:
        self.tap.append((sender, ifname, data))
        link = self.wire[(sender, ifname)]
        if link.index in self.down or (sender, ifname) in self.blocked:
            return
        peer = link.other(sender)
        group = ip_to_int(self.routers[sender].config.multicast_group)
        if dst not in (group, ip_to_int(link.address(peer))):
            return
        if self.loss and self.rng.random() < self.loss:
            return
        src = ip_to_int(link.address(sender))
        heapq.heappush(self.queue, (self.now + self.delay, next(self.counter), peer, link.iface(peer), src, data))

    def run(self, duration: float) -> None:
        end = self.now + duration
        stuck = 0
        while True:
            next_timer = min((r.next_deadline() for r in self.routers.values()), default=INF)
            next_packet = self.queue[0][0] if self.queue else INF
            t = min(next_timer, next_packet)
            if t > end:
                self.now = end
                return
            stuck = stuck + 1 if t <= self.now else 0
            if stuck > 10_000:  # a timer that is due but never moves on would hang the daemon too
                raise AssertionError(f"timers do not advance at t={self.now}")
            self.now = max(self.now, t)
            while self.queue and self.queue[0][0] <= self.now:
                _, _, peer, ifname, src, data = heapq.heappop(self.queue)
                if peer in self.routers:
                    self.routers[peer].receive(ifname, src, data, self.now)
            for router in list(self.routers.values()):
                if router.next_deadline() <= self.now:
                    router.tick(self.now)

    def run_until(self, predicate, limit: float, step: float = 0.01) -> float:
        """Run until predicate() holds; return the simulated time it took."""
        start = self.now
        while not predicate():
            if self.now - start > limit:
                raise AssertionError(f"condition not reached within {limit} s")
            self.run(step)
        return self.now - start

    def table(self, name: str, family: int = 4) -> dict[str, tuple[int, frozenset]]:
        """The router's computed table (IPv4, or IPv6 with family=6) in the
        shape of Topology.expected_routes."""
        router = self.routers[name]
        routes, prefix, address = ((router.routes6, format_prefix6, int_to_ip6) if family == 6
                                   else (router.routes, format_prefix, int_to_ip))
        out = {}
        for key, entry in routes.items():
            hops = frozenset((nh.iface, address(nh.gateway)) for nh in entry.nexthops)
            out[prefix(*key)] = (entry.cost, hops)
        return out

    def converged(self, down=frozenset(), dead=frozenset()) -> bool:
        """Every live router's tables, both families, are the reference's
        (an IPv4-only topology must have no IPv6 route at all)."""
        return all(self.table(r, family) == self.topo.expected_routes(r, frozenset(down), frozenset(dead), family)
                   for r in self.routers if r not in dead for family in (4, 6))
