"""Expectations resolved against a Plan: the checks `lab test` runs.

Node names and `node.iface` references become addresses, `all_pairs` becomes
one check per pair, so the runner (orchestrator.testrun) reads only checks and
the plan, never the raw lab file.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from .errors import Problem, TopologyError
from .expect import (DEFAULT_TIMEOUT, AllPairs, Chat, Check, Expectation, NatSource, PathSpec, Reach,
                     Service, check_expectations)
from .model import NodeSpec

if TYPE_CHECKING:
    from .plan import Plan


def _address(plan: Plan, ref: str) -> tuple[list[str], str]:
    """A reference -> (its addresses, a problem or ""). A node gives all of
    its addresses (the first is the one probed); node.iface gives one."""
    try:
        return [str(ipaddress.IPv4Address(ref))], ""
    except ValueError:
        pass
    name, _, iface = ref.partition(".")
    node = plan.nodes.get(name)
    if node is None:
        return [], f"unknown node '{name}'"
    if iface:
        found = next((i for i in node.interfaces if i.name == iface), None)
        if found is None:
            names = ", ".join(i.name for i in node.interfaces) or "none"
            return [], f"'{name}' has no interface '{iface}' (its interfaces: {names})"
        if not found.address:
            return [], f"{name}.{iface} has no address"
        return [found.address.split("/")[0]], ""
    addrs = [a.split("/")[0] for a in node.addresses()]
    return addrs, "" if addrs else f"'{name}' has no address"


def _group(plan: Plan, nodes: list[str] | str) -> list[str]:
    if isinstance(nodes, list):
        return list(dict.fromkeys(nodes))
    kinds = {"hosts": ("host",), "routers": ("router",), "all": ("host", "router")}[nodes]
    return [n.name for n in plan.nodes.values() if n.kind in kinds and n.addresses()]


def _expected(kind: str, proto: str) -> str:
    if proto == "icmp":
        return "reply" if kind == "reach" else "no reply"
    port = proto.split(":")[1]
    if proto.startswith("tcp"):
        return f"port {port} open" if kind == "reach" else f"port {port} not open"
    return f"echo on udp {port}" if kind == "reach" else f"no echo on udp {port}"


def resolve(expectations: list[Expectation], plan: Plan) -> tuple[list[Check], list[Problem]]:
    """Expectations -> checks, addresses taken from the plan."""
    checks: list[Check] = []
    problems: list[Problem] = []

    def addr(where: str, ref: str) -> list[str]:
        found, problem = _address(plan, ref)
        if problem:
            problems.append(Problem(where, problem, "name a node (or node.interface) that has an address"))
        return found

    def add(exp: Expectation, where: str, many: bool, **fields: Any) -> None:
        s = exp.spec
        auto = f"{fields['kind']} {fields['src']} -> {fields['dst']}"
        if fields["kind"] in ("reach", "deny"):
            auto += f" {fields['proto']}"
        title = (f"{s.name} [{fields['src']} -> {fields['dst']}]" if many else s.name) if s.name else auto
        timeout = s.timeout or DEFAULT_TIMEOUT[fields.pop("probe")]
        checks.append(Check(id=where, title=title, wait=s.wait, timeout=timeout, **fields))

    for exp in expectations:
        s, w = exp.spec, exp.where
        if isinstance(s, (Reach, AllPairs)):
            if isinstance(s, AllPairs):
                members = _group(plan, s.nodes)
                pairs = [(a, b, f"{w}[{a}->{b}]") for a in members for b in members if a != b]
                kind = "reach"
            else:
                pairs = [(s.src, ref, f"{w}.to[{i}]") for i, ref in enumerate(s.to)]
                kind = exp.kind
            for src, ref, where in pairs:
                found = addr(w if isinstance(s, AllPairs) else where, ref)
                if found:
                    add(exp, where, len(pairs) > 1, kind=kind, src=src, dst=ref, address=found[0],
                        proto=s.proto, expected=_expected(kind, s.proto), probe=s.proto.split(":")[0])
        elif isinstance(s, PathSpec):
            found = addr(f"{w}.to", s.to)
            if found:
                hops = " -> ".join([*s.via, s.to])
                add(exp, w, False, kind="path", src=s.src, dst=s.to, address=found[0], via=s.via,
                    expected=f"via {hops}", probe="path")
        elif isinstance(s, Service):
            src = s.src or s.node.partition(".")[0]
            found = addr(f"{w}.node", s.node)
            if found:
                want = f"status {s.status}" if s.status else "status < 400"
                if s.contains is not None:
                    want += f", body contains {s.contains!r}"
                add(exp, w, False, kind="service", src=src, dst=f"{s.node}:{s.port}{s.http}", address=found[0],
                    port=s.port, http=s.http, status=s.status, contains=s.contains, expected=want, probe="service")
        elif isinstance(s, Chat):
            found = addr(f"{w}.server", s.server)
            for i, client in enumerate(s.clients if found else []):
                add(exp, f"{w}.clients[{i}]", len(s.clients) > 1, kind="chat", src=client, dst=s.server,
                    address=found[0], port=s.port, expected="message echoed by the server", probe="chat")
        elif isinstance(s, NatSource):
            found, seen = addr(f"{w}.to", s.to), addr(f"{w}.seen_as", s.seen_as)
            if found and seen:
                shown = s.seen_as if s.seen_as in seen else f"{s.seen_as} ({', '.join(seen)})"
                add(exp, w, False, kind="nat_source", src=s.src, dst=s.to, address=found[0], port=s.port,
                    seen_as=seen, log=s.log, expected=f"seen as {shown}", probe="nat_source")
    seen_titles: dict[str, int] = {}
    for n, check in enumerate(checks):  # titles double as test ids: keep them unique
        count = seen_titles[check.title] = seen_titles.get(check.title, 0) + 1
        if count > 1:
            checks[n] = check.model_copy(update={"title": f"{check.title} #{count}"})
    return checks, problems


def plan_checks(raw: list[Any], plan: Plan) -> list[Check]:
    """Validate and resolve a lab's raw expect list against its plan.

    Raises TopologyError (with every problem) when something does not fit."""
    nodes = {n.name: NodeSpec(kind=n.kind) for n in plan.nodes.values()}
    interfaces = {n.name: [i.name for i in n.interfaces] for n in plan.nodes.values()}
    expectations, problems = check_expectations(raw, nodes, interfaces)
    checks, more = resolve(expectations, plan)
    if problems or more:
        raise TopologyError(plan.source or plan.lab, problems + more)
    return checks
