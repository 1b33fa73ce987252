"""Operating a running lab: the facade `lab status --wide/exec/shell/chat/ping/
routes/graph/capture/link/impair/logs` call. Nothing here prints; long steps report
through `orchestrator.progress` callbacks.

Operations that need the plan (interface names, addresses, links) get it
from `lab.attach`; those that only run something in a node need just the
lab's name.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import contract
from .capture import CaptureResult, Namer, follow_text, run_capture, tcpdump_argv
from .errors import BackendError, LabError, LabStateError, UsageError, unknown_hint
from .lab import attach, compile_path, locate, not_deployed
from .labels import LAB_FILE
from .locks import lab_lock
from .model import units
from .model.common import Impairment, ImpairmentFault
from .plan import Plan, PlanLink
from .progress import Progress, silent
from .verify import DEFAULT_WORKERS

if TYPE_CHECKING:
    from .backend.protocol import Backend, ExecResult, NodeState
    from .render.graph import Overlay
    from .verify.ping import PingResult
    from .verify.runner import Result

parse_duration_ms = units.parse_duration_ms
parse_percent = units.parse_percent
parse_rate_kbit = units.parse_rate_kbit

_CLI_FAULTS = {
    ImpairmentFault.NOTHING: "say what to do: --delay, --jitter, --loss and/or --rate (or --clear)",
    ImpairmentFault.JITTER_ALONE: "--jitter varies a delay: give --delay too (e.g. --delay 50ms --jitter 5ms)",
}


def make_impairment(delay: str | None = None, jitter: str | None = None,
                    loss: str | None = None, rate: str | None = None) -> Impairment:
    """`lab impair`'s options -> an Impairment (UsageError saying what is wrong)."""
    imp = Impairment(
        delay_ms=parse_duration_ms(delay, "--delay") if delay else 0.0,
        jitter_ms=parse_duration_ms(jitter, "--jitter") if jitter else 0.0,
        loss_pct=parse_percent(loss) if loss else 0.0,
        rate_kbit=parse_rate_kbit(rate) if rate else 0,
    )
    fault = imp.fault()
    if fault is not None:
        raise UsageError(_CLI_FAULTS[fault])
    return imp


def parse_end(text: str, what: str = "NODE:IFACE") -> tuple[str, str | None]:
    node, sep, iface = text.partition(":")
    if not node or (sep and not iface):
        raise UsageError(f"{text!r}: expected {what}, e.g. r1:eth0")
    return node, iface or None


# --- nodes ---------------------------------------------------------------------------
def node_state(backend: Backend, lab: str, node: str) -> NodeState:
    states = backend.nodes(lab)
    if not states:
        raise not_deployed(lab, backend)
    for st in states:
        if st.node == node:
            return st
    raise LabStateError(f"lab '{lab}' has no node '{node}' (its nodes: {', '.join(s.node for s in states)})")


def exec_in(name: str, node: str, argv: list[str], backend: Backend | None = None) -> ExecResult:
    lab, backend = locate(name, backend)
    return backend.exec(lab, node, argv)


#: execs `exec_many` runs at once
EXEC_WORKERS = 16


@dataclass
class NodeExec:
    """What one node of `lab exec --all` said."""

    node: str
    exit_code: int | None     # None: the command did not run there (see error)
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # why it did not run (the node is stopped, say)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def select_nodes(lab: str, states: list[NodeState], nodes: list[str] | None = None,
                 kind: str | None = None) -> list[NodeState]:
    """The nodes of a lab that `--nodes a,b` and/or `--kind K` name (all when neither)."""
    chosen = states
    if nodes is not None:
        known = {s.node for s in states}
        for n in nodes:
            if n not in known:
                raise UsageError(f"lab '{lab}' has no node '{n}'; {unknown_hint(n, known, 'its nodes')}")
        wanted = set(nodes)
        chosen = [s for s in chosen if s.node in wanted]
    if kind is not None:
        chosen = [s for s in chosen if s.kind == kind]
        if not chosen:
            kinds = ", ".join(sorted({s.kind for s in states}))
            raise UsageError(f"lab '{lab}' has no {kind} {'of those nodes ' if nodes else ''}(its kinds: {kinds})")
    return chosen


