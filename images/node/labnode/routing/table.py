"""From SPF's answer to the routing tables: next hops, local prefixes left out.

SPF names the first hops of a route by router id; the kernel wants a gateway
address and an interface.  A neighbour may be reached over several links
(parallel links): the cheapest ones are used, equal ones all together.  Both
families come from the same first hops over the same links: an IPv4 next hop
is the neighbour's address on the link (the source of its hellos), an IPv6
next hop the address6 its hellos announce there.  A first hop whose link has
no usable address6 (on either end) gives no IPv6 next hop; `resolve6` names
those (interface, neighbour) pairs so that the router can say so.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .addr import format_prefix, format_prefix6
from .spf import Route
from .state import NextHop, NextHop6, Port, RouteEntry, RouteTable

Via = dict[int, list[tuple[int, str, NextHop | None]]]  # router id -> [(cost, interface, next hop)]


def resolve(routes: Mapping[tuple[int, int], Route], ports: Iterable[Port],
            local: set[tuple[int, int]]) -> RouteTable:
    """`routes` from spf.prefix_routes -> prefix: RouteEntry, skipping the
    prefixes in `local` (the kernel has them as connected routes) and routes
    whose first hops are not (or no longer) full neighbours on an up port."""
    via: Via = {}
    for port in ports:
        if port.up:
            for nb in port.full_neighbors():
                via.setdefault(nb.router_id, []).append((port.config.cost, port.name, NextHop(port.name, nb.address)))
    return _table(routes, via, local, set())


def resolve6(routes: Mapping[tuple[int, int], Route], ports: Iterable[Port], local: set[tuple[int, int]],
             missing: set[tuple[str, int]] | None = None) -> RouteTable:
    """The same for IPv6 routes (spf.prefix_routes6), through the same
    links; the (interface, router id) of every first hop used by some route
    but without an IPv6 next hop is added to `missing`."""
    via: Via = {}
    for port in ports:
        if port.up:
            for nb in port.full_neighbors():
                gateway = port.gateway6(nb)
                nexthop = None if gateway is None else NextHop6(port.name, gateway)
                via.setdefault(nb.router_id, []).append((port.config.cost, port.name, nexthop))
    return _table(routes, via, local, set() if missing is None else missing)


def _table(routes: Mapping[tuple[int, int], Route], via: Via, local: set[tuple[int, int]],
           missing: set[tuple[str, int]]) -> RouteTable:
    table: RouteTable = {}
    for key, route in routes.items():
        if key in local:
            continue
        nexthops: set[NextHop] = set()
        for hop in route.first_hops:
            options = via.get(hop, [])
            best = min((cost for cost, _, _ in options), default=None)
            for cost, iface, nexthop in options:
                if cost == best:
                    if nexthop is None:
                        missing.add((iface, hop))
                    else:
                        nexthops.add(nexthop)
        if nexthops:
            table[key] = RouteEntry(route.cost, tuple(sorted(nexthops)))
    return table


def describe(entry: RouteEntry | None) -> str:
    if entry is None:
        return "withdrawn"
    return f"cost {entry.cost} " + ", ".join(str(nh) for nh in entry.nexthops)


def prefix_text(key: tuple[int, int], family: int = 4) -> str:
    return format_prefix6(*key) if family == 6 else format_prefix(*key)
