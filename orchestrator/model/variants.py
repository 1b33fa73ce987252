"""Per-student variants of an exercise: the same lab, numbered and named
differently for each student, so that one student's answers are no use to
another (docs/classroom.md).

    exercise:
      variants:
        subnets:                                      # a block of addresses moved as a whole
          - {from: 192.168.0.0/16, to: 172.16.0.0/12}   # 192.168.x.y -> 172.N.x.y, N in 16..31
        ports:
          - {from: 8080, to: 8000-8999}               # port 8080 -> one port of the range
        names:
          - {from: inet, to: [isp, carrier, upstream]}  # node inet -> one of these names

A student's variant is drawn from the lab file's name and the student's
name (sha256): the same student always gets the same lab. It is made by
rewriting the file's values before anything is read from them:

- subnets: every IPv4 address or network written inside `from` (interfaces,
  routes, gateways, pools, rules, faults, checks, even the description) keeps
  its place in the block, which moves to one of the `from`-sized slots of `to`;
- ports: every `port:` / `public_port:` equal to `from`, and every
  `name:PORT` string (`tcp:8080`, `web:8080`) with it;
- names: the node's key under `nodes:` and every whole-word mention of it in
  a value (`inet`, `inet:eth0`, `inet.eth1`).

`check` finds, without any student, what would make some variant wrong: a
network written wider than a moved block (it would cover it only in part
once moved), an address left in place inside a block's destination, a port
written inside a destination range, a new name already a node's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem
from ..labels import NAME_RE

#: at most this many rules of each kind, and names to choose from in one rule
MAX_RULES = 16
MAX_NAMES = 64
KINDS = ("subnets", "ports", "names")
#: the keys whose integer values are port numbers
PORT_KEYS = frozenset({"port", "public_port"})

_ADDRESS = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?![\d.])")
_NAME_PORT = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*):(\d{1,5})$")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class SubnetRule:
    source: ipaddress.IPv4Network
    to: ipaddress.IPv4Network

    @property
    def slots(self) -> int:
        return 1 << (self.source.prefixlen - self.to.prefixlen)

    def slot(self, n: int) -> ipaddress.IPv4Network:
        size = self.source.num_addresses
        return ipaddress.IPv4Network((int(self.to.network_address) + n * size, self.source.prefixlen))


@dataclass(frozen=True)
class PortRule:
    source: int
    to: tuple[int, ...]


@dataclass(frozen=True)
class NameRule:
    source: str
    to: tuple[str, ...]


@dataclass
class Variants:
    subnets: list[SubnetRule] = field(default_factory=list)
    ports: list[PortRule] = field(default_factory=list)
    names: list[NameRule] = field(default_factory=list)


@dataclass
class Drawn:
    """One student's values: the block each subnet rule moves to, the port
    and the name each rule gives."""

    subnets: dict[ipaddress.IPv4Network, ipaddress.IPv4Network] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def encode(self) -> dict[str, dict[str, str]]:
        """As the plan keeps it (plan.PlanExercise.variant)."""
        return {"subnets": {str(a): str(b) for a, b in self.subnets.items()},
                "ports": {str(a): str(b) for a, b in self.ports.items()},
                "names": dict(self.names)}

    @classmethod
    def decode(cls, kept: dict[str, dict[str, str]]) -> Drawn:
        return cls(subnets={ipaddress.IPv4Network(a): ipaddress.IPv4Network(b)
                            for a, b in kept.get("subnets", {}).items()},
                   ports={int(a): int(b) for a, b in kept.get("ports", {}).items()},
                   names=dict(kept.get("names", {})))

    def lines(self) -> list[str]:
        """What the student was dealt, in words (lab plan --student)."""
        return ([f"subnets {a} -> {b}" for a, b in self.subnets.items()]
                + [f"port {a} -> {b}" for a, b in self.ports.items()]
                + [f"node {a} -> {b}" for a, b in self.names.items()])


def _draw(seed: str, student: str, what: str, count: int) -> int:
    digest = hashlib.sha256(f"{seed}/{student}/{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def draw(variants: Variants, seed: str, student: str) -> Drawn:
    """The values of one student's variant (the same for the same seed and student)."""
    out = Drawn()
    for k, s in enumerate(variants.subnets):
        out.subnets[s.source] = s.slot(_draw(seed, student, f"subnets/{k}", s.slots))
    for k, p in enumerate(variants.ports):
        out.ports[p.source] = p.to[_draw(seed, student, f"ports/{k}", len(p.to))]
    for k, n in enumerate(variants.names):
        out.names[n.source] = n.to[_draw(seed, student, f"names/{k}", len(n.to))]
    return out


