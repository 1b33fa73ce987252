"""Running a lab's expectations: each Check becomes a probe inside a node.

Probes are the in-node `python3 -m labnode.probe KIND ...` commands (one
JSON object on stdout; exit 0 ok, 1 failed, 2 usage), run through the
backend's `exec`, many at once (a bounded pool). A check with `wait` is
retried until it holds or its deadline passes. Every Result says what was
expected and what was seen (the ping loss, the traceroute hops, the HTTP
status), so a failure can be debugged from the report. Nothing is printed:
progress goes through Events (stage "test").
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

from .backend import Backend
from .checks import plan_checks
from .expect import Check
from .plan import Plan
from .progress import Event, Progress, silent

PROBE = ["python3", "-m", "labnode.probe"]
#: pause between two attempts of a check that waits
RETRY_PAUSE = 0.25
#: the shortest probe timeout used for the last attempts before a deadline
MIN_TIMEOUT = 0.2
DEFAULT_WORKERS = 8
_CLIENT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d+ \"[A-Z]+ ")


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


@dataclass(frozen=True)
class _Seen:
    ok: bool
    got: str
    detail: str = ""
    error: bool = False
    final: bool = False   # retrying cannot change it (a usage error)
    seconds: float | None = None  # how long the probe took, when known


class _ProbeError(Exception):
    def __init__(self, text: str, final: bool = False):
        super().__init__(text)
        self.final = final


def _fmt(value: float | None, unit: str = "ms") -> str:
    return "?" if value is None else f"{value:.1f} {unit}"


# Runs several probes in one node with one exec: a node's probes of a round
# share one Python start-up instead of paying one each (about 0.2 s apiece).
# It calls the functions behind `python3 -m labnode.probe` (the CLI's own
# parser, so the arguments and results are the CLI's); when it cannot, the
# runner falls back to one CLI call per probe.
_BATCH = """
import json, sys, threading, time
from labnode.probe.__main__ import UsageError, build_parser, run
jobs = json.loads(sys.argv[1]); out = [None] * len(jobs); gate = threading.Semaphore(32)
def one(i, argv):
    with gate:
        t = time.monotonic()
        try:
            r = run(build_parser().parse_args(argv)); code = 0 if r.get("ok") else 1
        except UsageError as e:
            r, code = {"probe": argv[0], "ok": False, "error": str(e)}, 2
        except Exception as e:
            r, code = {"probe": argv[0], "ok": False, "error": "internal error: %s: %s" % (type(e).__name__, e)}, 1
        out[i] = [code, r, time.monotonic() - t]
