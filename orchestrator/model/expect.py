"""Expectations: the `expect:` section of a lab file, validated and resolved.

    expect:
      - all_pairs: hosts                               # every host reaches every host
      - reach: {from: pc1, to: [pc3, r2.eth1], proto: icmp}   # icmp | tcp:PORT | udp:PORT
      - deny: {from: out, to: pc1, proto: tcp:22}
      - path: {from: pc1, to: pc6, via: [r1, r2, r3]}  # traceroute hops, by node name
      - path: {from: pc1, to: web, via: [fw], method: tcp:80}  # icmp (default) | udp | tcp | tcp:PORT
      - service: {node: srv, http: /index.html, status: 200, contains: Hello}
      - chat: {server: srv, clients: [pc1, pc4]}
      - nat_source: {from: pc1, to: web, seen_as: r1.eth1}
      - dns: {from: pc1, lookup: www.example.lab, address: web}   # through the lab's resolver
      - dhcp: {host: pc1}                              # a lease from its LAN's pool, gateway and all
      - neigh: {node: pc1, address: r1}                # pc1's ARP table gives r1's address r1's MAC
      - reach: {from: pc1, to: pc6, wait: 10s, timeout: 1, name: routes converged}

This module says what an expectation may look like (`parse_item`: one item
of the list -> an Expectation, or its problems, each with its place, e.g.
``expect[2].reach.to[1]``). `orchestrator.compile.checks` checks the names in
them against the lab and resolves them into the plan's `Check`s.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import contract
from ..errors import Problem, unknown_hint
from .base import plain_message
from .units import parse_duration

KINDS = ("reach", "deny", "path", "service", "chat", "nat_source", "all_pairs", "dns", "dhcp", "neigh")
COMMON = ("name", "wait", "timeout")
GROUPS = ("hosts", "routers", "all")
DEFAULT_TIMEOUT = {"icmp": 1.0, "tcp": 1.0, "udp": 1.0, "path": 1.0, "service": 3.0,
                   "chat": 3.0, "nat_source": 3.0, "dns": 2.0, "dhcp": 10.0, "neigh": 2.0}
_PROTO = re.compile(r"^(icmp|tcp:(\d+)|udp:(\d+))$")


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
    return m.group(0)


#: what a path check's traceroute sends (see PathSpec)
METHODS = ("icmp", "udp", "tcp")
_METHOD = re.compile(r"^(icmp|udp|tcp(?::(\d+))?)$")


def parse_method(value: Any) -> str:
    """icmp | udp | tcp | tcp:PORT -> icmp, udp or tcp:PORT (tcp alone is tcp:80)."""
    text = value.strip().lower() if isinstance(value, str) else None
    m = _METHOD.match(text or "")
    if not m:
        raise ValueError(f"{value!r} is not a traceroute method; expected icmp, udp, tcp or tcp:PORT")
    if m.group(2) is not None and not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"port {m.group(2)} is out of range (1-65535)")
    return "tcp:80" if text == "tcp" else m.group(0)


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


def parse_family(value: Any) -> Any:
    """4, 6 or both (ipv4, ipv6 too): which addresses of the targets are probed."""
    text = str(value).strip().lower()
    found = {"4": 4, "ipv4": 4, "6": 6, "ipv6": 6, "both": "both"}.get(text)
    if found is None or isinstance(value, bool):
        raise ValueError(f"expected 4, 6 or both, got {value!r}")
    return found


class _Family(_Spec):
    #: which of the targets' addresses are probed: IPv4 (the default), IPv6, or each
    family: Literal[4, 6, "both"] = 4

    _family = field_validator("family", mode="before")(classmethod(lambda cls, v: parse_family(v)))


class Reach(_Family):
    src: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    proto: str = "icmp"

    _to = field_validator("to", mode="before")(classmethod(lambda cls, v: _names(v)))
    _proto = field_validator("proto", mode="before")(classmethod(lambda cls, v: parse_proto(v)))


class Deny(Reach):
    pass


class PathSpec(_Family):
    src: str = Field(alias="from")
    to: str
    via: list[str]
    #: what the traceroute sends: icmp echo requests (the default: what a lab that
    #: answers pings lets through, and the target answers every one itself),
    #: udp to high ports (classic traceroute) or tcp connects (tcp = tcp:80)
    method: str = "icmp"

    _via = field_validator("via", mode="before")(classmethod(lambda cls, v: _names(v)))
    _method = field_validator("method", mode="before")(classmethod(lambda cls, v: parse_method(v)))


class Service(_Family):
    node: str
    http: str = "/"
    port: int = Field(default=80, ge=1, le=65535)
    status: int | None = Field(default=None, ge=100, le=599)
    contains: str | None = None
    #: a file of the lab folder the body must equal, byte for byte (sha256 compared):
    #: the check that a transfer arrived intact
    same_as: str | None = None
    #: the node the request is made from (default: the service's own node)
    src: str | None = Field(default=None, alias="from")

    @field_validator("http")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' is not a URL path; write it from the root, like /{value}")
        return value


class Chat(_Family):
    server: str
    clients: list[str] = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)    # None: the server's chat service's, else 5000

    _clients = field_validator("clients", mode="before")(classmethod(lambda cls, v: _names(v)))


class NatSource(_Spec):
    src: str = Field(alias="from")
    to: str
    seen_as: str
    port: int = Field(default=80, ge=1, le=65535)
    #: the file or folder in the target node holding its http access log
    log: str = contract.LOG_DIR


DNS_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT", "SOA")
RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED")


class Dns(_Spec):
    """A name looked up from a node: through the lab's resolver (or `server`),
    answered with `address` among the addresses (or, with `rcode`, that answer)."""

    src: str = Field(alias="from")
    lookup: str
    type: str = "A"
    address: str | None = None
    server: str | None = None
    rcode: Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"] = "NOERROR"

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.upper() not in DNS_TYPES:
            raise ValueError(f"'{value}' is not a record type this probe asks for ({', '.join(DNS_TYPES)})")
        return value.upper()

    @field_validator("lookup")
    @classmethod
    def _lookup(cls, value: str) -> str:
        if not value or len(value) > 253 or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError(f"'{value[:60]}' is not a DNS name (like www.example.lab)")
        return value


class Dhcp(_Spec):
    """A host's interface holds a lease from the pool of its LAN (and, with
    `address`, that address), with the pool's router as default gateway."""

    host: str
    iface: str | None = None
    address: str | None = None


