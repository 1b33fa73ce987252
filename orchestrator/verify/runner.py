"""Running a lab's checks: each Check becomes a probe inside a node.

Many at once (a bounded pool): first attempts are grouped by the node they
run in, one batch per node (from here in its network namespace, or one
exec: probes.Prober.probe_many); a check with `wait` is retried until it
holds or its deadline passes. Every Result says what was expected and what
was seen. Nothing is printed: progress goes through Events (stage "test").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

from ..backend.protocol import Backend, NodeState
from ..plan import Check, Plan
from ..progress import Event, Progress, silent
from . import DEFAULT_WORKERS
from .probes import ProbeError, Prober, Seen

#: pause between two attempts of a check that waits
RETRY_PAUSE = 0.25
#: the shortest probe timeout used for the last attempts before a deadline
MIN_TIMEOUT = 0.2
BATCH_SIZE = 32


@dataclass(frozen=True)
class Result:
    """The outcome of one check."""

    id: str             # the check's place in the lab file: expect[1].reach.to[0]
    kind: str
    what: str           # the check's title
    src: str
    dst: str
    expected: str
    got: str
    ok: bool
    seconds: float
    detail: str = ""    # more of what was seen (raw probe figures)
    attempts: int = 1
    error: bool = False  # the probe could not run at all (not a network verdict)

    @property
    def message(self) -> str:
        return f"{self.what}: expected {self.expected}, got {self.got}"


def not_running(backend: Backend, plan: Plan, listed: list[NodeState] | None = None) -> dict[str, str]:
    """node -> its state ("exited", "gone", ...), for the plan's nodes that do not run
    (`listed`: the lab's nodes as just read, else read now)."""
    states = {st.node: st for st in (backend.nodes(plan.lab) if listed is None else listed)}
    return {node: ("gone" if node not in states else states[node].state) for node in plan.nodes
            if node not in states or not states[node].running}


def _alone(check: Check) -> bool:
    """Checks that are not batched with others: nat_source (two steps), and
    those made through a user-space stack (not by the in-node probe)."""
    return check.kind == "nat_source" or check.stack


def _first_timeout(check: Check, left: float) -> float:
    return check.timeout if check.wait <= 0 else max(min(check.timeout, left), MIN_TIMEOUT)


def run_check(runner: Prober, check: Check, first: Seen | None = None,
              start: float | None = None) -> Result:
    """Run one check until it holds or its deadline passes (`first`: an
    attempt already made, at `start`)."""
    start = time.monotonic() if start is None else start
    deadline = start + check.wait
    attempts = 0 if first is None else 1
    seen = first
    while seen is None or not (seen.ok or seen.final or deadline - time.monotonic() < RETRY_PAUSE):
        if seen is not None:
            time.sleep(RETRY_PAUSE)
        attempts += 1
        seen = runner.attempt(check, _first_timeout(check, deadline - time.monotonic()))
    seconds = time.monotonic() - start
    if attempts == 1 and seen.seconds is not None:
        seconds = seen.seconds
    detail = seen.detail
    if not seen.ok and attempts > 1:
        detail = f"{attempts} attempts in {seconds:.1f} s (wait {check.wait:g} s). {detail}".strip()
    return Result(id=check.id, kind=check.kind, what=check.title, src=check.src, dst=check.dst,
                  expected=check.expected, got=seen.got, ok=seen.ok, seconds=seconds, detail=detail,
                  attempts=attempts, error=seen.error and not seen.ok)


def _batch(runner: Prober, checks: list[tuple[int, Check]]) -> list[tuple[int, Seen, float]]:
    """First attempts of several checks from one node, in one batch."""
    start = time.monotonic()
    jobs = [runner.argv(c, _first_timeout(c, c.wait)) for _, c in checks]
    try:
        outs = runner.probe_many(checks[0][1].src, jobs)
    except ProbeError as exc:  # the node could not run them at all (stopped, gone)
        outs = [(exc, None)] * len(checks)
    seen = []
    for (n, check), (out, took) in zip(checks, outs):
        if isinstance(out, ProbeError):
            seen.append((n, Seen(False, str(out), error=True, final=out.final, seconds=took), start))
        else:
            seen.append((n, replace(runner.judge(check, out), seconds=took), start))
    return seen


def _leased(runner: Prober, checks: list[Check], down: dict[str, str],
            finish: Callable[[int, Result], None]) -> list[Check]:
    """Checks whose target takes its address by DHCP, with the address it
    holds now (read from the node once per interface); those whose target
    holds none are finished, failed, with the reason."""
    refs = sorted({c.lease for c in checks if c.lease and c.lease.partition(".")[0] not in down})
    if not refs:
        return checks
    with ThreadPoolExecutor(max_workers=min(len(refs), DEFAULT_WORKERS)) as pool:
        found = dict(zip(refs, pool.map(runner.leased, refs)))
    out = list(checks)
    for n, check in enumerate(checks):
        if not check.lease or check.lease not in found:
            continue
        address, why = found[check.lease]
        if address is None:
            finish(n, Result(id=check.id, kind=check.kind, what=check.title, src=check.src, dst=check.dst,
                             expected=check.expected, ok=False, seconds=0.0, error=True, got=why))
        else:
            out[n] = check.model_copy(update={"address": address})
    return out


def run_checks(backend: Backend, plan: Plan, checks: list[Check] | None = None, *,
               workers: int = DEFAULT_WORKERS, progress: Progress = silent,
               states: list[NodeState] | None = None) -> list[Result]:
    """Run checks (default: the plan's) concurrently; results in check order.

    First attempts are grouped by the node they run in (one batch per node,
    checks that may wait apart from those that may not); checks that fail
    and may wait are then retried one by one until their deadline, counted
    from the start. nat_source (two steps) and checks through a user-space
    stack run on their own. `states`: the lab's nodes as the caller just read
    them (else they are read here)."""
    checks = list(plan.checks) if checks is None else checks
    if not checks:
        return []
    states = backend.nodes(plan.lab) if states is None else states
    runner = Prober(backend, plan, states)
    results: list[Result | None] = [None] * len(checks)
    total = len(checks)
    progress(Event("test", f"{total} checks on {plan.lab}", 0, total))
    down = not_running(backend, plan, states)
    groups: dict[tuple[str, bool], list[tuple[int, Check]]] = {}
    done = 0

    def finish(n: int, result: Result) -> None:
        nonlocal done
        results[n] = result
        done += 1
        progress(Event("test", f"{result.what}: {'ok' if result.ok else 'FAIL'}", done, total))

    checks = _leased(runner, checks, down, finish)
    for n, check in enumerate(checks):
        if results[n] is not None:
            continue    # its target's address could not be read
        stopped = [node for node in dict.fromkeys((check.src, check.dst.partition(".")[0].partition(":")[0]))
                   if node in down]
        if stopped:  # no probe: a node it needs is not running
            finish(n, Result(id=check.id, kind=check.kind, what=check.title, src=check.src, dst=check.dst,
                             expected=check.expected, ok=False, seconds=0.0, error=True,
                             got=f"{stopped[0]} is {down[stopped[0]]} — run 'lab repair {plan.lab}'"))
        elif not _alone(check):
            groups.setdefault((check.src, check.wait > 0), []).append((n, check))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = {pool.submit(run_check, runner, c): n for n, c in enumerate(checks)
                   if _alone(c) and results[n] is None}
        batches = [pool.submit(_batch, runner, group[i:i + BATCH_SIZE])
                   for group in groups.values() for i in range(0, len(group), BATCH_SIZE)]
        for batch in as_completed(batches):
            for n, seen, start in batch.result():
                check = checks[n]
                if seen.ok or seen.final or check.wait <= 0:
                    finish(n, run_check(runner, check, seen, start))  # no further attempt
                else:
                    pending[pool.submit(run_check, runner, check, seen, start)] = n
        while pending:
            for fut in as_completed(list(pending)):
                finish(pending.pop(fut), fut.result())
    return [r for r in results if r is not None]
