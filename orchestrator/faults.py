"""Dealing an exercise's faults in a running lab's nodes (each a small sh
script of the plan, run in its node), and which faults a student is dealt.
Used by exercise.deal (a running lab) and by lab.deploy(deal=True) (as part
of a deploy); knows nothing of either, so neither imports the other.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .errors import BackendError, UsageError
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .backend.protocol import Backend
    from .plan import Plan, PlanFault

__all__ = ["deal_faults", "dealt_for", "exercise_faults", "run_fault"]


def exercise_faults(plan: Plan) -> list[PlanFault]:
    if plan.exercise is None:
        where = plan.source or plan.lab
        raise UsageError(f"lab '{plan.lab}' has no exercise: section ({where}); see docs/classroom.md")
    return plan.exercise.faults


def run_fault(backend: Backend, plan: Plan, fault: PlanFault, script: str, what: str) -> None:
    res = backend.exec(plan.lab, fault.node, ["sh", "-c", script])
    if not res.ok:
        said = (res.stderr or res.stdout).strip().splitlines()
        raise BackendError(f"{what} '{fault.title}' ({fault.where}) failed in {fault.node}: "
                           f"{said[-1] if said else f'exit {res.exit_code}'}")


def dealt_for(plan: Plan, student: str | None = None) -> list[PlanFault]:
    """The faults a student is dealt: every plain fault, and of each one_of
    the alternative drawn from the lab's and the student's names (the same
    student always gets the same one; no student: the first)."""
    faults = exercise_faults(plan)
    assert plan.exercise is not None
    seed = plan.exercise.seed or plan.lab   # a plan stored before seeds were kept: its lab's name
    by_choice: dict[int, list[PlanFault]] = {}
    for fault in faults:
        by_choice.setdefault(fault.choice, []).append(fault)
    out = []
    for choice, options in sorted(by_choice.items()):
        if student is None or len(options) == 1:
            out.append(options[0])
            continue
        draw = hashlib.sha256(f"{seed}/{student}/{choice}".encode()).digest()
        out.append(options[int.from_bytes(draw[:8], "big") % len(options)])
    return out


def deal_faults(backend: Backend, plan: Plan, progress: Progress = silent,
                student: str | None = None) -> list[PlanFault]:
    faults = dealt_for(plan, student)
    for n, fault in enumerate(faults, 1):
        run_fault(backend, plan, fault, fault.deal, "dealing")
        progress(Event("exercise", fault.title, n, len(faults)))
    return faults