class Neigh(_Spec):
    """A node's neighbour table, once it has resolved `address` (a node on one
    of its links, node.iface or an address), holds `mac` for it (default:
    the MAC of the interface the plan gives that address; a MAC or node.iface)."""

    node: str
    address: str
    mac: str | None = None

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None and re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", value):
            return value.lower()
        return value


class AllPairs(_Family):
    nodes: list[str] | Literal["hosts", "routers", "all"] = "hosts"
    proto: str = "icmp"

    _proto = field_validator("proto", mode="before")(classmethod(lambda cls, v: parse_proto(v)))


MODELS: dict[str, type[_Spec]] = {"reach": Reach, "deny": Deny, "path": PathSpec, "service": Service,
                                  "chat": Chat, "nat_source": NatSource, "all_pairs": AllPairs, "dns": Dns,
                                  "dhcp": Dhcp, "neigh": Neigh}


class Expectation(BaseModel):
    """One validated item of the expect list."""

    index: int
    section: str = "expect"   # or "exercise.checks"
    kind: Literal["reach", "deny", "path", "service", "chat", "nat_source", "all_pairs", "dns", "dhcp", "neigh"]
    spec: _Spec           # the model of its kind: MODELS[kind]

    @property
    def where(self) -> str:
        return f"{self.section}[{self.index}].{self.kind}"


# --- validation -------------------------------------------------------------

def suggest(word: str, choices: Iterable[str]) -> str:
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
            hint = suggest(str(err["loc"][-1]), allowed)
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
            message = plain_message(err)
        problem = Problem(where + loc, message, hint)
        if problem not in out:
            out.append(problem)
    return out


def parse_item(index: int, raw: Any, section: str = "expect") -> tuple[Expectation | None, list[Problem]]:
    where = f"{section}[{index}]"
    if not isinstance(raw, dict):
        return None, [Problem(where, f"expected a mapping like 'reach: {{from: pc1, to: pc2}}', got {raw!r}",
                              "kinds: " + ", ".join(KINDS))]
    problems = []
    kinds = [k for k in raw if k in KINDS]
    for key in raw:
        if key not in KINDS and key not in COMMON:
            problems.append(_unknown_key(where, str(key), kinds))
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
        partial = _partial(index, kind, body, exc)
        return (partial.model_copy(update={"section": section}) if partial else None), problems
    return Expectation(index=index, section=section, kind=kind, spec=spec), problems


def _unknown_key(where: str, key: str, kinds: list[str]) -> Problem:
    """A key of an item that is neither a kind nor name/wait/timeout."""
    if len(kinds) != 1:  # no kind (or several): most likely a misspelt kind
        return Problem(f"{where}.{key}", f"unknown expectation '{key}'", unknown_hint(key, KINDS, "kinds"))
    kind = kinds[0]
    fields = [f.alias or n for n, f in MODELS[kind].model_fields.items() if n not in COMMON]
    if key in fields:
        return Problem(f"{where}.{key}", f"'{key}' belongs inside {kind}",
                       f"indent it under {kind}, like {_example(MODELS[kind])}")
    return Problem(f"{where}.{key}", f"unknown key '{key}' next to {kind}",
                   unknown_hint(key, COMMON, f"allowed next to {kind}"))


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
            "chat": "chat: {server: srv, clients: [pc1]}",
            "nat_source": "nat_source: {from: pc1, to: web, seen_as: r1.eth1}",
            "all_pairs": "all_pairs: hosts", "dns": "dns: {from: pc1, lookup: www.example.lab, address: web}",
            "dhcp": "dhcp: {host: pc1}", "neigh": "neigh: {node: pc1, address: r1}"}[kind]
