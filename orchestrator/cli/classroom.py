"""lab class: what a teacher runs (docs/classroom.md).

    lab class check PATH     prove the lab's exercise on a throw-away copy (the negative control)
"""

from __future__ import annotations

import sys

import click

from .ui import OUT, ProgressView, console, emit_json, run


@click.group(name="class")
def class_group() -> None:
    """Exercises for a class: prove one before handing it out."""


@class_group.command(name="check")
@click.argument("path", type=click.Path())
@click.option("--name", help="The throw-away copy's name (default: the lab's name with -check).")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def check_cmd(path: str, name: str | None, verbose: bool) -> None:
    """Prove the exercise of the lab in PATH: on a copy deployed for it (and
    removed after), every check passes on the unbroken lab, each fault on its
    own makes at least one check fail, every check passes again once the fault
    is taken back, and some check fails with all the faults dealt. Exit code 1
    when it is not so, with what is wrong."""
    from .. import exercise
    with ProgressView(verbose) as view:
        got = run(exercise.control, path, progress=view, name=name)
    if OUT.json:
        emit_json({"lab": got.lab, "ok": got.ok, "problems": got.problems(),
                   "unbroken": {"passed": sum(r.ok for r in got.unbroken), "total": len(got.unbroken)},
                   "faults": [{"fault": v.fault.where, "title": v.fault.title, "noticed_by": v.noticed_by,
                               "back": v.back} for v in got.faults],
                   "dealt": {"failed": sum(not r.ok for r in got.dealt), "total": len(got.dealt)}})
        sys.exit(0 if got.ok else 1)
    from rich.markup import escape
    from rich.table import Table
    out = console()
    passed = sum(r.ok for r in got.unbroken)
    out.print(f"unbroken: {passed}/{len(got.unbroken)} checks pass")
    table = Table("fault", "noticed by", "back after undo")
    for v in got.faults:
        n = len(v.noticed_by)
        shown = f"{n} check{'s' if n != 1 else ''}, e.g. {v.noticed_by[0]}" if n > 1 else "".join(v.noticed_by)
        table.add_row(escape(v.fault.title), escape(shown) if v.noticed_by else "[red]nothing[/red]",
                      "yes" if v.back else "[red]no[/red]")
    out.print(table)
    failed = sum(not r.ok for r in got.dealt)
    out.print(f"all {len(got.faults)} faults dealt: {failed}/{len(got.dealt)} checks fail")
    if got.ok:
        out.print("[green]the exercise is sound[/green]: its checks fail while it is broken and pass once mended")
        return
    for problem in got.problems():
        out.print(f"[red]✗[/red] {escape(problem)}")
    sys.exit(1)


COMMANDS = [class_group]
