"""The exercise of a lab file against its plan: each fault checked (its node,
route, address or rule exists, and breaking it makes sense there) and turned
into the two shell scripts that deal it and take it back, run in the node
(`sh -c`); the exercise's checks resolved like the expect: section's.

Every script ends by putting back the node's planned routes that it does not
break itself (deleting an address takes the kernel's routes through it away),
so that a fault is exactly what it says and nothing more.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..contract import STATUS_FILE
from ..errors import Problem, unknown_hint
from ..model.base import plain_message
from ..model.exercise import (
    MAX_FAULTS,
    AddressClash,
    ExerciseSpec,
    Fault,
    FirewallBlock,
    GatewayWrong,
    LinkDown,
    MaskWrong,
    RouteRemoved,
    RouteWrong,
    ServiceStopped,
    parse_item,
)
from ..plan import Check, Plan, PlanExercise, PlanFault, PlanInterface, PlanNode, PlanRoute

#: the nftables table of a firewall_block fault (one per fault: the number after it)
TABLE = "labnet_exercise"


def check_faults(raw: Any, kinds: Mapping[str, str]) -> tuple[list[Fault], list[Problem]]:
    """Parse every fault and check its node names (before the plan exists)."""
    if raw is None:
        return [], []
    try:
        spec = ExerciseSpec.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                out.append(Problem(f"exercise.{key}", f"unknown key '{key}'",
                                   "exercise takes: title, faults, checks, variants"))
            elif err["type"] == "too_long":
                out.append(Problem(f"exercise.{key}", f"more than {MAX_FAULTS} faults", "deal fewer"))
            else:
                out.append(Problem(f"exercise.{key}" if key else "exercise", plain_message(err),
                                   "exercise: {title: ..., faults: [...], checks: [...]}"))
        return [], out
    faults, problems = [], []
    for i, item in enumerate(spec.faults):
        options, found = parse_item(i, item)
        problems += found
        for fault in options:
            unknown = _known_node(fault, kinds)
            problems += unknown
            if not unknown:
                faults.append(fault)
    if not spec.faults:
        problems.append(Problem("exercise.faults", "an exercise needs at least one fault",
                                "e.g. - route_removed: {node: r2, to: 192.168.1.0/24}"))
    if not spec.checks:
        problems.append(Problem("exercise.checks", "the exercise has no checks here: lab test, lab class check "
                                "and lab class grade will need them from --checks FILE",
                                "keep them in a file the students do not see, or write them here",
                                severity="warning"))
    return faults, problems


def _known_node(fault: Fault, kinds: Mapping[str, str]) -> list[Problem]:
    if fault.spec.node not in kinds:
        return [Problem(f"{fault.where}.node", f"unknown node '{fault.spec.node}'",
                        unknown_hint(fault.spec.node, kinds, "nodes"))]
    if kinds[fault.spec.node] == "switch":
        return [Problem(f"{fault.where}.node", f"{fault.spec.node} is a switch: it has no addresses, "
                        "routes or rules to break", "break a host or a router")]
    return []


def _ip(*args: str) -> str:
    return shlex.join(["ip", *args])


def _restore(node: PlanNode, keep_out: set[str] | None = None) -> list[str]:
    """Commands putting the node's planned routes back (all but `keep_out`)."""
    lines = []
    for iface in node.interfaces:
        for r in node.routes_through(iface.name):
            if keep_out and r.to in keep_out:
                continue
            lines.append(_ip("route", "replace", r.to, "via", r.via, "dev", r.dev) + " 2>/dev/null || true")
    return lines


def _script(lines: list[str]) -> str:
    """The lines as one script that stops at the first command that fails
    (its message is the fault's error); restoring lines may fail quietly."""
    return "\n".join(["set -e", *lines])


def _route(node: PlanNode, to: str) -> PlanRoute | None:
    return next((r for i in node.interfaces for r in node.routes_through(i.name) if r.to == to), None)


def _interface(node: PlanNode, name: str | None, where: str, out: list[Problem]) -> PlanInterface | None:
    with_address = [i for i in node.interfaces if i.address]
    if name is None:
        if len(with_address) == 1:
            return with_address[0]
        names = ", ".join(i.name for i in with_address) or "none"
        out.append(Problem(f"{where}.iface" if with_address else f"{where}.node",
                           f"{node.name} has {len(with_address)} interfaces with an address ({names})",
                           "say which with 'iface: ...'" if with_address else "break a node with an address"))
        return None
    found = node.interface(name)
    if found is None or not found.address:
        out.append(Problem(f"{where}.iface", f"{node.name} has no interface '{name}' with an address",
                           unknown_hint(name, [i.name for i in with_address], "its interfaces")))
        return None
    return found


def _on_subnet(node: PlanNode, via: str) -> PlanInterface | None:
    addr = ipaddress.IPv4Address(via)
    for i in node.interfaces:
        if i.address and addr in ipaddress.IPv4Interface(i.address).network:
            return i
    return None


