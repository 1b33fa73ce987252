"""Plain state records of the protocol: ports, neighbours, routes (IPv4 and IPv6)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .addr import in_prefix6, int_to_ip, int_to_ip6
from .config import Interface
from .lsa import LSA

INIT = "init"  # heard its hellos, it has not listed us yet
FULL = "full"  # two-way: it lists us; LSAs are exchanged, the link is advertised


@dataclass(eq=False)  # identity semantics: neighbours are dict keys
class Neighbor:
    router_id: int
    address: int  # its address on the link (source of its hellos)
    iface: str
    incarnation: int  # changes when the neighbour's daemon restarts
    dead_interval: float
    last_heard: float
    state: str = INIT
    since: float = 0.0  # time of the last state change
    auth_seq: int = 0  # highest authenticated packet counter accepted
    address6: int | None = None  # its global IPv6 address on the link, from its hellos
    # router id -> (copy sent, time sent): flooded, not yet acknowledged
    retransmit: dict[int, tuple[LSA, float]] = field(default_factory=dict)

    def expires(self) -> float:
        return self.last_heard + self.dead_interval


@dataclass(eq=False)
class Port:
    """A routed interface as the protocol sees it."""
    config: Interface
    up: bool = False
    next_hello: float = 0.0
    neighbors: dict[int, Neighbor] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def key(self) -> tuple[int, int]:
        return (self.config.network, self.config.length)

    @property
    def key6(self) -> tuple[int, int] | None:
        """The link's IPv6 subnet, if this interface has an address6."""
        network = self.config.network6
        return None if network is None else (network, self.config.length6)

    def full_neighbors(self) -> list[Neighbor]:
        return [nb for nb in self.neighbors.values() if nb.state == FULL]

    def gateway6(self, nb: Neighbor) -> int | None:
        """nb's IPv6 address as a next hop through this interface: only if
        both ends have one, on the same subnet, and they differ."""
        own, network, theirs = self.config.address6, self.config.network6, nb.address6
        if own is None or network is None or theirs is None or theirs == own:
            return None
        return theirs if in_prefix6(theirs, network, self.config.length6) else None


class NextHop(NamedTuple):
    iface: str
    gateway: int

    def __str__(self) -> str:
        return f"via {int_to_ip(self.gateway)} dev {self.iface}"


class NextHop6(NextHop):
    """An IPv6 next hop: the neighbour's global IPv6 address on the link."""

    def __str__(self) -> str:
        return f"via {int_to_ip6(self.gateway)} dev {self.iface}"


class RouteEntry(NamedTuple):
    cost: int
    nexthops: tuple[NextHop, ...]  # sorted; more than one means ECMP


RouteTable = dict[tuple[int, int], RouteEntry]  # (network, length) -> entry; one table per family

