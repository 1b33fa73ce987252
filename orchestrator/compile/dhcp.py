"""The lab's DHCP: servers' pools, routers that relay, hosts that ask.

    nodes:
      dhcp1:
        kind: host
        interfaces: {eth0: 10.0.1.2/24}
        services:
          - type: dhcp
            pools:
              - range: [10.0.1.100, 10.0.1.199]        # on lan1: served directly
              - range: [10.0.2.100, 10.0.2.199]        # on lan2: through r1's relay
                lease: 600
                reservations: {pc3: 10.0.2.50}
      r1: {kind: router, dhcp_relay: dhcp1, ...}        # relays what it hears on lan2
      pc1: {kind: host, interfaces: {eth0: dhcp}}

A pool's subnet is the segment its range is on; the range must hold no
address written or assigned to a node. A pool is reachable when its server
has an interface on that segment, or a router there relays to the server.
Every interface written `dhcp` must be on a segment with a pool. A reserved
host's interface carries its reserved address in the plan (so checks can
name it); the others carry none: they learn it when they ask. The server's
document is labnode.dhcp.server's config; a relaying router's is
labnode.dhcp.relay's; a client runs lab-dhclient under its supervisor.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .. import contract
from ..model.specs import DhcpPoolSpec
from ..model.topology import NodeSpec
from ..plan import Plan, PlanInterface, PlanSegment, PlanService
from .problems import Problems

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


@dataclass
class _Served:
    server: str
    where: str
    net: Net
    first: Addr
    last: Addr
    shared: bool
    router: str | None
    doc: dict[str, Any]

    def size(self) -> int:
        return int(self.last) - int(self.first) + 1


def _ports(seg: PlanSegment) -> list[tuple[str, str]]:
    return [(p.split(":", 1)[0], p.split(":", 1)[1]) for p in seg.ports]


def plan_dhcp(plan: Plan, nodes: dict[str, NodeSpec], out: Problems) -> None:
    """Servers' documents (PlanNode.dhcp), relays (PlanNode.dhcp_relay), and the
    clients' interfaces marked, reserved addresses filled in, services added."""
    clients = [(name, iface) for name, spec in nodes.items() if name in plan.nodes
               for iface, ispec in spec.interfaces.items() if ispec.dhcp]
    servers = [(name, k, svc) for name, spec in nodes.items() if name in plan.nodes
               for k, svc in enumerate(spec.services) if svc.type == "dhcp"]
    relays = {name: spec.dhcp_relay for name, spec in nodes.items()
              if name in plan.nodes and spec.kind == "router" and spec.dhcp_relay}
    if not (clients or servers or relays):
        return
    segment_of = {port: seg for seg in plan.segments for port in _ports(seg)}
    asking: dict[str, list[tuple[str, PlanInterface]]] = {}   # segment -> its clients
    for name, iface in clients:
        found = plan.nodes[name].interface(iface)
        if found is None:
            continue    # declared but cabled to nothing: nothing to ask on
        found.dhcp = True
        seg = segment_of.get((name, iface))
        if seg is not None:
            asking.setdefault(seg.name, []).append((name, found))
    taken = plan.owners()
    relay_to = _relay_targets(plan, relays, servers, out)
    served: dict[str, list[_Served]] = {}   # segment -> the pools serving it (several: shared)
    tried: set[str] = set()            # segments a pool was written for (its problem said already)
    for name, k, svc in servers:
        where = f"nodes.{name}.services[{k}]"
        node = plan.nodes[name]
        if not node.addresses():
            out.error(where, f"the dhcp server '{name}' has no address of its own",
                      "give it an address on the LAN it serves (a server cannot take its own by DHCP)")
            continue
        pools = []
        for i, pool in enumerate(svc.pools):
            doc = _pool(plan, name, f"{where}.pools[{i}]", pool, taken, served, relay_to, asking, tried, out)
            if doc is not None:
                pools.append(doc)
        node.dhcp = {"interfaces": [i.name for i in node.interfaces if i.address], "pools": pools}
    for seg_name, members in asking.items():
        if seg_name in tried and seg_name not in served:
            continue    # its pool has a problem of its own
        if seg_name in served:
            serving = served[seg_name]
            unreserved = [m for m in members if not m[1].address]
            size = sum(s.size() for s in serving)
            if len(unreserved) > size:
                ranges = " and ".join(f"{s.first} - {s.last}" for s in serving)
                out.warn(serving[-1].where, f"the range{'s' if len(serving) > 1 else ''} {ranges} hold"
                         f"{'s' if len(serving) == 1 else ''} {size} address{'es' if size > 1 else ''} for "
                         f"{len(unreserved)} hosts that ask with no reservation", "widen the range")
            continue
        seg = next(s for s in plan.segments if s.name == seg_name)
        for name, member in members:
            on = f" (on {seg.prefix})" if seg.prefix else ""
            out.error(f"nodes.{name}.interfaces.{member.name}", f"{name}:{member.name} asks for its address by "
                      f"DHCP, but no dhcp service of this lab has a pool for its segment{on}",
                      "add a pool whose range is on that subnet to a dhcp service"
                      + (f", e.g. range: [{_example(seg.prefix)}]" if seg.prefix else ""))
    for serving in served.values():
        if len(serving) == 1 and serving[0].shared:
            out.warn(f"{serving[0].where}.shared", f"no other server has a pool on {serving[0].net}: this server "
                     "stays silent to a client that asks for an address outside its range",
                     "leave 'shared' out, or give the other server its pool")
    _share_reservations(served, out)
    _relays(plan, relays, relay_to, asking, served, out)
    for name, iface_name in clients:
        if plan.nodes[name].interface(iface_name) is not None:
            plan.nodes[name].services.append(PlanService(
                name=contract.dhcp_client_service(iface_name), type="command",
                command=[contract.DHCP_CLIENT, iface_name]))


