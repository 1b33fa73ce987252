"""The Docker engine backend: nodes are containers, links are veth pairs.

Containers run with no Docker network (network_mode="none"), the default
capabilities plus NET_ADMIN and NET_RAW (never privileged), Docker's init as
PID 1 (so a stop is instant), and labels naming project, lab, node and kind.
Every lookup goes through those labels, never through name patterns. The
engine never pulls an image: a missing one is an error.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import PROJECT, contract
from ..errors import BackendError, ImageError, LabStateError
from ..labels import LABEL_KIND, LABEL_LAB, LABEL_NODE, LABEL_PROJECT, LABEL_SOURCE
from ..progress import Event, Progress
from . import archive, dockerboot, dockerrecord, rtnl
from . import dockersupervisor as supervisor
from .dockerclient import connect, docker_cli, engine_lost
from .dockerexec import RemoteProcess
from .engineapi import EngineAPI, socket_path
from .kernellinks import KernelLinks
from .parallel import parallel
from .protocol import ExecResult, ImageInfo, InterfaceState, LabSummary, NodeState, not_deployed

if TYPE_CHECKING:
    import docker
    import docker.errors

    from ..contract import NodeFiles
    from ..plan import Plan, PlanEnd, PlanLink
    from . import images, netlink
else:
    from .dockerclient import OnFirstUse
    docker = OnFirstUse("docker")
    images = OnFirstUse(f"{__package__}.images")
    netlink = OnFirstUse(f"{__package__}.netlink")

T = TypeVar("T")


def _container_name(listed: dict[str, Any]) -> str:
    return str((listed.get("Labels") or {}).get(LABEL_NODE) or listed["Names"][0].lstrip("/"))


def _engine_guarded(cls: type[T]) -> type[T]:
    """Every public method of the backend: an engine that stops answering
    mid-call (its socket closed, refused or reset) is EngineUnavailable saying
    so, not the HTTP library's own exception."""
    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                lost = engine_lost(exc)
                if lost is None:
                    raise
                raise lost from exc
        return guarded

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, guard(member))
    return cls


def _engine_files(attrs: dict[str, Any]) -> dict[str, str]:
    """The engine's own files of a container's /etc/hosts and /etc/resolv.conf (inspect)."""
    return {path: attrs.get(key) or "" for path, key in ((contract.HOSTS_FILE, "HostsPath"),
                                                         (contract.RESOLV_FILE, "ResolvConfPath"))}


class _Booting:
    """A node just made to configure itself: its container, PID, /etc/hosts and log on this machine."""

    __slots__ = ("id", "pid", "engine_files", "log_path")

    def __init__(self, id: str, pid: int, engine_files: dict[str, str], log_path: str):
        #: engine_files: /etc/hosts and /etc/resolv.conf -> the engine's files of them on this machine
        self.id, self.pid, self.engine_files, self.log_path = id, pid, engine_files, log_path