threads = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(jobs)]
for t in threads: t.start()
for t in threads: t.join()
sys.stdout.write(json.dumps(out) + "\\n")
"""


class _Runner:
    def __init__(self, backend: Backend, plan: Plan):
        self.backend = backend
        self.plan = plan
        self.batch_ok = True
        #: address -> (node, iface), to name what the probes see
        self.owner: dict[str, tuple[str, str]] = {}
        for node in plan.nodes.values():
            for iface in node.interfaces:
                if iface.address:
                    self.owner.setdefault(iface.address.split("/")[0], (node.name, iface.name))

    def name(self, address: str | None) -> str:
        return "*" if address is None else self.owner.get(address, (address, ""))[0]

    def iface(self, address: str) -> str:
        node, iface = self.owner.get(address, ("", ""))
        return f"{address} ({node}.{iface})" if node else address

    def _exec(self, node: str, argv: list[str]):
        try:
            return self.backend.exec(self.plan.lab, node, argv)
        except Exception as exc:  # the engine, a stopped node: no verdict, but a reason
            raise _ProbeError(f"could not run the probe in {node}: {exc}") from None

    def probe(self, node: str, argv: list[str]) -> dict[str, Any]:
        """One probe through the CLI: its JSON result."""
        res = self._exec(node, [*PROBE, *argv])
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        try:
            data = json.loads(lines[-1]) if lines else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            why = (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1]
            raise _ProbeError(f"the probe in {node} gave no result ({why})")
        if res.exit_code == 2:
            raise _ProbeError(f"probe usage error: {data.get('error')}", final=True)
        return data

    def probe_many(self, node: str, jobs: list[list[str]]) -> list[tuple[dict[str, Any] | _ProbeError, float | None]]:
        """Several probes in one node at once: each one's JSON result (or why
        not) and how long it took."""
        if self.batch_ok and len(jobs) > 1:
            res = self._exec(node, ["python3", "-c", _BATCH, json.dumps(jobs)])
            try:
                out = json.loads(res.stdout.strip().splitlines()[-1])
                assert isinstance(out, list) and len(out) == len(jobs)
                return [(data if code != 2 else _ProbeError(f"probe usage error: {data.get('error')}", True),
                         float(took)) for code, data, took in out]
            except (ValueError, AssertionError, IndexError, TypeError):
                self.batch_ok = False  # an image whose probe package differs: use the CLI
        out_: list[tuple[dict[str, Any] | _ProbeError, float | None]] = []
        for argv in jobs:
            t = time.monotonic()
            try:
                out_.append((self.probe(node, argv), time.monotonic() - t))
            except _ProbeError as exc:
                out_.append((exc, time.monotonic() - t))
        return out_

    # --- per kind: the probe's arguments, and what its result means ----------
    def argv(self, check: Check, timeout: float) -> list[str]:
        proto, _, port = check.proto.partition(":")
        t = ["--timeout", f"{timeout:g}"]
        if check.kind in ("reach", "deny"):
            if proto == "icmp":
                return ["ping", check.address, "--count", "2", "--interval", "0.02", *t]
            return [proto, check.address, port, *t]
        if check.kind == "path":
            # few TTLs past the target: its "port unreachable" answers are rate-limited
            return ["traceroute", check.address, "--queries", "2", "--max-hops", str(len(check.via) + 3), *t]
        if check.kind == "service":
            extra = ["--status", str(check.status)] if check.status is not None else []
            extra += ["--contains", check.contains] if check.contains is not None else []
            return ["http", f"http://{check.address}:{check.port}{check.http}", *t, *extra]
        if check.kind == "chat":
            return ["chat", check.address, "--port", str(check.port), "--nick",
                    f"{check.src}-{uuid.uuid4().hex[:6]}", *t]
        raise ValueError(f"no single probe for {check.kind}")

    def judge(self, check: Check, d: dict[str, Any]) -> _Seen:
        if check.kind in ("reach", "deny"):
            want = check.kind == "reach"
            proto, _, port = check.proto.partition(":")
            error = f": {d['error']}" if d.get("error") else ""
            if proto == "icmp":
                passed = bool(d.get("received"))
                got = (f"{d['received']}/{d.get('sent')} replies, {_fmt(d.get('avg'))}" if passed
                       else f"no reply ({d.get('loss', 1.0):.0%} loss{error})")
                return _Seen(passed == want, got, f"ICMP errors: {d['errors']}" if d.get("errors") else "")
            if proto == "tcp":
                state = d.get("state") or d.get("ports", {}).get(port, "unknown")
                return _Seen((state == "open") == want, f"port {port} {state}")
            passed = bool(d.get("received"))
            got = f"echo in {_fmt((d.get('rtt_ms') or [None])[0])}" if passed else f"no echo on udp {port}{error}"
            return _Seen(passed == want, got)
        if check.kind == "path":
            hops = d.get("hops") or []
            names = [self.name(h) for h in hops]
            reached = bool(d.get("reached"))
            got = " -> ".join(names) if names else "no hop answered"
            if not reached and d.get("error"):
                got += f" (not reached: {d['error']})"
            elif not reached:
                got += f" (target not reached within {len(check.via) + 3} hops)"
            return _Seen(reached and names[:-1] == check.via, got, "hops: " + ", ".join(h or "*" for h in hops))
        if check.kind == "service":
            if d.get("status") is None:
                return _Seen(False, f"no answer ({d.get('error', 'request failed')})")
            got = f"status {d['status']} {d.get('reason', '')}".rstrip() + f", {d.get('body_length', '?')} bytes"
            if check.contains is not None:
                got += ", text found" if d.get("contains") else f", {check.contains!r} not in the body"
            return _Seen(bool(d.get("ok")), got, f"headers: {d.get('headers', {})}")
        if d.get("echoed"):  # chat
            return _Seen(True, f"echoed in {_fmt(d.get('rtt_ms'))}")
        if d.get("joined"):
            return _Seen(False, f"joined, but the message did not come back ({d.get('error', '')})")
        return _Seen(False, f"could not join ({d.get('error', 'no answer')})")

    def attempt(self, check: Check, timeout: float) -> _Seen:
        try:
            if check.kind == "nat_source":
                return self.nat_source(check, timeout)
            return self.judge(check, self.probe(check.src, self.argv(check, timeout)))
        except _ProbeError as exc:
            return _Seen(False, str(exc), error=True, final=exc.final)

    def nat_source(self, check: Check, timeout: float) -> _Seen:
        """A request carrying a token, then the token's line in the server's access log."""
        token = f"labnet-nat-{uuid.uuid4().hex[:12]}"
        d = self.probe(check.src, ["http", f"http://{check.address}:{check.port}/?{token}", "--timeout", f"{timeout:g}"])
        if d.get("status") is None:
            return _Seen(False, f"no HTTP answer ({d.get('error', 'request failed')})")
        assert check.log is not None
        for _ in range(10):  # the server flushes its access log once per round
            res = self._exec(check.dst, ["grep", "-rhF", token, check.log])
            m = _CLIENT.search(res.stdout)
            if m:
                source = m.group(1)
                return _Seen(source in check.seen_as, f"seen as {self.iface(source)}", res.stdout.strip())
            if res.exit_code > 1:
                return _Seen(False, f"cannot read {check.log} in {check.dst}: {res.stderr.strip()}", error=True)
            time.sleep(0.1)
        return _Seen(False, f"answered {d['status']}, but the request is not in the access log "
                            f"under {check.log} in {check.dst}", error=True)


def _first_timeout(check: Check, left: float) -> float:
    return check.timeout if check.wait <= 0 else max(min(check.timeout, left), MIN_TIMEOUT)


def run_check(runner: _Runner, check: Check, first: _Seen | None = None,
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


def _batch(runner: _Runner, checks: list[tuple[int, Check]]) -> list[tuple[int, _Seen, float]]:
    """First attempts of several checks from one node, in one exec."""
    start = time.monotonic()
    jobs = [runner.argv(c, _first_timeout(c, c.wait)) for _, c in checks]
    try:
        outs = runner.probe_many(checks[0][1].src, jobs)
    except _ProbeError as exc:
        outs = [exc] * len(checks)
    seen = []
    for (n, check), (out, took) in zip(checks, outs):
        if isinstance(out, _ProbeError):
            seen.append((n, _Seen(False, str(out), error=True, final=out.final, seconds=took), start))
        else:
            seen.append((n, replace(runner.judge(check, out), seconds=took), start))
    return seen


BATCH_SIZE = 32


def run_checks(backend: Backend, plan: Plan, checks: list[Check] | None = None, *,
               workers: int = DEFAULT_WORKERS, progress: Progress = silent) -> list[Result]:
    """Run checks (default: the plan's) concurrently; results in check order.

    First attempts are grouped by the node they run in (one exec per node,
    checks that may wait apart from those that may not); checks that fail
    and may wait are then retried one by one until their deadline, counted
    from the start. nat_source (two steps) runs on its own."""
    checks = lab_checks(plan) if checks is None else checks
    if not checks:
        return []
    runner = _Runner(backend, plan)
    results: list[Result | None] = [None] * len(checks)
    total = len(checks)
    progress(Event("test", f"{total} checks on {plan.lab}", 0, total))
    groups: dict[tuple[str, bool], list[tuple[int, Check]]] = {}
    for n, check in enumerate(checks):
        if check.kind != "nat_source":
            groups.setdefault((check.src, check.wait > 0), []).append((n, check))
    done = 0

    def finish(n: int, result: Result) -> None:
        nonlocal done
        results[n] = result
        done += 1
        progress(Event("test", f"{result.what}: {'ok' if result.ok else 'FAIL'}", done, total))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = {pool.submit(run_check, runner, c): n for n, c in enumerate(checks) if c.kind == "nat_source"}
        batches = [pool.submit(_batch, runner, group[i:i + BATCH_SIZE])
                   for group in groups.values() for i in range(0, len(group), BATCH_SIZE)]
        for fut in as_completed(batches):
            for n, seen, start in fut.result():
                check = checks[n]
                if seen.ok or seen.final or check.wait <= 0:
                    finish(n, run_check(runner, check, seen, start))  # no further attempt
                else:
                    pending[pool.submit(run_check, runner, check, seen, start)] = n
        while pending:
            for fut in as_completed(list(pending)):
                finish(pending.pop(fut), fut.result())
    return [r for r in results if r is not None]


def lab_checks(plan: Plan) -> list[Check]:
    """The plan's checks. Plans made before plan.py carried them are resolved
    here from the lab file the plan came from."""
    checks = getattr(plan, "checks", None)
    if checks is not None:
        return list(checks)
    if not plan.source:
        return []
    from .load import load_lab
    topology, _ = load_lab(plan.source)
    return plan_checks(topology.expect, plan)


def run_lab_tests(name: str, backend: Backend | None = None, progress: Progress = silent,
                  workers: int = DEFAULT_WORKERS) -> list[Result]:
    """`lab test NAME|PATH`: the running lab's expectations, checked."""
    from . import lab as api
    backend = backend or api.default_backend()
    plan = api.running_plan(name, backend)
    return run_checks(backend, plan, workers=workers, progress=progress)
