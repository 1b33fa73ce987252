"""IPv6 in the plan (docs/ipv6.md): the addresses of compile/addressing6.py on
the plan's interfaces, gateways and written IPv6 routes, computed routes for
both families, a router-advertisement sender on every router port of a
SLAAC LAN, and the sysctls that switch IPv6 on in the nodes that have it.

A node without IPv6 keeps it switched off (captures free of IPv6 chatter).
"""

from __future__ import annotations

import ipaddress

from .. import contract
from ..model.topology import LabHeader, LanSpec, LinkSpec
from ..plan import Plan, PlanService
from .addressing6 import Addressing6, assign6
from .build import _groups
from .nexthops import resolve_routes
from .policy import Resolver, add_ipv6
from .problems import Problems
from .routing import computed_routes
from .wiring import Wiring


def _sysctls(kind: str, slaac: bool) -> dict[str, str]:
    on = {
        "net.ipv6.conf.all.disable_ipv6": "0",
        "net.ipv6.conf.default.disable_ipv6": "0",
        # no duplicate address detection: addresses usable at once (every address is the plan's, unique)
        "net.ipv6.conf.all.accept_dad": "0",
        "net.ipv6.conf.default.accept_dad": "0",
        # a link set down keeps its IPv6 addresses (as IPv4 ones are kept), so it comes back routable
        "net.ipv6.conf.all.keep_addr_on_down": "1",
        "net.ipv6.conf.default.keep_addr_on_down": "1",
    }
    if kind == "router":
        on |= {"net.ipv6.conf.all.forwarding": "1", "net.ipv6.conf.default.forwarding": "1"}
    elif slaac:
        # SLAAC as the plan predicts it: EUI-64 interface IDs, no temporary addresses
        on |= {"net.ipv6.conf.all.accept_ra": "1", "net.ipv6.conf.default.accept_ra": "1",
               "net.ipv6.conf.default.autoconf": "1", "net.ipv6.conf.default.addr_gen_mode": "0",
               "net.ipv6.conf.default.use_tempaddr": "0"}
    else:
        on |= {"net.ipv6.conf.all.accept_ra": "0", "net.ipv6.conf.default.accept_ra": "0"}
    return on


def plan_ipv6(plan: Plan, wiring: Wiring, header: LabHeader, lans: dict[str, LanSpec],
              links: list[LinkSpec | None], v4: dict[tuple[str, str], ipaddress.IPv4Interface],
              out: Problems) -> Addressing6:
    """Give the plan its IPv6 part (nothing when the lab has none)."""
    macs = {(n.name, i.name): i.mac for n in plan.nodes.values() for i in n.interfaces}
    found = assign6(wiring, header.ipv6, lans, links, v4, macs, plan.lab, out)
    if not found.address:
        return found
    for port, addr in found.address.items():
        pi = plan.nodes[port[0]].interface(port[1])
        if pi is not None:
            pi.address6, pi.slaac = str(addr), port in found.slaac
    for s, subnet in found.prefix.items():
        plan.segments[s].prefix6 = str(subnet)
    routes = resolve_routes(wiring, found, out, family=6)
    resolver = Resolver(wiring, found, family=6)
    computed_for = [n for n, node in plan.nodes.items() if node.routing == "computed" and n in found.nodes]
    computed = computed_routes(wiring, found, computed_for) if computed_for else {}
    for name, node in plan.nodes.items():
        if name not in found.nodes:
            continue
        if node.daemon is not None:     # the daemon floods and installs the IPv6 prefixes too
            mine = {i.name: i.address6 for i in node.interfaces if i.address6}
            node.daemon.prefixes6 = sorted({str(ipaddress.IPv6Interface(a).network) for a in mine.values()})
            for entry in node.daemon.interfaces:
                if entry["name"] in mine:
                    entry["address6"] = mine[entry["name"]]
        own = routes.get(name, [])
        node.routes = node.routes + own
        node.computed_routes = node.computed_routes + _groups(computed.get(name, []), {r.to for r in own})
        slaac = any(i.slaac for i in node.interfaces)
        node.sysctls = {**node.sysctls, **_sysctls(node.kind, slaac)}
        spec = wiring.nodes[name].firewall
        if node.firewall is not None and spec is not None:
            add_ipv6(node.firewall, spec, name, resolver, out)
        for svc in node.services:      # "every address": of both families (a dual-stack socket)
            if svc.args.get("bind") == "0.0.0.0":
                svc.args["bind"] = "::"
        for iface in node.interfaces:
            net = found.advertise.get((name, iface.name))
            if net is not None:
                node.services.append(PlanService(
                    name=f"ra-{iface.name}", type="ra",
                    args={"iface": iface.name, "prefix": str(net), "interval": contract.RA_INTERVAL}))
    return found
