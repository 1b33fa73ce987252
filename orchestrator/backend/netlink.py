"""Wiring inside network namespaces with pyroute2. Root only.

Every veth pair is created inside one node's namespace with its peer placed
straight into the other node's namespace: nothing of a lab ever exists in the
host's namespace, even for a moment.
"""

from __future__ import annotations

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import BackendError
from . import InterfaceState


def netns_path(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def open_netns(pid: int) -> IPRoute:
    """An IPRoute bound to the network namespace of process `pid`.

    flags=0: never create a namespace; a vanished one must be an error.
    """
    try:
        return IPRoute(netns=netns_path(pid), flags=0)
    except (OSError, NetlinkError) as exc:
        raise BackendError(f"cannot enter the network namespace of pid {pid}: {exc}") from exc


def add_veth(ipr_a: IPRoute, if_a: str, pid_b: int, if_b: str) -> None:
    """Create veth if_a (in ipr_a's namespace) <-> if_b (in pid_b's namespace)."""
    try:
        ipr_a.link("add", ifname=if_a, kind="veth", peer={"ifname": if_b, "net_ns_pid": pid_b})
    except NetlinkError as exc:
        raise BackendError(f"creating veth {if_a} <-> {if_b}: {exc}") from exc


def read_interfaces(pid: int) -> list[InterfaceState]:
    """Interfaces of a namespace (loopback left out), with state and addresses."""
    with open_netns(pid) as ipr:
        links = ipr.get_links()
        addrs = ipr.get_addr(family=2)
    names = {ln["index"]: ln.get_attr("IFLA_IFNAME") for ln in links}
    by_index: dict[int, list[str]] = {}
    for a in addrs:
        by_index.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    out = []
    for ln in links:
        name = ln.get_attr("IFLA_IFNAME")
        if name == "lo":
            continue
        master = ln.get_attr("IFLA_MASTER")
        out.append(InterfaceState(
            name=name,
            state="up" if ln["flags"] & 1 else "down",
            mac=ln.get_attr("IFLA_ADDRESS") or "",
            addresses=by_index.get(ln["index"], []),
            master=names.get(master) if master else None,
            oper=ln.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
        ))
    return out
