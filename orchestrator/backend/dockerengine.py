"""The Docker engine backend: nodes are containers, links are veth pairs.

Containers run with no Docker network (network_mode="none"), the default
capabilities plus NET_ADMIN and NET_RAW (never privileged), Docker's init as
PID 1 (so a stop is instant), and labels naming project, lab, node and kind.
Every lookup goes through those labels, never through name patterns.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import docker
import docker.errors
from docker.models.containers import Container

from .. import PROJECT
from ..errors import BackendError, EngineUnavailable, LabStateError
from ..plan import LABEL_KIND, LABEL_LAB, LABEL_NODE, LABEL_PROJECT, LABEL_SOURCE, Plan
from ..progress import Event, Progress
from ..render import SERVICE_LOG_DIR, SERVICES_CONFIG, SETUP_SCRIPT, NodeFiles
from . import ExecResult, InterfaceState, LabSummary, NodeState
from . import netlink

WORKERS = 8
SUPERVISOR_PIDFILE = "/run/labnet-supervisor.pid"
T = TypeVar("T")


def _world_readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode |= 0o755 if info.isdir() else 0o644
    return info


def connect() -> docker.DockerClient:
    """A client for the local engine, API version negotiated."""
    try:
        client = docker.from_env(version="auto", timeout=120)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several unrelated types here
        raise EngineUnavailable(
            "no Docker engine answers on this machine "
            f"({exc.__class__.__name__}: {exc}); start one with scripts/bootstrap.sh"
        ) from None


def docker_cli() -> str:
    """Debian's client (matches the engine) if present, else whatever is on PATH."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and shutil.which(candidate):
            return candidate
    raise BackendError("no docker command-line client found (apt-get install docker.io)")


