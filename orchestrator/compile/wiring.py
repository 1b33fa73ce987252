"""The lab as cables and segments.

LANs are expanded into a switch (the one named, or one made for the LAN and
named after it) and a cable per member; every cable end gets an interface
name; cables joined by switches form segments (broadcast domains). Built
once per compile; every later step reads it.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

from ..model.load import Unread
from ..model.specs import ImpairSpec
from ..model.topology import DEFAULT_COST, Endpoint, LanSpec, LinkSpec, NodeSpec
from .problems import Problems, name_hint

Port = tuple[str, str]  # (node, interface)


@dataclass(frozen=True)
class Cable:
    where: str                                   # "links[3]" or "lans.lan1.members[0]"
    a: Port
    b: Port
    prefix: ipaddress.IPv4Network | None = None
    cost: int = DEFAULT_COST
    impair: ImpairSpec | None = None


@dataclass
class Segment:
    """A broadcast domain: the L3 ports joined by cables and switches."""

    ports: list[Port] = field(default_factory=list)   # ports of hosts and routers
    switches: list[str] = field(default_factory=list)
    cables: list[Cable] = field(default_factory=list)
    lan: str | None = None                            # the LAN it came from, if any

    @property
    def name(self) -> str:
        if self.lan:
            return f"lans.{self.lan}"
        return self.cables[0].where if self.cables else "?"

    @cached_property   # read for every port of the segment; its cables are all known by then
    def cost(self) -> int:
        return min((c.cost for c in self.cables), default=DEFAULT_COST)


@dataclass
class Wiring:
    nodes: dict[str, NodeSpec]                       # the file's nodes + LAN switches
    cables: list[Cable]
    segments: list[Segment]
    segment_of: dict[Port, int]
    #: explicit addresses: port -> (address, where it is written)
    explicit: dict[Port, tuple[ipaddress.IPv4Interface, str]]
    #: explicit subnets: segment index -> (subnet, where it is written)
    prefixes: dict[int, tuple[ipaddress.IPv4Network, str]]
    #: node -> its cable ends: the interfaces declared under the node first (in
    #: file order), then the ones links added, in the order of the cables
    ports_of: dict[str, list[Port]] = field(default_factory=dict)
    #: what the parts of the file that did not validate leave unknown
    unread: Unread = field(default_factory=Unread)
    #: nodes known by name only (their kind could not be read)
    name_only: set[str] = field(default_factory=set)
    #: ports whose written address could not be read
    unsure: set[Port] = field(default_factory=set)
    #: nodes whose cables, subnets or neighbours' addresses are not all known
    #: (because of a part that did not validate, or a cable left out for an
    #: error already reported): no problem is concluded from what they lack
    doubt: set[str] = field(default_factory=set)


def _next_free(used: set[str], start: int) -> tuple[str, int]:
    """The first ethN from N=start on that is not used, and the N to try next time."""
    n = start
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}", n + 1


def build_wiring(nodes: dict[str, NodeSpec], lans: dict[str, LanSpec],
                 links: list[LinkSpec | None], broken: set[str] | frozenset[str] = frozenset(),
                 out: Problems | None = None, unread: Unread | None = None) -> Wiring:
    """Expand LANs, name every cable end, group segments. Problems found on
    the way (unknown nodes are reported by check_nodes; here: LAN switch
    misuse, conflicting subnets, an interface taking two cables) go to `out`,
    and the offending parts are left out (their nodes in `doubt`)."""
    out = out if out is not None else Problems()
    unread = unread if unread is not None else Unread()
    loose: set[str] = set(unread.loose)     # nodes a cable of which is not known
    unsure_members: set[str] = set()        # cable places of LAN members whose address was not read
    written = nodes
    nodes = dict(nodes)
    raw: list[tuple[str, Endpoint, Endpoint, ipaddress.IPv4Network | None, int, str | None,
                    ImpairSpec | None]] = []
    member_addr: dict[tuple[str, int], tuple[ipaddress.IPv4Interface, str]] = {}

    for lan_name, lan in lans.items():
        where = f"lans.{lan_name}"
        switch = lan.switch or lan_name
        if lan.switch is None:
            if switch in nodes or switch in broken:
                out.error(where, f"the LAN's own switch would be named '{switch}', but a node has that name",
                          f"rename the LAN or the node, or write 'switch: {switch}' if that node is the LAN's switch")
                loose.update(m.node for m in lan.members)
                continue
            nodes[switch] = NodeSpec(kind="switch")
        elif switch not in nodes:
            loose.update(m.node for m in lan.members)
            if switch in broken:
                continue
            switches = [n for n, s in nodes.items() if s.kind == "switch"]
            hint = name_hint(switch, switches, "switches", "name a node of kind switch") + ", or leave 'switch' out"
            out.error(f"{where}.switch", f"unknown node '{switch}'", hint)
            continue
        elif nodes[switch].kind != "switch":
            out.error(f"{where}.switch", f"'{switch}' is a {nodes[switch].kind}, not a switch",
                      "name a node of kind switch, or leave 'switch' out")
            loose.update(m.node for m in lan.members)
            continue
        for m, member in enumerate(lan.members):
            mwhere = f"{where}.members[{m}]"
            if (lan_name, m) in unread.members:
                unsure_members.add(mwhere)
            end = Endpoint(node=member.node, iface=member.iface)
            raw.append((mwhere, end, Endpoint(node=switch), lan.prefix, lan.cost, lan_name, None))
            if member.address is not None:
                member_addr[(mwhere, 0)] = (member.address, f"{mwhere}.address")
    for i, link in enumerate(links):
        if link is not None:
            raw.append((f"links[{i}]", link.a, link.b, link.prefix, link.cost, None, link.impair))

    # name every cable end
    used: dict[str, set[str]] = {name: set(spec.interfaces) for name, spec in nodes.items()}
    explicit_ifaces: dict[str, set[str]] = {name: set() for name in nodes}
    for _, a, b, *_ in raw:
        for end in (a, b):
            if end.node in nodes and end.iface:
                explicit_ifaces[end.node].add(end.iface)
    spare = {name: deque(i for i in spec.interfaces if i not in explicit_ifaces[name])
             for name, spec in nodes.items()}
    for name in nodes:
        used[name] |= explicit_ifaces[name]

    cables: list[Cable] = []
    lan_of: dict[str, str | None] = {}
    explicit: dict[Port, tuple[ipaddress.IPv4Interface, str]] = {}
    counter = dict.fromkeys(nodes, 0)   # the ethN to try next, per node
    unsure: set[Port] = set()
    stray: set[str] = set()     # nodes that lost a cable to an unknown name (reported): in doubt themselves
    for cable_where, a, b, prefix, cost, cable_lan, impair in raw:
        if a.node not in nodes or b.node not in nodes or a.node == b.node:
            # the cable its ends were meant to have: to a node known by name only, it may be the one
            # their segment's members need (its router, say); to a name not known at all, it is not
            cut = any(end.node in broken for end in (a, b))
            (loose if cut else stray).update(end.node for end in (a, b) if end.node in nodes)
            continue
        ports: list[Port] = []
        for end in (a, b):
            iface = end.iface
            if iface is None and spare[end.node]:
                iface = spare[end.node].popleft()
            elif iface is None:
                iface, counter[end.node] = _next_free(used[end.node], counter[end.node])
                used[end.node].add(iface)
            ports.append((end.node, iface))
        cable = Cable(cable_where, ports[0], ports[1], prefix, cost, impair)
        cables.append(cable)
        if cable_where in unsure_members:
            unsure.add(ports[0])
        lan_of[cable_where] = cable_lan
        if (cable_where, 0) in member_addr:
            addr, awhere = member_addr[(cable_where, 0)]
            declared = nodes[ports[0][0]].interfaces.get(ports[0][1])
            if declared is not None and declared.address is not None:
                out.error(awhere, f"{ports[0][0]}:{ports[0][1]} already has the address "
                          f"{declared.address} under nodes.{ports[0][0]}.interfaces",
                          "write the address in one place only")
            else:
                explicit[ports[0]] = (addr, awhere)
    for cable in cables:
        for port in (cable.a, cable.b):
            spec = nodes[port[0]].interfaces.get(port[1])
            if spec is not None and spec.address is not None and port not in explicit:
                explicit[port] = (spec.address, f"nodes.{port[0]}.interfaces.{port[1]}")

    segments, segment_of = _segments(nodes, cables, lan_of)
    prefixes: dict[int, tuple[ipaddress.IPv4Network, str]] = {}
    for s, seg in enumerate(segments):
        for cable in seg.cables:
            if cable.prefix is None:
                continue
            where = f"lans.{seg.lan}.prefix" if lan_of.get(cable.where) else f"{cable.where}.prefix"
            if s in prefixes and prefixes[s][0] != cable.prefix:
                if prefixes[s][1] != where:
                    out.error(where, f"the segment already has the subnet {prefixes[s][0]} (from {prefixes[s][1]})",
                              "a segment has one subnet; remove one of the two")
                continue
            prefixes.setdefault(s, (cable.prefix, where))
    ports_of: dict[str, list[Port]] = {}
    for cable in cables:
        for port in (cable.a, cable.b):
            ports_of.setdefault(port[0], []).append(port)
    for node, ports in ports_of.items():
        if nodes[node].interfaces:
            rank = {name: k for k, name in enumerate(nodes[node].interfaces)}
            ports.sort(key=lambda p: rank.get(p[1], len(rank)))  # stable: link order after them
    for node, ports in ports_of.items():
        fields = unread.of(node)
        unsure.update(p for p in ports if "interfaces" in fields or f"interfaces.{p[1]}" in fields)
    wiring = Wiring(nodes, cables, segments, segment_of, explicit, prefixes, ports_of, unread,
                    {n for n in broken if n not in nodes}, unsure)
    loose.update(n for n, fields in unread.fields.items() if any(f.startswith("interfaces") for f in fields))
    wiring.doubt = _doubt(wiring, loose) | stray
    _check_cables(wiring, written, out)
    return wiring


def _doubt(wiring: Wiring, loose: set[str]) -> set[str]:
    """The nodes nothing may be concluded about from what they lack: those
    `loose` (a cable of theirs is unknown, or their interfaces), and every node
    on a segment with one of them on it, or a port whose address is unknown."""
    doubt = set(loose)
    for seg in wiring.segments:
        members = [p[0] for p in seg.ports] + seg.switches
        if any(p in wiring.unsure for p in seg.ports) or any(n in loose for n in members):
            doubt.update(members)
    return doubt


def _check_cables(wiring: Wiring, written: dict[str, NodeSpec], out: Problems) -> None:
    """One cable per interface; warnings for nodes and interfaces no cable uses."""
    used_by: dict[Port, str] = {}
    for cable in wiring.cables:
        lan_member = cable.where.startswith("lans.")
        for side, port in (("a", cable.a), ("b", cable.b)):
            if side == "b" and lan_member:
                continue  # the LAN's own switch port
            where = cable.where if lan_member else f"{cable.where}.{side}"
            if port in used_by:
                out.error(where, f"interface {port[0]}:{port[1]} is already used by {used_by[port]}",
                          "an interface takes one cable; use another interface or a switch")
            else:
                used_by[port] = cable.where
    for node, spec in written.items():
        if node in wiring.doubt:
            continue
        if node not in wiring.ports_of:
            out.warn(f"nodes.{node}", f"node '{node}' is not connected to anything",
                         "add a link or remove the node")
            continue
        for iface in spec.interfaces:
            if (node, iface) not in used_by and spec.kind != "switch":
                out.warn(f"nodes.{node}.interfaces.{iface}",
                         f"interface {node}:{iface} is declared but no link uses it",
                         f"add a link with end '{node}:{iface}'")


def _segments(nodes: dict[str, NodeSpec], cables: list[Cable],
           lan_of: dict[str, str | None]) -> tuple[list[Segment], dict[Port, int]]:
    parent: dict[object, object] = {}

    def key(port: Port) -> object:
        return ("switch", port[0]) if nodes[port[0]].kind == "switch" else port

    def find(x: object) -> object:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for cable in cables:
        parent[find(key(cable.a))] = find(key(cable.b))

    groups: dict[object, Segment] = {}
    seen: set[object] = set()      # ports and switches already placed in their segment
    for cable in cables:
        root = find(key(cable.a))
        seg = groups.get(root)
        if seg is None:
            seg = groups[root] = Segment()
        seg.cables.append(cable)
        if lan_of.get(cable.where) and seg.lan is None:
            seg.lan = lan_of[cable.where]
        for port in (cable.a, cable.b):
            member: object = port[0] if nodes[port[0]].kind == "switch" else port
            if member in seen:
                continue
            seen.add(member)
            if isinstance(member, str):
                seg.switches.append(member)
            else:
                seg.ports.append(port)
    segments = list(groups.values())
    segment_of = {p: s for s, seg in enumerate(segments) for p in seg.ports}
    return segments, segment_of
