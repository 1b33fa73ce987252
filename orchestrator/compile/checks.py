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
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import confine
from ..errors import Problem, TopologyError, unknown_hint
from ..model.expect import (
    DEFAULT_TIMEOUT,
    AllPairs,
    Chat,
    Dhcp,
    Dns,
    Expectation,
    NatSource,
    Neigh,
    PathSpec,
    Reach,
    Service,
    parse_item,
)
from ..plan import Check, Plan, pool_text


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
        elif isinstance(s, Dhcp):
            if self.node(f"{w}.host", s.host, "host", ("host",)) and s.iface is not None:
                self.target(f"{w}.iface", f"{s.host}.{s.iface}", "interface")
            if s.address is not None:
                try:
                    ipaddress.IPv4Address(s.address)
                except ValueError:
                    self.err(f"{w}.address", f"'{s.address}' is not an IPv4 address", "write the address leased, "
                             "like 10.0.1.50, or leave it out (any address of the pool)")
        elif isinstance(s, Neigh):
            self.node(f"{w}.node", s.node, "node")
            self.target(f"{w}.address", s.address, "neighbour")
            if s.mac is not None and not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", s.mac):
                self.target(f"{w}.mac", s.mac, "owner of the MAC")
        elif isinstance(s, AllPairs) and isinstance(s.nodes, list):
            for i, name in enumerate(s.nodes):
                self.node(f"{w}.nodes[{i}]", name)
            if len(set(s.nodes)) < 2:
                self.err(f"{w}.nodes", "all_pairs needs at least two nodes", "list two or more, or write hosts")




def check_expectations(raw: Any, kinds: Mapping[str, str],
                       interfaces: Mapping[str, Iterable[str]] | None = None,
                       broken: Iterable[str] = (), section: str = "expect") -> tuple[list[Expectation], list[Problem]]:
    """Validate the raw expect list against the lab's nodes (name -> kind).
    Returns the expectations and every problem.

    `interfaces` (node -> its interface names after wiring) lets `r1.eth1`
    references be checked too.
    """
    if not isinstance(raw, list):
        return [], [Problem(section, f"expected a list of expectations, got {type(raw).__name__}",
                            "start each item with '- ', like '- all_pairs: hosts'")]
    checker = _Checker(kinds, interfaces, broken)
    out: list[Expectation] = []
    for i, item in enumerate(raw):
        exp, problems = parse_item(i, item, section)
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
    return [n.name for n in plan.nodes.values() if n.kind in kinds and (n.addresses() or _asking(plan, n.name))]


def _asking(plan: Plan, ref: str) -> str | None:
    """'node.iface' of the interface by which `ref` (a node or node.iface) takes
    an address from DHCP that the plan does not know (no reservation), or None."""
    name, _, iface = ref.partition(".")
    node = plan.nodes.get(name)
    if node is None or (not iface and node.addresses()):
        return None
    found = [i for i in node.interfaces if i.dhcp and not i.address and (not iface or i.name == iface)]
    return f"{name}.{found[0].name}" if found else None


def _dhcp_pool(plan: Plan, node: str, iface: str) -> tuple[list[str], str | None] | None:
    """The ranges (first, last, first, last, ...: one pair per server of a
    shared LAN) and the router of the pools serving node:iface's segment, or None."""
    seg = next((s for s in plan.segments if f"{node}:{iface}" in s.ports), None)
    if seg is None or seg.prefix is None:
        return None
    ranges: list[str] = []
    router = None
    for server in plan.nodes.values():
        for pool in (server.dhcp or {}).get("pools", []):
            if pool["subnet"] == seg.prefix:
                ranges += pool["range"]
                router = pool.get("router")
    return (ranges, router) if ranges else None



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


def _chat_port(plan: Plan, server: str) -> int:
    """The port a chat check with none written talks to: the server's chat
    service's (its first), else the chat service's default."""
    node = plan.nodes.get(server.split(".")[0])
    ports = [s.port for s in node.services if s.type == "chat" and s.port] if node else []
    return ports[0] if ports else 5000


