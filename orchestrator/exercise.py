"""Exercises: a running lab broken on purpose (its `exercise:` faults dealt
in the nodes), the checks a student must make pass, and the negative control
that proves an exercise before it is handed out.

    deal(name)        every fault of the lab's exercise, in its nodes; the record says so
    checks_of(run)    what `lab test` runs: the exercise's checks once dealt, else expect:
    control(path)     a throw-away copy of the lab: the checks pass unbroken, each fault
                      on its own makes at least one fail, all pass again once it is taken back

Nothing here prints; progress goes to the Progress callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .faults import deal_faults, exercise_faults, run_fault
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .backend.protocol import Backend
    from .lab import Running
    from .plan import Check, Plan, PlanFault
    from .verify.runner import Result


def deal(name: str, backend: Backend | None = None, progress: Progress = silent,
         student: str | None = None) -> list[PlanFault]:
    """Break the running lab NAME as its exercise says (the student's variant,
    when the exercise has one_of items; by default the student whose variant
    was deployed); the record remembers it, so that `lab test` runs the
    exercise's checks from then on."""
    from .lab import attach
    from .locks import lab_lock
    from .record import Record
    running = attach(name, backend)
    deployed_for = running.plan.exercise.student if running.plan.exercise else None
    if student is not None and deployed_for is not None and student != deployed_for:
        raise UsageError(f"{running.lab} was deployed as {deployed_for}'s variant, not {student}'s: "
                         f"deploy it again with --student {student}")
    student = student or deployed_for
    with lab_lock(running.lab, "exercise", progress=progress):   # one command at a time changes a lab
        faults = deal_faults(running.backend, running.plan, progress, student)
        record = running.record or Record(plan=running.plan)
        record.dealt = [f.where for f in faults]
        running.backend.save_record(running.lab, record.encode())
    return faults


def checks_of(running: Running, checks_file: str | Path | None = None) -> list[Check]:
    """The checks `lab test` runs on a lab: those of a checks file when one is
    given, else its exercise's once the faults were dealt, else expect:'s."""
    plan = running.plan
    if checks_file is not None:
        return read_checks(checks_file, plan)
    if running.record is not None and running.record.dealt and plan.exercise is not None:
        if not plan.exercise.checks:
            raise UsageError(f"the exercise of {plan.lab} keeps its checks apart from the lab file: "
                             f"lab test {plan.lab} --checks FILE")
        return plan.exercise.checks
    return plan.checks


#: a checks file is read like a lab file (model/load.py's bounds), and is at most this long
MAX_CHECKS_FILE = 1024 * 1024


def read_checks(path: str | Path, plan: Plan) -> list[Check]:
    """The checks of a file kept apart from the lab (a teacher's, which the
    students never see): a YAML list in the expectation language, or a mapping
    with that list under `checks:`. Checked against the plan like an expect:
    section (a student's variant: as moved and renamed for them);
    TopologyError with every problem and its line."""
    from .compile.checks import check_expectations, resolve
    from .confine import read_small_file
    from .errors import Problem, TopologyError
    from .model.load import parse_where, parse_yaml
    file = Path(path)
    raw = read_small_file(file, MAX_CHECKS_FILE, "the checks file")
    data, lines, problems = parse_yaml(raw.decode("utf-8", errors="replace"))
    section = "checks"
    wrapped = isinstance(data, dict) and set(data) == {"checks"}
    if wrapped:
        data = data["checks"]
    if plan.exercise is not None and plan.exercise.variant and not problems:
        from .model.variants import Drawn, rewrite
        data = rewrite(data, Drawn.decode(plan.exercise.variant))   # the student's addresses, ports, names
    if not problems:
        kinds = {n.name: n.kind for n in plan.nodes.values()}
        interfaces = {n.name: {i.name for i in n.interfaces} for n in plan.nodes.values()}
        found, problems = check_expectations(data, kinds, interfaces, section=section)
        if not problems:
            checks, problems = resolve(found, plan)
            if not problems and not checks:
                problems = [Problem(section, "the file names no check", "write a list: - all_pairs: hosts")]
            if not problems:
                return checks

    def placed(p: Problem) -> Problem:
        if p.line is not None:
            return p
        loc = parse_where(p.where)    # checks[0].reach.to: the file's own list, or its checks: key's
        return Problem(p.where, p.message, p.hint, line=lines.line_of(loc if wrapped else loc[1:]))

    raise TopologyError(str(file), [placed(p) for p in problems])


