"""NAT and firewall: names in the lab file resolved to addresses.

A rule's `from`/`to` may name a subnet, an address, a node (all its
addresses), a LAN (its subnet), `node.iface` (that interface's address) or
`any`. Resolved once per compile: every name that does not resolve is a
problem, the rest goes into the plan (templates/node/nftables.nft.j2
renders it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import did_you_mean, unknown_hint
from ..model.specs import ChainSpec, FirewallSpec, NatSpec, RuleSpec
from ..plan import PlanChain, PlanFirewall, PlanForward, PlanNat, PlanRule
from .addressing import Addressing
from .addressing6 import Addressing6
from .problems import Problems
from .wiring import Wiring


@dataclass(frozen=True)
class Unresolved:
    """Why a name in a rule does not resolve, and what to write instead."""

    message: str
    hint: str
    #: the name is of something that did not validate (reported already): no second problem
    quiet: bool = False


#: a name of a part that did not validate, or of a node whose addresses are not all known
NOT_KNOWN = Unresolved("", "", quiet=True)
#: a subnet or address of the other family, or a name with no address of this one: not a match of this family
OTHER_FAMILY = Unresolved("", "", quiet=True)


class Resolver:
    """Turns names used in rules into address lists, for one lab."""

    def __init__(self, wiring: Wiring, addressing: Addressing | Addressing6, family: int = 4):
        self.wiring = wiring
        self.addressing = addressing
        self.family = family
        self.host = 32 if family == 4 else 128
        self.lans = {seg.lan: addressing.prefix[s] for s, seg in enumerate(wiring.segments)
                     if seg.lan and s in addressing.prefix}
        self.node_addrs: dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
        for (node, _), addr in addressing.address.items():
            self.node_addrs.setdefault(node, []).append(addr)

    def names(self) -> list[str]:
        return sorted(set(self.wiring.nodes) | set(self.lans))

    def resolve(self, text: str) -> list[str] | Unresolved:
        """-> list of subnets ('10.0.1.0/24', '10.0.1.10/32'), [] for any; or why not."""
        text = text.strip()
        if text == "any":
            return []
        if text in self.lans:
            return [str(self.lans[text])]
        if ":" in text:     # an IPv6 subnet or address (no name has a colon)
            return self._literal6(text) if self.family == 6 else OTHER_FAMILY
        wiring = self.wiring
        if self.family == 6:   # names were checked by the IPv4 pass: here only their IPv6 addresses
            return self._names6(text)
        if text in wiring.name_only or text in wiring.unread.lans:
            return NOT_KNOWN
        if text in self.wiring.nodes:
            addrs = self.node_addrs.get(text)
            if not addrs and text in wiring.doubt:
                return NOT_KNOWN
            if not addrs:
                return Unresolved(f"node '{text}' has no address", "a switch cannot be matched by address")
            return [f"{a.ip}/32" for a in sorted(addrs, key=lambda a: a.ip)]
        node, dot, iface = text.partition(".")
        if dot and node in wiring.name_only:
            return NOT_KNOWN
        if dot and node in self.wiring.nodes and not node[0].isdigit():
            addr = self.addressing.address.get((node, iface))
            if addr is None and node in wiring.doubt:
                return NOT_KNOWN
            if addr is None:
                ifaces = [i for (n, i) in self.addressing.address if n == node]
                return Unresolved(f"'{node}' has no addressed interface '{iface}'",
                                  interface_hint(iface, ifaces))
            return [f"{addr.ip}/32"]
        try:
            return [str(ipaddress.IPv4Network(text, strict=True))]
        except ValueError:
            try:
                loose = ipaddress.IPv4Network(text, strict=False)
            except ValueError:
                pass
            else:
                return Unresolved(f"'{text}' has host bits set", f"the subnet is {loose}")
        names = sorted(set(self.names()) | wiring.name_only | wiring.unread.lans)
        if not names:
            return Unresolved(f"unknown node, LAN or subnet '{text}'",
                              "name a node, a LAN, node.iface, a subnet or any")
        hint = unknown_hint(text, names, what="nodes and LANs")
        if did_you_mean(text, names, cutoff=0.5) is None:
            hint += "; or node.iface, a subnet or any"
        return Unresolved(f"unknown node, LAN or subnet '{text}'", hint)

    def _literal6(self, text: str) -> list[str] | Unresolved:
        try:
            return [str(ipaddress.IPv6Network(text, strict=True))]
        except ValueError:
            try:
                loose = ipaddress.IPv6Network(text, strict=False)
            except ValueError:
                return Unresolved(f"'{text}' is not an IPv6 subnet or address", "write it like 2001:db8:1::/64")
            return Unresolved(f"'{text}' has host bits set", f"the subnet is {loose}")

    def _names6(self, text: str) -> list[str] | Unresolved:
        if text in self.wiring.nodes:
            addrs = self.node_addrs.get(text)
            return [f"{a.ip}/128" for a in sorted(addrs, key=lambda a: a.ip)] if addrs else OTHER_FAMILY
        node, dot, iface = text.partition(".")
        addr = self.addressing.address.get((node, iface)) if dot else None
        return [f"{addr.ip}/128"] if addr is not None else OTHER_FAMILY

    def resolve_into(self, text: str, where: str, found: list[str], out: Problems) -> bool:
        """Resolve `text`, adding its subnets to `found`; a problem at `where` if it does not."""
        result = self.resolve(text)
        if result is OTHER_FAMILY:
            out.error(where, f"'{text}' is an IPv6 subnet or address; NAT is IPv4 only (docs/ipv6.md)",
                      "name an IPv4 subnet, a node or a LAN")
            return False
        if isinstance(result, Unresolved):
            if not result.quiet:
                out.error(where, result.message, result.hint)
            return False
        found += result
        return True


def interface_hint(iface: str, ifaces: Iterable[str]) -> str:
    """The nearest of a node's addressed interfaces, and all of them."""
    names = list(ifaces)
    return unknown_hint(iface, names, what="its interfaces") if names else "it has no addressed interface"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _sides(rule: RuleSpec, rwhere: str, resolver: Resolver, out: Problems) -> tuple[bool, list[str], list[str]]:
    """Whether the rule holds for the resolver's family, and its source and
    destination matches in that family ([]: any address)."""
    holds = rule.family in (None, resolver.family)
    sides = {}
    for side, key in (("src", "from"), ("dst", "to")):
        found: list[str] = []
        items = _as_list(getattr(rule, side))
        mine = 0
        for item in items:
            result = resolver.resolve(item)
            if result is OTHER_FAMILY:
                continue
            mine += 1
            if isinstance(result, Unresolved):
                if not result.quiet:
                    out.error(f"{rwhere}.{key}", result.message, result.hint)
            else:
                found += result
        holds = holds and (mine > 0 or not items)
        sides[side] = sorted(set(found), key=lambda n: ipaddress.ip_network(n))
    return holds, sides["src"], sides["dst"]


