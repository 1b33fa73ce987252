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

from . import labels
from .errors import DeployError, EngineUnavailable, LabError, LabStateError, Problem, UsageError
from .labels import LAB_FILE, NAME_RE
from .locks import lab_lock
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from collections.abc import Callable

    from .backend.protocol import Backend, ImageInfo, ImageStore, LabSummary
    from .compile import Compiled
    from .contract import NodeFiles
    from .diff import PlanDiff
    from .plan import Plan, PlanFault
    from .record import Record


#: a destroy waits this long for a command changing the lab (a deploy) to finish
DESTROY_WAIT_S = 600.0


@dataclass
class DeployResult:
    plan: Plan
    warnings: list[Problem]
    timings: dict[str, float] = field(default_factory=dict)
    reconciled: PlanDiff | None = None   # set when a running lab was changed in place (or would be: dry run)
    dealt: list[PlanFault] = field(default_factory=list)   # the exercise's faults dealt (deploy(deal=True))


#: the backends a lab can run on (`lab deploy --backend`, `backend:` in the file)
BACKENDS = ("docker", "netns")
#: where the netns backend keeps a lab's state (orchestrator/backend/netns.py),
#: looked at here so finding a lab's backend imports neither backend
NETNS_STATE_ROOT = Path(labels.NETNS_STATE_ROOT)


def default_backend() -> Backend:
    """The backend every facade uses when none is given: the Docker engine."""
    from .backend.dockerengine import DockerBackend
    return DockerBackend()


def make_backend(name: str | None = None) -> Backend:
    """The backend called `name` (docker when None)."""
    if name in (None, "docker"):
        return default_backend()
    if name == "netns":
        from .backend.netns import NetnsBackend
        return NetnsBackend()
    raise UsageError(f"unknown backend '{name}' (one of: {', '.join(BACKENDS)})")


def backend_of(lab: str) -> Backend:
    """The backend a deployed lab runs on: netns when that backend holds its
    state, else Docker (also for a lab that is not deployed at all)."""
    return make_backend("netns" if (NETNS_STATE_ROOT / lab).is_dir() else None)


def _check_name(name: str | None) -> None:
    if name is not None and not NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a valid lab name: use lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 32 characters")


def compile_path(path: str | Path, name: str | None = None, backend: Backend | None = None,
                 check_images: bool = False, student: str | None = None) -> Compiled:
    """The lab in a folder (or file) compiled: its plan or every problem, and its
    warnings. With check_images, the images its nodes name are looked for on
    the engine (when one answers; the backend is made only if a node names one)."""
    from .compile import compile_file  # the models and the compiler: loaded by the commands that plan
    _check_name(name)
    return compile_file(path, name=name, image_present=_image_check(backend) if check_images else None,
                        student=student)


def _image_check(backend: Backend | None) -> Callable[[str], bool | str | None]:
    """image -> on the engine? None when no engine answers (then it is not
    checked); the backend's reason when it takes no images at all (netns)."""
    chosen: list[Backend | None] = []
    refusal = getattr(backend, "image_refusal", None)

    def present(image: str) -> bool | str | None:
        if isinstance(refusal, str):
            return refusal
        if not chosen:
            try:
                candidate = backend or default_backend()
                candidate.check()
                chosen.append(candidate)
            except EngineUnavailable:
                chosen.append(None)
        engine = chosen[0]
        return None if engine is None else engine.has_image(image)
    return present


def plan_lab(path: str | Path, name: str | None = None, backend: Backend | None = None,
             check_images: bool = False, student: str | None = None) -> tuple[Plan, list[Problem]]:
    """The plan of a lab and its warnings; TopologyError listing every error.
    With `student`, that student's variant of the lab's exercise."""
    compiled = compile_path(path, name, backend, check_images, student)
    return compiled.result(), compiled.warnings


def build_images(backend: Backend | None = None, progress: Progress = silent,
                 force: bool = False) -> dict[str, str]:
    return (backend or default_backend()).ensure_images(progress, force=force)


def default_images() -> ImageStore:
    """Where `lab images list/prune` look when no store is given: the Docker engine."""
    from .backend.dockerengine import DockerBackend
    return DockerBackend()


def list_images(store: ImageStore | None = None) -> list[ImageInfo]:
    """`lab images list`: our images on the engine, newest first, and the labs using them."""
    return (store or default_images()).list_images()


