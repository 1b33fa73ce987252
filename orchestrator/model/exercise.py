"""The `exercise:` section of a lab file: the lab broken on purpose, and the
checks a student must make pass.

    exercise:
      title: Fix the routing
      faults:
        - route_removed: {node: r2, to: 192.168.1.0/24}       # a route of the plan deleted
        - route_wrong:   {node: r1, to: 192.168.3.0/24, via: 10.0.12.2}   # ... sent elsewhere
        - gateway_wrong: {node: pc1, via: 192.168.1.99}        # a host's default route
        - mask_wrong:    {node: pc3, prefix: 16}                # its address with another mask
        - address_clash: {node: pc2, address: pc1}              # another node's address
        - link_down:     {node: r2, iface: eth1}                # an interface set down
        - firewall_block: {node: r2, from: pc1, to: pc6, proto: tcp:80}   # a rule that drops
        - nat_missing:   {node: gw}                             # the NAT table deleted
        - service_stopped: {node: web, service: http}           # a service frozen (kill -STOP)
        - one_of:                                               # each student gets one of these
            - route_removed: {node: r3, to: 192.168.1.0/24}
            - route_removed: {node: r1, to: 192.168.3.0/24}
      checks:                                                   # the expectation language
        - all_pairs: hosts

This module says what a fault may look like (`parse_fault`: one item -> a
Fault, or its problems, each with its place, e.g. ``exercise.faults[1].node``);
`orchestrator.compile.exercise` checks them against the plan and makes the
commands that deal them and take them back.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import Problem, unknown_hint
from .base import plain_message
from .expect import parse_proto

#: at most this many faults in one exercise (each one is dealt and taken back
#: on its own by the negative control)
MAX_FAULTS = 64


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    node: str


def _network(value: Any) -> str:
    if str(value) in ("default", "0.0.0.0/0"):
        return "default"
    try:
        return str(ipaddress.IPv4Network(str(value), strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network like 192.168.1.0/24 ({exc})") from None


class RouteRemoved(_Fault):
    """A route of the plan (static or computed) deleted from the node's kernel."""

    to: str
    _to = field_validator("to", mode="before")(classmethod(lambda cls, v: _network(v)))


class RouteWrong(_Fault):
    """A route of the plan sent to another next hop on one of the node's subnets."""

    to: str
    via: str
    _to = field_validator("to", mode="before")(classmethod(lambda cls, v: _network(v)))


class GatewayWrong(_Fault):
    """A host's default route through another address of its subnet."""

    via: str


class MaskWrong(_Fault):
    """The node's address kept, with another prefix length."""

    iface: str | None = None
    prefix: int = Field(ge=1, le=32)


class AddressClash(_Fault):
    """The node's address replaced by another node's (a node, node.iface or an address)."""

    iface: str | None = None
    address: str


class LinkDown(_Fault):
    """One of the node's interfaces set administratively down."""

    iface: str


class FirewallBlock(_Fault):
    """A rule in the node that drops packets from `from` (default: anyone) to
    `to`, of `proto` (icmp, tcp:PORT, udp:PORT; default: all)."""

    to: str
    from_: str | None = Field(default=None, alias="from")
    proto: str | None = None
    _proto = field_validator("proto", mode="before")(
        classmethod(lambda cls, v: None if v is None else parse_proto(v)))


class NatMissing(_Fault):
    """The node's NAT (its `nat:` section) deleted from the kernel."""


class ServiceStopped(_Fault):
    """One of the node's services frozen with SIGSTOP (its process group):
    the kernel still accepts connections on its port, nothing answers, and
    the supervisor, which restarts a service that ends, sees it running.
    `service` names it (default: the node's only service)."""

    service: str | None = None


