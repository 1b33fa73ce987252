"""Consistency checks over a well-formed lab: every problem, each with its place.

Input is what `orchestrator.load` could parse (broken nodes and links are left
out and listed, so they cause no second, confusing error). Output is a list of
errors and a list of warnings (things that work but are probably wrong).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections import Counter

from .errors import Problem
from .model import IFNAME_MAX, IFNAME_RE, NAME_RE, LinkSpec, NodeSpec
from .segments import Port, l2_segments, resolve_links

NAME_HINT = "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 32 characters"
BRIDGE_NAME = "br0"


def _iface_problem(name: str) -> tuple[str, str] | None:
    if len(name) > IFNAME_MAX:
        return (f"interface name '{name}' is {len(name)} characters; Linux allows at most {IFNAME_MAX}",
                f"shorten it, e.g. '{name[:IFNAME_MAX]}'")
    if not IFNAME_RE.match(name):
        return (f"'{name}' is not a usable interface name",
                "use letters, digits, '-', '_' or '.', starting with a letter or digit")
    if name == "lo":
        return ("'lo' is the loopback interface and cannot be linked", "use eth0, eth1, ...")
    return None


def check_topology(name: str | None, nodes: dict[str, NodeSpec],
                   links: list[LinkSpec | None],
                   broken: set[str]) -> tuple[list[Problem], list[Problem]]:
    errors: list[Problem] = []
    warnings: list[Problem] = []

    def err(where: str, message: str, hint: str = "") -> None:
        errors.append(Problem(where, message, hint))

    def warn(where: str, message: str, hint: str = "") -> None:
        warnings.append(Problem(where, message, hint, severity="warning"))

    if not name or not NAME_RE.match(name):
        err("name", f"'{name}' is not a valid lab name", NAME_HINT)
    if not nodes and not broken:
        err("nodes", "the lab has no nodes", "add at least two nodes and a link between them")

    for node, spec in nodes.items():
        where = f"nodes.{node}"
        if not NAME_RE.match(node):
            err(where, f"'{node}' is not a valid node name (it becomes the hostname and part of a container name)",
                NAME_HINT)
        for iface, ispec in spec.interfaces.items():
            bad = _iface_problem(iface)
            if bad:
                err(f"{where}.interfaces.{iface}", *bad)
            if spec.kind == "switch" and iface == BRIDGE_NAME:
                err(f"{where}.interfaces.{iface}", f"'{BRIDGE_NAME}' is the switch's own bridge",
                    "name switch ports eth0, eth1, ...")
            if spec.kind == "switch" and ispec.address is not None:
                err(f"{where}.interfaces.{iface}.address", "a switch port has no IP address",
                    "switches work at layer 2; put the address on a host or router interface")
        if spec.kind == "switch":
            if spec.gateway is not None:
                err(f"{where}.gateway", "a switch has no default gateway", "remove it; switches do not route")
            if spec.routes:
                err(f"{where}.routes", "a switch has no routes", "remove them; switches do not route")

    # --- links: ends exist, are valid and used once -------------------------
    known = sorted(set(nodes) | broken)
    for i, link in enumerate(links):
        if link is None:
            continue
        for side in ("a", "b"):
            end = getattr(link, side)
            if end.node in broken:
                continue
            if end.node not in nodes:
                close = difflib.get_close_matches(end.node, known, n=1, cutoff=0.5)
                err(f"links[{i}].{side}", f"unknown node '{end.node}'",
                    f"did you mean '{close[0]}'?" if close else "declare it under 'nodes:'")
            elif end.iface is not None:
                bad = _iface_problem(end.iface)
                if bad:
                    err(f"links[{i}].{side}", *bad)
        if link.a.node == link.b.node and link.a.node in nodes:
            err(f"links[{i}]", f"both ends are on node '{link.a.node}'",
                "a link joins two different nodes")

    resolved = resolve_links(nodes, links)
    used_by: dict[Port, int] = {}
    for link in resolved:
        for side, port in (("a", link.a), ("b", link.b)):
            if port in used_by:
                err(f"links[{link.index}].{side}",
                    f"interface {port[0]}:{port[1]} is already used by links[{used_by[port]}]",
                    "an interface takes one cable; use another interface or a switch")
            else:
                used_by[port] = link.index
    resolved = [lk for lk in resolved if lk.a[0] != lk.b[0]]

    linked_nodes = {p[0] for lk in resolved for p in (lk.a, lk.b)}
    for node, spec in nodes.items():
        if node not in linked_nodes:
            warn(f"nodes.{node}", f"node '{node}' is not connected to anything",
                 "add a link or remove the node")
            continue
        for iface in spec.interfaces:
            if (node, iface) not in used_by:
                warn(f"nodes.{node}.interfaces.{iface}",
                     f"interface {node}:{iface} is declared but no link uses it",
                     f"add a link with end '{node}:{iface}'")

    # --- addresses -----------------------------------------------------------
    owner: dict[ipaddress.IPv4Address, str] = {}
    addr_of: dict[Port, ipaddress.IPv4Interface] = {}
    for node, spec in nodes.items():
        for iface, ispec in spec.interfaces.items():
            addr = ispec.address
            if addr is None or spec.kind == "switch":
                continue
            where = f"nodes.{node}.interfaces.{iface}"
            net = addr.network
            if net.prefixlen <= 30 and addr.ip == net.network_address:
                err(where, f"{addr} is the network address of {net}, not a usable host address",
                    f"use one of {net[1]} to {net[-2]}")
                continue
            if net.prefixlen <= 30 and addr.ip == net.broadcast_address:
                err(where, f"{addr} is the broadcast address of {net}, not a usable host address",
                    f"use one of {net[1]} to {net[-2]}")
                continue
            if addr.ip in owner:
                err(where, f"address {addr.ip} is already used by {owner[addr.ip]}",
                    "every interface needs its own address")
                continue
            owner[addr.ip] = where
            addr_of[(node, iface)] = addr

    segments = l2_segments(nodes, resolved)
    segment_of: dict[Port, int] = {}
    for s, seg in enumerate(segments):
        for port in seg.ports:
            segment_of[port] = s
        nets = Counter(addr_of[p].network for p in seg.ports if p in addr_of)
        if len(nets) > 1:
            main = nets.most_common(1)[0][0]
            for port in seg.ports:
                if port in addr_of and addr_of[port].network != main:
                    others = ", ".join(f"{p[0]}:{p[1]}" for p in seg.ports
                                       if p in addr_of and addr_of[p].network == main)
                    err(f"nodes.{port[0]}.interfaces.{port[1]}",
                        f"address {addr_of[port]} is outside the subnet {main} of its segment "
                        f"(shared with {others})",
                        f"use an address in {main}, or move the cable to another segment")

    # --- gateways and static routes ------------------------------------------
    for node, spec in nodes.items():
        if spec.kind == "switch":
            continue
        mine = {(node, i): s.address for i, s in spec.interfaces.items() if s.address is not None}
        hops: list[tuple[str, ipaddress.IPv4Address]] = []
        if spec.gateway is not None:
            hops.append((f"nodes.{node}.gateway", spec.gateway))
        seen_to: dict[ipaddress.IPv4Network, int] = {}
        for r, route in enumerate(spec.routes):
            where = f"nodes.{node}.routes[{r}]"
            hops.append((f"{where}.via", route.via))
            if route.to in seen_to:
                err(f"{where}.to", f"a route to {route.to} is already given in routes[{seen_to[route.to]}]",
                    "keep one route per destination")
            seen_to[route.to] = r
            if route.to.prefixlen == 0 and spec.gateway is not None:
                err(f"{where}.to", "a default route is given both here and as 'gateway'",
                    "keep only 'gateway'")
            for port, addr in mine.items():
                if route.to.prefixlen and addr.network == route.to:
                    warn(f"{where}.to", f"{route.to} is directly connected on {port[1]}",
                         "a route to a connected subnet is not needed")
        for where, hop in hops:
            what = "gateway" if where.endswith("gateway") else "next hop"
            on = [(p, a) for p, a in mine.items() if hop in a.network]
            if not on:
                subnets = ", ".join(str(a.network) for a in mine.values()) or "none"
                err(where, f"{what} {hop} is not on any subnet of {node} (its subnets: {subnets})",
                    f"a {what} must be on a subnet the node is directly connected to")
                continue
            if any(a.ip == hop for _, a in on):
                err(where, f"{what} {hop} is {node}'s own address",
                    f"use the address of the router on {node}'s subnet")
                continue
            port = on[0][0]
            seg = segments[segment_of[port]] if port in segment_of else None
            holders = [p for p in (seg.ports if seg else []) if p in addr_of and addr_of[p].ip == hop]
            if not holders:
                err(where, f"{what} {hop} is unreachable: no node on {node}:{port[1]}'s segment has that address",
                    "use the address of a router interface on the same segment")
    return errors, warnings
