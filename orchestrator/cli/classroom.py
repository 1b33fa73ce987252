"""lab class: what a teacher runs (docs/classroom.md).

    lab class check PATH                      prove the lab's exercise on a throw-away copy
    lab class up PATH --students a,b | --roster FILE    a copy per student, dealt broken
    lab class status PATH                     one row per student: up, dealt, checks passing
    lab class grade PATH -o DIR               grades.csv, JUnit XML per student, report.html
    lab class down PATH                       every copy removed
"""

from __future__ import annotations

import sys

import click

from .ui import OUT, ProgressView, console, emit_json, run


@click.group(name="class")
def class_group() -> None:
    """A class: prove an exercise, give each student a copy, grade them all."""


@class_group.command(name="check")
@click.argument("path", type=click.Path())
@click.option("--name", help="The throw-away copy's name (default: the lab's name with -check).")
@click.option("--checks", "checks_file", type=click.Path(dir_okay=False),
              help="The exercise's checks from this file (kept from the students) instead of the lab file's.")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def check_cmd(path: str, name: str | None, checks_file: str | None, verbose: bool) -> None:
    """Prove the exercise of the lab in PATH: on a copy deployed for it (and
    removed after), every check passes on the unbroken lab, each fault on its
    own makes at least one check fail, every check passes again once the fault
    is taken back, and some check fails with the faults dealt together. Exit code 1
    when it is not so, with what is wrong."""
    from .. import exercise
    with ProgressView(verbose) as view:
        got = run(exercise.control, path, progress=view, name=name, checks_file=checks_file)
    if OUT.json:
        emit_json({"lab": got.lab, "ok": got.ok, "problems": got.problems(),
                   "unbroken": {"passed": sum(r.ok for r in got.unbroken), "total": len(got.unbroken)},
                   "faults": [{"fault": v.fault.where, "title": v.fault.title, "noticed_by": v.noticed_by,
                               "back": v.back} for v in got.faults],
                   "dealt": {"faults": [f.where for f in got.together],
                             "failed": sum(not r.ok for r in got.dealt), "total": len(got.dealt)}})
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
    variant = " (the first of each one_of)" if len(got.together) < len(got.faults) else ""
    out.print(f"{len(got.together)} faults dealt together{variant}: {failed}/{len(got.dealt)} checks fail")
    if got.ok:
        out.print("[green]the exercise is sound[/green]: its checks fail while it is broken and pass once mended")
        return
    for problem in got.problems():
        out.print(f"[red]✗[/red] {escape(problem)}")
    sys.exit(1)


@class_group.command(name="up")
@click.argument("path", type=click.Path())
@click.option("--students", help="The students, comma-separated: alice,bob,carol.")
@click.option("--roster", "roster_file", type=click.Path(dir_okay=False),
              help="A file of students, one per line ('#' starts a comment).")
@click.option("--parallel", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Copies deployed at once.")
@click.option("--checks", "checks_file", type=click.Path(dir_okay=False),
              help="The exercise's checks from this file (kept from the students) instead of the lab file's.")
@click.option("-v", "--verbose", is_flag=True, help="Show every step.")
def up_cmd(path: str, students: str | None, roster_file: str | None, parallel: int, checks_file: str | None,
           verbose: bool) -> None:
    """Deploy a copy of the lab in PATH for every student who has none
    (<lab>-<student>), dealt broken when the lab has an exercise; the others
    are left as they are. The first new copy is proved on the way."""
    from .. import classroom
    names = run(classroom.roster, students, roster_file)
    with ProgressView(verbose) as view:
        got = run(classroom.up, path, names, progress=view, parallel=parallel, checks_file=checks_file)
    if OUT.json:
        emit_json({"added": got.added, "present": got.present, "proved": got.proved})
        return
    said = f"{len(got.added)} cop{'y' if len(got.added) == 1 else 'ies'} deployed"
    if got.present:
        said += f", {len(got.present)} already up ({', '.join(got.present)})"
    console().print(f"[green]{said}[/green]" + (": " + ", ".join(got.added) if got.added else ""))


@class_group.command(name="status")
@click.argument("path", type=click.Path())
@click.option("--checks", "checks_file", type=click.Path(dir_okay=False),
              help="The exercise's checks from this file (kept from the students) instead of the lab file's.")
@click.option("--parallel", type=click.IntRange(1, 64), default=16, show_default=True,   # classroom.CHECK_PARALLEL
              help="Copies whose checks run at once.")
def status_cmd(path: str, checks_file: str | None, parallel: int) -> None:
    """One row per student's copy of the lab in PATH: nodes up, dealt or not,
    its checks passing now."""
    from .. import classroom
    with ProgressView(False) as view:
        klass, rows = run(classroom.status, path, progress=view, checks_file=checks_file, parallel=parallel)
    if OUT.json:
        emit_json([{"student": r.student, "lab": r.lab, "running": r.running, "nodes": r.nodes, "dealt": r.dealt,
                    "passed": r.passed, "total": r.total, "error": r.error or None} for r in rows])
        return
    if not rows:
        console().print(f"no student's copy of {klass.lab} is running (lab class up {path} --students ...)")
        return
    from rich.markup import escape
    from rich.table import Table
    table = Table("student", "lab", "up", "dealt", "checks passing")
    for r in rows:
        table.add_row(escape(r.student), escape(r.lab), f"{r.running}/{r.nodes}", "yes" if r.dealt else "no",
                      escape(r.error) if r.error else f"{r.passed}/{r.total}")
    console().print(table)


@class_group.command(name="grade")
@click.argument("path", type=click.Path())
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), required=True,
              help="The folder for grades.csv, junit/STUDENT.xml and report.html.")
@click.option("--checks", "checks_file", type=click.Path(dir_okay=False),
              help="The exercise's checks from this file (kept from the students) instead of the lab file's.")
@click.option("--parallel", type=click.IntRange(1, 64), default=16, show_default=True,   # classroom.CHECK_PARALLEL
              help="Copies whose checks run at once.")
def grade_cmd(path: str, out_dir: str, checks_file: str | None, parallel: int) -> None:
    """Run every student's checks and write grades.csv, one JUnit XML per
    student and a self-contained report.html into DIR."""
    from .. import classroom
    with ProgressView(False) as view:
        got = run(classroom.grade, path, out_dir, progress=view, checks_file=checks_file, parallel=parallel)
    if OUT.json:
        emit_json({"csv": str(got.csv), "report": str(got.report), "junit": [str(j) for j in got.junit],
                   "students": [{"student": r.student, "passed": r.passed, "total": r.total} for r in got.rows]})
        return
    for r in got.rows:
        console().print(f"{r.student}: {r.passed}/{r.total}" + (f" ({r.error})" if r.error else ""))
    console().print(f"written: {got.csv}, {got.report}, {len(got.junit)} JUnit files in {got.csv.parent / 'junit'}")


@class_group.command(name="down")
@click.argument("path", type=click.Path())
def down_cmd(path: str) -> None:
    """Remove every student's copy of the lab in PATH (and nothing else)."""
    from .. import classroom
    with ProgressView(False) as view:
        removed = run(classroom.down, path, progress=view)
    if OUT.json:
        emit_json({"removed": removed})
        return
    console().print(f"removed {len(removed)} cop{'y' if len(removed) == 1 else 'ies'}"
                    + (": " + ", ".join(removed) if removed else ""))


COMMANDS = [class_group]
