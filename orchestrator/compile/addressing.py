"""Addressing: a subnet for every segment and an address for every port.

Explicit always wins: a subnet written on a LAN or link, or the subnet of the
addresses written on a segment. Other segments draw the next free subnet from
a pool: `pools.lan` for segments with a switch or a host, `pools.p2p` for a
cable between two routers. Within a subnet, routers take the lowest free
addresses (.1, .2, ...), hosts the lowest free from .10 on (in subnets of at
least 64 addresses; else right after the routers). The pool never hands out
an address or subnet written anywhere in the file.

Hosts with no gateway get one when exactly one router is on their LAN.
A host's interface written `dhcp` gets no address here (compile/dhcp.py).
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..model.topology import PoolsSpec
from .problems import Problems
from .wiring import Port, Segment, Wiring

IPv4Net = ipaddress.IPv4Network
IPv4If = ipaddress.IPv4Interface
HOST_OFFSET = 10


@dataclass
class Addressing:
    prefix: dict[int, IPv4Net] = field(default_factory=dict)        # segment -> subnet
    address: dict[Port, IPv4If] = field(default_factory=dict)       # every L3 port
    gateway: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)  # inferred only


def asks_dhcp(wiring: Wiring, port: Port) -> bool:
    """Whether this port is a host's that takes its address by DHCP (it gets none here)."""
    spec = wiring.nodes[port[0]].interfaces.get(port[1])
    return spec is not None and spec.dhcp


def _check_written(wiring: Wiring, out: Problems) -> None:
    """Addresses written in the file: usable host addresses, each used once."""
    owner: dict[ipaddress.IPv4Address, str] = {}
    rank = {(n, i): k for k, (n, i) in enumerate((n, i) for n, spec in wiring.nodes.items() for i in spec.interfaces)}
    for port, (addr, where) in sorted(wiring.explicit.items(), key=lambda kv: rank.get(kv[0], len(rank))):
        if wiring.nodes[port[0]].kind == "switch":
            continue
        net = addr.network
        if net.prefixlen <= 30 and addr.ip in (net.network_address, net.broadcast_address):
            what = "network" if addr.ip == net.network_address else "broadcast"
            out.error(where, f"{addr} is the {what} address of {net}, not a usable host address",
                      f"use one of {net[1]} to {net[-2]}")
        elif addr.ip in owner:
            out.error(where, f"address {addr.ip} is already used by {owner[addr.ip]}",
                      "every interface needs its own address")
        else:
            owner[addr.ip] = where


def _majority(wiring: Wiring, seg: Segment) -> IPv4Net | None:
    """The subnet of a segment with no subnet written on it: the one most of
    its written addresses are on; on a tie, the one more routers are on (a
    router's address is a LAN's gateway, the one the others were told), then
    the first written. None when no address is written on it."""
    count: Counter[IPv4Net] = Counter()
    routers: Counter[IPv4Net] = Counter()
    for p in seg.ports:
        if p in wiring.explicit:
            net = wiring.explicit[p][0].network
            count[net] += 1
            routers[net] += wiring.nodes[p[0]].kind == "router"
    if not count:
        return None
    return max(count, key=lambda net: (count[net], routers[net]))   # max keeps the first of equals


def _segment_label(seg: Segment) -> str:
    if seg.lan:
        return f"LAN {seg.lan}"
    if seg.switches:
        return f"the segment of {', '.join(seg.switches[:3])}"
    return seg.name


def _outside(wiring: Wiring, s: int, port: Port, addr: IPv4If, where: str, subnet: IPv4Net, out: Problems) -> None:
    """An address written on a segment that is not on the segment's subnet:
    said of the member that disagrees, with what the others are on."""
    seg = wiring.segments[s]

    def who(q: Port) -> str:
        return q[0] if len(wiring.ports_of.get(q[0], ())) == 1 else f"{q[0]}:{q[1]}"

    if s in wiring.prefixes:
        written = wiring.prefixes[s][1]
        message = f"{who(port)} has {addr} but the subnet of {_segment_label(seg)} is {subnet} (written at {written})"
    else:
        others = [q for q in seg.ports if q != port and (q not in wiring.explicit
                                                         or wiring.explicit[q][0].network == subnet)]
        total = len(seg.ports) - 1
        if len(others) == total:
            members = "the other member" if total == 1 else f"the other {total} members"
        else:
            members = f"{len(others)} of the other {total} members"
        verb = "is" if members == "the other member" or len(others) == 1 else "are"
        names = ", ".join(who(q) for q in others[:5]) + (", ..." if len(others) > 5 else "")
        message = f"{who(port)} has {addr} but {members} of {_segment_label(seg)} {verb} on {subnet} ({names})"
    if addr.ip in subnet and addr.ip not in (subnet.network_address, subnet.broadcast_address):
        hint = f"write {addr.ip}/{subnet.prefixlen}, or move the cable to another segment"
    else:
        hint = f"use an address in {subnet}, or move the cable to another segment"
    out.error(where, message, hint)


