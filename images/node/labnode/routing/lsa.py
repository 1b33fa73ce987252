"""Link-state advertisements (LSAs), their ordering, and the LSDB.

Every router originates exactly one LSA: its router id, a sequence number,
an age, the routers it has a two-way adjacency with (and the cost of each
link), the IPv4 prefixes it is connected to and, on a dual-stack router, its
IPv6 prefixes (`prefixes6`: the same Prefix records, 128-bit networks).  One
LSA, one graph: both families are routed over the same shortest-path tree.  Copies of the same router's LSA
are ordered by `compare`: higher sequence number first, then the larger
checksum (two different contents with one sequence number after a restart),
then a copy at max age beats one that is not (a flush).

The database ages its entries: an entry installed with age A at time T is
A + (now - T) seconds old; at `max_age` it is dead (ignored by SPF), and a
little later it leaves the database.  It holds at most `max_entries` routers
(MAX_LSDB): a neighbour inventing router ids cannot grow it, or SPF, without
limit.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import NamedTuple

MAX_COST = 0xFFFF
MAX_METRIC = 0xFFFF
MAX_AGE_LIMIT = 0xFFFF  # the age field is 16 bits on the wire
SEQ_MAX = 0xFFFFFFFF
MAX_LSDB = 20_000  # routers: 2x the 10 000 of the SPF benchmark, ~7x the largest planned lab

_HEAD = struct.Struct("!II")
_LINK = struct.Struct("!IH")
_PREFIX = struct.Struct("!IBH")
_PREFIX6 = struct.Struct("!QQBH")


class Link(NamedTuple):
    """An adjacency of the originating router: to `neighbor` at `cost`."""
    neighbor: int
    cost: int


class Prefix(NamedTuple):
    """A connected prefix: reaching it costs the path to the router + metric.
    IPv4 or IPv6 (a 128-bit network) by the list it is in."""
    network: int
    length: int
    metric: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.network, self.length)


@dataclass(frozen=True)
class LSA:
    router_id: int
    seq: int
    age: int
    links: tuple[Link, ...] = ()
    prefixes: tuple[Prefix, ...] = ()
    prefixes6: tuple[Prefix, ...] = ()

    @cached_property
    def checksum(self) -> int:
        """CRC-32 of the content (everything but the age).  IPv6 prefixes are
        covered after a separator of their own; an LSA without any has the
        checksum it always had."""
        parts = [_HEAD.pack(self.router_id, self.seq)]
        parts += [_LINK.pack(*link) for link in self.links]
        parts.append(b"|")
        parts += [_PREFIX.pack(*prefix) for prefix in self.prefixes]
        if self.prefixes6:
            parts.append(b"|6|")
            parts += [_PREFIX6.pack(p.network >> 64, p.network & 0xFFFFFFFFFFFFFFFF, p.length, p.metric)
                      for p in self.prefixes6]
        return zlib.crc32(b"".join(parts))

    @property
    def instance(self) -> tuple[int, int, int]:
        """What identifies this copy in an acknowledgement."""
        return (self.router_id, self.seq, self.checksum)

    def with_age(self, age: float) -> LSA:
        age = min(MAX_AGE_LIMIT, max(0, int(age)))
        return self if age == self.age else replace(self, age=age)

    @property
    def content(self) -> tuple[tuple[Link, ...], tuple[Prefix, ...], tuple[Prefix, ...]]:
        """What SPF reads: links, IPv4 prefixes, IPv6 prefixes."""
        return (self.links, self.prefixes, self.prefixes6)

    def same_content(self, other: LSA) -> bool:
        return self.content == other.content


def compare(a: LSA, b: LSA, max_age: int) -> int:
    """1 if `a` is a more recent instance than `b`, -1 if older, 0 if same."""
    if a.seq != b.seq:
        return 1 if a.seq > b.seq else -1
    if a.checksum != b.checksum:
        return 1 if a.checksum > b.checksum else -1
    a_dead, b_dead = a.age >= max_age, b.age >= max_age
    if a_dead != b_dead:
        return 1 if a_dead else -1
    return 0


@dataclass
class Entry:
    lsa: LSA
    installed: float  # monotonic time at which the copy had age lsa.age

    def age(self, now: float) -> float:
        return self.lsa.age + max(0.0, now - self.installed)


class LSDB:
    """The link-state database: one LSA per router id, aged in place.

    An entry that reaches max age (or arrives at max age: a flush) is dead:
    SPF ignores it, but it stays for `flush_hold` seconds so that older copies
    still travelling cannot bring the router back to life; then it goes.
    """

    def __init__(self, max_age: int, flush_hold: float = 2.0, max_entries: int = MAX_LSDB):
        if not 0 < max_age <= MAX_AGE_LIMIT:
            raise ValueError(f"max_age must be in 1..{MAX_AGE_LIMIT}")
        self.max_age = max_age
        self.flush_hold = flush_hold
        self.max_entries = max_entries
        self._entries: dict[int, Entry] = {}
        self._dead: set[int] = set()  # entries known to be at max age

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, router_id: int) -> bool:
        return router_id in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._entries))

    def has_room(self, router_id: int) -> bool:
        """Whether an LSA of router_id may be installed (it is there, or there is room)."""
        return router_id in self._entries or len(self._entries) < self.max_entries

    def get(self, router_id: int, now: float) -> LSA | None:
        """The stored copy with its current age (capped at max age)."""
        entry = self._entries.get(router_id)
        if entry is None:
            return None
        return entry.lsa.with_age(min(self.max_age, entry.age(now)))

    def is_live(self, router_id: int, now: float) -> bool:
        entry = self._entries.get(router_id)
        return entry is not None and entry.age(now) < self.max_age

    def install(self, lsa: LSA, now: float) -> None:
        self._entries[lsa.router_id] = Entry(lsa, now)
        self._dead.discard(lsa.router_id)

    def remove(self, router_id: int) -> LSA | None:
        self._dead.discard(router_id)
        entry = self._entries.pop(router_id, None)
        return entry.lsa if entry else None

    def _death(self, entry: Entry) -> float:
        return entry.installed + self.max_age - entry.lsa.age

    def expire(self, now: float) -> tuple[list[int], list[int]]:
        """(ids that reached max age since the last call, ids removed after
        being dead for flush_hold)."""
        died, removed = [], []
        for rid, entry in list(self._entries.items()):
            death = self._death(entry)
            if now >= death + self.flush_hold:
                del self._entries[rid]
                removed.append(rid)
                if rid not in self._dead:
                    died.append(rid)
                self._dead.discard(rid)
            elif now >= death and rid not in self._dead:
                self._dead.add(rid)
                died.append(rid)
        return died, removed

    def next_expiry(self) -> float | None:
        """Monotonic time of the next death or removal."""
        times = [self._death(e) + (self.flush_hold if rid in self._dead else 0.0)
                 for rid, e in self._entries.items()]
        return min(times) if times else None

    def snapshot(self, now: float) -> list[LSA]:
        """All LSAs with current ages, sorted by router id (dead ones too)."""
        return [self.get(rid, now) for rid in sorted(self._entries)]  # type: ignore[misc]

    def lsas(self, now: float) -> dict[int, LSA]:
        """router id -> live LSA: the input of SPF."""
        return {rid: e.lsa for rid, e in self._entries.items() if e.age(now) < self.max_age}
