"""Expectations: the `expect:` section of a lab file, validated and resolved.

    expect:
      - all_pairs: hosts                               # every host reaches every host
      - reach: {from: pc1, to: [pc3, r2.eth1], proto: icmp}   # icmp | tcp:PORT | udp:PORT
      - deny: {from: out, to: pc1, proto: tcp:22}
      - path: {from: pc1, to: pc6, via: [r1, r2, r3]}  # traceroute hops, by node name
      - service: {node: srv, http: /index.html, status: 200, contains: Hello}
      - chat: {server: srv, clients: [pc1, pc4]}
      - nat_source: {from: pc1, to: web, seen_as: r1.eth1}
      - reach: {from: pc1, to: pc6, wait: 10s, timeout: 1, name: routes converged}

`check_expectations` validates the raw list against the lab's nodes (every
problem at once, each with its place, e.g. ``expect[2].reach.to[1]``).
`orchestrator.checks` resolves expectations into `Check`s against a Plan.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import Problem
from .model import NodeSpec

KINDS = ("reach", "deny", "path", "service", "chat", "nat_source", "all_pairs")
COMMON = ("name", "wait", "timeout")
GROUPS = ("hosts", "routers", "all")
#: where the node's services write their logs (nat_source searches it)
LOG_DIR = "/var/log/labnet"
DEFAULT_TIMEOUT = {"icmp": 1.0, "tcp": 1.0, "udp": 1.0, "path": 1.0, "service": 3.0,
                   "chat": 3.0, "nat_source": 3.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_PROTO = re.compile(r"^(icmp|tcp:(\d+)|udp:(\d+))$")


def parse_duration(value: Any) -> float:
    """5, 2.5, "5s", "500ms", "1m" -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s or 500ms, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"{value!r} is not a duration; write seconds like 5, 5s or 500ms")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_proto(value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in ("tcp", "udp"):
        raise ValueError(f"'{text}' needs a port: write {text}:80")
    m = _PROTO.match(text or "")
    if not m:
        raise ValueError(f"{value!r} is not a protocol; expected icmp, tcp:PORT or udp:PORT")
    port = m.group(2) or m.group(3)
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return text


def _names(value: Any) -> Any:
    """A single name is short for a list of one."""
    return [value] if isinstance(value, str) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = None
    #: keep retrying until the expectation holds or this many seconds passed
    wait: float = 0.0
    #: seconds one probe may take (default depends on the probe)
    timeout: float | None = None

    @field_validator("wait", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("a timeout must be more than 0 seconds")
        return value


class Reach(_Spec):
    src: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    proto: str = "icmp"

    _to = field_validator("to", mode="before")(classmethod(lambda cls, v: _names(v)))
    _proto = field_validator("proto", mode="before")(classmethod(lambda cls, v: parse_proto(v)))


class Deny(Reach):
    pass


class PathSpec(_Spec):
    src: str = Field(alias="from")
    to: str
    via: list[str]

    _via = field_validator("via", mode="before")(classmethod(lambda cls, v: _names(v)))


class Service(_Spec):
    node: str
    http: str = "/"
    port: int = Field(default=80, ge=1, le=65535)
    status: int | None = Field(default=None, ge=100, le=599)
    contains: str | None = None
    #: the node the request is made from (default: the service's own node)
    src: str | None = Field(default=None, alias="from")

    @field_validator("http")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' is not a URL path; write it from the root, like /{value}")
        return value


class Chat(_Spec):
    server: str
    clients: list[str] = Field(min_length=1)
    port: int = Field(default=5000, ge=1, le=65535)

    _clients = field_validator("clients", mode="before")(classmethod(lambda cls, v: _names(v)))


class NatSource(_Spec):
    src: str = Field(alias="from")
    to: str
    seen_as: str
    port: int = Field(default=80, ge=1, le=65535)
    #: the file or folder in the target node holding its http access log
    log: str = LOG_DIR


class AllPairs(_Spec):
    nodes: list[str] | Literal["hosts", "routers", "all"] = "hosts"
    proto: str = "icmp"

    _proto = field_validator("proto", mode="before")(classmethod(lambda cls, v: parse_proto(v)))


MODELS: dict[str, type[_Spec]] = {"reach": Reach, "deny": Deny, "path": PathSpec, "service": Service,
                                  "chat": Chat, "nat_source": NatSource, "all_pairs": AllPairs}


class Expectation(BaseModel):
    """One validated item of the expect list."""

    index: int
    kind: Literal["reach", "deny", "path", "service", "chat", "nat_source", "all_pairs"]
    spec: Reach | Deny | PathSpec | Service | Chat | NatSource | AllPairs

    @property
    def where(self) -> str:
        return f"expect[{self.index}].{self.kind}"


class Check(BaseModel):
    """One probe of an expectation, resolved against the plan."""

    id: str                      # where it comes from: "expect[1].reach.to[0]"
    title: str                   # "reach pc1 -> pc3 icmp", or the expectation's name
    kind: Literal["reach", "deny", "path", "service", "chat", "nat_source"]
    src: str                     # the node the probe runs in
    dst: str                     # what is probed, as written: pc3, r1.eth1, 10.0.0.1
    address: str                 # the target's address
    proto: str = "icmp"          # reach/deny: icmp | tcp:PORT | udp:PORT
    port: int | None = None      # service, chat, nat_source
    expected: str                # what must be seen, in words
    via: list[str] = Field(default_factory=list)      # path
    http: str | None = None      # service: the URL path
    status: int | None = None
    contains: str | None = None
    seen_as: list[str] = Field(default_factory=list)  # nat_source: acceptable sources
    log: str | None = None       # nat_source: the access log (file or folder)
    wait: float = 0.0
    timeout: float = 1.0


# --- validation -------------------------------------------------------------

def _suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return ("known: " + ", ".join(choices)) if choices else ""


def _pydantic_problems(exc: ValidationError, where: str, model: type[_Spec]) -> list[Problem]:
    out = []
    allowed = [f.alias or n for n, f in model.model_fields.items()]
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        kind, hint = err["type"], ""
        if kind == "extra_forbidden":
            message = f"unknown key '{err['loc'][-1]}'"
            hint = _suggest(str(err["loc"][-1]), allowed)
        elif kind == "missing":
            message = f"'{err['loc'][-1]}' is required"
            hint = "for example " + _example(model)
        elif kind == "value_error":
            message = str(err["ctx"]["error"])
        elif err["loc"][0] == "nodes" and model is AllPairs:
            message = f"{err['input']!r} is not a node group; write hosts, routers, all or a list of nodes"
            loc = ".nodes"
        elif kind == "too_short":
            message = f"'{err['loc'][-1]}' needs at least one entry"
        else:
            message = err["msg"][0].lower() + err["msg"][1:]
            if not isinstance(err.get("input"), (dict, list)):
                message += f", got {err.get('input')!r}"
        problem = Problem(where + loc, message, hint)
        if problem not in out:
            out.append(problem)
    return out


class _Checker:
    def __init__(self, nodes: Mapping[str, NodeSpec], interfaces: Mapping[str, Iterable[str]] | None,
                 broken: Iterable[str] = ()):
        self.nodes = nodes
        self.broken = set(broken)  # nodes that exist but did not validate: no verdict on them
        self.interfaces = {n: set(i) for n, i in interfaces.items()} if interfaces is not None else None
        self.problems: list[Problem] = []

    def err(self, where: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(where, message, hint))

    def node(self, where: str, name: str, role: str = "node", kinds: tuple[str, ...] = ("host", "router")
             ) -> bool:
        if name is None or name in self.broken:  # not well formed: reported already
            return False
        spec = self.nodes.get(name)
        if spec is None:
            self.err(where, f"unknown node '{name}'", _suggest(name, self.nodes))
            return False
        if spec.kind not in kinds and role == "hop":
            self.err(where, f"'{name}' is a {spec.kind}; via lists the routers on the way",
                     "leave out the source and the target")
        elif spec.kind not in kinds:
            self.err(where, f"'{name}' is a {spec.kind} and cannot be the {role}",
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
                     _suggest(iface, have) if have else f"'{node}' has no connected interface")

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
        elif isinstance(s, AllPairs) and isinstance(s.nodes, list):
            for i, name in enumerate(s.nodes):
                self.node(f"{w}.nodes[{i}]", name)
            if len(set(s.nodes)) < 2:
                self.err(f"{w}.nodes", "all_pairs needs at least two nodes", "list two or more, or write hosts")


def parse_item(index: int, raw: Any) -> tuple[Expectation | None, list[Problem]]:
    where = f"expect[{index}]"
    if not isinstance(raw, dict):
        return None, [Problem(where, f"expected a mapping like 'reach: {{from: pc1, to: pc2}}', got {raw!r}",
                              "kinds: " + ", ".join(KINDS))]
    problems = []
    kinds = [k for k in raw if k in KINDS]
    for key in raw:
        if key not in KINDS and key not in COMMON:
            problems.append(Problem(f"{where}.{key}", f"unknown expectation '{key}'",
                                    _suggest(str(key), KINDS + COMMON)))
    if len(kinds) != 1:
        if not problems:
            message = ("names no expectation" if not kinds
                       else f"has {len(kinds)} expectations ({', '.join(kinds)}); write one per item")
            problems.append(Problem(where, message, "kinds: " + ", ".join(KINDS)))
        return None, problems
    kind = kinds[0]
    body = raw[kind]
    if kind == "all_pairs" and (isinstance(body, (str, list)) or body is None):
        body = {"nodes": body if body is not None else "hosts"}
    if not isinstance(body, dict):
        return None, problems + [Problem(f"{where}.{kind}", f"expected a mapping of {kind}'s keys, got {body!r}",
                                         "for example " + _example(MODELS[kind]))]
    body = dict(body)
    for key in COMMON:
        if key in raw:
            if key in body:
                problems.append(Problem(f"{where}.{key}", f"'{key}' is given twice (here and in {kind})",
                                        "keep one"))
            body[key] = raw[key]
    try:
        spec = MODELS[kind].model_validate(body)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, f"{where}.{kind}", MODELS[kind])
        return _partial(index, kind, body, exc), problems
    return Expectation(index=index, kind=kind, spec=spec), problems


def _partial(index: int, kind: str, body: dict, exc: ValidationError) -> Expectation | None:
    """What is well formed in an item that is not, so its names get checked too."""
    model = MODELS[kind]
    broken = {e["loc"][0] for e in exc.errors() if e["loc"]}
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = body.get(key)
        is_list = typing.get_origin(field.annotation) is list
        if key in broken or value is None:
            value = [] if is_list else None
        elif is_list:
            value = _names(value)
        ok = isinstance(value, str) or value is None or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
        values[name] = value if ok or name not in ("src", "to", "via", "clients", "node", "server", "seen_as",
                                                   "nodes") else None
    return Expectation.model_construct(index=index, kind=kind, spec=model.model_construct(**values))


def _example(model: type[_Spec]) -> str:
    kind = next(k for k, m in MODELS.items() if m is model)
    return {"reach": "reach: {from: pc1, to: [pc2], proto: icmp}", "deny": "deny: {from: pc1, to: pc2, proto: tcp:22}",
            "path": "path: {from: pc1, to: pc6, via: [r1, r2]}", "service": "service: {node: srv, http: /}",
            "chat": "chat: {server: srv, clients: [pc1]}", "nat_source": "nat_source: {from: pc1, to: web, seen_as: r1.eth1}",
            "all_pairs": "all_pairs: hosts"}[kind]


def check_expectations(raw: list[Any], nodes: Mapping[str, NodeSpec],
                       interfaces: Mapping[str, Iterable[str]] | None = None,
                       broken: Iterable[str] = ()) -> tuple[list[Expectation], list[Problem]]:
    """Validate the raw expect list. Returns the expectations and every problem.

    `interfaces` (node -> its interface names after wiring, see
    `wired_interfaces`) lets `r1.eth1` references be checked too.
    """
    if not isinstance(raw, list):
        return [], [Problem("expect", f"expected a list of expectations, got {type(raw).__name__}",
                            "start each item with '- ', like '- all_pairs: hosts'")]
    checker = _Checker(nodes, interfaces, broken)
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


def wired_interfaces(nodes, lans, links, broken=frozenset()) -> dict[str, set[str]]:
    """node -> the interface names its cables get (for check_expectations)."""
    from .wiring import build_wiring
    wiring, _ = build_wiring(nodes, lans, links, broken)
    out: dict[str, set[str]] = {}
    for cable in wiring.cables:
        for node, iface in (cable.a, cable.b):
            out.setdefault(node, set()).add(iface)
    return out
