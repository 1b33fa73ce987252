"""`lab images build`, `lab deploy`, `lab destroy`, `lab status`: a lab's life."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .nodes import print_ping
from .ui import OUT, ProgressView, console, count, emit_json, fail, run, run_with, warn_all

if TYPE_CHECKING:
    from ..lab import DeployResult


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
@click.option("--force", is_flag=True, help="Destroy a running copy and deploy it again (not in place).")
@click.option("--dry-run", is_flag=True, help="On a running lab: only say what a deploy would change.")
@click.option("--ping", "do_ping", is_flag=True, help="Then ping every host from every host.")
@click.option("--test", "do_test", is_flag=True, help="Then check the lab's expectations (like lab test).")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def deploy(path: str, name: str | None, force: bool, dry_run: bool, do_ping: bool, do_test: bool,
           verbose: bool) -> None:
    """Deploy the lab in PATH (a folder with lab.yml, or the file). On a lab that
    is running, change it in place to match the file (see: lab diff)."""
    from .. import lab as api
    from .. import operate
    if force and dry_run:
        fail("--dry-run shows what an in-place deploy would change; --force replaces the lab (not both)", code=2)
    with ProgressView(verbose) as view:
        result = run(api.deploy, path, name=name, force=force, dry_run=dry_run, progress=view)
    if dry_run and result.reconciled is not None:
        if OUT.json:
            emit_json({"lab": result.plan.lab, "changed": result.reconciled.as_dict(),
                       "summary": result.reconciled.summary()})
        else:
            print_reconciled(result, dry_run)
        sys.exit(1 if result.reconciled else 0)
    print_reconciled(result, dry_run)
    if OUT.json:
        data = {"lab": result.plan.lab, "nodes": len(result.plan.nodes), "links": len(result.plan.links),
                "timings": result.timings, "warnings": [w.format() for w in result.warnings],
                "changed": result.reconciled.as_dict() if result.reconciled is not None else None}
        if do_ping:
            results = run(operate.ping_all, result.plan.lab)
            data["ping"] = [r.__dict__ for r in results]
        emit_json(data)
        if do_ping and not all(r.ok for r in results):
            sys.exit(1)
        return
    warn_all(result.warnings)
    t = result.timings
    if result.reconciled is None:
        console().print(f"[green]lab {result.plan.lab} is up[/green]: {count(len(result.plan.nodes), 'node')}, "
                        f"{count(len(result.plan.links), 'link')} in {t['total']:.1f} s "
                        f"(create {t['create']:.1f} s, wire {t['wire']:.2f} s, configure {t['configure']:.1f} s)")
    print_status(result.plan.lab)
    if do_ping:
        print_ping(result.plan.lab, verbose, exit_on_failure=not do_test)
    if do_test:
        from .test import test_and_print
        sys.exit(test_and_print(result.plan.lab, verbose=verbose))


def print_reconciled(result: DeployResult, dry_run: bool) -> None:
    """What an in-place deploy changed (or, dry run, would change)."""
    diff = result.reconciled
    if diff is None or OUT.json:
        return
    lab = result.plan.lab
    if not diff:
        console().print(f"lab {lab} is running as its file says: nothing to change")
        return
    head = "would change" if dry_run else f"changed in place in {result.timings.get('total', 0):.1f} s"
    console().print(f"[green]lab {lab}[/green] {head}: {diff.summary()}")
    for node, change in diff.changed.items():
        why = change.recreate or ", ".join(change.files) or "served files"
        console().print(f"  {node}: {'made again, ' if change.recreate else ''}{why}")


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


@click.command(name="diff")
@click.argument("name")
@click.argument("path", required=False, type=click.Path())
def diff_cmd(name: str, path: str | None) -> None:
    """What deploying PATH (default: the lab's own file) on running lab NAME would
    change: nodes and links, and the rendered files as a unified diff. Exits 0
    when there is nothing to change, 1 when there is, 2 when it cannot tell (like diff)."""
    from .. import status as lab_status
    changes, text = run_with(2, lab_status.diff, name, path)
    if OUT.json:
        emit_json({"lab": name, "summary": changes.summary(), "changed": changes.as_dict(), "diff": text})
    else:
        click.echo(f"lab {name}: {changes.summary()}")
        for node, change in changes.changed.items():
            if change.recreate:
                click.echo(f"  {node} is made again: {change.recreate}")
        click.echo(text, nl=False)
    sys.exit(1 if changes else 0)


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

    from .. import status as lab_status
    got = run(lab_status.report, name)
    if OUT.json:
        emit_json({"lab": got.lab, "state": got.state, "drift": got.drift, "advice": got.advice,
                   "nodes": [{**r.state.__dict__, "needs_repair": str(r.trouble) if r.trouble else None,
                              "interfaces": [{**i.__dict__,
                                              "impairment": (r.impairments[i.name].describe()
                                                             if i.name in r.impairments else None)}
                                             for i in r.interfaces]}
                             for r in got.nodes]})
        return
    table = Table("node", "kind", "state", "interfaces")
    for r in got.nodes:
        parts = []
        for i in r.interfaces:
            what = ", ".join(i.addresses) or (f"in {i.master}" if i.master else "")
            imp = r.impairments.get(i.name)
            parts.append(f"{i.name} {i.state}{' ' + what if what else ''}{' [' + imp.describe() + ']' if imp else ''}")
        state = r.state.state if r.trouble is None else f"[red]needs repair[/red]: {escape(str(r.trouble))}"
        table.add_row(r.state.node, r.state.kind, state, escape("\n".join(parts)))
    console().print(table)
    if got.drift:
        console().print(f"[yellow]{escape(got.drift)}[/yellow]")
    for line in got.advice:
        console().print(escape(line))


COMMANDS = [images, deploy, diff_cmd, destroy, status]