# --- reading the section -------------------------------------------------------------------------

def _ports_of(value: Any) -> tuple[int, ...] | str:
    """`8000-8999`, or a list of ports -> the ports; else why not."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,5}-\d{1,5}", value.strip()):
        low, high = (int(x) for x in value.strip().split("-"))
        if not 1 <= low < high <= 65535:
            return f"'{value}' is not a range of ports low-high within 1-65535"
        return tuple(range(low, high + 1))
    if isinstance(value, list) and value and all(type(p) is int for p in value):
        if not all(1 <= p <= 65535 for p in value):
            return "every port is from 1 to 65535"
        if len(set(value)) != len(value):
            return "a port is listed twice"
        return tuple(value)
    return f"expected a range like 8000-8999 or a list of ports, got {value!r}"[:200]


def _rules(raw: dict[str, Any], kind: str, where: str, problems: list[Problem]) -> list[dict[str, Any]]:
    items = raw.get(kind, [])
    if not isinstance(items, list) or len(items) > MAX_RULES:
        problems.append(Problem(where, f"expected a list of at most {MAX_RULES} rules like "
                                "'{from: ..., to: ...}'", f"see the {kind} example in docs/classroom.md"))
        return []
    out = []
    for k, item in enumerate(items):
        place = f"{where}[{k}]"
        if not isinstance(item, dict) or set(item) != {"from", "to"}:
            problems.append(Problem(place, f"expected '{{from: ..., to: ...}}', got {item!r}"[:300],
                                    "a rule says what is moved (from) and where it may go (to)"))
            continue
        out.append({"place": place, **item})
    return out


def parse(raw: Any, nodes: Any) -> tuple[Variants | None, list[Problem]]:
    """The `exercise.variants` section as written -> Variants, or its problems
    (each with its place). `nodes` is the file's raw `nodes:` mapping."""
    where = "exercise.variants"
    if raw is None:
        return None, []
    if not isinstance(raw, dict) or not raw:
        return None, [Problem(where, f"expected a mapping with {', '.join(KINDS)}, got {raw!r}"[:300],
                              "variants: {subnets: [{from: 192.168.0.0/16, to: 172.16.0.0/12}]}")]
    problems: list[Problem] = []
    for key in raw:
        if key not in KINDS:
            problems.append(Problem(f"{where}.{key}", f"unknown variant '{key}'", "kinds: " + ", ".join(KINDS)))
    out = Variants()
    for rule in _rules(raw, "subnets", f"{where}.subnets", problems):
        place = rule["place"]
        try:
            source = ipaddress.IPv4Network(str(rule["from"]), strict=True)
            to = ipaddress.IPv4Network(str(rule["to"]), strict=True)
        except ValueError as exc:
            problems.append(Problem(place, f"expected networks like 192.168.0.0/16 ({exc})", ""))
            continue
        if to.prefixlen >= source.prefixlen:
            problems.append(Problem(f"{place}.to", f"{to} holds no more than one block the size of {source}",
                                    f"give a larger range, e.g. /{max(source.prefixlen - 4, 0)}"))
            continue
        for other in out.subnets:
            if other.source.overlaps(source):
                problems.append(Problem(f"{place}.from", f"{source} overlaps {other.source}, moved by another rule",
                                        "move one block per rule"))
            elif other.to.overlaps(to):
                problems.append(Problem(f"{place}.to", f"{to} overlaps {other.to}, where another block goes: "
                                        "two students' blocks could land on each other", "give ranges apart"))
        out.subnets.append(SubnetRule(source, to))
    for rule in _rules(raw, "ports", f"{where}.ports", problems):
        place = rule["place"]
        if type(rule["from"]) is not int or not 1 <= rule["from"] <= 65535:
            problems.append(Problem(f"{place}.from", f"expected a port from 1 to 65535, got {rule['from']!r}", ""))
            continue
        ports = _ports_of(rule["to"])
        if isinstance(ports, str):
            problems.append(Problem(f"{place}.to", ports, "to: 8000-8999"))
            continue
        if len(ports) < 2:
            problems.append(Problem(f"{place}.to", "one port to choose from is no variant", "give a range"))
            continue
        for moved in out.ports:
            if moved.source == rule["from"]:
                problems.append(Problem(f"{place}.from", f"port {moved.source} is moved by another rule too", ""))
            elif set(moved.to) & set(ports):
                problems.append(Problem(f"{place}.to", "the range overlaps another rule's: two ports could be "
                                        "drawn the same", "give ranges apart"))
        out.ports.append(PortRule(rule["from"], ports))
    known = {str(n) for n in nodes} if isinstance(nodes, dict) else set()
    taken: set[str] = set()
    for rule in _rules(raw, "names", f"{where}.names", problems):
        place = rule["place"]
        source, names = rule["from"], rule["to"]
        if not isinstance(source, str) or source not in known:
            problems.append(Problem(f"{place}.from", f"there is no node '{source}' to rename",
                                    "name a node of the file's nodes:"))
            continue
        if not isinstance(names, list) or not 2 <= len(names) <= MAX_NAMES:
            problems.append(Problem(f"{place}.to", f"expected a list of 2 to {MAX_NAMES} names, got {names!r}"[:300],
                                    "to: [isp, carrier, upstream]"))
            continue
        bad = [n for n in names if not isinstance(n, str) or not NAME_RE.match(n)]
        clash = [n for n in names if isinstance(n, str) and n in known]
        again = [n for n in names if isinstance(n, str) and n in taken]
        if bad:
            problems.append(Problem(f"{place}.to", f"'{bad[0]}' is not a node name", "lowercase letters, digits "
                                    "and '-', starting and ending with a letter or digit"))
        elif clash:
            problems.append(Problem(f"{place}.to", f"'{clash[0]}' is already a node's name", "choose new names"))
        elif again or len(set(names)) != len(names):
            problems.append(Problem(f"{place}.to", f"'{(again or names)[0]}' is offered twice",
                                    "every name once, in one rule"))
        elif any(r.source == source for r in out.names):
            problems.append(Problem(f"{place}.from", f"node '{source}' is renamed by another rule too", ""))
        else:
            taken |= set(names)
            out.names.append(NameRule(source, tuple(names)))
    if not problems and not (out.subnets or out.ports or out.names):
        problems.append(Problem(where, "no variant is given", "remove the section, or give subnets, ports or names"))
    return (None if problems else out), problems


