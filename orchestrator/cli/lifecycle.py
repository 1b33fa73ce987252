"""`lab images build/list/prune`, `lab deploy`, `lab destroy`, `lab status`: a lab's life."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .complete import lab_names
from .nodes import print_ping
from .ui import OUT, ProgressView, console, count, emit_json, fail, problem_json, run, run_with, warn_all

if TYPE_CHECKING:
    from ..backend.protocol import ImageInfo
    from ..lab import DeployResult
    from ..status import WideStatus


@click.group()
def images() -> None:
    """Build, list and prune the node images (built locally, offline)."""


@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the images are up to date.")
@click.option("-v", "--verbose", is_flag=True, help="Show every build line.")
def images_build(force: bool, verbose: bool) -> None:
    """Build the base and node images if missing (or --force)."""
    from ..lab import build_images
    with ProgressView(verbose) as view:
        tags = run(build_images, progress=view, force=force)
    if OUT.json:
        emit_json(tags)
        return
    console().print("\n".join(f"{role}: {tag}" for role, tag in tags.items()))


@images.command("list")
def images_list() -> None:
    """Our images on the engine: recipe hash, size, age, the labs using them."""
    from ..lab import list_images
    found = run(list_images)
    if OUT.json:
        emit_json([i.__dict__ for i in found])
        return
    if not found:
        click.echo("no labnet images on this engine (build them with: lab images build)")
        return
    click.echo(images_table(found))
    stale = [i for i in found if _stale(i)]
    if stale:
        click.echo(f"{count(len(stale), 'stale image')} ({_size(sum(i.size for i in stale))}): "
                   "remove with 'lab images prune'")


def _stale(i: ImageInfo) -> bool:
    return i.role in ("base", "node") and not i.current and not i.labs and not i.others


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def images_table(found: list[ImageInfo]) -> str:
    """One line per image, in 80 columns: role, repository, recipe, size, created, use."""
    rows = [("ROLE", "IMAGE", "RECIPE", "SIZE", "CREATED", "IN USE BY")]
    for i in found:
        repo = i.tags[0].partition(":")[0] if i.tags else "<untagged>"
        users = ", ".join(i.labs + ([count(i.others, "other container")] if i.others else []))
        use = users or ("current" if i.current else "stale" if _stale(i) else "-")
        if users and i.current:
            use = "current; " + use
        rows.append((i.role, repo, i.recipe or i.id, _size(i.size), i.created[:16].replace("T", " "), use))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
                     for r in rows)


@images.command("prune")
def images_prune() -> None:
    """Remove our stale base and node images: those that the current recipes do
    not build and that no container uses (never an image that is not ours)."""
    from ..lab import prune_images
    with ProgressView() as view:
        removed = run(prune_images, progress=view)
    if OUT.json:
        emit_json({"removed": removed})
        return
    click.echo(f"removed {', '.join(removed)}" if removed else "no stale images: nothing to remove")


@click.command()
@click.argument("path", type=click.Path())
@click.option("--name", help="Deploy under another name (run two copies side by side).")
@click.option("--force", is_flag=True, help="Destroy a running copy and deploy it again (not in place).")
@click.option("--dry-run", is_flag=True, help="On a running lab: only say what a deploy would change.")
@click.option("--ping", "do_ping", is_flag=True, help="Then ping every host from every host.")
@click.option("--test", "do_test", is_flag=True, help="Then check the lab's expectations (like lab test).")
@click.option("--exercise", "do_exercise", is_flag=True,
              help="Deploy it broken as its exercise: section says (the faults are dealt as part of the "
                   "deploy and not shown); lab test then runs the exercise's checks (docs/classroom.md).")
@click.option("--student", help="With --exercise: this student's variant (subnets, ports, names; one fault "
                                "of each one_of).")
@click.option("--backend", "backend_name", type=click.Choice(["docker", "netns"]),
              help="Run the nodes as Docker containers (default) or as network namespaces of this "
                   "machine (netns: light, for big labs; docs/netns-backend.md). Overrides the file's backend:.")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def deploy(path: str, name: str | None, force: bool, dry_run: bool, do_ping: bool, do_test: bool,
           do_exercise: bool, student: str | None, backend_name: str | None, verbose: bool) -> None:
    """Deploy the lab in PATH (a folder with lab.yml, or the file). On a lab that
    is running, change it in place to match the file (see: lab diff)."""
    from .. import lab as api
    from .. import operate
    if force and dry_run:
        fail("--dry-run shows what an in-place deploy would change; --force replaces the lab (not both)", code=2)
    if student is not None and not do_exercise:
        fail("--student chooses the variant of an exercise: give --exercise too", code=2)
    if do_exercise:
        if student is not None:
            from ..classroom import roster
            run(roster, student)
        if dry_run:
            fail("--exercise deals the faults on the deployed lab; --dry-run deploys nothing (not both)", code=2)
        planned = run(api.compile_path, path, name, student=student).result()
        if planned.exercise is None:
            fail(f"{path} has no exercise: section to deal (see docs/classroom.md)", code=2)
    with ProgressView(verbose) as view:
        result = run(api.deploy, path, name=name, force=force, dry_run=dry_run, backend_name=backend_name,
                     progress=view, student=student, deal=do_exercise)
        dealt = result.dealt
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
                "timings": result.timings,
                "warnings": [problem_json(w, result.plan.source) for w in result.warnings],
                "changed": result.reconciled.as_dict() if result.reconciled is not None else None}
        if do_exercise:
            data["exercise"] = {"title": result.plan.exercise.title if result.plan.exercise else "",
                                "faults_dealt": len(dealt)}
        failed = False
        if do_ping:
            pings = run(operate.ping_all, result.plan.lab)
            data["ping"] = [r.__dict__ for r in pings]
            failed = not all(r.ok for r in pings)
        if do_test:
            from .test import results_json
            checks = run(operate.run_lab_tests, result.plan.lab)
            data["test"] = results_json(checks, result.plan.lab)
            failed = failed or not all(r.ok for r in checks)
        emit_json(data)
        if failed:
            sys.exit(1)
        return
    warn_all(result.warnings)
    t = result.timings
    if result.reconciled is None:
        console().print(f"[green]lab {result.plan.lab} is up[/green]: {count(len(result.plan.nodes), 'node')}, "
                        f"{count(len(result.plan.links), 'link')} in {t['total']:.1f} s "
                        f"(create {t['create']:.1f} s, wire {t['wire']:.2f} s, configure {t['configure']:.1f} s"
                        + (f", leases {t['leases']:.1f} s" if "leases" in t else "") + ")")
    print_status(result.plan.lab)
    if do_exercise:
        title = result.plan.exercise.title if result.plan.exercise else ""
        console().print(f"[yellow]exercise{f' {title!r}' if title else ''} dealt[/yellow]: "
                        f"{count(len(dealt), 'fault')} in the nodes (not shown); "
                        f"what to make pass: lab test {result.plan.lab}")
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
@click.argument("name", required=False, shell_complete=lab_names)
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
    if count:
        console().print(f"removed {count} node{'s' if count != 1 else ''}")
        return
    from ..lab import nearest_lab
    near = nearest_lab(name)
    console().print(f"nothing of '{name}' was running" + (f"; did you mean '{near}'?" if near else ""))


@click.command(name="diff")
@click.argument("name", shell_complete=lab_names)
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
@click.argument("name", required=False, shell_complete=lab_names)
@click.option("-w", "--wide", is_flag=True,
              help="Everything about each node: health, addresses, peers, gateway, services, impairments.")
@click.option("--json", "as_json", is_flag=True, help="The result as JSON (like lab --json status).")
def status(name: str | None, wide: bool, as_json: bool) -> None:
    """List deployed labs, or the nodes of lab NAME with their addresses
    (--wide: one screen with everything about each node)."""
    if as_json:
        OUT.json = OUT.quiet = True
    if wide and name is None:
        fail("--wide shows one lab: lab status NAME --wide", code=2)
    if wide:
        assert name is not None
        print_wide(name)
        return
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
    table = Table("lab", "backend", "nodes", "running", "source")
    for s in labs:
        table.add_row(s.name, s.backend, str(s.nodes), str(s.running), s.source or "")
    console().print(table)


def print_status(name: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .. import status as lab_status
    from ..lab import check_deployed
    run(check_deployed, name)   # one listing: a mistyped name gets the nearest deployed one
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


def print_wide(name: str) -> None:
    from ..status import wide_status
    got = run(wide_status, name)
    if OUT.json:
        from dataclasses import asdict
        emit_json(asdict(got))
        return
    click.echo(wide_text(got))


#: what `lab status --wide` fits its lines in, where it can
WIDE_COLUMNS = 80


def _wrapped(text: str) -> list[str]:
    """A node's line of text, indented under it and folded at WIDE_COLUMNS."""
    import textwrap
    return textwrap.wrap(text, WIDE_COLUMNS, initial_indent="    ", subsequent_indent="      ",
                         break_long_words=False, break_on_hyphens=False)


