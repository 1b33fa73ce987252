"""A class: one copy of a lab per student (`<lab>-<student>`), dealt broken
when the lab has an exercise, and graded in one go.

    roster(...)      the students' names, from a list or a file, checked
    up(path, ...)    a copy per student not yet up (the first one proved on the way)
    status(path)     one row per student: nodes up, dealt or not, checks passing now
    grade(path, out) every student's checks: grades.csv, one JUnit XML each, report.html
    down(path)       every copy removed

A student's copy is found by its name and by its record's source (this lab
file), so that another lab that happens to share the prefix is never touched.
Nothing here prints; progress goes to the Progress callback.
"""

from __future__ import annotations

import csv
import html
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LabError, UsageError
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .plan import Plan

STUDENT_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$")
MAX_STUDENTS = 500
MAX_ROSTER_BYTES = 256 * 1024
DEFAULT_PARALLEL = 2
#: copies whose checks run at once (status, grade): their probes mostly wait, for replies or timeouts
CHECK_PARALLEL = 16


def roster(students: str | None = None, roster_file: str | Path | None = None) -> list[str]:
    """The students' names: a comma-separated list, or a file of one per line
    (`#` starts a comment); each a valid part of a lab name, none twice."""
    if (students is None) == (roster_file is None):
        raise UsageError("give the students: --students alice,bob or --roster FILE (one of them)")
    if roster_file is not None:
        from .confine import read_small_file
        path = Path(roster_file)
        data = read_small_file(path, MAX_ROSTER_BYTES, "the roster")
        entries = [(f"{path}:{n}", line.split("#", 1)[0].strip())
                   for n, line in enumerate(data.decode(errors="replace").splitlines(), 1)]
    else:
        assert students is not None
        entries = [(f"--students item {n}", s.strip()) for n, s in enumerate(students.split(","), 1)]
    names: list[str] = []
    for where, name in entries:
        if not name:
            continue
        if not STUDENT_RE.match(name):
            raise UsageError(f"{where}: '{name}' is not a student name: lowercase letters, digits and '-', "
                             "at most 16 characters (it becomes part of the lab's name)")
        if name in names:
            raise UsageError(f"{where}: '{name}' is in the roster twice")
        names.append(name)
    if not names:
        raise UsageError("the roster names no student")
    if len(names) > MAX_STUDENTS:
        raise UsageError(f"{len(names)} students: at most {MAX_STUDENTS} in one class")
    return names


def instance_name(lab: str, student: str) -> str:
    return f"{lab}-{student}"


@dataclass
class Class:
    """A lab file and the copies of it that run, by student."""

    path: Path
    plan: Plan           # the lab file's, under its own name
    copies: dict[str, str] = field(default_factory=dict)   # student -> lab name

    @property
    def lab(self) -> str:
        return self.plan.lab

    @property
    def source(self) -> str:
        return self.plan.source or ""


def find(path: str | Path) -> Class:
    """The class of the lab at `path`: the copies that run now."""
    from .lab import compile_path, list_labs
    out = Class(Path(path), compile_path(path).result())
    prefix = f"{out.lab}-"
    for summary in list_labs():
        if summary.name.startswith(prefix) and summary.source == out.source and summary.name != f"{out.lab}-check":
            out.copies[summary.name[len(prefix):]] = summary.name
    return out


@dataclass
class UpReport:
    added: list[str]
    present: list[str]
    proved: bool | None = None       # the first copy's checks failed once dealt (None: no exercise, or no new copy)
    unnoticed: list[str] = field(default_factory=list)


