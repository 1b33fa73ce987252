"""Backends: the only code that touches a container engine or netlink.

`Backend` is the protocol the stages above program against; `DockerBackend`
(Docker engine + pyroute2) is the implementation. A second backend (plain
network namespaces, Kubernetes) implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..plan import Plan
from ..progress import Progress
from ..render import NodeFiles


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


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Backend(Protocol):
    def check(self) -> None:
        """Raise EngineUnavailable unless the engine answers."""

    def list_labs(self) -> list[LabSummary]: ...

    def nodes(self, lab: str) -> list[NodeState]: ...

    def create_nodes(self, plan: Plan, image: str, progress: Progress) -> None: ...

    def wire_links(self, plan: Plan, progress: Progress) -> None: ...

    def configure(self, plan: Plan, files: dict[str, NodeFiles], progress: Progress) -> None: ...

    def exec(self, lab: str, node: str, argv: list[str]) -> ExecResult: ...

    def interactive_argv(self, lab: str, node: str, argv: list[str]) -> list[str]: ...

    def interfaces(self, lab: str, node: str) -> list[InterfaceState]: ...

    def destroy(self, lab: str, progress: Progress) -> int: ...