def _address(plan: Plan, ref: str, where: str, out: list[Problem]) -> str | None:
    try:
        return str(ipaddress.IPv4Address(ref))
    except ValueError:
        pass
    found, problem = plan.addresses_of(ref)
    if problem:
        out.append(Problem(where, problem, "name a node (or node.iface) that has an address, or write one"))
        return None
    return found[0]


def _other_hop(plan: Plan, node: PlanNode, ref: str, route: PlanRoute, where: str, same: str, hint: str,
               problems: list[Problem]) -> tuple[str, str] | None:
    """(address, interface) of the wrong next hop `ref` for `route`: on one of
    the node's subnets, and not the right one."""
    via = _address(plan, ref, where, problems)
    if via is None:
        return None
    on = _on_subnet(node, via)
    if via in {a.split("/")[0] for a in node.addresses()}:
        problems.append(Problem(where, f"{via} is {node.name}'s own address: no route can go through it", hint))
        return None
    if on is None or via == route.via:
        problems.append(Problem(where, f"{via} is " + (same if on else f"on none of {node.name}'s subnets"), hint))
        return None
    return via, on.name


def resolve_faults(faults: list[Fault], plan: Plan) -> tuple[list[PlanFault], list[Problem]]:
    out: list[PlanFault] = []
    problems: list[Problem] = []
    first: dict[str, Fault] = {}
    for fault in faults:
        other = first.setdefault(fault.spec.node, fault)
        if other.choice != fault.choice and {fault.kind, other.kind} & {"mask_wrong", "address_clash"}:
            problems.append(Problem(f"{fault.where}.node", f"{fault.spec.node} has a fault already "
                                    f"({other.where}); a fault of its address takes its routes with it and puts "
                                    "the planned ones back, so it must be the node's only fault",
                                    "break another node"))
    if problems:
        return [], problems
    for n, fault in enumerate(faults):
        node = plan.nodes[fault.spec.node]
        made = _resolve(n, fault, node, plan, problems)
        if made is not None:
            out.append(made)
    return out, problems


