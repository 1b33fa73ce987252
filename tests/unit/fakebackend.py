"""An in-memory Backend: deploy clean-up, repair and the test runner without an engine.

It keeps containers (found by their labels, like the Docker backend), each
node's interfaces (made by wire_links from plan.links), impairments, routes,
the files configure wrote, and a log of calls; it reports progress Events as
the real backend does. Tests steer it with a few readable knobs:

    fake = FakeBackend()
    fake.load(plan)                                       # a lab deployed at once (no files)
    fake.fail("wire", BackendError("no veth"), after=3)   # the 4th link fails
    fake.fail("create", KeyboardInterrupt())              # Ctrl-C while creating
    fake.fail("destroy", BackendError("hung"), times=1)   # the next destroy fails, later ones work
    fake.probe = lambda node, argv: {"ok": True, ...}     # what a probe answers (argv: ping ADDR ...)
    fake.probe = answers(LOST, LOST, OK)                  # ... in turn, the last one from then on
    fake.exec_handlers.append(fn)                         # fn(node, argv) -> ExecResult, or None: not mine
    fake.restart(lab, "r1"); fake.stop(lab, "r1"); fake.remove(lab, "r1")

Failure steps are the deploy stages ("create", "wire", "configure",
"impair", "destroy": checked before each node, link or call of the stage)
and the other methods by name ("exec", "relink", "start_node", ...); any
callable taking the item's name can be put in `fake.hooks[step]` too.
Probes answer both ways the runner asks: one `python3 -m labnode.probe`
call, or a batch (`python3 -c SCRIPT JOBS`, one JSON list of
[code, result, seconds] back). `grep -rhF TEXT PATH` reads the node's files
(see `write`), and the setup script does to the interfaces and routes what
the real one does.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator import PROJECT, contract
from orchestrator.backend.protocol import ExecResult, ImageInfo, InterfaceState, LabSummary, NodeState, not_deployed
from orchestrator.errors import BackendError, EngineUnavailable, ImageError, LabStateError
from orchestrator.labels import LABEL_KIND, LABEL_LAB, LABEL_NODE, LABEL_PROJECT, LABEL_SOURCE, node_labels
from orchestrator.plan import PlanNode
from orchestrator.progress import Event, Progress

if TYPE_CHECKING:
    from orchestrator.backend.protocol import Backend
    from orchestrator.contract import NodeFiles
    from orchestrator.model.specs import Impairment
    from orchestrator.plan import Plan, PlanEnd, PlanLink, PlanRoute

#: what a probe answers: a result dict (exit code from its "ok"), or (exit code, dict)
ProbeAnswer = dict[str, Any] | tuple[int, dict[str, Any]]
ProbeHandler = Callable[[str, list[str]], ProbeAnswer]
#: an exec handler: an ExecResult for the commands it knows, None for the others
ExecHandler = Callable[[str, list[str]], ExecResult | None]

IMAGE = "labnet/node:fake"
_pids = itertools.count(1000)


@dataclass
class FakeInterface:
    name: str
    mac: str = "02:00:00:00:00:00"
    up: bool = True
    addresses: list[str] = field(default_factory=list)
    master: str | None = None

    def state(self) -> InterfaceState:
        return InterfaceState(self.name, "up" if self.up else "down", self.mac, list(self.addresses),
                              self.master, "UP" if self.up else "DOWN")


@dataclass
class FakeContainer:
    """One container: a lab's node when it carries our labels, a bystander otherwise."""

    name: str
    labels: dict[str, str]
    image: str = IMAGE
    state: str = "running"
    pid: int = field(default_factory=lambda: next(_pids))
    interfaces: dict[str, FakeInterface] = field(default_factory=dict)
    impairments: dict[str, Impairment] = field(default_factory=dict)
    routes: dict[str, dict[str, str]] = field(default_factory=dict)    # iface -> {to: via}, as the kernel has them
    files: dict[str, str] = field(default_factory=dict)                # path -> content
    setup_runs: int = 0
    supervisor: bool = False                                           # its services run
    service_starts: int = 0                                            # how often its supervisor was started
    service_states: dict[str, str] = field(default_factory=dict)       # a service's state other than running
    folders: dict[str, str] = field(default_factory=dict)              # served folder in the node -> from

    @property
    def lab(self) -> str:
        return self.labels.get(LABEL_LAB, "")

    @property
    def node(self) -> str:
        return self.labels.get(LABEL_NODE, "")

    @property
    def ours(self) -> bool:
        return self.labels.get(LABEL_PROJECT) == PROJECT

    @property
    def running(self) -> bool:
        return self.state == "running"

    def lose_network(self) -> None:
        """What a stop or restart does: a new namespace, no veths, no qdiscs, no supervisor."""
        self.interfaces.clear()
        self.impairments.clear()
        self.routes.clear()
        self.supervisor = False


