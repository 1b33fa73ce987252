"""Planning: Topology -> Plan, the fully resolved lab.

The plan names every interface, MAC, address, route, sysctl, label and
container, so that rendering and the backend only read it. It is plain data
(`lab plan` prints it) and a pure function of the topology.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from . import PROJECT
from .addressing import Addressing, assign
from .checks import plan_checks
from .expect import Check
from .model import DEFAULT_COST, NodeSpec, RouteSpec, Topology
from .policy import PlanFirewall, PlanNat, Resolver, resolve_firewall, resolve_nat
from .routing import RouteGroup, computed_routes
from .specs import DynamicSpec, ServiceSpec
from .wiring import Wiring, build_wiring

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
    cost: int = DEFAULT_COST        # routing cost of its segment


class PlanRoute(BaseModel):
    """A route written in the file (or the default gateway)."""

    to: str                          # "192.168.2.0/24" or "default"
    via: str
    dev: str
    origin: Literal["gateway", "static"]


class PlanRouteGroup(BaseModel):
    """Computed routes sharing a next hop: every subnet in `to` via `via`.

    Grouped because a large lab has thousands of routes per router; a list of
    subnets per next hop is compact and reads like "everything else via r2".
    """

    via: str
    dev: str
    to: list[str]


class PlanDaemon(BaseModel):
    """What the link-state routing daemon of a `dynamic` router needs."""

    router_id: str
    interfaces: list[dict[str, Any]]   # {name, cost, address} of routed interfaces
    prefixes: list[str]                # connected subnets it advertises
    hello_interval: float = 0.2
    dead_interval: float = 0.8
    key: str | None = None             # shared secret (HMAC of every packet)


class PlanService(BaseModel):
    """A service for the node's supervisor (see images/node/labnode/svconfig.py)."""

    name: str
    type: str
    port: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)   # become --flags of the service
    command: list[str] | None = None                     # type command
    files_from: str | None = None    # a folder of the lab copied into the node ...
    files_to: str | None = None      # ... here


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
    computed_routes: list[PlanRouteGroup] = Field(default_factory=list)
    bridge: str | None = None        # switches: the bridge all ports join
    routing: Literal["static", "computed", "dynamic"] | None = None   # routers
    daemon: PlanDaemon | None = None  # dynamic routers
    services: list[PlanService] = Field(default_factory=list)
    nat: PlanNat | None = None
    firewall: PlanFirewall | None = None

    def addresses(self) -> list[str]:
        return [i.address for i in self.interfaces if i.address]


class PlanSegment(BaseModel):
    name: str                        # "lans.lan1" or "links[3]"
    prefix: str | None
    ports: list[str]                 # "node:iface" of hosts and routers
    switches: list[str]
    cost: int


class PlanEnd(BaseModel):
    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


