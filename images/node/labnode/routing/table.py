"""From SPF's answer to the routing table: next hops, local prefixes left out.

SPF names the first hops of a route by router id; the kernel wants a gateway
address and an interface.  A neighbour may be reached over several links
(parallel links): the cheapest ones are used, equal ones all together.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .spf import Route
from .state import NextHop, Port, RouteEntry, RouteTable


def resolve(routes: Mapping[tuple[int, int], Route], ports: Iterable[Port],
            local: set[tuple[int, int]]) -> RouteTable:
    """`routes` from spf.prefix_routes -> prefix: RouteEntry, skipping the
    prefixes in `local` (the kernel has them as connected routes) and routes
    whose first hops are not (or no longer) full neighbours on an up port."""
    via: dict[int, list[tuple[int, NextHop]]] = {}
    for port in ports:
        if port.up:
            for nb in port.full_neighbors():
                via.setdefault(nb.router_id, []).append((port.config.cost, NextHop(port.name, nb.address)))
    table: RouteTable = {}
    for key, route in routes.items():
        if key in local:
            continue
        nexthops: set[NextHop] = set()
        for hop in route.first_hops:
            options = via.get(hop, [])
            best = min((cost for cost, _ in options), default=None)
            nexthops.update(nh for cost, nh in options if cost == best)
        if nexthops:
            table[key] = RouteEntry(route.cost, tuple(sorted(nexthops)))
    return table


def describe(entry: RouteEntry | None) -> str:
    if entry is None:
        return "withdrawn"
    return f"cost {entry.cost} " + ", ".join(str(nh) for nh in entry.nexthops)