def resolve(expectations: list[Expectation], plan: Plan) -> tuple[list[Check], list[Problem]]:
    """Expectations -> checks, addresses taken from the plan."""
    checks: list[Check] = []
    problems: list[Problem] = []
    from_stack = "runs the user-space stack (stack: user); from it, only service checks (an HTTP GET through " \
                 "its stack) run"

    def addr(where: str, ref: str, leased: bool = True, family: int = 4) -> list[str]:
        """The addresses of ref; ["@node.iface"] for a host whose address comes
        from DHCP, read when the check runs (where `leased` allows it)."""
        found, problem = plan.addresses_of(ref, family)
        if family == 6:
            said = Problem(where, problem, "give the lab IPv6 (ipv6: true), or probe family 4")
            if problem and said not in problems:
                problems.append(said)
            return found
        asking = _asking(plan, ref) if problem else None
        if asking and leased:
            return [f"@{asking}"]
        if problem:
            problems.append(Problem(where, problem, "give it a reservation in its pool" if asking
                                    else "name a node (or node.interface) that has an address"))
        return found

    def add(exp: Expectation, where: str, many: bool, **fields: Any) -> None:
        s = exp.spec
        if str(fields.get("address", "")).startswith("@"):
            fields["lease"], fields["address"] = fields["address"][1:], ""
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
        v6 = fields.get("family") == 6
        if fields["kind"] in ("reach", "deny") or fields.get("proto", "icmp") != "icmp":
            auto += " icmp6" if v6 and fields["proto"] == "icmp" else f" {fields['proto']}"
        if v6 and not auto.endswith("icmp6"):
            auto += " over IPv6"
        pair = f"{fields['src']} -> {fields['dst']}" + (", IPv6" if v6 else "")
        title = (f"{s.name} [{pair}]" if many or v6 else s.name) if s.name else auto
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
            families = [4, 6] if s.family == "both" else [s.family]
            for src, ref, where in pairs:
                for family in families:
                    found = addr(w if isinstance(s, AllPairs) else where, ref, family=family)
                    if found:
                        add(exp, where + (".ipv6" if family == 6 and len(families) > 1 else ""),
                            len(pairs) > 1, kind=kind, src=src, dst=ref, address=found[0], proto=s.proto,
                            expected=_expected(kind, s.proto), probe=s.proto.split(":")[0], family=family)
        elif isinstance(s, PathSpec):
            families = [4, 6] if s.family == "both" else [s.family]
            for family in families:
                found = addr(f"{w}.to", s.to, family=family)
                if found:
                    hops = " -> ".join([*s.via, s.to])
                    add(exp, w + (".ipv6" if family == 6 and len(families) > 1 else ""), False, kind="path",
                        src=s.src, dst=s.to, address=found[0], via=s.via, proto=s.method,
                        expected=f"via {hops}", probe="path", family=family)
        elif isinstance(s, Service):
            src = s.src or s.node.partition(".")[0]
            families = [4, 6] if s.family == "both" else [s.family]
            found = addr(f"{w}.node", s.node, family=families[0])
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
                for family in families:
                    found = found if family == families[0] else addr(f"{w}.node", s.node, family=family)
                    if found:
                        add(exp, w + (".ipv6" if family == 6 and len(families) > 1 else ""), False,
                            kind="service", src=src, dst=f"{s.node}:{s.port}{s.http}", address=found[0],
                            port=s.port, http=s.http, status=s.status, contains=s.contains, sha256=digest,
                            expected=want, probe="service", family=family)
        elif isinstance(s, Chat):
            port = s.port or _chat_port(plan, s.server)
            families = [4, 6] if s.family == "both" else [s.family]
            for family in families:
                found = addr(f"{w}.server", s.server, family=family)
                for i, client in enumerate(s.clients if found else []):
                    add(exp, f"{w}.clients[{i}]" + (".ipv6" if family == 6 and len(families) > 1 else ""),
                        len(s.clients) > 1, kind="chat", src=client, dst=s.server, address=found[0], port=port,
                        expected="message echoed by the server", probe="chat", family=family)
        elif isinstance(s, Dns):
            server = addr(f"{w}.server", s.server) if s.server is not None else (
                [plan.resolver] if plan.resolver else [])
            if s.server is None and not server:
                problems.append(Problem(f"{w}", "this lab runs no DNS resolver for the lookup to go through",
                                        "give 'server: NODE', or a dns service with 'recursion: true'"))
            answer = addr(f"{w}.address", s.address, leased=False) if s.address is not None else [None]
            if server and answer:
                want = s.rcode if s.rcode != "NOERROR" else (
                    f"{s.type} {answer[0]}" if answer[0] else f"an answer ({s.type})")
                via = f" via {s.server}" if s.server else ""
                add(exp, w, False, kind="dns", src=s.src, dst=s.lookup, address=server[0], proto=s.type,
                    qtype=s.type, answer=answer[0], rcode=s.rcode, expected=want + via, probe="dns")
        elif isinstance(s, Dhcp):
            node = plan.nodes[s.host]
            asks = [i for i in node.interfaces if i.dhcp and (s.iface is None or i.name == s.iface)]
            if not asks:
                which = f"its interface {s.iface}" if s.iface else "none of its interfaces"
                problems.append(Problem(f"{w}.{'iface' if s.iface else 'host'}", f"{s.host} does not ask for its "
                                        f"address by DHCP ({which} is written 'dhcp')",
                                        "write the interface as 'eth0: dhcp', or check another host"))
                continue
            if len(asks) > 1:
                names = ", ".join(i.name for i in asks)
                problems.append(Problem(f"{w}.host", f"{s.host} asks by DHCP on {len(asks)} interfaces ({names})",
                                        f"say which with 'iface: {asks[0].name}'"))
                continue
            iface = asks[0]
            pool = _dhcp_pool(plan, s.host, iface.name)
            if pool is None:
                continue    # no pool serves it: said by compile/dhcp.py
            want_address = s.address or (iface.address.split("/")[0] if iface.address else None)
            want = f"an address {want_address}" if want_address else f"an address in {pool_text(pool[0])}"
            if pool[1]:
                want += f", gateway {pool[1]}"
            add(exp, w, False, kind="dhcp", src=s.host, dst=f"{s.host}.{iface.name}", address=want_address or "",
                pool=pool[0], gateway=pool[1], expected=want, probe="dhcp")
        elif isinstance(s, Neigh):
            _neigh(plan, exp, w, s, problems, add)
        elif isinstance(s, NatSource):
            found, seen = addr(f"{w}.to", s.to), addr(f"{w}.seen_as", s.seen_as, leased=False)
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


