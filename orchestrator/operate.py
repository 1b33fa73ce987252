"""Operating a running lab: the facade `lab graph/capture/link/impair/logs/
repair/destroy --all` call. Nothing here prints; long steps report through
`orchestrator.progress` callbacks.

A running lab is re-planned from the lab file its containers point to
(`lab.running_plan`), so every operation knows the same interface names and
addresses the deploy used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from . import graph as graphing
from . import units
from .backend import linkops
from .backend.dockerengine import DockerBackend
from .backend.linkops import CaptureResult, Impairment
from .errors import LabStateError, UsageError
from .lab import default_backend, prepare, resolve_lab_name, running_plan
from .load import LAB_FILE
from .plan import Plan, PlanLink
from .progress import Event, Progress, silent

LOG_DIR = "/var/log/labnet"


# --- units ---------------------------------------------------------------------------
def _usage(fn):
    """The unit parsers of orchestrator.units, with UsageError for the CLI."""
    def wrapped(text: str, option: str | None = None):
        try:
            return fn(text, option) if option else fn(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    wrapped.__doc__ = fn.__doc__
    return wrapped


parse_duration_ms = _usage(units.parse_duration_ms)
parse_percent = _usage(units.parse_percent)
parse_rate_kbit = _usage(units.parse_rate_kbit)


def make_impairment(delay: str | None = None, jitter: str | None = None,
                    loss: str | None = None, rate: str | None = None) -> Impairment:
    imp = Impairment(
        delay_ms=parse_duration_ms(delay, "--delay") if delay else 0.0,
        jitter_ms=parse_duration_ms(jitter, "--jitter") if jitter else 0.0,
        loss_pct=parse_percent(loss) if loss else 0.0,
        rate_kbit=parse_rate_kbit(rate) if rate else 0,
    )
    if imp.is_empty():
        raise UsageError("say what to do: --delay, --jitter, --loss and/or --rate (or --clear)")
    if imp.jitter_ms and not imp.delay_ms:
        raise UsageError("--jitter varies a delay: give --delay too (e.g. --delay 50ms --jitter 5ms)")
    return imp


def parse_end(text: str, what: str = "NODE:IFACE") -> tuple[str, str | None]:
    node, sep, iface = text.partition(":")
    if not node or (sep and not iface):
        raise UsageError(f"{text!r}: expected {what}, e.g. r1:eth0")
    return node, iface or None


# --- graph ---------------------------------------------------------------------------
def _is_lab_path(target: str) -> bool:
    p = Path(target)
    return p.is_file() or (p.is_dir() and (p / LAB_FILE).is_file())


def live_overlay(plan: Plan, backend: DockerBackend) -> graphing.Overlay:
    """Link end states and impairments read from the running nodes."""
    overlay = graphing.Overlay()
    running = {st.node: st for st in backend.nodes(plan.lab) if st.state == "running"}
    for name, node in plan.nodes.items():
        st = running.get(name)
        present = {i.name: i.state for i in backend.interfaces(plan.lab, name)} if st else {}
        for iface in node.interfaces:
            overlay.states[(name, iface.name)] = present.get(iface.name, "missing")
        if st:
            for iface, imp in linkops.read_impairments(st.pid).items():
                overlay.impairments[(name, iface)] = imp.describe()
    return overlay


def graph(target: str, fmt: str = "svg", backend: DockerBackend | None = None) -> str:
    """The drawing of a lab file (PATH) or of a running lab (NAME, with live
    link states). fmt: 'svg', 'dot' or 'mermaid'."""
    if fmt not in ("svg", "dot", "mermaid"):
        raise UsageError(f"unknown graph format {fmt!r} (svg, dot or mermaid)")
    if _is_lab_path(target):
        plan, overlay = prepare(target).plan, None
    else:
        backend = backend or default_backend()
        plan = running_plan(target, backend)
        overlay = live_overlay(plan, backend)
    if fmt == "mermaid":
        return graphing.to_mermaid(plan, overlay)
    source = graphing.to_dot(plan, overlay)
    return source if fmt == "dot" else graphing.render_svg(source)


# --- links ---------------------------------------------------------------------------
def find_link(plan: Plan, a: str, b: str) -> PlanLink:
    """The link between node specs A and B ('r1' or 'r1:eth1')."""
    (na, ia), (nb, ib) = parse_end(a), parse_end(b)
    for n in (na, nb):
        if n not in plan.nodes:
            raise UsageError(f"lab {plan.lab} has no node '{n}' (its nodes: {', '.join(plan.nodes)})")
    found = []
    for link in plan.links:
        for x, y in ((link.a, link.b), (link.b, link.a)):
            if x.node == na and y.node == nb and ia in (None, x.iface) and ib in (None, y.iface):
                found.append(link)
                break
    if not found:
        neighbours = sorted({str(i.peer).split(":")[0] for i in plan.nodes[na].interfaces})
        raise UsageError(f"no link between {a} and {b} in lab {plan.lab} "
                         f"({na} is linked to: {', '.join(neighbours) or 'nothing'})")
    if len(found) > 1:
        choices = ", ".join(f"{lk.a}-{lk.b}" for lk in found)
        raise UsageError(f"{na} and {nb} are joined by {len(found)} links ({choices}); "
                         f"name the interface, e.g. {na}:{found[0].a.iface if found[0].a.node == na else found[0].b.iface}")
    return found[0]


def set_link(name: str, a: str, b: str, up: bool, backend: DockerBackend | None = None) -> PlanLink:
    """Set both ends of the link between A and B down (or up, and put back
    the planned routes through them, which the kernel dropped at down)."""
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    link = find_link(plan, a, b)
    for end in (link.a, link.b):
        linkops.set_link_state(backend, plan.lab, end.node, end.iface, up)
    if up:
        for end in (link.a, link.b):
            linkops.restore_routes(backend, plan, end.node, end.iface)
    return link


def _node_iface(plan: Plan, spec: str) -> tuple[str, str]:
    node, iface = parse_end(spec)
    if node not in plan.nodes:
        raise UsageError(f"lab {plan.lab} has no node '{node}' (its nodes: {', '.join(plan.nodes)})")
    names = [i.name for i in plan.nodes[node].interfaces]
    if iface is None:
        if len(names) != 1:
            raise UsageError(f"{node} has {len(names)} interfaces ({', '.join(names)}): "
                             f"say which, e.g. {node}:{names[0] if names else 'eth0'}")
        iface = names[0]
    elif iface not in names:
        raise UsageError(f"{node} has no interface '{iface}' (it has: {', '.join(names) or 'none'})")
    return node, iface


def impair(name: str, target: str, imp: Impairment, backend: DockerBackend | None = None) -> tuple[str, str, str]:
    """Impair the packets leaving NODE:IFACE. Returns (node, iface, qdisc kind)."""
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    node, iface = _node_iface(plan, target)
    return node, iface, linkops.impair(backend, plan.lab, node, iface, imp)


def clear(name: str, target: str, backend: DockerBackend | None = None) -> tuple[str, str, bool]:
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    node, iface = _node_iface(plan, target)
    return node, iface, linkops.clear_impairment(backend, plan.lab, node, iface)


def impairments(name: str, backend: DockerBackend | None = None) -> dict[tuple[str, str], Impairment]:
    """(node, iface) -> impairment, for every impaired interface of a running lab."""
    backend = backend or default_backend()
    out = {}
    for st in backend.nodes(resolve_lab_name(name)):
        if st.state == "running" and st.pid:
            for iface, imp in linkops.read_impairments(st.pid).items():
                out[(st.node, iface)] = imp
    return out


# --- capture -------------------------------------------------------------------------------
def capture(name: str, node: str, iface: str, *, pcap_out: BinaryIO | None = None,
            on_line: Callable[[str], None] | None = None, count: int | None = None,
            seconds: float | None = None, bpf: list[str] | None = None, link_level: bool = False,
            on_ready: Callable[[str], None] | None = None,
            backend: DockerBackend | None = None) -> CaptureResult:
    """tcpdump on NODE:IFACE (any interface of the node, br0 of a switch too)."""
    backend = backend or default_backend()
    lab = resolve_lab_name(name)
    present = linkops.interface_names(linkops.running_pid(backend, lab, node))
    if iface not in present and iface != "any":
        raise UsageError(f"{node} has no interface '{iface}' "
                         f"(it has: {', '.join(sorted(present - {'lo'}))}, lo, any)")
    if count is not None and count < 1:
        raise UsageError("-c/--count must be at least 1")
    if seconds is not None and seconds <= 0:
        raise UsageError("--seconds must be more than 0")
    return linkops.capture(backend, lab, node, iface, pcap_out=pcap_out, on_line=on_line,
                           count=count, seconds=seconds, bpf=bpf, link_level=link_level,
                           on_ready=on_ready)


# --- logs ----------------------------------------------------------------------------------
def list_logs(name: str, node: str, backend: DockerBackend | None = None) -> list[tuple[str, int]]:
    """(service, size in bytes) for every log under /var/log/labnet in the node."""
    backend = backend or default_backend()
    res = backend.exec(resolve_lab_name(name), node,
                       ["sh", "-c", f"cd {LOG_DIR} 2>/dev/null && for f in *.log; do "
                                    '[ -f "$f" ] && echo "$(wc -c < "$f") $f"; done; true'])
    out = []
    for line in res.stdout.splitlines():
        size, _, file = line.partition(" ")
        out.append((file[:-4], int(size)))
    return sorted(out)


def _log_files(name: str, node: str, service: str | None, backend: DockerBackend) -> list[str]:
    available = [s for s, _ in list_logs(name, node, backend)]
    if not available:
        raise LabStateError(f"node {node} has no logs under {LOG_DIR} (no service has run there)")
    if service is None:
        return [f"{LOG_DIR}/{s}.log" for s in available]
    service = service[:-4] if service.endswith(".log") else service
    if service not in available:
        raise UsageError(f"node {node} has no log for '{service}' (its logs: {', '.join(available)})")
    return [f"{LOG_DIR}/{service}.log"]


def logs(name: str, node: str, service: str | None = None, *, follow: bool = False,
         on_text: Callable[[str], None], backend: DockerBackend | None = None) -> None:
    """Send a service's log (all logs, with headers, if no service) to on_text;
    with follow, keep sending new lines until Ctrl-C."""
    backend = backend or default_backend()
    lab = resolve_lab_name(name)
    files = _log_files(lab, node, service, backend)
    argv = ["tail", "-n", "+1", *(["-F"] if follow else []), *files]
    proc = linkops.RemoteProcess(backend, lab, node, argv)
    chunks = proc.chunks()
    while True:
        try:
            item = next(chunks, StopIteration)
            if item is StopIteration:
                break
            if item is not None and item[0]:
                on_text(item[0].decode(errors="replace"))
        except KeyboardInterrupt:
            proc.stop()
            break


# --- repair ----------------------------------------------------------------------------
def needs_repair(name: str, backend: DockerBackend | None = None) -> dict[str, str]:
    """node -> why it needs `lab repair` (stopped, or planned interfaces missing
    after a restart). Nodes that are fine are left out."""
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    states = {st.node: st for st in backend.nodes(plan.lab)}
    out = {}
    for node in plan.nodes:
        st = states.get(node)
        if st is None:
            out[node] = "its container is gone (redeploy: lab deploy --force)"
        elif st.state != "running" or not st.pid:
            out[node] = f"container is {st.state}"
        else:
            missing = linkops.missing_interfaces(plan, node, linkops.interface_names(st.pid))
            if missing:
                out[node] = f"interfaces missing: {', '.join(missing)} (the node or its link peer was restarted)"
    return out


@dataclass
class RepairResult:
    repaired: list[str] = field(default_factory=list)       # nodes whose links were re-made
    reconfigured: list[str] = field(default_factory=list)   # nodes whose setup ran again
    started: list[str] = field(default_factory=list)        # stopped containers started


def repair(name: str, backend: DockerBackend | None = None, progress: Progress = silent) -> RepairResult:
    """Start stopped nodes, re-create the links of nodes that lost them (a
    restart gives a container a new namespace) and run the setup of those
    nodes and their link peers again."""
    backend = backend or default_backend()
    plan = running_plan(name, backend)
    broken = needs_repair(plan.lab, backend)
    gone = [n for n, why in broken.items() if why.startswith("its container is gone")]
    if gone:
        raise LabStateError(f"lab {plan.lab}: the containers of {', '.join(gone)} are gone; "
                            f"redeploy it with 'lab deploy --force {plan.source or plan.lab}'")
    result = RepairResult()
    for node, why in broken.items():
        if why.startswith("container is"):
            progress(Event("repair", f"starting {node} ({why})"))
            linkops.start_node(backend, plan.lab, node)
            result.started.append(node)
    if result.started:
        broken = needs_repair(plan.lab, backend)
    pids = {st.node: st.pid for st in backend.nodes(plan.lab)}
    # the restarted nodes (most interfaces missing) first: their peers then have nothing to do
    order = sorted(broken, key=lambda node: -len(linkops.missing_interfaces(
        plan, node, linkops.interface_names(pids[node]))))
    to_setup: set[str] = set()
    for n, node in enumerate(order, 1):
        peers = linkops.relink_node(backend, plan, node)
        progress(Event("repair", f"{node}: {len(peers)} link(s) re-created", n, len(broken)))
        if peers:
            result.repaired.append(node)
            to_setup |= {node, *(end.node for end in peers)}
    for n, node in enumerate(sorted(to_setup), 1):
        linkops.rerun_setup(backend, plan.lab, node)
        services = plan.nodes[node].services
        if services:  # a restarted container lost its supervisor; start it again
            container = backend.client.containers.get(plan.nodes[node].container)
            backend.start_services(container, [s.name for s in services if s.type != "command"])
        progress(Event("configure", f"configured {node}", n, len(to_setup)))
        result.reconfigured.append(node)
    return result


# --- every lab -------------------------------------------------------------------------------
def destroy_all(backend: DockerBackend | None = None, progress: Progress = silent) -> dict[str, int]:
    """Remove every lab of this project on the engine (found by label, nothing
    else is touched). Returns lab -> containers removed."""
    backend = backend or default_backend()
    removed = {}
    for summary in backend.list_labs():
        progress(Event("destroy", f"removing lab {summary.name}"))
        removed[summary.name] = backend.destroy(summary.name, progress)
    return removed