def exec_many(name: str, argv: list[str], *, nodes: list[str] | None = None, kind: str | None = None,
              backend: Backend | None = None, workers: int = EXEC_WORKERS) -> list[NodeExec]:
    """Run argv in several nodes of a lab at once (every node, those named, or
    those of a kind); one result per node, in node order. A node that is not
    running gets a result with no exit code and the reason."""
    if not argv:
        raise UsageError("say what to run: lab exec NAME --all -- CMD ARGS...")
    lab, backend = locate(name, backend)
    states = backend.nodes(lab)
    if not states:
        raise not_deployed(lab, backend)
    chosen = select_nodes(lab, states, nodes, kind)

    def one(st: NodeState) -> NodeExec:
        if not st.running:
            return NodeExec(st.node, None, error=f"{st.node} is {st.state}, not running "
                                                 f"(start it again with: lab repair {lab})")
        try:
            res = backend.exec(lab, st.node, argv)
        except LabError as exc:
            return NodeExec(st.node, None, error=str(exc))
        return NodeExec(st.node, res.exit_code, res.stdout, res.stderr)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
        return list(pool.map(one, chosen))


def shell_argv(name: str, node: str, argv: list[str] | None = None, backend: Backend | None = None) -> list[str]:
    lab, backend = locate(name, backend)
    return backend.interactive_argv(lab, node, argv or ["bash", "-l"])


def routes_argv(what: str, as_json: bool) -> list[str]:
    """The routing daemon's inspection client: routes, neighbors, lsdb or stats."""
    return [*contract.ROUTING_CLI_ARGV, what, *(["--json"] if as_json else [])]


#: the node's main routing table as JSON (iproute2 in the node image)
KERNEL_ROUTES_ARGV = ["ip", "-j", "route", "show"]


@dataclass
class RoutesAnswer:
    """`lab routes NAME NODE [WHAT]`: the routing daemon's answer, or, on a node
    that runs none (or whose daemon does not answer), the node's kernel routes."""

    lab: str
    node: str
    routing: str               # the lab's routing: static, computed or dynamic
    what: str                  # routes, neighbors, lsdb, stats
    source: str                # "daemon" or "kernel"
    text: str = ""             # the daemon's answer, or the kernel routes as `ip route` lines
    data: Any = None           # the daemon's JSON answer (as_json), or the kernel routes (ip -j route)
    note: str = ""             # kernel: why these are shown


def kernel_route_line(route: dict[str, Any]) -> str:
    """One route of `ip -j route` as `ip route` prints it."""
    words = [str(route.get("dst", "?"))]
    for key, word in (("gateway", "via"), ("dev", "dev"), ("protocol", "proto"), ("scope", "scope"),
                      ("prefsrc", "src"), ("metric", "metric")):
        if route.get(key) not in (None, ""):
            words += [word, str(route[key])]
    return " ".join(words)


def routes(name: str, node: str, what: str = "routes", as_json: bool = False,
           backend: Backend | None = None) -> RoutesAnswer:
    """Ask a router's routing daemon (routes, neighbors, lsdb, stats); on a node
    with no daemon, or whose daemon does not answer, the routes of its kernel."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    if node not in plan.nodes:
        raise UsageError(f"lab '{plan.lab}' has no node '{node}'; {unknown_hint(node, plan.nodes, 'its nodes')}")
    planned = plan.nodes[node]
    answer = RoutesAnswer(plan.lab, node, plan.routing, what, "kernel")
    if planned.daemon is not None:
        res = backend.exec(plan.lab, node, routes_argv(what, as_json))
        if res.ok:
            answer.source, answer.text = "daemon", res.stdout
            if as_json:
                try:
                    answer.data = json.loads(res.stdout)
                except ValueError:
                    raise BackendError(f"the routing daemon of {node} answered no JSON: "
                                       f"{res.stdout.strip()[:200]}") from None
            return answer
        why = (res.stderr or res.stdout).strip().splitlines()
        reason = why[-1] if why else f"exit {res.exit_code}"
        if what != "routes":
            raise LabStateError(f"the routing daemon of {node} does not answer ({reason}); "
                                f"its log: lab logs {plan.lab} {node} {contract.ROUTING_SERVICE}")
        answer.note = f"the routing daemon of {node} does not answer ({reason}); {node}'s kernel routes:"
    elif what != "routes":
        raise UsageError(f"{node} runs no routing daemon (this lab uses routing: {plan.routing}), so it has "
                         f"no {what} to show; 'lab routes {plan.lab} {node}' shows its kernel routes")
    else:
        daemonless = f" ({node} is a {planned.kind}: it runs no routing daemon)" if plan.routing == "dynamic" else ""
        answer.note = f"this lab uses routing: {plan.routing}{daemonless}; {node}'s routes:"
    res = backend.exec(plan.lab, node, KERNEL_ROUTES_ARGV)
    try:
        found = json.loads(res.stdout) if res.ok else None
    except ValueError:
        found = None
    if not isinstance(found, list):
        raise BackendError(f"reading the routes of {node} failed (ip route, exit {res.exit_code}): "
                           f"{(res.stderr or res.stdout).strip()[:200]}")
    answer.data = found
    answer.text = "".join(kernel_route_line(r) + "\n" for r in found if isinstance(r, dict))
    return answer


@dataclass
class StackAnswer:
    """`lab stack NAME NODE [WHAT]`: what a host's user-space stack says of itself."""

    lab: str
    node: str
    what: str                  # arp, sockets, stats or all
    text: str = ""             # its tables
    data: Any = None           # its JSON answer (as_json)


