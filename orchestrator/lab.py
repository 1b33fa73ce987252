"""The facade of a lab's life: what `lab` commands (and the pytest plugin) call.

Each function is one user-level operation, built from the stages
model -> compile -> render -> backend -> verify. Nothing here prints; long
steps report through `orchestrator.progress` callbacks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DeployError, LabError, LabStateError, Problem, UsageError
from .labels import LAB_FILE, NAME_RE
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .backend.protocol import Backend, LabSummary
    from .compile import Compiled
    from .plan import Plan


@dataclass
class DeployResult:
    plan: Plan
    warnings: list[Problem]
    timings: dict[str, float] = field(default_factory=dict)


def default_backend() -> Backend:
    """The backend every facade uses when none is given: the Docker engine."""
    from .backend.dockerengine import DockerBackend
    return DockerBackend()


def _check_name(name: str | None) -> None:
    if name is not None and not NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a valid lab name: use lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 32 characters")


def compile_path(path: str | Path, name: str | None = None) -> Compiled:
    """The lab in a folder (or file) compiled: its plan or every problem, and its warnings."""
    from .compile import compile_file  # the models and the compiler: loaded by the commands that plan
    _check_name(name)
    return compile_file(path, name=name)


def plan_lab(path: str | Path, name: str | None = None) -> tuple[Plan, list[Problem]]:
    """The plan of a lab and its warnings; TopologyError listing every error."""
    compiled = compile_path(path, name)
    return compiled.result(), compiled.warnings


def build_images(backend: Backend | None = None, progress: Progress = silent,
                 force: bool = False) -> dict[str, str]:
    return (backend or default_backend()).ensure_images(progress, force=force)


def deploy(path: str | Path, *, name: str | None = None, force: bool = False,
           backend: Backend | None = None, progress: Progress = silent) -> DeployResult:
    """Deploy a lab. On any failure (or Ctrl-C) what was created is removed."""
    from .render.files import render_plan

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    plan, warnings = plan_lab(path, name)
    files = render_plan(plan)
    timings["prepare"] = time.perf_counter() - t0

    backend = backend or default_backend()
    backend.check()
    if backend.nodes(plan.lab):
        if not force:
            raise LabStateError(
                f"lab '{plan.lab}' is already deployed; use 'lab deploy --force' to redeploy it, "
                f"or 'lab destroy {plan.lab}' first")
        progress(Event("destroy", f"removing the running copy of {plan.lab}"))
        backend.destroy(plan.lab, progress)

    t = time.perf_counter()
    backend.ensure_images(progress)
    timings["images"] = time.perf_counter() - t

    chosen = backend  # the steps below close over a name mypy knows is set
    try:
        for stage, step in (
            ("create", lambda: chosen.create_nodes(plan, progress)),
            ("wire", lambda: chosen.wire_links(plan, progress)),
            ("configure", lambda: chosen.configure(plan, files, progress)),
            ("impair", lambda: apply_impairments(chosen, plan, progress)),
        ):
            t = time.perf_counter()
            step()
            timings[stage] = time.perf_counter() - t
    except BaseException as exc:
        progress(Event("destroy", f"deploy of {plan.lab} failed; removing what it created"))
        try:
            backend.destroy(plan.lab, progress)
        except Exception as cleanup_exc:  # report the first failure, mention the second
            raise DeployError(
                f"deploy of '{plan.lab}' failed ({_reason(exc)}) and the clean-up failed too "
                f"({_reason(cleanup_exc)}); run 'lab destroy {plan.lab}'") from exc
        if isinstance(exc, LabError):
            raise DeployError(f"deploy of '{plan.lab}' failed: {exc}\n"
                              "everything it had created was removed") from exc
        raise
    timings["total"] = time.perf_counter() - t0
    return DeployResult(plan, warnings, timings)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def apply_impairments(backend: Backend, plan: Plan, progress: Progress = silent) -> None:
    """The impairments written on links, on the packets leaving both ends."""
    ends = [(end, link.impair) for link in plan.links if link.impair for end in (link.a, link.b)]
    for n, (end, imp) in enumerate(ends, 1):
        backend.impair(plan.lab, end.node, end.iface, imp)
        progress(Event("impair", f"{end}: {imp.describe()}", n, len(ends)))


def locate(name_or_path: str, backend: Backend | None = None) -> tuple[str, Backend]:
    """The lab's name (NAME, or the name of the lab in a folder) and the backend
    to find it on (the default one unless given)."""
    return resolve_lab_name(name_or_path), backend or default_backend()


def resolve_lab_name(name_or_path: str) -> str:
    """A lab is named by its name, or by its folder / lab.yml (then the file's name is used)."""
    p = Path(name_or_path)
    if p.is_dir() and (p / LAB_FILE).is_file() or p.is_file():
        from .model.load import read_lab
        lab = read_lab(p)
        if lab.name:
            return lab.name
        compile_path(p).result()  # the file has no usable name: say why
    return name_or_path


def destroy(name_or_path: str, *, backend: Backend | None = None, progress: Progress = silent) -> int:
    """Remove every object of the lab. Returns how many nodes were removed."""
    lab, backend = locate(name_or_path, backend)
    return backend.destroy(lab, progress)


def destroy_all(backend: Backend | None = None, progress: Progress = silent) -> dict[str, int]:
    """Remove every lab of this project on the engine (found by label, nothing
    else is touched). Returns lab -> nodes removed."""
    backend = backend or default_backend()
    removed = {}
    for summary in backend.list_labs():
        progress(Event("destroy", f"removing lab {summary.name}"))
        removed[summary.name] = backend.destroy(summary.name, progress)
    return removed


def list_labs(backend: Backend | None = None) -> list[LabSummary]:
    return (backend or default_backend()).list_labs()


@dataclass
class Running:
    """A deployed lab as the operations see it: its plan and its backend."""

    plan: Plan
    backend: Backend

    @property
    def lab(self) -> str:
        return self.plan.lab


def attach(name: str, backend: Backend | None = None) -> Running:
    """The deployed lab NAME (or the one in a folder), re-planned from the lab
    file its nodes point to, so that every operation knows the same interface
    names and addresses the deploy used."""
    lab, backend = locate(name, backend)
    states = backend.nodes(lab)
    if not states:
        raise LabStateError(f"lab '{lab}' is not deployed (see: lab status)")
    source = next((n.source for n in states if n.source), None)
    if not source or not Path(source).is_file():
        raise LabStateError(f"the lab file of '{lab}' ({source}) is gone; cannot plan it again")
    plan, _ = plan_lab(source, name=lab)
    return Running(plan, backend)
