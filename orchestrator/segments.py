"""The lab as a graph: link ends with interface names, and L2 segments.

Shared by validation and planning so that both see the same wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import LinkSpec, NodeSpec

Port = tuple[str, str]  # (node, interface)


@dataclass(frozen=True)
class ResolvedLink:
    index: int  # position in the file's links list
    a: Port
    b: Port


def _next_free(used: set[str]) -> str:
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def resolve_links(nodes: dict[str, NodeSpec],
                  links: list[LinkSpec | None]) -> list[ResolvedLink]:
    """Give every link end an interface name.

    An end written as just `node` gets the node's first declared interface
    that no link names explicitly, else the lowest `ethN` that the node neither
    declares nor uses; links are taken in file order, so the result is
    predictable. Links to unknown nodes and broken links are left out.
    """
    used: dict[str, set[str]] = {name: set(spec.interfaces) for name, spec in nodes.items()}
    explicit: dict[str, set[str]] = {name: set() for name in nodes}
    for link in links:
        if link is None:
            continue
        for end in (link.a, link.b):
            if end.node in nodes and end.iface:
                explicit[end.node].add(end.iface)
    spare: dict[str, list[str]] = {
        name: [i for i in spec.interfaces if i not in explicit[name]]
        for name, spec in nodes.items()
    }
    for name in nodes:
        used[name] |= explicit[name]

    resolved = []
    for i, link in enumerate(links):
        if link is None or link.a.node not in nodes or link.b.node not in nodes:
            continue
        ports = []
        for end in (link.a, link.b):
            iface = end.iface
            if iface is None and spare[end.node]:
                iface = spare[end.node].pop(0)
            elif iface is None:
                iface = _next_free(used[end.node])
                used[end.node].add(iface)
            ports.append((end.node, iface))
        resolved.append(ResolvedLink(i, ports[0], ports[1]))
    return resolved


@dataclass
class Segment:
    """A broadcast domain: the L3 ports joined by cables and switches."""

    ports: list[Port] = field(default_factory=list)   # ports of hosts and routers
    switches: list[str] = field(default_factory=list)
    links: list[int] = field(default_factory=list)    # link indexes inside it


def l2_segments(nodes: dict[str, NodeSpec], links: list[ResolvedLink]) -> list[Segment]:
    """Group ports into segments: a link joins its two ends, a switch all its ports."""
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: object, y: object) -> None:
        parent[find(x)] = find(y)

    for link in links:
        for port in (link.a, link.b):
            node = port[0]
            key = ("switch", node) if nodes[node].kind == "switch" else port
            find(key)
        ka = ("switch", link.a[0]) if nodes[link.a[0]].kind == "switch" else link.a
        kb = ("switch", link.b[0]) if nodes[link.b[0]].kind == "switch" else link.b
        union(ka, kb)

    groups: dict[object, Segment] = {}
    order: list[object] = []
    for link in links:
        for port in (link.a, link.b):
            key = ("switch", port[0]) if nodes[port[0]].kind == "switch" else port
            root = find(key)
            if root not in groups:
                groups[root] = Segment()
                order.append(root)
            seg = groups[root]
            if nodes[port[0]].kind == "switch":
                if port[0] not in seg.switches:
                    seg.switches.append(port[0])
            elif port not in seg.ports:
                seg.ports.append(port)
        root = find(("switch", link.a[0]) if nodes[link.a[0]].kind == "switch" else link.a)
        groups[root].links.append(link.index)
    return [groups[r] for r in order]
