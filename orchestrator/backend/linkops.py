"""Operations on the links of a running lab, from the host side. Root only.

Every function takes a `DockerBackend` and works in a node's network
namespace through pyroute2 (link state, tc qdiscs, re-wiring after a restart)
or by exec'ing a program in the node whose output is streamed back
(tcpdump, tail). Nothing here prints.
"""

from __future__ import annotations

import errno
import queue
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.tcmsg import common as tc_common

from ..errors import BackendError, LabStateError
from ..plan import Plan, PlanEnd
from ..render import SETUP_SCRIPT
from . import NodeState
from . import netlink
from .dockerengine import DockerBackend

ROOT_HANDLE = 0xFFFFFFFF  # TC_H_ROOT
ROOT_QDISC = 0x10000      # "1:"
TBF_LATENCY = "200ms"      # tbf queue: this much backlog, then drop


# --- nodes -------------------------------------------------------------------
def node_state(backend: DockerBackend, lab: str, node: str) -> NodeState:
    states = backend.nodes(lab)
    if not states:
        raise LabStateError(f"lab '{lab}' is not deployed (see: lab status)")
    for st in states:
        if st.node == node:
            return st
    raise LabStateError(f"lab '{lab}' has no node '{node}' "
                        f"(its nodes: {', '.join(s.node for s in states)})")


def running_pid(backend: DockerBackend, lab: str, node: str) -> int:
    st = node_state(backend, lab, node)
    if st.state != "running" or not st.pid:
        raise LabStateError(f"node {node} of lab {lab} is {st.state}, not running "
                            f"(start it again with: lab repair {lab})")
    return st.pid