@dataclass
class _Failure:
    exc: BaseException
    after: int      # items of the step that pass first
    times: int | None
    seen: int = 0

    def __call__(self, item: str) -> None:
        self.seen += 1
        if self.seen > self.after and (self.times is None or self.times > 0):
            if self.times is not None:
                self.times -= 1
            raise self.exc


class FakeStream:
    """A program's output, given in advance (implements protocol.Stream)."""

    def __init__(self, chunks: list[bytes] | None = None, code: int = 0):
        self._chunks = list(chunks or [])
        self._code = code
        self.signals: list[str] = []

    def chunks(self, poll_s: float = 0.2) -> Iterator[tuple[bytes, bytes] | None]:
        while self._chunks and not self.signals:
            yield self._chunks.pop(0), b""

    def stop(self, signal: str = "INT") -> None:
        self.signals.append(signal)

    def exit_code(self) -> int | None:
        return self._code


def no_probe(node: str, argv: list[str]) -> ProbeAnswer:
    """The default probe answer: nothing was scripted, so nothing answers."""
    return {"probe": argv[0], "ok": False, "error": "the fake has no answer scripted"}


def answers(*seq: ProbeAnswer) -> ProbeHandler:
    """A probe handler giving these answers in turn, the last one for ever after."""
    lock = threading.Lock()
    left = list(seq)

    def handler(node: str, argv: list[str]) -> ProbeAnswer:
        with lock:
            return left.pop(0) if len(left) > 1 else left[0]
    return handler


