"""Probes: a Check turned into the in-node probe's arguments, and the probe's
JSON result turned into a verdict a person can read.

Probes are the in-node `python3 -m labnode.probe KIND ...` commands (one
JSON object on stdout; exit 0 ok, 1 failed, 2 usage), run through the
backend's `exec` — or, for those that need only the node's network, the
same code run from this process inside the node's network namespace
(inns.py), when the backend lets us enter it. Every verdict says what was
seen (the ping loss, the traceroute hops, the HTTP status), so a failure
can be debugged from it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from .. import contract
from ..backend.protocol import Backend, ExecResult, NodeState
from ..errors import UsageError
from ..plan import Check, Plan
from . import inns

#: how long a check aimed at a host that takes its address by DHCP waits for it to hold one
LEASE_WAIT = 10.0
_CLIENT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d+ \"[A-Z]+ ")


def _link_local(mac: str) -> str:
    from ..compile.addressing6 import link_local
    return link_local(mac)


def _host(address: str) -> str:
    """An address as a URL's host: an IPv6 one in brackets."""
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True)
class Seen:
    """What one attempt of a check saw."""

    ok: bool
    got: str
    detail: str = ""
    error: bool = False   # the probe could not run at all (not a network verdict)
    final: bool = False   # retrying cannot change it (a usage error)
    seconds: float | None = None  # how long the probe took, when known


class ProbeError(Exception):
    """A probe gave no result (the node, the engine, the probe itself): no verdict, a reason.
    Raised and caught within verify; it never leaves it."""

    def __init__(self, text: str, final: bool = False):
        super().__init__(text)
        self.final = final


class _BadBatch(Exception):
    """The batch runner's output was not what it should be."""


# an IPv4 address on its own: not part of a longer number, a prefix (/24) or an address:port
_ADDRESS = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w/]|[.:]\d)")


def _fmt(value: float | None, unit: str = "ms") -> str:
    """A round-trip time with the digits that mean something: 0.04 ms, 1.2 ms, 35 ms."""
    if value is None:
        return "?"
    return f"{value:.0f} {unit}" if abs(value) >= 10 else f"{value:.2g} {unit}"


# Runs several probes in one node with one exec: a node's probes of a round
# share one Python start-up instead of paying one each (about 0.2 s apiece).
# It calls the functions behind `python3 -m labnode.probe` (the CLI's own
# parser, so the arguments and results are the CLI's); when it cannot, the
# runner falls back to one CLI call per probe.
_BATCH = """
import json, sys, threading, time
from labnode.probe.__main__ import UsageError, build_parser, preload, run
jobs = json.loads(sys.argv[1]); out = [None] * len(jobs); gate = threading.Semaphore(32)
preload({a[0] for a in jobs if a})
parser = build_parser(); parsed = []
for i, argv in enumerate(jobs):
    try:
        parsed.append(parser.parse_args(argv))
    except UsageError as e:
        parsed.append(None); out[i] = [2, {"probe": (argv or ["?"])[0], "ok": False, "error": str(e)}, 0.0]
def one(i, args):
    with gate:
        t = time.monotonic()
        try:
            r = run(args); code = 0 if r.get("ok") else 1
        except UsageError as e:
            r, code = {"probe": args.kind, "ok": False, "error": str(e)}, 2
        except Exception as e:
            r, code = {"probe": args.kind, "ok": False, "error": "internal error: %s: %s" % (type(e).__name__, e)}, 1
        out[i] = [code, r, time.monotonic() - t]
threads = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(parsed) if a is not None]
for t in threads: t.start()
for t in threads: t.join()
sys.stdout.write(json.dumps(out) + "\\n")
"""