def stack(name: str, node: str, what: str = "all", as_json: bool = False,
          backend: Backend | None = None) -> StackAnswer:
    """Ask the user-space stack of a `stack: user` host for its ARP cache, its
    sockets (TCP states, cwnd, srtt, retransmissions) and its counters."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    if node not in plan.nodes:
        raise UsageError(f"lab '{plan.lab}' has no node '{node}'; {unknown_hint(node, plan.nodes, 'its nodes')}")
    if plan.nodes[node].stack is None:
        users = [n.name for n in plan.nodes.values() if n.stack is not None]
        names = ", ".join(users[:-1]) + f" and {users[-1]}" if len(users) > 1 else "".join(users)
        where = (f" ({names} {'runs' if len(users) == 1 else 'run'} ours)" if users
                 else " (no node of this lab does: a host runs it with 'stack: user')")
        raise UsageError(f"{node} uses the kernel's TCP/IP stack, not ours{where}; "
                         f"for the kernel's sockets: lab exec {plan.lab} {node} -- ss -tuani")
    res = backend.exec(plan.lab, node, [*contract.STACK_CLI_ARGV, what, *(["--json"] if as_json else [])])
    if not res.ok:
        why = (res.stderr or res.stdout).strip().splitlines()
        raise LabStateError(f"the user-space stack of {node} does not answer ({why[-1] if why else res.exit_code}); "
                            f"its log: lab logs {plan.lab} {node} {contract.STACK_SERVICE}")
    answer = StackAnswer(plan.lab, node, what, text=res.stdout)
    if as_json:
        try:
            answer.data = json.loads(res.stdout)
        except ValueError:
            raise BackendError(f"the user-space stack of {node} answered no JSON: {res.stdout.strip()[:200]}") from None
    return answer


@dataclass
class Neighbour:
    """One entry of a node's neighbour (ARP, NDP) table, with the lab's names."""

    address: str
    dev: str
    mac: str | None            # None while it is being resolved (INCOMPLETE) or failed
    state: str                 # REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP
    node: str | None           # the lab's node with that address (or, leased, with that MAC)
    mac_of: str | None         # node:iface whose MAC it is
    note: str = ""             # the MAC is not the one the plan gives that address


MAX_NEIGHBOURS = 65536


def neigh(name: str, node: str, backend: Backend | None = None) -> list[Neighbour]:
    """NODE's neighbour table (`ip neigh`): each address it has resolved on its
    links, with the MAC it learnt, named from the plan; an entry whose MAC is
    not the plan's for that address says so."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    if node not in plan.nodes:
        raise UsageError(f"lab '{plan.lab}' has no node '{node}'; {unknown_hint(node, plan.nodes, 'its nodes')}")
    if plan.nodes[node].kind == "switch":
        raise UsageError(f"{node} is a switch: it learns MACs per port, not neighbours "
                         f"(lab exec {plan.lab} {node} -- bridge fdb show br0)")
    res = backend.exec(plan.lab, node, ["ip", "-j", "neigh", "show"])
    if not res.ok:
        raise LabStateError(f"{node}'s neighbour table cannot be read: {(res.stderr or res.stdout).strip()[:200]}")
    try:
        table = json.loads(res.stdout or "[]")
        if not isinstance(table, list):
            raise ValueError("not a list")
    except ValueError as exc:
        raise BackendError(f"ip -j neigh in {node} gave no JSON ({exc}): {res.stdout.strip()[:200]}") from None
    owners = plan.owners()
    macs = {i.mac: (n.name, i.name) for n in plan.nodes.values() for i in n.interfaces}
    mac_of_address = {i.address.split("/")[0]: i.mac for n in plan.nodes.values() for i in n.interfaces
                      if i.address}
    rows = []
    for entry in table[:MAX_NEIGHBOURS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("dst"), str):
            continue
        address, mac = entry["dst"], entry.get("lladdr")
        mac = mac.lower() if isinstance(mac, str) else None
        given = entry.get("state")
        states: list[Any] = given if isinstance(given, list) else []
        owner = macs.get(mac) if mac else None
        named = owners.get(address, (None, None))[0] or (owner[0] if owner else None)
        note = ""
        if mac and address in mac_of_address and mac != mac_of_address[address]:
            want = owners[address]
            note = f"the plan gives {address} to {want[0]}:{want[1]}, whose MAC is {mac_of_address[address]}"
        rows.append(Neighbour(address, str(entry.get("dev", "")), mac, ",".join(map(str, states)) or "-", named,
                              f"{owner[0]}:{owner[1]}" if owner else None, note))
    return sorted(rows, key=lambda r: (r.dev, _sort_key(r.address)))


