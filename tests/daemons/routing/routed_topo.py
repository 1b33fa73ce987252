"""A test topology and an independent reference for its routing tables.

Routers r1..rN, each with a LAN 10.100.N.0/24 (a passive prefix) and
point-to-point links 10.0.K.0/30 (K = link index, side a .1, side b .2) with
a cost per direction.  `expected_routes` computes, with Floyd-Warshall and
no code from the daemon, what every router's table must be.

A dual-stack topology (`Topology.build(..., dual_stack=True)`, or
`topo.dual()`) also gives every router an IPv6 LAN 2001:db8:100:N::/64 and
every link 2001:db8:0:K::/64 (side a ::1, side b ::2);
`expected_routes(..., family=6)` is then the IPv6 table, from the same paths.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

INF = float("inf")


@dataclass(frozen=True)
class LinkSpec:
    index: int
    a: str
    b: str
    cost_ab: int
    cost_ba: int

    def iface(self, router: str) -> str:
        return f"l{self.index}{'a' if router == self.a else 'b'}"

    def address(self, router: str) -> str:
        return f"10.0.{self.index}.{1 if router == self.a else 2}"

    def subnet(self) -> str:
        return f"10.0.{self.index}.0/30"

    def address6(self, router: str) -> str:
        return f"2001:db8:0:{self.index:x}::{1 if router == self.a else 2}"

    def subnet6(self) -> str:
        return f"2001:db8:0:{self.index:x}::/64"

    def other(self, router: str) -> str:
        return self.b if router == self.a else self.a

    def cost_from(self, router: str) -> int:
        return self.cost_ab if router == self.a else self.cost_ba


@dataclass
class Topology:
    routers: list[str]
    links: list[LinkSpec] = field(default_factory=list)
    dual_stack: bool = False

    @classmethod
    def build(cls, n: int, edges: list[tuple], dual_stack: bool = False) -> Topology:
        """edges: (a, b, cost) or (a, b, cost_ab, cost_ba), routers numbered from 1."""
        topo = cls([f"r{i}" for i in range(1, n + 1)], dual_stack=dual_stack)
        for index, edge in enumerate(edges, start=1):
            a, b, cost_ab, *rest = edge
            topo.links.append(LinkSpec(index, f"r{a}", f"r{b}", cost_ab, rest[0] if rest else cost_ab))
        return topo

    @staticmethod
    def number(router: str) -> int:
        return int(router[1:])

    def router_id(self, router: str) -> str:
        n = self.number(router)
        return f"{n}.{n}.{n}.{n}"

    def lan(self, router: str) -> str:
        return f"10.100.{self.number(router)}.0/24"

    def lan_address(self, router: str) -> str:
        return f"10.100.{self.number(router)}.1/24"

    def lan6(self, router: str) -> str:
        return f"2001:db8:100:{self.number(router):x}::/64"

    def lan_address6(self, router: str) -> str:
        return f"2001:db8:100:{self.number(router):x}::1/64"

    def dual(self) -> Topology:
        """The same topology, dual-stack."""
        return replace(self, routers=list(self.routers), links=list(self.links), dual_stack=True)

    def links_of(self, router: str) -> list[LinkSpec]:
        return [link for link in self.links if router in (link.a, link.b)]

    def link(self, a: str, b: str) -> LinkSpec:
        return next(link for link in self.links if {link.a, link.b} == {a, b})

    def config(self, router: str, **settings) -> dict:
        interfaces = [{"name": link.iface(router), "cost": link.cost_from(router),
                       "address": f"{link.address(router)}/30"} for link in self.links_of(router)]
        ipv6: dict = {}
        if self.dual_stack:
            for link, entry in zip(self.links_of(router), interfaces):
                entry["address6"] = f"{link.address6(router)}/64"
            ipv6 = {"prefixes6": [self.lan6(router)]}
        return {
            "router_id": self.router_id(router),
            "interfaces": interfaces,
            "prefixes": [self.lan(router)],
            **ipv6,
            **settings,
        }

    def expected_routes(self, router: str, down: frozenset = frozenset(),
                        dead: frozenset = frozenset(), family: int = 4) -> dict[str, tuple[int, frozenset]]:
        """prefix -> (cost, {(iface, gateway)}) as `router` must install them.

        `down`: link indexes taken down (both interfaces down);
        `dead`: routers whose daemon is gone (their interfaces stay up);
        `family` 6: the IPv6 table of a dual-stack topology (empty otherwise)."""
        if family == 6 and not self.dual_stack:
            return {}
        lan = self.lan6 if family == 6 else self.lan
        subnet = (lambda link: link.subnet6()) if family == 6 else (lambda link: link.subnet())
        gateway = (lambda link, r: link.address6(r)) if family == 6 else (lambda link, r: link.address(r))
        alive = [r for r in self.routers if r not in dead]
        usable = [link for link in self.links
                  if link.index not in down and link.a not in dead and link.b not in dead]
        dist = {u: {v: (0 if u == v else INF) for v in alive} for u in alive}
        for link in usable:
            dist[link.a][link.b] = min(dist[link.a][link.b], link.cost_ab)
            dist[link.b][link.a] = min(dist[link.b][link.a], link.cost_ba)
        for k in alive:
            for i in alive:
                for j in alive:
                    if dist[i][k] + dist[k][j] < dist[i][j]:
                        dist[i][j] = dist[i][k] + dist[k][j]
        advertisers: dict[str, set[str]] = {}
        for r in alive:
            advertisers.setdefault(lan(r), set()).add(r)
            for link in self.links_of(r):
                if link.index not in down:
                    advertisers.setdefault(subnet(link), set()).add(r)
        local = {p for p, owners in advertisers.items() if router in owners}
        out: dict[str, tuple[int, frozenset]] = {}
        for prefix, owners in advertisers.items():
            if prefix in local:
                continue
            cost = min(dist[router][o] for o in owners)
            if cost == INF:
                continue
            hops = set()
            first = [link for link in usable if router in (link.a, link.b)]
            for link in first:
                nb = link.other(router)
                c = link.cost_from(router)
                parallel = min(x.cost_from(router) for x in first if x.other(router) == nb)
                if c == parallel and any(c + dist[nb][o] == cost for o in owners):
                    hops.add((link.iface(router), gateway(link, nb)))
            out[prefix] = (cost, frozenset(hops))
        return out


def normalise(prefix: str) -> str:
    return str(ipaddress.ip_network(prefix))


# The standard test topology: a square with a diagonal and asymmetric costs.
#
#      r1 ---10--- r2
#      |  \         |
#     10   30/20    10
#      |       \    |
#      r3 ---10--- r4
#
# r1 -> r4 is ECMP (via r2 and via r3, 20 each, the direct diagonal 30).
SQUARE = Topology.build(4, [(1, 2, 10), (2, 4, 10), (1, 3, 10), (3, 4, 10), (1, 4, 30, 20)])
