"""Repair: finding what is wrong with a deployed lab's nodes, and mending it.

A node needs repair when its container is stopped, when planned interfaces
are missing from it (a restart gives a container a new network namespace,
without its veths; the peers of those links lose their ends too), or when its
supervisor or one of its services is not running (its supervisor is started
again, and stops what a killed one left behind).
A node whose container is gone cannot be repaired: the lab is redeployed.
Decisions are made on typed reasons (`Trouble`), never on message text.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from . import contract
from .errors import BackendError, LabError, LabStateError
from .lab import Running, attach
from .locks import lab_lock
from .progress import Event, Progress, silent

if TYPE_CHECKING:
    from .backend.protocol import Backend, NodeState
    from .plan import Plan


class Fault(Enum):
    GONE = "gone"                   # no container: only a redeploy helps
    STOPPED = "stopped"             # the container exists but does not run
    LINKS_MISSING = "links missing"  # running, but planned interfaces are not there
    SERVICES_DOWN = "services down"  # running with its links, but its supervisor or services are not


@dataclass(frozen=True)
class Trouble:
    """Why one node needs `lab repair` (or, when GONE, a redeploy)."""

    fault: Fault
    state: str = ""                                   # STOPPED: the container's state
    missing: tuple[str, ...] = ()                     # LINKS_MISSING: the interfaces; SERVICES_DOWN: services
    supervisor: bool = True                           # SERVICES_DOWN: is the supervisor alive

    def __str__(self) -> str:
        if self.fault is Fault.GONE:
            return "its container is gone (redeploy: lab deploy --force)"
        if self.fault is Fault.STOPPED:
            return f"container is {self.state}"
        if self.fault is Fault.SERVICES_DOWN:
            down = ", ".join(self.missing)
            if not self.supervisor:
                return f"its supervisor is not running: {down} not supervised"
            return f"{'service' if len(self.missing) == 1 else 'services'} not running: {down}"
        return (f"interfaces missing: {', '.join(self.missing)} "
                "(the node or its link peer was restarted)")


#: whether a node's supervisor is alive, and service -> its state, as the supervisor reports it
Health = tuple[bool, dict[str, str]]


def diagnose(plan: Plan, states: list[NodeState], present: dict[str, set[str]],
             health: dict[str, Health] | None = None) -> dict[str, Trouble]:
    """node -> its trouble, for every planned node that is not running with all
    its links (`present`: the interfaces each running node has) or, where
    `health` tells, whose supervisor or services are down."""
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
            elif health is not None and node in health and planned.services:
                alive, services = health[node]
                down = tuple(s.name for s in planned.services if not alive or services.get(s.name) != "running")
                if down:
                    out[node] = Trouble(Fault.SERVICES_DOWN, missing=down, supervisor=alive)
    return out


def read_health(backend: Backend, lab: str, nodes: list[str]) -> dict[str, Health]:
    """What the supervisors of these running nodes say (one exec each, at once);
    a node that cannot answer is left out."""
    def ask(node: str) -> tuple[str, Health | None]:
        try:
            res = backend.exec(lab, node, contract.HEALTH_ARGV)
        except LabError:
            return node, None
        return node, contract.parse_health(res.stdout)

    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        return {node: got for node, got in pool.map(ask, nodes) if got is not None}


def _diagnose(running: Running) -> dict[str, Trouble]:
    backend, lab = running.backend, running.lab
    states = backend.nodes(lab)
    present = {st.node: {i.name for i in backend.interfaces(lab, st.node)} for st in states if st.running}
    served = [st.node for st in states if st.running and st.node in running.plan.nodes
              and running.plan.nodes[st.node].services]
    return diagnose(running.plan, states, present, read_health(backend, lab, served))


def needs_repair(name: str, backend: Backend | None = None) -> dict[str, Trouble]:
    """node -> why it needs `lab repair`. Nodes that are fine are left out."""
    return _diagnose(attach(name, backend))


@dataclass
class RepairResult:
    repaired: list[str] = field(default_factory=list)       # nodes whose links were re-made
    reconfigured: list[str] = field(default_factory=list)   # nodes whose setup ran again
    started: list[str] = field(default_factory=list)        # stopped containers started
    restarted: list[str] = field(default_factory=list)      # nodes whose supervisor was started again


def repair(name: str, backend: Backend | None = None, progress: Progress = silent) -> RepairResult:
    """Start stopped nodes, re-create the links of nodes that lost them and run
    the setup of those nodes and their link peers again (it is idempotent)."""
    running = attach(name, backend)
    with lab_lock(running.lab, "repair", progress=progress):
        return _repair(running, progress)


def _repair(running: Running, progress: Progress) -> RepairResult:
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
    order = sorted((n for n, t in troubles.items() if t.fault is not Fault.SERVICES_DOWN),
                   key=lambda node: -len(troubles[node].missing))
    to_setup: set[str] = set(result.started)   # a started container comes back without its setup and services
    for n, node in enumerate(order, 1):
        peers = backend.relink(plan, node)
        progress(Event("repair", f"{node}: {len(peers)} link(s) re-created", n, len(order)))
        if peers:
            result.repaired.append(node)
            to_setup |= {node, *(end.node for end in peers)}
    from .render.files import Renderer
    renderer = Renderer(plan) if to_setup else None
    for n, node in enumerate(sorted(to_setup), 1):
        if renderer is not None:  # a started container's /etc/hosts is the engine's again
            backend.set_hosts(plan.lab, node, renderer.node(plan.nodes[node])[contract.HOSTS_FILE])
        res = backend.exec(plan.lab, node, ["sh", contract.SETUP_SCRIPT])
        if not res.ok:
            raise BackendError(f"re-configuring {node}: {contract.SETUP_SCRIPT} failed (exit {res.exit_code}): "
                               f"{(res.stdout + res.stderr).strip()}")
        # a restarted container lost its supervisor; start it again
        backend.start_services(plan, [node])
        progress(Event("configure", f"configured {node}", n, len(to_setup)))
        result.reconfigured.append(node)
    for node, trouble in troubles.items():
        if trouble.fault is Fault.SERVICES_DOWN and node not in to_setup:
            progress(Event("repair", f"{node}: restarting its supervisor ({trouble})"))
            backend.restart_services(plan, [node])
            result.restarted.append(node)
    return result
