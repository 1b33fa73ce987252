"""Repair: finding what is wrong with a deployed lab's nodes, and mending it.

A node needs repair when its container is stopped, or when planned
interfaces are missing from it (a restart gives a container a new network
namespace, without its veths; the peers of those links lose their ends too).
A node whose container is gone cannot be repaired: the lab is redeployed.
Decisions are made on typed reasons (`Trouble`), never on message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from . import contract
from .errors import BackendError, LabStateError
from .lab import Running, attach
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .backend.protocol import Backend, NodeState
    from .plan import Plan


class Fault(Enum):
    GONE = "gone"                   # no container: only a redeploy helps
    STOPPED = "stopped"             # the container exists but does not run
    LINKS_MISSING = "links missing"  # running, but planned interfaces are not there


@dataclass(frozen=True)
class Trouble:
    """Why one node needs `lab repair` (or, when GONE, a redeploy)."""

    fault: Fault
    state: str = ""                                   # STOPPED: the container's state
    missing: tuple[str, ...] = ()                     # LINKS_MISSING: the interfaces

    def __str__(self) -> str:
        if self.fault is Fault.GONE:
            return "its container is gone (redeploy: lab deploy --force)"
        if self.fault is Fault.STOPPED:
            return f"container is {self.state}"
        return (f"interfaces missing: {', '.join(self.missing)} "
                "(the node or its link peer was restarted)")


def diagnose(plan: Plan, states: list[NodeState], present: dict[str, set[str]]) -> dict[str, Trouble]:
    """node -> its trouble, for every planned node that is not running with all
    its links (`present`: the interfaces each running node has)."""
    by_name = {st.node: st for st in states}
    out: dict[str, Trouble] = {}
    for node, planned in plan.nodes.items():
        st = by_name.get(node)
        if st is None:
            out[node] = Trouble(Fault.GONE)
        elif not st.running:
            out[node] = Trouble(Fault.STOPPED, state=st.state)
        else:
            missing = tuple(i.name for i in planned.interfaces if i.name not in present.get(node, ()))
            if missing:
                out[node] = Trouble(Fault.LINKS_MISSING, missing=missing)
    return out


def _diagnose(running: Running) -> dict[str, Trouble]:
    backend, lab = running.backend, running.lab
    states = backend.nodes(lab)
    present = {st.node: {i.name for i in backend.interfaces(lab, st.node)} for st in states if st.running}
    return diagnose(running.plan, states, present)


def needs_repair(name: str, backend: Backend | None = None) -> dict[str, Trouble]:
    """node -> why it needs `lab repair`. Nodes that are fine are left out."""
    return _diagnose(attach(name, backend))


@dataclass
class RepairResult:
    repaired: list[str] = field(default_factory=list)       # nodes whose links were re-made
    reconfigured: list[str] = field(default_factory=list)   # nodes whose setup ran again
    started: list[str] = field(default_factory=list)        # stopped containers started


def repair(name: str, backend: Backend | None = None, progress: Progress = silent) -> RepairResult:
    """Start stopped nodes, re-create the links of nodes that lost them and run
    the setup of those nodes and their link peers again (it is idempotent)."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    troubles = _diagnose(running)
    gone = [n for n, t in troubles.items() if t.fault is Fault.GONE]
    if gone:
        raise LabStateError(f"lab {plan.lab}: the containers of {', '.join(gone)} are gone; "
                            f"redeploy it with 'lab deploy --force {plan.source or plan.lab}'")
    result = RepairResult()
    for node, trouble in troubles.items():
        if trouble.fault is Fault.STOPPED:
            progress(Event("repair", f"starting {node} ({trouble})"))
            backend.start_node(plan.lab, node)
            result.started.append(node)
    if result.started:
        troubles = _diagnose(running)
    # the restarted nodes (most interfaces missing) first: their peers then have nothing to do
    order = sorted(troubles, key=lambda node: -len(troubles[node].missing))
    to_setup: set[str] = set(result.started)   # a started container comes back without its setup and services
    for n, node in enumerate(order, 1):
        peers = backend.relink(plan, node)
        progress(Event("repair", f"{node}: {len(peers)} link(s) re-created", n, len(order)))
        if peers:
            result.repaired.append(node)
            to_setup |= {node, *(end.node for end in peers)}
    for n, node in enumerate(sorted(to_setup), 1):
        res = backend.exec(plan.lab, node, ["sh", contract.SETUP_SCRIPT])
        if not res.ok:
            raise BackendError(f"re-configuring {node}: {contract.SETUP_SCRIPT} failed (exit {res.exit_code}): "
                               f"{(res.stdout + res.stderr).strip()}")
        # a restarted container lost its supervisor; start it again
        backend.start_services(plan, [node])
        progress(Event("configure", f"configured {node}", n, len(to_setup)))
        result.reconfigured.append(node)
    return result
