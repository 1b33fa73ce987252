"""NAT and firewall: names in the lab file resolved to addresses.

A rule's `from`/`to` may name a subnet, an address, a node (all its
addresses), a LAN (its subnet), `node.iface` (that interface's address) or
`any`. Used by validation (every unresolvable name is a problem) and by
planning (the resolved rules go into the plan; templates/node/nftables.nft.j2
renders them).
"""

from __future__ import annotations

import difflib
import ipaddress
from typing import Literal

from pydantic import BaseModel, Field

from .addressing import Addressing
from .errors import Problem
from .specs import ChainSpec, FirewallSpec, NatSpec
from .wiring import Wiring


class PlanRule(BaseModel):
    src: list[str] = Field(default_factory=list)     # empty: any
    dst: list[str] = Field(default_factory=list)
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


class Resolver:
    """Turns names used in rules into address lists, for one lab."""

    def __init__(self, wiring: Wiring, addressing: Addressing):
        self.wiring = wiring
        self.addressing = addressing
        self.lans = {seg.lan: addressing.prefix[s] for s, seg in enumerate(wiring.segments)
                     if seg.lan and s in addressing.prefix}
        self.node_addrs: dict[str, list[ipaddress.IPv4Interface]] = {}
        for (node, iface), addr in addressing.address.items():
            self.node_addrs.setdefault(node, []).append(addr)

    def names(self) -> list[str]:
        return sorted(set(self.wiring.nodes) | set(self.lans))

    def resolve(self, text: str) -> list[str]:
        """-> list of subnets ('10.0.1.0/24', '10.0.1.10/32'); [] for any.
        Raises ValueError with a message and hint separated by '|'."""
        text = text.strip()
        if text == "any":
            return []
        if text in self.lans:
            return [str(self.lans[text])]
        if text in self.wiring.nodes:
            addrs = self.node_addrs.get(text)
            if not addrs:
                raise ValueError(f"node '{text}' has no address|a switch cannot be matched by address")
            return [f"{a.ip}/32" for a in sorted(addrs, key=lambda a: a.ip)]
        node, dot, iface = text.partition(".")
        if dot and node in self.wiring.nodes and not node[0].isdigit():
            addr = self.addressing.address.get((node, iface))
            if addr is None:
                ifaces = sorted(i for (n, i) in self.addressing.address if n == node)
                raise ValueError(f"'{node}' has no addressed interface '{iface}'|its interfaces: "
                                 f"{', '.join(ifaces) or 'none'}")
            return [f"{addr.ip}/32"]
        try:
            return [str(ipaddress.IPv4Network(text, strict=True))]
        except ValueError:
            try:
                loose = ipaddress.IPv4Network(text, strict=False)
            except ValueError:
                pass
            else:
                raise ValueError(f"'{text}' has host bits set|the subnet is {loose}") from None
        close = difflib.get_close_matches(text, self.names(), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else "name a node, a LAN, node.iface, a subnet or any"
        raise ValueError(f"unknown node, LAN or subnet '{text}'|{hint}")


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def resolve_chain(chain: ChainSpec, where: str, resolver: Resolver,
                  problems: list[Problem]) -> PlanChain:
    rules = []
    for r, rule in enumerate(chain.rules):
        rwhere = f"{where}.rules[{r}]"
        sides = {}
        for side, key in (("src", "from"), ("dst", "to")):
            out: list[str] = []
            for item in _as_list(getattr(rule, side)):
                try:
                    out += resolver.resolve(item)
                except ValueError as exc:
                    message, _, hint = str(exc).partition("|")
                    problems.append(Problem(f"{rwhere}.{key}", message, hint))
            sides[side] = sorted(set(out), key=lambda n: ipaddress.IPv4Network(n))
        port = None
        if rule.port is not None:
            lo, hi = rule.port
            port = str(lo) if lo == hi else f"{lo}-{hi}"
        rules.append(PlanRule(src=sides["src"], dst=sides["dst"], proto=rule.proto, port=port,
                              action=rule.action, comment=rwhere))
    return PlanChain(policy=chain.policy, rules=rules)


def resolve_firewall(node: str, spec: FirewallSpec, resolver: Resolver,
                     problems: list[Problem]) -> PlanFirewall:
    where = f"nodes.{node}.firewall"
    kind = resolver.wiring.nodes[node].kind
    if kind == "switch":
        problems.append(Problem(where, "a switch has no firewall", "put it on a router or host"))
    if spec.forward is not None and kind != "router":
        problems.append(Problem(f"{where}.forward", f"a {kind} forwards nothing",
                                "only routers have a forward chain; use 'input' for traffic to this node"))
    return PlanFirewall(
        input=resolve_chain(spec.input, f"{where}.input", resolver, problems) if spec.input else None,
        forward=resolve_chain(spec.forward, f"{where}.forward", resolver, problems) if spec.forward else None,
        stateful=spec.stateful,
    )


def resolve_nat(node: str, spec: NatSpec, resolver: Resolver, problems: list[Problem]) -> PlanNat | None:
    where = f"nodes.{node}.nat"
    wiring, addressing = resolver.wiring, resolver.addressing
    if wiring.nodes[node].kind != "router":
        problems.append(Problem(where, f"only routers do NAT; '{node}' is a {wiring.nodes[node].kind}",
                                "make it kind: router, or move 'nat' to the router"))
        return None
    mine = {iface: addr for (n, iface), addr in addressing.address.items() if n == node}
    if spec.out not in mine:
        problems.append(Problem(f"{where}.out", f"'{node}' has no addressed interface '{spec.out}'",
                                f"its interfaces: {', '.join(sorted(mine)) or 'none'}"))
        return None
    outside = mine[spec.out].network
    if spec.inside is None:
        inside = sorted({str(a.network) for i, a in mine.items() if i != spec.out},
                        key=lambda n: ipaddress.IPv4Network(n))
    else:
        inside = []
        for k, item in enumerate(spec.inside):
            try:
                inside += resolver.resolve(item)
            except ValueError as exc:
                message, _, hint = str(exc).partition("|")
                problems.append(Problem(f"{where}.inside[{k}]", message, hint))
    inside_nets = [ipaddress.IPv4Network(n) for n in inside]
    forwards = []
    for k, fwd in enumerate(spec.forwards):
        fwhere = f"{where}.forwards[{k}]"
        target, _, port = fwd.to.rpartition(":")
        try:
            addrs = resolver.resolve(target)
        except ValueError as exc:
            message, _, hint = str(exc).partition("|")
            problems.append(Problem(f"{fwhere}.to", message, hint))
            continue
        if len(addrs) != 1 or not addrs[0].endswith("/32"):
            problems.append(Problem(f"{fwhere}.to", f"'{target}' is not one address",
                                    "forward to a node with one address, or to node.iface"))
            continue
        ip = ipaddress.IPv4Address(addrs[0].split("/")[0])
        if ip in outside or not any(ip in net for net in inside_nets):
            problems.append(Problem(f"{fwhere}.to", f"'{target}' ({ip}) is not behind {node}: it is in none "
                                    f"of the inside subnets ({', '.join(inside) or 'none'})",
                                    "forward to a node on the inside of this router"))
            continue
        forwards.append(PlanForward(proto=fwd.proto, public_port=fwd.public_port, to_address=str(ip),
                                    to_port=int(port), comment=fwhere))
    seen: dict[tuple[str, int], int] = {}
    for k, fwd in enumerate(spec.forwards):
        key = (fwd.proto, fwd.public_port)
        if key in seen:
            problems.append(Problem(f"{where}.forwards[{k}].public_port",
                                    f"{fwd.proto} port {fwd.public_port} is already forwarded by forwards[{seen[key]}]",
                                    "one public port forwards to one place"))
        seen.setdefault(key, k)
    return PlanNat(out=spec.out, inside=inside, forwards=forwards)


def check_policies(wiring: Wiring, addressing: Addressing) -> list[Problem]:
    problems: list[Problem] = []
    resolver = Resolver(wiring, addressing)
    for node, spec in wiring.nodes.items():
        if spec.firewall is not None:
            resolve_firewall(node, spec.firewall, resolver, problems)
        if spec.nat is not None:
            resolve_nat(node, spec.nat, resolver, problems)
    return problems
