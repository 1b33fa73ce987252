"""The lab's DNS: what each `dns` service serves, and the lab's resolver.

A dns service (our own server, images/node/labnode/dns) is written on a node:

    services:
      - type: dns
        zones:                                   # zones it is authoritative for
          - origin: example.lab
            records:
              - {name: "@", type: NS, value: ns1}
              - {name: ns1, type: A, value: auth1}     # a node: its first address
              - {name: www, type: A, value: web.eth0}  # node.iface: that interface's
              - {name: mail, type: CNAME, value: www}
        lab_zone: lab             # also a zone made from the plan: NODE.lab -> its addresses, and PTRs
        recursion: true           # a resolver for the lab's subnets ...
        root_hints: [root]        # ... walking from these (default: the lab's servers of ".")

Here the node references become addresses, the plan's zone is made, the
resolver's root hints and clients are found, and the lab's resolver is
chosen: the first node (in file order) whose dns service recurses. Every
node's /etc/resolv.conf names it; with no resolver, a resolv.conf naming no
server, so nothing in a lab ever asks a server outside it. The document of
each server is the format of labnode.dns.server's config.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..model.specs import DnsZoneSpec, ServiceSpec
from ..model.topology import NodeSpec
from ..plan import Plan
from .problems import Problems


def _absolute(name: str, origin: str) -> str:
    """A zone-file name made absolute, without the final dot ("" is the root)."""
    if name.endswith("."):
        return name.rstrip(".")
    if name == "@":
        return origin.strip(".")
    return f"{name}.{origin.strip('.')}".strip(".")


def _root_ns(svc: ServiceSpec) -> str | None:
    """The name the root zone of this server gives its name server (first NS at the apex)."""
    for zone in svc.zones:
        if zone.origin.strip(".") == "":
            for rec in zone.records:
                if rec.type == "NS" and rec.name == "@":
                    return _absolute(rec.value, "")
    return None


def _records(plan: Plan, zone: DnsZoneSpec, where: str, out: Problems) -> list[dict[str, Any]]:
    records = []
    for r, rec in enumerate(zone.records):
        value = rec.value
        if rec.type == "A":
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                found, problem = plan.addresses_of(value)
                if problem:
                    out.error(f"{where}.records[{r}].value", f"'{value}' is neither an IPv4 address nor a node "
                              f"with an address ({problem})", "write an address, a node (its first address) "
                              "or node.interface")
                    continue
                value = found[0]
        entry: dict[str, Any] = {"name": rec.name, "type": rec.type, "value": value}
        if rec.ttl is not None:
            entry["ttl"] = rec.ttl
        records.append(entry)
    return records


def plan_dns(plan: Plan, nodes: dict[str, NodeSpec], out: Problems) -> None:
    """Each dns server's document (PlanNode.dns) and the lab's resolver (Plan.resolver)."""
    servers = [(name, k, svc) for name, spec in nodes.items() if name in plan.nodes
               for k, svc in enumerate(spec.services) if svc.type == "dns"]
    if not servers:
        return
    roots = [(name, svc) for name, _, svc in servers if any(z.origin.strip(".") == "" for z in svc.zones)]
    subnets = sorted({seg.prefix for seg in plan.segments if seg.prefix})
    for name, k, svc in servers:
        where = f"nodes.{name}.services[{k}]"
        zones = [{"origin": z.origin, "ttl": z.ttl, "records": _records(plan, z, f"{where}.zones[{i}]", out)}
                 for i, z in enumerate(svc.zones)]
        doc: dict[str, Any] = {"listen": ["0.0.0.0"], "port": svc.effective_port, "zones": zones}
        if svc.lab_zone:
            mine = [z.origin.strip(".") for z in svc.zones]
            if svc.lab_zone.strip(".") in mine:
                out.error(f"{where}.lab_zone", f"zone '{svc.lab_zone}' is also written under zones",
                          "add your records to one of them: leave lab_zone out, or that zone")
            names = {n.name: [a.split("/")[0] for a in n.addresses()] for n in plan.nodes.values() if n.addresses()}
            doc["zones"].append({"origin": svc.lab_zone, "ttl": 300, "records":
                                 [{"name": "@", "type": "NS", "value": name}]
                                 + [{"name": n, "type": "A", "value": a} for n, addrs in names.items() for a in addrs]})
            doc["reverse"] = {f"{n}.{svc.lab_zone.strip('.')}": addrs for n, addrs in names.items()}
        if svc.recursion:
            hints = []
            chosen = svc.root_hints or [n for n, _ in roots]
            if not chosen:
                out.error(f"{where}.recursion", "a resolver needs the root servers it starts from, and no dns "
                          "service of this lab serves the root zone \".\"",
                          "give one 'zones: [{origin: \".\", records: [...]}]', or 'root_hints: [NODE]'")
            for h, ref in enumerate(chosen):
                found, problem = plan.addresses_of(ref)
                if problem:
                    out.error(f"{where}.root_hints[{h}]", f"root hint '{ref}': {problem}",
                              "name a node running a dns service that serves the root zone, or an address")
                    continue
                server = next((s for n, s in roots if n == ref.partition(".")[0]), None)
                hints.append({"name": (_root_ns(server) if server else None) or ref, "address": found[0]})
            doc["recursion"] = {"root_hints": hints, "allow": [*subnets, "127.0.0.0/8"]}
        plan.nodes[name].dns = doc
    plan.resolver = choose_resolver(plan, nodes)


def choose_resolver(plan: Plan, nodes: dict[str, NodeSpec]) -> str | None:
    """The lab's resolver: the first address of the first node (in file order)
    whose dns service recurses; None when none does."""
    for name, spec in nodes.items():
        node = plan.nodes.get(name)
        if node is not None and node.addresses() and any(s.type == "dns" and s.recursion for s in spec.services):
            return node.addresses()[0].split("/")[0]
    return None
