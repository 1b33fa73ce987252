"""The `lab` command. It only parses arguments, calls orchestrator.lab and
shows what comes back; all behaviour lives in the library."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from . import lab as api
from .errors import LabError, TopologyError
from .progress import Event
from .render import write_rendered

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class Output:
    """How results are shown: set by `lab --quiet` / `lab --json`."""

    quiet = False   # no progress lines
    json = False    # results (and errors) as one JSON document on stdout


OUT = Output()


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class ProgressView:
    """Renders library progress events: a live status line on a terminal,
    one line per finished stage everywhere."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.status = None

    def __enter__(self) -> "ProgressView":
        if not OUT.quiet:
            self.status = err_console.status("working…")
            self.status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        if OUT.quiet:
            return
        text = f"{event.stage}: {event.message}"
        if event.total:
            text = f"{event.stage} [{event.done}/{event.total}]: {event.message}"
        if self.status is not None:
            self.status.update(text[:160])
        finished_stage = event.total is not None and event.done == event.total
        notable = event.stage == "image" and (event.message.endswith(("built", "up to date"))
                                              or event.message.startswith(("bootstrapping", "building")))
        if self.verbose or finished_stage or notable or event.stage == "destroy" and event.total is None:
            err_console.print(f"[dim]•[/dim] {text if not finished_stage else _stage_done(event)}")


def _stage_done(event: Event) -> str:
    words = {"create": "nodes started", "wire": "links wired", "configure": "nodes configured",
             "destroy": "nodes removed", "verify": "probes run"}
    return f"{event.stage}: {event.total} {words.get(event.stage, 'done')}"


def fail(message: str, code: int = 1, problems: list[str] | None = None) -> None:
    if OUT.json:
        emit_json({"error": message, **({"problems": problems} if problems else {})})
    err_console.print(f"[bold red]error:[/bold red] {message}", markup=True)
    for line in problems or []:
        err_console.print("  " + line, markup=False)
    sys.exit(code)


def run(fn, *args, **kwargs):
    """Call the library; turn its errors into messages and exit codes."""
    try:
        return fn(*args, **kwargs)
    except TopologyError as exc:
        count = len(exc.problems)
        fail(f"{exc.source}: {count} error{'s' if count != 1 else ''} in the lab file:",
             problems=[p.format(exc.source) for p in exc.problems])
    except (LabError, FileNotFoundError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labnet")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines: results and errors only.")
@click.option("--json", "as_json", is_flag=True,
              help="Results of validate, deploy, destroy, status and ping as JSON on stdout (implies --quiet).")
def main(quiet: bool, as_json: bool) -> None:
    """Real-network labs from a YAML file: Docker nodes, veth links, real routing."""
    OUT.quiet = quiet or as_json
    OUT.json = as_json


# --- checking and planning (no engine needed) -------------------------------
@main.command()
@click.argument("path", type=click.Path())
def validate(path: str) -> None:
    """Check a lab file and report every problem in it."""
    prepared = run(api.prepare, path)
    if OUT.json:
        emit_json({"ok": True, "lab": prepared.plan.lab, "nodes": len(prepared.plan.nodes),
                   "links": len(prepared.plan.links), "warnings": [w.format() for w in prepared.warnings]})
        return
    for w in prepared.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w.format()}", markup=True)
    console.print(f"{path}: ok ({len(prepared.plan.nodes)} nodes, {len(prepared.plan.links)} links)")


@main.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--name", help="Plan the lab under another name.")
def plan(path: str, fmt: str, name: str | None) -> None:
    """Print the resolved plan: interfaces, MACs, addresses, routes, labels."""
    data = run(api.prepare, path, name).plan.model_dump()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False))


@main.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), required=True,
              help="Folder to write <node>/<path in node> files into.")
