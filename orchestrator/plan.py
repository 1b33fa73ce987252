"""The Plan: a lab fully resolved, as plain typed data.

It names every interface, MAC, address, route, sysctl, label, container,
service, firewall and NAT rule, and the checks `lab test` runs, so that
rendering, the backend and the test runner only read it. `orchestrator.compile`
makes it (a pure function of the lab file); `lab plan` prints it.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, Field

from .model import units
from .model.common import DEFAULT_COST, DEFAULT_CPUS, DEFAULT_MEMORY, DEFAULT_PIDS, Impairment

NodeKind = Literal["host", "switch", "router"]
RoutingMode = Literal["static", "computed", "dynamic"]


class PlanInterface(BaseModel):
    name: str
    mac: str
    address: str | None = None      # "192.168.1.10/24"; with dhcp: the reserved address, if any
    link: int                       # index into Plan.links
    peer: str                       # "s1:eth0"
    cost: int = DEFAULT_COST        # routing cost of its segment
    dhcp: bool = False              # its address (and the node's gateway) come from a dhcp service
    address6: str | None = None     # "2001:db8:1::10/64"; with slaac: the one its kernel will make
    slaac: bool = False             # its IPv6 address comes from its routers' advertisements (SLAAC)


class PlanRoute(BaseModel):
    """A route written in the file (or the default gateway); "computed" only
    for one route of a PlanRouteGroup taken on its own (see routes_through)."""

    to: str                          # "192.168.2.0/24" or "default"
    via: str
    dev: str
    origin: Literal["gateway", "static", "computed"]


class PlanRouteGroup(BaseModel):
    """Computed routes sharing a next hop: every subnet in `to` via `via`.

    Grouped because a large lab has thousands of routes per router; a list of
    subnets per next hop is compact and reads like "everything else via r2".
    """

    via: str
    dev: str
    to: list[str]


class PlanDaemon(BaseModel):
    """What the link-state routing daemon of a `dynamic` router needs
    (the format of routing.json: images/node/labnode/routing/config.py)."""

    router_id: str
    interfaces: list[dict[str, Any]]   # {name, cost, address[, address6]} of routed interfaces
    prefixes: list[str]                # connected subnets it advertises
    prefixes6: list[str] = Field(default_factory=list)   # connected IPv6 subnets it advertises
    hello_interval: float
    dead_interval: float
    key: str | None = None             # shared secret (HMAC of every packet)


class PlanService(BaseModel):
    """A service for the node's supervisor (see images/node/labnode/svconfig.py)."""

    name: str
    type: str
    port: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)   # become --flags of the service
    command: list[str] | None = None                     # type command
    files_from: str | None = None    # a folder of the lab copied into the node ...
    files_to: str | None = None      # ... here


class PlanRule(BaseModel):
    """One rule, for each family it holds for: its IPv4 matches (src, dst)
    and its IPv6 ones (src6, dst6); an empty list matches any address."""

    src: list[str] = Field(default_factory=list)     # empty: any
    dst: list[str] = Field(default_factory=list)
    v4: bool = True                  # the rule holds for IPv4 packets
    v6: bool = False                 # ... for IPv6 packets (a node with IPv6)
    src6: list[str] = Field(default_factory=list)
    dst6: list[str] = Field(default_factory=list)
    proto: Literal["tcp", "udp", "icmp", "any"] = "any"
    port: str | None = None                           # "80" or "8000-8080"
    action: Literal["accept", "drop", "reject"] = "accept"
    comment: str = ""


class PlanChain(BaseModel):
    policy: Literal["accept", "drop"]
    rules: list[PlanRule] = Field(default_factory=list)


class PlanFirewall(BaseModel):
    input: PlanChain | None = None
    forward: PlanChain | None = None
    ipv6: bool = False     # the node has IPv6: its input chain lets neighbour discovery in
    stateful: bool = True


class PlanForward(BaseModel):
    proto: Literal["tcp", "udp"]
    public_port: int
    to_address: str
    to_port: int
    comment: str = ""


class PlanNat(BaseModel):
    out: str                         # the outside interface
    inside: list[str]                # subnets masqueraded out of it
    forwards: list[PlanForward] = Field(default_factory=list)


class PlanLimits(BaseModel):
    """What the node's container may use (the engine enforces it)."""

    pids: int = DEFAULT_PIDS          # processes and threads
    memory: int = DEFAULT_MEMORY      # bytes, swap included
    cpus: float = DEFAULT_CPUS        # cores

    def __str__(self) -> str:
        return f"pids {self.pids}, memory {units.format_size(self.memory)}, cpus {self.cpus:g}"


