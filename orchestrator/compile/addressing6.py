"""IPv6 addressing (docs/ipv6.md): a subnet for every segment the lab gives
IPv6, and an address for every port on it.

Which segments: all of them (their hosts' and routers' ports) when the lab
says `ipv6:`; else those a LAN or link turns on (`ipv6: true | slaac |
static`, a `prefix6`, an `address6` written on one of its ports). `ipv6:
false` on a LAN or link keeps it IPv4-only.

Subnets: the one written (`prefix6`, or the /64 of the addresses written on
the segment), else the next free /64 of the lab's prefix: `ipv6.prefix`, by
default a unique-local /48 (RFC 4193) whose global ID is made from the lab's
name, so that two labs never share one. A cable between two routers takes a
/64 too, or a /127 (RFC 6164) with `ipv6: {p2p: 127}`, cut from the prefix's
last /64.

Addresses: the written one; else an interface ID read off the port's IPv4
address, its host number written as hex digits (10.0.1.10/24 -> ::10), so
that both families read alike; else the next free from ::1 (routers) or
::10 (hosts). On a SLAAC LAN (the default for a LAN with hosts) a host takes
no address from the plan: its kernel makes one from its routers'
advertisements, the /64 and the EUI-64 of its MAC (RFC 4291 appendix A);
the plan predicts that address with the same rule, so checks can name it.
A host with a static address and one router on its LAN gets that router's
address as its IPv6 gateway.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from ..model.topology import Ipv6Spec, LanSpec, LinkSpec
from .problems import Problems
from .wiring import Port, Segment, Wiring

Net6 = ipaddress.IPv6Network
If6 = ipaddress.IPv6Interface
HOST_START = 0x10


@dataclass
class Addressing6:
    prefix: dict[int, Net6] = field(default_factory=dict)        # segment -> subnet
    address: dict[Port, If6] = field(default_factory=dict)       # every port with IPv6 (SLAAC: predicted)
    gateway: dict[str, ipaddress.IPv6Address] = field(default_factory=dict)   # inferred only
    slaac: set[Port] = field(default_factory=set)                # hosts' ports that learn their address
    advertise: dict[Port, Net6] = field(default_factory=dict)    # routers' ports sending RAs: their /64
    modes: dict[int, str] = field(default_factory=dict)          # segment -> "slaac" | "static"

    @property
    def nodes(self) -> set[str]:
        return {p[0] for p in self.address}


def lab_prefix(lab: str) -> Net6:
    """The lab's unique-local /48: fd00::/8 and a 40-bit global ID from its name."""
    digest = hashlib.sha256(f"labnet/{lab}".encode()).digest()
    return Net6((int.from_bytes(b"\xfd" + digest[:5], "big") << 80, 48))


def eui64(prefix: Net6, mac: str) -> If6:
    """The SLAAC address a kernel makes on `prefix` from `mac` (modified EUI-64)."""
    octets = bytearray(int(b, 16) for b in mac.split(":"))
    octets[0] ^= 0x02          # the universal/local bit, inverted
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return If6((int(prefix.network_address) | int.from_bytes(iid, "big"), prefix.prefixlen))


def link_local(mac: str) -> str:
    """The fe80:: address a kernel gives an interface with this MAC (EUI-64)."""
    return str(eui64(Net6("fe80::/64"), mac).ip)


def _v4_iid(address: ipaddress.IPv4Interface | None) -> int | None:
    """10.0.1.10/24 -> 0x10: the host number's decimal digits read as hex."""
    if address is None:
        return None
    number = int(address.ip) - int(address.network.network_address)
    return int(str(number), 16) if 0 < number <= 9999 else None


def _link_of(where: str, links: list[LinkSpec | None]) -> LinkSpec | None:
    found = re.fullmatch(r"links\[(\d+)\]", where)
    if not found or int(found.group(1)) >= len(links):
        return None
    return links[int(found.group(1))]


def _written(wiring: Wiring, out: Problems) -> dict[Port, tuple[If6, str]]:
    """The IPv6 addresses written on the nodes' interfaces, each used once."""
    written: dict[Port, tuple[If6, str]] = {}
    owner: dict[ipaddress.IPv6Address, str] = {}
    for node, spec in wiring.nodes.items():
        for iface, ispec in spec.interfaces.items():
            if ispec.address6 is None:
                continue
            where = f"nodes.{node}.interfaces.{iface}"
            if spec.kind == "switch":
                out.error(where, f"{node} is a switch: its ports have no addresses", "write the address on "
                          "the host or router at the other end")
            elif spec.stack is not None:
                out.error(where, f"{node} runs the user-space stack, which speaks IPv4 only",
                          "leave its address6 out")
            elif ispec.address6.ip in owner:
                out.error(where, f"address {ispec.address6.ip} is already used by {owner[ispec.address6.ip]}",
                          "every interface needs its own address")
            else:
                owner[ispec.address6.ip] = where
                written[(node, iface)] = (ispec.address6, where)
    return written