@dataclass
class FaultVerdict:
    fault: PlanFault
    noticed_by: list[str]          # titles of the checks that failed with the fault dealt
    back: bool = True              # every check passed again once it was taken back


@dataclass
class Control:
    """The negative control of one exercise."""

    lab: str
    unbroken: list[Result] = field(default_factory=list)
    faults: list[FaultVerdict] = field(default_factory=list)
    dealt: list[Result] = field(default_factory=list)    # the faults of one variant at once
    together: list[PlanFault] = field(default_factory=list)   # which: the first of each one_of

    @property
    def ok(self) -> bool:
        return (all(r.ok for r in self.unbroken) and all(v.noticed_by and v.back for v in self.faults)
                and any(not r.ok for r in self.dealt))

    def problems(self) -> list[str]:
        out = [f"passes only once fixed? '{r.what}' fails on the unbroken lab: {r.got}"
               for r in self.unbroken if not r.ok]
        out += [f"no check notices '{v.fault.title}' ({v.fault.where})" for v in self.faults if not v.noticed_by]
        out += [f"the lab does not come back after taking '{v.fault.title}' back" for v in self.faults
                if not v.back]
        if self.dealt and all(r.ok for r in self.dealt):
            out.append("every check passes with the faults dealt together")
        return out


def control(path: str | Path, backend: Backend | None = None, progress: Progress = silent,
            name: str | None = None, checks_file: str | Path | None = None) -> Control:
    """Deploy the lab at `path` under a throw-away name, and prove its exercise:
    every check passes unbroken; each fault alone (every alternative of a
    one_of too) makes at least one check fail and taking it back makes them
    all pass again; with the faults dealt (the first of each one_of), some
    check fails. The copy is destroyed at the end, whatever happens."""
    from .lab import compile_path, default_backend, deploy, destroy
    from .verify.runner import run_checks
    backend = backend or default_backend()
    plan = compile_path(path).result()
    faults = exercise_faults(plan)
    if checks_file is not None:
        read_checks(checks_file, plan)     # its problems before anything is deployed
    elif not plan.exercise or not plan.exercise.checks:
        raise UsageError(f"the exercise of {plan.lab} has no checks in its file: give them with --checks FILE")
    lab = name or f"{plan.lab}-check"
    out = Control(lab)
    destroy(lab, backend=backend)
    try:
        plan = deploy(path, name=lab, backend=backend, progress=progress).plan
        assert plan.exercise is not None
        checks = read_checks(checks_file, plan) if checks_file is not None else plan.exercise.checks
        progress(Event("control", "the checks on the unbroken lab"))
        out.unbroken = run_checks(backend, plan, checks)
        for n, fault in enumerate(plan.exercise.faults, 1):
            run_fault(backend, plan, fault, fault.deal, "dealing")
            failed = [r.what for r in run_checks(backend, plan, checks) if not r.ok]
            run_fault(backend, plan, fault, fault.undo, "taking back")
            back = all(r.ok for r in run_checks(backend, plan, checks))
            out.faults.append(FaultVerdict(fault, failed, back))
            progress(Event("control", f"{fault.title}: " + (f"noticed by {len(failed)} check"
                                                            f"{'s' if len(failed) != 1 else ''}" if failed
                                                            else "NOT noticed"), n, len(faults)))
        out.together = deal_faults(backend, plan)
        out.dealt = run_checks(backend, plan, checks)
    finally:
        destroy(lab, backend=backend)
    return out