def _neigh(plan: Plan, exp: Expectation, w: str, s: Neigh, problems: list[Problem],
           add: Callable[..., None]) -> None:
    """A neigh check: the neighbour's address on one of the node's own subnets, and the MAC expected."""
    found, problem = plan.addresses_of(s.address)
    if problem:
        problems.append(Problem(f"{w}.address", problem, "name a neighbour with an address (a reservation, for a "
                                "host that takes its address by DHCP)"))
        return
    node = plan.nodes[s.node]
    mine = [ipaddress.IPv4Interface(a).network for a in node.addresses()]
    on_link = [a for a in found if any(ipaddress.IPv4Address(a) in net for net in mine)]
    if not on_link:
        routers = [r.via for r in node.routes if r.to == "default"]
        instead = f"; it resolves its gateway {routers[0]} instead" if routers else ""
        problems.append(Problem(f"{w}.address", f"{s.address} ({found[0]}) is not on a subnet of {s.node}: "
                                f"{s.node} never resolves it by ARP{instead}",
                                f"name a neighbour on one of {s.node}'s own links"))
        return
    address = on_link[0]
    if s.mac is None or not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", s.mac):
        ref = s.mac or address
        owner = plan.owners().get(ref) if s.mac is None else None
        name, _, iface_name = (f"{owner[0]}.{owner[1]}" if owner else ref).partition(".")
        iface = plan.nodes[name].interface(iface_name) if name in plan.nodes and iface_name else None
        if iface is None:
            problems.append(Problem(f"{w}.mac", f"'{ref}' names no interface whose MAC the plan knows",
                                    "write a MAC, or node.iface"))
            return
        mac, whose = iface.mac, f" ({name}:{iface.name})"
    else:
        mac, whose = s.mac, ""
    add(exp, w, False, kind="neigh", src=s.node, dst=s.address, address=address, mac=mac,
        expected=f"{address} is-at {mac}{whose}", probe="neigh")


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
