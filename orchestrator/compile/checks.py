"""Expectations checked against the lab and resolved into the plan's checks.

Names in the `expect:` section must be nodes of the right kind (and
`node.iface` an interface the wiring gave them); then node names and
interface references become addresses from the plan and `all_pairs` becomes
one check per pair, so the runner (orchestrator.verify) reads only checks and
the plan, never the raw lab file.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import confine
from ..errors import Problem, TopologyError, unknown_hint
from ..model.expect import (
    DEFAULT_TIMEOUT,
    AllPairs,
    Chat,
    Dns,
    Expectation,
    NatSource,
    PathSpec,
    Reach,
    Service,
    parse_item,
)
from ..plan import Check, Plan


class _Checker:
    """Checks the names an expectation uses: nodes of the right kind, interfaces they have."""

    def __init__(self, kinds: Mapping[str, str], interfaces: Mapping[str, Iterable[str]] | None,
                 broken: Iterable[str] = ()):
        self.kinds = kinds
        self.broken = set(broken)  # nodes that exist but did not validate: no verdict on them
        self.interfaces = {n: set(i) for n, i in interfaces.items()} if interfaces is not None else None
        self.problems: list[Problem] = []

    def err(self, where: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(where, message, hint))

    def node(self, where: str, name: str, role: str = "node", kinds: tuple[str, ...] = ("host", "router")
             ) -> bool:
        if name is None or name in self.broken:  # not well formed: reported already
            return False
        kind = self.kinds.get(name)
        if kind is None:
            self.err(where, f"unknown node '{name}'", unknown_hint(name, self.kinds, what="nodes"))
            return False
        if kind not in kinds and role == "hop":
            self.err(where, f"'{name}' is a {kind}; via lists the routers on the way",
                     "leave out the source and the target")
        elif kind not in kinds:
            self.err(where, f"'{name}' is a {kind} and cannot be the {role}",
                     f"the {role} must be a {' or '.join(kinds)}")
            return False
        return True

    def target(self, where: str, ref: str, role: str = "target") -> None:
        """A node, node.iface or an IPv4 address."""
        if ref is None:
            return
        try:
            ipaddress.IPv4Address(ref)
            return
        except ValueError:
            pass
        node, _, iface = ref.partition(".")
        if not self.node(where, node, role):
            return
        if iface and self.interfaces is not None and iface not in self.interfaces.get(node, ()):
            have = sorted(self.interfaces.get(node, ()))
            self.err(where, f"'{node}' has no interface '{iface}'",
                     unknown_hint(iface, have, what="its interfaces") if have
                     else f"'{node}' has no connected interface")

    def check(self, exp: Expectation) -> None:
        s, w = exp.spec, exp.where
        if isinstance(s, Reach):  # and Deny
            self.node(f"{w}.from", s.src, "source")
            for i, ref in enumerate(s.to):
                self.target(f"{w}.to[{i}]", ref)
                if ref == s.src:
                    self.err(f"{w}.to[{i}]", f"'{ref}' is also the source", "probe another node")
        elif isinstance(s, PathSpec):
            self.node(f"{w}.from", s.src, "source")
            self.target(f"{w}.to", s.to)
            for i, hop in enumerate(s.via):
                self.node(f"{w}.via[{i}]", hop, "hop", ("router",))
        elif isinstance(s, Service):
            self.target(f"{w}.node", s.node, "server")
            if s.src is not None:
                self.node(f"{w}.from", s.src, "client")
        elif isinstance(s, Chat):
            self.target(f"{w}.server", s.server, "server")
            for i, client in enumerate(s.clients):
                self.node(f"{w}.clients[{i}]", client, "client")
        elif isinstance(s, NatSource):
            self.node(f"{w}.from", s.src, "source")
            self.node(f"{w}.to", s.to, "server")
            self.target(f"{w}.seen_as", s.seen_as, "address seen")
        elif isinstance(s, Dns):
            self.node(f"{w}.from", s.src, "client")
            if s.address is not None:
                self.target(f"{w}.address", s.address, "address expected")
            if s.server is not None:
                self.target(f"{w}.server", s.server, "server")
        elif isinstance(s, AllPairs) and isinstance(s.nodes, list):
            for i, name in enumerate(s.nodes):
                self.node(f"{w}.nodes[{i}]", name)
            if len(set(s.nodes)) < 2:
                self.err(f"{w}.nodes", "all_pairs needs at least two nodes", "list two or more, or write hosts")




def check_expectations(raw: Any, kinds: Mapping[str, str],
                       interfaces: Mapping[str, Iterable[str]] | None = None,
                       broken: Iterable[str] = ()) -> tuple[list[Expectation], list[Problem]]:
    """Validate the raw expect list against the lab's nodes (name -> kind).
    Returns the expectations and every problem.

    `interfaces` (node -> its interface names after wiring) lets `r1.eth1`
    references be checked too.
    """
    if not isinstance(raw, list):
        return [], [Problem("expect", f"expected a list of expectations, got {type(raw).__name__}",
                            "start each item with '- ', like '- all_pairs: hosts'")]
    checker = _Checker(kinds, interfaces, broken)
    out: list[Expectation] = []
    for i, item in enumerate(raw):
        exp, problems = parse_item(i, item)
        checker.problems.extend(problems)
        if exp is not None:
            before = len(checker.problems)
            checker.check(exp)
            if not problems and len(checker.problems) == before:
                out.append(exp)
    return out, checker.problems


def _members(plan: Plan, nodes: list[str] | str) -> list[str]:
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


def _digest(plan: Plan, where: str, name: str) -> tuple[str | None, Problem | None]:
    """The sha256 of a file of the lab folder (a service's same_as), or why not."""
    if plan.source is None:
        return None, Problem(where, "same_as names a file of the lab folder, and this lab has no folder",
                             "compile the lab from its folder")
    folder = Path(plan.source).parent
    away = confine.outside(folder, name)
    if away is not None:
        return None, Problem(where, f"'{name}' is outside the lab folder; a lab file may name only files inside "
                                    "its own folder", "name a file relative to the lab folder")
    path = (folder / name).resolve()
    if not path.is_file():
        return None, Problem(where, f"there is no file '{name}' in the lab folder",
                             "name the file the server sends, relative to the lab folder (the folder it "
                             "serves, then the URL's path)")
    if path.stat().st_size > confine.max_copy_bytes():
        return None, Problem(where, f"'{name}' is larger than what a lab may copy "
                                    f"({confine.describe_size(confine.max_copy_bytes())})", "compare a smaller file")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest(), None


def _user_stack(plan: Plan, node: str) -> bool:
    found = plan.nodes.get(node)
    return found is not None and found.stack is not None


def resolve(expectations: list[Expectation], plan: Plan) -> tuple[list[Check], list[Problem]]:
    """Expectations -> checks, addresses taken from the plan."""
    checks: list[Check] = []
    problems: list[Problem] = []
    from_stack = "runs the user-space stack (stack: user); from it, only service checks (an HTTP GET through " \
                 "its stack) run"

    def addr(where: str, ref: str) -> list[str]:
        found, problem = plan.addresses_of(ref)
        if problem:
            problems.append(Problem(where, problem, "name a node (or node.interface) that has an address"))
        return found

    def add(exp: Expectation, where: str, many: bool, **fields: Any) -> None:
        s = exp.spec
        if _user_stack(plan, fields["src"]):
            if fields["kind"] != "service":
                key = "clients" if fields["kind"] == "chat" else "from"
                problem = Problem(f"{exp.where}.{key}", f"{fields['src']} {from_stack}",
                                  "probe it from a kernel host instead: its stack answers pings and serves")
                if problem not in problems:  # once for a list of targets
                    problems.append(problem)
                return
            fields["stack"] = True
        auto = f"{fields['kind']} {fields['src']} -> {fields['dst']}"
        if fields["kind"] in ("reach", "deny") or fields.get("proto", "icmp") != "icmp":
            auto += f" {fields['proto']}"
        title = (f"{s.name} [{fields['src']} -> {fields['dst']}]" if many else s.name) if s.name else auto
        timeout = s.timeout or DEFAULT_TIMEOUT[fields.pop("probe")]
        checks.append(Check(id=where, title=title, wait=s.wait, timeout=timeout, **fields))

    for exp in expectations:
        s, w = exp.spec, exp.where
        if isinstance(s, (Reach, AllPairs)):
            if isinstance(s, AllPairs):  # a user-space stack host is a target, not a source
                members = _members(plan, s.nodes)
                pairs = [(a, b, f"{w}[{a}->{b}]") for a in members for b in members
                         if a != b and not _user_stack(plan, a)]
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
                    proto=s.method, expected=f"via {hops}", probe="path")
        elif isinstance(s, Service):
            src = s.src or s.node.partition(".")[0]
            found = addr(f"{w}.node", s.node)
            digest = None
            if s.same_as is not None:
                digest, problem = _digest(plan, f"{w}.same_as", s.same_as)
                if problem:
                    problems.append(problem)
                    found = []
            if found and s.contains is not None and _user_stack(plan, src):
                problems.append(Problem(f"{w}.contains", f"{src} runs the user-space stack, whose GET hashes the "
                                        "body rather than keeping it", "check the body with same_as: FILE"))
                found = []
            if found:
                want = f"status {s.status}" if s.status else "status < 400"
                if s.contains is not None:
                    want += f", body contains {s.contains!r}"
                if digest is not None:
                    want += f", body equal to {s.same_as} (sha256 {digest[:12]})"
                add(exp, w, False, kind="service", src=src, dst=f"{s.node}:{s.port}{s.http}", address=found[0],
                    port=s.port, http=s.http, status=s.status, contains=s.contains, sha256=digest,
                    expected=want, probe="service")
        elif isinstance(s, Chat):
            found = addr(f"{w}.server", s.server)
            for i, client in enumerate(s.clients if found else []):
                add(exp, f"{w}.clients[{i}]", len(s.clients) > 1, kind="chat", src=client, dst=s.server,
                    address=found[0], port=s.port, expected="message echoed by the server", probe="chat")
        elif isinstance(s, Dns):
            server = addr(f"{w}.server", s.server) if s.server is not None else (
                [plan.resolver] if plan.resolver else [])
            if s.server is None and not server:
                problems.append(Problem(f"{w}", "this lab runs no DNS resolver for the lookup to go through",
                                        "give 'server: NODE', or a dns service with 'recursion: true'"))
            answer = addr(f"{w}.address", s.address) if s.address is not None else [None]
            if server and answer:
                want = s.rcode if s.rcode != "NOERROR" else (
                    f"{s.type} {answer[0]}" if answer[0] else f"an answer ({s.type})")
                via = f" via {s.server}" if s.server else ""
                add(exp, w, False, kind="dns", src=s.src, dst=s.lookup, address=server[0], proto=s.type,
                    qtype=s.type, answer=answer[0], rcode=s.rcode, expected=want + via, probe="dns")
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


def plan_checks(raw: Any, plan: Plan) -> list[Check]:
    """Validate and resolve an expect list against a plan (its nodes, interfaces
    and addresses). Raises TopologyError (with every problem) when something
    does not fit."""
    kinds = {n.name: n.kind for n in plan.nodes.values()}
    interfaces = {n.name: [i.name for i in n.interfaces] for n in plan.nodes.values()}
    expectations, problems = check_expectations(raw, kinds, interfaces)
    checks, more = resolve(expectations, plan)
    if problems or more:
        raise TopologyError(plan.source or plan.lab, problems + more)
    return checks
