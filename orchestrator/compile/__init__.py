"""Compile: a parsed lab -> its Plan, or every problem in it, in one pass.

Validation *is* compilation: each step below computes its part once, reports
what is wrong with it (with its place in the file) and hands the result on;
no later stage re-checks or re-derives anything from the lab file.

    nodes       names, kinds, interface names, services, link ends    (nodes.py)
    wiring      LANs expanded, cable ends named, segments               (wiring.py)
    addressing  subnets and addresses, inferred gateways                (addressing.py)
    nexthops    gateways and written routes: on a subnet, reachable     (nexthops.py)
    policy      NAT and firewall names resolved to addresses            (policy.py)
    stack       hosts on the user-space TCP/IP stack: what they may have (stack.py)
    checks      the expect: section's names checked                     (checks.py)
    routing     computed routes: Dijkstra over the router graph         (routing.py)
    build       the Plan assembled                                      (build.py)
    dhcp        pools, relays and the hosts that ask                    (dhcp.py)
    dns         the dns services' zones and the lab's resolver          (dns.py)
    checks      the expectations resolved into the plan's checks        (checks.py)

Nothing is created and nothing is rendered here.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import Problem, TopologyError
from ..model.load import ParsedLab, parse_text, parse_where, read_lab
from ..plan import Plan, RoutingMode
from . import checks as expectations
from .addressing import Addressing, assign
from .build import build_plan
from .dhcp import plan_dhcp
from .dns import choose_resolver, plan_dns
from .exercise import check_faults, plan_exercise
from .ipv6 import plan_ipv6
from .nexthops import resolve_routes
from .nodes import check_images, check_nodes, check_service_folders
from .policy import resolve_policies
from .problems import Problems
from .routing import computed_routes
from .stack import check_stacks, uses_user_stack
from .wiring import Wiring, build_wiring


@dataclass
class Compiled:
    """What a compile gives: the plan, or every error; and the warnings."""

    source: str
    plan: Plan | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def result(self) -> Plan:
        """The plan; TopologyError (with every error) if there is none."""
        if self.plan is None or self.errors:
            raise TopologyError(self.source, self.errors)
        return self.plan


#: asks whether an image is on the engine: True, False, or None (no engine to ask)
ImageCheck = Callable[[str], bool | str | None]   # see nodes.check_images


def compile_lab(lab: ParsedLab, name: str | None = None, source: str | None = None,
                image_present: ImageCheck | None = None) -> Compiled:
    """The plan of a parsed lab (named `name`, else as the file says), or its problems.

    `source` (the lab file's path) goes into the nodes' labels and locates the
    folders services serve; without it (golden tests) those stay relative."""
    with _no_gc_pauses():
        return _compile(lab, name, source, image_present)


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """A compile makes millions of small objects and no garbage cycles worth
    hunting: the cyclic collector's passes over them cost a large lab a fifth
    of its time. It runs again (if it ran) once the plan is made."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _compile(lab: ParsedLab, name: str | None, source: str | None, image_present: ImageCheck | None) -> Compiled:
    out = Problems()
    out.add(lab.problems)
    if lab.header is None:
        return _finish(lab, None, out)
    header = lab.header
    check_nodes(lab, out)
    kinds = {n: s.kind for n, s in lab.nodes.items()}
    if lab.unread.sections & {"links", "lans"}:
        # the cabling did not validate: only what each node says of itself can be checked
        found, problems = expectations.check_expectations(header.expect, kinds, None, lab.name_only)
        out.add(problems)
        check_service_folders(lab, out)
        if image_present is not None:
            check_images(lab, out, image_present)
        return _finish(lab, None, out)
    wiring = build_wiring(lab.nodes, lab.lans, lab.links, lab.broken, out, lab.unread)
    addressing = assign(wiring, header.pools, out)
    routes = resolve_routes(wiring, addressing, out)
    policies = resolve_policies(wiring, addressing, out)
    modes: dict[str, RoutingMode] = {n: (s.routing or header.routing)
                                     for n, s in wiring.nodes.items() if s.kind == "router"}
    check_router_ids(wiring, addressing, modes, out)
    check_binds(wiring, addressing, out)
    check_stacks(wiring, addressing, out)
    interfaces: dict[str, set[str]] = {n: {i for _, i in ports} for n, ports in wiring.ports_of.items()}
    # no verdict on what names a node known by name only, or one whose cabling is not all known
    found, problems = expectations.check_expectations(header.expect, kinds, interfaces,
                                                      lab.name_only | wiring.doubt)
    out.add(problems)
    faults, problems = check_faults(header.exercise, kinds)
    out.add(problems)
    raw_checks = (header.exercise or {}).get("checks", []) if isinstance(header.exercise, dict) else []
    raw_checks = raw_checks if isinstance(raw_checks, list) else []   # its shape is said by check_faults
    exercise_checks, problems = expectations.check_expectations(raw_checks, kinds, interfaces,
                                                                lab.name_only | wiring.doubt, "exercise.checks")
    out.add(problems)
    check_service_folders(lab, out)
    if image_present is not None:
        check_images(lab, out, image_present)
    if out:
        return _finish(lab, None, out)

    computed = computed_routes(wiring, addressing, sorted(n for n, m in modes.items() if m == "computed"),
                               parallel=True)
    plan = build_plan(header, name or lab.name or "", source, wiring, addressing, routes, computed, modes,
                      policies)
    check_macs(plan, out)
    plan_ipv6(plan, wiring, header, lab.lans, lab.links, addressing.address, out)
    plan.resolver = choose_resolver(plan, wiring.nodes)   # what DHCP pools name as DNS server
    plan_dhcp(plan, wiring.nodes, out)    # before DNS: a reserved host's address is in the lab's zone
    plan_dns(plan, wiring.nodes, out)
    plan.checks, problems = expectations.resolve(found, plan)
    out.add(problems)
    if header.exercise is not None:
        checks, problems = expectations.resolve(exercise_checks, plan)
        out.add(problems)
        plan.exercise, problems = plan_exercise(header.exercise, faults, checks, plan)
        out.add(problems)
        if plan.exercise is not None:
            plan.exercise.seed, plan.exercise.student = lab.seed, lab.student
            plan.exercise.variant = lab.drawn.encode() if lab.drawn else {}
    return _finish(lab, None if out else plan, out)


def check_macs(plan: Plan, out: Problems) -> None:
    """A MAC written in the file may happen to be one made for another
    interface (made MACs are a hash of the names): every MAC must be unique."""
    owner: dict[str, str] = {}
    for node in plan.nodes.values():
        for iface in node.interfaces:
            other = owner.setdefault(iface.mac, f"{node.name}.{iface.name}")
            if other != f"{node.name}.{iface.name}":
                out.error(f"nodes.{node.name}.interfaces.{iface.name}.mac", f"MAC {iface.mac} is also {other}'s",
                          "write another 'mac' on one of them")


def check_binds(wiring: Wiring, addressing: Addressing, out: Problems) -> None:
    """A service binds to every address (0.0.0.0), the loopback, or an address
    the node has; any other bind would fail in the node, late and obscurely."""
    for node, spec in wiring.nodes.items():
        if not spec.services:
            continue
        if node in wiring.doubt or uses_user_stack(spec):
            continue    # its addresses are not all known; a user-space stack's are checked in check_stacks
        mine = {str(addressing.address[p].ip) for p in wiring.ports_of.get(node, ()) if p in addressing.address}
        for k, svc in enumerate(spec.services):
            if svc.type == "command" or svc.bind == "0.0.0.0" or svc.bind.startswith("127.") or svc.bind in mine:
                continue
            has = ", ".join(sorted(mine)) or "none"
            out.error(f"nodes.{node}.services[{k}].bind", f"{node} has no address {svc.bind} (its addresses: {has})",
                      "bind to one of its addresses, or leave 'bind' out to listen on all of them")


def check_router_ids(wiring: Wiring, addressing: Addressing, modes: dict[str, RoutingMode],
                     out: Problems) -> None:
    """Each router running the daemon needs an id (written, or its first
    address) of its own, and 0.0.0.0 is no id."""
    if "routing" in wiring.unread.sections:
        return   # which routers run the daemon is not known
    owner: dict[str, str] = {}
    for node, mode in modes.items():
        if mode != "dynamic" or wiring.unread.of(node) & {"routing", "router_id"}:
            continue
        spec = wiring.nodes[node]
        where = f"nodes.{node}.router_id"
        if spec.router_id is not None:
            rid = str(spec.router_id)
            if spec.router_id.packed in (b"\0\0\0\0", b"\xff\xff\xff\xff"):
                out.error(where, f"{rid} cannot be a router id", "give another address, e.g. 1.1.1.1; "
                          "an id is usually the router's first address")
                continue
        else:
            first = next((addressing.address[p] for p in wiring.ports_of.get(node, ()) if p in addressing.address),
                         None)
            if node in wiring.doubt:
                continue    # its addresses are not all known: neither is its id
            if first is None:
                out.error(f"nodes.{node}", f"router '{node}' runs the routing daemon but has no address to take "
                          "its router id from", "link it to something, or give it 'router_id: 1.1.1.1'")
                continue
            rid, where = str(first.ip), f"nodes.{node}"
        if rid in owner:
            out.error(where, f"router id {rid} is also {owner[rid]}'s; the routing daemon needs a different id "
                      "on every router", "give one of them another 'router_id'")
        else:
            owner[rid] = node


def _finish(lab: ParsedLab, plan: Plan | None, out: Problems) -> Compiled:
    def placed(p: Problem) -> Problem:
        return p if p.line is not None else replace(p, line=lab.lines.line_of(parse_where(p.where)))

    errors = sorted(map(placed, out.errors), key=lambda p: (p.line or 0, p.where))
    return Compiled(lab.source, plan, errors, [placed(w) for w in out.warnings])


def compile_file(path: str | Path, name: str | None = None, image_present: ImageCheck | None = None,
                 student: str | None = None) -> Compiled:
    """Read, parse and compile the lab in a folder (or the file itself);
    with `image_present`, the images its nodes name are checked with it;
    with `student`, that student's variant of its exercise."""
    lab = read_lab(path, student)
    return compile_lab(lab, name=name, source=str(lab.file) if lab.file else None, image_present=image_present)


def compile_text(text: str, source: str = "lab.yml", name: str | None = None,
                 default_name: str | None = None, folder: Path | None = None,
                 student: str | None = None) -> Compiled:
    """Compile lab file text (no file on disk: service folders are checked in `folder`)."""
    return compile_lab(parse_text(text, source, default_name, folder, student), name=name)