class PlanStack(BaseModel):
    """A host running the project's user-space TCP/IP stack on its one
    interface (the format of stack.json: images/node/labnode/stack/config.py).
    The kernel keeps no address there: `iface` and a TAP (`tap`) are joined by
    a bridge (`bridge`) inside the node and the stack answers for `address`
    with the interface's planned MAC."""

    iface: str
    tap: str
    bridge: str
    mac: str
    address: str                     # "10.0.1.10/24"
    gateway: str | None = None
    routes: list[dict[str, str]] = Field(default_factory=list)    # {to, via}
    apps: list[PlanService] = Field(default_factory=list)         # http, select (TCP echo), udp-echo
    loss: dict[str, Any] = Field(default_factory=dict)            # {every | p, seed, direction}


class PlanNode(BaseModel):
    name: str
    kind: NodeKind
    container: str
    hostname: str
    image: str | None = None         # None: the project's node image
    sysctls: dict[str, str]
    labels: dict[str, str]
    limits: PlanLimits = Field(default_factory=PlanLimits)
    interfaces: list[PlanInterface] = Field(default_factory=list)
    routes: list[PlanRoute] = Field(default_factory=list)
    computed_routes: list[PlanRouteGroup] = Field(default_factory=list)
    bridge: str | None = None        # switches: the bridge all ports join
    routing: RoutingMode | None = None   # routers
    daemon: PlanDaemon | None = None  # dynamic routers
    services: list[PlanService] = Field(default_factory=list)
    nat: PlanNat | None = None
    firewall: PlanFirewall | None = None
    stack: PlanStack | None = None   # hosts with `stack: user`
    dns: dict[str, Any] | None = None    # a dns service's config (labnode/dns/server.py's format)
    dhcp: dict[str, Any] | None = None   # a dhcp service's config (labnode/dhcp/server.py's format)
    dhcp_relay: dict[str, Any] | None = None  # a router's relay config (labnode/dhcp/relay.py's format)

    def addresses(self) -> list[str]:
        return [i.address for i in self.interfaces if i.address]

    def addresses6(self) -> list[str]:
        return [i.address6 for i in self.interfaces if i.address6]

    def folders(self) -> list[tuple[str, str]]:
        """(folder of the lab, where in the node) for every folder the node's
        services serve, those of its user-space stack included."""
        services = [*self.services, *(self.stack.apps if self.stack else [])]
        return [(s.files_from, s.files_to) for s in services if s.files_from and s.files_to]

    def interface(self, name: str) -> PlanInterface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def routes_through(self, iface: str) -> list[PlanRoute]:
        """Every planned route out of `iface`: written ones and computed ones (what
        the setup script installs, and the kernel drops when the link goes down)."""
        routes = [r for r in self.routes if r.dev == iface]
        routes += [PlanRoute(to=to, via=g.via, dev=g.dev, origin="computed")
                   for g in self.computed_routes if g.dev == iface for to in g.to]
        return routes


class PlanSegment(BaseModel):
    name: str                        # "lans.lan1" or "links[3]"
    prefix: str | None
    prefix6: str | None = None       # its IPv6 subnet, when it has IPv6
    ports: list[str]                 # "node:iface" of hosts and routers
    switches: list[str]
    cost: int


class PlanEnd(BaseModel):
    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


class PlanLink(BaseModel):
    id: int
    a: PlanEnd
    b: PlanEnd
    impair: Impairment | None = None   # on the packets leaving both ends


CheckKind = Literal["reach", "deny", "path", "service", "chat", "nat_source", "dns", "dhcp", "neigh"]


class Check(BaseModel):
    """One probe of an expectation, resolved against the plan."""

    id: str                      # where it comes from: "expect[1].reach.to[0]"
    title: str                   # "reach pc1 -> pc3 icmp", or the expectation's name
    kind: CheckKind
    src: str                     # the node the probe runs in
    dst: str                     # what is probed, as written: pc3, r1.eth1, 10.0.0.1
    address: str                 # the target's address
    proto: str = "icmp"          # reach/deny: icmp | tcp:PORT | udp:PORT; path: icmp | udp | tcp:PORT
    port: int | None = None      # service, chat, nat_source
    expected: str                # what must be seen, in words
    via: list[str] = Field(default_factory=list)      # path
    stack: bool = False          # the source runs the user-space stack: the probe goes through it
    http: str | None = None      # service: the URL path
    status: int | None = None
    contains: str | None = None
    sha256: str | None = None    # service: the body's digest (same_as)
    qtype: str | None = None     # dns: the record type asked for (dst: the name; address: the server)
    answer: str | None = None    # dns: an address that must be in the answer
    rcode: str | None = None     # dns: the answer's code
    lease: str | None = None     # the target takes its address by DHCP: "node.iface", read when probed
    pool: list[str] = Field(default_factory=list)     # dhcp: first, last (a pair per server of a shared LAN)
    gateway: str | None = None   # dhcp: the default route the lease must give
    mac: str | None = None       # neigh: the MAC the node must have learnt for address
    seen_as: list[str] = Field(default_factory=list)  # nat_source: acceptable sources
    log: str | None = None       # nat_source: the access log (file or folder)
    family: int = 4              # reach/deny: the target's IPv4 or IPv6 address
    wait: float = 0.0
    timeout: float = 1.0

    def pool_text(self) -> str:
        """dhcp: '10.0.1.100 - 10.0.1.149' (or 'A - B or C - D' for a shared LAN)."""
        return pool_text(self.pool)


