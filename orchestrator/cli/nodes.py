"""`lab ping`, `lab exec`, `lab shell`, `lab routes`, `lab stack`, `lab neigh`, `lab leases`, `lab chat`:
inside the nodes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from .complete import lab_names, node_lists, node_names
from .ui import OUT, ProgressView, console, emit_json, fail, no_json, relay, run

if TYPE_CHECKING:
    from ..operate import NodeExec, RoutesAnswer

#: what `lab exec --kind` takes
KINDS = ["host", "router", "switch"]


@click.command(name="ping")
@click.argument("name", shell_complete=lab_names)
@click.option("-6", "ipv6", is_flag=True, help="Ping their IPv6 addresses (ICMPv6 echo) instead.")
@click.option("-v", "--verbose", is_flag=True)
def ping_cmd(name: str, ipv6: bool, verbose: bool) -> None:
    """Ping every host of a running lab from every other host."""
    print_ping(name, verbose, family=6 if ipv6 else 4)


def print_ping(name: str, verbose: bool, exit_on_failure: bool = True, family: int = 4) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..operate import ping_all
    with ProgressView(verbose) as view:
        results = run(ping_all, name, progress=view, family=family)
    if OUT.json:
        emit_json([r.__dict__ for r in results])
        if not all(r.ok for r in results):
            sys.exit(1)
        return
    hosts = sorted({r.src for r in results} | {r.dst for r in results})
    by_pair = {(r.src, r.dst): r for r in results}
    table = Table("from \\ to", *hosts, title="all-pairs ping" + (" (IPv6)" if family == 6 else ""))
    for src in hosts:
        cells = []
        for dst in hosts:
            r = by_pair.get((src, dst))
            cells.append("-" if r is None else ("[green]ok[/green]" if r.ok else "[red]FAIL[/red]"))
        table.add_row(src, *cells)
    console().print(table)
    failed = [r for r in results if not r.ok]
    console().print(f"{len(results) - len(failed)}/{len(results)} pairs reachable")
    for r in failed:
        console().print(f"  [red]{r.src} -> {r.dst} ({r.address})[/red]: {escape(r.detail)}")
    if failed and exit_on_failure:
        sys.exit(1)


@click.command(name="exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name", shell_complete=lab_names)
@click.argument("node", required=False, shell_complete=node_names)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--all", "all_nodes", is_flag=True, help="Run it in every node of the lab.")
@click.option("--kind", type=click.Choice(KINDS), help="Run it in every node of this kind.")
@click.option("--nodes", metavar="N1,N2,...", shell_complete=node_lists, help="Run it in these nodes.")
@click.option("--json", "as_json", is_flag=True,
              help="[{node, exit_code, stdout, stderr, error}] on stdout instead of the output.")
@click.pass_context
def exec_cmd(ctx: click.Context, name: str, node: str | None, command: tuple[str, ...], all_nodes: bool,
             kind: str | None, nodes: str | None, as_json: bool) -> None:
    """Run a command in a node: lab exec NAME NODE -- CMD ARGS...

    Or in several at once, side by side: lab exec NAME --all | --kind router |
    --nodes r1,r2 -- CMD ARGS... Each node's output is shown under its name
    with its exit code; the exit code is 1 if the command failed anywhere.
    The options are read before NODE only: what follows NODE is the command."""
    from .. import operate
    picked: dict[str, object] = {"all_nodes": all_nodes, "kind": kind, "nodes": nodes, "as_json": as_json}
    words = _exec_options([node, *command] if node is not None else [], picked, ctx)
    chosen = [flag for flag, key in (("--all", "all_nodes"), ("--kind", "kind"), ("--nodes", "nodes"))
              if picked[key]]
    if len(chosen) > 1:
        fail(f"choose the nodes one way: {' or '.join(chosen)}", code=2)
    target = None if chosen or not words else words.pop(0)
    if words[:1] == ["--"]:
        words.pop(0)
    if not words:
        fail("say what to run: lab exec NAME NODE -- CMD ARGS... (or --all/--kind/--nodes -- CMD)", code=2)
    as_json = bool(picked["as_json"]) or OUT.json
    if target is not None:
        if not as_json:
            relay(run(operate.exec_in, name, target, words))
        results = run(operate.exec_many, name, words, nodes=[target])
    else:
        listed = str(picked["nodes"] or "")
        names = [n.strip() for n in listed.split(",") if n.strip()] if picked["nodes"] else None
        if picked["nodes"] and not names:
            fail("--nodes needs node names, e.g. --nodes r1,r2", code=2)
        results = run(operate.exec_many, name, words, nodes=names,
                      kind=str(picked["kind"]) if picked["kind"] else None)
    print_execs(results, as_json)
    sys.exit(0 if results and all(r.ok for r in results) else 1)


def _exec_options(words: list[str], picked: dict[str, object], ctx: click.Context) -> list[str]:
    """`lab exec`'s options written after NAME (click stops reading options at
    NAME, so that a command's own options are never taken for ours): read up
    to the first other word, or `--`, into `picked`; the words left over."""
    words = list(words)
    while words and (words[0].startswith("--") and words[0] != "--" or words[0] == "-h"):
        flag, eq, value = words[0].partition("=")
        if flag in ("--all", "--json") and not eq:
            picked["all_nodes" if flag == "--all" else "as_json"] = True
        elif flag in ("--kind", "--nodes"):
            if not eq:
                if len(words) < 2:
                    fail(f"{flag} needs a value, e.g. {'--kind router' if flag == '--kind' else '--nodes r1,r2'}",
                         code=2)
                value = words.pop(1)
            if flag == "--kind" and value not in KINDS:
                fail(f"--kind {value!r}: choose host, router or switch", code=2)
            picked[flag[2:]] = value
        elif flag in ("--help", "-h"):
            click.echo(ctx.get_help())
            ctx.exit(0)
        else:
            break
        words.pop(0)
    return words


def print_execs(results: list[NodeExec], as_json: bool) -> None:
    """Each node's output under a header with its exit code, then a summary line."""
    if as_json:
        emit_json([r.__dict__ for r in results])
        return
    for r in results:
        head = f"exit {r.exit_code}" if r.exit_code is not None else "did not run"
        click.echo(f"=== {r.node}: {head} ===")
        for text, err in ((r.stdout, False), (r.stderr, True), (r.error or "", True)):
            if text:
                click.echo(text, nl=not text.endswith("\n"), err=err)
    failed = [r for r in results if not r.ok]
    summary = f"{len(results) - len(failed)}/{len(results)} nodes ok"
    if failed:
        summary += "; failed: " + ", ".join(
            f"{r.node} ({'did not run' if r.exit_code is None else f'exit {r.exit_code}'})" for r in failed)
    click.echo(summary)


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
def shell(name: str, node: str) -> None:
    """Open an interactive shell in a node."""
    no_json("shell", "it opens an interactive shell; lab --json exec NAME NODE -- CMD runs one command")
    from ..operate import shell_argv
    argv = run(shell_argv, name, node)
    os.execvp(argv[0], argv)


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
@click.argument("what", type=click.Choice(["routes", "neighbors", "lsdb", "stats"]), default="routes")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON.")
def routes(name: str, node: str, what: str, as_json: bool) -> None:
    """Ask a router's link-state daemon: routes (default), neighbors, lsdb or
    stats. On a node that runs no daemon (static or computed routing, a host):
    the routes in its kernel."""
    from ..operate import routes as ask
    answer = run(ask, name, node, what, as_json or OUT.json)
    print_routes(answer, as_json or OUT.json)


