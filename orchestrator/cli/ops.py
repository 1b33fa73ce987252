"""`lab graph`, `lab capture`, `lab link`, `lab impair`, `lab logs`, `lab repair`:
operating a running lab (orchestrator.operate, orchestrator.repair)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .complete import lab_names, node_names
from .ui import OUT, ProgressView, console, emit_json, err_console, fail, no_json, run

if TYPE_CHECKING:
    from ..capture import CaptureResult


@click.command()
@click.argument("target", metavar="PATH|NAME")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write to this file instead of standard output (its suffix picks the format: "
                   ".svg, .dot, .mmd, .drawio).")
@click.option("--format", "fmt", type=click.Choice(["svg", "dot", "mermaid", "drawio"]),
              help="svg (default), Graphviz dot source, Mermaid text, or a draw.io (diagrams.net) file.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Mermaid text instead of SVG (--format mermaid).")
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz dot source instead of SVG (--format dot).")
def graph(target: str, output: str | None, fmt: str | None) -> None:
    """Draw a lab: a lab file (PATH) or a running lab (NAME, with down links
    dashed red and impairments shown). Nodes show their services, NAT and
    firewall; cables their interfaces, addresses and costs."""
    no_json("graph", "it draws the lab (--dot and --mermaid draw it as text); "
            "lab --json plan PATH lists its nodes and links")
    if fmt is None and output:
        fmt = {".mmd": "mermaid", ".md": "mermaid", ".dot": "dot", ".gv": "dot", ".drawio": "drawio"}.get(
            Path(output).suffix.lower(), "svg")
    from ..operate import graph as draw
    text = run(draw, target, fmt or "svg")
    if output:
        Path(output).write_text(text, encoding="utf-8")
        if not OUT.quiet:
            err_console().print(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
@click.argument("iface")
@click.argument("bpf", nargs=-1, type=click.UNPROCESSED, metavar="[FILTER]...")
@click.option("-w", "--write", "pcap", type=click.Path(dir_okay=False),
              help="Write packets to this pcap file (for tshark/Wireshark); '-' for stdout.")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after N packets.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("-e", "--link-level", is_flag=True, help="Show MAC addresses (text output).")
@click.option("--raw", is_flag=True, help="tcpdump's lines as they are, without the lab's names.")
def capture(name: str, node: str, iface: str, bpf: tuple[str, ...], pcap: str | None,
            count: int | None, seconds: float | None, link_level: bool, raw: bool) -> None:
    """Capture packets on NODE's IFACE with tcpdump (Ctrl-C stops cleanly).

    FILTER is a tcpdump/pcap filter, e.g.: lab capture five-subnets r1 eth0 icmp or arp

    Text lines name the lab's nodes after their addresses and (with -e) MACs:
    10.0.1.1 (r1), fe80::e8:17ff:fe55:60f7 (r1), 02:e8:17:55:60:f7 (r1:eth0);
    the end says how many ARP requests and replies, pings, DHCP messages and
    ICMPv6 router and neighbour messages went by.
    """
    from rich.markup import escape

    from ..operate import capture as run_capture
    no_json("capture", "-w FILE (or -w -) writes the packets as pcap, which tshark and Wireshark read")

    def ready(msg: str) -> None:
        err_console().print(f"[dim]{escape(node)}: {escape(msg.splitlines()[-1])}[/dim]")

    def go(**out: Any) -> CaptureResult:
        return run(run_capture, name, node, iface, count=count, seconds=seconds, bpf=list(bpf),
                   link_level=link_level, on_ready=ready, names=not raw, **out)

    if pcap == "-":
        result = go(pcap_out=sys.stdout.buffer)
    elif pcap:
        with open(pcap, "wb") as f:
            result = go(pcap_out=f)
    else:
        result = go(on_line=click.echo)
    where = f" to {pcap}" if pcap and pcap != "-" else ""
    kinds = ", ".join(f"{n} {kind if n == 1 else kind[:-1] + 'ies' if kind.endswith('y') else kind + 's'}"
                      for kind, n in result.seen.items())
    err_console().print(f"{result.packets} packet{'s' if result.packets != 1 else ''} captured{where}"
                        + (f": {kinds}" if kinds else "") + (" (stopped by Ctrl-C)" if result.interrupted else ""))


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("a", metavar="A[:IFACE]")
@click.argument("b", metavar="B[:IFACE]")
@click.argument("state", type=click.Choice(["down", "up"]))
def link(name: str, a: str, b: str, state: str) -> None:
    """Take the link between nodes A and B down, or bring it up again."""
    from ..operate import set_link
    found = run(set_link, name, a, b, state == "up")
    if OUT.json:
        emit_json({"lab": name, "a": str(found.a), "b": str(found.b), "state": state})
        return
    colour = "green" if state == "up" else "red"
    console().print(f"link {found.a} <-> {found.b}: [{colour}]{state}[/{colour}]")


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("target", metavar="NODE[:IFACE]")
@click.option("--delay", help="Added one-way delay, e.g. 50ms.")
@click.option("--jitter", help="Random variation of the delay, e.g. 5ms.")
@click.option("--loss", help="Packets dropped at random, e.g. 2%.")
@click.option("--rate", help="Bandwidth limit, e.g. 10mbit, 512kbit.")
@click.option("--clear", is_flag=True, help="Remove the impairment.")
def impair(name: str, target: str, delay: str | None, jitter: str | None, loss: str | None,
           rate: str | None, clear: bool) -> None:
    """Impair the packets leaving NODE:IFACE (tc netem / tbf), or --clear."""
    from .. import operate
    if clear:
        if any((delay, jitter, loss, rate)):
            fail("--clear takes no --delay/--jitter/--loss/--rate")
        node, iface, had = run(operate.clear, name, target)
        if OUT.json:
            emit_json({"lab": name, "node": node, "iface": iface, "impairment": None, "removed": had})
            return
        console().print(f"{node}:{iface}: " + ("impairment removed" if had else "was not impaired"))
        return
    imp = run(operate.make_impairment, delay, jitter, loss, rate)
    node, iface, kind = run(operate.impair, name, target, imp)
    if OUT.json:
        emit_json({"lab": name, "node": node, "iface": iface, "impairment": imp.describe(), "tc": kind})
        return
    console().print(f"{node}:{iface}: {imp.describe()} (tc {kind}, packets leaving {iface})")


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
@click.argument("service", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("--list", "list_only", is_flag=True, help="Only list the node's logs.")
def logs(name: str, node: str, service: str | None, follow: bool, list_only: bool) -> None:
    """Show a service's log from NODE (/var/log/labnet/SERVICE.log); with no
    SERVICE, every log with a header (supervisor is the supervisor's own)."""
    from .. import contract, operate
    if list_only:
        found = run(operate.list_logs, name, node)
        if OUT.json:
            emit_json([{"service": svc, "bytes": size} for svc, size in found])
            return
        if not found:
            console().print(f"{node} has no logs under {contract.LOG_DIR}")
        for svc, size in found:
            console().print(f"{svc}\t{size} bytes")
        return
    no_json("logs", "lab --json logs NAME NODE --list lists the logs; their lines are text")

    def show(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    run(operate.logs, name, node, service, follow=follow, on_text=show)


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.option("-v", "--verbose", is_flag=True)
def repair(name: str, verbose: bool) -> None:
    """Re-wire and re-configure nodes that were restarted or stopped."""
    from rich.markup import escape

    from ..repair import needs_repair
    from ..repair import repair as mend
    broken = run(needs_repair, name)
    if not broken:
        if OUT.json:
            emit_json({"lab": name, "broken": {}, "started": [], "repaired": [], "reconfigured": [],
                       "restarted": []})
            return
        console().print(f"lab {name}: every node is running with all its links; nothing to repair")
        return
    for node, why in broken.items() if not OUT.quiet else ():   # quiet: results and errors only
        err_console().print(f"[yellow]{escape(node)}[/yellow]: {escape(str(why))}")
    with ProgressView(verbose) as view:
        result = run(mend, name, progress=view)
    if OUT.json:
        emit_json({"lab": name, "broken": {node: str(why) for node, why in broken.items()},
                   "started": result.started, "repaired": result.repaired,
                   "reconfigured": result.reconfigured, "restarted": result.restarted})
        return
    parts = []
    if result.started:
        parts.append(f"started {', '.join(result.started)}")
    parts.append(f"re-wired {', '.join(result.repaired) or 'nothing'}")
    parts.append(f"re-configured {', '.join(result.reconfigured) or 'nothing'}")
    if result.restarted:
        parts.append(f"restarted the supervisor of {', '.join(result.restarted)}")
    console().print(f"[green]lab {name} repaired[/green]: " + "; ".join(parts))


COMMANDS = [graph, capture, link, impair, logs, repair]