def wide_text(got: WideStatus) -> str:
    """`lab status NAME --wide` as text that reads in 80 columns: a head line,
    then each node with its interfaces, gateway and services indented."""
    running = sum(n.state == "running" for n in got.nodes)
    head = [f"lab {got.lab}: {got.state or 'deployed (no stored plan)'}, {count(len(got.nodes), 'node')} "
            f"({running} running)" + (f", routing {got.routing}" if got.routing else "")]
    if got.source or got.deployed_at:
        head.append("deployed" + (f" {got.deployed_at}" if got.deployed_at else "")
                    + (f" from {got.source}" if got.source else ""))
    lines = head + [""]
    kinds = {n.node: n.kind + (f" ({n.routing})" if n.routing and n.kind == "router" else "") for n in got.nodes}
    width = max((len(n.node) for n in got.nodes), default=0)
    kind_width = max((len(k) for k in kinds.values()), default=0)
    state_width = max((len(n.state) for n in got.nodes), default=0)
    for n in got.nodes:
        line = f"{n.node.ljust(width)}  {kinds[n.node].ljust(kind_width)}  {n.state.ljust(state_width)}"
        health = "ok" if n.health == "ok" else "NEEDS REPAIR: " + n.health
        if len(line) + 2 + len(health) <= WIDE_COLUMNS:
            lines.append(f"{line}  {health}")
        else:   # a long reason goes on lines of its own
            lines += [line, *_wrapped(health)]
        rows = []
        for i in n.interfaces:
            where = ", ".join(i.addresses) or (f"in {i.master}" if i.master else "-")
            rest = (f"-> {i.peer}" if i.peer else "") + (f"  [{i.impairment}]" if i.impairment else "")
            rows.append((i.name, i.state, where, rest))
        widths = [max((len(r[c]) for r in rows), default=0) for c in range(3)]
        for r in rows:
            lines.append(("    " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True))
                          + "  " + r[3]).rstrip())
        if n.gateway:
            lines.append(f"    gateway {n.gateway}")
        if n.services:
            lines += _wrapped("services: " + ", ".join(
                f"{s.name}{':' + str(s.port) if s.port else ''} {s.state}" for s in n.services))
    if got.drift:
        lines += ["", got.drift]
    if got.advice:
        lines += ["", *got.advice]
    return "\n".join(lines)


COMMANDS = [images, deploy, diff_cmd, destroy, status]
