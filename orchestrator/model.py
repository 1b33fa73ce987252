"""The topology model: what a user may write in lab.yml, as pydantic models.

This module says what is *well formed*; `orchestrator.validate` says what is
*consistent* (names exist, addresses fit their subnets, gateways are reachable).
Both feed `orchestrator.load`, which reports every problem at once.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import units

#: Node and lab names: they become hostnames and parts of container names.
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
#: Linux refuses interface names longer than this.
IFNAME_MAX = 15
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Kind = Literal["host", "switch", "router"]
KINDS: tuple[str, ...] = ("host", "switch", "router")


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_interface_address(value: Any) -> ipaddress.IPv4Interface:
    """'10.0.1.10/24' -> IPv4Interface, with messages a student can act on."""
    if not isinstance(value, str):
        raise ValueError(f"expected an address like 10.0.1.10/24, got {value!r}")
    text = value.strip()
    if "/" not in text:
        raise ValueError(
            f"'{text}' has no prefix length; write the address with its subnet "
            f"size, like {text}/24"
        )
    try:
        return ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an IPv4 address with a prefix length "
            "(expected like 10.0.1.10/24)"
        ) from None


def parse_address(value: Any) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 address like 10.0.1.1, got {value!r}")
    text = value.strip()
    if "/" in text:
        raise ValueError(
            f"'{text}' has a prefix length; write just the address, like "
            f"{text.split('/')[0]}"
        )
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an IPv4 address (expected like 10.0.1.1)") from None


def parse_network(value: Any) -> ipaddress.IPv4Network:
    if not isinstance(value, str):
        raise ValueError(f"expected a subnet like 10.0.2.0/24, got {value!r}")
    text = value.strip()
    if text == "default":
        return ipaddress.IPv4Network("0.0.0.0/0")
    if "/" not in text:
        raise ValueError(f"'{text}' has no prefix length; write a subnet like {text}/24")
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        try:
            loose = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"'{text}' is not an IPv4 subnet (expected like 10.0.2.0/24)"
            ) from None
        raise ValueError(
            f"'{text}' has host bits set; the subnet is {loose}"
        ) from None


class InterfaceSpec(StrictModel):
    """An interface of a node. `eth0: 10.0.1.10/24` is short for `eth0: {address: ...}`."""

    address: ipaddress.IPv4Interface | None = None
    mac: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, str):
            return {"address": data}
        return data

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        return None if value is None else parse_interface_address(value)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", value):
            raise ValueError(f"'{value}' is not a MAC address (expected like 02:00:00:00:00:01)")
        if int(value[:2], 16) & 1:
            raise ValueError(f"'{value}' is a multicast MAC; the first byte must be even")
        return value.lower()


class RouteSpec(StrictModel):
    """A static route: `{to: 10.0.3.0/24, via: 10.0.12.2}` (`to: default` allowed)."""

    to: ipaddress.IPv4Network
    via: ipaddress.IPv4Address

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: Any) -> Any:
        return parse_network(value)

    @field_validator("via", mode="before")
    @classmethod
    def _via(cls, value: Any) -> Any:
        return parse_address(value)


ServiceType = Literal["http", "select", "chat", "udp-echo", "command"]
SERVICE_TYPES: tuple[str, ...] = ("http", "select", "chat", "udp-echo", "command")
#: the port a service listens on when none is written
DEFAULT_PORTS = {"http": 80, "select": 6000, "chat": 5000, "udp-echo": 7}


class ServiceSpec(StrictModel):
    """A program the node's supervisor runs: `{type: http, port: 80, root: www}`.

    `root` (http) is a folder relative to the lab folder, copied into the node;
    `command` runs any program (type command) under the same supervision.
    """

    type: ServiceType
    name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    bind: str = "0.0.0.0"
    root: str | None = None
    command: list[str] | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> "ServiceSpec":
        if self.type == "http" and self.root is None:
            raise ValueError("an http service needs 'root': the folder (in the lab folder) it serves")
        if self.type != "http" and self.root is not None:
            raise ValueError(f"'root' is for http services, not {self.type}")
        if self.type == "command" and not self.command:
            raise ValueError("a command service needs 'command': [program, arguments...]")
        if self.type != "command" and self.command is not None:
            raise ValueError(f"'command' is for type command, not {self.type}")
        return self

    @property
    def effective_name(self) -> str:
        return self.name or self.type

    @property
    def effective_port(self) -> int | None:
        return self.port or DEFAULT_PORTS.get(self.type)


Proto = Literal["tcp", "udp", "icmp", "any"]
Action = Literal["accept", "drop", "reject"]


def _port_range(value: Any) -> Any:
    """80 or "8000-8080" -> (lo, hi)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a port like 80 or a range like 8000-8080, got {value!r}")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str) and "-" in value:
        a, _, b = value.partition("-")
        if not (a.strip().isdigit() and b.strip().isdigit()):
            raise ValueError(f"'{value}' is not a port range (expected like 8000-8080)")
        lo, hi = int(a), int(b)
    elif isinstance(value, str) and value.strip().isdigit():
        lo = hi = int(value)
    else:
        raise ValueError(f"expected a port like 80 or a range like 8000-8080, got {value!r}")
    for p in (lo, hi):
        if not 1 <= p <= 65535:
            raise ValueError(f"port {p} is out of range (1 to 65535)")
    if lo > hi:
        raise ValueError(f"the range {lo}-{hi} is backwards; write {hi}-{lo}")
    return (lo, hi)


