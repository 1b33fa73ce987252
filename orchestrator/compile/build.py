"""The Plan assembled from what the earlier steps computed.

Nothing here checks or derives from the lab file again: wiring, addressing,
routes, policies and computed routes arrive resolved; this step names
containers, MACs, labels and sysctls and puts every piece in its place.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path
from typing import Any

from .. import contract
from ..labels import container_name, node_labels
from ..model.specs import DynamicSpec, LimitsSpec, ServiceSpec
from ..model.topology import LabHeader, NodeSpec
from ..plan import (
    Plan,
    PlanDaemon,
    PlanEnd,
    PlanFirewall,
    PlanInterface,
    PlanLimits,
    PlanLink,
    PlanNat,
    PlanNode,
    PlanRoute,
    PlanRouteGroup,
    PlanSegment,
    PlanService,
    RoutingMode,
)
from .addressing import Addressing
from .routing import RouteGroup
from .stack import STACK_SERVICE, plan_stack, uses_user_stack
from .wiring import Wiring

BRIDGE = "br0"

#: dynamic routers run the link-state daemon under their supervisor
ROUTING_SERVICE = PlanService(name=contract.ROUTING_SERVICE, type="command", command=contract.ROUTING_ARGV)


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


_DEFAULT_LIMITS = PlanLimits()


def _limits(spec: LimitsSpec) -> PlanLimits:
    default = _DEFAULT_LIMITS
    return PlanLimits.model_construct(pids=spec.pids if spec.pids is not None else default.pids,
                                      memory=spec.memory if spec.memory is not None else default.memory,
                                      cpus=float(spec.cpus) if spec.cpus is not None else default.cpus)


def build_plan(header: LabHeader, name: str, source: str | None, wiring: Wiring, addressing: Addressing,
               routes: dict[str, list[PlanRoute]], computed: dict[str, list[RouteGroup]],
               modes: dict[str, RoutingMode],
               policies: dict[str, tuple[PlanNat | None, PlanFirewall | None]]) -> Plan:
    links = [PlanLink(id=n, a=PlanEnd(node=c.a[0], iface=c.a[1]), b=PlanEnd(node=c.b[0], iface=c.b[1]),
                      impair=c.impair.impairment() if c.impair else None)
             for n, c in enumerate(wiring.cables)]
    interfaces: dict[str, dict[str, PlanInterface]] = {n: {} for n in wiring.nodes}
    for link, cable in zip(links, wiring.cables):
        for end, other in ((link.a, link.b), (link.b, link.a)):
            declared = wiring.nodes[end.node].interfaces.get(end.iface)
            addr = addressing.address.get((end.node, end.iface))
            seg = wiring.segment_of.get((end.node, end.iface))
            interfaces[end.node][end.iface] = PlanInterface(
                name=end.iface,
                mac=(declared.mac if declared and declared.mac else make_mac(name, end.node, end.iface)),
                address=str(addr) if addr is not None else None,
                link=link.id,
                peer=str(other),
                cost=wiring.segments[seg].cost if seg is not None else cable.cost,
            )

    nodes: dict[str, PlanNode] = {}
    for node_name, spec in wiring.nodes.items():
        ifaces = [interfaces[node_name][iface] for _, iface in wiring.ports_of.get(node_name, ())]
        written = routes.get(node_name, [])
        mode = modes.get(node_name)
        nat, firewall = policies.get(node_name, (None, None))
        services = [_service(svc, source) for svc in spec.services]
        stack = None
        if uses_user_stack(spec):  # the stack runs the services: the supervisor runs the stack
            stack = plan_stack(spec, ifaces, written, services)
            services = [STACK_SERVICE.model_copy(deep=True)]
        nodes[node_name] = PlanNode(
            name=node_name,
            kind=spec.kind,
            container=container_name(name, node_name),
            hostname=node_name,
            image=spec.image,
            sysctls=_sysctls(spec.kind),
            limits=_limits(spec.limits.over(header.limits) if spec.limits else header.limits),
            labels=node_labels(name, node_name, spec.kind, source),
            interfaces=ifaces,
            routes=written,
            computed_routes=_groups(computed.get(node_name, []), {r.to for r in written}),
            bridge=BRIDGE if spec.kind == "switch" else None,
            routing=mode,
            daemon=_daemon(spec, ifaces, wiring, node_name, modes, header.dynamic) if mode == "dynamic" else None,
            services=services + ([ROUTING_SERVICE.model_copy()] if mode == "dynamic" else []),
            nat=nat,
            firewall=firewall,
            stack=stack,
        )
    segments = [
        PlanSegment(name=seg.name, prefix=str(addressing.prefix[s]) if s in addressing.prefix else None,
                    ports=[f"{p[0]}:{p[1]}" for p in seg.ports], switches=seg.switches, cost=seg.cost)
        for s, seg in enumerate(wiring.segments)
    ]
    return Plan(lab=name, description=header.description, source=source, routing=header.routing,
                nodes=nodes, links=links, segments=segments)


def _service(svc: ServiceSpec, source: str | None) -> PlanService:
    name = svc.effective_name
    port = svc.effective_port
    args: dict[str, Any] = {}
    files_from = files_to = None
    if svc.type == "dns":   # its port and zones are in its config (compile/dns.py)
        args = {"config": contract.DNS_CONFIG}
    elif svc.type == "dhcp":  # its pools are in its config (compile/dhcp.py)
        args = {"config": contract.DHCP_CONFIG}
    elif svc.type != "command":
        args = {"port": port, "bind": svc.bind}
    if svc.root is not None:
        files_to = f"{contract.SERVICE_ROOT}/{name}"
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
            out.append(PlanRouteGroup.model_construct(via=g.via, dev=g.dev, to=to))
    return out


def _daemon(spec: NodeSpec, interfaces: list[PlanInterface], wiring: Wiring, name: str,
            modes: dict[str, RoutingMode], options: DynamicSpec) -> PlanDaemon:
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
    else:  # compile made sure a dynamic router without router_id has an address
        router_id = next(i.address for i in interfaces if i.address).split("/")[0]
    return PlanDaemon(router_id=router_id, interfaces=routed, prefixes=prefixes,
                      hello_interval=options.hello_interval, dead_interval=options.dead_interval,
                      key=options.key)