def _span(net: IPv4Net) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


def _overlapping(nets: list[IPv4Net]) -> set[int]:
    """Indexes of the nets that overlap at least one other (a sweep, n log n)."""
    order = sorted(range(len(nets)), key=lambda i: _span(nets[i]))
    hit: set[int] = set()
    reach, holder = -1, -1          # the furthest end seen so far, and whose
    for i in order:
        lo, hi = _span(nets[i])
        if lo <= reach:
            hit.update((i, holder))
        if hi > reach:
            reach, holder = hi, i
    return hit


class _Taken:
    """Subnets the pools must not hand out: an overlap test in log n."""

    def __init__(self, nets: Iterable[IPv4Net]):
        spans = sorted(_span(n) for n in nets)
        self.starts = [lo for lo, _ in spans]
        self.reach = list(itertools.accumulate((hi for _, hi in spans), max))

    def overlaps(self, net: IPv4Net) -> bool:
        lo, hi = _span(net)
        k = bisect.bisect_right(self.starts, hi)
        return k > 0 and self.reach[k - 1] >= lo


class _Handed:
    """Subnets the pools handed out, disjoint, kept sorted: an overlap test in log n."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, net: IPv4Net) -> bool:
        lo, hi = _span(net)
        k = bisect.bisect_right(self.starts, hi)
        return k > 0 and self.ends[k - 1] >= lo

    def add(self, net: IPv4Net) -> None:
        lo, hi = _span(net)
        k = bisect.bisect_right(self.starts, lo)
        self.starts.insert(k, lo)
        self.ends.insert(k, hi)


def _free(net: IPv4Net, start: int, in_use: set[int]) -> Iterator[int]:
    """Usable addresses of net from the `start`-th on, then the ones before, not in use."""
    if net.prefixlen >= 31:
        first, last = int(net.network_address), int(net.broadcast_address)
    else:
        first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    begin = first + start
    return (v for v in itertools.chain(range(begin, last + 1), range(first, begin)) if v not in in_use)


def _room(net: IPv4Net) -> int:
    return net.num_addresses if net.prefixlen >= 31 else net.num_addresses - 2


def assign(wiring: Wiring, pools: PoolsSpec, out: Problems) -> Addressing:
    """Subnets, addresses and inferred gateways; problems go to `out`."""
    _check_written(wiring, out)
    result = Addressing()
    nodes = wiring.nodes

    # 1. subnets that are written: on the segment, or implied by its addresses
    explicit_nets: list[tuple[IPv4Net, str, int]] = []
    for s, seg in enumerate(wiring.segments):
        if s in wiring.prefixes:
            net, where = wiring.prefixes[s]
            result.prefix[s] = net
            explicit_nets.append((net, where, s))
            continue
        most = _majority(wiring, seg)
        if most is not None:
            first = next(p for p in seg.ports if p in wiring.explicit and wiring.explicit[p][0].network == most)
            result.prefix[s] = most
            explicit_nets.append((most, wiring.explicit[first][1], s))
    suspects = _overlapping([net for net, _, _ in explicit_nets])
    for i, (net, where, s) in enumerate(explicit_nets):
        if i not in suspects:
            continue
        for other, other_where, t in (explicit_nets[j] for j in sorted(suspects) if j < i):
            if s != t and net.overlaps(other):
                out.error(where, f"subnet {net} overlaps {other} of another segment (from {other_where})",
                          "give each segment its own, non-overlapping subnet")
                break
    for p, (addr, where) in wiring.explicit.items():
        if p[0] in nodes and nodes[p[0]].kind == "switch":
            continue
        on = wiring.segment_of.get(p)
        if on is not None and on in result.prefix and addr.network != result.prefix[on]:
            _outside(wiring, on, p, addr, where, result.prefix[on], out)

    # 2. subnets from the pools
    taken = _Taken(net for net, _, _ in explicit_nets)
    # pools that overlap (pools.lan 10.0.0.0/8 holds the default p2p pool) must
    # not hand out the same addresses twice: then what either gave is kept too
    handed = _Handed() if pools.lan.prefix.overlaps(pools.p2p.prefix) else None
    pool_iters: dict[str, Iterator[IPv4Net]] = {}
    exhausted: dict[str, list[str]] = {}
    for s, seg in enumerate(wiring.segments):
        if s in result.prefix or not seg.ports:
            continue
        routers_only = not seg.switches and len(seg.ports) == 2 and all(
            nodes[p[0]].kind == "router" for p in seg.ports)
        kind = "p2p" if routers_only else "lan"
        pool = getattr(pools, kind)
        if pool.size < pool.prefix.prefixlen:
            continue  # reported once below
        it = pool_iters.setdefault(kind, pool.prefix.subnets(new_prefix=pool.size))
        for net in it:
            if not taken.overlaps(net) and (handed is None or not handed.overlaps(net)):
                result.prefix[s] = net
                if handed is not None:
                    handed.add(net)
                break
        else:
            exhausted.setdefault(kind, []).append(seg.name)
    for kind in ("lan", "p2p"):
        pool = getattr(pools, kind)
        if "pools" in wiring.unread.sections:
            break   # the pools written did not validate: these are the defaults
        if pool.size < pool.prefix.prefixlen:
            out.error(f"pools.{kind}.size", f"/{pool.size} subnets do not fit in the pool {pool.prefix}",
                      f"use a size of at least {pool.prefix.prefixlen}")
        elif kind in exhausted:
            names = exhausted[kind]
            out.error(f"pools.{kind}", f"pool {pool.prefix} is exhausted: no free /{pool.size} "
                      f"left for {len(names)} segment{'s' if len(names) > 1 else ''} "
                      f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})",
                      "give the pool a larger prefix, or write subnets on some LANs and links")

    # 3. addresses: written ones first; then routers take the lowest free,
    # hosts the lowest free from .10 on (in subnets of at least 64 addresses)
    for s, seg in enumerate(wiring.segments):
        if s not in result.prefix:
            continue
        net = result.prefix[s]
        room = _room(net)
        if len(seg.ports) > room:
            out.error(seg.name, f"subnet {net} has room for {room} addresses but the segment "
                      f"has {len(seg.ports)} interfaces", "use a larger subnet (a smaller prefix length)")
            continue
        in_use = {int(wiring.explicit[p][0].ip) for p in seg.ports if p in wiring.explicit}
        routers = [p for p in seg.ports if p not in wiring.explicit and nodes[p[0]].kind == "router"]
        hosts = [p for p in seg.ports if p not in wiring.explicit and nodes[p[0]].kind != "router"
                 and not asks_dhcp(wiring, p)]
        for p in seg.ports:
            if p in wiring.explicit:
                result.address[p] = wiring.explicit[p][0]
        start = HOST_OFFSET - 1 if room >= 62 else 0
        for ports, free in ((routers, _free(net, 0, in_use)), (hosts, _free(net, start, in_use))):
            for p, v in zip(ports, free):
                in_use.add(v)
                result.address[p] = IPv4If((v, net.prefixlen))

    # 4. default gateways of hosts, and LANs without a router
    multi_segment = len(wiring.segments) > 1
    routers_on: list[list[Port]] = []
    for seg in wiring.segments:
        routers_on.append([q for q in seg.ports if nodes[q[0]].kind == "router"])
        if multi_segment and not routers_on[-1] and any(nodes[p[0]].kind == "host" for p in seg.ports) \
                and not any(p[0] in wiring.doubt for p in seg.ports):
            out.warn(seg.name, "this segment has hosts but no router: they reach only each other",
                     "add a router to it, if the hosts should reach other segments")
    for name, spec in nodes.items():
        if spec.kind != "host" or spec.gateway is not None or any(r.to.prefixlen == 0 for r in spec.routes):
            continue
        quiet = name in wiring.doubt or wiring.unread.of(name) & {"gateway", "routes"}
        mine = sorted(wiring.segment_of[p] for p in wiring.ports_of.get(name, ()) if p in wiring.segment_of)
        options = [(s, q) for s in mine for q in routers_on[s]]  # (segment, router port)
        if not options:
            continue
        segs = sorted({s for s, _ in options})
        listing = ", ".join(f"{result.address[q].ip} ({q[0]})" for _, q in options if q in result.address)
        if len(options) == 1 and options[0][1] in result.address:
            gateway = result.address[options[0][1]].ip
            if any(gateway in result.address[p].network for p in wiring.ports_of[name] if p in result.address):
                result.gateway[name] = gateway   # else the router's address is off the subnet: reported above
        elif quiet:
            continue    # its gateway, or what it is cabled to, is not known
        elif len(segs) > 1:
            out.error(f"nodes.{name}", f"host '{name}' is on {len(segs)} segments with routers and has no gateway",
                      f"set 'gateway:' to one of {listing}")
        else:
            out.warn(f"nodes.{name}", f"host '{name}' has no default gateway: its LAN has {len(options)} routers",
                     f"set 'gateway:' to one of {listing}")
    return result