def up(path: str | Path, students: list[str], progress: Progress = silent,
       parallel: int = DEFAULT_PARALLEL, checks_file: str | Path | None = None) -> UpReport:
    """A copy of the lab for every student who has none, dealt broken when the
    lab has an exercise. The first new copy is proved on the way (while the
    others deploy): its checks pass before the faults are dealt and some fail
    after; if not, none of the new copies is kept (UsageError saying what)."""
    from . import exercise
    from .lab import default_backend, deploy, destroy
    from .verify.runner import run_checks
    klass = find(path)
    planned = klass.plan
    if planned.exercise is not None:
        proof = exercise.read_checks(checks_file, planned) if checks_file else planned.exercise.checks
        if not proof:
            raise UsageError(f"the exercise of {klass.lab} has no checks in its file: give them with --checks FILE")
    for student in students:
        name = instance_name(klass.lab, student)
        if len(name) > 32:
            raise UsageError(f"'{name}' would be longer than a lab name may be (32): shorten '{student}'")
    todo = [s for s in students if s not in klass.copies]
    report = UpReport(added=[], present=[s for s in students if s in klass.copies])
    if not todo:
        return report

    def make(student: str, prove: bool = False) -> None:
        backend = default_backend()
        name = instance_name(klass.lab, student)
        try:
            # the proof is deployed unbroken, checked, dealt and checked again; every other
            # copy is dealt as part of its deploy (never up unbroken)
            plan = deploy(path, name=name, backend=backend, student=student,
                          deal=planned.exercise is not None and not prove).plan
            if prove and plan.exercise is not None:
                checks = exercise.read_checks(checks_file, plan) if checks_file else plan.exercise.checks
                before = run_checks(backend, plan, checks)
                failing = [r.what for r in before if not r.ok]
                if failing:
                    raise UsageError(f"the exercise's checks fail on the unbroken lab ({name}): "
                                     + "; ".join(failing[:3]) + " - fix the lab file, or run "
                                     f"'lab class check {path}' for the whole story")
                exercise.deal(name, backend=backend, student=student)
                after = run_checks(backend, plan, checks)
                report.proved = any(not r.ok for r in after)
                if not report.proved:
                    raise UsageError(f"every check of the exercise passes with its faults dealt ({name}): "
                                     "the students would have nothing to mend; see "
                                     f"'lab class check {path}'")
        except BaseException:
            destroy(name, backend=backend)
            raise
        report.added.append(student)
        progress(Event("class", f"{name} is up", len(report.added), len(todo)))

    # the first copy's proof runs while the others deploy; if it fails, none of them is kept
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(make, s, n == 0) for n, s in enumerate(todo)]
        first = futures[0].exception()
        if first is not None:
            for f in futures[1:]:
                f.cancel()
            for f in futures[1:]:
                if not f.cancelled() and f.exception() is None:
                    destroy(instance_name(klass.lab, todo[futures.index(f)]))
            report.added.clear()
            raise first
        for f in futures[1:]:
            f.result()
    return report


@dataclass
class StudentRow:
    student: str
    lab: str
    nodes: int
    running: int
    dealt: bool
    results: list = field(default_factory=list)     # verify.runner.Result of its checks now
    error: str = ""

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def total(self) -> int:
        return len(self.results)


def _row(student: str, name: str, checks_file: str | Path | None = None) -> StudentRow:
    from .exercise import checks_of
    from .lab import attach
    from .verify.runner import run_checks
    try:
        running = attach(name)
        states = running.backend.nodes(name)
        row = StudentRow(student, name, len(states), sum(1 for s in states if s.running),
                         bool(running.record and running.record.dealt))
        # what `lab test` runs (operate.run_lab_tests), on the copy already attached
        row.results = run_checks(running.backend, running.plan, checks_of(running, checks_file), states=states)
    except LabError as exc:
        return StudentRow(student, name, 0, 0, False, error=str(exc))
    return row


def status(path: str | Path, progress: Progress = silent, parallel: int = CHECK_PARALLEL,
           checks_file: str | Path | None = None) -> tuple[Class, list[StudentRow]]:
    """Every student's copy as it is now, its checks (or a checks file's) run."""
    klass = find(path)
    students = sorted(klass.copies)
    rows: list[StudentRow] = []
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for n, row in enumerate(pool.map(lambda s: _row(s, klass.copies[s], checks_file), students), 1):
            rows.append(row)
            progress(Event("class", f"{row.lab}: {row.passed}/{row.total}", n, len(students)))
    return klass, rows


@dataclass
class Grades:
    klass: Class
    rows: list[StudentRow]
    csv: Path
    report: Path
    junit: list[Path]


