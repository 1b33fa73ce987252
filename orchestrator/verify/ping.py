"""All-pairs ping: every host pings every other host's first address, in
parallel (`lab ping`, `lab deploy --ping`), with the node's own ICMP echo
probe (`lab-probe ping`: each source's pings at once, from here inside
its network namespace or in one exec: probes.Prober.probe_many). A host
on the user-space stack is pinged but pings no one (its kernel has no address).
A host that takes its address by DHCP is pinged at the address it holds now.
With family 6 (`lab ping -6`), every host's first IPv6 address (a SLAAC
host's as the plan predicts it) with ICMPv6 echo."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..backend.protocol import Backend
from ..plan import Plan
from ..progress import Event, Progress, silent
from .probes import ProbeError, Prober


@dataclass(frozen=True)
class PingResult:
    src: str
    dst: str
    address: str
    ok: bool
    rtt_ms: float | None
    detail: str = ""


def host_targets(plan: Plan, family: int = 4) -> dict[str, str]:
    """host name -> its first address (of the family), for hosts that have one in the plan."""
    out = {}
    for node in plan.nodes.values():
        addrs = node.addresses() if family == 4 else node.addresses6()
        if node.kind == "host" and addrs:
            out[node.name] = addrs[0].split("/")[0]
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


#: one ping of `lab ping`: two echo requests 20 ms apart, 2 s for a reply
PING_ARGV = ["--count", "2", "--interval", "0.02", "--timeout", "2"]


def _pings(prober: Prober, src: str, dsts: list[tuple[str, str]]) -> list[PingResult]:
    """src pings each (dst, address) at once (the node's batch of probes)."""
    try:
        answers = prober.probe_many(src, [["ping", address, *PING_ARGV] for _, address in dsts])
    except ProbeError as exc:  # the source node is not running: no verdict, the reason
        return [PingResult(src, dst, address, False, None, str(exc)) for dst, address in dsts]
    out = []
    for (dst, address), (data, _) in zip(dsts, answers, strict=True):
        if isinstance(data, ProbeError):
            out.append(PingResult(src, dst, address, False, None, str(data)))
        elif data.get("ok"):
            avg = data.get("avg")
            out.append(PingResult(src, dst, address, True, float(avg) if isinstance(avg, (int, float)) else None))
        else:
            out.append(PingResult(src, dst, address, False, None, prober.named(str(data.get("error") or "no reply"))))
    return out


def all_pairs_ping(backend: Backend, plan: Plan, progress: Progress = silent,
                   workers: int = 8, family: int = 4) -> list[PingResult]:
    """Every host pings every other one: one batch per source host, all at once."""
    leased, without = leased_targets(backend, plan) if family == 4 else ({}, {})
    targets = {**host_targets(plan, family), **leased}
    sources = [s for s in targets if plan.nodes[s].stack is None]
    results: list[PingResult] = [PingResult(s, d, "no lease", False, None, why) for d, why in without.items()
                                 for s in sources]
    prober = Prober(backend, plan)
    total = sum(len(targets) - 1 for _ in sources)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(sources)))) as pool:
        futures = [pool.submit(_pings, prober, s, [(d, a) for d, a in targets.items() if d != s]) for s in sources]
        for fut in futures:
            for r in fut.result():
                results.append(r)
                progress(Event("verify", f"{r.src} -> {r.dst}: {'ok' if r.ok else 'FAIL'}",
                               len(results) - len(without) * len(sources), total))
    return results