def _example(prefix: str) -> str:
    net = Net(prefix)
    first, last = (net[100], net[199]) if net.num_addresses >= 256 else (net[1], net[-2])
    return f"{first}, {last}"


def _relay_targets(plan: Plan, relays: dict[str, str], servers: list, out: Problems) -> dict[str, tuple[str, str]]:
    """router -> (the server node, the address it relays to)."""
    running = {name for name, _, _ in servers}
    owners = plan.owners()
    found: dict[str, tuple[str, str]] = {}
    for router, ref in relays.items():
        where = f"nodes.{router}.dhcp_relay"
        addrs, problem = plan.addresses_of(ref)
        if problem:
            out.error(where, f"relay to '{ref}': {problem}", "name the node that runs the lab's dhcp service")
            continue
        server = owners.get(addrs[0], (ref.partition(".")[0], ""))[0]
        if server not in running:
            known = ", ".join(sorted(running)) or "none in this lab"
            out.error(where, f"'{ref}' runs no dhcp service (servers: {known})",
                      "name a node with 'services: [{type: dhcp, ...}]'")
            continue
        found[router] = (server, addrs[0])
    return found


def _pool(plan: Plan, server: str, where: str, pool: DhcpPoolSpec, taken: dict[str, tuple[str, str]],
          served: dict[str, list[_Served]], relay_to: dict[str, tuple[str, str]],
          asking: dict[str, list[tuple[str, PlanInterface]]], tried: set[str],
          out: Problems) -> dict[str, Any] | None:
    first, last = pool.range
    seg = next((s for s in plan.segments if s.prefix and first in Net(s.prefix)), None)
    if seg is None or seg.prefix is None:
        subnets = ", ".join(sorted({s.prefix for s in plan.segments if s.prefix})[:6])
        out.error(f"{where}.range", f"{first} is on none of the lab's subnets ({subnets})",
                  "write a range inside the subnet of the LAN it serves")
        return None
    net = Net(seg.prefix)
    tried.add(seg.name)
    if last not in net:
        out.error(f"{where}.range", f"the range starts on {net} but ends at {last}, outside it",
                  f"end it at {net[-2]} at the most")
        return None
    for end in (first, last):
        if end in (net.network_address, net.broadcast_address) and net.prefixlen <= 30:
            out.error(f"{where}.range", f"{end} is the {'network' if end == net.network_address else 'broadcast'} "
                      f"address of {net}", f"keep the range within {net[1]} - {net[-2]}")
            return None
    inside = sorted((Addr(a), owner) for a, owner in taken.items() if first <= Addr(a) <= last)
    if inside:
        address, (node, iface) = inside[0]
        more = f" (and {len(inside) - 1} more)" if len(inside) > 1 else ""
        out.error(f"{where}.range", f"{address} is {node}:{iface}'s address and inside the range "
                  f"{first} - {last}{more}: the server would hand it out again",
                  "start the range after the written addresses, or move those out of it")
        return None
    for other in served.get(seg.name, []):
        if other.server == server:
            out.error(f"{where}.range", f"{net} has a pool of {server}'s already ({other.where})",
                      "one pool per subnet and server: merge them")
            return None
        if not (pool.shared and other.shared):
            out.error(f"{where}.range", f"{net} has a pool already ({other.where}): two servers on one LAN "
                      "would both answer every client",
                      "serve another LAN, or split this one: 'shared: true' on each pool, their ranges apart")
            return None
        if first <= other.last and other.first <= last:
            out.error(f"{where}.range", f"the range {first} - {last} overlaps {other.first} - {other.last} "
                      f"({other.where}): the two servers would hand out the same addresses",
                      "split the subnet between them: ranges apart")
            return None
    ports = _ports(seg)
    direct = any(n == server for n, _ in ports)
    relaying = [n for n, _ in ports if relay_to.get(n, ("", ""))[0] == server]
    if not direct and not relaying:
        routers = sorted({n for n, _ in ports if plan.nodes[n].kind == "router"})
        hint = (f"set 'dhcp_relay: {server}' on {' or '.join(routers)}" if routers
                else f"cable {server} to that LAN, or give the LAN a router that relays to it")
        out.error(where, f"no DHCP request from {net} reaches {server}: it has no interface there and no "
                  "router there relays to it", hint)
        return None
    doc: dict[str, Any] = {"subnet": str(net), "range": [str(first), str(last)], "lease": pool.lease}
    router = _router(plan, seg, net, pool, f"{where}.router", out)
    for other in served.get(seg.name, []):
        if router != other.router:
            out.error(f"{where}.router", f"this pool gives the gateway {router or 'none'}, {other.where} gives "
                      f"{other.router or 'none'}: a host's gateway would depend on which server answered first",
                      "give the pools of one LAN the same router")
            return None
    served.setdefault(seg.name, []).append(_Served(server, where, net, first, last, pool.shared, router, doc))
    if router:
        doc["router"] = router
    if pool.shared:
        doc["shared"] = True
    dns = [str(a) for a in pool.dns] if pool.dns is not None else ([plan.resolver] if plan.resolver else [])
    if dns:
        doc["dns"] = dns
    if pool.domain:
        doc["domain"] = pool.domain
    doc["reservations"] = _reservations(plan, where, pool, net, taken, asking.get(seg.name, []), out)
    return doc


