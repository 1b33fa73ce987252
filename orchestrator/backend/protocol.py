"""The backend protocol: everything the facades ask of an engine.

`DockerBackend` (backend/dockerengine.py: Docker engine + pyroute2) is the
implementation; tests/unit/fakebackend.py is an in-memory one that lets
deploy clean-up, repair and the test runner be tested with no engine. A
second real backend (network namespaces, Kubernetes) implements the same
methods. Nothing above backend/ imports docker or pyroute2.

Lab and node names are the plan's; how a backend finds its objects (labels
on containers) is its own business. Errors are LabErrors: BackendError when
the engine or kernel refuses, LabStateError when a lab or node is not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import LabStateError, unknown_hint

if TYPE_CHECKING:
    from ..contract import NodeFiles
    from ..model.common import Impairment
    from ..plan import Plan, PlanEnd, PlanLink, PlanRoute
    from ..progress import Progress


@dataclass(frozen=True)
class NodeState:
    lab: str
    node: str
    kind: str
    container: str
    state: str            # "running", "exited", "created", ...
    pid: int              # 0 when not running
    image: str
    source: str | None = None

    @property
    def running(self) -> bool:
        return self.state == "running" and self.pid > 0


@dataclass(frozen=True)
class InterfaceState:
    name: str
    state: str            # "up" / "down"
    mac: str
    addresses: list[str] = field(default_factory=list)
    master: str | None = None
    oper: str = "UNKNOWN"   # the kernel's operational state: UP once the link carries traffic


@dataclass(frozen=True)
class LabSummary:
    name: str
    nodes: int
    running: int
    source: str | None
    backend: str = "docker"   # which backend runs it: docker or netns


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __iter__(self) -> Iterator[int | str]:
        """`code, out, err = result`."""
        return iter((self.exit_code, self.stdout, self.stderr))


@dataclass(frozen=True)
class ImageInfo:
    """One of this project's images on the engine (`lab images list`)."""

    id: str               # the short id (12 hex digits)
    role: str             # base, node (or another of ours: orchestrator)
    tags: list[str]       # repo:tag names it has ([] when untagged)
    recipe: str | None    # the recipe hash its tag carries (None: untagged)
    size: int             # bytes
    created: str          # when it was built, ISO 8601 UTC
    current: bool         # built from the current recipes (never pruned)
    labs: list[str] = field(default_factory=list)   # labs whose containers (nodes, records) use it
    others: int = 0       # containers of no lab that use it


def not_deployed(lab: str, deployed: Iterable[str]) -> LabStateError:
    """The error for a lab that is not deployed, with the nearest deployed
    name when one is close: "lab 'ux-rng' is not deployed; did you mean 'ux-ring'?"."""
    names = sorted(set(deployed) - {lab})
    if not names:
        return LabStateError(f"lab '{lab}' is not deployed (no lab is deployed; see: lab deploy PATH)")
    hint = unknown_hint(lab, names, "deployed")
    if hint.startswith("did you mean"):
        return LabStateError(f"lab '{lab}' is not deployed; {hint.partition(' (')[0]}")
    return LabStateError(f"lab '{lab}' is not deployed ({hint}; see: lab status)")


class Stream(Protocol):
    """A program running in a node, its output streamed back (tcpdump, tail -F)."""

    def chunks(self, poll_s: float = 0.2) -> Iterator[tuple[bytes, bytes] | None]:
        """(stdout, stderr) pieces until the program ends; None every poll_s
        seconds of silence so the caller can check its own stop conditions."""
        ...

    def stop(self, signal: str = "INT") -> None:
        """Send the program a signal (it then ends, and chunks() with it)."""
        ...

    def exit_code(self) -> int | None: ...


class ImageStore(Protocol):
    """The images of a backend's engine (`lab images list/prune`); DockerBackend is one."""

    def list_images(self) -> list[ImageInfo]:
        """This project's images on the engine (found by label), newest first."""
        ...

    def prune_images(self, progress: Progress) -> list[str]:
        """Remove our base and node images that are not current and no container
        uses (ours only: found by label, never another's); what was removed."""
        ...