def prune_images(store: ImageStore | None = None, progress: Progress = silent) -> list[str]:
    """`lab images prune`: remove our base and node images that are stale (not what
    the current recipes build) and that no container uses; the tags removed."""
    return (store or default_images()).prune_images(progress)


def deploy(path: str | Path, *, name: str | None = None, force: bool = False, dry_run: bool = False,
           backend: Backend | None = None, backend_name: str | None = None,
           progress: Progress = silent, student: str | None = None, deal: bool = False) -> DeployResult:
    """Deploy a lab. On a lab that is already running, reconcile it in place
    (see orchestrator.reconcile; dry_run: only say what would change), or with
    force destroy it and deploy it again. A fresh deploy that fails (or is
    interrupted) removes what it created. The backend: `backend`, else the one
    named (`backend_name`, then the file's `backend:`), else the one the lab
    already runs on, else Docker. With `student`: that student's variant of
    the lab's exercise (its subnets, ports, names). With `deal`: its faults
    dealt too (the student's), as exercise.deal does: a fresh lab as part of
    the deploy (the lab is never up unbroken, and its record says so from the
    start), a running one once it is changed in place."""
    from .render.files import render_plan

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if backend is None:
        backend = _chosen_backend(path, name, backend_name)
    plan, warnings = plan_lab(path, name, backend, check_images=True, student=student)
    if deal and plan.exercise is None:
        raise UsageError(f"{plan.source or path} has no exercise: section to deal (see docs/classroom.md)")
    files = render_plan(plan)
    timings["prepare"] = time.perf_counter() - t0

    backend.check()
    with lab_lock(plan.lab, "deploy", progress=progress):
        if backend.nodes(plan.lab) and not force:
            from .reconcile import reconcile
            running = Running.of(plan.lab, backend)
            kept = running.plan.exercise.student if running.plan.exercise else None
            if student is None and kept is not None:     # a student's copy stays their variant
                plan, warnings = plan_lab(path, name, backend, check_images=True, student=kept)
                files = render_plan(plan)
            diff = reconcile(running, plan, files, dry_run=dry_run, progress=progress, timings=timings)
            dealt: list[PlanFault] = []
            if not dry_run:
                warnings = warnings + wait_leases(backend, plan, progress)
                if deal:
                    dealt = _deal_running(backend, plan, progress)
            timings["total"] = time.perf_counter() - t0
            return DeployResult(plan, warnings, timings, diff, dealt)
        if dry_run:
            raise UsageError(f"lab '{plan.lab}' is not running: --dry-run shows what a deploy would change "
                             "on a running lab")
        if backend.nodes(plan.lab):
            progress(Event("destroy", f"removing the running copy of {plan.lab}"))
            backend.destroy(plan.lab, progress)
        elif backend.load_record(plan.lab) is not None:  # an earlier deploy stopped before its nodes
            backend.destroy(plan.lab, progress)
        dealt = _fresh(backend, plan, files, progress, timings, deal, student)
    if any(i.dhcp for n in plan.nodes.values() for i in n.interfaces):
        t = time.perf_counter()
        warnings = warnings + wait_leases(backend, plan, progress)
        timings["leases"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return DeployResult(plan, warnings, timings, dealt=dealt)


def _deal_running(backend: Backend, plan: Plan, progress: Progress) -> list[PlanFault]:
    """The faults of a running lab's exercise (its student's), dealt; its record says so."""
    from .faults import deal_faults
    from .record import Record
    dealt = deal_faults(backend, plan, progress, plan.exercise.student if plan.exercise else None)
    stored = backend.load_record(plan.lab)
    record = Record.decode(stored, plan.lab) if stored is not None else Record(plan=plan)
    record.dealt = [f.where for f in dealt]
    backend.save_record(plan.lab, record.encode())
    return dealt


def _fresh(backend: Backend, plan: Plan, files: dict[str, NodeFiles], progress: Progress,
           timings: dict[str, float], deal: bool = False, student: str | None = None) -> list[PlanFault]:
    from .faults import deal_faults
    from .record import make_record
    t = time.perf_counter()
    backend.ensure_images(progress)
    timings["images"] = time.perf_counter() - t
    dealt: list[PlanFault] = []

    def finished() -> bytes:
        record = make_record(plan, files, "up")
        record.dealt = [f.where for f in dealt]
        return record.encode()

    stages: list[tuple[str, Callable[[], object]]] = [
        ("record", lambda: backend.save_record(plan.lab, make_record(plan, files, "deploying").encode())),
        ("create", lambda: backend.create_nodes(plan, progress)),
        ("wire", lambda: backend.wire_links(plan, progress)),
        ("configure", lambda: backend.configure(plan, files, progress)),
        ("impair", lambda: apply_impairments(backend, plan, progress)),
    ]
    if deal:    # before the record says "up": a lab dealt at deploy is never recorded unbroken
        variant = student or (plan.exercise.student if plan.exercise else None)
        stages.append(("deal", lambda: dealt.extend(deal_faults(backend, plan, progress, variant))))
    stages.append(("record", lambda: backend.save_record(plan.lab, finished())))
    try:
        for stage, step in stages:
            t = time.perf_counter()
            step()
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):  # the command line says "interrupted" once, at the end
            progress(Event("destroy", f"removing what the deploy of {plan.lab} created"))
        else:
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
    return dealt


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