def _router(plan: Plan, seg: PlanSegment, net: Net, pool: DhcpPoolSpec, where: str, out: Problems) -> str | None:
    """The gateway the pool names: written (an address or a node), else the segment's router."""
    if pool.router is not None:
        addrs, problem = plan.addresses_of(pool.router)
        if problem:
            out.error(where, f"router '{pool.router}': {problem}", "write an address or a router of that LAN")
            return None
        on = [a for a in addrs if Addr(a) in net]
        if not on:
            out.error(where, f"the router {pool.router} is not on {net}, so the hosts could not reach it",
                      "name a router of that LAN")
            return None
        return on[0]
    for name, iface in _ports(seg):
        node = plan.nodes[name]
        found = node.interface(iface)
        if node.kind == "router" and found is not None and found.address:
            return found.address.split("/")[0]
    return None


def _reservations(plan: Plan, where: str, pool: DhcpPoolSpec, net: Net, taken: dict[str, tuple[str, str]],
                  members: list[tuple[str, PlanInterface]], out: Problems) -> list[dict[str, str]]:
    docs = []
    given: dict[Addr, str] = {}
    for ref, address in pool.reservations.items():
        here = f"{where}.reservations.{ref}"
        name, _, iface_name = ref.partition(".")
        mine = [i for n, i in members if n == name and (not iface_name or i.name == iface_name)]
        if name not in plan.nodes:
            out.error(here, f"unknown node '{name}'", "reserve addresses for hosts of this lab")
            continue
        if not mine:
            out.error(here, f"{ref} has no interface on {net} that asks by DHCP",
                      "reserve for a host whose interface on this LAN is written 'dhcp'")
            continue
        if len(mine) > 1:
            names = ", ".join(f"{name}.{i.name}" for i in mine)
            out.error(here, f"{name} has {len(mine)} interfaces asking on {net}", f"write one of {names}")
            continue
        if address not in net or address in (net.network_address, net.broadcast_address):
            out.error(here, f"{address} is not a host address of {net}", f"reserve one of {net[1]} - {net[-2]}")
            continue
        if str(address) in taken:
            node, iface = taken[str(address)]
            out.error(here, f"{address} is {node}:{iface}'s address already", "reserve a free address")
            continue
        if address in given:
            out.error(here, f"{address} is reserved for {given[address]} too", "reserve one address per host")
            continue
        given[address] = ref
        mine[0].address = f"{address}/{net.prefixlen}"
        docs.append({"mac": mine[0].mac, "address": str(address), "hostname": name})
    return docs