def _sort_key(address: str) -> tuple[int, ...]:
    try:
        return (0, int(ipaddress.ip_address(address)))
    except ValueError:
        return (1, 0)


@dataclass
class Lease:
    """One row of a dhcp server's lease table, with the lab's name for the MAC."""

    server: str
    address: str
    mac: str
    node: str | None           # the lab's node with that MAC (None: not one of the plan's)
    hostname: str | None       # what the client called itself
    state: str                 # offered, bound, released, declined, expired
    expires_in: int            # seconds (negative once past)


def leases(name: str, node: str | None = None, backend: Backend | None = None) -> list[Lease]:
    """The lease tables of the lab's dhcp servers (or of `node`'s), as they saved them."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    servers = [n.name for n in plan.nodes.values() if n.dhcp is not None]
    if node is not None:
        if node not in plan.nodes:
            raise UsageError(f"lab '{plan.lab}' has no node '{node}'; {unknown_hint(node, plan.nodes, 'its nodes')}")
        if node not in servers:
            which = f" (its servers: {', '.join(servers)})" if servers else ""
            raise UsageError(f"{node} runs no dhcp service{which}")
        servers = [node]
    if not servers:
        raise UsageError(f"lab '{plan.lab}' runs no dhcp service (a node gets one with "
                         "'services: [{type: dhcp, pools: [...]}]')")
    macs = {i.mac: n.name for n in plan.nodes.values() for i in n.interfaces}
    rows: list[Lease] = []
    for server in servers:
        res = backend.exec(plan.lab, server, [*contract.DHCP_LEASES_ARGV, "--file", contract.DHCP_LEASES])
        if not res.ok:
            why = (res.stderr or res.stdout).strip().splitlines()
            raise LabStateError(f"the lease table of {server} cannot be read ({why[-1] if why else res.exit_code}); "
                                f"its server's log: lab logs {plan.lab} {server} dhcp")
        try:
            table = json.loads(res.stdout)
            rows += [Lease(server, str(r["address"]), str(r["mac"]), macs.get(str(r["mac"])), r.get("hostname"),
                           str(r["state"]), int(r["expires_in"])) for r in table]
        except (ValueError, TypeError, KeyError) as exc:
            raise BackendError(f"the lease table of {server} is not what it should be ({exc}): "
                               f"{res.stdout.strip()[:200]}") from None
    return rows


def chat_argv(name: str, node: str, nick: str | None = None, server: str | None = None,
              backend: Backend | None = None) -> list[str]:
    """The command line that opens the chat client in `node`'s terminal,
    connected to the lab's chat server (or the one on node `server`); with no
    nick, the client's own default: the node's host name."""
    running = attach(name, backend)
    plan = running.plan
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
    return running.backend.interactive_argv(plan.lab, node, [*contract.CHAT_CLIENT_ARGV, host, "--port", str(port),
                                                             *(["--nick", nick] if nick else [])])


def ping_all(name: str, backend: Backend | None = None, progress: Progress = silent,
             family: int = 4) -> list[PingResult]:
    """`lab ping [-6] NAME`: every host pings every other (their IPv6 addresses with family 6)."""
    from .verify.ping import all_pairs_ping
    running = attach(name, backend)
    if family == 6 and not any(n.addresses6() for n in running.plan.nodes.values() if n.kind == "host"):
        raise UsageError(f"lab {running.lab} has no host with an IPv6 address (docs/ipv6.md: ipv6: true)")
    return all_pairs_ping(running.backend, running.plan, progress, family=family)


def run_lab_tests(name: str, backend: Backend | None = None, progress: Progress = silent,
                  workers: int = DEFAULT_WORKERS, checks_file: str | Path | None = None) -> list[Result]:
    """`lab test NAME|PATH`: the running lab's checks (its expect: section, its
    exercise's once dealt, or those of a checks file), run."""
    from .exercise import checks_of
    from .verify.runner import run_checks
    running = attach(name, backend)
    return run_checks(running.backend, running.plan, checks_of(running, checks_file), workers=workers,
                      progress=progress)


