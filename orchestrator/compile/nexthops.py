"""Default gateways and written routes: checked and resolved to an interface.

A gateway or next hop must be on a subnet the node is directly connected to,
not the node's own address, and held by a node on that segment. Each one
that is becomes a PlanRoute through the interface on that subnet. The same
for either family: `family=6` reads the IPv6 gateway (`gateway6`) and routes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ..model.topology import RouteSpec
from ..plan import PlanRoute
from .addressing import Addressing
from .addressing6 import Addressing6
from .problems import Problems
from .wiring import Port, Wiring

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def resolve_routes(wiring: Wiring, addressing: Addressing | Addressing6, out: Problems, family: int = 4
                   ) -> dict[str, list[PlanRoute]]:
    """node -> its gateway route (written or inferred) and written routes, of
    one family (`addressing` is that family's)."""
    held: dict[int, set[Address]] = {}   # segment -> addresses on it
    for p, a in addressing.address.items():
        s = wiring.segment_of.get(p)
        if s is not None:
            held.setdefault(s, set()).add(a.ip)
    routes: dict[str, list[PlanRoute]] = {}
    for node, spec in wiring.nodes.items():
        if spec.kind == "switch":
            continue
        mine = [(p, addressing.address[p]) for p in wiring.ports_of.get(node, ()) if p in addressing.address]
        # a node whose cabling or neighbours are not all known: no conclusion from what it lacks
        hops = _Hops(node, mine, held, wiring.segment_of, Problems() if node in wiring.doubt else out)
        found: list[PlanRoute] = []
        gateway: Address | None = spec.gateway if family == 4 else spec.gateway6
        key = "gateway" if family == 4 else "gateway6"
        written = _check_written(node, [(r, route) for r, route in enumerate(spec.routes)
                                        if route.to.version == family], gateway is not None, key, out)
        if gateway is not None and family == 4 and any(i.dhcp for i in spec.interfaces.values()):
            pass    # its gateway comes from DHCP: said in compile/nodes.py
        elif gateway is not None:
            port = hops.on_link(f"nodes.{node}.{key}", gateway)
            if port is not None:
                found.append(PlanRoute(to="default", via=str(gateway), dev=port[1], origin="gateway"))
        elif node in addressing.gateway:
            gateway = addressing.gateway[node]
            dev = next(p[1] for p, a in mine if gateway in a.network)
            found.append(PlanRoute(to="default", via=str(gateway), dev=dev, origin="gateway"))
        for where, route in written:
            port = hops.on_link(where, route.via)
            if port is not None:
                to = "default" if route.to.prefixlen == 0 else str(route.to)
                found.append(PlanRoute(to=to, via=str(route.via), dev=port[1], origin="static"))
        routes[node] = found
    return routes


class _Hops:
    """Checks the next hops of one node against its addresses and segments."""

    def __init__(self, node: str, mine: Sequence[tuple[Port, Interface]],
                 held: dict[int, set[Address]], segment_of: dict[Port, int], out: Problems):
        self.node, self.mine, self.held, self.segment_of, self.out = node, mine, held, segment_of, out

    def on_link(self, where: str, hop: Address) -> Port | None:
        """The port through which `hop` is reached, or None (and the problem said)."""
        node, out = self.node, self.out
        what = "gateway" if where.endswith("gateway") else "next hop"
        on = [(p, a) for p, a in self.mine if hop in a.network]
        if not on:
            subnets = ", ".join(str(a.network) for _, a in self.mine) or "none"
            out.error(where, f"{what} {hop} is not on any subnet of {node} (its subnets: {subnets})",
                      f"a {what} must be on a subnet the node is directly connected to")
            return None
        if any(a.ip == hop for _, a in on):
            out.error(where, f"{what} {hop} is {node}'s own address",
                      f"use the address of the router on {node}'s subnet")
            return None
        port = on[0][0]
        if hop not in self.held.get(self.segment_of[port], ()):
            out.error(where, f"{what} {hop} is unreachable: no node on {node}:{port[1]}'s segment has that "
                      "address", "use the address of a router interface on the same segment")
            return None
        return port


def _check_written(node: str, written: list[tuple[int, RouteSpec]], has_gateway: bool, key: str,
                   out: Problems) -> list[tuple[str, RouteSpec]]:
    """One route per destination, no second default: (where its via is, route)."""
    seen_to: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, int] = {}
    hops: list[tuple[str, RouteSpec]] = []
    for r, route in written:
        where = f"nodes.{node}.routes[{r}]"
        if route.to in seen_to:
            out.error(f"{where}.to", f"a route to {route.to} is already given in routes[{seen_to[route.to]}]",
                      "keep one route per destination")
        seen_to[route.to] = r
        if route.to.prefixlen == 0 and has_gateway:
            out.error(f"{where}.to", f"a default route is given both here and as '{key}'", f"keep only '{key}'")
        hops.append((f"{where}.via", route))
    return hops