def _share_reservations(served: dict[str, list[_Served]], out: Problems) -> None:
    """Every server of a shared LAN knows all its reservations: each offers a
    reserved host its address, and none hands that address to another."""
    for pools in served.values():
        if len(pools) < 2:
            continue
        by_mac: dict[str, dict[str, str]] = {}
        by_address: dict[str, dict[str, str]] = {}
        for pool in pools:
            for r in pool.doc["reservations"]:
                here = f"{pool.where}.reservations.{r['hostname']}"
                known = by_mac.setdefault(r["mac"], r)
                holder = by_address.setdefault(r["address"], r)
                if known["address"] != r["address"]:
                    out.error(here, f"{r['hostname']} is reserved {r['address']} here and {known['address']} "
                              "by another server of its LAN", "reserve one address for it, in one pool")
                elif holder["mac"] != r["mac"]:
                    out.error(here, f"{r['address']} is reserved for {holder['hostname']} by another server "
                              "of its LAN", "reserve one address per host")
        for pool in pools:
            pool.doc["reservations"] = list(by_mac.values())


def _relays(plan: Plan, relays: dict[str, str], relay_to: dict[str, tuple[str, str]],
            asking: dict[str, list[tuple[str, PlanInterface]]], served: dict[str, list[_Served]],
            out: Problems) -> None:
    """Each relaying router's document: it listens on its interfaces whose
    segment a pool of its server serves and the server is not on."""
    for router, (server, address) in relay_to.items():
        listen = []
        for seg in plan.segments:
            ports = _ports(seg)
            mine = [i for n, i in ports if n == router]
            pools = served.get(seg.name, [])
            if mine and any(p.server == server for p in pools) and all(n != server for n, _ in ports):
                listen += mine
        if not listen:
            out.warn(f"nodes.{router}.dhcp_relay", f"{router} relays to {server}, but no pool of {server} "
                     f"serves a LAN of {router}'s that {server} is not on", "add a pool for that LAN, or remove "
                     "'dhcp_relay'")
            continue
        plan.nodes[router].dhcp_relay = {"listen": listen, "servers": [address]}
        plan.nodes[router].services.append(PlanService(name=contract.DHCP_RELAY_SERVICE, type="dhcp-relay",
                                                       args={"config": contract.DHCP_RELAY_CONFIG}))
