"""Plain state records of the protocol: ports, neighbours, routes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .addr import int_to_ip
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

    def full_neighbors(self) -> list[Neighbor]:
        return [nb for nb in self.neighbors.values() if nb.state == FULL]


class NextHop(NamedTuple):
    iface: str
    gateway: int

    def __str__(self) -> str:
        return f"via {int_to_ip(self.gateway)} dev {self.iface}"


class RouteEntry(NamedTuple):
    cost: int
    nexthops: tuple[NextHop, ...]  # sorted; more than one means ECMP


RouteTable = dict[tuple[int, int], RouteEntry]