class Backend(Protocol):
    # --- the engine --------------------------------------------------------------
    def check(self) -> None:
        """Raise EngineUnavailable unless the engine answers."""
        ...

    def ensure_images(self, progress: Progress, force: bool = False) -> dict[str, str]:
        """Make sure what nodes run on exists (build it offline if not); role -> tag."""
        ...

    def has_image(self, image: str) -> bool:
        """Whether an image is on the engine already (asking never pulls it)."""
        ...

    # --- what exists ---------------------------------------------------------------
    def list_labs(self) -> list[LabSummary]:
        """Every lab of this project on the engine (one with a record and no nodes too)."""
        ...

    def nodes(self, lab: str) -> list[NodeState]:
        """The lab's nodes, sorted by name ([] when the lab is not deployed)."""
        ...

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]:
        """A node's interfaces as the kernel sees them ([] when it is not running)."""
        ...

    # --- deploy steps: for the whole plan, or (reconcile) for some of it -----------------
    def create_nodes(self, plan: Plan, progress: Progress, nodes: list[str] | None = None) -> None:
        """Create and start the plan's nodes (these ones: `nodes`)."""
        ...

    def wire_links(self, plan: Plan, progress: Progress, links: list[PlanLink] | None = None) -> None:
        """Make the plan's links (these ones: `links`); both ends' nodes run."""
        ...

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress,
                  nodes: list[str] | None = None) -> None:
        """Files and served folders into the nodes, the setup script run, services
        started; returns once every planned interface of them is operationally up."""
        ...

    def start_services(self, plan: Plan, nodes: list[str]) -> None:
        """Start the supervisor of these nodes (if it is not running) and wait until
        their services say they are listening."""
        ...

    def restart_services(self, plan: Plan, nodes: list[str]) -> None:
        """Stop these nodes' supervisors (and so their services), start them again."""
        ...

    def remove_nodes(self, lab: str, nodes: list[str], progress: Progress) -> None:
        """Remove these nodes (their links go with them, on both ends)."""
        ...

    def remove_link_end(self, lab: str, node: str, iface: str) -> None:
        """Delete one end of a link (its other end goes with it); nothing if it is not there."""
        ...

    def put_files(self, lab: str, node: str, files: NodeFiles) -> None:
        """Write files into a node (path inside the node -> content; /etc/hosts
        among them goes through set_hosts)."""
        ...

    def set_hosts(self, lab: str, node: str, text: str) -> None:
        """Make the node's /etc/hosts this text (the names of the lab's nodes)."""
        ...

    def put_folder(self, lab: str, node: str, source: str, dest: str) -> None:
        """Copy a folder of the host into a node as `dest`, replacing what was there."""
        ...

    def wait_links(self, plan: Plan, nodes: list[str]) -> None:
        """Return once every planned interface of these nodes is operationally up."""
        ...

    def destroy(self, lab: str, progress: Progress) -> int:
        """Remove every object of the lab (its record too); how many nodes were
        removed. Safe to repeat."""
        ...

    # --- the lab's record (orchestrator/record.py) -----------------------------------
    def save_record(self, lab: str, record: bytes) -> None:
        """Store (or replace) the lab's record with the lab, on the engine."""
        ...

    def load_record(self, lab: str) -> bytes | None:
        """The lab's record as saved; None when there is none."""
        ...

    # --- a running lab ---------------------------------------------------------------
    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult: ...

    def probe_netns(self, state: NodeState) -> str | None:
        """A path to a running node's network namespace that this process may
        enter (/proc/PID/ns/net: the node on this machine, we are root), so
        that probes run from here (verify/inns.py); None: only exec reaches it."""
        ...

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        """The command line that runs argv in the node attached to this terminal."""
        ...

    def stream(self, lab: str, node: str, argv: list[str]) -> Stream: ...

    def set_link_state(self, lab: str, node: str, iface: str, up: bool) -> None: ...

    def replace_routes(self, lab: str, node: str, iface: str, routes: list[PlanRoute]) -> int:
        """Write these routes through node:iface again; how many were written."""
        ...

    def impair(self, lab: str, node: str, iface: str, imp: Impairment) -> str:
        """Impair the packets leaving node:iface; the kind of queue used (netem, tbf)."""
        ...

    def clear_impairment(self, lab: str, node: str, iface: str) -> bool: ...

    def impairments(self, lab: str, node: str) -> dict[str, Impairment]:
        """interface -> its impairment, for the impaired interfaces of a running node."""
        ...

    def start_node(self, lab: str, node: str) -> None:
        """Start a stopped node again (it comes back with no links: see relink)."""
        ...

    def relink(self, plan: Plan, node: str) -> list[PlanEnd]:
        """Re-create every planned link of a running node that is missing from it;
        the link ends re-created on the other nodes (those need their setup again)."""
        ...