_NO_ADDRESS_YET = ("takes its address by DHCP, which no one knows before it asks "
                   "(a reservation in the pool gives it a fixed one)")


def pool_text(ranges: list[str]) -> str:
    """DHCP ranges (first, last, first, last, ...) in words: '10.0.1.100 - 10.0.1.149 or ...'."""
    return " or ".join(f"{a} - {b}" for a, b in zip(ranges[::2], ranges[1::2], strict=False))


class PlanFault(BaseModel):
    """One fault of an exercise: the shell scripts that deal it in its node and take it back."""

    where: str                   # its place in the lab file: "exercise.faults[0].route_removed"
    kind: str
    node: str
    title: str                   # "r2: route to 192.168.1.0/24 removed"
    deal: str
    undo: str
    choice: int = 0              # which item of the faults list
    option: int = 0              # which of that item's one_of alternatives (a student gets one)


class PlanExercise(BaseModel):
    """The lab file's exercise: faults dealt after deploy (every alternative of
    a one_of: each student is dealt one, see faults.dealt_for), and the
    checks the student must make pass."""

    title: str = ""
    faults: list[PlanFault] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    seed: str = ""               # the lab file's own name: what a student's draws are made from
    student: str | None = None   # whose variant this plan is (its subnets, ports, names: model/variants.py)
    #: what that student's variant changed: {"subnets": {from: to}, "ports": {...}, "names": {...}}
    variant: dict[str, dict[str, str]] = Field(default_factory=dict)


class Plan(BaseModel):
    lab: str
    description: str = ""
    source: str | None = None
    routing: RoutingMode = "static"
    nodes: dict[str, PlanNode]
    links: list[PlanLink]
    segments: list[PlanSegment] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)   # the resolved expect: section
    resolver: str | None = None      # the address of the lab's DNS resolver, named in every resolv.conf
    exercise: PlanExercise | None = None

    def hosts_entries(self) -> list[tuple[str, str]]:
        """(address, name) for /etc/hosts: a node's first address by its name."""
        out = []
        for node in self.nodes.values():
            addrs = node.addresses()
            if addrs:
                out.append((addrs[0].split("/")[0], node.name))
        return out

    def addresses_of(self, ref: str, family: int = 4) -> tuple[list[str], str]:
        """A reference -> (its addresses, why not or ""). An address is itself;
        a node gives all of its addresses (the first is the one probed);
        node.iface gives that interface's. family 6: its IPv6 addresses."""
        try:
            literal = ipaddress.ip_address(ref)
        except ValueError:
            pass
        else:
            if literal.version != family:
                return [], f"{ref} is an IPv{literal.version} address: probe it with family: {literal.version}"
            return [str(literal)], ""
        name, _, iface = ref.partition(".")
        node = self.nodes.get(name)
        if node is None:
            return [], f"unknown node '{name}'"
        found = node.interface(iface) if iface else None
        if iface and found is None:
            names = ", ".join(i.name for i in node.interfaces) or "none"
            return [], f"'{name}' has no interface '{iface}' (its interfaces: {names})"
        if family == 6:
            addrs = [i.address6.split("/")[0] for i in ([found] if found else node.interfaces) if i.address6]
            return addrs, "" if addrs else f"{ref} has no IPv6 address (docs/ipv6.md: ipv6: true turns it on)"
        if found is not None:
            if not found.address:
                return [], f"{name}.{iface} {_NO_ADDRESS_YET if found.dhcp else 'has no address'}"
            return [found.address.split("/")[0]], ""
        addrs = [a.split("/")[0] for a in node.addresses()]
        if not addrs and any(i.dhcp for i in node.interfaces):
            return [], f"'{name}' {_NO_ADDRESS_YET}"
        return addrs, "" if addrs else f"'{name}' has no address"

    def owners(self) -> dict[str, tuple[str, str]]:
        """address -> (node, interface), to name what a probe saw."""
        out: dict[str, tuple[str, str]] = {}
        for node in self.nodes.values():
            for iface in node.interfaces:
                if iface.address:
                    out.setdefault(iface.address.split("/")[0], (node.name, iface.name))
                if iface.address6:
                    out.setdefault(iface.address6.split("/")[0], (node.name, iface.name))
        return out
