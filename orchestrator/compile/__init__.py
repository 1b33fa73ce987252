"""Compile: a parsed lab -> its Plan, or every problem in it, in one pass.

Validation *is* compilation: each step below computes its part once, reports
what is wrong with it (with its place in the file) and hands the result on;
no later stage re-checks or re-derives anything from the lab file.

    nodes       names, kinds, interface names, services, link ends    (nodes.py)
    wiring      LANs expanded, cable ends named, segments               (wiring.py)
    addressing  subnets and addresses, inferred gateways                (addressing.py)
    nexthops    gateways and written routes: on a subnet, reachable     (nexthops.py)
    policy      NAT and firewall names resolved to addresses            (policy.py)
    checks      the expect: section's names checked                     (checks.py)
    routing     computed routes: Dijkstra over the router graph         (routing.py)
    build       the Plan assembled                                      (build.py)
    checks      the expectations resolved into the plan's checks        (checks.py)

Nothing is created and nothing is rendered here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import Problem, TopologyError
from ..model.load import ParsedLab, parse_text, parse_where, read_lab
from ..plan import Plan, RoutingMode
from . import checks as expectations
from .addressing import assign
from .build import build_plan
from .nexthops import resolve_routes
from .nodes import check_nodes, check_service_folders
from .policy import resolve_policies
from .problems import Problems
from .routing import computed_routes
from .wiring import build_wiring


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


def compile_lab(lab: ParsedLab, name: str | None = None, source: str | None = None) -> Compiled:
    """The plan of a parsed lab (named `name`, else as the file says), or its problems.

    `source` (the lab file's path) goes into the nodes' labels and locates the
    folders services serve; without it (golden tests) those stay relative."""
    with _no_gc_pauses():
        return _compile(lab, name, source)


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


def _compile(lab: ParsedLab, name: str | None, source: str | None) -> Compiled:
    out = Problems()
    out.add(lab.problems)
    if lab.header is None:
        return _finish(lab, None, out)
    header = lab.header
    check_nodes(lab, out)
    wiring = build_wiring(lab.nodes, lab.lans, lab.links, lab.broken, out)
    addressing = assign(wiring, header.pools, out)
    routes = resolve_routes(wiring, addressing, out)
    policies = resolve_policies(wiring, addressing, out)
    modes: dict[str, RoutingMode] = {n: (s.routing or header.routing)
                                     for n, s in wiring.nodes.items() if s.kind == "router"}
    addressed = {p[0] for p in addressing.address}
    for node, mode in modes.items():
        if mode == "dynamic" and wiring.nodes[node].router_id is None and node not in addressed:
            out.error(f"nodes.{node}", f"router '{node}' runs the routing daemon but has no address to take "
                      "its router id from", "link it to something, or give it 'router_id: 1.1.1.1'")
    kinds = {n: s.kind for n, s in lab.nodes.items()}
    interfaces: dict[str, set[str]] = {n: {i for _, i in ports} for n, ports in wiring.ports_of.items()}
    found, problems = expectations.check_expectations(header.expect, kinds, interfaces, lab.broken)
    out.add(problems)
    check_service_folders(lab, out)
    if out:
        return _finish(lab, None, out)

    computed = computed_routes(wiring, addressing, sorted(n for n, m in modes.items() if m == "computed"),
                               parallel=True)
    plan = build_plan(header, name or lab.name or "", source, wiring, addressing, routes, computed, modes,
                      policies)
    plan.checks, problems = expectations.resolve(found, plan)
    out.add(problems)
    return _finish(lab, None if out else plan, out)


def _finish(lab: ParsedLab, plan: Plan | None, out: Problems) -> Compiled:
    def placed(p: Problem) -> Problem:
        return p if p.line is not None else replace(p, line=lab.lines.line_of(parse_where(p.where)))

    errors = sorted(map(placed, out.errors), key=lambda p: (p.line or 0, p.where))
    return Compiled(lab.source, plan, errors, [placed(w) for w in out.warnings])


def compile_file(path: str | Path, name: str | None = None) -> Compiled:
    """Read, parse and compile the lab in a folder (or the file itself)."""
    lab = read_lab(path)
    return compile_lab(lab, name=name, source=str(lab.file) if lab.file else None)


def compile_text(text: str, source: str = "lab.yml", name: str | None = None,
                 default_name: str | None = None, folder: Path | None = None) -> Compiled:
    """Compile lab file text (no file on disk: service folders are checked in `folder`)."""
    return compile_lab(parse_text(text, source, default_name, folder), name=name)