class RuleSpec(StrictModel):
    """One firewall rule; every match it leaves out matches anything.

    `from`/`to`: a subnet (10.0.1.0/24), an address, a node (all its
    addresses), a LAN (its subnet), `node.iface` (that address), or `any`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    src: str | list[str] = Field(default="any", alias="from")
    dst: str | list[str] = Field(default="any", alias="to")
    proto: Proto = "any"
    port: tuple[int, int] | None = None
    action: Action = "accept"

    _port = field_validator("port", mode="before")(classmethod(lambda cls, v: _port_range(v)))

    @model_validator(mode="after")
    def _port_needs_proto(self) -> "RuleSpec":
        if self.port is not None and self.proto not in ("tcp", "udp"):
            raise ValueError(f"a port needs proto tcp or udp (this rule has proto {self.proto})")
        return self


class ChainSpec(StrictModel):
    """A direction of traffic: its default policy and its ordered rules."""

    policy: Literal["accept", "drop"] = "accept"
    rules: list[RuleSpec] = Field(default_factory=list)


class FirewallSpec(StrictModel):
    """Stateful by default: replies to allowed connections are let back in."""

    input: ChainSpec | None = None      # traffic to the node itself
    forward: ChainSpec | None = None    # traffic through a router
    stateful: bool = True


class ForwardSpec(StrictModel):
    """A port forward: `public_port` on the outside address -> `to` (node:port)."""

    proto: Literal["tcp", "udp"] = "tcp"
    public_port: int = Field(ge=1, le=65535)
    to: str

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        node, sep, port = value.rpartition(":")
        if not sep or not node or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"'{value}' is not node:port (expected like web:80)")
        return value


class NatSpec(StrictModel):
    """Source NAT (masquerade) of inside subnets out of one interface, and
    port forwards from the outside address to inside nodes."""

    out: str
    inside: list[str] | None = None     # default: every other connected subnet
    forwards: list[ForwardSpec] = Field(default_factory=list)


class DynamicSpec(StrictModel):
    """Timers and key of the link-state routing daemon (`routing: dynamic`)."""

    hello_interval: float = Field(default=0.2, ge=0.01, le=65)
    dead_interval: float = Field(default=0.8, ge=0.02, le=3600)
    key: str | None = Field(default=None, min_length=8)   # shared secret: packets carry an HMAC

    @model_validator(mode="after")
    def _dead_after_hello(self) -> "DynamicSpec":
        if self.dead_interval <= self.hello_interval:
            raise ValueError(f"dead_interval ({self.dead_interval}) must be longer than hello_interval "
                             f"({self.hello_interval}); 4 hellos is usual")
        return self


RoutingMode = Literal["static", "computed", "dynamic"]
ROUTING_MODES: tuple[str, ...] = ("static", "computed", "dynamic")
DEFAULT_COST = 10


class NodeSpec(StrictModel):
    kind: Kind
    interfaces: dict[str, InterfaceSpec] = Field(default_factory=dict)
    gateway: ipaddress.IPv4Address | None = None
    routes: list[RouteSpec] = Field(default_factory=list)
    image: str | None = None
    #: routers only: overrides the lab's routing mode for this router
    routing: RoutingMode | None = None
    #: routers only: the id the link-state daemon uses (default: first address)
    router_id: ipaddress.IPv4Address | None = None
    services: list[ServiceSpec] = Field(default_factory=list)
    nat: NatSpec | None = None
    firewall: FirewallSpec | None = None

    @field_validator("gateway", "router_id", mode="before")
    @classmethod
    def _gateway(cls, value: Any) -> Any:
        return None if value is None else parse_address(value)


class Endpoint(StrictModel):
    """One end of a link: `node:interface`, or just `node` (next free ethN)."""

    node: str
    iface: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            text = data.strip()
            if not text:
                raise ValueError("empty link end; write node or node:interface")
            node, sep, iface = text.partition(":")
            if sep and not iface:
                raise ValueError(f"'{text}' names no interface after ':'")
            return {"node": node, "iface": iface or None}
        if isinstance(data, dict):
            return data
        raise ValueError(f"expected node or node:interface, got {data!r}")

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}" if self.iface else self.node


class ImpairSpec(StrictModel):
    """What a link does to the packets leaving each of its ends (tc netem/tbf):
    `{delay: 50ms, jitter: 5ms, loss: 2%, rate: 10mbit}`. Stored in ms, %, kbit/s."""

    delay: float | None = None
    jitter: float | None = None
    loss: float | None = None
    rate: int | None = None

    @field_validator("delay", "jitter", mode="before")
    @classmethod
    def _time(cls, value: Any, info: Any) -> Any:
        return None if value is None else units.parse_duration_ms(str(value), info.field_name)

    @field_validator("loss", mode="before")
    @classmethod
    def _loss(cls, value: Any) -> Any:
        return None if value is None else units.parse_percent(str(value), "loss")

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return None if value is None else units.parse_rate_kbit(str(value), "rate")

    @model_validator(mode="after")
    def _sensible(self) -> "ImpairSpec":
        if not (self.delay or self.jitter or self.loss or self.rate):
            raise ValueError("an impairment needs at least one of delay, jitter, loss, rate")
        if self.jitter and not self.delay:
            raise ValueError("jitter varies a delay: give a delay too (e.g. delay: 50ms, jitter: 5ms)")
        return self


def _optional_network(value: Any) -> Any:
    return None if value is None else parse_network(value)


class LinkSpec(StrictModel):
    """A point-to-point link: `{a: h1:eth0, b: s1}` or the short `[h1:eth0, s1]`.

    `prefix` gives the subnet of the segment the link is part of (else the
    addresses written on its ends, else a pool); `cost` is its routing cost.
    """

    a: Endpoint
    b: Endpoint
    prefix: ipaddress.IPv4Network | None = None
    cost: int = Field(default=DEFAULT_COST, ge=1, le=65535)
    impair: ImpairSpec | None = None

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: _optional_network(v)))

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            if len(data) != 2:
                raise ValueError(
                    f"a link joins exactly two ends, this list has {len(data)}"
                )
            return {"a": data[0], "b": data[1]}
        return data


class LanMember(StrictModel):
    """A member of a LAN: `pc1`, `pc1:eth1`, or `{node: r1, address: 10.0.1.1/24}`."""

    node: str
    iface: str | None = None
    address: ipaddress.IPv4Interface | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            return Endpoint.model_validate(data).model_dump()
        return data

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        return None if value is None else parse_interface_address(value)


class LanSpec(StrictModel):
    """A shared segment. Its members are joined by a switch: the node named in
    `switch`, or one made for the LAN and named after it."""

    members: list[LanMember] = Field(min_length=1)
    prefix: ipaddress.IPv4Network | None = None
    switch: str | None = None
    cost: int = Field(default=DEFAULT_COST, ge=1, le=65535)

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: _optional_network(v)))


class PoolSpec(StrictModel):
    """Where addresses come from when nothing is written: `192.168.0.0/16`
    (subnets of the default size) or `{prefix: 192.168.0.0/16, size: 24}`."""

    prefix: ipaddress.IPv4Network
    size: int = Field(ge=8, le=30)

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: parse_network(v)))


DEFAULT_LAN_POOL = {"prefix": "192.168.0.0/16", "size": 24}
DEFAULT_P2P_POOL = {"prefix": "10.0.0.0/16", "size": 30}


class PoolsSpec(StrictModel):
    lan: PoolSpec = Field(default_factory=lambda: PoolSpec.model_validate(DEFAULT_LAN_POOL))
    p2p: PoolSpec = Field(default_factory=lambda: PoolSpec.model_validate(DEFAULT_P2P_POOL))

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key, default in (("lan", DEFAULT_LAN_POOL), ("p2p", DEFAULT_P2P_POOL)):
                if isinstance(data.get(key), str):
                    data[key] = {"prefix": data[key], "size": default["size"]}
                elif isinstance(data.get(key), dict) and "size" not in data[key]:
                    data[key] = {**data[key], "size": default["size"]}
        return data


class LabHeader(StrictModel):
    """The top level of lab.yml, with nodes and links left raw so that each
    node and each link is validated on its own and every error is found."""

    name: str | None = None
    description: str = ""
    routing: RoutingMode = "static"
    dynamic: DynamicSpec = Field(default_factory=DynamicSpec)
    pools: PoolsSpec = Field(default_factory=PoolsSpec)
    nodes: dict[str, Any]
    lans: dict[str, Any] = Field(default_factory=dict)
    links: list[Any] = Field(default_factory=list)
    expect: list[Any] = Field(default_factory=list)


class Topology(StrictModel):
    """A lab file that is well formed and consistent."""

    name: str
    description: str = ""
    #: static: routes as written; computed: static routes computed from the
    #: graph (shortest paths by cost); dynamic: the link-state daemon
    routing: RoutingMode = "static"
    dynamic: DynamicSpec = Field(default_factory=DynamicSpec)
    pools: PoolsSpec = Field(default_factory=PoolsSpec)
    nodes: dict[str, NodeSpec]
    lans: dict[str, LanSpec] = Field(default_factory=dict)
    links: list[LinkSpec] = Field(default_factory=list)
    #: what `lab test` checks (see orchestrator.expect); kept raw here
    expect: list[dict[str, Any]] = Field(default_factory=list)
