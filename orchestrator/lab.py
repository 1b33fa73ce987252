"""The facade: what `lab` commands (and the pytest plugin) call.

Each function is one user-level operation, built from the stages
load -> plan -> render -> backend -> verify. Nothing here prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .backend import Backend, ExecResult, InterfaceState, LabSummary, NodeState
from .backend.dockerengine import DockerBackend
from .errors import DeployError, LabError, LabStateError, Problem, UsageError
from .images import ImageSet, ensure_images
from .load import LAB_FILE, load_lab
from .model import NAME_RE
from .plan import Plan, make_plan
from .progress import Event, Progress, silent
from .render import NodeFiles, render_plan
from .verify import PingResult, all_pairs_ping


@dataclass
class Prepared:
    plan: Plan
    files: dict[str, NodeFiles]
    warnings: list[Problem]


@dataclass
class DeployResult:
    plan: Plan
    warnings: list[Problem]
    timings: dict[str, float] = field(default_factory=dict)


def prepare(path: str | Path, name: str | None = None) -> Prepared:
    """load -> plan -> render, no engine needed. Raises TopologyError."""
    if name is not None and not NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a valid lab name: use lowercase letters, digits and '-', "
                            "starting and ending with a letter or digit, at most 32 characters")
    warnings: list[Problem] = []
    topology, file = load_lab(path, warnings)
    plan = make_plan(topology, name=name, source=str(file))
    return Prepared(plan, render_plan(plan), warnings)


def default_backend() -> DockerBackend:
    return DockerBackend()


def build_images(backend: DockerBackend | None = None, progress: Progress = silent,
                 force: bool = False) -> ImageSet:
    backend = backend or default_backend()
    return ensure_images(backend.client, progress, force=force)


def deploy(path: str | Path, *, name: str | None = None, force: bool = False,
           backend: DockerBackend | None = None, progress: Progress = silent) -> DeployResult:
    """Deploy a lab. On any failure (or Ctrl-C) what was created is removed."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    prepared = prepare(path, name)
    plan = prepared.plan
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
    images = ensure_images(backend.client, progress)
    timings["images"] = time.perf_counter() - t

    try:
        for stage, step in (
            ("create", lambda: backend.create_nodes(plan, images.node, progress)),
            ("wire", lambda: backend.wire_links(plan, progress)),
            ("configure", lambda: backend.configure(plan, prepared.files, progress)),
            ("impair", lambda: backend.apply_impairments(plan, progress)),
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
                f"deploy of '{plan.lab}' failed ({exc}) and the clean-up failed too "
                f"({cleanup_exc}); run 'lab destroy {plan.lab}'") from exc
        if isinstance(exc, LabError):
            raise DeployError(f"deploy of '{plan.lab}' failed: {exc}\n"
                              "everything it had created was removed") from exc
        raise
    timings["total"] = time.perf_counter() - t0
    return DeployResult(plan, prepared.warnings, timings)


def resolve_lab_name(name_or_path: str) -> str:
    """A lab is named by its name, or by its folder / lab.yml (then the file's name is used)."""
    p = Path(name_or_path)
    if p.is_dir() and (p / LAB_FILE).is_file() or p.is_file():
        topology, _ = load_lab(p)
        return topology.name
    return name_or_path


def destroy(name_or_path: str, *, backend: Backend | None = None,
            progress: Progress = silent) -> int:
    """Remove every object of the lab. Returns how many containers were removed."""
    backend = backend or default_backend()
    return backend.destroy(resolve_lab_name(name_or_path), progress)


def list_labs(backend: Backend | None = None) -> list[LabSummary]:
    return (backend or default_backend()).list_labs()


def status(name: str, backend: Backend | None = None) -> list[tuple[NodeState, list[InterfaceState]]]:
    backend = backend or default_backend()
    nodes = backend.nodes(resolve_lab_name(name))
    if not nodes:
        raise LabStateError(f"lab '{name}' is not deployed (see: lab status)")
    return [(n, backend.interfaces(n.lab, n.node) if n.state == "running" else []) for n in nodes]


def running_plan(name: str, backend: Backend | None = None) -> Plan:
    """The plan of a deployed lab, re-made from the lab file its nodes point to."""
    backend = backend or default_backend()
    lab = resolve_lab_name(name)
    nodes = backend.nodes(lab)
    if not nodes:
        raise LabStateError(f"lab '{lab}' is not deployed (see: lab status)")
    source = next((n.source for n in nodes if n.source), None)
    if not source or not Path(source).is_file():
        raise LabStateError(f"the lab file of '{lab}' ({source}) is gone; cannot plan it again")
    return prepare(source, name=lab).plan


def exec_in(name: str, node: str, argv: list[str], backend: Backend | None = None) -> ExecResult:
    return (backend or default_backend()).exec(resolve_lab_name(name), node, argv)


def shell_argv(name: str, node: str, argv: list[str] | None = None,
               backend: Backend | None = None) -> list[str]:
    return (backend or default_backend()).interactive_argv(
        resolve_lab_name(name), node, argv or ["bash", "-l"])


def ping_all(name: str, backend: Backend | None = None,
             progress: Progress = silent) -> list[PingResult]:
    backend = backend or default_backend()
    return all_pairs_ping(backend, running_plan(name, backend), progress)


def chat_argv(name: str, node: str, nick: str, server: str | None = None,
              backend: Backend | None = None) -> list[str]:
    """The command line that opens the chat client in `node`'s terminal,
    connected to the lab's chat server (or the one on node `server`)."""
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    servers = [(n.name, s.port) for n in plan.nodes.values() for s in n.services if s.type == "chat"]
    if server is not None:
        servers = [(n, p) for n, p in servers if n == server]
        if not servers:
            raise LabStateError(f"node '{server}' of lab '{plan.lab}' runs no chat service")
    elif not servers:
        raise LabStateError(f"lab '{plan.lab}' has no chat service; add one to a node: "
                            "services: [{type: chat, port: 5000}]")
    elif len(servers) > 1:
        names = ", ".join(n for n, _ in servers)
        raise LabStateError(f"lab '{plan.lab}' has several chat servers ({names}); choose one with --server")
    host, port = servers[0]
    return backend.interactive_argv(plan.lab, node, ["python3", "-m", "labnode.chat_client", host,
                                                     "--port", str(port), "--nick", nick])
