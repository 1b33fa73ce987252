"""The network-namespace backend: nodes run on this machine's own system.

A node is a named network namespace (/run/netns/labnet-LAB-NODE, where
`ip netns list` shows it) plus mount, UTS, IPC and PID namespaces of its
own, held by one small holder process (PID 1 of the node; see
netns_holder.py, which makes them). What is private to a node is bound from
the lab's state folder, STATE_ROOT/LAB/nodes/NODE/: /etc/hosts,
/etc/labnet, /var/log, /run, /tmp and /srv; /usr/local/bin is the lab's
folder of the node image's wrappers (lab-probe, lab-routed, ...). The rest
of the file system is the host's: the in-node programs (labnode) run under
the host's python3, imported from this checkout's images/node.

The lab's record is a file of its state folder; the folders, the named
namespaces and the holders' pids are what `status` and `destroy` read, so a
lab stays findable (and removable) after a crash. Nothing of a lab is ever
in the host's network namespace: veths are made inside one node with the
peer put straight into the other (netlink.add_veth).

Limits: a cgroup v2 group per node (CGROUP_ROOT/LAB/NODE) where the host
has a cgroup v2 hierarchy; without one they are not enforced, and a deploy
says so once. There are no images: `image:` is refused (see IMAGE_REFUSED).
"""

from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import PROJECT_ROOT, contract
from ..errors import BackendError, EngineUnavailable, LabStateError
from ..labels import LABEL_SOURCE, NETNS_STATE_ROOT, container_name
from ..progress import Event, Progress
from . import netns_holder, rtnl
from .kernellinks import KernelLinks
from .parallel import parallel
from .protocol import ExecResult, ImageInfo, InterfaceState, LabSummary, NodeState, not_deployed

if TYPE_CHECKING:
    from ..contract import NodeFiles
    from ..plan import Plan, PlanEnd, PlanLink, PlanNode
    from . import netlink
else:
    from .dockerclient import OnFirstUse
    netlink = OnFirstUse(f"{__package__}.netlink")

STATE_ROOT = Path(NETNS_STATE_ROOT)
NETNS_DIR = "/run/netns"
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_ROOT = CGROUP_FS / "labnet"
NODE_IMAGE = PROJECT_ROOT / "images" / "node"     # labnode/ and bin/ (the wrappers)
HOLDER_SCRIPT = Path(netns_holder.__file__)
#: PATH inside a node (its /usr/local/bin is the lab's bin folder)
NODE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"   # where the host's tools are looked for
#: a node's private folders: path inside the node -> its folder in the node's state folder
PRIVATE_DIRS = {"/run": "run", "/tmp": "tmp", "/var/log": "log", "/srv": "srv", contract.CONFIG_DIR: "etc-labnet"}
#: program -> the Debian package that brings it; every node needs them on the host
HOST_TOOLS = {"python3": "python3", "ip": "iproute2", "nft": "nftables", "ping": "iputils-ping",
              "tcpdump": "tcpdump", "conntrack": "conntrack", "curl": "curl", "nsenter": "util-linux",
              "sh": "dash", "pgrep": "procps"}
IMAGE_REFUSED = ("the netns backend runs nodes on this machine's own system; 'image:' needs --backend docker "
                 "(or leave 'image' out for the project's own in-node programs)")
NO_CGROUPS = ("this machine has no usable cgroup v2 hierarchy at /sys/fs/cgroup ({why}): the nodes' limits "
              "(pids, memory, cpus) are not enforced by the netns backend")
DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
#: a node's resolv.conf until its lab's is written: no server (a node never asks the host's)
NO_RESOLVER = "# no DNS server: this file is the lab's, written by labnet\n"
SPAWN_TIMEOUT_S = 120.0
KEEPER_MIN_NODES = 32   # a second keeper (on a second core) from this many nodes each


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of a process; None when there is none."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _alive(pid: int) -> bool:
    st = _proc_state(pid)
    return st is not None and st[0] not in "ZX"


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _is_mount(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return any(line.split()[4] == path for line in handle)


def _processes() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
    except OSError:
        return []


class NetnsStream:
    """A program running in a node, its output streamed back (protocol.Stream).
    It runs under `sh -c 'echo pid; exec CMD'` so stop() can signal it by its
    pid inside the node."""

    _TAG = b"labnet-pid="

    def __init__(self, backend: NetnsBackend, lab: str, node: str, argv: list[str]):
        self._backend, self._lab, self._node = backend, lab, node
        wrapped = ["sh", "-c", 'echo "labnet-pid=$$" >&2; exec "$@"', "sh", *argv]
        self._proc = subprocess.Popen(backend.enter_argv(lab, node) + wrapped, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue()
        self._pid: int | None = None
        self._pid_seen = threading.Event()
        self._open = 2
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(self._proc.stdout, False), daemon=True),
                         threading.Thread(target=self._pump, args=(self._proc.stderr, True), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, pipe: Any, is_err: bool) -> None:
        head = b""
        try:
            while True:
                data = os.read(pipe.fileno(), 65536)
                if not data:
                    break
                if is_err and self._pid is None:
                    head += data
                    line, sep, rest = head.partition(b"\n")
                    if not sep:
                        continue
                    if line.startswith(self._TAG):
                        self._pid = int(line[len(self._TAG):])
                        data = rest
                    else:
                        data = head
                    self._pid_seen.set()
                    head = b""
                    if not data:
                        continue
                self._queue.put((data, b"") if not is_err else (b"", data))
        finally:
            if is_err:
                self._pid_seen.set()
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    self._queue.put(None)

    def chunks(self, poll_s: float = 0.2) -> Iterator[tuple[bytes, bytes] | None]:
        while True:
            try:
                item = self._queue.get(timeout=poll_s)
            except queue.Empty:
                yield None
                continue
            if item is None:
                return
            yield item

    def stop(self, signal: str = "INT") -> None:
        self._pid_seen.wait(timeout=3)
        if self._pid is not None and self._proc.poll() is None:
            self._backend.exec(self._lab, self._node, ["kill", f"-{signal}", str(self._pid)])

    def exit_code(self) -> int | None:
        try:
            return self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None


class NetnsBackend(KernelLinks):
    """Network namespaces on this machine, no engine. Needs root."""

    name = "netns"
    #: why a node's `image:` is refused at validation (orchestrator.lab)
    image_refusal = IMAGE_REFUSED
    #: why a node naming an image cannot run here (the facade can say it at validation)
    image_refusal = IMAGE_REFUSED

    def __init__(self, root: Path | str = STATE_ROOT, netns_dir: str = NETNS_DIR,
                 cgroup_root: Path | str = CGROUP_ROOT):
        self.root = Path(root)
        self.netns_dir = netns_dir
        self.cgroup_root = Path(cgroup_root)
        self._checked = False
        self._cgroups_warned = False
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # a handle per node at once, for big labs
        if soft != resource.RLIM_INFINITY and soft < 65536:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard), hard))

    # --- the engine: this machine -----------------------------------------------
    def missing_tools(self) -> dict[str, str]:
        """Programs the nodes need that this machine lacks: program -> Debian package."""
        return {tool: pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool, path=HOST_PATH) is None}

    def check(self) -> None:
        if self._checked:
            return
        problems = []
        if os.geteuid() != 0:
            problems.append("it needs root (network, mount and PID namespaces): run labnet as root")
        missing = self.missing_tools()
        if missing:
            problems.append("these programs the nodes run are not on this machine: "
                            + ", ".join(f"{tool} (Debian package {pkg})" for tool, pkg in missing.items())
                            + "; install them with: apt-get install " + " ".join(sorted(set(missing.values()))))
        elif not self._python_ok():
            problems.append("the nodes' python3 (" + str(shutil.which("python3", path=HOST_PATH))
                            + ") is older than 3.11, which the in-node programs need")
        if not (NODE_IMAGE / "labnode").is_dir():
            problems.append(f"the in-node programs are missing from {NODE_IMAGE / 'labnode'}")
        if not os.path.exists("/proc/self/ns/net"):
            problems.append("this kernel has no network namespaces")
        if problems:
            raise EngineUnavailable("the netns backend cannot run nodes here: " + "; ".join(problems))
        self._checked = True

    @staticmethod
    def _python_ok() -> bool:
        python = shutil.which("python3", path=HOST_PATH)
        if python is None:
            return False
        try:
            done = subprocess.run([python, "-I", "-S", "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.stdout.strip() == "True"

    def ensure_images(self, progress: Progress, force: bool = False) -> dict[str, str]:
        return {}   # nothing to build: the nodes run this machine's programs

    def has_image(self, image: str) -> bool:
        return False

    def list_images(self) -> list[ImageInfo]:
        return []

    def prune_images(self, progress: Progress) -> list[str]:
        return []

    # --- where things are --------------------------------------------------------
    def lab_dir(self, lab: str) -> Path:
        return self.root / lab

    def node_dir(self, lab: str, node: str) -> Path:
        return self.root / lab / "nodes" / node

    def netns_path(self, lab: str, node: str) -> str:
        return os.path.join(self.netns_dir, container_name(lab, node))

    def _node_names(self, lab: str) -> list[str]:
        nodes = self.lab_dir(lab) / "nodes"
        try:
            return sorted(p.name for p in nodes.iterdir() if p.is_dir())
        except OSError:
            return []

    def host_path(self, lab: str, node: str, path: str) -> Path:
        """Where a file of a node's private folders is on this machine; BackendError
        for a path outside them (the rest of a node's file system is the host's)."""
        clean = os.path.normpath("/" + path.lstrip("/"))
        if clean == contract.HOSTS_FILE:
            return self.node_dir(lab, node) / "hosts"
        if clean == contract.RESOLV_FILE:
            return self.node_dir(lab, node) / "resolv.conf"
        for inside, folder in sorted(PRIVATE_DIRS.items(), key=lambda kv: -len(kv[0])):
            if clean == inside or clean.startswith(inside + "/"):
                return self.node_dir(lab, node) / folder / os.path.relpath(clean, inside)
        private = ", ".join(sorted([*PRIVATE_DIRS, contract.HOSTS_FILE, contract.RESOLV_FILE]))
        raise BackendError(f"cannot write {path} into {node}: the netns backend's nodes share this machine's "
                           f"file system, and only these paths are private to a node: {private}; "
                           "use --backend docker for a node with files of its own elsewhere")

    # --- what exists --------------------------------------------------------------
    def _state(self, lab: str, node: str) -> NodeState:
        ndir = self.node_dir(lab, node)
        meta = _read_json(ndir / "meta.json") or {}
        holder = _read_json(ndir / "holder.json")
        pid, state = 0, "created"
        if holder is not None:
            state = "exited"
            candidate = int(holder.get("pid", 0))
            proc = _proc_state(candidate) if candidate else None
            ns = _ns_inode(self.netns_path(lab, node))
            if (proc is not None and proc[0] not in "ZX" and proc[1] == holder.get("start")
                    and ns is not None and _ns_inode(f"/proc/{candidate}/ns/net") == ns):
                pid, state = candidate, "running"
        return NodeState(lab=lab, node=node, kind=str(meta.get("kind", "")),
                         container=container_name(lab, node), state=state, pid=pid, image="",
                         source=meta.get("source"))

    def _node(self, lab: str, node: str) -> NodeState:
        if (self.node_dir(lab, node) / "meta.json").is_file():
            return self._state(lab, node)
        known = self._node_names(lab)
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
        out = []
        try:
            labs = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return []
        for lab in labs:
            states = self.nodes(lab)
            source = next((s.source for s in states if s.source), None)
            out.append(LabSummary(name=lab, nodes=len(states), running=sum(s.running for s in states),
                                  source=source, backend="netns"))
        return out

    def nodes(self, lab: str) -> list[NodeState]:
        return [self._state(lab, n) for n in self._node_names(lab)]

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        st = self._node(lab, node)
        return rtnl.read(st.pid).interfaces if st.running else []

    # --- deploy steps -------------------------------------------------------------
    def _refuse(self, plan: Plan, names: list[str]) -> None:
        for name in names:
            node = plan.nodes[name]
            if node.image:
                raise BackendError(f"node {name} names image '{node.image}': {IMAGE_REFUSED}")
            for key in node.sysctls:
                if not key.startswith("net."):
                    raise BackendError(f"node {name}: the sysctl {key} is not per network namespace; the "
                                       "netns backend can set net.* ones only (use --backend docker)")

    def _cgroup_base(self, lab: str, progress: Progress) -> Path | None:
        """The lab's cgroup v2 folder (controllers enabled), or None (said once)."""
        why = None
        if not (CGROUP_FS / "cgroup.controllers").is_file():
            why = "cgroup v1 or none"
        else:
            try:
                base = self.cgroup_root / lab
                base.mkdir(parents=True, exist_ok=True)
                for folder in (CGROUP_FS, self.cgroup_root, base):
                    available = (folder / "cgroup.controllers").read_text().split()
                    wanted = [c for c in ("pids", "memory", "cpu") if c in available]
                    (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
                return base
            except OSError as exc:
                why = exc.strerror or str(exc)
        if not self._cgroups_warned:
            self._cgroups_warned = True
            progress(Event("warning", NO_CGROUPS.format(why=why)))
        return None

    @staticmethod
    def _limit_cgroup(group: Path, node: PlanNode) -> None:
        group.mkdir(exist_ok=True)
        limits = node.limits
        for name, value in (("pids.max", str(limits.pids)), ("memory.max", str(limits.memory)),
                            ("memory.swap.max", "0"), ("cpu.max", f"{int(limits.cpus * 100000)} 100000")):
            try:
                (group / name).write_text(value)
            except OSError:
                pass   # that controller is not enabled here

    def _prepare_lab(self, lab: str) -> Path:
        """The lab's folder, with a copy of the in-node programs (labnode/: the
        checkout may sit where a node sees its own folder, e.g. under /tmp) and
        of the node image's wrappers in bin/, and the mount points a node's
        private folders need on this machine."""
        ldir = self.lab_dir(lab)
        bindir = ldir / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        programs = ldir / "labnode"   # copied once per lab: its running nodes keep what they started with
        if not programs.is_dir():
            shutil.copytree(NODE_IMAGE / "labnode", programs, ignore=shutil.ignore_patterns("__pycache__"))
        for wrapper in sorted((NODE_IMAGE / "bin").iterdir()):
            target = bindir / wrapper.name
            shutil.copyfile(wrapper, target)
            target.chmod(0o755)
        for inside in PRIVATE_DIRS:
            os.makedirs(inside, exist_ok=True)   # /etc/labnet and /srv may be missing on the host
        return bindir

    def _node_spec(self, plan: Plan, name: str, bindir: Path, cgroup: Path | None) -> dict[str, Any]:
        node = plan.nodes[name]
        ndir = self.node_dir(plan.lab, name)
        binds = [[str(ndir / folder), inside] for inside, folder in PRIVATE_DIRS.items()]
        binds += [[str(ndir / "hosts"), contract.HOSTS_FILE], [str(ndir / "resolv.conf"), contract.RESOLV_FILE],
                  [str(bindir), "/usr/local/bin"]]
        return {"name": name, "netns": container_name(plan.lab, name), "hostname": node.hostname,
                "state": str(ndir), "binds": binds, "sysctls": dict(node.sysctls),
                "cgroup": str(cgroup / name) if cgroup is not None else None}

    def create_nodes(self, plan: Plan, progress: Progress, nodes: list[str] | None = None) -> None:
        names = list(plan.nodes) if nodes is None else nodes
        self._refuse(plan, names)
        self.check()
        bindir = self._prepare_lab(plan.lab)
        cgroup = self._cgroup_base(plan.lab, progress)
        specs = []
        for name in names:
            node = plan.nodes[name]
            ndir = self.node_dir(plan.lab, name)
            if ndir.exists():
                self._teardown(plan.lab, [name], progress=None)   # a stale node of an earlier run
            for folder in PRIVATE_DIRS.values():
                (ndir / folder).mkdir(parents=True, exist_ok=True)
            (ndir / "log" / "labnet").mkdir(exist_ok=True)
            (ndir / "hosts").write_text(DEFAULT_HOSTS, encoding="utf-8")
            (ndir / "resolv.conf").write_text(NO_RESOLVER, encoding="utf-8")
            if cgroup is not None:
                self._limit_cgroup(cgroup / name, node)
            spec = self._node_spec(plan, name, bindir, cgroup)
            meta = {"lab": plan.lab, "node": name, "kind": node.kind, "source": node.labels.get(LABEL_SOURCE),
                    "spec": spec}
            _write_atomic(ndir / "meta.json", json.dumps(meta, indent=1).encode())
            specs.append(spec)
        # big labs: a keeper per core, each starting its share of the nodes
        keepers = max(1, min(os.cpu_count() or 1, len(specs) // KEEPER_MIN_NODES))
        shares = [specs[i::keepers] for i in range(keepers)]
        lock = threading.Lock()
        started = 0

        def share_started(node: str) -> None:
            nonlocal started
            with lock:
                started += 1
                progress(Event("create", f"started {node}", started, len(specs)))

        parallel(range(keepers), lambda i: self._spawn(plan.lab, shares[i], share_started), lambda i: None,
                 name=lambda i: f"starting the nodes of {plan.lab}")

    def _spawn(self, lab: str, specs: list[dict[str, Any]], started: Callable[[str], None] | None) -> None:
        """Start the holders of these nodes through a keeper (netns_holder.py)."""
        if not specs:
            return
        spec = json.dumps({"lab": lab, "netns_dir": self.netns_dir, "nodes": specs}).encode()
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(HOLDER_SCRIPT), netns_holder.MARKER, lab],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, cwd="/")
        except OSError as exc:
            raise BackendError(f"starting the nodes of {lab}: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(spec)
        proc.stdin.close()
        errors: list[str] = []
        finished = False
        for raw in proc.stdout:
            line = json.loads(raw)
            if line.get("done"):
                finished = True
                break
            if "error" in line:
                errors.append(f"starting node {line['node']}: {line['error']}")
                continue
            if started is not None:
                started(line["node"])
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        proc.wait(timeout=SPAWN_TIMEOUT_S)
        if errors:
            raise BackendError(errors[0] + (f" (and {len(errors) - 1} more nodes)" if len(errors) > 1 else ""))
        if not finished:
            raise BackendError(f"starting the nodes of {lab}: the keeper stopped early"
                               + (f": {err.splitlines()[-1]}" if err else ""))

    def wire_links(self, plan: Plan, progress: Progress, links: list[PlanLink] | None = None) -> None:
        chosen = plan.links if links is None else links
        pids = self._pids(plan.lab, {e.node for lk in chosen for e in (lk.a, lk.b)})
        ordered = sorted(chosen, key=lambda lk: lk.a.node)   # each node's namespace opened once
        ipr: Any = None
        current = None
        try:
            for n, link in enumerate(ordered, 1):
                a, b = link.a, link.b
                if a.node != current:
                    if ipr is not None:
                        ipr.close()
                    ipr, current = None, a.node
                    ipr = netlink.open_netns(pids[a.node])
                netlink.add_veth(ipr, a.iface, pids[b.node], b.iface, netlink.veth_index(link.id))
                progress(Event("wire", f"{a} <-> {b}", n, len(chosen)))
        finally:
            if ipr is not None:
                ipr.close()

    def _pids(self, lab: str, nodes: set[str] | None = None) -> dict[str, int]:
        pids = {}
        for st in self.nodes(lab):
            if nodes is not None and st.node not in nodes:
                continue
            if not st.running:
                raise BackendError(f"node {st.node} is {st.state}, not running")
            pids[st.node] = st.pid
        return pids

    def remove_link_end(self, lab: str, node: str, iface: str) -> None:
        netlink.delete_link(self._running(lab, node).pid, iface)

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress,
                  nodes: list[str] | None = None) -> None:
        names = list(plan.nodes) if nodes is None else nodes
        total = len(names)
        done = 0
        waits: dict[str, list[tuple[Path, int]]] = {}

        def apply(name: str) -> None:
            self.put_files(plan.lab, name, files[name])
            for files_from, files_to in plan.nodes[name].folders():
                self.put_folder(plan.lab, name, files_from, files_to)
            res = self.exec(plan.lab, name, ["sh", contract.SETUP_SCRIPT])
            if res.exit_code != 0:
                text = (res.stdout + res.stderr).strip()
                raise BackendError(f"configuring {name}: {contract.SETUP_SCRIPT} failed (exit {res.exit_code}): "
                                   f"{text}")
            if plan.nodes[name].services:
                waits[name] = self._start_supervisor(plan.lab, plan.nodes[name])

        def applied(name: str) -> None:
            nonlocal done
            done += 1
            progress(Event("configure", f"configured {name}", done, total))

        parallel(names, apply, applied)
        self._wait_ready(plan.lab, waits)
        self.wait_links(plan, names)

    def put_files(self, lab: str, node: str, files: NodeFiles) -> None:
        self._node(lab, node)
        for path, text in files.items():
            if path == contract.HOSTS_FILE:
                self.set_hosts(lab, node, text)
                continue
            target = self.host_path(lab, node, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def set_hosts(self, lab: str, node: str, text: str) -> None:
        """Written in place: the node's bind mount follows the file, not its name."""
        path = self.node_dir(lab, node) / "hosts"
        try:
            with open(path, "r+", encoding="utf-8") as handle:
                handle.truncate(0)
                handle.write(text)
        except OSError as exc:
            raise BackendError(f"writing /etc/hosts of {node}: {exc.strerror or exc}") from exc

    def put_folder(self, lab: str, node: str, source: str, dest: str) -> None:
        target = self.host_path(lab, node, dest)
        shutil.rmtree(target, ignore_errors=True)
        try:
            shutil.copytree(source, target, symlinks=True)
        except OSError as exc:
            raise BackendError(f"copying {source} into {node}:{dest}: {exc}") from exc

    def wait_links(self, plan: Plan, nodes: list[str], timeout_s: float = 5.0) -> None:
        """Until every planned interface of these nodes is operationally UP (each
        namespace opened once for the whole wait)."""
        pids = self._pids(plan.lab, set(nodes))
        waiting = {(n, i.name) for n in nodes for i in plan.nodes[n].interfaces}
        handles: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while waiting:
                for node in sorted({n for n, _ in waiting}):
                    if node not in handles:
                        handles[node] = netlink.open_netns(pids[node])
                    up = {ln.get_attr("IFLA_IFNAME") for ln in handles[node].get_links()
                          if ln.get_attr("IFLA_OPERSTATE") == "UP"}
                    waiting -= {(node, i) for i in up}
                    if not any(n == node for n, _ in waiting):
                        handles.pop(node).close()
                if not waiting or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            for ipr in handles.values():
                ipr.close()
        if waiting:
            names = ", ".join(f"{n}:{i}" for n, i in sorted(waiting)[:5])
            raise BackendError(f"interfaces did not come up within {timeout_s:.0f} s: {names}")

    # --- the supervisor ------------------------------------------------------------
    def _supervisor_running(self, lab: str, node: str, holder: int) -> bool:
        try:
            nspid = int((self.host_path(lab, node, contract.SUPERVISOR_PIDFILE)).read_text().strip())
        except (OSError, ValueError):
            return False
        cmd = _cmdline_in(holder, nspid)
        return contract.SUPERVISOR_MODULE in cmd

    def _which(self, lab: str, program: str) -> bool:
        if "/" in program:
            return os.path.exists(program)
        path = NODE_PATH.replace("/usr/local/bin", str(self.lab_dir(lab) / "bin"))
        return shutil.which(program, path=path) is not None

    def _start_supervisor(self, lab: str, node: PlanNode) -> list[tuple[Path, int]]:
        """Start the node's supervisor unless it runs; the logs to wait on (and
        from where: a log keeps the lines of earlier runs)."""
        st = self._running(lab, node.name)
        if self._supervisor_running(lab, node.name, st.pid):
            return []
        for svc in node.services:
            if svc.type == "command" and svc.command and not self._which(lab, svc.command[0]):
                raise BackendError(f"the service '{svc.name}' of {node.name} runs '{svc.command[0]}', which is "
                                   "not on this machine (not a file, nor on the nodes' PATH); fix 'command' in "
                                   "the lab file, or install it (the netns backend's nodes run the host's "
                                   "programs)")
        waits = []
        for svc in node.services:
            if svc.type != "command":
                log = self.host_path(lab, node.name, contract.log_file(svc.name))
                waits.append((log, log.stat().st_size if log.exists() else 0))
        res = self.exec(lab, node.name, ["sh", "-c", 'setsid "$@" </dev/null >/dev/null 2>&1 &', "sh",
                                         *contract.SUPERVISOR_ARGV])
        if not res.ok:
            raise BackendError(f"starting the supervisor of {node.name}: {(res.stdout + res.stderr).strip()}")
        return waits

    def _wait_ready(self, lab: str, waits: dict[str, list[tuple[Path, int]]], timeout_s: float = 10.0) -> None:
        """Until every one of these logs says its service is listening (one wait for all the nodes)."""
        pending = [(node, log, offset) for node, logs in waits.items() for log, offset in logs]
        deadline = time.monotonic() + timeout_s
        while True:
            still = []
            for node, log, offset in pending:
                try:
                    with open(log, "rb") as handle:
                        handle.seek(offset)
                        seen = contract.READY_LINE.encode() in handle.read()
                except OSError:
                    seen = False
                if not seen:
                    still.append((node, log, offset))
            pending = still
            if not pending:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        node, log, _ = pending[0]
        tails = []
        for path in (log, self.host_path(lab, node, contract.log_file("supervisor"))):
            try:
                tails.extend(path.read_text(errors="replace").splitlines()[-5:])
            except OSError:
                pass
        inside = os.path.join(contract.LOG_DIR, log.name)
        raise BackendError(f"a service of {node} did not start within {timeout_s:.0f} s ({inside}):\n"
                           + "\n".join(tails))

    def _stop_supervisor(self, lab: str, node: str) -> None:
        script = (f"p=$(cat {contract.SUPERVISOR_PIDFILE} 2>/dev/null) || exit 0; kill $p 2>/dev/null || exit 0; "
                  "n=0; while kill -0 $p 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done")
        self.exec(lab, node, ["sh", "-c", script])

    def start_services(self, plan: Plan, nodes: list[str]) -> None:
        waits = {n: self._start_supervisor(plan.lab, plan.nodes[n]) for n in nodes if plan.nodes[n].services}
        self._wait_ready(plan.lab, waits)

    def restart_services(self, plan: Plan, nodes: list[str]) -> None:
        for name in nodes:
            self._stop_supervisor(plan.lab, name)
        self.start_services(plan, nodes)

    # --- removal ---------------------------------------------------------------------
    def _lab_processes(self, lab: str, inodes: set[int]) -> tuple[list[int], list[int]]:
        """(keepers, others): the lab's keeper processes, and every other process of
        it: holders, half-made nodes (by the keeper's command line) and whatever
        runs in one of its network namespaces (`ip netns pids`)."""
        keepers, others = [], []
        me = os.getpid()
        for pid in _processes():
            if pid == me or not _alive(pid):
                continue
            argv = _cmdline(pid)
            if netns_holder.MARKER in argv and argv[-1:] == [lab] and argv[-2:-1] == [netns_holder.MARKER]:
                parent = _parent(pid)
                if parent is not None and netns_holder.MARKER in _cmdline(parent) and _cmdline(parent) == argv:
                    others.append(pid)
                else:
                    keepers.append(pid)
                continue
            if inodes and _ns_inode(f"/proc/{pid}/ns/net") in inodes:
                others.append(pid)
        return keepers, others

    def _teardown(self, lab: str, nodes: list[str] | None, progress: Progress | None) -> int:
        """Remove these nodes (None: the whole lab, its keepers and folder too)."""
        names = self._node_names(lab) if nodes is None else nodes
        paths = {n: self.netns_path(lab, n) for n in names}
        inodes = {i for i in (_ns_inode(p) for p in paths.values()) if i is not None}
        if nodes is None:
            # keepers stopped while the rest is killed (no node starts meanwhile), then let go on:
            # they reap their killed holders and end by themselves; killed only if they do not
            for n in range(150):
                keepers, others = self._lab_processes(lab, inodes)
                if not keepers and not others:
                    break
                if others:
                    for pid in keepers:
                        _signal(pid, signal.SIGSTOP)
                    for pid in others:
                        _signal(pid, signal.SIGKILL)
                else:
                    for pid in keepers:
                        _signal(pid, signal.SIGKILL if n >= 100 else signal.SIGCONT)
                time.sleep(0.02)
        else:
            for name in names:   # both ends of its links go now, not when the kernel frees the namespace
                st = self._state(lab, name)
                if st.running:
                    try:
                        with netlink.open_netns(st.pid) as ipr:
                            for ln in ipr.get_links():
                                if ln.get_attr("IFLA_IFNAME") != "lo":
                                    ipr.link("del", index=ln["index"])
                    except Exception:   # it is being removed anyway
                        pass
            for _ in range(100):
                pids = [pid for pid in _processes() if _alive(pid)
                        and _ns_inode(f"/proc/{pid}/ns/net") in inodes]
                pids += [pid for pid in (self._holder(lab, n) for n in names) if pid]
                if not pids:
                    break
                for pid in set(pids):
                    _signal(pid, signal.SIGKILL)
                time.sleep(0.02)
        for done, name in enumerate(names, 1):
            path = paths[name]
            if os.path.lexists(path):
                try:
                    if _is_mount(path):
                        netns_holder.umount_detach(path)
                    os.unlink(path)
                except OSError as exc:
                    raise BackendError(f"removing the network namespace {path}: {exc}") from exc
            shutil.rmtree(self.node_dir(lab, name), ignore_errors=True)
            try:
                (self.cgroup_root / lab / name).rmdir()
            except OSError:
                pass
            if progress is not None:
                progress(Event("destroy", f"removed {name}", done, len(names)))
        if nodes is None:
            try:
                (self.cgroup_root / lab).rmdir()
            except OSError:
                pass
            shutil.rmtree(self.lab_dir(lab), ignore_errors=True)
        return len(names)

    def _holder(self, lab: str, node: str) -> int:
        """The pid of the node's holder if that process still lives (0 if not)."""
        found = _read_json(self.node_dir(lab, node) / "holder.json")
        if found is None:
            return 0
        pid = int(found.get("pid", 0))
        st = _proc_state(pid) if pid else None
        return pid if st is not None and st[0] not in "ZX" and st[1] == found.get("start") else 0

    def remove_nodes(self, lab: str, nodes: list[str], progress: Progress) -> None:
        wanted = [n for n in nodes if n in set(self._node_names(lab))]
        self._teardown(lab, wanted, progress)

    def destroy(self, lab: str, progress: Progress) -> int:
        return self._teardown(lab, None, progress)

    # --- the lab's record ------------------------------------------------------------
    def save_record(self, lab: str, record: bytes) -> None:
        ldir = self.lab_dir(lab)
        ldir.mkdir(parents=True, exist_ok=True)
        _write_atomic(ldir / "record", record)

    def load_record(self, lab: str) -> bytes | None:
        try:
            return (self.lab_dir(lab) / "record").read_bytes()
        except OSError:
            return None

    # --- a running lab ---------------------------------------------------------------
    def enter_argv(self, lab: str, node: str, env: dict[str, str] | None = None) -> list[str]:
        """The command line that runs a program inside a running node: its network,
        mount, UTS, IPC and PID namespaces, and the environment of a node."""
        st = self._running(lab, node)
        meta = _read_json(self.node_dir(lab, node) / "meta.json") or {}
        hostname = (meta.get("spec") or {}).get("hostname", node)
        nsenter = shutil.which("nsenter", path=HOST_PATH) or "nsenter"
        environment = {"PATH": NODE_PATH, "PYTHONPATH": str(self.lab_dir(lab)), "PYTHONDONTWRITEBYTECODE": "1",
                       "HOME": "/root", "HOSTNAME": hostname, "LANG": "C.UTF-8", **(env or {})}
        return [nsenter, "-t", str(st.pid), "-n", "-m", "-u", "-i", "-p", "--",
                "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in environment.items())]

    def probe_netns(self, state: NodeState) -> str | None:
        return self.netns_path(state.lab, state.node) if state.running and os.geteuid() == 0 else None

    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult:
        try:
            done = subprocess.run(self.enter_argv(lab, node) + argv, stdin=subprocess.DEVNULL,
                                  capture_output=True, cwd="/")
        except OSError as exc:
            raise BackendError(f"running {argv[0]} in {node}: {exc}") from exc
        return ExecResult(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        return self.enter_argv(lab, node, {"TERM": os.environ.get("TERM", "xterm")}) + argv

    def stream(self, lab: str, node: str, argv: list[str]) -> NetnsStream:
        return NetnsStream(self, lab, node, argv)

    def start_node(self, lab: str, node: str) -> None:
        """A new holder and namespaces (like a container's restart: its files stay,
        its links are gone until relink)."""
        st = self._node(lab, node)
        if st.running:
            return
        meta = _read_json(self.node_dir(lab, node) / "meta.json") or {}
        spec = meta.get("spec")
        if not isinstance(spec, dict):
            raise LabStateError(f"node {node} of lab {lab} has lost its state; redeploy the lab")
        path = self.netns_path(lab, node)
        inode = _ns_inode(path)
        for pid in list(_processes()):
            if inode is not None and _alive(pid) and _ns_inode(f"/proc/{pid}/ns/net") == inode:
                _signal(pid, signal.SIGKILL)
        if os.path.lexists(path):
            if _is_mount(path):
                netns_holder.umount_detach(path)
            os.unlink(path)
        (self.node_dir(lab, node) / "holder.json").unlink(missing_ok=True)
        (self.host_path(lab, node, contract.SUPERVISOR_PIDFILE)).unlink(missing_ok=True)
        self._spawn(lab, [spec], None)

    def relink(self, plan: Plan, node: str) -> list[PlanEnd]:
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


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _parent(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[1])


def _cmdline_in(holder: int, nspid: int) -> str:
    """The command line of process `nspid` of a node (a pid inside its PID namespace)."""
    try:
        data = Path(f"/proc/{holder}/root/proc/{nspid}/cmdline").read_bytes()
        return data.decode(errors="replace").replace("\0", " ")
    except OSError:
        return ""