def print_routes(answer: RoutesAnswer, as_json: bool) -> None:
    if as_json:
        emit_json({"lab": answer.lab, "node": answer.node, "routing": answer.routing, "what": answer.what,
                   "source": answer.source, **({"note": answer.note} if answer.note else {}),
                   ("answer" if answer.source == "daemon" else "routes"): answer.data})
        return
    if answer.note:
        click.echo(answer.note)
    click.echo(answer.text, nl=False)


@click.command("stack")
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
@click.argument("what", type=click.Choice(["all", "arp", "sockets", "stats"]), default="all")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON.")
def stack_cmd(name: str, node: str, what: str, as_json: bool) -> None:
    """Ask a host's user-space TCP/IP stack (stack: user): its ARP cache, its
    sockets with TCP states and per-connection counters (cwnd, srtt,
    retransmissions), and its packet counters; all three by default."""
    from ..operate import stack as ask
    answer = run(ask, name, node, what, as_json or OUT.json)
    if as_json or OUT.json:
        emit_json({"lab": answer.lab, "node": answer.node, "what": answer.what, "answer": answer.data})
    else:
        click.echo(answer.text, nl=False)


@click.command("neigh")
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
def neigh_cmd(name: str, node: str) -> None:
    """NODE's neighbour table (ARP for IPv4): every address it has resolved on
    its links with the MAC it learnt and its state, named from the lab: whose
    address, whose MAC; an entry whose MAC is not the plan's says so."""
    from rich.markup import escape
    from rich.table import Table

    from ..operate import neigh
    rows = run(neigh, name, node)
    if OUT.json:
        emit_json([r.__dict__ for r in rows])
        return
    table = Table("address", "node", "dev", "mac", "mac of", "state", title=f"neighbours of {node}")
    for r in rows:
        state = f"[red]{r.state}[/red]" if r.state in ("FAILED", "INCOMPLETE") else r.state
        table.add_row(r.address, escape(r.node or "?"), r.dev, r.mac or "-", escape(r.mac_of or "?"), state)
    console().print(table)
    for r in rows:
        if r.note:
            console().print(f"  [yellow]{r.address}[/yellow]: {escape(r.note)}")
    if not rows:
        console().print(f"{node} has resolved no neighbour yet (the table fills as it sends: "
                        f"lab exec {name} {node} -- ping -c1 ADDRESS)")