class FakeBackend:
    """The Backend protocol in memory (see the module's docstring)."""

    def __init__(self, labs: Mapping[str, int] | None = None, *,
                 fail_at: Mapping[str, BaseException] | None = None, engine_up: bool = True):
        """labs: lab name -> number of nodes already deployed (nodes n1, n2, ...)."""
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, str]] = []        # (method, what): the log of every call
        self.execs: list[tuple[str, list[str]]] = []  # (node, argv) of every exec
        self.destroyed: list[str] = []                # the lab of every destroy call
        self.images: set[str] = {IMAGE}               # what is on the fake engine
        self.image_infos: list[ImageInfo] = []        # what list_images answers (prune_images removes)
        self.hooks: dict[str, Callable[[str], None]] = {}
        self.exec_handlers: list[ExecHandler] = []
        self.probe: ProbeHandler = no_probe
        self.probe_seconds = 0.01                     # what the batch runner reports per probe
        self.batch_works = True                       # False: the image's probe cannot run batches
        self.on_stream: Callable[[str, list[str]], FakeStream] = lambda node, argv: FakeStream()
        self.engine_up = engine_up
        self.report_destroy = True                    # False: destroy sends no progress Events
        self._lock = threading.RLock()
        self._probes: list[tuple[str, list[str]]] = []
        self.plans: dict[str, Plan] = {}              # lab -> its plan, for what the setup script does
        self.records: dict[str, bytes] = {}           # lab -> its stored record
        #: (lab, node, iface) -> the other end of its veth
        self._peers: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        for step, exc in (fail_at or {}).items():
            self.fail(step, exc)
        for lab, count in (labs or {}).items():
            for n in range(1, count + 1):
                self.add_container(f"{PROJECT}-{lab}-n{n}", node_labels(lab, f"n{n}", "host", None))

    # --- what tests use to set the scene ----------------------------------------------
    def fail(self, step: str, exc: BaseException, after: int = 0, times: int | None = None) -> None:
        """Raise exc at `step` once `after` of its items have passed (`times` times; None: always)."""
        self.hooks[step] = _Failure(exc, after, times)

    def heal(self) -> None:
        """No more injected failures."""
        self.hooks.clear()

    def add_container(self, name: str, labels: dict[str, str], state: str = "running") -> FakeContainer:
        c = FakeContainer(name, dict(labels), state=state, pid=next(_pids) if state == "running" else 0)
        self.containers[name] = c
        return c

    def load(self, plan: Plan) -> None:
        """The plan deployed at once (no rendered files): for tests of what runs on a lab."""
        self.create_nodes(plan, _quiet)
        self.wire_links(plan, _quiet)
        self.configure(plan, {}, _quiet)

    def node(self, lab: str, node: str) -> FakeContainer:
        return self._find(lab, node)

    def restart(self, lab: str, node: str) -> None:
        """`docker restart`: a new pid and namespace; its links are gone, on both ends."""
        with self._lock:
            c = self._find(lab, node)
            self._cut_links(c)
            c.lose_network()
            c.pid, c.state = next(_pids), "running"

    def stop(self, lab: str, node: str) -> None:
        """`docker stop`: exited, pid 0; its links are gone, on both ends."""
        with self._lock:
            c = self._find(lab, node)
            self._cut_links(c)
            c.lose_network()
            c.pid, c.state = 0, "exited"

    def remove(self, lab: str, node: str) -> None:
        """`docker rm -f` behind the lab's back: the container is gone."""
        with self._lock:
            c = self._find(lab, node)
            self._cut_links(c)
            del self.containers[c.name]

    def write(self, lab: str, node: str, path: str, text: str) -> None:
        """Add text to a file in a node (an access log, say)."""
        with self._lock:
            c = self._find(lab, node)
            c.files[path] = c.files.get(path, "") + text

    def probe_calls(self, kind: str | None = None) -> list[tuple[str, list[str]]]:
        """(node, probe argv) of every probe run, through the CLI or in a batch."""
        with self._lock:
            return [(n, a) for n, a in self._probes if kind is None or a[0] == kind]

    def called(self, method: str) -> list[str]:
        """What each call of `method` was about, in order."""
        with self._lock:
            return [what for m, what in self.calls if m == method]

    # --- internals ------------------------------------------------------------------------
    def _log(self, method: str, what: str = "") -> None:
        with self._lock:
            self.calls.append((method, what))

    def _step(self, step: str, item: str) -> None:
        with self._lock:
            hook = self.hooks.get(step)
            if hook is not None:
                hook(item)

    def _ours(self, lab: str | None = None) -> list[FakeContainer]:
        return [c for c in self.containers.values() if c.ours and (lab is None or c.lab == lab)]

    def _find(self, lab: str, node: str) -> FakeContainer:
        mine = self._ours(lab)
        for c in mine:
            if c.node == node:
                return c
        if not mine:
            raise not_deployed(lab, {c.lab for c in self._ours()} | set(self.records))
        raise LabStateError(f"lab '{lab}' has no node '{node}' (its nodes: {', '.join(sorted(c.node for c in mine))})")

    def _running(self, lab: str, node: str) -> FakeContainer:
        c = self._find(lab, node)
        if not c.running:
            raise LabStateError(f"node {node} of lab {lab} is {c.state}, not running "
                                f"(start it again with: lab repair {lab})")
        return c

    def _drop_end(self, c: FakeContainer, iface: str) -> None:
        """One end of a veth deleted: the other end goes with it."""
        c.interfaces.pop(iface, None)
        c.impairments.pop(iface, None)
        c.routes.pop(iface, None)
        peer = self._peers.pop((c.lab, c.node, iface), None)
        if peer is None:
            return
        self._peers.pop(peer, None)
        for other in self._ours(c.lab):
            if other.node == peer[1]:
                self._drop_end(other, peer[2])

    def _cut_links(self, c: FakeContainer) -> None:
        """c's namespace is gone: so are its veths, on both ends."""
        for iface in list(c.interfaces):
            self._drop_end(c, iface)

    def _veth(self, plan: Plan, a: PlanEnd, b: PlanEnd) -> None:
        ca, cb = self._running(plan.lab, a.node), self._running(plan.lab, b.node)
        for c, end in ((ca, a), (cb, b)):
            if end.iface in c.interfaces:
                raise BackendError(f"creating veth {a.iface} <-> {b.iface}: File exists")
        for c, end, other in ((ca, a, b), (cb, b, a)):
            planned = plan.nodes[end.node].interface(end.iface)
            c.interfaces[end.iface] = FakeInterface(end.iface, planned.mac if planned else "02:00:00:00:00:00")
            self._peers[(plan.lab, end.node, end.iface)] = (plan.lab, other.node, other.iface)

    @property
    def labs(self) -> dict[str, dict[str, FakeContainer]]:
        """lab -> node -> container, for the labs of this project."""
        out: dict[str, dict[str, FakeContainer]] = {}
        for c in self._ours():
            out.setdefault(c.lab, {})[c.node] = c
        return out

    # --- the engine ---------------------------------------------------------------------
    def check(self) -> None:
        self._log("check")
        if not self.engine_up:
            raise EngineUnavailable("no Docker engine answers on this machine (the fake is down)")
        self._step("check", "")

    def has_image(self, image: str) -> bool:
        self._log("has_image", image)
        return image in self.images

    def list_images(self) -> list[ImageInfo]:
        self._log("list_images")
        with self._lock:
            return list(self.image_infos)

    def prune_images(self, progress: Progress) -> list[str]:
        """Removes the listed images that are not current and that no lab uses."""
        self._log("prune_images")
        with self._lock:
            stale = [i for i in self.image_infos if not i.current and not i.labs and not i.others]
            self.image_infos = [i for i in self.image_infos if i not in stale]
        removed = [t for i in stale for t in (i.tags or [i.id])]
        for name in removed:
            progress(Event("image", f"removed the old image {name}"))
        return removed

    def ensure_images(self, progress: Progress, force: bool = False) -> dict[str, str]:
        self._log("ensure_images", "force" if force else "")
        self._step("ensure_images", "")
        progress(Event("image", f"node image {IMAGE} is up to date"))
        return {"base": "labnet/base:fake", "node": IMAGE}

    # --- what exists ------------------------------------------------------------------------
    def list_labs(self) -> list[LabSummary]:
        self._log("list_labs")
        with self._lock:
            labs = self.labs
            names = sorted(set(labs) | set(self.records))
            return [LabSummary(name, len(labs.get(name, {})), sum(c.running for c in labs.get(name, {}).values()),
                               next((c.labels[LABEL_SOURCE] for c in labs.get(name, {}).values()
                                     if LABEL_SOURCE in c.labels), None))
                    for name in names]

    def nodes(self, lab: str) -> list[NodeState]:
        self._log("nodes", lab)
        with self._lock:
            return sorted((NodeState(lab=c.lab, node=c.node, kind=c.labels.get(LABEL_KIND, ""), container=c.name,
                                     state=c.state, pid=c.pid, image=c.image, source=c.labels.get(LABEL_SOURCE))
                           for c in self._ours(lab)), key=lambda s: s.node)

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        with self._lock:
            c = self._find(lab, node)
            return [i.state() for i in sorted(c.interfaces.values(), key=lambda i: i.name)] if c.running else []

    # --- deploy steps ---------------------------------------------------------------------------
    def create_nodes(self, plan: Plan, progress: Progress, nodes: list[str] | None = None) -> None:
        self._log("create_nodes", plan.lab if nodes is None else f"{plan.lab}: {' '.join(nodes)}")
        self.plans[plan.lab] = plan
        names = list(plan.nodes) if nodes is None else nodes
        total = len(names)
        missing = sorted({i for n in names if (i := plan.nodes[n].image) is not None} - self.images)
        if missing:
            raise ImageError(f"the image '{missing[0]}' is not on this engine (the fake never pulls)")
        for done, name in enumerate(names, 1):
            node = plan.nodes[name]
            self._step("create", name)
            with self._lock:
                if node.container in self.containers:
                    raise BackendError(f"starting node {name}: Conflict. The container name "
                                       f'"/{node.container}" is already in use')
                c = self.add_container(node.container, node.labels)
                c.image = node.image or IMAGE
            progress(Event("create", f"started {name}", done, total))

    def wire_links(self, plan: Plan, progress: Progress, links: list[PlanLink] | None = None) -> None:
        chosen = plan.links if links is None else links
        self._log("wire_links", plan.lab if links is None else f"{plan.lab}: {len(chosen)}")
        ends = {e.node for lk in chosen for e in (lk.a, lk.b)}
        with self._lock:
            for c in self._ours(plan.lab):
                if c.node in ends and not c.running:
                    raise BackendError(f"node {c.node} is {c.state}, not running")
        for n, link in enumerate(chosen, 1):
            self._step("wire", f"{link.a} <-> {link.b}")
            with self._lock:
                self._veth(plan, link.a, link.b)
            progress(Event("wire", f"{link.a} <-> {link.b}", n, len(chosen)))

    def remove_link_end(self, lab: str, node: str, iface: str) -> None:
        self._log("remove_link_end", f"{node}:{iface}")
        with self._lock:
            self._drop_end(self._running(lab, node), iface)

    def remove_nodes(self, lab: str, nodes: list[str], progress: Progress) -> None:
        self._log("remove_nodes", " ".join(nodes))
        for done, name in enumerate(nodes, 1):
            self._step("remove_nodes", name)
            with self._lock:
                for c in self._ours(lab):
                    if c.node == name:
                        self._cut_links(c)
                        del self.containers[c.name]
            progress(Event("destroy", f"removed {name}", done, len(nodes)))

    def _setup(self, plan: Plan, c: FakeContainer) -> None:
        """What the setup script does to the interfaces: addresses, bridge ports, up
        (for what the node's own node.json says, when it has one)."""
        if contract.NODE_FILE in c.files:
            data = json.loads(c.files[contract.NODE_FILE])
            for iface in data["interfaces"]:
                iface.setdefault("link", 0)  # node.json leaves the plan's link numbers out
            planned = PlanNode.model_validate(data)
        else:
            planned = plan.nodes[c.node]
        c.setup_runs += 1
        for i in planned.interfaces:
            if i.name in c.interfaces:
                got = c.interfaces[i.name]
                got.addresses = [i.address] if i.address else []
                got.master = planned.bridge
                got.up = True
        for r in planned.routes:
            if r.dev in c.interfaces:
                c.routes.setdefault(r.dev, {})[r.to] = r.via
        for group in planned.computed_routes:
            if group.dev in c.interfaces:
                c.routes.setdefault(group.dev, {}).update(dict.fromkeys(group.to, group.via))

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress,
                  nodes: list[str] | None = None) -> None:
        names = list(plan.nodes) if nodes is None else nodes
        self._log("configure", plan.lab if nodes is None else f"{plan.lab}: {' '.join(nodes)}")
        self.plans[plan.lab] = plan
        for done, name in enumerate(names, 1):
            self._step("configure", name)
            with self._lock:
                c = self._running(plan.lab, name)
                c.files.update(files.get(name, {}))
                self._setup(plan, c)
                c.supervisor = bool(plan.nodes[name].services)
                c.service_starts += c.supervisor
            progress(Event("configure", f"configured {name}", done, len(names)))
        self.wait_links(plan, names)

    def wait_links(self, plan: Plan, nodes: list[str]) -> None:
        self._log("wait_links", " ".join(nodes))
        with self._lock:
            missing = [f"{n}:{i.name}" for n in nodes for i in plan.nodes[n].interfaces
                       if i.name not in self._running(plan.lab, n).interfaces
                       or not self._running(plan.lab, n).interfaces[i.name].up]
        if missing:
            raise BackendError(f"interfaces did not come up within 5 s: {', '.join(missing[:5])}")

    def put_files(self, lab: str, node: str, files: NodeFiles) -> None:
        self._log("put_files", f"{node}: {' '.join(sorted(files))}")
        with self._lock:
            self._running(lab, node).files.update(files)

    def set_hosts(self, lab: str, node: str, text: str) -> None:
        self._log("set_hosts", node)
        with self._lock:
            self._running(lab, node).files["/etc/hosts"] = text

    def put_folder(self, lab: str, node: str, source: str, dest: str) -> None:
        self._log("put_folder", f"{node}: {source} -> {dest}")
        with self._lock:
            self._running(lab, node).folders[dest] = source

    def start_services(self, plan: Plan, nodes: list[str]) -> None:
        for name in nodes:
            self._log("start_services", name)
            self._step("start_services", name)
            if plan.nodes[name].services:
                with self._lock:
                    c = self._running(plan.lab, name)
                    if not c.supervisor:
                        c.supervisor = True
                        c.service_starts += 1

    def restart_services(self, plan: Plan, nodes: list[str]) -> None:
        for name in nodes:
            self._log("restart_services", name)
            with self._lock:
                c = self._running(plan.lab, name)
                c.supervisor = bool(plan.nodes[name].services)
                c.service_starts += c.supervisor

    def destroy(self, lab: str, progress: Progress) -> int:
        self._log("destroy", lab)
        self.destroyed.append(lab)
        with self._lock:
            listed = sorted(self._ours(lab), key=lambda c: c.node)
        for done, c in enumerate(listed, 1):
            self._step("destroy", c.node)
            with self._lock:
                self._cut_links(c)
                self.containers.pop(c.name, None)
            if self.report_destroy:
                progress(Event("destroy", f"removed {c.node}", done, len(listed)))
        with self._lock:
            self.records.pop(lab, None)
        return len(listed)

    # --- the lab's record -------------------------------------------------------------
    def save_record(self, lab: str, record: bytes) -> None:
        self._log("save_record", lab)
        self._step("save_record", lab)
        with self._lock:
            self.records[lab] = record

    def load_record(self, lab: str) -> bytes | None:
        self._log("load_record", lab)
        with self._lock:
            return self.records.get(lab)

    # --- a running lab ---------------------------------------------------------------------------
    def probe_netns(self, state: NodeState) -> str | None:
        return None     # fake nodes have no namespace: their probes go through exec

    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult:
        self._log("exec", f"{node}: {' '.join(argv[:3])}")
        with self._lock:
            c = self._running(lab, node)
            self.execs.append((node, list(argv)))
        self._step("exec", node)
        for handler in self.exec_handlers:
            res = handler(node, argv)
            if res is not None:
                return res
        if argv == ["sh", contract.SETUP_SCRIPT]:
            with self._lock:
                if lab in self.plans:
                    self._setup(self.plans[lab], c)
                else:
                    c.setup_runs += 1
            return ExecResult(0, "", "")
        if argv[:len(contract.PROBE_ARGV)] == contract.PROBE_ARGV:
            code, data = self._probe(node, argv[len(contract.PROBE_ARGV):])
            return ExecResult(code, json.dumps(data) + "\n", "")
        if argv[:2] == [contract.PYTHON, "-c"] and len(argv) == 4 and "labnode.probe" in argv[2]:
            return self._batch(node, json.loads(argv[3]))
        if argv[:2] == ["grep", "-rhF"]:
            return self._grep(c, argv[2], argv[3])
        if argv == contract.HEALTH_ARGV:
            with self._lock:
                return self._health(c)
        if argv[:2] == ["sh", "-c"]:
            with self._lock:
                self._script(c, argv[2])
        return ExecResult(0, "", "")

    def _health(self, c: FakeContainer) -> ExecResult:
        """What the node's supervisor would say: alive with its services running, or dead."""
        plan = self.plans.get(c.lab)
        names = [s.name for s in plan.nodes[c.node].services] if plan and c.node in plan.nodes else []
        if not c.supervisor:
            return ExecResult(0, "dead\n", "")
        status = {"state": "running",
                  "services": {n: {"state": c.service_states.get(n, "running")} for n in names}}
        return ExecResult(0, "alive\n" + json.dumps(status) + "\n", "")

    @staticmethod
    def _script(c: FakeContainer, script: str) -> None:
        """What reconcile's clean-up lines do: addresses and routes deleted, rules flushed."""
        for line in script.splitlines():
            words = line.split()
            if words[:3] == ["ip", "addr", "del"] and len(words) >= 6 and words[5] in c.interfaces:
                iface = c.interfaces[words[5]]
                iface.addresses = [a for a in iface.addresses if a != words[3]]
            elif words[:3] == ["ip", "route", "del"] and len(words) >= 4:
                to = "default" if words[3] == "0.0.0.0/0" else words[3]
                for routes in c.routes.values():
                    routes.pop(to, None)
            elif words[:3] == ["nft", "flush", "ruleset"]:
                c.files.pop(contract.NFT_RULESET, None)

    def _probe(self, node: str, argv: list[str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._probes.append((node, list(argv)))
        got = self.probe(node, argv)
        if isinstance(got, tuple):
            return got
        return (0 if got.get("ok") else 1), got

    def _batch(self, node: str, jobs: list[list[str]]) -> ExecResult:
        if not self.batch_works:
            return ExecResult(1, "", "ModuleNotFoundError: No module named 'labnode.probe.__main__'\n")
        out = [[*self._probe(node, job), self.probe_seconds] for job in jobs]
        return ExecResult(0, json.dumps(out) + "\n", "")

    def _grep(self, c: FakeContainer, text: str, where: str) -> ExecResult:
        with self._lock:
            files = {p: t for p, t in c.files.items() if p == where or p.startswith(where.rstrip("/") + "/")}
        if not files:
            return ExecResult(2, "", f"grep: {where}: No such file or directory\n")
        lines = [ln for t in files.values() for ln in t.splitlines() if text in ln]
        return ExecResult(0 if lines else 1, "".join(ln + "\n" for ln in lines), "")

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        return ["fake-exec", "-it", self._find(lab, node).name, *argv]

    def stream(self, lab: str, node: str, argv: list[str]) -> FakeStream:
        self._log("stream", f"{node}: {' '.join(argv)}")
        self._running(lab, node)
        return self.on_stream(node, argv)

    def _iface(self, lab: str, node: str, iface: str) -> tuple[FakeContainer, FakeInterface]:
        c = self._running(lab, node)
        if iface not in c.interfaces:
            raise LabStateError(f"node {node} has no interface '{iface}' (it has: "
                                f"{', '.join(sorted(c.interfaces))}); if the node was restarted, run 'lab repair'")
        return c, c.interfaces[iface]

    def set_link_state(self, lab: str, node: str, iface: str, up: bool) -> None:
        self._log("set_link_state", f"{node}:{iface} {'up' if up else 'down'}")
        self._step("set_link_state", f"{node}:{iface}")
        with self._lock:
            c, i = self._iface(lab, node, iface)
            i.up = up
            if not up:
                c.routes.pop(iface, None)  # the kernel drops the routes through a link set down

    def replace_routes(self, lab: str, node: str, iface: str, routes: list[PlanRoute]) -> int:
        self._log("replace_routes", f"{node}:{iface}")
        if not routes:
            return 0
        with self._lock:
            c, _ = self._iface(lab, node, iface)
            c.routes.setdefault(iface, {}).update({r.to: r.via for r in routes})
        return len(routes)

    def impair(self, lab: str, node: str, iface: str, imp: Impairment) -> str:
        self._log("impair", f"{node}:{iface}")
        self._step("impair", f"{node}:{iface}")
        with self._lock:
            c, _ = self._iface(lab, node, iface)
            c.impairments[iface] = imp
        return "netem" if imp.delay_ms or imp.loss_pct else "tbf"

    def clear_impairment(self, lab: str, node: str, iface: str) -> bool:
        self._log("clear_impairment", f"{node}:{iface}")
        with self._lock:
            c, _ = self._iface(lab, node, iface)
            return c.impairments.pop(iface, None) is not None

    def impairments(self, lab: str, node: str) -> dict[str, Impairment]:
        with self._lock:
            c = self._find(lab, node)
            return dict(c.impairments) if c.running else {}

    def start_node(self, lab: str, node: str) -> None:
        self._log("start_node", node)
        self._step("start_node", node)
        with self._lock:
            c = self._find(lab, node)
            if not c.running:
                c.pid, c.state = next(_pids), "running"

    def relink(self, plan: Plan, node: str) -> list[PlanEnd]:
        self._log("relink", node)
        self._step("relink", node)
        with self._lock:
            c = self._find(plan.lab, node)
            if not c.running:
                raise LabStateError(f"node {node} of lab {plan.lab} is not running")
            touched: list[PlanEnd] = []
            for link in plan.links:
                for mine, other in ((link.a, link.b), (link.b, link.a)):
                    if mine.node != node or mine.iface in c.interfaces:
                        continue
                    try:
                        far = self._running(plan.lab, other.node)
                    except LabStateError:
                        raise LabStateError(f"cannot re-create {mine} <-> {other}: node {other.node} "
                                            "is not running (repair it first)") from None
                    self._drop_end(far, other.iface)  # a dangling end of the old pair
                    self._veth(plan, mine, other)
                    touched.append(other)
            return touched


def _quiet(event: Event) -> None:
    """No progress reported."""


class QuietFakeBackend(FakeBackend):
    """A FakeBackend whose destroy sends no progress Events (the real one sends
    one per node): for tests of the messages a facade sends itself."""

    def __init__(self, labs: Mapping[str, int] | None = None, **kwargs: Any):
        super().__init__(labs, **kwargs)
        self.report_destroy = False


if TYPE_CHECKING:
    from orchestrator.backend.protocol import ImageStore
    _: Backend = FakeBackend()
    _images: ImageStore = FakeBackend()
    _quiet_one: Backend = QuietFakeBackend()
