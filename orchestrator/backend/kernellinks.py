"""What both real backends do the same way once a node runs: its links'
state, routes and impairments through netlink in the namespace of the
node's PID 1 (backend/netlink.py). A backend mixes this in and provides
_node (any state) and _running (a running node, or LabStateError)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import rtnl

if TYPE_CHECKING:
    from ..model.common import Impairment
    from ..plan import PlanRoute
    from . import netlink
    from .protocol import NodeState
else:
    from .dockerclient import OnFirstUse
    netlink = OnFirstUse(f"{__package__}.netlink")   # pyroute2 only when a command needs it


class KernelLinks:
    def _node(self, lab: str, node: str) -> NodeState:
        raise NotImplementedError

    def _running(self, lab: str, node: str) -> NodeState:
        raise NotImplementedError

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
        if not st.running:
            return {}
        # the kernel's root qdiscs first (no pyroute2): only netem or tbf is worth decoding
        roots = rtnl.read(st.pid, qdiscs=True, addresses=False).root_qdiscs
        return netlink.read_impairments(st.pid) if {"netem", "tbf"} & set(roots.values()) else {}
