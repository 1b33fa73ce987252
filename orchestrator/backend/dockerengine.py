"""The Docker engine backend: nodes are containers, links are veth pairs.

Containers run with no Docker network (network_mode="none"), the default
capabilities plus NET_ADMIN and NET_RAW (never privileged), Docker's init as
PID 1 (so a stop is instant), and labels naming project, lab, node and kind.
Every lookup goes through those labels, never through name patterns. The
engine never pulls an image: a missing one is an error.
"""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import PROJECT, contract
from ..errors import BackendError, EngineUnavailable, ImageError, LabStateError
from ..labels import LABEL_KIND, LABEL_LAB, LABEL_NODE, LABEL_PROJECT, LABEL_SOURCE
from ..progress import Event, Progress
from . import archive
from .dockerexec import RemoteProcess
from .engineapi import EngineAPI, socket_path
from .parallel import parallel
from .protocol import ExecResult, InterfaceState, LabSummary, NodeState

if TYPE_CHECKING:
    import docker
    import docker.errors

    from ..contract import NodeFiles
    from ..model.specs import Impairment
    from ..plan import Plan, PlanEnd, PlanNode, PlanRoute
    from . import images, netlink
else:
    class _OnFirstUse(ModuleType):
        """A module imported when first used: `lab status` needs neither the SDK
        (its lookups go through engineapi), pyroute2 (netlink) nor the image
        recipes, and starts a third of a second faster without them."""

        def __init__(self, name: str):
            super().__init__(name)
            self._module: ModuleType | None = None

        def __getattr__(self, attr: str) -> Any:
            if self._module is None:
                self._module = importlib.import_module(self.__name__)
            return getattr(self._module, attr)

    docker = _OnFirstUse("docker")
    images = _OnFirstUse(f"{__package__}.images")
    netlink = _OnFirstUse(f"{__package__}.netlink")


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