class _Pool:
    """The next free /64s of the lab's prefix, and /127s of its last /64."""

    def __init__(self, prefix: Net6, taken: list[Net6]):
        self.prefix, self.taken = prefix, list(taken)
        self.next64 = 1
        self.last64 = Net6((int(prefix.broadcast_address) & ~((1 << 64) - 1), 64))
        self.next127 = 0

    def _free(self, net: Net6) -> bool:
        return not any(net.overlaps(t) for t in self.taken)

    def lan(self) -> Net6 | None:
        count = 1 << (64 - self.prefix.prefixlen)
        while self.next64 < count - 1:    # the last /64 is kept for /127s
            net = Net6((int(self.prefix.network_address) + (self.next64 << 64), 64))
            self.next64 += 1
            if self._free(net):
                self.taken.append(net)
                return net
        return None

    def p2p(self) -> Net6 | None:
        while self.next127 < (1 << 63):
            net = Net6((int(self.last64.network_address) + 2 * self.next127, 127))
            self.next127 += 1
            if self._free(net):
                self.taken.append(net)
                return net
        return None


def _on(seg: Segment, wiring: Wiring, spec: Ipv6Spec | None, lans: dict[str, LanSpec],
        links: list[LinkSpec | None], written: dict[Port, tuple[If6, str]]) -> bool | None:
    """Whether the segment has IPv6: True, False (said off), or None (not asked)."""
    lan = lans.get(seg.lan) if seg.lan else None
    said = [lan.ipv6] if lan is not None and lan.ipv6 is not None else []
    said += [link.ipv6 for c in seg.cables if (link := _link_of(c.where, links)) is not None
             and link.ipv6 is not None]
    if False in said:
        return False
    if said or spec is not None:
        return True
    if (lan is not None and lan.prefix6 is not None) or any(
            (link := _link_of(c.where, links)) is not None and link.prefix6 is not None for c in seg.cables):
        return True
    return True if any(p in written for p in seg.ports) else None