MODELS: dict[str, type[_Fault]] = {
    "route_removed": RouteRemoved, "route_wrong": RouteWrong, "gateway_wrong": GatewayWrong,
    "mask_wrong": MaskWrong, "address_clash": AddressClash, "link_down": LinkDown,
    "firewall_block": FirewallBlock, "nat_missing": NatMissing, "service_stopped": ServiceStopped,
}
KINDS = tuple(MODELS)


class Fault(BaseModel):
    """One parsed fault: its kind, its keys, its place in the file, and which
    item of the faults list it is (`choice`) and which of that item's
    `one_of` alternatives (`option`; 0 for a plain fault)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    spec: _Fault
    where: str
    choice: int = 0
    option: int = 0


#: a one_of item offers this many alternatives at the most
MAX_OPTIONS = 16


def parse_item(index: int, raw: Any) -> tuple[list[Fault], list[Problem]]:
    """One item of the faults list: a fault, or `one_of: [fault, fault, ...]`
    (each student gets one of them, drawn from their name: docs/classroom.md)."""
    if isinstance(raw, dict) and list(raw) == ["one_of"]:
        where = f"exercise.faults[{index}].one_of"
        options = raw["one_of"]
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS:
            return [], [Problem(where, f"expected a list of 2 to {MAX_OPTIONS} faults to choose from, got "
                                f"{options!r}"[:300], "- one_of: [{link_down: {...}}, {route_removed: {...}}]")]
        out: list[Fault] = []
        problems: list[Problem] = []
        for k, option in enumerate(options):
            if isinstance(option, dict) and "one_of" in option:
                problems.append(Problem(f"{where}[{k}]", "a one_of inside a one_of", "list the faults in one one_of"))
                continue
            fault, found = parse_fault(index, option, f"{where}[{k}]")
            problems += found
            if fault is not None:
                out.append(fault.model_copy(update={"choice": index, "option": k}))
        return out, problems
    fault, problems = parse_fault(index, raw)
    return ([fault] if fault else []), problems


def parse_fault(index: int, raw: Any, where: str | None = None) -> tuple[Fault | None, list[Problem]]:
    where = where or f"exercise.faults[{index}]"
    if not isinstance(raw, dict) or len(raw) != 1:
        return None, [Problem(where, f"expected one fault like 'route_removed: {{node: r2, to: 10.0.1.0/24}}', "
                              f"got {raw!r}"[:300], "kinds: " + ", ".join(KINDS))]
    kind, body = next(iter(raw.items()))
    if kind not in MODELS:
        return None, [Problem(f"{where}.{kind}", f"unknown fault '{kind}'",
                              unknown_hint(str(kind), KINDS, "kinds"))]
    if not isinstance(body, dict):
        return None, [Problem(f"{where}.{kind}", f"expected a mapping of {kind}'s keys, got {body!r}"[:300],
                              "for example 'link_down: {node: r1, iface: eth1}'")]
    try:
        spec = MODELS[kind].model_validate(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"] if p != "from_") or ""
            place = f"{where}.{kind}" + (f".{loc}" if loc else "")
            if err["type"] == "extra_forbidden":
                keys = ", ".join(k for k in MODELS[kind].model_fields if k != "from_") + (
                    ", from" if "from_" in MODELS[kind].model_fields else "")
                problems.append(Problem(place, f"unknown key '{loc}'", f"{kind} takes: {keys}"))
            elif err["type"] == "value_error":    # one of ours: its own words
                problems.append(Problem(place, str(err.get("ctx", {}).get("error", err["msg"])), ""))
            else:
                problems.append(Problem(place, plain_message(err), ""))
        return None, problems
    return Fault(kind=kind, spec=spec, where=f"{where}.{kind}", choice=index), []


class ExerciseSpec(BaseModel):
    """The exercise as written; faults and checks kept raw (parsed one by one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    faults: list[Any] = Field(default_factory=list, max_length=MAX_FAULTS)
    checks: list[Any] = Field(default_factory=list)
    variants: Any = None      # read before the rest of the file (model/variants.py)
