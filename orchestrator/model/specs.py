"""What nodes and links may carry besides addresses and routes: services,
firewalls, NAT, link impairments, and the routing daemon's options."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

from .. import contract
from . import units
from .base import StrictModel, parse_address
from .common import Impairment

ServiceType = Literal["http", "select", "chat", "udp-echo", "dns", "dhcp", "command"]
SERVICE_TYPES: tuple[str, ...] = ("http", "select", "chat", "udp-echo", "dns", "dhcp", "command")
#: the port a service listens on when none is written
DEFAULT_PORTS = {"http": 80, "select": 6000, "chat": 5000, "udp-echo": 7, "dns": 53, "dhcp": 67}
#: the most addresses one DHCP pool's range may hold (the server's own bound: labnode/dhcp/leases.py)
MAX_DHCP_POOL = 65536

#: a DNS name as zones and records write it: labels of letters, digits, '-' and '_',
#: "@" for the zone's own name, a final "." for an absolute name
_DNS_NAME = re.compile(r"^(@|\.|(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?)$")
DnsType = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT"]
MAX_DNS_RECORDS = 10_000


def _dns_name(value: str, what: str = "name") -> str:
    if len(value) > 253 or not _DNS_NAME.match(value):
        raise ValueError(f"'{value[:60]}' is not a DNS {what} (labels of letters, digits, '-' and '_' joined by "
                         "dots, at most 63 characters each; '@' for the zone itself)")
    return value


class DnsRecordSpec(StrictModel):
    """One record of a zone: `{name: www, type: A, value: web}`. An A record's
    value may be a node (its first address) or node.interface."""

    name: str
    type: DnsType
    value: str
    ttl: StrictInt | None = Field(default=None, ge=0, le=604800)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_name(value)

    @model_validator(mode="after")
    def _value(self) -> DnsRecordSpec:
        v = self.value
        if self.type in ("CNAME", "NS", "PTR"):
            _dns_name(v, f"name for a {self.type} record")
        elif self.type == "MX":
            pref, _, host = v.partition(" ")
            if not pref.isdigit() or int(pref) > 65535 or not host.strip():
                raise ValueError(f"an MX value is 'PREFERENCE NAME', like '10 mail', not '{v[:60]}'")
            _dns_name(host.strip(), "name for an MX record")
        elif self.type == "AAAA":
            try:
                ipaddress.IPv6Address(v)
            except ValueError:
                raise ValueError(f"'{v[:60]}' is not an IPv6 address (an AAAA record's value)") from None
        elif self.type == "TXT" and len(v.encode()) > 255:
            raise ValueError("a TXT value is at most 255 bytes")
        return self


class DnsZoneSpec(StrictModel):
    """A zone a dns service is authoritative for: `{origin: example.lab, records: [...]}`
    (origin "." is the root zone)."""

    origin: str
    ttl: StrictInt = Field(default=300, ge=0, le=604800)
    records: list[DnsRecordSpec] = Field(default_factory=list, max_length=MAX_DNS_RECORDS)

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        if value == "@":
            raise ValueError("a zone's origin is its name, like example.lab (\".\" for the root)")
        return _dns_name(value, "zone name")


class DhcpPoolSpec(StrictModel):
    """What a dhcp service hands out on one subnet: `{range: [10.0.1.100, 10.0.1.199]}`.

    The subnet is the lab's segment the range is on; `router` (an address or a
    node; default: the router of that segment) and `dns` (default: the lab's
    resolver) are the options sent; `reservations` give a node a fixed address
    (`{pc3: 10.0.1.50}`, or `{pc3.eth1: ...}` for a host with several).
    `shared: true` says that another server has a pool on the same LAN too (a
    split scope: each server hands out its own part of the subnet); every pool
    of that LAN says it, their ranges apart and their router the same.
    """

    range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]
    lease: StrictInt = Field(default=3600, ge=10, le=604800)
    router: str | None = None
    dns: list[ipaddress.IPv4Address] | None = Field(default=None, max_length=8)
    domain: str | None = None
    reservations: dict[str, ipaddress.IPv4Address] = Field(default_factory=dict, max_length=4096)
    shared: bool = False

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError("a pool's range is its first and last address: [10.0.1.100, 10.0.1.199]")
        return tuple(parse_address(v) for v in value)

    @field_validator("dns", mode="before")
    @classmethod
    def _dns(cls, value: Any) -> Any:
        if value is None:
            return None
        return [parse_address(v) for v in (value if isinstance(value, list) else [value])]

    @field_validator("reservations", mode="before")
    @classmethod
    def _reservations(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("reservations map a node to its address: {pc3: 10.0.1.50}")
        return {k: parse_address(v) for k, v in value.items()}

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        return None if value is None else _dns_name(value, "domain")

    @model_validator(mode="after")
    def _ordered(self) -> DhcpPoolSpec:
        first, last = self.range
        if int(last) < int(first):
            raise ValueError(f"the range {first} - {last} is backwards; write [{last}, {first}]")
        if int(last) - int(first) + 1 > MAX_DHCP_POOL:
            raise ValueError(f"the range {first} - {last} holds {int(last) - int(first) + 1} addresses; "
                             f"a pool holds at most {MAX_DHCP_POOL}")
        return self


class ServiceSpec(StrictModel):
    """A program the node's supervisor runs: `{type: http, port: 80, root: www}`.

    `root` (http) is a folder relative to the lab folder, copied into the node;
    `command` runs any program (type command) under the same supervision.
    """

    type: ServiceType
    name: str | None = None
    port: StrictInt | None = Field(default=None, ge=1, le=65535)
    bind: str = "0.0.0.0"
    root: str | None = None
    command: list[str] | None = None
    #: dns: the zones it serves, a zone made from the plan, and whether it resolves
    #: names for the lab (walking from root_hints: nodes or addresses)
    zones: list[DnsZoneSpec] = Field(default_factory=list, max_length=1000)
    lab_zone: str | None = None
    recursion: bool = False
    root_hints: list[str] = Field(default_factory=list, max_length=16)
    #: dhcp: what it hands out, one pool per subnet
    pools: list[DhcpPoolSpec] = Field(default_factory=list, max_length=64)

    @field_validator("lab_zone")
    @classmethod
    def _lab_zone(cls, value: str | None) -> str | None:
        return None if value is None else _dns_name(value, "zone name")

    @field_validator("bind", mode="before")
    @classmethod
    def _bind(cls, value: Any) -> Any:
        return str(parse_address(value))

    @model_validator(mode="after")
    def _fits_type(self) -> ServiceSpec:
        if self.type == "http" and self.root is None:
            raise ValueError("an http service needs 'root': the folder (in the lab folder) it serves")
        if self.type != "http" and self.root is not None:
            raise ValueError(f"'root' is for http services, not {self.type}")
        if self.type == "command" and not self.command:
            raise ValueError("a command service needs 'command': [program, arguments...]")
        if self.type != "command" and self.command is not None:
            raise ValueError(f"'command' is for type command, not {self.type}")
        dns_keys = [k for k in ("zones", "lab_zone", "recursion", "root_hints") if getattr(self, k)]
        if self.type != "dns" and dns_keys:
            raise ValueError(f"'{dns_keys[0]}' is for dns services, not {self.type}")
        if self.type == "dns" and not (self.zones or self.lab_zone or self.recursion):
            raise ValueError("a dns service serves zones, a lab_zone, or resolves (recursion: true); give one")
        if self.root_hints and not self.recursion:
            raise ValueError("root_hints are where a resolver starts; add 'recursion: true'")
        if self.type != "dhcp" and self.pools:
            raise ValueError(f"'pools' is for dhcp services, not {self.type}")
        if self.type == "dhcp" and not self.pools:
            raise ValueError("a dhcp service needs 'pools': [{range: [FIRST, LAST]}], one per subnet it serves")
        if self.type == "dhcp" and self.port not in (None, 67):
            raise ValueError("a dhcp service listens on port 67, where clients send; leave 'port' out")
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

    `from`/`to`: a subnet (10.0.1.0/24, 2001:db8:1::/64), an address, a
    node (all its addresses), a LAN (its subnet), `node.iface` (that
    address), or `any`. In a lab with IPv6 a rule holds for both families
    (a name stands for its IPv4 and its IPv6 addresses) unless `family`
    says 4 or 6; a written subnet is of one family.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    src: str | list[str] = Field(default="any", alias="from")
    dst: str | list[str] = Field(default="any", alias="to")
    proto: Proto = "any"
    port: tuple[int, int] | None = None
    action: Action = "accept"
    family: Literal[4, 6] | None = None

    _port = field_validator("port", mode="before")(classmethod(lambda cls, v: _port_range(v)))

    @model_validator(mode="after")
    def _port_needs_proto(self) -> RuleSpec:
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
    public_port: StrictInt = Field(ge=1, le=65535)
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

    hello_interval: StrictFloat = Field(default=contract.HELLO_INTERVAL, ge=0.01, le=65)
    dead_interval: StrictFloat = Field(default=contract.DEAD_INTERVAL, ge=0.02, le=3600)
    key: str | None = Field(default=None, min_length=8)   # shared secret: packets carry an HMAC

    @model_validator(mode="after")
    def _dead_after_hello(self) -> DynamicSpec:
        if self.dead_interval <= self.hello_interval:
            raise ValueError(f"dead_interval ({self.dead_interval}) must be longer than hello_interval "
                             f"({self.hello_interval}); 4 hellos is usual")
        return self


class ImpairSpec(StrictModel):
    """What a link does to the packets leaving each of its ends (tc netem/tbf):
    `{delay: 50ms, jitter: 5ms, loss: 2%, rate: 10mbit}`. Stored in ms, %, kbit/s."""

    delay: float | None = None      # ms
    jitter: float | None = None     # ms
    loss: float | None = None       # %
    rate: int | None = None         # kbit/s

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
    def _sensible(self) -> ImpairSpec:
        fault = self.impairment().fault()
        if fault is not None:
            raise ValueError(fault.value)
        return self

    def impairment(self) -> Impairment:
        return Impairment(delay_ms=self.delay or 0.0, jitter_ms=self.jitter or 0.0,
                          loss_pct=self.loss or 0.0, rate_kbit=self.rate or 0)


PIDS_RANGE = (32, 16384)
MEMORY_RANGE = (32 * 1024**2, 16 * 1024**3)
CPUS_RANGE = (0.1, 64.0)


class LimitsSpec(StrictModel):
    """What a node may use: `{pids: 512, memory: 256m, cpus: 1}`; at the top
    level for every node, on a node for that node (what it leaves out comes
    from the top level, then the defaults)."""

    pids: StrictInt | None = Field(default=None, ge=PIDS_RANGE[0], le=PIDS_RANGE[1])
    memory: int | None = None     # bytes
    cpus: StrictFloat | None = Field(default=None, ge=CPUS_RANGE[0], le=CPUS_RANGE[1])

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if value is None:
            return None
        n = units.parse_size_bytes(value, "memory")
        lo, hi = MEMORY_RANGE
        if not lo <= n <= hi:
            raise ValueError(f"memory {value!r} is out of range ({units.format_size(lo)} to {units.format_size(hi)})")
        return n

    def over(self, base: LimitsSpec | None) -> LimitsSpec:
        """These limits, with what they leave out taken from `base`."""
        if base is None:
            return self
        return LimitsSpec.model_construct(pids=self.pids if self.pids is not None else base.pids,
                                          memory=self.memory if self.memory is not None else base.memory,
                                          cpus=self.cpus if self.cpus is not None else base.cpus)


StackType = Literal["kernel", "user"]


class StackSpec(StrictModel):
    """Which TCP/IP stack a host uses: `stack: user` hands its one interface to
    the project's own user-space stack (images/node/labnode/stack, docs/user-stack.md);
    `kernel` (the default) is Linux's. The user stack has a loss knob for lessons:
    `{type: user, loss: 2%, seed: 7}` drops a random 2 % of the segments it
    receives, `loss_every: 20` every 20th; `loss_direction` rx (default), tx or both."""

    type: StackType = "kernel"
    loss: float | None = None            # %
    loss_every: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    seed: StrictInt = Field(default=1, ge=0, le=2**63)
    loss_direction: Literal["rx", "tx", "both"] = "rx"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @field_validator("loss", mode="before")
    @classmethod
    def _loss(cls, value: Any) -> Any:
        return None if value is None else units.parse_percent(str(value), "loss")

    @model_validator(mode="after")
    def _fits(self) -> StackSpec:
        if self.type == "kernel" and (self.loss is not None or self.loss_every is not None):
            raise ValueError("the loss knob is the user-space stack's; write 'type: user' with it")
        if self.loss is not None and self.loss_every is not None:
            raise ValueError("give either 'loss' (a random share) or 'loss_every' (every n-th segment), not both")
        if self.loss is not None and self.loss > 50:
            raise ValueError(f"loss {self.loss:g}% would leave TCP nothing to work with; give at most 50%")
        return self

    @property
    def user(self) -> bool:
        return self.type == "user"
