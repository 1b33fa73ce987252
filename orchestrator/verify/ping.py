"""All-pairs ping: every host pings every other host's first address, in
parallel (`lab ping`, `lab deploy --ping`), with the system's ping. A host
on the user-space stack is pinged but pings no one (its kernel has no address).
A host that takes its address by DHCP is pinged at the address it holds now."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..backend.protocol import Backend
from ..errors import LabError
from ..plan import Plan
from ..progress import Event, Progress, silent
from .probes import Prober

_RTT = re.compile(r"= [\d.]+/([\d.]+)/")


@dataclass(frozen=True)
class PingResult:
    src: str
    dst: str
    address: str
    ok: bool
    rtt_ms: float | None
    detail: str = ""


def host_targets(plan: Plan) -> dict[str, str]:
    """host name -> its first address, for hosts that have one in the plan."""
    out = {}
    for node in plan.nodes.values():
        if node.kind == "host" and node.addresses():
            out[node.name] = node.addresses()[0].split("/")[0]
    return out


def leased_targets(backend: Backend, plan: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """The hosts whose address comes from DHCP with no reservation: host -> the
    address it holds now, and host -> why it holds none."""
    asking = {n.name: f"{n.name}.{i.name}" for n in plan.nodes.values() if n.kind == "host" and not n.addresses()
              for i in n.interfaces if i.dhcp}
    if not asking:
        return {}, {}
    prober = Prober(backend, plan)
    with ThreadPoolExecutor(max_workers=min(8, len(asking))) as pool:
        found = dict(zip(asking, pool.map(prober.leased, asking.values())))
    return ({n: a for n, (a, _) in found.items() if a is not None},
            {n: why for n, (a, why) in found.items() if a is None})


def ping(backend: Backend, lab: str, src: str, dst: str, address: str,
         count: int = 1, timeout_s: int = 2, tries: int = 2) -> PingResult:
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout_s), address]
    for _ in range(max(1, tries)):
        try:
            res = backend.exec(lab, src, argv)
        except LabError as exc:  # the source node is not running: no verdict, the reason
            return PingResult(src, dst, address, False, None, str(exc))
        if res.ok:
            m = _RTT.search(res.stdout)
            return PingResult(src, dst, address, True, float(m.group(1)) if m else None)
    lines = (res.stdout + res.stderr).strip().splitlines()
    return PingResult(src, dst, address, False, None, lines[-1] if lines else f"exit {res.exit_code}")


def all_pairs_ping(backend: Backend, plan: Plan, progress: Progress = silent,
                   workers: int = 8) -> list[PingResult]:
    leased, without = leased_targets(backend, plan)
    targets = {**host_targets(plan), **leased}
    pairs = [(s, d) for s in targets for d in targets if s != d and plan.nodes[s].stack is None]
    results: list[PingResult] = [PingResult(s, d, "no lease", False, None, why) for d, why in without.items()
                                 for s in targets if plan.nodes[s].stack is None]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(ping, backend, plan.lab, s, d, targets[d]) for s, d in pairs]
        for n, fut in enumerate(futures, 1):
            r = fut.result()
            results.append(r)
            progress(Event("verify", f"{r.src} -> {r.dst}: {'ok' if r.ok else 'FAIL'}", n, len(pairs)))
    return results
