"""The topology model: what a user may write in lab.yml, as pydantic models.

This module says what is *well formed*; `orchestrator.compile` says what is
*consistent* (names exist, addresses fit their subnets, gateways are reachable)
while it builds the plan. `orchestrator.model.load` parses a file into these.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from .base import (
    StrictModel,
    is_v6,
    parse_address,
    parse_address6,
    parse_interface_address,
    parse_interface_address6,
    parse_link_subnet,
    parse_link_subnet6,
    parse_network,
    parse_network6,
)
from .common import DEFAULT_COST
from .specs import DynamicSpec, FirewallSpec, ImpairSpec, LimitsSpec, NatSpec, ServiceSpec, StackSpec

#: Linux refuses interface names longer than this.
IFNAME_MAX = 15
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: an image reference as the engine takes it: [host[:port]/]name[/name...][:tag][@sha256:digest]
_IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?"
                      rf"{_IMAGE_PART}(?:/{_IMAGE_PART})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
                      r"(?:@sha256:[0-9a-f]{64})?")

Kind = Literal["host", "switch", "router"]
KINDS: tuple[str, ...] = ("host", "switch", "router")


class InterfaceSpec(StrictModel):
    """An interface of a node. `eth0: 10.0.1.10/24` is short for `eth0: {address: ...}`,
    `eth0: 2001:db8:1::10/64` for `{address6: ...}`, and `eth0: [10.0.1.10/24,
    2001:db8:1::10/64]` gives both; `eth0: dhcp` (a host's) asks a dhcp service
    of the lab for its address."""

    address: ipaddress.IPv4Interface | None = None
    address6: ipaddress.IPv6Interface | None = None
    mac: str | None = None
    dhcp: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, list):
            if not 1 <= len(data) <= 2 or len({is_v6(v) for v in data}) != len(data):
                raise ValueError(f"expected one IPv4 and one IPv6 address, like [10.0.1.10/24, "
                                 f"2001:db8:1::10/64], got {data!r}"[:200])
            data = {("address6" if is_v6(v) else "address"): v for v in data}
        if isinstance(data, str):
            data = {"address6" if is_v6(data) else "address": data}
        if isinstance(data, dict) and data.get("address") == "dhcp":
            if data.get("dhcp") is False:
                raise ValueError("'address: dhcp' and 'dhcp: false' say opposite things; keep one")
            data = {**{k: v for k, v in data.items() if k != "address"}, "dhcp": True}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> InterfaceSpec:
        if self.dhcp and self.address is not None:
            raise ValueError(f"the interface has the address {self.address} and asks for one by DHCP; keep one")
        return self

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        return None if value is None else parse_interface_address(value)

    @field_validator("address6", mode="before")
    @classmethod
    def _address6(cls, value: Any) -> Any:
        return None if value is None else parse_interface_address6(value)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", value):
            raise ValueError(f"'{value}' is not a MAC address (expected like 02:00:00:00:00:01)")
        if int(value[:2], 16) & 1:
            raise ValueError(f"'{value}' is a multicast MAC; the first byte must be even")
        if value.replace(":", "").strip("0") == "":
            raise ValueError(f"'{value}' is the all-zero MAC, which no interface may have "
                             "(expected like 02:00:00:00:00:01)")
        return value.lower()


class RouteSpec(StrictModel):
    """A static route: `{to: 10.0.3.0/24, via: 10.0.12.2}` (`to: default` allowed),
    or an IPv6 one: `{to: 2001:db8:3::/64, via: 2001:db8:12::2}` (`to: default6`)."""

    to: ipaddress.IPv4Network | ipaddress.IPv6Network
    via: ipaddress.IPv4Address | ipaddress.IPv6Address

    @model_validator(mode="before")
    @classmethod
    def _family(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("via"), str) and is_v6(data["via"]):
            to = data.get("to")
            if to == "default6" or to == "default":
                data = {**data, "to": "::/0"}
            elif isinstance(to, str) and not is_v6(to):
                raise ValueError(f"the route goes to the IPv4 subnet {to} through the IPv6 address {data['via']}: "
                                 "a route's destination and next hop are of one family")
        elif isinstance(data, dict) and is_v6(data.get("to")):
            raise ValueError(f"the route goes to the IPv6 subnet {data['to']} through "
                             f"{data.get('via')!r}: its next hop must be an IPv6 address too")
        elif isinstance(data, dict) and data.get("to") == "default6":
            raise ValueError("a route to default6 (::/0) needs an IPv6 next hop")
        return data

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: Any) -> Any:
        return parse_network6(value) if is_v6(value) else parse_network(value)

    @field_validator("via", mode="before")
    @classmethod
    def _via(cls, value: Any) -> Any:
        return parse_address6(value) if is_v6(value) else parse_address(value)


RoutingMode = Literal["static", "computed", "dynamic"]
#: what runs the nodes: Docker containers, or network namespaces of this
#: machine (docs/netns-backend.md); `lab deploy --backend` overrides it
BackendName = Literal["docker", "netns"]
ROUTING_MODES: tuple[str, ...] = ("static", "computed", "dynamic")


class NodeSpec(StrictModel):
    kind: Kind
    interfaces: dict[str, InterfaceSpec] = Field(default_factory=dict)
    gateway: ipaddress.IPv4Address | None = None
    #: a host's IPv6 default router, on a LAN with static IPv6 addresses (a SLAAC LAN's hosts learn it)
    gateway6: ipaddress.IPv6Address | None = None
    routes: list[RouteSpec] = Field(default_factory=list)
    image: str | None = None
    #: routers only: overrides the lab's routing mode for this router
    routing: RoutingMode | None = None
    #: routers only: the id the link-state daemon uses (default: first address)
    router_id: ipaddress.IPv4Address | None = None
    services: list[ServiceSpec] = Field(default_factory=list)
    nat: NatSpec | None = None
    firewall: FirewallSpec | None = None
    #: what the node may use; what it leaves out comes from the lab's `limits`
    limits: LimitsSpec | None = None
    #: hosts only: `user` runs the project's own TCP/IP stack on its interface
    stack: StackSpec | None = None
    #: routers only: relay the DHCP requests heard on its interfaces to this
    #: server (a node running a dhcp service, or an address)
    dhcp_relay: str | None = None

    @field_validator("gateway", "router_id", mode="before")
    @classmethod
    def _gateway(cls, value: Any) -> Any:
        return None if value is None else parse_address(value)

    @field_validator("gateway6", mode="before")
    @classmethod
    def _gateway6(cls, value: Any) -> Any:
        return None if value is None else parse_address6(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 255 or not IMAGE_RE.fullmatch(value)):
            raise ValueError(f"{value!r} is not an image name (expected like labnet/node or my/image:1.0)")
        return value


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


def _optional_network(value: Any) -> Any:
    return None if value is None else parse_link_subnet(value)


def _optional_network6(value: Any) -> Any:
    return None if value is None else parse_link_subnet6(value)


class LinkSpec(StrictModel):
    """A point-to-point link: `{a: h1:eth0, b: s1}` or the short `[h1:eth0, s1]`.

    `prefix` gives the subnet of the segment the link is part of (else the
    addresses written on its ends, else a pool); `cost` is its routing cost.
    """

    a: Endpoint
    b: Endpoint
    prefix: ipaddress.IPv4Network | None = None
    #: its IPv6 subnet (the lab's `ipv6:` turns IPv6 on; this or `ipv6: true` on one link alone)
    prefix6: ipaddress.IPv6Network | None = None
    ipv6: bool | None = None
    cost: StrictInt = Field(default=DEFAULT_COST, ge=1, le=65535)
    impair: ImpairSpec | None = None

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: _optional_network(v)))
    _prefix6 = field_validator("prefix6", mode="before")(classmethod(lambda cls, v: _optional_network6(v)))

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
    #: its IPv6 /64; `ipv6:` says how its hosts get their IPv6 addresses (slaac, static), or false: none
    prefix6: ipaddress.IPv6Network | None = None
    ipv6: bool | Literal["slaac", "static"] | None = None
    switch: str | None = None
    cost: StrictInt = Field(default=DEFAULT_COST, ge=1, le=65535)

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: _optional_network(v)))
    _prefix6 = field_validator("prefix6", mode="before")(classmethod(lambda cls, v: _optional_network6(v)))


class PoolSpec(StrictModel):
    """Where addresses come from when nothing is written: `192.168.0.0/16`
    (subnets of the default size) or `{prefix: 192.168.0.0/16, size: 24}`."""

    prefix: ipaddress.IPv4Network
    size: StrictInt = Field(ge=8, le=30)

    _prefix = field_validator("prefix", mode="before")(classmethod(lambda cls, v: parse_link_subnet(v)))


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


class Ipv6Spec(StrictModel):
    """`ipv6: true`, or `{prefix: 2001:db8:1::/48, p2p: 127, hosts: static}`:
    every segment gets an IPv6 subnet too (docs/ipv6.md). `prefix`: where its
    /64s come from (default: a unique-local /48 made from the lab's name);
    `p2p`: a router-to-router cable's prefix length (64 or 127, RFC 6164);
    `hosts`: how hosts on a LAN get their addresses (slaac: from the routers'
    advertisements; static: from the plan)."""

    prefix: ipaddress.IPv6Network | None = None
    p2p: Literal[64, 127] = 64
    hosts: Literal["slaac", "static"] = "slaac"

    @field_validator("prefix", mode="before")
    @classmethod
    def _prefix(cls, value: Any) -> Any:
        if value is None:
            return None
        net = parse_link_subnet6(value)
        if net.prefixlen > 60:
            raise ValueError(f"{net} holds fewer than 16 subnets of /64; give a /60 or larger, like a /48")
        return net


def _ipv6_switch(value: Any) -> Any:
    return {} if value is True else (None if value is False else value)


class LabHeader(StrictModel):
    """The top level of lab.yml, with nodes and links left raw so that each
    node and each link is validated on its own and every error is found."""

    name: str | None = None
    description: str = ""
    routing: RoutingMode = "static"
    dynamic: DynamicSpec = Field(default_factory=DynamicSpec)
    pools: PoolsSpec = Field(default_factory=PoolsSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    backend: BackendName | None = None
    nodes: dict[str, Any]
    lans: dict[str, Any] = Field(default_factory=dict)
    links: list[Any] = Field(default_factory=list)
    expect: list[Any] = Field(default_factory=list)
    exercise: dict[str, Any] | None = None
    ipv6: Ipv6Spec | None = None

    _ipv6 = field_validator("ipv6", mode="before")(classmethod(lambda cls, v: _ipv6_switch(v)))


class Topology(StrictModel):
    """A lab file that is well formed and consistent."""

    name: str
    description: str = ""
    #: static: routes as written; computed: static routes computed from the
    #: graph (shortest paths by cost); dynamic: the link-state daemon
    routing: RoutingMode = "static"
    dynamic: DynamicSpec = Field(default_factory=DynamicSpec)
    pools: PoolsSpec = Field(default_factory=PoolsSpec)
    #: what every node may use (processes, memory, cores), unless it says otherwise
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    #: docker (the default) or netns; `lab deploy --backend` overrides it
    backend: BackendName | None = None
    nodes: dict[str, NodeSpec]
    lans: dict[str, LanSpec] = Field(default_factory=dict)
    links: list[LinkSpec] = Field(default_factory=list)
    #: what `lab test` checks (see orchestrator.expect); kept raw here
    expect: list[dict[str, Any]] = Field(default_factory=list)
    #: the lab broken on purpose and the checks a student must make pass (model/exercise.py); raw here
    exercise: dict[str, Any] | None = None
    #: IPv6 on every segment too (docs/ipv6.md); `true` for the defaults
    ipv6: Ipv6Spec | None = None

    _ipv6 = field_validator("ipv6", mode="before")(classmethod(lambda cls, v: _ipv6_switch(v)))