def _parallel(items: Iterable[T], fn: Callable[[T], None], on_done: Callable[[T], None]) -> None:
    """Run fn over items on a thread pool; the first failure is raised after
    every started call has finished (so nothing is still being created while
    the caller cleans up)."""
    items = list(items)
    pool = ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(items))))
    futures = {pool.submit(fn, item): item for item in items}
    try:
        first_error: BaseException | None = None
        for fut in as_completed(futures):
            exc = fut.exception()
            if exc is not None and first_error is None:
                first_error = exc
                for other in futures:
                    other.cancel()
            elif exc is None and not fut.cancelled():
                on_done(futures[fut])
        if first_error is not None:
            raise first_error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class DockerBackend:
    """Docker engine + pyroute2. Needs root (network namespaces)."""

    def __init__(self, client: docker.DockerClient | None = None):
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    def check(self) -> None:
        _ = self.client

    # --- lookups (always by label) -------------------------------------------
    def _containers(self, lab: str | None = None, node: str | None = None) -> list[Container]:
        filters = [f"{LABEL_PROJECT}={PROJECT}"]
        if lab is not None:
            filters.append(f"{LABEL_LAB}={lab}")
        if node is not None:
            filters.append(f"{LABEL_NODE}={node}")
        return self.client.containers.list(all=True, filters={"label": filters})

    def _container(self, lab: str, node: str) -> Container:
        found = self._containers(lab, node)
        if not found:
            if not self._containers(lab):
                raise LabStateError(f"lab '{lab}' is not deployed (see: lab status)")
            known = sorted(c.labels.get(LABEL_NODE, "?") for c in self._containers(lab))
            raise LabStateError(f"lab '{lab}' has no node '{node}' (its nodes: {', '.join(known)})")
        return found[0]

    @staticmethod
    def _state(c: Container) -> NodeState:
        attrs = c.attrs
        return NodeState(
            lab=c.labels.get(LABEL_LAB, ""),
            node=c.labels.get(LABEL_NODE, ""),
            kind=c.labels.get(LABEL_KIND, ""),
            container=c.name,
            state=attrs["State"]["Status"],
            pid=int(attrs["State"].get("Pid") or 0),
            image=attrs["Config"]["Image"],
            source=c.labels.get(LABEL_SOURCE),
        )

    def list_labs(self) -> list[LabSummary]:
        labs: dict[str, list[NodeState]] = {}
        for c in self._containers():
            st = self._state(c)
            labs.setdefault(st.lab, []).append(st)
        return [
            LabSummary(name=name, nodes=len(states),
                       running=sum(s.state == "running" for s in states),
                       source=next((s.source for s in states if s.source), None))
            for name, states in sorted(labs.items())
        ]

    def nodes(self, lab: str) -> list[NodeState]:
        return sorted((self._state(c) for c in self._containers(lab)), key=lambda s: s.node)

    # --- deploy steps --------------------------------------------------------
    def create_nodes(self, plan: Plan, image: str, progress: Progress) -> None:
        total = len(plan.nodes)
        done = 0

        def create(name: str) -> None:
            node = plan.nodes[name]
            try:
                self.client.containers.run(
                    node.image or image,
                    name=node.container,
                    hostname=node.hostname,
                    labels=node.labels,
                    network_mode="none",
                    init=True,
                    cap_add=["NET_ADMIN", "NET_RAW"],
                    privileged=False,
                    sysctls=node.sysctls,
                    detach=True,
                )
            except docker.errors.APIError as exc:
                raise BackendError(f"starting node {name}: {exc.explanation or exc}") from exc

        def created(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("create", f"started {name}", done, total))

        _parallel(plan.nodes, create, created)

    def _pids(self, lab: str) -> dict[str, int]:
        pids = {}
        for st in self.nodes(lab):
            if st.state != "running" or not st.pid:
                raise BackendError(f"node {st.node} is {st.state}, not running")
            pids[st.node] = st.pid
        return pids

    def wire_links(self, plan: Plan, progress: Progress) -> None:
        pids = self._pids(plan.lab)
        handles: dict[str, netlink.IPRoute] = {}
        try:
            for n, link in enumerate(plan.links, 1):
                a, b = link.a, link.b
                if a.node not in handles:
                    handles[a.node] = netlink.open_netns(pids[a.node])
                netlink.add_veth(handles[a.node], a.iface, pids[b.node], b.iface)
                progress(Event("wire", f"{a} <-> {b}", n, len(plan.links)))
        finally:
            for ipr in handles.values():
                ipr.close()

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress) -> None:
        total = len(plan.nodes)
        done = 0

        def apply(name: str) -> None:
            container = self._container(plan.lab, name)
            self.put_files(container, files[name])
            for svc in plan.nodes[name].services:
                if svc.files_from and svc.files_to:
                    self.put_folder(container, Path(svc.files_from), svc.files_to)
            code, out = container.exec_run(["sh", SETUP_SCRIPT], demux=False)
            if code != 0:
                text = (out or b"").decode(errors="replace").strip()
                raise BackendError(f"configuring {name}: {SETUP_SCRIPT} failed (exit {code}): {text}")
            if plan.nodes[name].services:
                self.start_services(container, [s.name for s in plan.nodes[name].services
                                                if s.type != "command"])

        def applied(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("configure", f"configured {name}", done, total))

        _parallel(plan.nodes, apply, applied)
        self.wait_links_up(plan)

    def wait_links_up(self, plan: Plan, timeout_s: float = 5.0) -> None:
        """Wait until the kernel reports every planned interface operationally
        UP: a veth whose peer just came up drops packets until then (the
        kernel activates it asynchronously, within about a second)."""
        pids = self._pids(plan.lab)
        deadline = time.monotonic() + timeout_s
        waiting = {(n, i.name) for n, node in plan.nodes.items() for i in node.interfaces}
        while waiting:
            for node in sorted({n for n, _ in waiting}):
                up = {i.name for i in netlink.read_interfaces(pids[node]) if i.oper == "UP"}
                waiting -= {(node, i) for i in up}
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if waiting:
            names = ", ".join(f"{n}:{i}" for n, i in sorted(waiting)[:5])
            raise BackendError(f"interfaces did not come up within {timeout_s:.0f} s: {names}")

    def apply_impairments(self, plan: Plan, progress: Progress) -> None:
        """The impairments written on links, on the packets leaving both ends."""
        from .linkops import Impairment, impair  # linkops builds on this module

        ends = [(end, link.impair) for link in plan.links if link.impair for end in (link.a, link.b)]
        for n, (end, spec) in enumerate(ends, 1):
            imp = Impairment(delay_ms=spec.delay_ms, jitter_ms=spec.jitter_ms, loss_pct=spec.loss_pct,
                             rate_kbit=spec.rate_kbit)
            impair(self, plan.lab, end.node, end.iface, imp)
            progress(Event("impair", f"{end}: {imp.describe()}", n, len(ends)))

    @staticmethod
    def put_files(container: Container, files: NodeFiles) -> None:
        buf = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            dirs: set[str] = set()
            for path in files:
                parts = path.strip("/").split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    dirs.add("/".join(parts[:i]))
            for d in sorted(dirs):
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
                tar.addfile(info)
            for path, content in files.items():
                data = content.encode()
                info = tarfile.TarInfo(path.strip("/"))
                info.size, info.mtime = len(data), now
                info.mode = 0o755 if path.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(data))
        if not container.put_archive("/", buf.getvalue()):
            raise BackendError(f"copying files into {container.name} failed")

    @staticmethod
    def put_folder(container: Container, source: Path, dest: str) -> None:
        """Copy a host folder into the node as `dest` (replacing what is there)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(source), arcname=dest.strip("/"), filter=_world_readable)
        container.exec_run(["rm", "-rf", dest])
        if not container.put_archive("/", buf.getvalue()):
            raise BackendError(f"copying {source} into {container.name}:{dest} failed")

    @staticmethod
    def start_services(container: Container, wait_for: list[str], timeout_s: float = 10.0) -> None:
        """Start the node's supervisor (unless it runs) and wait until the
        named services say they are listening."""
        running = container.exec_run(["pgrep", "-f", "python3 -m labnode.supervisor"])
        if running.exit_code != 0:
            container.exec_run(["python3", "-m", "labnode.supervisor", "--config", SERVICES_CONFIG,
                                "--logdir", SERVICE_LOG_DIR, "--pidfile", SUPERVISOR_PIDFILE], detach=True)
        if not wait_for:
            return
        logs = " ".join(f"{SERVICE_LOG_DIR}/{n}.log" for n in wait_for)
        script = (f"end=$(( $(date +%s) + {int(timeout_s)} )); for f in {logs}; do "
                  f"until grep -q 'listening on' $f 2>/dev/null; do "
                  f"[ $(date +%s) -ge $end ] && {{ echo $f; exit 1; }}; sleep 0.05; done; done")
        code, out = container.exec_run(["sh", "-c", script])
        if code != 0:
            log = (out or b"").decode(errors="replace").strip()
            tail = container.exec_run(["sh", "-c", f"tail -n 5 {log} {SERVICE_LOG_DIR}/supervisor.log"]).output
            raise BackendError(f"a service of {container.name} did not start within {timeout_s:.0f} s "
                               f"({log}):\n{(tail or b'').decode(errors='replace').strip()}")

    # --- running labs --------------------------------------------------------
    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult:
        container = self._container(lab, node)
        if container.status != "running":
            raise LabStateError(f"node {node} of lab {lab} is {container.status}, not running")
        code, (out, err) = container.exec_run(argv, demux=True)
        return ExecResult(code if code is not None else -1,
                          (out or b"").decode(errors="replace"),
                          (err or b"").decode(errors="replace"))

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        container = self._container(lab, node)
        return [docker_cli(), "exec", "-it", container.name, *argv]

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        st = self._state(self._container(lab, node))
        if st.state != "running":
            return []
        return netlink.read_interfaces(st.pid)

    def destroy(self, lab: str, progress: Progress) -> int:
        containers = self._containers(lab)
        total = len(containers)
        done = 0

        def remove(c: Container) -> None:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass  # already gone: destroying is safe to repeat

        def removed(c: Container) -> None:
            nonlocal done
            done += 1
            progress(Event("destroy", f"removed {c.labels.get(LABEL_NODE, c.name)}", done, total))

        _parallel(containers, remove, removed)
        return total