#: how long a deploy waits for the hosts that ask by DHCP to hold a lease
LEASE_WAIT_S = 15.0


def wait_leases(backend: Backend, plan: Plan, progress: Progress = silent) -> list[Problem]:
    """Until every interface that asks by DHCP holds a lease (in parallel, up
    to LEASE_WAIT_S); one warning for each that did not get one: the lab runs,
    and what a student broke on purpose (a relay, a pool) shows here."""
    from concurrent.futures import ThreadPoolExecutor

    from .verify.probes import Prober
    refs = [f"{n.name}.{i.name}" for n in plan.nodes.values() for i in n.interfaces if i.dhcp]
    if not refs:
        return []
    prober = Prober(backend, plan)
    servers = [n.name for n in plan.nodes.values() if n.dhcp is not None]
    problems: list[Problem] = []
    with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
        for n, (ref, (address, why)) in enumerate(zip(refs, pool.map(lambda r: prober.leased(r, LEASE_WAIT_S),
                                                                      refs)), 1):
            node, _, iface = ref.partition(".")
            progress(Event("dhcp", f"{node}:{iface} holds {address}" if address else f"{node}:{iface}: no lease",
                           n, len(refs)))
            if address is None:
                hint = f"what its client sent: lab logs {plan.lab} {node} dhcp-{iface}"
                hint += "".join(f"; what {server} said: lab logs {plan.lab} {server} dhcp" for server in servers)
                problems.append(Problem(f"nodes.{node}.interfaces.{iface}", why, hint))
    return problems


def apply_impairments(backend: Backend, plan: Plan, progress: Progress = silent) -> None:
    """The impairments written on links, on the packets leaving both ends."""
    ends = [(end, link.impair) for link in plan.links if link.impair for end in (link.a, link.b)]
    for n, (end, imp) in enumerate(ends, 1):
        backend.impair(plan.lab, end.node, end.iface, imp)
        progress(Event("impair", f"{end}: {imp.describe()}", n, len(ends)))


def locate(name_or_path: str, backend: Backend | None = None) -> tuple[str, Backend]:
    """The lab's name (NAME, or the name of the lab in a folder) and the backend
    to find it on (the default one unless given)."""
    lab = resolve_lab_name(name_or_path)
    return lab, backend or backend_of(lab)


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


def not_deployed(lab: str, backend: Backend) -> LabStateError:
    """The error for lab `lab` not being deployed, naming the deployed lab
    nearest to it ("did you mean 'ux-ring'?") when one is close."""
    from .backend.protocol import not_deployed as error
    try:
        names = [s.name for s in backend.list_labs()]
    except LabError:
        names = []
    return error(lab, names)


def check_deployed(name: str, backend: Backend | None = None) -> tuple[str, Backend]:
    """Like locate, once the engine's listing (one request) shows the lab is
    deployed; LabStateError naming the nearest deployed lab if it is not."""
    from .backend.protocol import not_deployed as error
    lab, backend = locate(name, backend)
    names = [s.name for s in backend.list_labs()]
    if lab not in names:
        raise error(lab, names)
    return lab, backend


def nearest_lab(name: str, backend: Backend | None = None) -> str | None:
    """The deployed lab whose name is closest to `name` (a typo), or None."""
    import difflib
    try:
        names = [s.name for s in (backend or default_backend()).list_labs()]
    except LabError:
        return None
    close = difflib.get_close_matches(name, [n for n in names if n != name], n=1, cutoff=0.6)
    return close[0] if close else None


