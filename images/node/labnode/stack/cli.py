"""python3 -m labnode.stack.cli arp|sockets|stats|all [--json] [--socket PATH]

Asks the running stack over its control socket and prints a table, like
`ip neigh` (arp), `ss -tuani` (sockets: with -i's per-connection detail:
cwnd, ssthresh, srtt, rto, retransmissions) and `nstat` (stats), or the raw
JSON with --json; `all` prints the three, under headings (with --json, one
object {arp, sockets, stats}).  Exit status 0 on success, 1 if the stack cannot be
reached or refuses the request.
"""

from __future__ import annotations

import argparse
import json
import sys

from labnode import ctlclient

from .config import DEFAULT_SOCKET

MAX_REPLY = 16 << 20


CliError = ctlclient.ControlError
table = ctlclient.table


def ask(path: str, request: dict, timeout: float = 3.0):
    """The data the stack answers to `request`."""
    return ctlclient.ask(path, request, what="the stack", max_reply=MAX_REPLY, timeout=timeout)


def show_arp(rows: list[dict]) -> str:
    if not rows:
        return "(no ARP entries)"
    return table(["ADDRESS", "MAC", "STATE", "EXPIRES"],
                 [[r["address"], r["mac"], r["state"],
                   None if r["expires_in"] is None else f"{r['expires_in']:g}s"] for r in rows])


def show_sockets(rows: list[dict]) -> str:
    if not rows:
        return "(no sockets)"
    lines = [table(["PROTO", "STATE", "RECV-Q", "SEND-Q", "LOCAL", "REMOTE"],
                   [[r["proto"], r["state"], r.get("recv_queue", r.get("accept_queue", 0)),
                     r.get("send_queue", 0), r["local"], r["remote"]] for r in rows])]
    for r in rows:
        if r["proto"] == "tcp" and r["state"] != "LISTEN":
            lines.append(f"  {r['local']} -> {r['remote']}: mss:{r['mss']} cwnd:{r['cwnd']} "
                         f"ssthresh:{r['ssthresh'] if r['ssthresh'] is not None else '-'} "
                         f"srtt:{r['srtt_ms'] if r['srtt_ms'] is not None else '-'}ms "
                         f"rttvar:{r['rttvar_ms']}ms rto:{r['rto_ms']}ms snd_wnd:{r['snd_wnd']} "
                         f"rcv_wnd:{r['rcv_wnd']} unacked:{r['in_flight']} retrans:{r['retransmits']} "
                         f"fast_retrans:{r['fast_retransmits']} timeouts:{r['timeouts']} "
                         f"segs_in:{r['segs_in']} segs_out:{r['segs_out']} bytes_acked:{r['bytes_acked']} "
                         f"bytes_received:{r['bytes_received']}"
                         + (f" error:{r['error']!r}" if r.get("error") else ""))
    return "\n".join(lines)


def show_stats(data: dict) -> str:
    iface = data["interface"]
    head = [f"interface {iface['address']} mac {iface['mac']} mtu {iface['mtu']} "
            f"gateway {iface['gateway'] or '-'}",
            *(f"route {r['to']} via {r['via']}" for r in iface["routes"]),
            f"loss every={data['loss']['every']} p={data['loss']['p']} direction={data['loss']['direction']}",
            f"uptime {data['uptime']}s"]
    width = max(len(k) for k in data["counters"])
    return "\n".join(head + [f"{k.ljust(width)}  {v}" for k, v in data["counters"].items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labnode.stack.cli",
                                     description="inspect a running user-space stack")
    parser.add_argument("command", choices=("arp", "sockets", "stats", "all"))
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"control socket (default {DEFAULT_SOCKET})")
    args = parser.parse_args(argv)
    shows = {"arp": show_arp, "sockets": show_sockets, "stats": show_stats}
    commands = list(shows) if args.command == "all" else [args.command]
    try:
        answers = {command: ask(args.socket, {"command": command}) for command in commands}
        if args.json:
            print(json.dumps(answers if args.command == "all" else answers[args.command], indent=2))
        elif args.command == "all":
            print("\n\n".join(f"{command}:\n{shows[command](data)}" for command, data in answers.items()))
        else:
            print(shows[args.command](answers[args.command]))
    except CliError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError) as exc:
        print(f"stack: unexpected answer shape ({type(exc).__name__}: {exc}); try --json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