class PlanImpairment(BaseModel):
    """Applied to the packets leaving both ends of a link."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_kbit: int = 0


class PlanLink(BaseModel):
    id: int
    a: PlanEnd
    b: PlanEnd
    impair: PlanImpairment | None = None


class Plan(BaseModel):
    lab: str
    description: str = ""
    source: str | None = None
    routing: Literal["static", "computed", "dynamic"] = "static"
    nodes: dict[str, PlanNode]
    links: list[PlanLink]
    segments: list[PlanSegment] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)   # the resolved expect: section (orchestrator.expect)

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
        # answer every traceroute probe: a lab is for watching packets, not for rate limits
        "net.ipv4.icmp_ratelimit": "0",
        # equal-cost multipath sends replies back another way: no strict reverse-path check
        "net.ipv4.conf.all.rp_filter": "0",
        "net.ipv4.conf.default.rp_filter": "0",
        # Labs are IPv4; keep captures free of IPv6 chatter.
        "net.ipv6.conf.all.disable_ipv6": "1",
        "net.ipv6.conf.default.disable_ipv6": "1",
    }


def make_plan(topology: Topology, name: str | None = None, source: str | None = None) -> Plan:
    """Resolve a validated topology into a plan. `name` overrides the lab name."""
    lab = name or topology.name
    wiring, problems = build_wiring(topology.nodes, topology.lans, topology.links)
    addressing, errors, _ = assign(wiring, topology.pools)
    if problems or errors:  # load_lab reports these; a plan needs a valid topology
        raise ValueError(f"make_plan needs a validated topology: {(problems + errors)[0].format()}")
    nodes_spec = wiring.nodes

    links = [PlanLink(id=n, a=PlanEnd(node=c.a[0], iface=c.a[1]), b=PlanEnd(node=c.b[0], iface=c.b[1]),
                      impair=PlanImpairment(delay_ms=c.impair.delay or 0, jitter_ms=c.impair.jitter or 0,
                                            loss_pct=c.impair.loss or 0, rate_kbit=c.impair.rate or 0)
                      if c.impair else None)
             for n, c in enumerate(wiring.cables)]
    ports: dict[str, dict[str, PlanInterface]] = {n: {} for n in nodes_spec}
    for link, cable in zip(links, wiring.cables):
        for end, other in ((link.a, link.b), (link.b, link.a)):
            spec = nodes_spec[end.node].interfaces.get(end.iface)
            addr = addressing.address.get((end.node, end.iface))
            seg = wiring.segment_of.get((end.node, end.iface))
            ports[end.node][end.iface] = PlanInterface(
                name=end.iface,
                mac=(spec.mac if spec and spec.mac else make_mac(lab, end.node, end.iface)),
                address=str(addr) if addr is not None else None,
                link=link.id,
                peer=str(other),
                cost=wiring.segments[seg].cost if seg is not None else cable.cost,
            )

    modes = {n: (s.routing or topology.routing) for n, s in nodes_spec.items() if s.kind == "router"}
    computed = computed_routes(wiring, addressing, sorted(n for n, m in modes.items() if m == "computed"))

    resolver = Resolver(wiring, addressing)
    nodes: dict[str, PlanNode] = {}
    for node_name, spec in nodes_spec.items():
        # declared interfaces first, in file order, then those links added
        order = [i for i in spec.interfaces if i in ports[node_name]]
        order += [i for i in ports[node_name] if i not in order]
        interfaces = [ports[node_name][i] for i in order]
        labels = {**lab_labels(lab), LABEL_NODE: node_name, LABEL_KIND: spec.kind}
        if source:
            labels[LABEL_SOURCE] = source
        gateway = spec.gateway or addressing.gateway.get(node_name)
        routes = _routes(gateway, spec.routes, interfaces)
        groups = _groups(computed.get(node_name, []), {r.to for r in routes})
        mode = modes.get(node_name)
        nodes[node_name] = PlanNode(
            name=node_name,
            kind=spec.kind,
            container=container_name(lab, node_name),
            hostname=node_name,
            image=spec.image,
            sysctls=_sysctls(spec.kind),
            labels=labels,
            interfaces=interfaces,
            routes=routes,
            computed_routes=groups,
            bridge=BRIDGE if spec.kind == "switch" else None,
            routing=mode,
            daemon=(_daemon(spec, interfaces, wiring, addressing, node_name, modes, topology.dynamic)
                    if mode == "dynamic" else None),
            services=[_service(svc, source) for svc in spec.services]
            + ([ROUTING_SERVICE] if mode == "dynamic" else []),
            nat=resolve_nat(node_name, spec.nat, resolver, problems) if spec.nat else None,
            firewall=resolve_firewall(node_name, spec.firewall, resolver, problems) if spec.firewall else None,
        )
    if problems:
        raise ValueError(f"make_plan needs a validated topology: {problems[0].format()}")
    segments = [
        PlanSegment(name=seg.name, prefix=str(addressing.prefix[s]) if s in addressing.prefix else None,
                    ports=[f"{p[0]}:{p[1]}" for p in seg.ports], switches=seg.switches, cost=seg.cost)
        for s, seg in enumerate(wiring.segments)
    ]
    plan = Plan(lab=lab, description=topology.description, source=source, routing=topology.routing,
                nodes=nodes, links=links, segments=segments)
    plan.checks = plan_checks(topology.expect, plan)
    return plan


def _routes(gateway: ipaddress.IPv4Address | None, written: list[RouteSpec],
            interfaces: list[PlanInterface]) -> list[PlanRoute]:
    nets = [(i.name, ipaddress.IPv4Interface(i.address).network) for i in interfaces if i.address]

    def dev_for(via: ipaddress.IPv4Address) -> str:
        for name, net in nets:
            if via in net:
                return name
        raise AssertionError(f"validated next hop {via} is on no interface")  # validate.py guarantees

    routes = []
    if gateway is not None:
        routes.append(PlanRoute(to="default", via=str(gateway), dev=dev_for(gateway), origin="gateway"))
    for r in written:
        to = "default" if r.to.prefixlen == 0 else str(r.to)
        routes.append(PlanRoute(to=to, via=str(r.via), dev=dev_for(r.via), origin="static"))
    return routes


SERVICE_ROOT = "/srv"
ROUTING_CONFIG = "/etc/labnet/routing.json"
#: dynamic routers run the link-state daemon under their supervisor
ROUTING_SERVICE = PlanService(name="routed", type="command",
                              command=["python3", "-m", "labnode.routing", "--config", ROUTING_CONFIG])


def _service(svc: ServiceSpec, source: str | None) -> PlanService:
    name = svc.effective_name
    port = svc.effective_port
    args: dict[str, Any] = {}
    files_from = files_to = None
    if svc.type != "command":
        args = {"port": port, "bind": svc.bind}
    if svc.root is not None:
        files_to = f"{SERVICE_ROOT}/{name}"
        files_from = str((Path(source).parent / svc.root).resolve()) if source else svc.root
        args["root"] = files_to
    return PlanService(name=name, type=svc.type, port=port, args=args, command=svc.command,
                       files_from=files_from, files_to=files_to)


def _groups(computed: list[RouteGroup], written: set[str]) -> list[PlanRouteGroup]:
    """Computed route groups, less any subnet a written route already covers."""
    out = []
    for g in computed:
        to = [net for net in g.to if net not in written] if written else g.to
        if to:
            out.append(PlanRouteGroup(via=g.via, dev=g.dev, to=to))
    return out


def _daemon(spec: NodeSpec, interfaces: list[PlanInterface], wiring: Wiring,
            addressing: Addressing, name: str, modes: dict[str, str], options: DynamicSpec) -> PlanDaemon:
    """Routed interfaces: those facing another dynamic router."""
    routed = []
    prefixes = []
    for iface in interfaces:
        if not iface.address:
            continue
        prefixes.append(str(ipaddress.IPv4Interface(iface.address).network))
        seg = wiring.segments[wiring.segment_of[(name, iface.name)]]
        if any(p[0] != name and modes.get(p[0]) == "dynamic" for p in seg.ports):
            routed.append({"name": iface.name, "cost": iface.cost, "address": iface.address})
    if spec.router_id is not None:
        router_id = str(spec.router_id)
    else:  # validate.py makes sure a dynamic router without router_id has an address
        router_id = next(i.address for i in interfaces if i.address).split("/")[0]
    return PlanDaemon(router_id=router_id, interfaces=routed, prefixes=prefixes,
                      hello_interval=options.hello_interval, dead_interval=options.dead_interval,
                      key=options.key)
