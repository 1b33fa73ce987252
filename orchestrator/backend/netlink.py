"""Netlink inside the nodes' network namespaces, with pyroute2. Root only.

Every function works on the namespace of a process (a node's PID 1) and
opens it once per call. Opening one does not fork: a short-lived thread
enters the namespace (setns), creates the netlink socket there and hands it
to pyroute2; the socket stays bound to that namespace (pyroute2's own
`netns=` forks a helper process per handle, 6-17 ms each).

Wiring: every veth pair is created inside one node's namespace with its peer
placed straight into the other node's namespace, so nothing of a lab ever
exists in the host's namespace, even for a moment.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.tcmsg import common as tc_common

from ..errors import BackendError, LabStateError
from ..model.common import Impairment
from ..plan import PlanRoute
from . import rtnl

ROOT_HANDLE = 0xFFFFFFFF  # TC_H_ROOT
ROOT_QDISC = 0x10000      # "1:"
TBF_LATENCY = "200ms"      # tbf queue: this much backlog, then drop
NETEM_MISSING = ("this machine's kernel has no netem queueing discipline (sch_netem), which delay, "
                 "jitter and loss need; load it on the host with 'modprobe sch_netem' (Debian's "
                 "kernels ship it as a module; some CI/VM kernels leave it out), or use --rate "
                 "alone, which works with tbf")


def open_netns(pid: int) -> IPRoute:
    """An IPRoute bound to the network namespace of process `pid` (which must
    exist: a vanished one is an error, never a new namespace)."""
    return open_namespace(rtnl.netns_path(pid), f"pid {pid}")


def open_namespace(path: str, what: str = "") -> IPRoute:
    """An IPRoute bound to the network namespace file `path` (/proc/PID/ns/net,
    /run/netns/NAME)."""
    what = what or path
    try:
        fd = rtnl.socket_in(path)
    except OSError as exc:
        raise BackendError(f"cannot enter the network namespace of {what}: {exc.strerror or exc}") from exc
    try:
        return IPRoute(fileno=fd)
    except (OSError, NetlinkError) as exc:
        os.close(fd)
        raise BackendError(f"cannot use the network namespace of {what}: {exc}") from exc


#: where the interface numbers (ifindex) of the ends made on the near side start
#: (see add_veth); the far ends get the namespace's next free ones (2, 3, ...)
VETH_INDEX_BASE = 10000


def veth_index(link_id: int) -> int:
    """The ifindex asked for the near end of the plan's link `link_id`."""
    return VETH_INDEX_BASE + link_id


def add_veth(ipr_a: IPRoute, if_a: str, pid_b: int, if_b: str, index_a: int | None = None) -> None:
    """Create veth if_a (in ipr_a's namespace) <-> if_b (in pid_b's namespace).

    `index_a` (see veth_index) numbers the near end apart from the far one.
    Two ends with the same ifindex (each namespace numbers its own from 2, so
    that is the rule between fresh nodes) make the kernel treat their state
    changes as not urgent: a veth then reports its carrier, and passes packets,
    up to a second after both ends are up; numbered apart, within milliseconds.
    An index that is taken in that namespace is left to the kernel."""
    try:
        if index_a is not None:
            try:
                ipr_a.link("add", ifname=if_a, index=index_a, kind="veth", peer={"ifname": if_b, "net_ns_pid": pid_b})
                return
            except NetlinkError as exc:
                if exc.code != errno.EBUSY and exc.code != errno.EEXIST:
                    raise
                if ipr_a.link_lookup(ifname=if_a):
                    raise
        ipr_a.link("add", ifname=if_a, kind="veth", peer={"ifname": if_b, "net_ns_pid": pid_b})
    except NetlinkError as exc:
        raise BackendError(f"creating veth {if_a} <-> {if_b}: {exc}") from exc


def delete_link(pid: int, ifname: str) -> None:
    """Remove an interface (a dangling end of an old veth pair) if it is there."""
    with open_netns(pid) as ipr:
        for idx in ipr.link_lookup(ifname=ifname):
            ipr.link("del", index=idx)


def interface_names(pid: int) -> set[str]:
    with open_netns(pid) as ipr:
        return {ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links()}