class DockerBackend:
    """Docker engine + pyroute2. Needs root (network namespaces)."""

    def __init__(self, client: docker.DockerClient | None = None):
        self._client = client
        path = socket_path()
        #: the lookups every command makes, straight to the engine's socket (no SDK needed)
        self._lookups = EngineAPI(path) if path else None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    def check(self) -> None:
        _ = self.client

    def ensure_images(self, progress: Progress, force: bool = False) -> dict[str, str]:
        tags = images.ensure_images(self.client, progress, force=force)
        return {"base": tags.base, "node": tags.node}

    # --- lookups (always by label) -------------------------------------------
    def _listed(self, lab: str | None = None, node: str | None = None) -> list[dict[str, Any]]:
        """The engine's list of our containers: one request, no inspection."""
        filters = [f"{LABEL_PROJECT}={PROJECT}"]
        if lab is not None:
            filters.append(f"{LABEL_LAB}={lab}")
        if node is not None:
            filters.append(f"{LABEL_NODE}={node}")
        if self._lookups is not None:
            return self._lookups.containers(filters)
        found: list[dict[str, Any]] = self.client.api.containers(all=True, filters={"label": filters})
        return found

    def _inspect(self, container: str) -> dict[str, Any] | None:
        if self._lookups is not None:
            return self._lookups.inspect(container)
        try:
            found: dict[str, Any] = self.client.api.inspect_container(container)
        except docker.errors.NotFound:
            return None
        return found

    def _state(self, listed: dict[str, Any]) -> NodeState | None:
        """A listed container, inspected for its PID; None if it vanished meanwhile."""
        labels = listed.get("Labels") or {}
        attrs = self._inspect(listed["Id"])
        if attrs is None:
            return None
        return NodeState(
            lab=labels.get(LABEL_LAB, ""),
            node=labels.get(LABEL_NODE, ""),
            kind=labels.get(LABEL_KIND, ""),
            container=attrs["Name"].lstrip("/"),
            state=attrs["State"]["Status"],
            pid=int(attrs["State"].get("Pid") or 0),
            image=attrs["Config"]["Image"],
            source=labels.get(LABEL_SOURCE),
        )

    def _node(self, lab: str, node: str) -> NodeState:
        for listed in self._listed(lab, node):
            st = self._state(listed)
            if st is not None:
                return st
        known = sorted((c.get("Labels") or {}).get(LABEL_NODE, "?") for c in self._listed(lab))
        if not known:
            raise LabStateError(f"lab '{lab}' is not deployed (see: lab status)")
        raise LabStateError(f"lab '{lab}' has no node '{node}' (its nodes: {', '.join(known)})")

    def _running(self, lab: str, node: str) -> NodeState:
        st = self._node(lab, node)
        if not st.running:
            raise LabStateError(f"node {node} of lab {lab} is {st.state}, not running "
                                f"(start it again with: lab repair {lab})")
        return st

    def list_labs(self) -> list[LabSummary]:
        labs: dict[str, list[dict[str, Any]]] = {}
        for c in self._listed():
            labs.setdefault((c.get("Labels") or {}).get(LABEL_LAB, ""), []).append(c)
        return [
            LabSummary(name=name, nodes=len(listed),
                       running=sum(c.get("State") == "running" for c in listed),
                       source=next((c["Labels"][LABEL_SOURCE] for c in listed
                                    if (c.get("Labels") or {}).get(LABEL_SOURCE)), None))
            for name, listed in sorted(labs.items())
        ]

    def nodes(self, lab: str) -> list[NodeState]:
        states = (self._state(c) for c in self._listed(lab))
        return sorted((s for s in states if s is not None), key=lambda s: s.node)

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        st = self._node(lab, node)
        return netlink.read_interfaces(st.pid) if st.running else []

    # --- deploy steps --------------------------------------------------------
    def _images_of(self, plan: Plan) -> dict[str, str]:
        """node -> its image, each one known to be on this machine (never pulled)."""
        default = images.wanted_tags().node
        chosen = {name: node.image or default for name, node in plan.nodes.items()}
        for image in sorted(set(chosen.values())):
            try:
                self.client.api.inspect_image(image)
            except docker.errors.ImageNotFound:
                users = ", ".join(sorted(n for n, i in chosen.items() if i == image))
                raise ImageError(f"the image '{image}' (of {users}) is not on this machine, and labnet never "
                                 "pulls images (no registry is contacted); build it locally first, or leave "
                                 "'image' out to use the project's node image") from None
        return chosen

    def create_nodes(self, plan: Plan, progress: Progress) -> None:
        chosen = self._images_of(plan)
        total = len(plan.nodes)
        done = 0
        api = self.client.api

        def create(name: str) -> None:
            node = plan.nodes[name]
            host_config = api.create_host_config(network_mode="none", init=True, cap_add=["NET_ADMIN", "NET_RAW"],
                                                 privileged=False, sysctls=node.sysctls)
            try:
                created = api.create_container(chosen[name], name=node.container, hostname=node.hostname,
                                               labels=node.labels, host_config=host_config, detach=True)
                api.start(created["Id"])
            except docker.errors.APIError as exc:
                raise BackendError(f"starting node {name}: {exc.explanation or exc}") from exc

        def created(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("create", f"started {name}", done, total))

        parallel(plan.nodes, create, created)

    def _pids(self, lab: str) -> dict[str, int]:
        pids = {}
        for st in self.nodes(lab):
            if not st.running:
                raise BackendError(f"node {st.node} is {st.state}, not running")
            pids[st.node] = st.pid
        return pids

    def wire_links(self, plan: Plan, progress: Progress) -> None:
        pids = self._pids(plan.lab)
        handles: dict[str, Any] = {}
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

    def _container(self, lab: str, node: str) -> Any:
        return self.client.containers.get(self._node(lab, node).container)

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress) -> None:
        total = len(plan.nodes)
        done = 0

        def apply(name: str) -> None:
            container = self._container(plan.lab, name)
            if not container.put_archive("/", archive.of_files(files[name])):
                raise BackendError(f"copying files into {container.name} failed")
            for svc in plan.nodes[name].services:
                if svc.files_from and svc.files_to:
                    container.exec_run(["rm", "-rf", svc.files_to])  # the folder replaces what is there
                    if not container.put_archive("/", archive.of_folder(Path(svc.files_from), svc.files_to)):
                        raise BackendError(f"copying {svc.files_from} into {container.name}:{svc.files_to} failed")
            code, out = container.exec_run(["sh", contract.SETUP_SCRIPT], demux=False)
            if code != 0:
                text = (out or b"").decode(errors="replace").strip()
                raise BackendError(f"configuring {name}: {contract.SETUP_SCRIPT} failed (exit {code}): {text}")
            if plan.nodes[name].services:
                self._start_services(container, plan.nodes[name])

        def applied(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("configure", f"configured {name}", done, total))

        parallel(plan.nodes, apply, applied)
        self._wait_links_up(plan)

    def _wait_links_up(self, plan: Plan, timeout_s: float = 5.0) -> None:
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

    def start_services(self, plan: Plan, nodes: list[str]) -> None:
        for name in nodes:
            if plan.nodes[name].services:
                self._start_services(self._container(plan.lab, name), plan.nodes[name])

    @staticmethod
    def _start_services(container: Any, node: PlanNode, timeout_s: float = 10.0) -> None:
        """Start the node's supervisor (unless it runs) and wait until its
        services (not commands) say they are listening."""
        running = container.exec_run(["pgrep", "-f", " ".join(contract.SUPERVISOR_ARGV[:3])])
        if running.exit_code != 0:
            container.exec_run(contract.SUPERVISOR_ARGV, detach=True)
        wait_for = [s.name for s in node.services if s.type != "command"]
        if not wait_for:
            return
        logs = " ".join(contract.log_file(n) for n in wait_for)
        script = (f"end=$(( $(date +%s) + {int(timeout_s)} )); for f in {logs}; do "
                  f"until grep -q '{contract.READY_LINE}' $f 2>/dev/null; do "
                  f"[ $(date +%s) -ge $end ] && {{ echo $f; exit 1; }}; sleep 0.05; done; done")
        code, out = container.exec_run(["sh", "-c", script])
        if code != 0:
            log = (out or b"").decode(errors="replace").strip()
            tail = container.exec_run(["sh", "-c", f"tail -n 5 {log} {contract.log_file('supervisor')}"]).output
            raise BackendError(f"a service of {container.name} did not start within {timeout_s:.0f} s "
                               f"({log}):\n{(tail or b'').decode(errors='replace').strip()}")

    # --- running labs --------------------------------------------------------
    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult:
        st = self._running(lab, node)
        try:
            code, (out, err) = self.client.containers.get(st.container).exec_run(argv, demux=True)
        except docker.errors.NotFound:
            raise LabStateError(f"node {node} of lab {lab} is gone") from None
        except docker.errors.APIError as exc:
            raise BackendError(f"running {argv[0]} in {node}: {exc.explanation or exc}") from exc
        return ExecResult(code if code is not None else -1,
                          (out or b"").decode(errors="replace"),
                          (err or b"").decode(errors="replace"))

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        return [docker_cli(), "exec", "-it", self._node(lab, node).container, *argv]

    def stream(self, lab: str, node: str, argv: list[str]) -> RemoteProcess:
        st = self._running(lab, node)
        return RemoteProcess(self.client.api, self.client.containers.get(st.container), argv)

    def set_link_state(self, lab: str, node: str, iface: str, up: bool) -> None:
        netlink.set_link_state(self._running(lab, node).pid, node, iface, up)

    def replace_routes(self, lab: str, node: str, iface: str, routes: list[PlanRoute]) -> int:
        return netlink.replace_routes(self._running(lab, node).pid, node, iface, routes)

    def impair(self, lab: str, node: str, iface: str, imp: Impairment) -> str:
        return netlink.impair(self._running(lab, node).pid, node, iface, imp)

    def clear_impairment(self, lab: str, node: str, iface: str) -> bool:
        return netlink.clear_impairment(self._running(lab, node).pid, node, iface)

    def impairments(self, lab: str, node: str) -> dict[str, Impairment]:
        st = self._node(lab, node)
        return netlink.read_impairments(st.pid) if st.running else {}

    def start_node(self, lab: str, node: str) -> None:
        try:
            self.client.api.start(self._node(lab, node).container)
        except docker.errors.APIError as exc:
            raise BackendError(f"starting {node} again: {exc.explanation or exc}") from exc

    def relink(self, plan: Plan, node: str) -> list[PlanEnd]:
        """A peer end left behind in the other node's namespace (possible when
        the old namespace outlived the container) is deleted first."""
        pids = {st.node: st.pid for st in self.nodes(plan.lab) if st.running}
        if node not in pids:
            raise LabStateError(f"node {node} of lab {plan.lab} is not running")
        present = netlink.interface_names(pids[node])
        touched: list[PlanEnd] = []
        with netlink.open_netns(pids[node]) as ipr:
            for link in plan.links:
                for mine, other in ((link.a, link.b), (link.b, link.a)):
                    if mine.node != node or mine.iface in present:
                        continue
                    if other.node not in pids:
                        raise LabStateError(f"cannot re-create {mine} <-> {other}: node {other.node} "
                                            "is not running (repair it first)")
                    netlink.delete_link(pids[other.node], other.iface)  # dangling end of the old pair
                    netlink.add_veth(ipr, mine.iface, pids[other.node], other.iface)
                    touched.append(other)
        return touched

    def destroy(self, lab: str, progress: Progress) -> int:
        listed = self._listed(lab)
        total = len(listed)
        done = 0
        api = self.client.api

        def remove(c: dict[str, Any]) -> None:
            try:
                api.remove_container(c["Id"], force=True)
            except docker.errors.NotFound:
                pass  # already gone: destroying is safe to repeat
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: its removal is already in progress
                    raise BackendError(f"removing {c['Names'][0].lstrip('/')}: {exc.explanation or exc}") from exc

        def removed(c: dict[str, Any]) -> None:
            nonlocal done
            done += 1
            progress(Event("destroy", f"removed {(c.get('Labels') or {}).get(LABEL_NODE, c['Id'][:12])}",
                           done, total))

        parallel(listed, remove, removed)
        return total