def _index(ipr, ifname: str, node: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        names = sorted(ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links())
        raise LabStateError(f"node {node} has no interface '{ifname}' (it has: {', '.join(names)}); "
                            "if the node was restarted, run 'lab repair'")
    return found[0]


# --- link state --------------------------------------------------------------
def set_link_state(backend: DockerBackend, lab: str, node: str, iface: str, up: bool) -> None:
    """Set one end of a link administratively up or down."""
    with netlink.open_netns(running_pid(backend, lab, node)) as ipr:
        idx = _index(ipr, iface, node)
        try:
            ipr.link("set", index=idx, state="up" if up else "down")
        except NetlinkError as exc:
            raise BackendError(f"setting {node}:{iface} {'up' if up else 'down'}: {exc}") from exc


def restore_routes(backend: DockerBackend, plan: Plan, node: str, iface: str) -> int:
    """Put back the planned routes through node:iface. The kernel deletes the
    routes through an interface that is set down, and does not bring them
    back when it comes up again. Returns how many routes were written."""
    routes = [r for r in plan.nodes[node].routes if r.dev == iface]
    if not routes:
        return 0
    with netlink.open_netns(running_pid(backend, plan.lab, node)) as ipr:
        idx = _index(ipr, iface, node)
        for r in routes:
            dst = "0.0.0.0/0" if r.to == "default" else r.to
            try:
                ipr.route("replace", dst=dst, gateway=r.via, oif=idx)
            except NetlinkError as exc:
                raise BackendError(f"restoring the route {r.to} via {r.via} on {node}: {exc}") from exc
    return len(routes)


# --- impairments (tc netem) ----------------------------------------------------
@dataclass(frozen=True)
class Impairment:
    """What netem does to the packets leaving an interface."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_kbit: int = 0       # 0: no rate limit

    def is_empty(self) -> bool:
        return not (self.delay_ms or self.jitter_ms or self.loss_pct or self.rate_kbit)

    def describe(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g}ms" + (f" ±{self.jitter_ms:g}ms" if self.jitter_ms else ""))
        if self.loss_pct:
            parts.append(f"loss {self.loss_pct:g}%")
        if self.rate_kbit:
            parts.append(f"rate {format_rate(self.rate_kbit)}")
        return ", ".join(parts) or "none"


def format_rate(kbit: int) -> str:
    if kbit >= 1_000_000 and kbit % 1_000_000 == 0:
        return f"{kbit // 1_000_000}gbit"
    if kbit >= 1000 and kbit % 1000 == 0:
        return f"{kbit // 1000}mbit"
    return f"{kbit}kbit"


NETEM_MISSING = ("this machine's kernel has no netem queueing discipline (sch_netem), which delay, "
                 "jitter and loss need; load it on the host with 'modprobe sch_netem' (Debian's "
                 "kernels ship it as a module; some CI/VM kernels leave it out), or use --rate "
                 "alone, which works with tbf")


def _qdisc_args(imp: Impairment) -> tuple[str, dict]:
    if imp.delay_ms or imp.loss_pct:
        kwargs: dict = {"delay": int(imp.delay_ms * 1000), "jitter": int(imp.jitter_ms * 1000),
                        "loss": imp.loss_pct}
        if imp.rate_kbit:
            kwargs["rate"] = f"{imp.rate_kbit}kbit"
        return "netem", kwargs
    rate_bytes = imp.rate_kbit * 1000 // 8
    return "tbf", {"rate": f"{imp.rate_kbit}kbit", "burst": max(rate_bytes // 100, 1600),
                   "latency": TBF_LATENCY}


def impair(backend: DockerBackend, lab: str, node: str, iface: str, imp: Impairment) -> str:
    """Replace the root qdisc of node:iface: netem for delay/jitter/loss (with
    its own rate limit if one is asked too), tbf for a rate limit alone.
    A change that fails leaves the previous impairment in place.
    Returns the qdisc kind used."""
    if imp.is_empty():
        raise ValueError("an impairment needs at least one of delay, jitter, loss, rate")
    if imp.jitter_ms and not imp.delay_ms:
        raise ValueError("jitter needs a delay to vary around (give --delay too)")
    kind, kwargs = _qdisc_args(imp)
    pid = running_pid(backend, lab, node)
    previous = read_impairments(pid).get(iface)
    with netlink.open_netns(pid) as ipr:
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


def clear_impairment(backend: DockerBackend, lab: str, node: str, iface: str) -> bool:
    """Remove our root qdisc from node:iface. False if there was none."""
    with netlink.open_netns(running_pid(backend, lab, node)) as ipr:
        idx = _index(ipr, iface, node)
        try:
            ipr.tc("del", index=idx, handle=0, parent=ROOT_HANDLE)
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.EINVAL):
                return False  # only the default qdisc was there
            raise BackendError(f"clearing the qdisc of {node}:{iface}: {exc}") from exc
    return True


def _netem_of(msg) -> Impairment:
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
    with netlink.open_netns(pid) as ipr:
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


# --- repair after a container restart --------------------------------------------
def missing_interfaces(plan: Plan, node: str, present: set[str]) -> list[str]:
    return [i.name for i in plan.nodes[node].interfaces if i.name not in present]


def interface_names(pid: int) -> set[str]:
    with netlink.open_netns(pid) as ipr:
        return {ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links()}


def relink_node(backend: DockerBackend, plan: Plan, node: str) -> list[PlanEnd]:
    """Re-create every planned link of `node` that is missing from its namespace.

    A peer end left behind in the other node's namespace (possible when the
    old namespace outlived the container) is deleted first. Returns the
    link ends re-created on the other nodes (those need their setup again).
    """
    pids = {st.node: st.pid for st in backend.nodes(plan.lab) if st.state == "running"}
    if node not in pids:
        raise LabStateError(f"node {node} of lab {plan.lab} is not running")
    present = interface_names(pids[node])
    touched: list[PlanEnd] = []
    with netlink.open_netns(pids[node]) as ipr:
        for link in plan.links:
            for mine, other in ((link.a, link.b), (link.b, link.a)):
                if mine.node != node or mine.iface in present:
                    continue
                if other.node not in pids:
                    raise LabStateError(f"cannot re-create {mine} <-> {other}: node {other.node} "
                                        "is not running (repair it first)")
                with netlink.open_netns(pids[other.node]) as peer:
                    for idx in peer.link_lookup(ifname=other.iface):
                        peer.link("del", index=idx)  # dangling end of the old pair
                netlink.add_veth(ipr, mine.iface, pids[other.node], other.iface)
                touched.append(other)
    return touched


def rerun_setup(backend: DockerBackend, lab: str, node: str) -> None:
    """Run the node's own setup script again (it is idempotent)."""
    res = backend.exec(lab, node, ["sh", SETUP_SCRIPT])
    if not res.ok:
        raise BackendError(f"re-configuring {node}: {SETUP_SCRIPT} failed (exit {res.exit_code}): "
                           f"{(res.stdout + res.stderr).strip()}")


def start_node(backend: DockerBackend, lab: str, node: str) -> None:
    st = node_state(backend, lab, node)
    backend.client.containers.get(st.container).start()