def resolve_chain(chain: ChainSpec, where: str, resolver: Resolver, out: Problems) -> PlanChain:
    rules = []
    for r, rule in enumerate(chain.rules):
        rwhere = f"{where}.rules[{r}]"
        holds, src, dst = _sides(rule, rwhere, resolver, out)
        port = None
        if rule.port is not None:
            lo, hi = rule.port
            port = str(lo) if lo == hi else f"{lo}-{hi}"
        rules.append(PlanRule(src=src, dst=dst, v4=holds, proto=rule.proto, port=port,
                              action=rule.action, comment=rwhere))
    return PlanChain(policy=chain.policy, rules=rules)


def add_ipv6(firewall: PlanFirewall, spec: FirewallSpec, node: str, resolver: Resolver, out: Problems) -> None:
    """The IPv6 matches of a node's rules (resolver: the IPv6 one); what only
    IPv6 can get wrong (a malformed IPv6 subnet) goes to `out`."""
    for hook in ("input", "forward"):
        chain, planned = getattr(spec, hook), getattr(firewall, hook)
        if chain is None or planned is None:
            continue
        for r, (rule, plan_rule) in enumerate(zip(chain.rules, planned.rules)):
            holds, src, dst = _sides(rule, f"nodes.{node}.firewall.{hook}.rules[{r}]", resolver, out)
            plan_rule.v6, plan_rule.src6, plan_rule.dst6 = holds, src, dst
    firewall.ipv6 = True


