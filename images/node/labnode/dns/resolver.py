"""Recursive resolution from root hints, with a TTL cache.

To resolve www.example.lab A with an empty cache the resolver asks, with RD
clear (iterative queries):

    root hint 10.0.0.1      www.example.lab A?  -> referral: lab NS ns.lab, glue ns.lab A 10.0.0.2
    10.0.0.2 (ns.lab)       www.example.lab A?  -> referral: example.lab NS ns1.example.lab + glue
    10.0.1.53 (ns1...)      www.example.lab A?  -> AA answer: www.example.lab A 10.0.1.10

and caches every step, so the next query for any name under example.lab
goes straight to 10.0.1.53, and the next for www.example.lab asks no one.

The shape of the code: a resolution is a *generator*.  It yields a Send (an
address and a query) whenever it needs to ask a server, and is resumed with
the decoded reply, or None when the server did not answer in time.  It never
touches a socket, so the same code runs

  * in tests, synchronously over a fake network (resolve_sync), and
  * in the server, in one selectors loop (Upstream): each outstanding upstream
    query is a UDP socket of its own (a fresh random source port, and a random
    id, both checked on the reply), registered with the loop, with a deadline.
    Hundreds of resolutions wait at once; a slow upstream delays only the
    clients whose names need it.

Rules and bounds:

    referrals    must lead strictly below the zone asked (a server referring
                 up or sideways is lame; a loop can therefore never repeat)
    bailiwick    records are believed only for names inside the zone of the
                 server that sent them (glue too), so a lab server cannot
                 poison names it does not serve
    CNAME        chains followed for at most MAX_CNAME links
    glueless NS  the NS name is resolved by a nested resolution, at most
                 MAX_DEPTH levels deep
    budget       at most MAX_QUERIES upstream queries per client question,
                 nested resolutions included; then SERVFAIL
    retries      each server set is tried `retries + 1` rounds, each query
                 waits `timeout` seconds; upstream queries are UDP only, and a
                 truncated (TC) upstream reply counts as no answer (lab zones
                 answer well within 512 bytes)
    cache        positive rrsets for their TTL (capped at MAX_CACHE_TTL),
                 NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308,
                 capped at MAX_NEGATIVE_TTL); at most `size` entries, least
                 recently used evicted first; the clock is injectable
"""

from __future__ import annotations

import secrets
import selectors
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from labnode.dns import message as dm
from labnode.dns.message import DnsError, Message, Question, Record

MAX_CNAME = 8
MAX_DEPTH = 4
MAX_QUERIES = 48
MAX_CACHE_TTL = 86400
MAX_NEGATIVE_TTL = 3600
CACHE_SIZE = 10_000
MAX_RESOLUTIONS = 512   # resolutions in flight in Upstream; more are refused with SERVFAIL
NXDOMAIN_KEY = 0        # the cache keeps an NXDOMAIN under (name, 0): it holds for every type


@dataclass
class Hint:
    name: str
    address: str


@dataclass
class Send:
    """What a resolution asks its driver to do: send message to address:port."""
    address: str
    port: int
    message: Message
    timeout: float


@dataclass
class Result:
    rcode: int
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    queries: int = 0          # upstream queries this resolution sent (0: all from the cache)
    reason: str = ""          # why SERVFAIL


class GiveUp(Exception):
    """Inside a resolution: stop with SERVFAIL (budget, depth, no server answered)."""


# -- cache ---------------------------------------------------------------------

@dataclass
class Entry:
    expires: float
    records: list[Record]     # positive rrset, or [SOA] for a negative entry (may be empty)
    negative: int | None      # None, NXDOMAIN or NOERROR (NODATA)