# --- graph ---------------------------------------------------------------------------
def _is_lab_path(target: str) -> bool:
    p = Path(target)
    return p.is_file() or (p.is_dir() and (p / LAB_FILE).is_file())


def live_overlay(plan: Plan, backend: Backend) -> Overlay:
    """Link end states and impairments read from the running nodes."""
    from .render.graph import Overlay
    overlay = Overlay()
    running = {st.node for st in backend.nodes(plan.lab) if st.running}
    for name, node in plan.nodes.items():
        present = {i.name: i.state for i in backend.interfaces(plan.lab, name)} if name in running else {}
        for iface in node.interfaces:
            overlay.states[(name, iface.name)] = present.get(iface.name, "missing")
        if name in running:
            for iface_name, imp in backend.impairments(plan.lab, name).items():
                overlay.impairments[(name, iface_name)] = imp.describe()
    return overlay


def graph(target: str, fmt: str = "svg", backend: Backend | None = None) -> str:
    """The drawing of a lab file (PATH) or of a running lab (NAME, with live
    link states). fmt: one of render.graph.FORMATS (svg, dot, mermaid, drawio)."""
    from .render import graph as graphing
    if fmt not in graphing.FORMATS:
        raise UsageError(f"unknown graph format {fmt!r} ({', '.join(graphing.FORMATS)})")
    overlay = None
    if _is_lab_path(target):
        plan = compile_path(target).result()
    else:
        running = attach(target, backend)
        plan, overlay = running.plan, live_overlay(running.plan, running.backend)
    return graphing.draw(plan, overlay, fmt)


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
        first = found[0].a.iface if found[0].a.node == na else found[0].b.iface
        raise UsageError(f"{na} and {nb} are joined by {len(found)} links ({choices}); "
                         f"name the interface, e.g. {na}:{first}")
    return found[0]


def set_link(name: str, a: str, b: str, up: bool, backend: Backend | None = None) -> PlanLink:
    """Set both ends of the link between A and B down (or up, and put back
    the planned routes through them: the kernel deletes the routes through an
    interface that is set down, and does not bring them back when it comes up)."""
    running = attach(name, backend)
    plan, backend = running.plan, running.backend
    link = find_link(plan, a, b)
    with lab_lock(plan.lab, "link"):
        for end in (link.a, link.b):
            backend.set_link_state(plan.lab, end.node, end.iface, up)
        if up:
            for end in (link.a, link.b):
                backend.replace_routes(plan.lab, end.node, end.iface, plan.nodes[end.node].routes_through(end.iface))
    return link


def node_iface(plan: Plan, spec: str) -> tuple[str, str]:
    """'r1:eth0' (or 'pc1', when it has one interface) -> (node, interface), checked."""
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


def impair(name: str, target: str, imp: Impairment, backend: Backend | None = None) -> tuple[str, str, str]:
    """Impair the packets leaving NODE:IFACE. Returns (node, iface, qdisc kind)."""
    fault = imp.fault()
    if fault is not None:
        raise UsageError(_CLI_FAULTS[fault])
    running = attach(name, backend)
    node, iface = node_iface(running.plan, target)
    with lab_lock(running.lab, "impair"):
        return node, iface, running.backend.impair(running.lab, node, iface, imp)


def clear(name: str, target: str, backend: Backend | None = None) -> tuple[str, str, bool]:
    running = attach(name, backend)
    node, iface = node_iface(running.plan, target)
    with lab_lock(running.lab, "impair"):
        return node, iface, running.backend.clear_impairment(running.lab, node, iface)