def resolve_firewall(node: str, spec: FirewallSpec, resolver: Resolver, out: Problems) -> PlanFirewall:
    where = f"nodes.{node}.firewall"
    kind = resolver.wiring.nodes[node].kind
    if kind == "switch":
        out.error(where, "a switch has no firewall", "put it on a router or host")
    if spec.forward is not None and kind != "router":
        out.error(f"{where}.forward", f"a {kind} forwards nothing",
                  "only routers have a forward chain; use 'input' for traffic to this node")
    return PlanFirewall(
        input=resolve_chain(spec.input, f"{where}.input", resolver, out) if spec.input else None,
        forward=resolve_chain(spec.forward, f"{where}.forward", resolver, out) if spec.forward else None,
        stateful=spec.stateful,
    )


def resolve_nat(node: str, spec: NatSpec, resolver: Resolver, out: Problems) -> PlanNat | None:
    where = f"nodes.{node}.nat"
    wiring, addressing = resolver.wiring, resolver.addressing
    if wiring.nodes[node].kind != "router":
        out.error(where, f"only routers do NAT; '{node}' is a {wiring.nodes[node].kind}",
                  "make it kind: router, or move 'nat' to the router")
        return None
    mine = {iface: addr for (n, iface), addr in addressing.address.items() if n == node}
    if spec.out not in mine:
        if node in wiring.doubt:
            return None
        out.error(f"{where}.out", f"'{node}' has no addressed interface '{spec.out}'", interface_hint(spec.out, mine))
        return None
    outside = mine[spec.out].network
    if spec.inside is None:
        inside = sorted({str(a.network) for i, a in mine.items() if i != spec.out},
                        key=lambda n: ipaddress.IPv4Network(n))
    else:
        inside = []
        for k, item in enumerate(spec.inside):
            resolver.resolve_into(item, f"{where}.inside[{k}]", inside, out)
    inside_nets = [ipaddress.IPv4Network(n) for n in inside]
    forwards = []
    for k, fwd in enumerate(spec.forwards):
        fwhere = f"{where}.forwards[{k}]"
        target, _, port = fwd.to.rpartition(":")
        addrs: list[str] = []
        if not resolver.resolve_into(target, f"{fwhere}.to", addrs, out):
            continue
        if len(addrs) != 1 or not addrs[0].endswith("/32"):
            out.error(f"{fwhere}.to", f"'{target}' is not one address",
                      "forward to a node with one address, or to node.iface")
            continue
        ip = ipaddress.IPv4Address(addrs[0].split("/")[0])
        if ip in outside or not any(ip in net for net in inside_nets):
            if node in wiring.doubt or target.partition(".")[0] in wiring.doubt:
                continue
            out.error(f"{fwhere}.to", f"'{target}' ({ip}) is not behind {node}: it is in none "
                      f"of the inside subnets ({', '.join(inside) or 'none'})",
                      "forward to a node on the inside of this router")
            continue
        forwards.append(PlanForward(proto=fwd.proto, public_port=fwd.public_port, to_address=str(ip),
                                    to_port=int(port), comment=fwhere))
    seen: dict[tuple[str, int], int] = {}
    for k, fwd in enumerate(spec.forwards):
        key = (fwd.proto, fwd.public_port)
        if key in seen:
            out.error(f"{where}.forwards[{k}].public_port",
                      f"{fwd.proto} port {fwd.public_port} is already forwarded by forwards[{seen[key]}]",
                      "one public port forwards to one place")
        seen.setdefault(key, k)
    return PlanNat(out=spec.out, inside=inside, forwards=forwards)


def resolve_policies(wiring: Wiring, addressing: Addressing,
                     out: Problems) -> dict[str, tuple[PlanNat | None, PlanFirewall | None]]:
    """node -> its NAT and firewall, resolved (for nodes that have either)."""
    resolver = Resolver(wiring, addressing)
    found: dict[str, tuple[PlanNat | None, PlanFirewall | None]] = {}
    for node, spec in wiring.nodes.items():
        if spec.firewall is None and spec.nat is None:
            continue
        firewall = resolve_firewall(node, spec.firewall, resolver, out) if spec.firewall is not None else None
        nat = resolve_nat(node, spec.nat, resolver, out) if spec.nat is not None else None
        found[node] = (nat, firewall)
    return found
