"""Planning: Topology -> Plan, the fully resolved lab.

The plan names every interface, MAC, address, route, sysctl, label and
container, so that rendering and the backend only read it. It is plain data
(`lab plan` prints it) and a pure function of the topology.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Literal

from pydantic import BaseModel, Field

from . import PROJECT
from .model import NodeSpec, Topology
from .segments import resolve_links

BRIDGE = "br0"

# Labels on every Docker object we create; lookups go through these.
LABEL_PROJECT = f"{PROJECT}.project"
LABEL_LAB = f"{PROJECT}.lab"
LABEL_NODE = f"{PROJECT}.node"
LABEL_KIND = f"{PROJECT}.kind"
LABEL_SOURCE = f"{PROJECT}.source"


class PlanInterface(BaseModel):
    name: str
    mac: str
    address: str | None = None      # "192.168.1.10/24"
    link: int                       # index into Plan.links
    peer: str                       # "s1:eth0"


class PlanRoute(BaseModel):
    to: str                          # "192.168.2.0/24" or "default"
    via: str
    dev: str
    origin: Literal["gateway", "static"]


class PlanNode(BaseModel):
    name: str
    kind: Literal["host", "switch", "router"]
    container: str
    hostname: str
    image: str | None = None         # None: the project's node image
    sysctls: dict[str, str]
    labels: dict[str, str]
    interfaces: list[PlanInterface] = Field(default_factory=list)
    routes: list[PlanRoute] = Field(default_factory=list)
    bridge: str | None = None        # switches: the bridge all ports join

    def addresses(self) -> list[str]:
        return [i.address for i in self.interfaces if i.address]


class PlanEnd(BaseModel):
    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


class PlanLink(BaseModel):
    id: int
    a: PlanEnd
    b: PlanEnd


class Plan(BaseModel):
    lab: str
    description: str = ""
    source: str | None = None
    nodes: dict[str, PlanNode]
    links: list[PlanLink]

    def hosts_entries(self) -> list[tuple[str, str]]:
        """(address, name) for /etc/hosts: a node's first address by its name."""
        out = []
        for node in self.nodes.values():
            addrs = node.addresses()
            if addrs:
                out.append((addrs[0].split("/")[0], node.name))
        return out


def container_name(lab: str, node: str) -> str:
    return f"{PROJECT}-{lab}-{node}"


def lab_labels(lab: str) -> dict[str, str]:
    return {LABEL_PROJECT: PROJECT, LABEL_LAB: lab}


def make_mac(lab: str, node: str, iface: str) -> str:
    """A stable, locally administered unicast MAC for a lab interface."""
    digest = hashlib.sha256(f"{lab}/{node}/{iface}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _sysctls(kind: str) -> dict[str, str]:
    return {
        "net.ipv4.ip_forward": "1" if kind == "router" else "0",
        # Labs are IPv4; keep captures free of IPv6 chatter.
        "net.ipv6.conf.all.disable_ipv6": "1",
        "net.ipv6.conf.default.disable_ipv6": "1",
    }


def make_plan(topology: Topology, name: str | None = None, source: str | None = None) -> Plan:
    """Resolve a validated topology into a plan. `name` overrides the lab name."""
    lab = name or topology.name
    resolved = resolve_links(topology.nodes, topology.links)

    links = [
        PlanLink(id=n, a=PlanEnd(node=lk.a[0], iface=lk.a[1]), b=PlanEnd(node=lk.b[0], iface=lk.b[1]))
        for n, lk in enumerate(resolved)
    ]
    ports: dict[str, dict[str, PlanInterface]] = {n: {} for n in topology.nodes}
    for link in links:
        for end, other in ((link.a, link.b), (link.b, link.a)):
            spec = topology.nodes[end.node].interfaces.get(end.iface)
            ports[end.node][end.iface] = PlanInterface(
                name=end.iface,
                mac=(spec.mac if spec and spec.mac else make_mac(lab, end.node, end.iface)),
                address=str(spec.address) if spec and spec.address else None,
                link=link.id,
                peer=str(other),
            )

    nodes: dict[str, PlanNode] = {}
    for node_name, spec in topology.nodes.items():
        # declared interfaces first, in file order, then those links added
        order = [i for i in spec.interfaces if i in ports[node_name]]
        order += [i for i in ports[node_name] if i not in order]
        interfaces = [ports[node_name][i] for i in order]
        labels = {**lab_labels(lab), LABEL_NODE: node_name, LABEL_KIND: spec.kind}
        if source:
            labels[LABEL_SOURCE] = source
        nodes[node_name] = PlanNode(
            name=node_name,
            kind=spec.kind,
            container=container_name(lab, node_name),
            hostname=node_name,
            image=spec.image,
            sysctls=_sysctls(spec.kind),
            labels=labels,
            interfaces=interfaces,
            routes=_routes(spec, interfaces),
            bridge=BRIDGE if spec.kind == "switch" else None,
        )
    return Plan(lab=lab, description=topology.description, source=source, nodes=nodes, links=links)


def _routes(spec: NodeSpec, interfaces: list[PlanInterface]) -> list[PlanRoute]:
    nets = [(i.name, ipaddress.IPv4Interface(i.address).network) for i in interfaces if i.address]

    def dev_for(via: ipaddress.IPv4Address) -> str:
        for name, net in nets:
            if via in net:
                return name
        raise AssertionError(f"validated next hop {via} is on no interface")  # validate.py guarantees

    routes = []
    if spec.gateway is not None:
        routes.append(PlanRoute(to="default", via=str(spec.gateway), dev=dev_for(spec.gateway),
                                origin="gateway"))
    for r in spec.routes:
        to = "default" if r.to.prefixlen == 0 else str(r.to)
        routes.append(PlanRoute(to=to, via=str(r.via), dev=dev_for(r.via), origin="static"))
    return routes
