"""Addressing: a subnet for every segment and an address for every port.

Explicit always wins: a subnet written on a LAN or link, or the subnet of the
addresses written on a segment. Other segments draw the next free subnet from
a pool: `pools.lan` for segments with a switch or a host, `pools.p2p` for a
cable between two routers. Within a subnet, routers take the lowest free
addresses (.1, .2, ...), hosts the lowest free from .10 on (in subnets of at
least 64 addresses; else right after the routers). The pool never hands out
an address or subnet written anywhere in the file.

Hosts with no gateway get one when exactly one router is on their LAN.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field

from .errors import Problem
from .model import PoolsSpec
from .wiring import Port, Wiring

IPv4Net = ipaddress.IPv4Network
IPv4If = ipaddress.IPv4Interface
HOST_OFFSET = 10


@dataclass
class Addressing:
    prefix: dict[int, IPv4Net] = field(default_factory=dict)        # segment -> subnet
    address: dict[Port, IPv4If] = field(default_factory=dict)       # every L3 port
    gateway: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)  # inferred only


def _usable(net: IPv4Net) -> list[ipaddress.IPv4Address] | range:
    if net.prefixlen >= 31:
        return list(net)
    return range(int(net.network_address) + 1, int(net.broadcast_address))


def assign(wiring: Wiring, pools: PoolsSpec) -> tuple[Addressing, list[Problem], list[Problem]]:
    errors: list[Problem] = []
    warnings: list[Problem] = []
    out = Addressing()
    nodes = wiring.nodes

    # 1. subnets that are written: on the segment, or implied by its addresses
    explicit_nets: list[tuple[IPv4Net, str, int]] = []
    for s, seg in enumerate(wiring.segments):
        if s in wiring.prefixes:
            net, where = wiring.prefixes[s]
            out.prefix[s] = net
            explicit_nets.append((net, where, s))
            continue
        written = Counter(wiring.explicit[p][0].network for p in seg.ports if p in wiring.explicit)
        if written:
            net = written.most_common(1)[0][0]
            first = next(p for p in seg.ports if p in wiring.explicit and wiring.explicit[p][0].network == net)
            out.prefix[s] = net
            explicit_nets.append((net, wiring.explicit[first][1], s))
    for i, (net, where, s) in enumerate(explicit_nets):
        for other, other_where, t in explicit_nets[:i]:
            if s != t and net.overlaps(other):
                errors.append(Problem(where, f"subnet {net} overlaps {other} of another segment "
                                      f"(from {other_where})",
                                      "give each segment its own, non-overlapping subnet"))
                break
    for p, (addr, where) in wiring.explicit.items():
        if p[0] in nodes and nodes[p[0]].kind == "switch":
            continue
        s = wiring.segment_of.get(p)
        if s is not None and s in out.prefix and addr.network != out.prefix[s]:
            seg = wiring.segments[s]
            others = ", ".join(f"{q[0]}:{q[1]}" for q in seg.ports
                               if q != p and (q not in wiring.explicit
                                              or wiring.explicit[q][0].network == out.prefix[s]))
            errors.append(Problem(where, f"address {addr} is outside the subnet {out.prefix[s]} of its "
                                  f"segment" + (f" (shared with {others})" if others else ""),
                                  f"use an address in {out.prefix[s]}, or move the cable to another segment"))

    # 2. subnets from the pools
    taken = [net for net, _, _ in explicit_nets]
    pool_iters = {}
    exhausted: dict[str, list[str]] = {}
    for s, seg in enumerate(wiring.segments):
        if s in out.prefix or not seg.ports:
            continue
        routers_only = not seg.switches and len(seg.ports) == 2 and all(
            nodes[p[0]].kind == "router" for p in seg.ports)
        kind = "p2p" if routers_only else "lan"
        pool = getattr(pools, kind)
        if pool.size < pool.prefix.prefixlen:
            continue  # reported once below
        it = pool_iters.setdefault(kind, pool.prefix.subnets(new_prefix=pool.size))
        for net in it:
            if not any(net.overlaps(t) for t in taken):
                out.prefix[s] = net
                break
        else:
            exhausted.setdefault(kind, []).append(seg.name)
    for kind in ("lan", "p2p"):
        pool = getattr(pools, kind)
        if pool.size < pool.prefix.prefixlen:
            errors.append(Problem(f"pools.{kind}.size", f"/{pool.size} subnets do not fit in the pool {pool.prefix}",
                                  f"use a size of at least {pool.prefix.prefixlen}"))
        elif kind in exhausted:
            names = exhausted[kind]
            errors.append(Problem(f"pools.{kind}", f"pool {pool.prefix} is exhausted: no free /{pool.size} "
                                  f"left for {len(names)} segment{'s' if len(names) > 1 else ''} "
                                  f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})",
                                  "give the pool a larger prefix, or write subnets on some LANs and links"))

    # 3. addresses
    for s, seg in enumerate(wiring.segments):
        net = out.prefix.get(s)
        if net is None:
            continue
        usable = _usable(net)
        if len(seg.ports) > len(usable):
            errors.append(Problem(seg.name, f"subnet {net} has room for {len(usable)} addresses but the segment "
                                  f"has {len(seg.ports)} interfaces", "use a larger subnet (a smaller prefix length)"))
            continue
        in_use = {int(wiring.explicit[p][0].ip) for p in seg.ports if p in wiring.explicit}
        routers = [p for p in seg.ports if p not in wiring.explicit and nodes[p[0]].kind == "router"]
        hosts = [p for p in seg.ports if p not in wiring.explicit and nodes[p[0]].kind != "router"]
        for p in seg.ports:
            if p in wiring.explicit:
                out.address[p] = wiring.explicit[p][0]
        values = [int(a) for a in usable]
        start = HOST_OFFSET - 1 if len(values) >= 62 else 0
        for ports, order in ((routers, values), (hosts, values[start:] + values[:start])):
            free = (v for v in order if v not in in_use)
            for p, v in zip(ports, free):
                in_use.add(v)
                out.address[p] = IPv4If(f"{ipaddress.IPv4Address(v)}/{net.prefixlen}")

    # 4. default gateways of hosts, and LANs without a router
    multi_segment = len(wiring.segments) > 1
    for s, seg in enumerate(wiring.segments):
        if multi_segment and any(nodes[p[0]].kind == "host" for p in seg.ports) and not any(
                nodes[p[0]].kind == "router" for p in seg.ports):
            warnings.append(Problem(seg.name, "this segment has hosts but no router: they reach only each other",
                                    "add a router to it, if the hosts should reach other segments",
                                    severity="warning"))
    for name, spec in nodes.items():
        if spec.kind != "host" or spec.gateway is not None or any(r.to.prefixlen == 0 for r in spec.routes):
            continue
        options = []  # (segment, router port)
        for p, s in wiring.segment_of.items():
            if p[0] == name:
                options += [(s, q) for q in wiring.segments[s].ports if nodes[q[0]].kind == "router"]
        if not options:
            continue
        segs = sorted({s for s, _ in options})
        listing = ", ".join(f"{out.address[q].ip} ({q[0]})" for _, q in options if q in out.address)
        if len(options) == 1 and options[0][1] in out.address:
            out.gateway[name] = out.address[options[0][1]].ip
        elif len(segs) > 1:
            errors.append(Problem(f"nodes.{name}", f"host '{name}' is on {len(segs)} segments with routers "
                                  "and has no gateway", f"set 'gateway:' to one of {listing}"))
        else:
            warnings.append(Problem(f"nodes.{name}", f"host '{name}' has no default gateway: its LAN has "
                                    f"{len(options)} routers", f"set 'gateway:' to one of {listing}",
                                    severity="warning"))
    return out, errors, warnings
