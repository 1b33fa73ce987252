"""What a running lab is now: its nodes as the engine and kernel see them,
what needs repair, whether its file changed since the deploy (drift), and
what deploying the file would change (`lab status NAME`, `lab diff`).
Nothing here prints or changes anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LabError, UsageError
from .lab import attach, check_deployed, compile_path, locate, not_deployed

if TYPE_CHECKING:
    from .backend.protocol import Backend, InterfaceState, NodeState
    from .diff import PlanDiff
    from .lab import Running
    from .model.common import Impairment
    from .plan import Plan
    from .repair import Trouble


def status(name: str, backend: Backend | None = None) -> list[tuple[NodeState, list[InterfaceState]]]:
    """The nodes of a deployed lab and their interfaces as the kernel sees them."""
    lab, backend = locate(name, backend)
    nodes = backend.nodes(lab)
    if not nodes:
        raise not_deployed(lab, backend)
    return [(n, backend.interfaces(n.lab, n.node) if n.running else []) for n in nodes]

@dataclass
class NodeReport:
    """One node of `lab status NAME`: its state, interfaces, impairments, trouble."""

    state: NodeState
    interfaces: list[InterfaceState]
    impairments: dict[str, Impairment] = field(default_factory=dict)
    trouble: Trouble | None = None      # None: fine, or nothing to compare with


@dataclass
class StatusReport:
    """`lab status NAME`: the nodes, and what the lab as a whole needs."""

    lab: str
    nodes: list[NodeReport]
    state: str | None = None    # how far the last deploy got: up, deploying, reconciling (None: no record)
    drift: str | None = None    # how the lab file differs from what was deployed (None: it does not)
    advice: list[str] = field(default_factory=list)


def report(name: str, backend: Backend | None = None) -> StatusReport:
    """Every node of a deployed lab as the engine and kernel see it, what needs
    repair (nodes, links, supervisors and services, against the stored plan),
    and whether the lab file changed since the deploy."""
    from .repair import Fault, diagnose, read_health
    lab, backend = locate(name, backend)
    rows = [NodeReport(st, ifaces, backend.impairments(lab, st.node) if st.running else {})
            for st, ifaces in status(lab, backend)]
    out = StatusReport(lab, rows)
    try:
        running = attach(lab, backend)
    except LabError as exc:
        out.advice.append(str(exc))
        return out
    plan = running.plan
    out.state = running.record.state if running.record else None
    present = {r.state.node: {i.name for i in r.interfaces} for r in rows if r.state.running}
    served = [r.state.node for r in rows if r.state.running and r.state.node in plan.nodes
              and plan.nodes[r.state.node].services]
    troubles = diagnose(plan, [r.state for r in rows], present, read_health(backend, lab, served))
    for r in rows:
        r.trouble = troubles.get(r.state.node)
    out.drift = drift(running)
    source = plan.source or lab
    if out.state in ("deploying", "reconciling"):
        what = "deploy" if out.state == "deploying" else "reconcile"
        out.advice.append(f"the last {what} of {lab} did not finish: run 'lab deploy {source}' to finish it, "
                          f"or 'lab destroy {lab}'")
    elif any(t.fault is Fault.GONE for t in troubles.values()):
        out.advice.append(f"nodes of {lab} are gone: redeploy it with 'lab deploy --force {source}'")
    elif troubles:
        out.advice.append(f"run 'lab repair {lab}' to re-create what is missing")
    return out


def drift(running: Running) -> str | None:
    """How the lab file differs from what was deployed, in a line; None when it
    does not (or when there is no stored plan to compare with)."""
    from .record import sources_of
    record = running.record
    if record is None or not record.source:
        return None
    now = sources_of(record.plan)
    if now == record.sources:
        return None
    from .diff import plan_diff  # only now: rendering costs jinja2's import
    from .render.files import render_plan
    name = Path(record.source).name
    if now.get(record.source) is None:
        return f"{record.source} is gone (moved or deleted); the lab runs as it was deployed"
    compiled = compile_path(record.source, running.lab, student=_student(record.plan))
    if compiled.plan is None:
        return (f"{name} changed since deploy and has {len(compiled.errors)} "
                f"error{'s' if len(compiled.errors) != 1 else ''} now (see: lab validate {record.source})")
    changes = plan_diff(record.plan, compiled.plan, record.files, render_plan(compiled.plan))
    served = [p for p in now if p != record.source and now[p] != record.sources.get(p)]
    if not changes and not served:
        return f"{name} changed since deploy, but not what it deploys"
    what = changes.summary() if changes else ""
    if served:
        what = ", ".join(filter(None, [what, f"{len(served)} served folder{'s' if len(served) > 1 else ''} changed"]))
    return f"{name} changed since deploy: {what} (see: lab diff {running.lab})"


def _student(plan: Plan) -> str | None:
    """Whose variant of its exercise a lab was deployed as: its file is read so again."""
    return plan.exercise.student if plan.exercise is not None else None


def diff(name: str, path: str | None = None, backend: Backend | None = None) -> tuple[PlanDiff, str]:
    """`lab diff NAME [PATH]`: what deploying PATH (default: the lab's own file) on
    the running lab would change, and those changes as a unified diff of the
    rendered files."""
    from .diff import plan_diff, text_diff
    from .record import digests_of
    from .render.files import render_plan
    running = attach(name, backend)
    source = path or running.plan.source
    if not source:
        raise UsageError(f"lab {running.lab} was deployed from no file; name the lab file: lab diff {running.lab} PATH")
    new = compile_path(source, running.lab, student=_student(running.plan)).result()
    old_files = render_plan(running.plan)
    new_files = render_plan(new)
    deployed = running.record.files if running.record else digests_of(old_files)
    changes = plan_diff(running.plan, new, deployed, new_files)
    return changes, text_diff(old_files, new_files, changes)


@dataclass
class WideInterface:
    name: str
    state: str                  # up, down, or missing (planned, not in the node)
    addresses: list[str] = field(default_factory=list)
    peer: str | None = None     # the planned other end: "s1:eth0"
    master: str | None = None   # the bridge a switch port is in
    oper: str = ""              # the kernel's operational state (UP once it carries traffic)
    impairment: str | None = None


@dataclass
class WideService:
    name: str
    type: str
    port: int | None
    state: str                  # what the supervisor says: running, starting, backoff, failed, stopped;
                                # or: not supervised, node not running, unknown


@dataclass
class WideNode:
    node: str
    kind: str
    state: str                  # the container's: running, exited, ...; or gone
    health: str                 # ok, or why it needs repair
    gateway: str | None = None  # "192.168.1.1 (eth0)"
    routing: str | None = None  # routers: static, computed or dynamic
    interfaces: list[WideInterface] = field(default_factory=list)
    services: list[WideService] = field(default_factory=list)


@dataclass
class WideStatus:
    """`lab status NAME --wide`: the stored plan and the live state, node by node."""

    lab: str
    state: str | None           # how far the last deploy got (None: no record)
    routing: str | None
    source: str | None
    deployed_at: str | None
    drift: str | None
    advice: list[str]
    nodes: list[WideNode]


def wide_status(name: str, backend: Backend | None = None) -> WideStatus:
    """Every node of a deployed lab with its kind, state, health, interfaces
    (state, addresses, planned peer, impairment), gateway and services with
    their state: the stored plan read against the engine and the kernel."""
    from .repair import Fault, Trouble, read_health
    lab, backend = check_deployed(name, backend)
    rep = report(lab, backend)
    try:
        running = attach(lab, backend)
    except LabError:
        running = None
    plan = running.plan if running is not None else None
    record = running.record if running is not None else None
    served = [r.state.node for r in rep.nodes if r.state.running and plan is not None
              and r.state.node in plan.nodes and plan.nodes[r.state.node].services]
    health = read_health(backend, lab, served)
    nodes = []
    for r in rep.nodes:
        planned = plan.nodes.get(r.state.node) if plan is not None else None
        live = {i.name: i for i in r.interfaces}
        ifaces = []
        for pi in planned.interfaces if planned is not None else []:
            got = live.pop(pi.name, None)
            imp = r.impairments.get(pi.name)
            ifaces.append(WideInterface(pi.name, got.state if got else "missing",
                                        list(got.addresses) if got else [], pi.peer,
                                        got.master if got else None, got.oper if got else "",
                                        imp.describe() if imp else None))
        for i in live.values():   # a switch's br0, or what the plan does not know
            imp = r.impairments.get(i.name)
            ifaces.append(WideInterface(i.name, i.state, list(i.addresses), None, i.master, i.oper,
                                        imp.describe() if imp else None))
        services = []
        for svc in planned.services if planned is not None else []:
            if not r.state.running:
                state = "node not running"
            elif r.state.node not in health:
                state = "unknown"
            else:
                alive, states = health[r.state.node]
                state = states.get(svc.name, "not started") if alive else "not supervised"
            services.append(WideService(svc.name, svc.type, svc.port, state))
        gateway = next((f"{rt.via} ({rt.dev})" for rt in planned.routes if rt.to == "default"), None) \
            if planned is not None else None
        nodes.append(WideNode(r.state.node, r.state.kind, r.state.state,
                              "ok" if r.trouble is None else str(r.trouble), gateway,
                              planned.routing if planned is not None else None, ifaces, services))
    present = {n.node for n in nodes}
    for planned in plan.nodes.values() if plan is not None else []:
        if planned.name in present:
            continue
        gone = planned.name
        nodes.append(WideNode(gone, planned.kind, "gone", str(Trouble(Fault.GONE)),
                              interfaces=[WideInterface(i.name, "missing", [], i.peer) for i in planned.interfaces]))
    nodes.sort(key=lambda n: n.node)
    return WideStatus(lab, rep.state, plan.routing if plan is not None else None,
                      plan.source if plan is not None else None, record.deployed_at if record else None,
                      rep.drift, list(rep.advice), nodes)