class Prober:
    """Runs the probes of one plan's checks and judges what they saw."""

    def __init__(self, backend: Backend, plan: Plan, states: list[NodeState] | None = None):
        self.backend = backend
        self.plan = plan
        self.batch_ok = True
        #: address -> (node, iface), to name what the probes see
        self.owner = plan.owners()
        for node in plan.nodes.values():     # a hop may answer from its link-local address (IPv6)
            for i in node.interfaces:
                if i.address6:
                    self.owner.setdefault(_link_local(i.mac), (node.name, i.name))
        self._macs: dict[str, str] | None = None
        #: node -> its network namespace, when probes may run from here (read when first needed)
        self._netns: dict[str, str | None] | None = None
        self._states = states

    def name(self, address: str | None) -> str:
        if address is None:
            return "*"
        return self.owner.get(address.split("%")[0], (address, ""))[0]   # fe80::1%eth0: its zone left out

    def named(self, text: str) -> str:
        """Every address of a lab node in text shown with its node: r2 (10.2.0.1)."""
        def one(m: re.Match[str]) -> str:
            node = self.owner.get(m.group(1), ("", ""))[0]
            before = text[:m.start()]
            if not node or before.endswith(f"{node} ("):  # not a lab node's, or named already
                return m.group(1)
            return f"{node} ({m.group(1)})"
        return _ADDRESS.sub(one, text)

    def iface(self, address: str) -> str:
        node, iface = self.owner.get(address, ("", ""))
        return f"{address} ({node}.{iface})" if node else address

    def _exec(self, node: str, argv: list[str]) -> ExecResult:
        try:
            return self.backend.exec(self.plan.lab, node, argv)
        except Exception as exc:  # the engine, a stopped node: no verdict, but a reason
            raise ProbeError(f"could not run the probe in {node}: {exc}") from None

    def netns(self, node: str) -> str | None:
        """The node's network namespace, when probes may run from here (inns.py)."""
        if self._netns is None:
            try:
                listed = self.backend.nodes(self.plan.lab) if self._states is None else self._states
                self._netns = {st.node: self.backend.probe_netns(st) for st in listed}
            except Exception:  # the engine cannot list them now: the probes say why, through exec
                self._netns = {}
        return self._netns.get(node)

    def _from_here(self, node: str, jobs: list[list[str]]) -> list[tuple[dict[str, Any] | ProbeError, float]] | None:
        """The probes run from this process in the node's network namespace, or
        None when they cannot (then they run in the node)."""
        path = self.netns(node)
        out = inns.run_batch(path, jobs) if path is not None else None
        if out is None:
            return None
        return [(data if code != 2 else ProbeError(f"probe usage error: {data.get('error')}", True), float(took))
                for code, data, took in out]

    def probe(self, node: str, argv: list[str]) -> dict[str, Any]:
        """One probe (from here when it may, else through the CLI): its JSON result."""
        here = self._from_here(node, [argv])
        if here is not None:
            found = here[0][0]
            if isinstance(found, ProbeError):
                raise found
            return found
        res = self._exec(node, [*contract.PROBE_ARGV, *argv])
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        try:
            data = json.loads(lines[-1]) if lines else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            why = (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1]
            raise ProbeError(f"the probe in {node} gave no result ({why})")
        if res.exit_code == 2:
            raise ProbeError(f"probe usage error: {data.get('error')}", final=True)
        return data

    def probe_many(self, node: str, jobs: list[list[str]]) -> list[tuple[dict[str, Any] | ProbeError, float | None]]:
        """Several probes in one node at once: each one's JSON result (or why
        not) and how long it took."""
        here = self._from_here(node, jobs)
        if here is not None:
            return [(data, took) for data, took in here]
        if self.batch_ok and len(jobs) > 1:
            res = self._exec(node, ["python3", "-c", _BATCH, json.dumps(jobs)])
            try:
                out = json.loads(res.stdout.strip().splitlines()[-1])
                if not isinstance(out, list) or len(out) != len(jobs):
                    raise _BadBatch(f"{len(jobs)} results expected")
                return [(data if code != 2 else ProbeError(f"probe usage error: {data.get('error')}", True),
                         float(took)) for code, data, took in out]
            except (ValueError, IndexError, TypeError, AttributeError, _BadBatch):
                self.batch_ok = False  # an image whose probe package differs: use the CLI
        out_: list[tuple[dict[str, Any] | ProbeError, float | None]] = []
        for argv in jobs:
            t = time.monotonic()
            try:
                out_.append((self.probe(node, argv), time.monotonic() - t))
            except ProbeError as exc:
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
            # few TTLs past the target: its answers (to udp: "port unreachable") are rate-limited
            method = ["--method", proto] + (["--port", port] if port else [])
            return ["traceroute", check.address, *method, "--queries", "2",
                    "--max-hops", str(len(check.via) + 3), *t]
        if check.kind == "service":
            extra = ["--status", str(check.status)] if check.status is not None else []
            extra += ["--contains", check.contains] if check.contains is not None else []
            return ["http", f"http://{_host(check.address)}:{check.port}{check.http}", *t, *extra]
        if check.kind == "dns":
            return ["dns", check.dst, "--type", check.qtype or "A", "--server", check.address, *t,
                    *(["--expect", check.answer] if check.answer else [])]
        if check.kind == "dhcp":
            return ["dhcp", check.dst.partition(".")[2], "--wait", f"{timeout:g}"]
        if check.kind == "neigh":
            return ["neigh", check.address, *t]
        if check.kind == "chat":
            return ["chat", check.address, "--port", str(check.port), "--nick",
                    f"{check.src}-{uuid.uuid4().hex[:6]}", *t]
        raise UsageError(f"a {check.kind} check runs in two steps, not as one probe")

    def judge(self, check: Check, d: dict[str, Any]) -> Seen:
        """What a probe's result means for the check, node addresses named."""
        seen = self._judge(check, d)
        return replace(seen, got=self.named(seen.got), detail=self.named(seen.detail))

    def _judge(self, check: Check, d: dict[str, Any]) -> Seen:
        if check.kind in ("reach", "deny"):
            want = check.kind == "reach"
            proto, _, port = check.proto.partition(":")
            measured = ("state", "ports") if proto == "tcp" else ("sent", "received")
            if not any(key in d for key in measured):  # it sent nothing: no verdict either way
                return Seen(False, f"the probe could not run ({d.get('error') or 'no result'})", error=True)
            error = f": {d['error']}" if d.get("error") else ""
            if proto == "icmp":
                passed = bool(d.get("received"))
                got = (f"{d['received']}/{d.get('sent')} replies, {_fmt(d.get('avg'))}" if passed
                       else f"no reply ({d.get('loss', 1.0):.0%} loss{error})")
                return Seen(passed == want, got, f"ICMP errors: {d['errors']}" if d.get("errors") else "")
            if proto == "tcp":
                state = d.get("state") or d.get("ports", {}).get(port, "unknown")
                return Seen((state == "open") == want, f"port {port} {state}")
            passed = bool(d.get("received"))
            got = f"echo in {_fmt((d.get('rtt_ms') or [None])[0])}" if passed else f"no echo on udp {port}{error}"
            return Seen(passed == want, got)
        if check.kind == "path":
            hops = d.get("hops") or []
            names = [self.name(h) for h in hops]
            reached = bool(d.get("reached"))
            got = " -> ".join(names) if names else "no hop answered"
            if not reached and d.get("error") and "not reached within" not in d["error"]:
                got += f" (not reached: {d['error']})"
            elif not reached:
                got += f" (target not reached within {len(check.via) + 3} hops)"
            return Seen(reached and names[:-1] == check.via, got, "hops: " + ", ".join(h or "*" for h in hops))
        if check.kind == "service":
            if d.get("status") is None:
                return Seen(False, f"no answer ({d.get('error', 'request failed')})")
            got = f"status {d['status']} {d.get('reason', '')}".rstrip() + f", {d.get('body_length', '?')} bytes"
            if check.contains is not None:
                got += ", text found" if d.get("contains") else f", {check.contains!r} not in the body"
            intact = self._intact(check, d.get("sha256"))
            if intact is not None:
                got += intact
            return Seen(bool(d.get("ok")) and not intact, got, f"headers: {d.get('headers', {})}")
        if check.kind == "dns":
            rcode = d.get("rcode")
            if rcode is None:
                return Seen(False, f"no answer ({d.get('error') or 'no reply'})")
            if check.rcode and check.rcode != "NOERROR":
                return Seen(rcode == check.rcode, rcode, "; ".join(d.get("answers") or []))
            addrs = d.get("addresses") or []
            got = ", ".join(addrs) if addrs else (d.get("answers") or [rcode])[0] if rcode == "NOERROR" else rcode
            if d.get("error") and d.get("ok") is False and rcode == "NOERROR" and check.answer:
                got += f" ({check.answer} not among them)"
            return Seen(bool(d.get("ok")), got, "; ".join(d.get("answers") or []))
        if check.kind == "dhcp":
            return _judge_dhcp(check, d)
        if check.kind == "neigh":
            if not d.get("ok"):
                return Seen(False, str(d.get("error") or "no entry"))
            mac = str(d.get("mac") or "").lower()
            whose = self.mac_owner(mac)
            got = f"{mac}{f' ({whose})' if whose else ''}, {d.get('state')} on {d.get('dev')}"
            return Seen(mac == check.mac, got)
        if d.get("echoed"):  # chat
            return Seen(True, f"echoed in {_fmt(d.get('rtt_ms'))}")
        if d.get("joined"):
            return Seen(False, f"joined, but the message did not come back ({d.get('error', '')})")
        return Seen(False, f"could not join ({d.get('error', 'no answer')})")

    def mac_owner(self, mac: str) -> str:
        """node:iface whose MAC this is in the plan, or ""."""
        if self._macs is None:
            self._macs = {i.mac: f"{n.name}:{i.name}" for n in self.plan.nodes.values() for i in n.interfaces}
        return self._macs.get(mac, "")

    def leased(self, ref: str, wait: float = LEASE_WAIT) -> tuple[str | None, str]:
        """The address node.iface holds from DHCP (waiting up to `wait` s for
        one), or None and why not."""
        node, _, iface = ref.partition(".")
        try:
            d = self.probe(node, ["dhcp", iface, "--wait", f"{wait:g}"])
        except ProbeError as exc:
            return None, str(exc)
        if not d.get("ok") or not isinstance(d.get("address"), str):
            return None, f"{node}:{d.get('error') or f'{iface} holds no address from DHCP'}"
        address = d["address"].split("/")[0]
        self.owner.setdefault(address, (node, iface))
        return address, ""

    @staticmethod
    def _intact(check: Check, sha256: Any) -> str | None:
        """None when the body is as expected (or nothing is expected of it), else what differs."""
        if check.sha256 is None or sha256 == check.sha256:
            return None
        return f", but the body differs (sha256 {str(sha256)[:12]}, expected {check.sha256[:12]})"

    def stack_get(self, check: Check, timeout: float) -> Seen:
        """A service check from a user-space stack host: its stack makes the GET
        (python3 -m labnode.stack.get, through the stack's control socket)."""
        url = f"http://{_host(check.address)}:{check.port}{check.http}"
        res = self._exec(check.src, [*contract.STACK_GET_ARGV, "--json", "--timeout", f"{timeout:g}", url])
        try:
            d = json.loads(res.stdout) if res.stdout.strip() else None
        except ValueError:
            d = None
        if not isinstance(d, dict):
            why = (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1]
            return Seen(False, f"the stack's GET in {check.src} gave no result ({why})", error=True)
        if d.get("status") is None:
            return Seen(False, f"no answer through the stack ({d.get('error') or 'request failed'})")
        status = int(d["status"])
        tcp = d.get("tcp") or {}
        got = f"status {status}, {d.get('bytes', '?')} bytes through the stack"
        mended = [f"{tcp[key]} {what}" for key, what in (("retransmits", "retransmitted"),
                                                          ("out_of_order", "out of order")) if tcp.get(key)]
        if mended:
            got += f" ({', '.join(mended)})"
        passed = (status == check.status) if check.status is not None else status < 400
        if d.get("error") and status < 300:   # an answer that did not arrive whole
            got += f": {d['error']}"
            passed = False
        intact = self._intact(check, d.get("sha256"))
        if intact is not None:
            got += intact
        detail = f"in {d.get('seconds', '?')} s; tcp: {tcp}" if tcp else ""
        return Seen(passed and intact is None, got, detail)

    def attempt(self, check: Check, timeout: float) -> Seen:
        try:
            if check.stack:
                return self.stack_get(check, timeout)
            if check.kind == "nat_source":
                return self.nat_source(check, timeout)
            return self.judge(check, self.probe(check.src, self.argv(check, timeout)))
        except ProbeError as exc:
            return Seen(False, str(exc), error=True, final=exc.final)

    def nat_source(self, check: Check, timeout: float) -> Seen:
        """A request carrying a token, then the token's line in the server's access log."""
        token = f"labnet-nat-{uuid.uuid4().hex[:12]}"
        url = f"http://{_host(check.address)}:{check.port}/?{token}"
        d = self.probe(check.src, ["http", url, "--timeout", f"{timeout:g}"])
        if d.get("status") is None:
            return Seen(False, f"no HTTP answer ({d.get('error', 'request failed')})")
        log = check.log or contract.LOG_DIR
        for _ in range(10):  # the server flushes its access log once per round
            res = self._exec(check.dst, ["grep", "-rhF", token, log])
            m = _CLIENT.search(res.stdout)
            if m:
                source = m.group(1)
                return Seen(source in check.seen_as, f"seen as {self.iface(source)}", res.stdout.strip())
            if res.exit_code > 1:
                return Seen(False, f"cannot read {log} in {check.dst}: {res.stderr.strip()}", error=True)
            time.sleep(0.1)
        return Seen(False, f"answered {d['status']}, but the request is not in the access log "
                            f"under {log} in {check.dst}", error=True)


def _judge_dhcp(check: Check, d: dict[str, Any]) -> Seen:
    """A lease held: in the pool (or the address expected), with the pool's router as gateway."""
    if not d.get("ok"):
        return Seen(False, d.get("error") or "no lease")
    address = str(d.get("address", "")).split("/")[0]
    got = f"{d.get('address')} (lease: {d.get('seconds_left')} s left)"
    gateway = d.get("gateway")
    got += f", gateway {gateway}" if gateway else ", no gateway"
    try:
        held = int(ipaddress.IPv4Address(address))
        ends = [int(ipaddress.IPv4Address(a)) for a in check.pool]
        in_pool = any(first <= held <= last for first, last in zip(ends[::2], ends[1::2], strict=False))
    except (ValueError, TypeError):
        in_pool = False
    ok = address == check.address if check.address else in_pool
    if not ok:
        got += f": not {check.address}" if check.address else f": outside the pool {check.pool_text()}"
    if check.gateway and gateway != check.gateway:
        ok = False
    detail = f"nameservers: {', '.join(d.get('nameservers') or []) or 'none'}"
    return Seen(ok, got, detail)