def assign6(wiring: Wiring, spec: Ipv6Spec | None, lans: dict[str, LanSpec], links: list[LinkSpec | None],
            v4: dict[Port, ipaddress.IPv4Interface], macs: dict[Port, str], lab: str,
            out: Problems) -> Addressing6:
    """Subnets, addresses, SLAAC ports and inferred gateways; problems go to `out`."""
    result = Addressing6()
    written = _written(wiring, out)
    nodes = wiring.nodes
    prefix = spec.prefix if spec is not None and spec.prefix is not None else lab_prefix(lab)
    p2p = spec.p2p if spec is not None else 64
    default_mode = spec.hosts if spec is not None else "slaac"
    chosen: list[tuple[int, Segment]] = []
    for s, seg in enumerate(wiring.segments):
        on = _on(seg, wiring, spec, lans, links, written)
        l3 = [p for p in seg.ports if nodes[p[0]].kind != "switch"]
        if on is False:
            for p in l3:
                if p in written:
                    out.error(written[p][1], f"{seg.name} says ipv6: false, but {p[0]}:{p[1]} has an IPv6 "
                              "address", "take the address out, or the ipv6: false")
            continue
        if on and l3 and not any(nodes[p[0]].stack is not None for p in l3):
            chosen.append((s, seg))
    if not chosen:
        return result

    # 1. written subnets
    where_of: dict[int, str] = {}
    for s, seg in chosen:
        lan = lans.get(seg.lan) if seg.lan else None
        net = lan.prefix6 if lan is not None else None
        where = f"lans.{seg.lan}.prefix6"
        for c in seg.cables:
            link = _link_of(c.where, links)
            if link is not None and link.prefix6 is not None:
                if net is not None and net != link.prefix6:
                    out.error(f"{c.where}.prefix6", f"{link.prefix6} differs from {net}, written for the same "
                              f"segment at {where}", "write one subnet per segment")
                net, where = link.prefix6, f"{c.where}.prefix6"
        addrs = [written[p] for p in seg.ports if p in written]
        if net is None and addrs:
            net, where = addrs[0][0].network, addrs[0][1]
        if net is not None:
            for addr, awhere in addrs:
                if addr.network != net:
                    out.error(awhere, f"{addr} is not on {net}, the IPv6 subnet of {seg.name} (from {where})",
                              f"use an address in {net}")
            result.prefix[s], where_of[s] = net, where
    nets = list(result.prefix.items())
    for i, (s, net) in enumerate(nets):
        for t, other in nets[:i]:
            if net.overlaps(other):
                out.error(where_of[s], f"{net} overlaps {other}, the IPv6 subnet of {wiring.segments[t].name}",
                          "give every segment a subnet of its own")

    # 2. the mode of each segment: SLAAC for a LAN with hosts, unless said static
    for s, seg in chosen:
        hosts = [p for p in seg.ports if nodes[p[0]].kind == "host"]
        lan = lans.get(seg.lan) if seg.lan else None
        mode = lan.ipv6 if lan is not None and isinstance(lan.ipv6, str) else default_mode
        result.modes[s] = mode if hosts else "static"
        net = result.prefix.get(s)
        if result.modes[s] == "slaac":
            routers = [p for p in seg.ports if nodes[p[0]].kind == "router"]
            place = f"lans.{seg.lan}" if seg.lan else seg.name
            if not routers:
                out.error(place, f"the hosts of {seg.name} would take their IPv6 addresses by SLAAC, but no router "
                          "is on it to advertise its prefix", "add a router, or write 'ipv6: static' on the LAN")
            elif net is not None and net.prefixlen != 64:
                out.error(where_of[s], f"SLAAC makes addresses on a /64 only, and {net} is a /{net.prefixlen}",
                          "give the LAN a /64, or write 'ipv6: static' on it")

    # 3. pool subnets
    pool = _Pool(prefix, [n for n in result.prefix.values()])
    for s, seg in chosen:
        if s in result.prefix:
            continue
        l3 = [p for p in seg.ports if nodes[p[0]].kind != "switch"]
        two_routers = len(l3) == 2 and all(nodes[p[0]].kind == "router" for p in l3) and not seg.switches
        net = pool.p2p() if two_routers and p2p == 127 else pool.lan()
        if net is None:
            out.error("ipv6.prefix", f"{prefix} has no free subnet left for {seg.name}", "give a larger prefix")
            continue
        result.prefix[s] = net

    # 4. addresses
    for s, seg in chosen:
        net = result.prefix.get(s)
        if net is None:
            continue
        l3 = [p for p in seg.ports if nodes[p[0]].kind != "switch"]
        used = {int(written[p][0].ip) - int(net.network_address) for p in l3 if p in written}
        if net.prefixlen == 127:
            for k, p in enumerate(sorted(l3)):
                result.address[p] = written[p][0] if p in written else If6((net[k], 127))
            continue
        slaac = result.modes[s] == "slaac"
        order = sorted(l3, key=lambda p: (nodes[p[0]].kind != "router", p))
        for p in order:
            if p in written:
                result.address[p] = written[p][0]
                continue
            if slaac and nodes[p[0]].kind == "host":
                result.address[p] = eui64(net, macs[p])
                result.slaac.add(p)
                continue
            iid = _v4_iid(v4.get(p))
            if iid is None or iid in used:
                iid = 1 if nodes[p[0]].kind == "router" else HOST_START
                while iid in used:
                    iid += 1
            used.add(iid)
            result.address[p] = If6((int(net.network_address) + iid, net.prefixlen))
        for p in order:
            if nodes[p[0]].kind == "router" and slaac:
                result.advertise[p] = net

    # 5. gateways of static hosts: the one router on their LAN
    for s, seg in chosen:
        if result.modes.get(s) != "static" or s not in result.prefix:
            continue
        routers = [p for p in seg.ports if nodes[p[0]].kind == "router" and p in result.address]
        for p in seg.ports:
            spec_node = nodes[p[0]]
            if spec_node.kind == "host" and spec_node.gateway6 is None and len(routers) == 1 \
                    and len(wiring.ports_of.get(p[0], ())) == 1:
                result.gateway[p[0]] = result.address[routers[0]].ip
    for node, nspec in nodes.items():
        if nspec.gateway6 is None:
            continue
        ports = [p for p in wiring.ports_of.get(node, ()) if p in result.slaac]
        if ports:
            out.error(f"nodes.{node}.gateway6", f"{node} learns its IPv6 default router from the advertisements "
                      f"on {ports[0][1]} (SLAAC)", "leave gateway6 out, or write 'ipv6: static' on its LAN")
    return result