def grade(path: str | Path, out_dir: str | Path, progress: Progress = silent, parallel: int = CHECK_PARALLEL,
          checks_file: str | Path | None = None) -> Grades:
    """Run every student's checks and write, into out_dir: grades.csv (student,
    passed, total, score, then one column per check), junit/<student>.xml, and
    report.html (self-contained)."""
    from .verify.junit import write_junit
    klass, rows = status(path, progress, parallel, checks_file)
    if not rows:
        raise UsageError(f"no student's copy of {klass.lab} is running: lab class up {path} --students ...")
    out = Path(out_dir)
    (out / "junit").mkdir(parents=True, exist_ok=True)
    titles = list(dict.fromkeys(r.what for row in rows for r in row.results))
    csv_path = out / "grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "passed", "total", "score", *titles])
        for row in rows:
            by = {r.what: r for r in row.results}
            score = f"{row.passed / row.total:.2f}" if row.total else ""
            writer.writerow([row.student, row.lab, row.passed, row.total, score,
                             *("pass" if t in by and by[t].ok else "fail" if t in by else "" for t in titles)])
    junit = [write_junit(out / "junit" / f"{row.student}.xml", row.lab, row.results) for row in rows]
    report = out / "report.html"
    report.write_text(report_html(klass, rows, titles), encoding="utf-8")
    return Grades(klass, rows, csv_path, report, junit)


def report_html(klass: Class, rows: list[StudentRow], titles: list[str]) -> str:
    """One page, nothing fetched: a row per student, a column per check,
    each failure's detail on hover and listed under the table."""
    e = html.escape
    head = "".join(f'<th class="c" title="{e(t)}">{n}</th>' for n, t in enumerate(titles, 1))
    body, failures = [], []
    for row in rows:
        by = {r.what: r for r in row.results}
        cells = []
        for n, t in enumerate(titles, 1):
            r = by.get(t)
            if r is None:
                cells.append('<td class="na">·</td>')
            elif r.ok:
                cells.append(f'<td class="ok" title="{e(t)}: {e(r.got)}">✓</td>')
            else:
                cells.append(f'<td class="ko" title="{e(t)}: {e(r.got)}">✗</td>')
                failures.append(f"<li><b>{e(row.student)}</b> · {n}. {e(t)}: expected {e(r.expected)}, "
                                f"got {e(r.got)}</li>")
        score = f"{100 * row.passed / row.total:.0f} %" if row.total else "-"
        state = e(row.error) if row.error else f"{row.running}/{row.nodes} up" + (", dealt" if row.dealt else "")
        body.append(f"<tr><th>{e(row.student)}</th><td>{state}</td><td class=\"s\">{row.passed}/{row.total}"
                    f"</td><td class=\"s\">{score}</td>{''.join(cells)}</tr>")
    legend = "".join(f"<li>{n}. {e(t)}</li>" for n, t in enumerate(titles, 1))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(klass.lab)}: grades</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
td.ok {{ background: #d9f2d9; text-align: center; }} td.ko {{ background: #f7d4d4; text-align: center; }}
td.na {{ color: #999; text-align: center; }} td.s {{ text-align: right; font-weight: bold; }}
th.c {{ font-weight: normal; color: #555; }} ol, ul {{ color: #444; }}
</style></head><body>
<h1>{e(klass.lab)}: {len(rows)} student{'s' if len(rows) != 1 else ''}</h1>
<p>{e(klass.source)} &middot; graded {when}</p>
<table><thead><tr><th>student</th><th>lab</th><th>passed</th><th>score</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<h2>Checks</h2><ul>{legend}</ul>
<h2>Failures</h2><ul>{''.join(failures) or '<li>none</li>'}</ul>
</body></html>
"""


def down(path: str | Path, progress: Progress = silent) -> list[str]:
    """Remove every student's copy of the lab; their names."""
    from .lab import destroy
    klass = find(path)
    removed = []
    for n, student in enumerate(sorted(klass.copies), 1):
        destroy(klass.copies[student])
        removed.append(klass.copies[student])
        progress(Event("class", f"{klass.copies[student]} removed", n, len(klass.copies)))
    return removed
