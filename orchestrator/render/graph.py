"""Drawing a lab: Plan (+ live link states) -> Graphviz dot / SVG, or Mermaid.

Hosts are boxes, routers circles, switches wide dark bars (a LAN segment,
labelled with the subnets on it). Every cable is labelled at both ends with
the interface name and address. For a running lab, a cable with an end that
is down (or missing) is drawn dashed and red; an impaired one says how.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import GraphError
from ..plan import Plan, PlanEnd, PlanInterface, PlanLink

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
    """'eth0' or 'eth0\\n192.168.1.10/24'."""
    spec = _iface(plan, node, iface)
    return f"{iface}\n{spec.address}" if spec and spec.address else iface


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
            label = name
            if kind == "switch":
                nets = switch_subnets(plan, name)
                label = f"{name}  {'  '.join(nets)}" if nets else name
            lines.append(f"  {_q(name)} [label={_q(label)}, {_DOT_NODE[kind]}, "
                         f"tooltip={_q(f'{name} ({kind})')}];")
        if kind == "router" and len(names) > 1:
            lines.append("  { rank=same; " + " ".join(_q(n) for n in names) + " }")
    for link in plan.links:
        a, b = _oriented(plan, link)
        attrs = [f"taillabel={_q(end_label(plan, a.node, a.iface))}",
                 f"headlabel={_q(end_label(plan, b.node, b.iface))}",
                 f"tooltip={_q(f'{a} -- {b}')}"]
        notes = [overlay.impairments[(e.node, e.iface)] for e in (a, b)
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
            lines.append(f'  {nid}(("{_mq(node.name)}"))')
        else:
            lines.append(f'  {nid}["{_mq(node.name)}"]')
    down: list[int] = []
    for n, link in enumerate(plan.links):
        a, b = _oriented(plan, link)
        label = f"{end_label(plan, a.node, a.iface)} — {end_label(plan, b.node, b.iface)}"
        notes = [overlay.impairments[(e.node, e.iface)] for e in (a, b)
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