@click.command("leases")
@click.argument("name", shell_complete=lab_names)
@click.argument("node", required=False, shell_complete=node_names)
def leases_cmd(name: str, node: str | None) -> None:
    """The lease tables of the lab's DHCP servers (or of NODE's): each address
    with the MAC it is leased to, the lab's node with that MAC, its state and
    when it expires."""
    from rich.markup import escape
    from rich.table import Table

    from ..operate import leases
    rows = run(leases, name, node)
    if OUT.json:
        emit_json([r.__dict__ for r in rows])
        return
    table = Table("server", "address", "mac", "node", "state", "expires", title=f"DHCP leases of {name}")
    for r in rows:
        expires = "-" if r.state not in ("bound", "declined", "offered") else (
            f"in {r.expires_in} s" if r.expires_in >= 0 else f"{-r.expires_in} s ago")
        who = r.node or (f"({r.hostname})" if r.hostname else "?")
        table.add_row(r.server, r.address, r.mac, escape(who), r.state, expires)
    console().print(table)
    if not rows:
        console().print(f"no leases yet: no host has asked (what a server received: lab logs {name} SERVER dhcp)")


@click.command()
@click.argument("name", shell_complete=lab_names)
@click.argument("node", shell_complete=node_names)
@click.option("--nick", help="Your nickname in the chat (default: the node's host name).")
@click.option("--server", help="The node running the chat service (if the lab has several).")
def chat(name: str, node: str, nick: str | None, server: str | None) -> None:
    """Chat from a node: the interactive chat client in NODE's terminal (/q quits)."""
    no_json("chat", "it is an interactive client; lab --json test checks a lab's chat expectations")
    from ..operate import chat_argv
    argv = run(chat_argv, name, node, nick, server)
    os.execvp(argv[0], argv)


COMMANDS = [ping_cmd, exec_cmd, shell, routes, stack_cmd, neigh_cmd, leases_cmd, chat]