def _index(ipr: IPRoute, ifname: str, node: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        names = sorted(ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links())
        raise LabStateError(f"node {node} has no interface '{ifname}' (it has: {', '.join(names)}); "
                            "if the node was restarted, run 'lab repair'")
    return int(found[0])


# --- link state and routes ---------------------------------------------------------
def set_link_state(pid: int, node: str, iface: str, up: bool) -> None:
    """Set one end of a link administratively up or down."""
    with open_netns(pid) as ipr:
        idx = _index(ipr, iface, node)
        try:
            ipr.link("set", index=idx, state="up" if up else "down")
        except NetlinkError as exc:
            raise BackendError(f"setting {node}:{iface} {'up' if up else 'down'}: {exc}") from exc


def replace_routes(pid: int, node: str, iface: str, routes: list[PlanRoute]) -> int:
    """Write routes through node:iface (replacing any to the same places)."""
    if not routes:
        return 0
    with open_netns(pid) as ipr:
        idx = _index(ipr, iface, node)
        for r in routes:
            dst = "0.0.0.0/0" if r.to == "default" else r.to
            try:
                ipr.route("replace", dst=dst, gateway=r.via, oif=idx)
            except NetlinkError as exc:
                raise BackendError(f"restoring the route {r.to} via {r.via} on {node}: {exc}") from exc
    return len(routes)


# --- impairments: tc netem / tbf ------------------------------------------------------
def _qdisc_args(imp: Impairment) -> tuple[str, dict[str, Any]]:
    if imp.delay_ms or imp.loss_pct:
        kwargs: dict[str, Any] = {"delay": int(imp.delay_ms * 1000), "jitter": int(imp.jitter_ms * 1000),
                                  "loss": imp.loss_pct}
        if imp.rate_kbit:
            kwargs["rate"] = f"{imp.rate_kbit}kbit"
        return "netem", kwargs
    rate_bytes = imp.rate_kbit * 1000 // 8
    return "tbf", {"rate": f"{imp.rate_kbit}kbit", "burst": max(rate_bytes // 100, 1600),
                   "latency": TBF_LATENCY}


def impair(pid: int, node: str, iface: str, imp: Impairment) -> str:
    """Replace the root qdisc of node:iface: netem for delay/jitter/loss (with
    its own rate limit if one is asked too), tbf for a rate limit alone.
    A change that fails leaves the previous impairment in place.
    Returns the qdisc kind used."""
    kind, kwargs = _qdisc_args(imp)
    previous = read_impairments(pid).get(iface)
    with open_netns(pid) as ipr:
        idx = _index(ipr, iface, node)
        try:
            try:
                ipr.tc("replace", kind=kind, index=idx, handle=ROOT_QDISC, **kwargs)
            except NetlinkError as exc:
                if exc.code != errno.EINVAL or previous is None:
                    raise
                # a root qdisc of another kind (tbf <-> netem) cannot be changed in place
                ipr.tc("del", index=idx, handle=0, parent=ROOT_HANDLE)
                try:
                    ipr.tc("add", kind=kind, index=idx, handle=ROOT_QDISC, **kwargs)
                except NetlinkError:
                    old_kind, old_kwargs = _qdisc_args(previous)
                    ipr.tc("add", kind=old_kind, index=idx, handle=ROOT_QDISC, **old_kwargs)
                    raise
        except NetlinkError as exc:
            if kind == "netem" and exc.code == errno.ENOENT:
                raise BackendError(f"cannot impair {node}:{iface}: {NETEM_MISSING}") from exc
            raise BackendError(f"applying {kind} on {node}:{iface}: {exc}") from exc
    return kind


def clear_impairment(pid: int, node: str, iface: str) -> bool:
    """Remove our root qdisc from node:iface. False if there was none."""
    with open_netns(pid) as ipr:
        idx = _index(ipr, iface, node)
        try:
            ipr.tc("del", index=idx, handle=0, parent=ROOT_HANDLE)
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.EINVAL):
                return False  # only the default qdisc was there
            raise BackendError(f"clearing the qdisc of {node}:{iface}: {exc}") from exc
    return True


def _netem_of(msg: Any) -> Impairment:
    opts = msg.get_attr("TCA_OPTIONS")
    tick = tc_common.tick_in_usec or 1
    delay_us = (opts.get("delay") or 0) / tick
    jitter_us = (opts.get("jitter") or 0) / tick
    loss = (opts.get("loss") or 0) * 100 / (2**32 - 1)
    rate_kbit = 0
    rate = opts.get_attr("TCA_NETEM_RATE")
    if rate:
        rate_kbit = int(round(rate.get("rate", 0) * 8 / 1000))
    return Impairment(delay_ms=round(delay_us / 1000, 3), jitter_ms=round(jitter_us / 1000, 3),
                      loss_pct=round(loss, 3), rate_kbit=rate_kbit)


def read_impairments(pid: int) -> dict[str, Impairment]:
    """interface -> the impairment (netem or tbf root qdisc) on it, where there is one."""
    out: dict[str, Impairment] = {}
    with open_netns(pid) as ipr:
        names = {ln["index"]: ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links()}
        for q in ipr.get_qdiscs():
            kind = q.get_attr("TCA_KIND")
            if q["index"] not in names or q["parent"] != ROOT_HANDLE:
                continue
            if kind == "netem":
                out[names[q["index"]]] = _netem_of(q)
            elif kind == "tbf":
                parms = q.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
                out[names[q["index"]]] = Impairment(rate_kbit=int(round(parms["rate"] * 8 / 1000)))
    return out