# --- rewriting the file ---------------------------------------------------------------------------

def _walk(value: Any, loc: Loc, text: Callable[[str, Loc], str], number: Callable[[int, Loc], int],
          key: Callable[[Any, Loc], Any]) -> Any:
    """A copy of the YAML value with each string, integer and mapping key rewritten."""
    if isinstance(value, dict):
        return {key(k, loc): _walk(v, (*loc, k), text, number, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*loc, i), text, number, key) for i, v in enumerate(value)]
    if isinstance(value, str):
        return text(value, loc)
    if type(value) is int:
        return number(value, loc)
    return value


def _where(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _rewriter(drawn: Drawn, problems: list[Problem] | None = None, variants: Variants | None = None) -> tuple[
        Callable[[str, Loc], str], Callable[[int, Loc], int], Callable[[Any, Loc], Any]]:
    """The three rewriting functions for one student's values; with
    `problems` (and the rules), what would go wrong is said there (check mode)."""
    names = {re.compile(rf"(?<![\w-]){re.escape(a)}(?![\w-])"): b for a, b in drawn.names.items()}
    destinations = [(r.to, r.source) for r in variants.subnets] if variants else []
    port_rules = variants.ports if variants else []

    def address(match: re.Match[str], loc: Loc) -> str:
        try:
            ip = ipaddress.IPv4Address(match.group(1))
        except ValueError:
            return match.group(0)
        length = int(match.group(2)) if match.group(2) is not None else 32
        if length > 32:
            return match.group(0)
        net = ipaddress.IPv4Network((ip, length), strict=False)
        for source, to in drawn.subnets.items():
            if ip in source and length >= source.prefixlen:
                moved = ipaddress.IPv4Address(int(to.network_address) + int(ip) - int(source.network_address))
                return str(moved) + (f"/{length}" if match.group(2) is not None else "")
            if problems is not None and length and net.overlaps(source):
                problems.append(Problem(_where(loc), f"{match.group(0)} covers {source} only in part once it "
                                        "is moved (variants.subnets)", f"write it within {source}, or as "
                                        f"{source} itself"))
                return match.group(0)
        if problems is not None:
            for to, source in destinations:
                if ip in to and ip not in source:
                    problems.append(Problem(_where(loc), f"{match.group(0)} lies in {to}, where a student's "
                                            f"{source} may be moved to", f"take it out of {to}, or the range "
                                            "out of its way"))
        return match.group(0)

    def text(value: str, loc: Loc) -> str:
        out = _ADDRESS.sub(lambda m: address(m, loc), value) if drawn.subnets else value
        found = _NAME_PORT.match(out)
        if found and int(found.group(2)) in drawn.ports:
            out = f"{found.group(1)}:{drawn.ports[int(found.group(2))]}"
        elif found and problems is not None:
            port(int(found.group(2)), loc)
        for pattern, new in names.items():
            out = pattern.sub(new, out)
        return out

    def port(value: int, loc: Loc) -> int:
        if value in drawn.ports:
            return drawn.ports[value]
        if problems is not None:
            for rule in port_rules:
                if value in rule.to:
                    problems.append(Problem(_where(loc), f"port {value} is in {rule.to[0]}-{rule.to[-1]}, the "
                                            f"ports a student's {rule.source} may become", "take it out of the range"))
        return value

    def number(value: int, loc: Loc) -> int:
        return port(value, loc) if loc and loc[-1] in PORT_KEYS else value

    def key(value: Any, loc: Loc) -> Any:
        return drawn.names.get(value, value) if loc == ("nodes",) else value

    return text, number, key


def _sections(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for k, v in data.items():
        if k == "exercise" and isinstance(v, dict):
            yield k, {kk: vv for kk, vv in v.items() if kk != "variants"}
        else:
            yield k, v


def check(variants: Variants, data: dict[str, Any]) -> list[Problem]:
    """What would make some student's variant wrong, found without a student."""
    problems: list[Problem] = []
    identity = Drawn(subnets={r.source: r.source for r in variants.subnets},
                     ports={r.source: r.source for r in variants.ports})
    text, number, key = _rewriter(identity, problems, variants)
    for k, v in _sections(data):
        _walk(v, (k,), text, number, key)
    return problems


def apply(variants: Variants, data: dict[str, Any], seed: str, student: str) -> tuple[dict[str, Any], Drawn]:
    """The file's values as this student's variant has them."""
    drawn = draw(variants, seed, student)
    out = rewrite(dict(_sections(data)), drawn)
    if isinstance(data.get("exercise"), dict) and "variants" in data["exercise"]:
        out["exercise"]["variants"] = data["exercise"]["variants"]
    return out, drawn


def rewrite(value: Any, drawn: Drawn, loc: Loc = ()) -> Any:
    """Any YAML value (a file's sections, a checks file's list) as a
    student's variant has it."""
    text, number, key = _rewriter(drawn)
    return _walk(value, loc, text, number, key)
