"""Consistency checks over a well-formed lab: every problem, each with its place.

Input is what `orchestrator.load` could parse (broken nodes and links are left
out and listed, so they cause no second, confusing error). Output is a list of
errors and a list of warnings (things that work but are probably wrong).
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from .addressing import Addressing, assign
from .errors import Problem
from .model import IFNAME_MAX, IFNAME_RE, NAME_RE, LanSpec, LinkSpec, NodeSpec, PoolsSpec
from .policy import check_policies
from .wiring import Port, Wiring, build_wiring

NAME_HINT = "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 32 characters"
BRIDGE_NAME = "br0"
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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


def _check_services(where: str, spec: NodeSpec, err) -> None:
    if spec.services and spec.kind == "switch":
        err(f"{where}.services", "a switch runs no services", "put services on a host or router")
        return
    names: dict[str, int] = {}
    ports: dict[tuple[str, int], int] = {}
    for k, svc in enumerate(spec.services):
        name = svc.effective_name
        if not SERVICE_NAME_RE.match(name):
            err(f"{where}.services[{k}].name", f"'{name}' is not a usable service name",
                "use letters, digits, '-', '_' or '.' (it names the log file)")
        if name in names:
            err(f"{where}.services[{k}]", f"a service named '{name}' is already services[{names[name]}]",
                "give one of them another 'name'")
        names.setdefault(name, k)
        port = svc.effective_port
        if port is not None:
            proto = "udp" if svc.type == "udp-echo" else "tcp"
            if (proto, port) in ports:
                err(f"{where}.services[{k}].port", f"{proto} port {port} is already used by "
                    f"services[{ports[(proto, port)]}]", "give one of them another 'port'")
            ports.setdefault((proto, port), k)


def check_topology(name: str | None, nodes: dict[str, NodeSpec], lans: dict[str, LanSpec],
                   links: list[LinkSpec | None], broken: set[str],
                   pools: PoolsSpec, routing: str = "static") -> tuple[list[Problem], list[Problem]]:
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
        _check_services(where, spec, err)
        if spec.kind != "router":
            for key in ("routing", "router_id"):
                if getattr(spec, key) is not None:
                    err(f"{where}.{key}", f"only routers have '{key}'", f"remove it from this {spec.kind}")

    # --- ends of links and LAN members exist and are valid -----------------------
    known = sorted(set(nodes) | broken)

    def check_end(where: str, node: str, iface: str | None) -> None:
        if node in broken:
            return
        if node not in nodes:
            close = difflib.get_close_matches(node, known, n=1, cutoff=0.5)
            err(where, f"unknown node '{node}'",
                f"did you mean '{close[0]}'?" if close else "declare it under 'nodes:'")
        elif iface is not None:
            bad = _iface_problem(iface)
            if bad:
                err(where, *bad)

    for i, link in enumerate(links):
        if link is None:
            continue
        for side in ("a", "b"):
            end = getattr(link, side)
            check_end(f"links[{i}].{side}", end.node, end.iface)
        if link.a.node == link.b.node and link.a.node in nodes:
            err(f"links[{i}]", f"both ends are on node '{link.a.node}'",
                "a link joins two different nodes")
    for lan_name, lan in lans.items():
        if not NAME_RE.match(lan_name):
            err(f"lans.{lan_name}", f"'{lan_name}' is not a valid LAN name (it names the LAN's switch)", NAME_HINT)
        for m, member in enumerate(lan.members):
            where = f"lans.{lan_name}.members[{m}]"
            check_end(where, member.node, member.iface)
            if member.node in nodes and nodes[member.node].kind == "switch":
                err(where, f"'{member.node}' is a switch; a LAN's members are hosts and routers",
                    "join switches with a link, or name it as the LAN's 'switch'")

    wiring, problems = build_wiring(nodes, lans, links, broken)
    errors.extend(problems)
    used_by: dict[Port, str] = {}
    for cable in wiring.cables:
        for side, port in (("a", cable.a), ("b", cable.b)):
            where = cable.where if cable.where.startswith("lans.") else f"{cable.where}.{side}"
            if side == "b" and cable.where.startswith("lans."):
                continue  # the LAN's own switch port
            if port in used_by:
                err(where, f"interface {port[0]}:{port[1]} is already used by {used_by[port]}",
                    "an interface takes one cable; use another interface or a switch")
            else:
                used_by[port] = cable.where

    linked_nodes = {p[0] for c in wiring.cables for p in (c.a, c.b)}
    for node, spec in nodes.items():
        if node not in linked_nodes:
            warn(f"nodes.{node}", f"node '{node}' is not connected to anything",
                 "add a link or remove the node")
            continue
        for iface in spec.interfaces:
            if (node, iface) not in used_by and not (spec.kind == "switch"):
                warn(f"nodes.{node}.interfaces.{iface}",
                     f"interface {node}:{iface} is declared but no link uses it",
                     f"add a link with end '{node}:{iface}'")

    errors.extend(_check_written_addresses(wiring))
    addressing, problems, warned = assign(wiring, pools)
    errors.extend(problems)
    warnings.extend(warned)
    errors.extend(_check_next_hops(wiring, addressing))
    errors.extend(check_policies(wiring, addressing))
    for node, spec in nodes.items():
        dynamic = spec.kind == "router" and (spec.routing or routing) == "dynamic"
        if dynamic and spec.router_id is None and not any(p[0] == node for p in addressing.address):
            err(f"nodes.{node}", f"router '{node}' runs the routing daemon but has no address to take "
                "its router id from", "link it to something, or give it 'router_id: 1.1.1.1'")
    return errors, warnings


def _check_written_addresses(wiring: Wiring) -> list[Problem]:
    errors = []
    owner: dict[ipaddress.IPv4Address, str] = {}
    order = [(n, i) for n, spec in wiring.nodes.items() for i in spec.interfaces]
    rank = {p: k for k, p in enumerate(order)}
    for port, (addr, where) in sorted(wiring.explicit.items(), key=lambda kv: rank.get(kv[0], len(rank))):
        if wiring.nodes[port[0]].kind == "switch":
            continue
        net = addr.network
        if net.prefixlen <= 30 and addr.ip in (net.network_address, net.broadcast_address):
            what = "network" if addr.ip == net.network_address else "broadcast"
            errors.append(Problem(where, f"{addr} is the {what} address of {net}, not a usable host address",
                                  f"use one of {net[1]} to {net[-2]}"))
        elif addr.ip in owner:
            errors.append(Problem(where, f"address {addr.ip} is already used by {owner[addr.ip]}",
                                  "every interface needs its own address"))
        else:
            owner[addr.ip] = where
    return errors


def _check_next_hops(wiring: Wiring, addressing: Addressing) -> list[Problem]:
    """Gateways and static next hops: on a connected subnet, not the node's own
    address, held by a node on that segment."""
    errors = []
    by_node: dict[str, dict[Port, ipaddress.IPv4Interface]] = {}
    for p, a in addressing.address.items():
        by_node.setdefault(p[0], {})[p] = a
    for node, spec in wiring.nodes.items():
        if spec.kind == "switch":
            continue
        mine = by_node.get(node, {})
        hops: list[tuple[str, ipaddress.IPv4Address]] = []
        if spec.gateway is not None:
            hops.append((f"nodes.{node}.gateway", spec.gateway))
        seen_to: dict[ipaddress.IPv4Network, int] = {}
        for r, route in enumerate(spec.routes):
            where = f"nodes.{node}.routes[{r}]"
            hops.append((f"{where}.via", route.via))
            if route.to in seen_to:
                errors.append(Problem(f"{where}.to", f"a route to {route.to} is already given in "
                                      f"routes[{seen_to[route.to]}]", "keep one route per destination"))
            seen_to[route.to] = r
            if route.to.prefixlen == 0 and spec.gateway is not None:
                errors.append(Problem(f"{where}.to", "a default route is given both here and as 'gateway'",
                                      "keep only 'gateway'"))
        for where, hop in hops:
            what = "gateway" if where.endswith("gateway") else "next hop"
            on = [(p, a) for p, a in mine.items() if hop in a.network]
            if not on:
                subnets = ", ".join(str(a.network) for a in mine.values()) or "none"
                errors.append(Problem(where, f"{what} {hop} is not on any subnet of {node} (its subnets: {subnets})",
                                      f"a {what} must be on a subnet the node is directly connected to"))
                continue
            if any(a.ip == hop for _, a in on):
                errors.append(Problem(where, f"{what} {hop} is {node}'s own address",
                                      f"use the address of the router on {node}'s subnet"))
                continue
            port = on[0][0]
            seg = wiring.segments[wiring.segment_of[port]]
            if not any(addressing.address.get(q) is not None and addressing.address[q].ip == hop
                       for q in seg.ports):
                errors.append(Problem(where, f"{what} {hop} is unreachable: no node on {node}:{port[1]}'s "
                                      "segment has that address",
                                      "use the address of a router interface on the same segment"))
    return errors