def render(path: str, out: str) -> None:
    """Write every node's rendered configuration files to a folder."""
    prepared = run(api.prepare, path)
    written = write_rendered(prepared.files, Path(out))
    console.print(f"wrote {len(written)} files for {len(prepared.files)} nodes under {out}/")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the lab file (also in schema/lab.schema.json)."""
    from .schema import schema_text
    click.echo(schema_text(), nl=False)


# --- images ------------------------------------------------------------------
@main.group()
def images() -> None:
    """Build and inspect the node images (built locally, offline)."""


@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the images are up to date.")
@click.option("-v", "--verbose", is_flag=True, help="Show every build line.")
def images_build(force: bool, verbose: bool) -> None:
    """Build the base and node images if missing (or --force)."""
    with ProgressView(verbose) as view:
        tags = run(api.build_images, progress=view, force=force)
    console.print(f"base: {tags.base}\nnode: {tags.node}")


# --- lifecycle ---------------------------------------------------------------
@main.command()
@click.argument("path", type=click.Path())
@click.option("--name", help="Deploy under another name (run two copies side by side).")
@click.option("--force", is_flag=True, help="Redeploy if the lab is already up.")
@click.option("--ping", "do_ping", is_flag=True, help="Then ping every host from every host.")
@click.option("--test", "do_test", is_flag=True, help="Then check the lab's expectations (like lab test).")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def deploy(path: str, name: str | None, force: bool, do_ping: bool, do_test: bool, verbose: bool) -> None:
    """Deploy the lab in PATH (a folder with lab.yml, or the file)."""
    with ProgressView(verbose) as view:
        result = run(api.deploy, path, name=name, force=force, progress=view)
    if OUT.json:
        data = {"lab": result.plan.lab, "nodes": len(result.plan.nodes), "links": len(result.plan.links),
                "timings": result.timings, "warnings": [w.format() for w in result.warnings]}
        if do_ping:
            results = run(api.ping_all, result.plan.lab)
            data["ping"] = [r.__dict__ for r in results]
        emit_json(data)
        if do_ping and not all(r.ok for r in results):
            sys.exit(1)
        return
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w.format()}")
    t = result.timings
    console.print(f"[green]lab {result.plan.lab} is up[/green]: {len(result.plan.nodes)} nodes, "
                  f"{len(result.plan.links)} links in {t['total']:.1f} s "
                  f"(create {t['create']:.1f} s, wire {t['wire']:.2f} s, configure {t['configure']:.1f} s)")
    _print_status(result.plan.lab)
    if do_ping:
        _print_ping(result.plan.lab, verbose, exit_on_failure=not do_test)
    if do_test:
        from .cli_test import test_and_print
        sys.exit(test_and_print(result.plan.lab, verbose=verbose))


@main.command()
@click.argument("name", required=False)
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab of this project on the engine.")
def destroy(name: str | None, all_labs: bool) -> None:
    """Remove every container of lab NAME (or of the lab in a folder). Safe to repeat."""
    from . import operate
    if all_labs == (name is not None):
        fail("give a lab NAME or --all (not both)", code=2)
    if all_labs:
        with ProgressView() as view:
            removed = run(operate.destroy_all, progress=view)
        if OUT.json:
            emit_json({"removed": removed})
            return
        for lab, count in removed.items():
            console.print(f"{lab}: removed {count} node{'s' if count != 1 else ''}")
        if not removed:
            console.print("no labs were deployed")
        return
    with ProgressView() as view:
        count = run(api.destroy, name, progress=view)
    if OUT.json:
        emit_json({"lab": name, "removed": count})
        return
    console.print(f"removed {count} node{'s' if count != 1 else ''}" if count else f"nothing of '{name}' was running")


@main.command()
@click.argument("name", required=False)
def status(name: str | None) -> None:
    """List deployed labs, or the nodes of lab NAME with their addresses."""
    if name is None:
        labs = run(api.list_labs)
        if OUT.json:
            emit_json([s.__dict__ for s in labs])
            return
        if not labs:
            console.print("no labs are deployed")
            return
        table = Table("lab", "nodes", "running", "source")
        for s in labs:
            table.add_row(s.name, str(s.nodes), str(s.running), s.source or "")
        console.print(table)
        return
    _print_status(name)


def _print_status(name: str) -> None:
    from . import operate
    rows = run(api.status, name)
    lab = rows[0][0].lab
    try:
        broken = operate.needs_repair(lab)
    except LabError:
        broken = {}  # the lab file is gone: nothing to compare with
    impaired = run(operate.impairments, lab)
    if OUT.json:
        emit_json([{**node.__dict__, "needs_repair": broken.get(node.node),
                    "interfaces": [{**i.__dict__, "impairment": (impaired[(node.node, i.name)].describe()
                                                                 if (node.node, i.name) in impaired else None)}
                                   for i in ifaces]}
                   for node, ifaces in rows])
        return
    table = Table("node", "kind", "state", "interfaces")
    for node, ifaces in rows:
        parts = []
        for i in ifaces:
            what = ", ".join(i.addresses) or (f"in {i.master}" if i.master else "")
            imp = impaired.get((node.node, i.name))
            parts.append(f"{i.name} {i.state}{' ' + what if what else ''}{' [' + imp.describe() + ']' if imp else ''}")
        state = node.state if node.node not in broken else f"[red]needs repair[/red]: {broken[node.node]}"
        table.add_row(node.node, node.kind, state, "\n".join(parts))
    console.print(table)
    if broken:
        console.print(f"run 'lab repair {lab}' to re-create what is missing")


@main.command(name="ping")
@click.argument("name")
@click.option("-v", "--verbose", is_flag=True)
def ping_cmd(name: str, verbose: bool) -> None:
    """Ping every host of a running lab from every other host."""
    _print_ping(name, verbose)


def _print_ping(name: str, verbose: bool, exit_on_failure: bool = True) -> None:
    with ProgressView(verbose) as view:
        results = run(api.ping_all, name, progress=view)
    if OUT.json:
        emit_json([r.__dict__ for r in results])
        if not all(r.ok for r in results):
            sys.exit(1)
        return
    hosts = sorted({r.src for r in results} | {r.dst for r in results})
    table = Table("from \\ to", *hosts, title="all-pairs ping")
    for src in hosts:
        cells = []
        for dst in hosts:
            r = next((r for r in results if r.src == src and r.dst == dst), None)
            cells.append("-" if r is None else ("[green]ok[/green]" if r.ok else "[red]FAIL[/red]"))
        table.add_row(src, *cells)
    console.print(table)
    failed = [r for r in results if not r.ok]
    console.print(f"{len(results) - len(failed)}/{len(results)} pairs reachable")
    for r in failed:
        console.print(f"  [red]{r.src} -> {r.dst} ({r.address})[/red]: {r.detail}")
    if failed and exit_on_failure:
        sys.exit(1)


def _relay(result) -> None:
    """Pass on what a command in a node printed, and its exit code."""
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.exit(result.exit_code)


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(name: str, node: str, command: tuple[str, ...]) -> None:
    """Run a command in a node: lab exec NAME NODE -- CMD ARGS..."""
    result = run(api.exec_in, name, node, list(command))
    _relay(result)


@main.command()
@click.argument("name")
@click.argument("node")
def shell(name: str, node: str) -> None:
    """Open an interactive shell in a node."""
    argv = run(api.shell_argv, name, node)
    os.execvp(argv[0], argv)


@main.command()
@click.argument("name")
@click.argument("node")
@click.argument("what", type=click.Choice(["routes", "neighbors", "lsdb", "stats"]), default="routes")
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
def routes(name: str, node: str, what: str, as_json: bool) -> None:
    """Ask a router's link-state daemon: routes (default), neighbors, lsdb or stats."""
    argv = ["python3", "-m", "labnode.routing.cli", what] + (["--json"] if as_json else [])
    result = run(api.exec_in, name, node, argv)
    _relay(result)


@main.command()
@click.argument("name")
@click.argument("node")
@click.option("--nick", required=True, help="Your nickname in the chat.")
@click.option("--server", help="The node running the chat service (if the lab has several).")
def chat(name: str, node: str, nick: str, server: str | None) -> None:
    """Chat from a node: the interactive chat client in NODE's terminal (/q quits)."""
    argv = run(api.chat_argv, name, node, nick, server)
    os.execvp(argv[0], argv)


# commands in their own modules, registered on `main` when imported
from . import cli_ops  # noqa: E402,F401
from . import cli_test  # noqa: E402,F401

if __name__ == "__main__":
    main()