@_engine_guarded
class DockerBackend(KernelLinks):
    """Docker engine + pyroute2. Needs root (network namespaces)."""

    def __init__(self, client: docker.DockerClient | None = None):
        self._client = client
        path = socket_path()
        #: the lookups every command makes, straight to the engine's socket (no SDK needed)
        self._lookups = EngineAPI(path) if path else None
        #: (lab, node) -> what create_nodes learnt of a node that boots itself
        #: (dockerboot), for wiring and configuring it with no further lookup
        self._booting: dict[tuple[str, str], _Booting] = {}
        self._shared: bool | None = None

    def _shares_files(self) -> bool:
        """Whether the engine runs on this machine's file system (its own folder is
        here): then folders of this machine can be bound into nodes (dockerboot).
        Not so for labnet in a container of its own (compose/), which talks to the
        engine's socket only."""
        if self._shared is None:
            root = ""
            if self._lookups is not None:
                try:
                    root = str(self.client.api.info().get("DockerRootDir") or "")
                except docker.errors.APIError:
                    root = ""
            self._shared = bool(root) and Path(root, "containers").is_dir()
        return self._shared

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    def check(self) -> None:
        _ = self.client

    def has_image(self, image: str) -> bool:
        try:
            self.client.api.inspect_image(image)   # an inspect: the engine never pulls for it
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise BackendError(f"asking the engine about image '{image}': {exc.explanation or exc}") from exc
        return True

    def ensure_images(self, progress: Progress, force: bool = False) -> dict[str, str]:
        tags = images.ensure_images(self.client, progress, force=force)
        return {"base": tags.base, "node": tags.node}

    def list_images(self) -> list[ImageInfo]:
        return images.list_images(self.client)

    def prune_images(self, progress: Progress) -> list[str]:
        return images.prune_images(self.client, progress)

    # --- lookups (always by label) -------------------------------------------
    def _listed(self, lab: str | None = None, node: str | None = None, *,
                nodes_only: bool = True) -> list[dict[str, Any]]:
        """The engine's list of our containers (nodes, unless nodes_only is
        False: the lab's record too): one request, no inspection."""
        filters = [f"{LABEL_PROJECT}={PROJECT}"]
        if lab is not None:
            filters.append(f"{LABEL_LAB}={lab}")
        if node is not None:
            filters.append(f"{LABEL_NODE}={node}")
        elif nodes_only:
            filters.append(LABEL_NODE)  # the key alone: every container that is a node
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
            raise not_deployed(lab, (s.name for s in self.list_labs()))
        raise LabStateError(f"lab '{lab}' has no node '{node}' (its nodes: {', '.join(known)})")

    def _running(self, lab: str, node: str) -> NodeState:
        st = self._node(lab, node)
        if not st.running:
            raise LabStateError(f"node {node} of lab {lab} is {st.state}, not running "
                                f"(start it again with: lab repair {lab})")
        return st

    def list_labs(self) -> list[LabSummary]:
        labs: dict[str, list[dict[str, Any]]] = {}
        for c in self._listed(nodes_only=False):
            labs.setdefault((c.get("Labels") or {}).get(LABEL_LAB, ""), []).append(c)
        out = []
        for name, listed in sorted(labs.items()):
            nodes = [c for c in listed if LABEL_NODE in (c.get("Labels") or {})]
            out.append(LabSummary(name=name, nodes=len(nodes), running=sum(c.get("State") == "running" for c in nodes),
                                  source=next((c["Labels"][LABEL_SOURCE] for c in listed
                                               if (c.get("Labels") or {}).get(LABEL_SOURCE)), None)))
        return out

    def nodes(self, lab: str) -> list[NodeState]:
        states = (self._state(c) for c in self._listed(lab))
        return sorted((s for s in states if s is not None), key=lambda s: s.node)

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        st = self._node(lab, node)
        return rtnl.read(st.pid).interfaces if st.running else []

    # --- deploy steps --------------------------------------------------------
    def _images_of(self, plan: Plan, names: list[str]) -> dict[str, str]:
        """node -> its image, each one known to be on this machine (never pulled)."""
        default = images.wanted_tags().node
        chosen = {name: plan.nodes[name].image or default for name in names}
        for image in sorted(set(chosen.values())):
            if not self.has_image(image):
                users = ", ".join(sorted(n for n, i in chosen.items() if i == image))
                raise ImageError(f"image '{image}' (of {users}) is not on this engine; build or load it first "
                                 f"(docker load -i FILE, or docker build --network none -t {image} FOLDER). "
                                 "labnet never pulls images: no registry is contacted")
        return chosen

    def create_nodes(self, plan: Plan, progress: Progress, nodes: list[str] | None = None) -> None:
        names = list(plan.nodes) if nodes is None else nodes
        chosen = self._images_of(plan, names)
        total = len(names)
        done = 0
        api = self.client.api

        def create(name: str) -> None:
            node = plan.nodes[name]
            limits = node.limits
            # the project's image on an engine of this machine: the node configures itself (dockerboot)
            boots = node.image is None and self._shares_files()
            binds = dockerboot.prepare(plan.lab, name) if boots else None
            host_config = api.create_host_config(network_mode="none", init=True, cap_add=["NET_ADMIN", "NET_RAW"],
                                                 binds=binds,
                                                 privileged=False, sysctls=node.sysctls,
                                                 pids_limit=limits.pids, mem_limit=limits.memory,
                                                 memswap_limit=limits.memory, nano_cpus=int(limits.cpus * 1e9),
                                                 # a user-space stack opens a TAP: the one device a node may get
                                                 devices=[f"{contract.TUN_DEVICE}:{contract.TUN_DEVICE}:rwm"]
                                                 if node.stack else None)
            try:
                created = api.create_container(chosen[name], name=node.container, hostname=node.hostname,
                                               labels=node.labels, host_config=host_config, detach=True,
                                               command=dockerboot.command() if boots else None)
                api.start(created["Id"])
                if boots:
                    attrs = api.inspect_container(created["Id"])
                    self._booting[(plan.lab, name)] = _Booting(created["Id"], int(attrs["State"]["Pid"]),
                                                               _engine_files(attrs), attrs.get("LogPath") or "")
            except docker.errors.APIError as exc:
                raise BackendError(f"starting node {name}: {exc.explanation or exc}") from exc

        def created(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("create", f"started {name}", done, total))

        parallel(names, create, created)

    def remove_nodes(self, lab: str, nodes: list[str], progress: Progress) -> None:
        wanted = set(nodes)
        listed = [c for c in self._listed(lab) if (c.get("Labels") or {}).get(LABEL_NODE) in wanted]
        done = 0

        def removed(c: dict[str, Any]) -> None:
            nonlocal done
            done += 1
            progress(Event("destroy", f"removed {c['Labels'][LABEL_NODE]}", done, len(listed)))

        parallel(listed, self._remove, removed, name=_container_name)
        dockerboot.remove(lab, sorted(wanted))
        for node in wanted:
            self._booting.pop((lab, node), None)

    def _remove(self, c: dict[str, Any]) -> None:
        if self._lookups is not None:
            try:
                self._lookups.remove(c["Id"])   # already gone, or already being removed: fine
            except BackendError as exc:
                raise BackendError(f"removing {c['Names'][0].lstrip('/')}: {exc}") from exc
            return
        try:
            self.client.api.remove_container(c["Id"], force=True)
        except docker.errors.NotFound:
            pass  # already gone: removing is safe to repeat
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: its removal is already in progress
                raise BackendError(f"removing {c['Names'][0].lstrip('/')}: {exc.explanation or exc}") from exc

    def _pids(self, lab: str, nodes: set[str] | None = None) -> dict[str, int]:
        pids = {}
        for st in self.nodes(lab):
            if nodes is not None and st.node not in nodes:
                continue
            if not st.running:
                raise BackendError(f"node {st.node} is {st.state}, not running")
            pids[st.node] = st.pid
        return pids

    def wire_links(self, plan: Plan, progress: Progress, links: list[PlanLink] | None = None) -> None:
        chosen = plan.links if links is None else links
        ends = {e.node for lk in chosen for e in (lk.a, lk.b)}
        known = {n: self._booting[(plan.lab, n)].pid for n in ends if (plan.lab, n) in self._booting}
        pids = known if len(known) == len(ends) else self._pids(plan.lab, ends)
        handles: dict[str, Any] = {}
        try:
            for n, link in enumerate(chosen, 1):
                a, b = link.a, link.b
                if a.node not in handles:
                    handles[a.node] = netlink.open_netns(pids[a.node])
                netlink.add_veth(handles[a.node], a.iface, pids[b.node], b.iface, netlink.veth_index(link.id))
                progress(Event("wire", f"{a} <-> {b}", n, len(chosen)))
        finally:
            for ipr in handles.values():
                ipr.close()

    def remove_link_end(self, lab: str, node: str, iface: str) -> None:
        netlink.delete_link(self._running(lab, node).pid, iface)

    def _container(self, lab: str, node: str) -> Any:
        return self.client.containers.get(self._node(lab, node).container)

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress,
                  nodes: list[str] | None = None) -> None:
        names = list(plan.nodes) if nodes is None else nodes
        total = len(names)
        done = 0
        booting = {n: self._booting.pop((plan.lab, n)) for n in names if (plan.lab, n) in self._booting}
        deadline = time.monotonic() + dockerboot.BOOT_TIMEOUT
        for name, boot in booting.items():   # the files written here; then the node goes on by itself
            node_files = dict(files[name])
            kept = {p: node_files.pop(p) for p in contract.ENGINE_FILES if p in node_files}
            self._write_bound(plan.lab, name, node_files)
            for files_from, files_to in plan.nodes[name].folders():
                self.put_folder(plan.lab, name, files_from, files_to)
            dockerboot.write_file(dockerboot.node_dir(plan.lab, name) / "etc-labnet" / dockerboot.BOOT_ENV,
                                  dockerboot.boot_env(plan.nodes[name]))
            for path, text in kept.items():
                self._write_engine_file(boot.engine_files.get(path, ""), plan.lab, name, path, text)
            dockerboot.release(plan.lab, name, deadline)
        names = [n for n in names if n not in booting]

        def apply(name: str) -> None:
            container = self._container(plan.lab, name)
            node_files = dict(files[name])
            kept = {p: node_files.pop(p) for p in contract.ENGINE_FILES if p in node_files}
            self._put(container, archive.of_files(node_files), "files")
            if kept:
                self._set_engine_files(plan.lab, name, kept)
            for files_from, files_to in plan.nodes[name].folders():
                self._put_folder(container, files_from, files_to)
            code, out = container.exec_run(["sh", contract.SETUP_SCRIPT], demux=False)
            if code != 0:
                text = (out or b"").decode(errors="replace").strip()
                raise BackendError(f"configuring {name}: {contract.SETUP_SCRIPT} failed (exit {code}): {text}")
            if plan.nodes[name].services:
                supervisor.start(container, plan.nodes[name])

        def applied(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("configure", f"configured {name}", done, total))

        parallel(names, apply, applied)
        failed = dockerboot.wait({n: b.log_path for n, b in booting.items()})
        if failed:
            node, why = sorted(failed.items())[0]
            more = f" (and {len(failed) - 1} other node{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
            raise BackendError(f"configuring {node}{more}: {why}")
        for n, name in enumerate(booting, done + 1):
            progress(Event("configure", f"configured {name}", n, total))
        self.wait_links(plan, names)

    def _write_bound(self, lab: str, node: str, files: NodeFiles) -> None:
        """Files into a node's bound folders (dockerboot), on this machine."""
        for path, text in files.items():
            target = dockerboot.host_path(lab, node, path)
            if target is None:
                raise BackendError(f"cannot write {path} into {node}: only {contract.CONFIG_DIR} and "
                                   f"{contract.SERVICE_ROOT} are the node's own folders")
            dockerboot.write_file(target, text)

    @staticmethod
    def _put(container: Any, data: bytes, what: str) -> None:
        try:
            if container.put_archive("/", data):
                return
        except docker.errors.APIError as exc:
            raise BackendError(f"copying {what} into {container.name}: {exc.explanation or exc}") from exc
        raise BackendError(f"copying {what} into {container.name} failed")

    def _put_folder(self, container: Any, source: str, dest: str) -> None:
        container.exec_run(["rm", "-rf", dest])  # the folder replaces what is there
        self._put(container, archive.of_folder(Path(source), dest), source)

    def put_files(self, lab: str, node: str, files: NodeFiles) -> None:
        others = {path: text for path, text in files.items() if path not in contract.ENGINE_FILES}
        if others and dockerboot.is_bound(lab, node):
            self._write_bound(lab, node, others)
        elif others:
            self._put(self._container(lab, node), archive.of_files(others), "files")
        kept = {path: text for path, text in files.items() if path in contract.ENGINE_FILES}
        if kept:
            self._set_engine_files(lab, node, kept)

    def set_hosts(self, lab: str, node: str, text: str) -> None:
        self._set_engine_files(lab, node, {contract.HOSTS_FILE: text})

    def _set_engine_files(self, lab: str, node: str, files: NodeFiles) -> None:
        """The engine keeps a container's /etc/hosts and /etc/resolv.conf in files
        of its own on this machine (HostsPath, ResolvConfPath) bound into the
        container: written there in place (the bind mount follows the file, not its
        name), with no call into the node. An engine elsewhere, or a file we cannot
        write: through an exec."""
        st = self._running(lab, node)
        paths = _engine_files(self._inspect(st.container) or {})
        for path, text in files.items():
            self._write_engine_file(paths.get(path, ""), lab, node, path, text)

    def _write_engine_file(self, host_path: str, lab: str, node: str, path: str, text: str) -> None:
        if host_path and self._lookups is not None:
            try:
                with open(host_path, "r+", encoding="utf-8") as handle:
                    handle.truncate(0)
                    handle.write(text)
                return
            except OSError:
                pass
        res = self.exec(lab, node, ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", text, path])
        if not res.ok:
            raise BackendError(f"writing {path} of {node}: {(res.stdout + res.stderr).strip()}")

    def put_folder(self, lab: str, node: str, source: str, dest: str) -> None:
        target = dockerboot.host_path(lab, node, dest) if dockerboot.is_bound(lab, node) else None
        if target is not None:
            dockerboot.copy_folder(Path(source), target)
        else:
            self._put_folder(self._container(lab, node), source, dest)

    def wait_links(self, plan: Plan, nodes: list[str], timeout_s: float = 5.0) -> None:
        """Wait until the kernel reports every planned interface of these nodes
        operationally UP: a veth whose peer just came up drops packets until
        then (the kernel activates it asynchronously, within about a second)."""
        pids = self._pids(plan.lab, set(nodes))
        deadline = time.monotonic() + timeout_s
        waiting = {(n, i.name) for n in nodes for i in plan.nodes[n].interfaces}
        while waiting:
            for node in sorted({n for n, _ in waiting}):
                up = {i.name for i in rtnl.read(pids[node]).interfaces if i.oper == "UP"}
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
                supervisor.start(self._container(plan.lab, name), plan.nodes[name])

    def restart_services(self, plan: Plan, nodes: list[str]) -> None:
        for name in nodes:
            container = self._container(plan.lab, name)
            supervisor.stop(container)
            if plan.nodes[name].services:
                supervisor.start(container, plan.nodes[name])

    # --- running labs --------------------------------------------------------
    def probe_netns(self, state: NodeState) -> str | None:
        # the node's pid is one of this machine's (interfaces() reads its links the same way)
        return rtnl.netns_path(state.pid) if state.running and os.geteuid() == 0 else None

    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult:
        st = self._running(lab, node)
        if self._lookups is not None:   # straight to the engine: no SDK to load, one request fewer
            done = self._lookups.exec(st.container, argv)
            if done is None:
                raise LabStateError(f"node {node} of lab {lab} is gone")
            code, out, err = done
            return ExecResult(code, out.decode(errors="replace"), err.decode(errors="replace"))
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
                    netlink.add_veth(ipr, mine.iface, pids[other.node], other.iface, netlink.veth_index(link.id))
                    touched.append(other)
        return touched

    def destroy(self, lab: str, progress: Progress) -> int:
        listed = self._listed(lab, nodes_only=False)
        total = sum(LABEL_NODE in (c.get("Labels") or {}) for c in listed)
        done = 0

        def removed(c: dict[str, Any]) -> None:
            nonlocal done
            node = (c.get("Labels") or {}).get(LABEL_NODE)
            if node is not None:  # the record goes silently with its lab
                done += 1
                progress(Event("destroy", f"removed {node}", done, total))

        parallel(listed, self._remove, removed, name=_container_name)
        dockerboot.remove(lab)
        self._booting = {k: v for k, v in self._booting.items() if k[0] != lab}
        return total

    # --- the lab's record: a file in a container that never runs (dockerrecord) -------
    def _record_container(self, lab: str) -> dict[str, Any] | None:
        return dockerrecord.find(self._listed(lab, nodes_only=False))

    def save_record(self, lab: str, record: bytes) -> None:
        dockerrecord.save(self.client.api, lab, record, self._record_container(lab), images.wanted_tags().node)

    def load_record(self, lab: str) -> bytes | None:
        found = self._record_container(lab)
        if found is None:
            return None
        if self._lookups is not None:
            tar = self._lookups.archive(found["Id"], dockerrecord.RECORD_FILE)
        else:
            tar = dockerrecord.fetch(self.client.api, found["Id"])
        return None if tar is None else archive.member(tar, dockerrecord.RECORD_FILE)
