"""`lab images build`, `lab deploy`, `lab destroy`, `lab status`: a lab's life."""

from __future__ import annotations

import sys

import click

from .nodes import print_ping
from .ui import OUT, ProgressView, console, emit_json, fail, run, warn


@click.group()
def images() -> None:
    """Build and inspect the node images (built locally, offline)."""


@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the images are up to date.")
@click.option("-v", "--verbose", is_flag=True, help="Show every build line.")
def images_build(force: bool, verbose: bool) -> None:
    """Build the base and node images if missing (or --force)."""
    from ..lab import build_images
    with ProgressView(verbose) as view:
        tags = run(build_images, progress=view, force=force)
    console().print("\n".join(f"{role}: {tag}" for role, tag in tags.items()))


@click.command()
@click.argument("path", type=click.Path())
@click.option("--name", help="Deploy under another name (run two copies side by side).")
@click.option("--force", is_flag=True, help="Redeploy if the lab is already up.")
@click.option("--ping", "do_ping", is_flag=True, help="Then ping every host from every host.")
@click.option("--test", "do_test", is_flag=True, help="Then check the lab's expectations (like lab test).")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def deploy(path: str, name: str | None, force: bool, do_ping: bool, do_test: bool, verbose: bool) -> None:
    """Deploy the lab in PATH (a folder with lab.yml, or the file)."""
    from .. import lab as api
    from .. import operate
    with ProgressView(verbose) as view:
        result = run(api.deploy, path, name=name, force=force, progress=view)
    if OUT.json:
        data = {"lab": result.plan.lab, "nodes": len(result.plan.nodes), "links": len(result.plan.links),
                "timings": result.timings, "warnings": [w.format() for w in result.warnings]}
        if do_ping:
            results = run(operate.ping_all, result.plan.lab)
            data["ping"] = [r.__dict__ for r in results]
        emit_json(data)
        if do_ping and not all(r.ok for r in results):
            sys.exit(1)
        return
    for w in result.warnings:
        warn(w.format())
    t = result.timings
    console().print(f"[green]lab {result.plan.lab} is up[/green]: {len(result.plan.nodes)} nodes, "
                    f"{len(result.plan.links)} links in {t['total']:.1f} s "
                    f"(create {t['create']:.1f} s, wire {t['wire']:.2f} s, configure {t['configure']:.1f} s)")
    print_status(result.plan.lab)
    if do_ping:
        print_ping(result.plan.lab, verbose, exit_on_failure=not do_test)
    if do_test:
        from .test import test_and_print
        sys.exit(test_and_print(result.plan.lab, verbose=verbose))


@click.command()
@click.argument("name", required=False)
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab of this project on the engine.")
def destroy(name: str | None, all_labs: bool) -> None:
    """Remove every container of lab NAME (or of the lab in a folder). Safe to repeat."""
    from .. import lab as api
    if all_labs == (name is not None):
        fail("give a lab NAME or --all (not both)", code=2)
    if all_labs:
        with ProgressView() as view:
            removed = run(api.destroy_all, progress=view)
        if OUT.json:
            emit_json({"removed": removed})
            return
        for lab, count in removed.items():
            console().print(f"{lab}: removed {count} node{'s' if count != 1 else ''}")
        if not removed:
            console().print("no labs were deployed")
        return
    assert name is not None  # click: NAME or --all, checked above
    with ProgressView() as view:
        count = run(api.destroy, name, progress=view)
    if OUT.json:
        emit_json({"lab": name, "removed": count})
        return
    console().print(f"removed {count} node{'s' if count != 1 else ''}" if count else f"nothing of '{name}' was running")


@click.command()
@click.argument("name", required=False)
def status(name: str | None) -> None:
    """List deployed labs, or the nodes of lab NAME with their addresses."""
    if name is not None:
        print_status(name)
        return
    from ..lab import list_labs
    labs = run(list_labs)
    if OUT.json:
        emit_json([s.__dict__ for s in labs])
        return
    if not labs:
        click.echo("no labs are deployed")
        return
    from rich.table import Table
    table = Table("lab", "nodes", "running", "source")
    for s in labs:
        table.add_row(s.name, str(s.nodes), str(s.running), s.source or "")
    console().print(table)


def print_status(name: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .. import operate
    rows = run(operate.report, name)
    lab = rows[0].state.lab
    if OUT.json:
        emit_json([{**r.state.__dict__, "needs_repair": str(r.trouble) if r.trouble else None,
                    "interfaces": [{**i.__dict__, "impairment": (r.impairments[i.name].describe()
                                                                 if i.name in r.impairments else None)}
                                   for i in r.interfaces]}
                   for r in rows])
        return
    table = Table("node", "kind", "state", "interfaces")
    for r in rows:
        parts = []
        for i in r.interfaces:
            what = ", ".join(i.addresses) or (f"in {i.master}" if i.master else "")
            imp = r.impairments.get(i.name)
            parts.append(f"{i.name} {i.state}{' ' + what if what else ''}{' [' + imp.describe() + ']' if imp else ''}")
        state = r.state.state if r.trouble is None else f"[red]needs repair[/red]: {escape(str(r.trouble))}"
        table.add_row(r.state.node, r.state.kind, state, escape("\n".join(parts)))
    console().print(table)
    if any(r.trouble for r in rows):
        console().print(f"run 'lab repair {lab}' to re-create what is missing")


COMMANDS = [images, deploy, destroy, status]