def _resolve(n: int, fault: Fault, node: PlanNode, plan: Plan, problems: list[Problem]) -> PlanFault | None:
    s, where, name = fault.spec, fault.where, node.name

    def made(title: str, deal: list[str], undo: list[str]) -> PlanFault:
        return PlanFault(where=where, kind=fault.kind, node=name, title=title, deal=_script(deal),
                         undo=_script(undo), choice=fault.choice, option=fault.option)

    if isinstance(s, (RouteRemoved, RouteWrong)):
        if node.routing == "dynamic":
            problems.append(Problem(f"{where}.node", f"{name} runs the routing daemon, which would put the route "
                                    "back at once", "break a router with static or computed routes"))
            return None
        route = _route(node, s.to)
        if route is None:
            known = sorted({r.to for i in node.interfaces for r in node.routes_through(i.name)})
            problems.append(Problem(f"{where}.to", f"{name} has no planned route to {s.to}",
                                    unknown_hint(s.to, known, "its routes")))
            return None
        back = [_ip("route", "replace", route.to, "via", route.via, "dev", route.dev)]
        if isinstance(s, RouteRemoved):
            return made(f"{name}: route to {s.to} removed", [_ip("route", "del", route.to)], back)
        hop = _other_hop(plan, node, s.via, route, f"{where}.via", "the route's own next hop",
                         f"name another neighbour of {name}", problems)
        if hop is None:
            return None
        return made(f"{name}: route to {s.to} via {hop[0]} (not {route.via})",
                    [_ip("route", "replace", route.to, "via", hop[0], "dev", hop[1])], back)
    if isinstance(s, GatewayWrong):
        route = _route(node, "default")
        if route is None:
            problems.append(Problem(f"{where}.node", f"{name} has no default route in the plan",
                                    "break a host with a gateway"))
            return None
        hop = _other_hop(plan, node, s.via, route, f"{where}.via", "its gateway already",
                         "write another address of its LAN", problems)
        if hop is None:
            return None
        return made(f"{name}: default gateway {hop[0]} (not {route.via})",
                    [_ip("route", "replace", "default", "via", hop[0], "dev", hop[1])],
                    [_ip("route", "replace", "default", "via", route.via, "dev", route.dev)])
    if isinstance(s, (MaskWrong, AddressClash)):
        iface = _interface(node, s.iface, where, problems)
        if iface is None or iface.address is None:
            return None
        mine = ipaddress.IPv4Interface(iface.address)
        if isinstance(s, MaskWrong):
            if s.prefix == mine.network.prefixlen:
                problems.append(Problem(f"{where}.prefix", f"{iface.address} has that prefix already",
                                        "write another prefix length"))
                return None
            wrong, title = f"{mine.ip}/{s.prefix}", f"{name}:{iface.name} is {mine.ip}/{s.prefix} (not /" \
                                                    f"{mine.network.prefixlen})"
        else:
            other = _address(plan, s.address, f"{where}.address", problems)
            if other is None:
                return None
            if other == str(mine.ip):
                problems.append(Problem(f"{where}.address", f"{other} is {name}'s own address",
                                        "name another node of its LAN"))
                return None
            wrong = f"{other}/{mine.network.prefixlen}"
            owner = plan.owners().get(other, (other, ""))[0]
            title = f"{name}:{iface.name} has {owner}'s address {other}"
        dev = iface.name
        # the old one goes first: an address added on the same subnet would be its secondary, and the
        # kernel deletes the secondaries with their primary
        return made(title,
                    [_ip("addr", "del", iface.address, "dev", dev), _ip("addr", "add", wrong, "dev", dev),
                     *_restore(node)],
                    [_ip("addr", "del", wrong, "dev", dev), _ip("addr", "add", iface.address, "dev", dev),
                     *_restore(node)])
    if isinstance(s, LinkDown):
        iface = node.interface(s.iface)
        if iface is None:
            problems.append(Problem(f"{where}.iface", f"{name} has no interface '{s.iface}'",
                                    unknown_hint(s.iface, [i.name for i in node.interfaces], "its interfaces")))
            return None
        return made(f"{name}:{s.iface} down", [_ip("link", "set", s.iface, "down")],
                    [_ip("link", "set", s.iface, "up"), *_restore(node)])
    if isinstance(s, FirewallBlock):
        dst = _address(plan, s.to, f"{where}.to", problems)
        src = _address(plan, s.from_, f"{where}.from", problems) if s.from_ else None
        if dst is None or (s.from_ and src is None):
            return None
        hook = "input" if dst in {a.split("/")[0] for a in node.addresses()} else "forward"
        match = (f"ip saddr {src} " if src else "") + f"ip daddr {dst}"
        if s.proto and s.proto != "icmp":
            proto, port = s.proto.split(":")
            match += f" {proto} dport {port}"
        elif s.proto == "icmp":
            match += " ip protocol icmp"
        table = f"{TABLE}{n}"
        what = f"{s.proto or 'all'} from {s.from_ or 'anyone'} to {s.to}"
        return made(f"{name}: a rule drops {what}",
                    [shlex.join(["nft", "add", "table", "inet", table]),
                     shlex.join(["nft", "add", "chain", "inet", table, hook,
                                 f"{{ type filter hook {hook} priority -10; policy accept; }}"]),
                     shlex.join(["nft", "add", "rule", "inet", table, hook, *match.split(), "drop"])],
                    [shlex.join(["nft", "delete", "table", "inet", table])])
    if isinstance(s, ServiceStopped):
        return _service_stopped(node, s, where, problems, made)
    # NatMissing
    if node.nat is None:
        problems.append(Problem(f"{where}.node", f"{name} does no NAT in this lab", "break a node with 'nat:'"))
        return None
    return made(f"{name}: NAT removed", ["nft delete table ip labnet_nat"],
                ["nft -f /etc/labnet/nftables.nft"])


def _service_stopped(node: PlanNode, s: ServiceStopped, where: str, problems: list[Problem],
                     made: Callable[[str, list[str], list[str]], PlanFault]) -> PlanFault | None:
    names = [svc.name for svc in node.services]
    if node.stack is not None:
        problems.append(Problem(f"{where}.node", f"{node.name} runs the user-space stack, which serves its "
                                "services itself", "stop a service of a node on the kernel's stack"))
        return None
    if s.service is None and len(names) != 1:
        problems.append(Problem(f"{where}.service" if names else f"{where}.node",
                                f"{node.name} runs {len(names)} services ({', '.join(names)})" if names
                                else f"{node.name} runs no service",
                                "say which with 'service: ...'" if names else "stop a node that runs a service"))
        return None
    name = s.service or names[0]
    if name not in names:
        problems.append(Problem(f"{where}.service", f"{node.name} runs no service '{name}'",
                                unknown_hint(name, names, "its services")))
        return None
    # the service's process group (it leads one: the supervisor starts each in its own session)
    pid = ("pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[\"services\"][sys.argv[2]]"
           f"[\"pid\"] or \"\")' {STATUS_FILE} {shlex.quote(name)})")
    said = shlex.quote(f"{name} is not running in {node.name}")
    running = f'test -n "$pid" || {{ echo {said} >&2; exit 1; }}'
    return made(f"{node.name}: service {name} frozen (SIGSTOP)",
                [pid, running, 'kill -s STOP -- "-$pid"'],
                [pid, 'test -z "$pid" || kill -s CONT -- "-$pid"'])


def plan_exercise(raw: Any, faults: list[Fault], checks: list[Check], plan: Plan) -> tuple[PlanExercise | None,
                                                                                           list[Problem]]:
    if raw is None:
        return None, []
    dealt, problems = resolve_faults(faults, plan)
    title = str(raw.get("title") or "") if isinstance(raw, dict) else ""
    return PlanExercise(title=title, faults=dealt, checks=checks), problems
