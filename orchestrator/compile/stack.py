"""Hosts that run the project's own TCP/IP stack (`stack: user`).

Such a host hands its one interface to the user-space stack
(images/node/labnode/stack): the kernel keeps no address on it, a TAP and
the interface are joined by a bridge inside the node, and the stack answers
for the planned address with the planned MAC. What it may have follows from
that: one interface with an address, services the stack itself runs (http,
select as a TCP echo, udp-echo), no firewall or NAT (its packets never meet
the kernel's nftables). The checks are here, and the stack's part of the plan.
"""

from __future__ import annotations

from .. import contract
from ..model.topology import NodeSpec
from ..plan import PlanInterface, PlanRoute, PlanService, PlanStack
from .addressing import Addressing
from .problems import Problems
from .wiring import Wiring

#: the node's own devices: the TAP the stack opens, the bridge joining it to the link
TAP = "tap0"
BRIDGE = "br0"
APP_TYPES = tuple(contract.STACK_APP_TYPES)


def uses_user_stack(spec: NodeSpec) -> bool:
    return spec.stack is not None and spec.stack.user


def check_stacks(wiring: Wiring, addressing: Addressing, out: Problems) -> None:
    """Every `stack: user` node: a host, one interface with an address, what the stack can run."""
    for node, spec in wiring.nodes.items():
        if not uses_user_stack(spec):
            continue
        where = f"nodes.{node}"
        if spec.kind != "host":
            out.error(f"{where}.stack", f"only a host can run the user-space stack; {node} is a {spec.kind}",
                      "remove 'stack' here, or give it to a host")
            continue
        ports = wiring.ports_of.get(node, [])
        if node not in wiring.doubt:
            if not ports:
                out.error(f"{where}.stack", f"{node} runs the user-space stack but has no link",
                          "link it to a switch, a LAN or a router")
            elif len(ports) > 1:
                names = ", ".join(p[1] for p in ports)
                out.error(f"{where}.stack", f"the user-space stack drives one interface; {node} has "
                          f"{len(ports)} ({names})", "keep one link on this host, or leave 'stack' out")
            elif ports[0] not in addressing.address:
                out.error(f"{where}.stack", f"{node} runs the user-space stack but {ports[0][1]} has no address",
                          "give the interface an address, or a prefix to its link or LAN")
        for _, iface in ports:
            if iface in (TAP, BRIDGE):
                out.error(f"{where}.interfaces.{iface}", f"'{iface}' is the user-space stack's own device",
                          "name the interface eth0")
        for key in ("nat", "firewall"):
            if getattr(spec, key) is not None:
                out.error(f"{where}.{key}", f"a host on the user-space stack has no {key}: its packets never "
                          "meet the kernel's nftables", f"remove '{key}', or leave 'stack' out")
        for k, svc in enumerate(spec.services):
            if svc.type not in APP_TYPES:
                out.error(f"{where}.services[{k}].type", f"the user-space stack runs {', '.join(APP_TYPES)} "
                          f"(select is its TCP echo), not {svc.type}",
                          "run this service on a host with the kernel's stack")
            elif svc.bind != "0.0.0.0" and not any(str(addressing.address[p].ip) == svc.bind
                                                   for p in ports if p in addressing.address):
                out.error(f"{where}.services[{k}].bind", f"the user-space stack has one address; {svc.bind} "
                          "is not it (and it has no loopback)", "leave 'bind' out")


def plan_stack(spec: NodeSpec, interfaces: list[PlanInterface], routes: list[PlanRoute],
               services: list[PlanService]) -> PlanStack:
    """The stack's part of a host's plan (check_stacks found it sound)."""
    iface = interfaces[0]
    assert iface.address is not None and spec.stack is not None
    gateway = next((r.via for r in routes if r.to == "default"), None)
    loss: dict[str, object] = {}
    if spec.stack.loss is not None or spec.stack.loss_every is not None:
        loss = {"seed": spec.stack.seed, "direction": spec.stack.loss_direction}
        if spec.stack.loss_every is not None:
            loss["every"] = spec.stack.loss_every
        else:
            loss["p"] = round((spec.stack.loss or 0.0) / 100.0, 9)
    return PlanStack(iface=iface.name, tap=TAP, bridge=BRIDGE, mac=iface.mac, address=iface.address,
                     gateway=gateway, routes=[{"to": r.to, "via": r.via} for r in routes if r.to != "default"],
                     apps=services, loss=loss)


#: what the supervisor of a user-space stack host runs: the stack, which runs the apps
STACK_SERVICE = PlanService(name=contract.STACK_SERVICE, type="stack", args={"config": contract.STACK_CONFIG})
