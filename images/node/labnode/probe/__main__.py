"""python3 -m labnode.probe KIND ...  (see labnode.probe for the kinds)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from labnode import chatproto


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as a JSON result (exit 2)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def positive(kind):
    def check(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value
    return check


def build_parser() -> Parser:
    parser = Parser(prog="lab-probe", description="run one probe, print one JSON result")
    sub = parser.add_subparsers(dest="kind", required=True, parser_class=Parser)

    p = sub.add_parser("ping", help="ICMP echo")
    p.add_argument("target")
    p.add_argument("--count", "-c", type=positive(int), default=3)
    p.add_argument("--timeout", "-W", type=positive(float), default=1.0,
                   help="seconds to wait for each reply")
    p.add_argument("--interval", "-i", type=positive(float), default=0.2)
    p.add_argument("--size", "-s", type=int, default=56, help="payload bytes")

    p = sub.add_parser("traceroute", help="hops to a target, by TTL")
    p.add_argument("target")
    p.add_argument("--max-hops", "-m", type=positive(int), default=30, help="1-255 (default 30)")
    p.add_argument("--timeout", "-w", type=positive(float), default=1.0)
    p.add_argument("--queries", "-q", type=positive(int), default=2)
    p.add_argument("--method", choices=("udp", "icmp", "tcp"), default="udp",
                   help="udp to high ports (default), icmp echo, or tcp connects to --port")
    p.add_argument("--port", "-p", type=int, default=80, help="tcp: the destination port (default 80)")

    p = sub.add_parser("tcp", help="connect / port scan")
    p.add_argument("target")
    p.add_argument("ports", help="PORT, LO-HI, or a comma list of both")
    p.add_argument("--timeout", type=positive(float), default=1.0)

    p = sub.add_parser("http", help="HTTP GET")
    p.add_argument("url")
    p.add_argument("--timeout", type=positive(float), default=5.0)
    p.add_argument("--contains", help="text the body must contain")
    p.add_argument("--status", type=int, help="the status expected (default: any < 400)")

    p = sub.add_parser("chat", help="chat round trip")
    p.add_argument("host")
    p.add_argument("--port", type=int, default=chatproto.DEFAULT_PORT)
    p.add_argument("--nick")
    p.add_argument("--message")
    p.add_argument("--timeout", type=positive(float), default=5.0)

    p = sub.add_parser("dns", help="DNS lookup (UDP, TCP when truncated)")
    p.add_argument("lookup")
    p.add_argument("--server", help="the server's address (default: the first nameserver of /etc/resolv.conf)")
    p.add_argument("--type", default="A", help="record type (default A)")
    p.add_argument("--expect", help="an address that must be among the answers")
    p.add_argument("--timeout", type=positive(float), default=2.0)

    p = sub.add_parser("dhcp", help="the address an interface holds from DHCP")
    p.add_argument("iface")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a lease (default 10)")

    p = sub.add_parser("neigh", help="the MAC learnt for a neighbour's address (ARP)")
    p.add_argument("address")
    p.add_argument("--timeout", type=positive(float), default=2.0)

    p = sub.add_parser("udp", help="UDP echo round trip")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=positive(int), default=1)
    p.add_argument("--timeout", type=positive(float), default=2.0)
    p.add_argument("--payload")
    return parser


#: the module of each kind (labnode.probe.<module>)
MODULES = {"ping": "ping", "traceroute": "traceroute", "tcp": "tcp", "http": "httpget", "chat": "chat",
           "dns": "dns", "dhcp": "dhcp", "neigh": "neigh", "udp": "udp"}


def preload(kinds) -> None:
    """Import the modules of these kinds now, before threads run probes at once
    (two threads importing one module together can see it half made)."""
    for kind in kinds:
        if kind in MODULES:
            importlib.import_module(f"labnode.probe.{MODULES[kind]}")


def run(args: argparse.Namespace) -> dict:
    # Imported here so each probe loads only what it needs.
    if args.kind == "ping":
        from labnode.probe.ping import ping
        return ping(args.target, args.count, args.timeout, args.interval, args.size)
    if args.kind == "traceroute":
        from labnode.probe.traceroute import traceroute
        if args.max_hops > 255:
            raise UsageError("lab-probe traceroute: --max-hops must be at most 255")
        if not 1 <= args.port <= 65535:
            raise UsageError("lab-probe traceroute: --port must be 1-65535")
        return traceroute(args.target, args.max_hops, args.timeout, args.queries, args.method, args.port)
    if args.kind == "tcp":
        from labnode.probe.tcp import parse_ports, scan
        try:
            ports = parse_ports(args.ports)
        except ValueError as exc:
            raise UsageError(f"lab-probe tcp: {exc}") from None
        return scan(args.target, ports, args.timeout)
    if args.kind == "http":
        from labnode.probe.httpget import get
        return get(args.url, args.timeout, args.contains, args.status)
    if args.kind == "chat":
        from labnode.probe.chat import probe
        return probe(args.host, args.port, args.nick, args.message, args.timeout)
    if args.kind == "dns":
        from labnode.probe.dns import lookup
        return lookup(args.lookup, args.server, args.type, args.expect, args.timeout)
    if args.kind == "neigh":
        from labnode.probe.neigh import probe as neigh_probe
        return neigh_probe(args.address, min(args.timeout, 60.0))
    if args.kind == "dhcp":
        from labnode.probe.dhcp import probe as dhcp_probe
        return dhcp_probe(args.iface, max(0.0, min(args.wait, 120.0)))
    from labnode.probe.udp import probe
    return probe(args.host, args.port, args.count, args.timeout, args.payload)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        result = run(build_parser().parse_args(argv))
        code = 0 if result.get("ok") else 1
    except UsageError as exc:
        result, code = {"probe": argv[0] if argv else None, "ok": False, "error": str(exc)}, 2
    except Exception as exc:  # a bug must still give one JSON object
        result, code = {"probe": argv[0] if argv else None, "ok": False,
                        "error": f"internal error: {type(exc).__name__}: {exc}"}, 1
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