def _chosen_backend(path: str | Path, name: str | None, backend_name: str | None) -> Backend:
    """The backend a deploy of the lab in `path` uses (see deploy)."""
    from .model.load import read_lab
    if backend_name is not None and backend_name not in BACKENDS:
        raise UsageError(f"unknown backend '{backend_name}' (one of: {', '.join(BACKENDS)})")
    header = read_lab(path).header
    wanted = backend_name or (getattr(header, "backend", None) if header is not None else None)
    lab = name or resolve_lab_name(str(path))
    on_netns = (NETNS_STATE_ROOT / lab).is_dir()
    if wanted is None:
        return backend_of(lab)
    if (wanted == "netns") != on_netns:
        other = backend_of(lab)
        try:
            elsewhere = bool(other.nodes(lab))
        except EngineUnavailable:
            elsewhere = False
        if elsewhere:
            raise UsageError(f"lab '{lab}' runs on the {'netns' if on_netns else 'docker'} backend; destroy it "
                             f"first (lab destroy {lab}), or deploy a copy beside it with --name")
    return make_backend(wanted)


def _all_backends() -> list[Backend]:
    """Every backend that may hold labs: Docker when its engine answers, netns
    when it holds any lab."""
    found: list[Backend] = []
    docker = default_backend()
    try:
        docker.check()
        found.append(docker)
    except EngineUnavailable:
        if not NETNS_STATE_ROOT.is_dir() or not any(NETNS_STATE_ROOT.iterdir()):
            raise
    if NETNS_STATE_ROOT.is_dir() and any(NETNS_STATE_ROOT.iterdir()):
        found.append(make_backend("netns"))
    return found


def destroy(name_or_path: str, *, backend: Backend | None = None, progress: Progress = silent) -> int:
    """Remove every object of the lab. Returns how many nodes were removed."""
    lab, backend = locate(name_or_path, backend)
    with lab_lock(lab, "destroy", wait_s=DESTROY_WAIT_S, progress=progress):
        return backend.destroy(lab, progress)


def destroy_all(backend: Backend | None = None, progress: Progress = silent) -> dict[str, int]:
    """Remove every lab of this project (found by label on the engine, by its
    state folder on the netns backend; nothing else is touched), on every
    backend unless one is given. Returns lab -> nodes removed."""
    removed = {}
    for each in [backend] if backend is not None else _all_backends():
        for summary in each.list_labs():
            progress(Event("destroy", f"removing lab {summary.name}"))
            with lab_lock(summary.name, "destroy", wait_s=DESTROY_WAIT_S, progress=progress):
                removed[summary.name] = each.destroy(summary.name, progress)
    return removed


def list_labs(backend: Backend | None = None) -> list[LabSummary]:
    """Every deployed lab (of one backend, or of all of them), by name."""
    if backend is not None:
        return backend.list_labs()
    return sorted((s for each in _all_backends() for s in each.list_labs()), key=lambda s: s.name)


@dataclass
class Running:
    """A deployed lab as the operations see it: the plan it was deployed with
    (from its record), its backend, and the record itself."""

    plan: Plan
    backend: Backend
    record: Record | None = None   # None: deployed by a labnet that kept none (planned again from its file)

    @property
    def lab(self) -> str:
        return self.plan.lab

    @classmethod
    def of(cls, lab: str, backend: Backend) -> Running:
        from .record import Record
        data = backend.load_record(lab)
        if data is not None:
            record = Record.decode(data, lab)
            return cls(record.plan, backend, record)
        states = backend.nodes(lab)
        if not states:
            raise not_deployed(lab, backend)
        source = next((n.source for n in states if n.source), None)
        if not source or not Path(source).is_file():
            raise LabStateError(f"lab '{lab}' has no stored plan and its lab file ({source}) is gone; "
                                f"redeploy it, or remove it with 'lab destroy {lab}'")
        plan, _ = plan_lab(source, name=lab)
        return cls(plan, backend)


def attach(name: str, backend: Backend | None = None) -> Running:
    """The deployed lab NAME (or the one in a folder) as it was deployed: its
    stored plan, whatever has happened to its lab file since."""
    lab, backend = locate(name, backend)
    return Running.of(lab, backend)