def impairments(name: str, backend: Backend | None = None) -> dict[tuple[str, str], Impairment]:
    """(node, iface) -> impairment, for every impaired interface of a running lab."""
    lab, backend = locate(name, backend)
    out = {}
    for st in backend.nodes(lab):
        if st.running:
            for iface, imp in backend.impairments(st.lab, st.node).items():
                out[(st.node, iface)] = imp
    return out


# --- capture -------------------------------------------------------------------------------
def capture(name: str, node: str, iface: str, *, pcap_out: BinaryIO | None = None,
            on_line: Callable[[str], None] | None = None, count: int | None = None,
            seconds: float | None = None, bpf: list[str] | None = None, link_level: bool = False,
            on_ready: Callable[[str], None] | None = None, names: bool = True,
            backend: Backend | None = None) -> CaptureResult:
    """tcpdump on NODE:IFACE (any interface of the node, br0 of a switch too);
    text lines get the lab's names after its addresses and MACs (names)."""
    lab, backend = locate(name, backend)
    st = node_state(backend, lab, node)
    if not st.running:
        raise LabStateError(f"node {node} of lab {lab} is {st.state}, not running "
                            f"(start it again with: lab repair {lab})")
    present = {i.name for i in backend.interfaces(lab, node)}
    if iface not in present and iface not in ("any", "lo"):
        raise UsageError(f"{node} has no interface '{iface}' (it has: {', '.join(sorted(present))}, lo, any)")
    if count is not None and count < 1:
        raise UsageError("-c/--count must be at least 1")
    if seconds is not None and seconds <= 0:
        raise UsageError("--seconds must be more than 0")
    if (pcap_out is None) == (on_line is None):
        raise UsageError("give exactly one of pcap_out and on_line")
    argv = tcpdump_argv(iface, pcap=pcap_out is not None, count=count, bpf=bpf or [], link_level=link_level)
    namer = None
    if names and on_line is not None:
        plan = attach(lab, backend).plan
        from .compile.addressing6 import link_local
        known = {a: n for a, (n, _) in plan.owners().items()}
        known.update((link_local(i.mac), n.name) for n in plan.nodes.values() for i in n.interfaces if i.address6)
        namer = Namer(known, {i.mac: f"{n.name}:{i.name}" for n in plan.nodes.values() for i in n.interfaces})
    return run_capture(backend.stream(lab, node, argv), f"{node}:{iface}", pcap_out=pcap_out, on_line=on_line,
                       seconds=seconds, on_ready=on_ready, namer=namer)


# --- logs ----------------------------------------------------------------------------------
def list_logs(name: str, node: str, backend: Backend | None = None) -> list[tuple[str, int]]:
    """(service, size in bytes) for every log under the node's log folder."""
    res = exec_in(name, node, ["sh", "-c", f"cd {contract.LOG_DIR} 2>/dev/null && for f in *.log; do "
                                           '[ -f "$f" ] && echo "$(wc -c < "$f") $f"; done; true'], backend)
    out = []
    for line in res.stdout.splitlines():
        size, _, file = line.partition(" ")
        out.append((file.removesuffix(".log"), int(size)))
    return sorted(out)


def _log_files(name: str, node: str, service: str | None, backend: Backend) -> list[str]:
    available = [s for s, _ in list_logs(name, node, backend)]
    if not available:
        raise LabStateError(f"node {node} has no logs under {contract.LOG_DIR} (no service has run there)")
    if service is None:
        return [contract.log_file(s) for s in available]
    service = service.removesuffix(".log")
    if service not in available:
        raise UsageError(f"node {node} has no log for '{service}' (its logs: {', '.join(available)})")
    return [contract.log_file(service)]


def logs(name: str, node: str, service: str | None = None, *, follow: bool = False,
         on_text: Callable[[str], None], backend: Backend | None = None) -> None:
    """Send a service's log (all logs, with headers, if no service) to on_text;
    with follow, keep sending new lines until Ctrl-C."""
    lab, backend = locate(name, backend)
    files = _log_files(lab, node, service, backend)
    argv = ["tail", "-n", "+1", *(["-F"] if follow else []), *files]
    follow_text(backend.stream(lab, node, argv), on_text)


# --- status --wide --------------------------------------------------------------------------
