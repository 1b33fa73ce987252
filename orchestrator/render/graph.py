"""Drawing a lab: Plan (+ live link states) -> Graphviz dot / SVG, Mermaid, or
a draw.io (diagrams.net) file.

Hosts are boxes, routers circles, switches wide dark bars (a LAN segment,
labelled with the subnets on it). A node's roles are written under its name:
its services (http:80), NAT, firewall. Every cable is labelled at both ends
with the interface name and address; on a busy node (BUSY_NODE links or more)
an end shows only the host part of its address (eth3 .1) and the cable its
subnet, so that the labels around the node do not pile up. A cable whose
routing cost is not the default says so (cost 50). For a running lab, a cable
with an end that is down (or missing) is drawn dashed and red; an impaired one
says how.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import GraphError
from ..model.common import DEFAULT_COST
from ..plan import Plan, PlanEnd, PlanInterface, PlanLink, PlanNode

#: the formats of draw(): name -> what it is
FORMATS = {"svg": "SVG (Graphviz)", "dot": "Graphviz dot source", "mermaid": "Mermaid text",
           "drawio": "a draw.io (diagrams.net) file: uncompressed mxGraph XML"}
#: from this many links on, a node's link ends are labelled short (see the module's docstring)
BUSY_NODE = 4

#: (node, interface) -> "up" / "down" / "missing"
LinkStates = dict[tuple[str, str], str]

# layout order: hosts on top, switches in the middle, routers below
_RANK = {"host": 0, "switch": 1, "router": 2}
_DOT_NODE = {
    "host": 'shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#4a6fa5"',
    "router": 'shape=circle, style=filled, fillcolor="#fde9c9", color="#b7791f", width=0.9, fixedsize=true',
    "switch": 'shape=box, style=filled, fillcolor="#3b4252", fontcolor=white, color="#3b4252", '
              'height=0.3, width=2.6, fontsize=11',
}


@dataclass
class Overlay:
    """What is live about a running lab: link end states and impairments."""

    states: LinkStates = field(default_factory=dict)
    impairments: dict[tuple[str, str], str] = field(default_factory=dict)

    def link_down(self, link: PlanLink) -> bool:
        return any(self.states.get((e.node, e.iface), "up") != "up" for e in (link.a, link.b))


def _iface(plan: Plan, node: str, iface: str) -> PlanInterface | None:
    return plan.nodes[node].interface(iface)


def end_label(plan: Plan, node: str, iface: str) -> str:
    """'eth0' or 'eth0\\n192.168.1.10/24' (and its IPv6 address below, SLAAC ones
    marked); on a busy node 'eth0 .10' (host part only)."""
    spec = _iface(plan, node, iface)
    if not (spec and (spec.address or spec.address6)):
        return iface
    if len(plan.nodes[node].interfaces) >= BUSY_NODE and spec.address:
        return f"{iface} {host_part(spec.address)}"
    lines = [iface, *([spec.address] if spec.address else [])]
    if spec.address6:
        lines.append(spec.address6 + (" (SLAAC)" if spec.slaac else ""))
    return "\n".join(lines)


def host_part(address: str) -> str:
    """'10.0.12.1/30' -> '.1', '172.16.3.5/16' -> '.3.5': the octets past the prefix's whole ones."""
    iface = ipaddress.IPv4Interface(address)
    octets = str(iface.ip).split(".")
    return "." + ".".join(octets[min(iface.network.prefixlen // 8, 3):])


def link_notes(plan: Plan, link: PlanLink) -> list[str]:
    """What a cable's middle says besides its state: its subnet when an end is
    labelled short, its cost when it is not the default."""
    notes = []
    for end in (link.a, link.b):
        spec = _iface(plan, end.node, end.iface)
        if spec and spec.address and len(plan.nodes[end.node].interfaces) >= BUSY_NODE:
            notes.append(str(ipaddress.IPv4Interface(spec.address).network))
            break
    costs = {spec.cost for e in (link.a, link.b) if (spec := _iface(plan, e.node, e.iface))}
    if costs - {DEFAULT_COST}:
        notes.append(f"cost {max(costs)}")
    return notes


def roles(node: PlanNode) -> list[str]:
    """What a node does besides forwarding: ['http:80', 'routed', 'NAT', 'firewall']
    (a service is its type and port, a command service its name)."""
    found = [f"{svc.type}:{svc.port}" if svc.port else svc.name if svc.type == "command" else svc.type
             for svc in node.services]
    if node.nat is not None:
        found.append("NAT")
    if node.firewall is not None and (node.firewall.input or node.firewall.forward):
        found.append("firewall")
    return found


def switch_subnets(plan: Plan, switch: str) -> list[str]:
    """The subnets of the L3 ports behind a switch (through other switches too)."""
    seen, todo, nets = {switch}, [switch], []
    while todo:
        sw = todo.pop()
        for iface in plan.nodes[sw].interfaces:
            peer_node, _, peer_if = iface.peer.partition(":")
            peer = plan.nodes.get(peer_node)
            if peer is None:
                continue
            if peer.kind == "switch":
                if peer_node not in seen:
                    seen.add(peer_node)
                    todo.append(peer_node)
                continue
            spec = _iface(plan, peer_node, peer_if)
            if spec and spec.address:
                net = str(ipaddress.IPv4Interface(spec.address).network)
                if net not in nets:
                    nets.append(net)
    return nets


def _oriented(plan: Plan, link: PlanLink) -> tuple[PlanEnd, PlanEnd]:
    """The link's ends ordered top to bottom (host, switch, router)."""
    a, b = link.a, link.b
    if _RANK[plan.nodes[a.node].kind] > _RANK[plan.nodes[b.node].kind]:
        a, b = b, a
    return a, b


def _q(text: str) -> str:
    """A dot string literal; newlines become centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(plan: Plan, overlay: Overlay | None = None) -> str:
    overlay = overlay or Overlay()
    title = plan.lab + (f": {plan.description}" if plan.description else "")
    lines = [
        f"graph {_q(plan.lab)} {{",
        f"  graph [label={_q(title)}, labelloc=t, fontname=Helvetica, fontsize=14, "
        "rankdir=TB, nodesep=0.8, ranksep=0.9, splines=true];",
        "  node [fontname=Helvetica, fontsize=12];",
        '  edge [fontname=Helvetica, fontsize=9, color="#555555", labelfontsize=9, labeldistance=2.2];',
    ]
    for kind in ("host", "switch", "router"):
        names = [n.name for n in plan.nodes.values() if n.kind == kind]
        for name in names:
            label, style, jobs = name, _DOT_NODE[kind], roles(plan.nodes[name])
            if kind == "switch":
                nets = switch_subnets(plan, name)
                label = f"{name}  {'  '.join(nets)}" if nets else name
            elif jobs:
                label = f"{name}\n{' '.join(jobs)}"
                style = style.replace("fixedsize=true", "fixedsize=false")   # room for the roles
            lines.append(f"  {_q(name)} [label={_q(label)}, {style}, "
                         f"tooltip={_q(f'{name} ({kind})')}];")
        if kind == "router" and len(names) > 1:
            lines.append("  { rank=same; " + " ".join(_q(n) for n in names) + " }")
    for link in plan.links:
        a, b = _oriented(plan, link)
        attrs = [f"taillabel={_q(end_label(plan, a.node, a.iface))}",
                 f"headlabel={_q(end_label(plan, b.node, b.iface))}",
                 f"tooltip={_q(f'{a} -- {b}')}"]
        notes = link_notes(plan, link) + [overlay.impairments[(e.node, e.iface)] for e in (a, b)
                                          if (e.node, e.iface) in overlay.impairments]
        if overlay.link_down(link):
            attrs += ['style=dashed', 'color="#d62728"', 'fontcolor="#d62728"', "penwidth=2"]
            notes.insert(0, "DOWN")
        if notes:
            attrs.append(f"label={_q(chr(10).join(notes))}")
        lines.append(f"  {_q(a.node)} -- {_q(b.node)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_binary() -> str:
    found = shutil.which("dot")
    if not found:
        raise GraphError("Graphviz's 'dot' program is not installed, so no SVG can be drawn "
                         "(apt-get install graphviz, or use --mermaid / --dot for text output)")
    return found


def render_svg(dot_source: str, timeout: float = 60) -> str:
    """Run Graphviz over dot source; returns the SVG text."""
    proc = subprocess.run([dot_binary(), "-Tsvg"], input=dot_source, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GraphError(f"dot failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _mid(name: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _mq(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def to_mermaid(plan: Plan, overlay: Overlay | None = None) -> str:
    overlay = overlay or Overlay()
    lines = ["flowchart TB"]
    for node in plan.nodes.values():
        nid = _mid(node.name)
        if node.kind == "switch":
            nets = switch_subnets(plan, node.name)
            label = node.name + (f"<br/>{' '.join(nets)}" if nets else "")
            lines.append(f'  {nid}[["{_mq(label)}"]]')
        elif node.kind == "router":
            lines.append(f'  {nid}(("{_mq(chr(10).join([node.name, *roles(node)]))}"))')
        else:
            lines.append(f'  {nid}["{_mq(chr(10).join([node.name, *roles(node)]))}"]')
    down: list[int] = []
    for n, link in enumerate(plan.links):
        a, b = _oriented(plan, link)
        label = f"{end_label(plan, a.node, a.iface)} — {end_label(plan, b.node, b.iface)}"
        notes = link_notes(plan, link) + [overlay.impairments[(e.node, e.iface)] for e in (a, b)
                                          if (e.node, e.iface) in overlay.impairments]
        if overlay.link_down(link):
            notes.insert(0, "DOWN")
            down.append(n)
        if notes:
            label += "\n" + ", ".join(notes)
        arrow = "-.-" if n in down else "---"
        lines.append(f'  {_mid(a.node)} {arrow}|"{_mq(label)}"| {_mid(b.node)}')
    lines.append("  classDef host fill:#e8f0fe,stroke:#4a6fa5")
    lines.append("  classDef router fill:#fde9c9,stroke:#b7791f")
    lines.append("  classDef switch fill:#3b4252,stroke:#3b4252,color:#ffffff")
    for kind in ("host", "router", "switch"):
        ids = [_mid(n.name) for n in plan.nodes.values() if n.kind == kind]
        if ids:
            lines.append(f"  class {','.join(ids)} {kind}")
    for n in down:
        lines.append(f"  linkStyle {n} stroke:#d62728,stroke-width:2px")
    return "\n".join(lines) + "\n"


def draw(plan: Plan, overlay: Overlay | None, fmt: str) -> str:
    """The drawing of `plan` in one of FORMATS."""
    if fmt == "mermaid":
        return to_mermaid(plan, overlay)
    if fmt == "drawio":
        return to_drawio(plan, overlay)
    if fmt not in FORMATS:
        raise GraphError(f"unknown graph format {fmt!r} (one of: {', '.join(FORMATS)})")
    source = to_dot(plan, overlay)
    return source if fmt == "dot" else render_svg(source)


_DRAWIO_STYLE = {
    "host": "rounded=1;whiteSpace=wrap;html=1;fillColor=#e8f0fe;strokeColor=#4a6fa5;",
    "router": "ellipse;aspect=fixed;whiteSpace=wrap;html=1;fillColor=#fde9c9;strokeColor=#b7791f;",
    "switch": "rounded=0;whiteSpace=wrap;html=1;fillColor=#3b4252;strokeColor=#3b4252;fontColor=#ffffff;",
}
_DRAWIO_SIZE = {"host": (110, 50), "router": (80, 80), "switch": (220, 30)}


def to_drawio(plan: Plan, overlay: Overlay | None = None) -> str:
    """A draw.io file (uncompressed mxGraph XML): hosts in the top row, switches
    in the middle, routers below, laid out on a grid that draw.io's own
    Arrange > Layout can tidy; cables labelled like to_dot's."""
    from xml.sax.saxutils import quoteattr
    overlay = overlay or Overlay()
    cells = ['<mxCell id="0"/>', '<mxCell id="1" parent="0"/>']
    ids = {name: f"node-{n}" for n, name in enumerate(plan.nodes)}
    for row, kind in enumerate(("host", "switch", "router")):
        names = [n.name for n in plan.nodes.values() if n.kind == kind]
        width, height = _DRAWIO_SIZE[kind]
        for col, name in enumerate(names):
            lines = [name, *(switch_subnets(plan, name) if kind == "switch" else roles(plan.nodes[name]))]
            label = "<br>".join(_html(line) for line in lines)
            h = height + (14 * (len(lines) - 1) if kind != "switch" else 0)
            cells.append(f'<mxCell id="{ids[name]}" value={quoteattr(label)} style="{_DRAWIO_STYLE[kind]}" '
                         f'vertex="1" parent="1"><mxGeometry x="{40 + col * (width + 80)}" y="{40 + row * 200}" '
                         f'width="{width}" height="{h}" as="geometry"/></mxCell>')
    for n, link in enumerate(plan.links):
        a, b = _oriented(plan, link)
        notes = link_notes(plan, link) + [overlay.impairments[(e.node, e.iface)] for e in (a, b)
                                          if (e.node, e.iface) in overlay.impairments]
        style = "endArrow=none;html=1;rounded=0;"
        if overlay.link_down(link):
            notes.insert(0, "DOWN")
            style += "dashed=1;strokeColor=#d62728;fontColor=#d62728;strokeWidth=2;"
        edge = f"link-{n}"
        cells.append(f'<mxCell id="{edge}" value={quoteattr("<br>".join(_html(x) for x in notes))} '
                     f'style="{style}" edge="1" parent="1" source="{ids[a.node]}" target="{ids[b.node]}">'
                     '<mxGeometry relative="1" as="geometry"/></mxCell>')
        for end, x in ((a, -0.7), (b, 0.7)):   # the interface labels near each end of the cable
            text = "<br>".join(_html(t) for t in end_label(plan, end.node, end.iface).split("\n"))
            cells.append(f'<mxCell id="{edge}-{end.node}" value={quoteattr(text)} '
                         'style="edgeLabel;html=1;align=center;verticalAlign=middle;fontSize=9;" '
                         f'vertex="1" connectable="0" parent="{edge}"><mxGeometry x="{x}" relative="1" '
                         'as="geometry"><mxPoint as="offset"/></mxGeometry></mxCell>')
    title = quoteattr(plan.lab)
    body = "\n        ".join(cells)
    return (f'<mxfile host="labnet" type="device">\n  <diagram id="{_mid(plan.lab)}" name={title}>\n'
            '    <mxGraphModel grid="1" gridSize="10" page="0">\n      <root>\n'
            f"        {body}\n      </root>\n    </mxGraphModel>\n  </diagram>\n</mxfile>\n")


def _html(text: str) -> str:
    """Text for a draw.io label (html=1): its own &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