class Cache:
    def __init__(self, size: int = CACHE_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self.entries: OrderedDict[tuple[str, int], Entry] = OrderedDict()
        self.hits = self.misses = 0

    def _put(self, name: str, rtype: int, entry: Entry) -> None:
        k = (dm.key(name), rtype)
        self.entries[k] = entry
        self.entries.move_to_end(k)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def put(self, records: list[Record]) -> None:
        """One rrset (same name and type); kept for its smallest TTL."""
        ttl = min(min(rr.ttl for rr in records), MAX_CACHE_TTL)
        if ttl > 0:
            self._put(records[0].name, records[0].rtype, Entry(self.clock() + ttl, list(records), None))

    def put_negative(self, name: str, rtype: int, rcode: int, soa: Record | None) -> None:
        if soa is None:  # RFC 2308: no SOA, no negative caching
            return
        ttl = min(soa.ttl, soa.data.minimum, MAX_NEGATIVE_TTL)  # type: ignore[attr-defined]
        if ttl > 0:
            rtype = NXDOMAIN_KEY if rcode == dm.NXDOMAIN else rtype
            self._put(name, rtype, Entry(self.clock() + ttl, [soa], rcode))

    def get(self, name: str, rtype: int) -> Entry | None:
        """The live entry, with the records' TTLs counted down to what is left."""
        k = (dm.key(name), rtype)
        entry = self.entries.get(k)
        if entry is None:
            return None
        left = int(entry.expires - self.clock())
        if left <= 0:
            del self.entries[k]
            return None
        self.entries.move_to_end(k)
        records = [Record(rr.name, rr.rtype, min(rr.ttl, left), rr.data, rr.rclass) for rr in entry.records]
        return Entry(entry.expires, records, entry.negative)

    def __len__(self) -> int:
        return len(self.entries)


# -- resolution ----------------------------------------------------------------

Resolution = Generator[Send, "Message | None", Result]


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.sent = 0

    def spend(self) -> None:
        if self.left <= 0:
            raise GiveUp("query budget exhausted")
        self.left -= 1
        self.sent += 1


def _rrsets(records: list[Record]) -> dict[tuple[str, int], list[Record]]:
    sets: dict[tuple[str, int], list[Record]] = {}
    for rr in records:
        sets.setdefault((dm.key(rr.name), rr.rtype), []).append(rr)
    return sets


class Resolver:
    def __init__(self, hints: list[Hint], *, port: int = 53, timeout: float = 1.0, retries: int = 1,
                 cache: Cache | None = None, clock: Callable[[], float] = time.monotonic,
                 max_queries: int = MAX_QUERIES) -> None:
        if not hints:
            raise ValueError("a resolver needs at least one root hint")
        self.hints = hints
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.cache = cache if cache is not None else Cache(clock=clock)
        self.max_queries = max_queries

    # The public entry: a generator for one client question.
    def resolve(self, q: Question) -> Resolution:
        budget = _Budget(self.max_queries)
        try:
            result = yield from self._resolve(q.name, q.qtype, budget, 0)
        except GiveUp as exc:
            result = Result(dm.SERVFAIL, reason=str(exc))
        result.queries = budget.sent
        return result

    def from_cache(self, q: Question) -> Result | None:
        """The answer if the cache alone has it (no generator needed)."""
        gen = self.resolve(q)
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        gen.close()
        return None

    def _cached(self, name: str, qtype: int) -> tuple[str, Entry] | None:
        for kind, rtype in (("nx", NXDOMAIN_KEY), ("hit", qtype), ("cname", dm.CNAME)):
            if kind == "cname" and qtype == dm.CNAME:
                continue
            entry = self.cache.get(name, rtype)
            if entry is not None:
                return kind, entry
        return None

    def _resolve(self, name: str, qtype: int, budget: _Budget, depth: int) -> Resolution:
        chain: list[Record] = []
        for _ in range(MAX_CNAME + 1):
            cached = self._cached(name, qtype)
            if cached is not None:
                kind, entry = cached
                if entry.negative is not None:
                    return Result(entry.negative, chain, entry.records)
                if kind == "hit":
                    return Result(dm.NOERROR, chain + entry.records)
                chain.append(entry.records[0])  # a cached CNAME: follow it
                name = entry.records[0].data  # type: ignore[assignment]
                continue
            zone, response = yield from self._iterate(name, qtype, budget, depth)
            # Follow the chain as far as this response takes it.
            sets = _rrsets([rr for rr in response.answers if dm.is_subdomain(rr.name, zone)])  # bailiwick
            moved = False
            while True:
                found = sets.get((dm.key(name), qtype))
                if found:
                    return Result(dm.NOERROR, chain + found)
                link = sets.get((dm.key(name), dm.CNAME))
                if not link or qtype == dm.CNAME:
                    break
                chain.append(link[0])
                if len(chain) > MAX_CNAME:
                    raise GiveUp(f"CNAME chain longer than {MAX_CNAME}")
                name = link[0].data  # type: ignore[assignment]
                moved = True
            soa = self._soa(response, zone)
            final = response.rcode == dm.NXDOMAIN or soa is not None
            if moved and not (final and dm.is_subdomain(name, zone)):
                continue  # the chain left what this server answered for: resolve the target afresh
            # the server is authoritative for the name the chain ended at: its word is final
            if response.rcode == dm.NXDOMAIN:
                self.cache.put_negative(name, qtype, dm.NXDOMAIN, soa)
                return Result(dm.NXDOMAIN, chain, [soa] if soa else [])
            self.cache.put_negative(name, qtype, dm.NOERROR, soa)
            return Result(dm.NOERROR, chain, [soa] if soa else [])
        raise GiveUp(f"CNAME chain longer than {MAX_CNAME}")

    @staticmethod
    def _soa(response: Message, zone: str) -> Record | None:
        for rr in response.authority:
            if rr.rtype == dm.SOA and dm.is_subdomain(rr.name, zone):
                return rr
        return None

    def _closest(self, name: str) -> tuple[str, list[str]]:
        """The deepest zone above name whose NS set we know, and those NS names."""
        labels = name.split(".") if name else []
        for i in range(len(labels)):
            zone = ".".join(labels[i:])
            entry = self.cache.get(zone, dm.NS)
            if entry is not None:
                return zone, [rr.data for rr in entry.records]  # type: ignore[misc]
        entry = self.cache.get("", dm.NS)
        if entry is not None:
            return "", [rr.data for rr in entry.records]  # type: ignore[misc]
        return "", [hint.name for hint in self.hints]

    def _addresses(self, ns: str) -> list[str]:
        found = [hint.address for hint in self.hints if dm.key(hint.name) == dm.key(ns)]
        for rtype in (dm.A, dm.AAAA):
            entry = self.cache.get(ns, rtype)
            if entry is not None:
                found += [rr.data for rr in entry.records if rr.data not in found]  # type: ignore[misc]
        return found

    def _iterate(self, name: str, qtype: int, budget: _Budget,
                 depth: int) -> Generator[Send, Message | None, tuple[str, Message]]:
        """Ask down from the closest known servers to an answer; (zone, final response)."""
        zone, servers = self._closest(name)
        while True:
            response = yield from self._ask(zone, servers, name, qtype, budget, depth)
            self._learn(response, zone)
            child = self._referral(response, zone, name)
            if child is None:
                return zone, response
            zone = child
            servers = [rr.data for rr in response.authority if rr.rtype == dm.NS  # type: ignore[misc]
                       and dm.key(rr.name) == dm.key(child)]

    @staticmethod
    def _referral(response: Message, zone: str, name: str) -> str | None:
        """The child zone a referral points to, or None if the response is an answer."""
        if response.answers or response.rcode != dm.NOERROR or response.aa:
            return None
        for rr in response.authority:
            if rr.rtype == dm.NS:
                return rr.name
        return None

    @staticmethod
    def _usable(response: Message, zone: str, name: str) -> bool:
        """An answer, a negative answer, or a referral strictly downwards."""
        if response.rcode not in (dm.NOERROR, dm.NXDOMAIN) or response.tc:
            return False
        if response.answers or response.rcode == dm.NXDOMAIN or response.aa:
            return True
        cuts = {dm.key(rr.name) for rr in response.authority if rr.rtype == dm.NS}
        if not cuts:  # NODATA without AA (some servers): accept if it carries our zone's SOA
            return any(rr.rtype == dm.SOA and dm.is_subdomain(rr.name, zone) for rr in response.authority)
        return len(cuts) == 1 and all(
            dm.is_subdomain(cut, zone) and cut != dm.key(zone) and dm.is_subdomain(name, cut) for cut in cuts)

    def _learn(self, response: Message, zone: str) -> None:
        """Cache what the response says about names inside zone (the bailiwick)."""
        for section in (response.answers, response.authority, response.additional):
            for (owner, rtype), records in _rrsets(section).items():
                if rtype == dm.SOA or not dm.is_subdomain(owner, zone):
                    continue
                self.cache.put(records)

    def _ask(self, zone: str, servers: list[str], name: str, qtype: int, budget: _Budget,
             depth: int) -> Generator[Send, Message | None, Message]:
        """A usable response from one of the zone's servers, or GiveUp."""
        looked_up: set[str] = set()
        for _round in range(self.retries + 1):
            for ns in servers:
                addresses = self._addresses(ns)
                if not addresses and ns not in looked_up:
                    looked_up.add(ns)
                    if depth >= MAX_DEPTH:
                        raise GiveUp(f"glueless NS chain deeper than {MAX_DEPTH} at {ns}")
                    if dm.is_subdomain(ns, zone) and zone:
                        continue  # inside the zone it serves and no glue: cannot be found
                    found = yield from self._resolve(ns, dm.A, budget, depth + 1)
                    addresses = [rr.data for rr in found.answers if rr.rtype == dm.A]  # type: ignore[misc]
                for address in addresses:
                    budget.spend()
                    ask = dm.query(name, qtype, id=secrets.randbits(16), rd=False)
                    response = yield Send(address, self.port, ask, self.timeout)
                    if response is not None and self._usable(response, zone, name):
                        return response
        raise GiveUp(f"no server of zone {zone or '.'} gave a usable answer for {name or '.'}")


def resolve_sync(resolver: Resolver, q: Question, transport: Callable[[Send], Message | None]) -> Result:
    """Run one resolution to the end, asking transport for each Send (tests, tools)."""
    gen = resolver.resolve(q)
    reply = None
    try:
        while True:
            send = gen.send(reply)
            reply = transport(send)
    except StopIteration as stop:
        return stop.value


# -- the event-loop driver -----------------------------------------------------

class _Task:
    __slots__ = ("gen", "question", "waiters")

    def __init__(self, gen: Resolution, question: Question) -> None:
        self.gen = gen
        self.question = question
        self.waiters: list[Callable[[Result], None]] = []


class _Pending:
    __slots__ = ("task", "sock", "send", "deadline")

    def __init__(self, task: _Task, sock: socket.socket, send: Send, deadline: float) -> None:
        self.task = task
        self.sock = sock
        self.send = send
        self.deadline = deadline


class Upstream:
    """Runs resolutions over real UDP inside a selectors loop owned by the caller.

    Each upstream socket is registered with data = a callable taking the
    selector events; the loop calls key.data(events), and expire() once per
    round (next_deadline() says how long it may sleep).  Identical questions
    in flight share one resolution.
    """

    def __init__(self, resolver: Resolver, sel: selectors.BaseSelector,
                 clock: Callable[[], float] = time.monotonic, max_tasks: int = MAX_RESOLUTIONS) -> None:
        self.resolver = resolver
        self.sel = sel
        self.clock = clock
        self.max_tasks = max_tasks
        self.tasks: dict[tuple[str, int], _Task] = {}
        self.pending: dict[socket.socket, _Pending] = {}

    def start(self, q: Question, done: Callable[[Result], None]) -> None:
        k = (dm.key(q.name), q.qtype)
        task = self.tasks.get(k)
        if task is not None:
            task.waiters.append(done)
            return
        if len(self.tasks) >= self.max_tasks:
            done(Result(dm.SERVFAIL, reason=f"{self.max_tasks} resolutions already in flight"))
            return
        task = self.tasks[k] = _Task(self.resolver.resolve(q), q)
        task.waiters.append(done)
        self._step(task, None)

    def _step(self, task: _Task, reply: Message | None) -> None:
        while True:
            try:
                send = task.gen.send(reply)
            except StopIteration as stop:
                self._finish(task, stop.value)
                return
            except Exception as exc:  # a bug in one resolution costs that resolution
                self._finish(task, Result(dm.SERVFAIL, reason=f"internal error: {type(exc).__name__}: {exc}"))
                return
            try:
                self._send(task, send)
                return
            except OSError:  # unreachable address and such: as if it timed out
                reply = None

    def _send(self, task: _Task, send: Send) -> None:
        family = socket.AF_INET6 if ":" in send.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect((send.address, send.port))  # replies from elsewhere are not delivered
            sock.send(dm.encode(send.message))
        except BaseException:
            sock.close()
            raise
        pending = _Pending(task, sock, send, self.clock() + send.timeout)
        self.pending[sock] = pending
        self.sel.register(sock, selectors.EVENT_READ, lambda events: self._readable(pending))

    def _drop(self, pending: _Pending) -> None:
        self.pending.pop(pending.sock, None)
        self.sel.unregister(pending.sock)
        pending.sock.close()

    def _readable(self, pending: _Pending) -> None:
        for _ in range(8):  # a few stray datagrams may come first
            try:
                data = pending.sock.recv(dm.MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable: this server is not there
                break
            try:
                reply = dm.decode(data)
            except DnsError:
                continue
            sent = pending.send.message
            if reply.qr and reply.id == sent.id and [
                    (dm.key(q.name), q.qtype) for q in reply.questions] == [(dm.key(sent.question.name),
                                                                              sent.question.qtype)]:
                self._drop(pending)
                self._step(pending.task, reply)
                return
        self._drop(pending)
        self._step(pending.task, None)

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self.pending.values()), default=None)

    def expire(self) -> None:
        now = self.clock()
        for pending in [p for p in self.pending.values() if p.deadline <= now]:
            self._drop(pending)
            self._step(pending.task, None)

    def _finish(self, task: _Task, result: Result) -> None:
        self.tasks.pop((dm.key(task.question.name), task.question.qtype), None)
        for done in task.waiters:
            try:
                done(result)
            except Exception:  # one waiter's failure (a closed client) is not the others'
                continue
