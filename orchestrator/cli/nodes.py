"""`lab ping`, `lab exec`, `lab shell`, `lab routes`, `lab chat`: inside the nodes."""

from __future__ import annotations

import os
import sys

import click

from .ui import OUT, ProgressView, console, emit_json, relay, run


@click.command(name="ping")
@click.argument("name")
@click.option("-v", "--verbose", is_flag=True)
def ping_cmd(name: str, verbose: bool) -> None:
    """Ping every host of a running lab from every other host."""
    print_ping(name, verbose)


def print_ping(name: str, verbose: bool, exit_on_failure: bool = True) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..operate import ping_all
    with ProgressView(verbose) as view:
        results = run(ping_all, name, progress=view)
    if OUT.json:
        emit_json([r.__dict__ for r in results])
        if not all(r.ok for r in results):
            sys.exit(1)
        return
    hosts = sorted({r.src for r in results} | {r.dst for r in results})
    by_pair = {(r.src, r.dst): r for r in results}
    table = Table("from \\ to", *hosts, title="all-pairs ping")
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


@click.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(name: str, node: str, command: tuple[str, ...]) -> None:
    """Run a command in a node: lab exec NAME NODE -- CMD ARGS..."""
    from ..operate import exec_in
    relay(run(exec_in, name, node, list(command)))


@click.command()
@click.argument("name")
@click.argument("node")
def shell(name: str, node: str) -> None:
    """Open an interactive shell in a node."""
    from ..operate import shell_argv
    argv = run(shell_argv, name, node)
    os.execvp(argv[0], argv)


@click.command()
@click.argument("name")
@click.argument("node")
@click.argument("what", type=click.Choice(["routes", "neighbors", "lsdb", "stats"]), default="routes")
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
def routes(name: str, node: str, what: str, as_json: bool) -> None:
    """Ask a router's link-state daemon: routes (default), neighbors, lsdb or stats."""
    from ..operate import exec_in, routes_argv
    relay(run(exec_in, name, node, routes_argv(what, as_json)))


@click.command()
@click.argument("name")
@click.argument("node")
@click.option("--nick", required=True, help="Your nickname in the chat.")
@click.option("--server", help="The node running the chat service (if the lab has several).")
def chat(name: str, node: str, nick: str, server: str | None) -> None:
    """Chat from a node: the interactive chat client in NODE's terminal (/q quits)."""
    from ..operate import chat_argv
    argv = run(chat_argv, name, node, nick, server)
    os.execvp(argv[0], argv)


COMMANDS = [ping_cmd, exec_cmd, shell, routes, chat]