# --- programs streamed out of a node ---------------------------------------------
class RemoteProcess:
    """A command exec'd in a node, its stdout/stderr read on a thread.

    The command runs under `sh -c 'echo pid; exec CMD'` so that stop() can
    send it a signal from a second exec (the engine has no exec-kill).
    """

    _PID_TAG = b"labnet-pid="

    def __init__(self, backend: DockerBackend, lab: str, node: str, argv: list[str]):
        running_pid(backend, lab, node)
        st = node_state(backend, lab, node)
        self._api = backend.client.api
        self._container = backend.client.containers.get(st.container)
        wrapped = ["sh", "-c", 'echo "labnet-pid=$$" >&2; exec "$@"', "sh", *argv]
        self._exec_id = self._api.exec_create(self._container.id, wrapped, stdout=True, stderr=True)["Id"]
        self._queue: queue.Queue = queue.Queue()
        self._pid: int | None = None
        self._pid_seen = threading.Event()
        self._err_head = b""
        stream = self._api.exec_start(self._exec_id, stream=True, demux=True)
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        try:
            for out, err in stream:
                if err and self._pid is None:
                    self._err_head += err
                    head, sep, rest = self._err_head.partition(b"\n")
                    if sep and head.startswith(self._PID_TAG):
                        self._pid = int(head[len(self._PID_TAG):])
                        self._pid_seen.set()
                        err = rest
                    elif not sep:
                        continue
                    else:
                        err = self._err_head
                    self._err_head = b""
                self._queue.put((out or b"", err or b""))
        except Exception as exc:  # the engine connection broke
            self._queue.put(exc)
        finally:
            self._pid_seen.set()
            self._queue.put(None)

    def chunks(self, poll_s: float = 0.2) -> Iterator[tuple[bytes, bytes] | None]:
        """(stdout, stderr) pieces until the program ends; None every poll_s
        seconds of silence so the caller can check its own stop conditions."""
        while True:
            try:
                item = self._queue.get(timeout=poll_s)
            except queue.Empty:
                yield None
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise BackendError(f"reading from the node failed: {item}") from item
            yield item

    def stop(self, signal: str = "INT") -> None:
        self._pid_seen.wait(timeout=3)
        if self._pid is not None:
            self._container.exec_run(["kill", f"-{signal}", str(self._pid)])

    def exit_code(self) -> int | None:
        self._thread.join(timeout=5)
        return self._api.exec_inspect(self._exec_id).get("ExitCode")


@dataclass
class CaptureResult:
    packets: int            # frames written / printed
    stderr: str             # tcpdump's own messages ("N packets captured" ...)
    interrupted: bool


def tcpdump_argv(iface: str, *, pcap: bool, count: int | None, bpf: list[str],
                 link_level: bool = False) -> list[str]:
    argv = ["tcpdump", "-i", iface, "-n"]
    argv += ["-U", "-w", "-"] if pcap else ["-l"]
    if link_level and not pcap:
        argv.append("-e")
    if count:
        argv += ["-c", str(count)]
    return argv + list(bpf)


def capture(backend: DockerBackend, lab: str, node: str, iface: str, *,
            pcap_out: BinaryIO | None = None, on_line: Callable[[str], None] | None = None,
            count: int | None = None, seconds: float | None = None, bpf: list[str] | None = None,
            link_level: bool = False, on_ready: Callable[[str], None] | None = None) -> CaptureResult:
    """tcpdump on node:iface. Writes pcap bytes to pcap_out, or calls on_line
    with each decoded line. Ends after `count` packets, `seconds`, or Ctrl-C
    (KeyboardInterrupt is absorbed: the capture is stopped and flushed)."""
    if (pcap_out is None) == (on_line is None):
        raise ValueError("give exactly one of pcap_out and on_line")
    proc = RemoteProcess(backend, lab, node, tcpdump_argv(iface, pcap=pcap_out is not None, count=count,
                                                          bpf=bpf or [], link_level=link_level))
    deadline = time.monotonic() + seconds if seconds else None
    stderr, text = b"", b""
    interrupted = stopping = False
    it = proc.chunks()
    while True:
        try:
            item = next(it, StopIteration)
            if item is StopIteration:
                break
            if item is None:
                if deadline and not stopping and time.monotonic() >= deadline:
                    stopping = True
                    proc.stop()
                continue
            out, err = item
            if err:
                if b"listening on" in err and b"listening on" not in stderr and on_ready:
                    on_ready(err.decode(errors="replace").strip())
                stderr += err
            if out and pcap_out is not None:
                pcap_out.write(out)
                pcap_out.flush()
            elif out:
                text += out
                *lines, text = text.split(b"\n")
                for ln in lines:
                    if ln.strip():  # tcpdump ends with a bare newline on SIGINT
                        on_line(ln.decode(errors="replace"))
        except KeyboardInterrupt:
            interrupted = True
            if not stopping:
                stopping = True
                proc.stop()
    if text.strip() and on_line:
        on_line(text.decode(errors="replace"))
    code = proc.exit_code()
    message = stderr.decode(errors="replace").strip()
    if code not in (0, None) and not stopping:
        raise BackendError(f"tcpdump on {node}:{iface} failed (exit {code}): {message}")
    return CaptureResult(packets=_captured_count(message), stderr=message, interrupted=interrupted)


def _captured_count(message: str) -> int:
    for line in message.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1:3] == ["packets", "captured"] or words[1:3] == ["packet", "captured"]:
            return int(words[0])
    return 0
