"""python3 -m labnode.routing.cli neighbors|lsdb|routes|stats [--json] [--socket PATH] [--names FILE]

Asks the running daemon over its control socket and prints a table (or the
raw JSON with --json).  Router ids and addresses are shown with the lab's
node names when the names file (written by labnet) knows them: "r2
(10.255.0.2)".  Exit status 0 on success, 1 if the daemon cannot be reached
or refuses the request.

On a dual-stack router the route table comes in two parts, "IPv4 routes" and
"IPv6 routes" (every JSON row has its `family`, 4 or 6), the neighbour table
gains an address6 column and the LSDB a line of IPv6 prefixes; an IPv4-only
router's tables are unchanged.
"""
from __future__ import annotations

import argparse
import json
import sys

from .. import bounded, contract, ctlclient
from .control import COMMANDS

DEFAULT_SOCKET = "/run/labnet-routed.sock"
MAX_REPLY = 64 << 20  # bytes of one answer: the lsdb of 20 000 routers fits many times over
MAX_NAMES = 16 << 20  # bytes of the names file


def load_names(path: str) -> dict[str, str]:
    """{router id or address: node name}; empty when the file is missing or
    not such a mapping (the tables then show addresses only)."""
    try:
        data = bounded.load_file(path, max_bytes=MAX_NAMES, max_depth=2, max_items=MAX_NAMES)
    except (OSError, bounded.BoundedError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def named(address, names: dict[str, str]) -> str:
    """'r2 (10.255.0.2)' when the address has a name, else the address."""
    if address is None:
        return "-"
    name = names.get(str(address))
    return f"{name} ({address})" if name else str(address)


CliError = ctlclient.ControlError
table = ctlclient.table


def ask(path: str, command: str, timeout: float = 3.0):
    """The data the daemon answers to `command`."""
    return ctlclient.ask(path, {"command": command}, what="the routing daemon", max_reply=MAX_REPLY,
                         timeout=timeout)


def render(command: str, data, names: dict[str, str] | None = None) -> str:
    names = names or {}
    if command == "neighbors":
        if not data:
            return "no neighbours"
        dual = any(n.get("address6") for n in data)
        return table(["interface", "neighbor", "address"] + (["address6"] if dual else [])
                     + ["state", "cost", "for (s)", "dead in (s)", "rxmt"],
                     [[n["interface"], named(n["router_id"], names), n["address"]]
                      + ([named(n.get("address6"), names)] if dual else [])
                      + [n["state"], n["cost"], f"{n['for']:.1f}", f"{n['dead_in']:.2f}", n["retransmit_queue"]]
                      for n in data])
    if command == "routes":
        if not data:
            return "no routes"
        by_family = {family: [r for r in data if r.get("family", 4) == family] for family in (4, 6)}
        if not by_family[6]:
            return route_table(by_family[4], names)
        return "\n\n".join(f"IPv{family} routes\n" + (route_table(rows, names) if rows else "none")
                           for family, rows in by_family.items())
    if command == "lsdb":
        blocks = []
        for lsa in data:
            reach = "self" if lsa["self"] else (f"distance {lsa['distance']}" if lsa["reachable"] else "unreachable")
            reach = "flushed, max age" if lsa.get("flushed") else reach
            head = (f"{named(lsa['router_id'], names)}  seq {lsa['seq']}  age {lsa['age']}s"
                    f"  checksum {lsa['checksum']}  ({reach})")
            links = ", ".join(f"{names.get(link['neighbor'], link['neighbor'])} cost {link['cost']}"
                              for link in lsa["links"]) or "none"
            prefixes = ", ".join(p["prefix"] + (f" +{p['metric']}" if p["metric"] else "")
                                 for p in lsa["prefixes"]) or "none"
            block = f"{head}\n  links:    {links}\n  prefixes: {prefixes}"
            if lsa.get("prefixes6"):
                block += "\n  prefixes6: " + ", ".join(p["prefix"] + (f" +{p['metric']}" if p["metric"] else "")
                                                     for p in lsa["prefixes6"])
            blocks.append(block)
        return "\n".join(blocks) if blocks else "empty database"
    if command == "stats":
        lines = [f"router {named(data['router_id'], names)}  up {data['uptime']:.1f}s  seq {data['seq']}",
                 f"lsdb {data['lsdb_size']} LSAs, {data['routes']} routes"
                 + (f" + {data['routes6']} IPv6" if data.get("routes6") else "")
                 + f", {data['neighbors_full']} full neighbours,"
                 f" last SPF {data['spf_last_ms']:.2f} ms",
                 f"interfaces up: {', '.join(data['interfaces_up']) or 'none'}", ""]
        counters = data["counters"]
        return "\n".join(lines) + table(["counter", "value"], [[k, v] for k, v in counters.items()])
    raise CliError(f"unknown command {command}")


def route_table(data: list[dict], names: dict[str, str]) -> str:
    """One family's routes: a row per next hop, ECMP paths under their prefix."""
    rows = []
    for r in data:
        hops = r["nexthops"]
        for i, nh in enumerate(hops):
            first = i == 0
            rows.append([r["prefix"] if first else "", r["cost"] if first else "",
                         named(nh["gateway"], names), nh["interface"],
                         f"{len(hops)} paths" if first and len(hops) > 1 else ""])
    return table(["prefix", "cost", "next hop", "interface", "ecmp"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab-routed", description="Inspect the routing daemon.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--json", action="store_true", help="print the daemon's JSON answer")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--names", default=contract.ROUTER_NAMES,
                        help=f"router ids and addresses -> node names (default {contract.ROUTER_NAMES})")
    args = parser.parse_args(argv)
    try:
        data = ask(args.socket, args.command)
        print(json.dumps(data, indent=2) if args.json else render(args.command, data, load_names(args.names)))
    except CliError as exc:
        print(f"lab-routed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
