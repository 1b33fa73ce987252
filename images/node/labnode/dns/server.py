"""lab-dns: the lab's DNS server, authoritative and (optionally) recursive.

    python3 -m labnode.dns.server --config /etc/labnet/dns.json [--port N] [--bind ADDR]

The configuration (JSON; every key but "zones" optional):

    {"listen": ["0.0.0.0"],            addresses to serve on (UDP and TCP each)
     "port": 53,                       0 picks a free port (the same for UDP and TCP)
     "zones": [...],                   as in labnode.dns.zone: origin, ttl, soa, records
     "reverse": {"www.example.lab": ["10.0.1.10"]},   PTR zones made from these (zone.reverse_zones)
     "recursion": {"root_hints": [{"name": "a.root.lab", "address": "10.0.0.1"}],
                   "allow": ["10.0.0.0/8"],           clients that may recurse (default: loopback)
                   "port": 53,                        the port upstream servers listen on
                   "timeout": 1.0, "retries": 1, "cache_size": 10000},
     "tcp": {"max_connections": 64, "idle_timeout": 10},
     "log_queries": true}

What a query gets:

    name in one of our zones          an authoritative answer or referral (zone.Authority)
    else, recursion configured, the client allowed and RD set
                                      a recursive answer, RA set (resolver.Resolver)
    else                              REFUSED (so also RD clear for a name not ours:
                                      we do not answer from the cache alone)
    a message we cannot parse         FORMERR (if it has a header), else nothing
    an opcode other than QUERY        NOTIMP

Transports: UDP replies are cut at 512 bytes, or at the client's EDNS size
(at most 4096) if it sent an OPT record, with TC set when the answer did not
fit; we then send an OPT back.  TCP (RFC 7766): each message has a 2-byte
length prefix, a connection may carry many queries (answers in any order), a
message must arrive whole within idle_timeout of the previous one, at most
max_connections at once (more are closed at once), a client that leaves
MAX_UNSENT bytes unread or sends a length under 12 is closed.

One thread, one selectors loop: UDP and TCP sockets, and every upstream
query of the resolver, are in it; nothing blocks.  It prints
"dns listening on ADDR:PORT" per address once bound, one line per query:

    10.0.1.5 A www.example.lab -> NOERROR 1 answer (cache)

and exits 0 on SIGTERM.  A bad config is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labnode import bounded, contract
from labnode.dns import message as dm
from labnode.dns import zone as dz
from labnode.dns.message import DnsError, Message
from labnode.dns.resolver import Cache, Hint, Resolver, Result, Upstream
from labnode.netutil import accept_ready, describe_error, endpoint, flush_log, listen, log, run

UDP_BATCH = 64          # datagrams read per wakeup and socket
UDP_RCVBUF = 1 << 20    # bytes of queued datagrams we ask the kernel for
MAX_UNSENT = 1 << 20    # TCP reply bytes a client may leave unread
MAX_TCP_INFLIGHT = 16   # recursive questions one TCP client may have open


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    listen: list[str] = field(default_factory=lambda: ["0.0.0.0"])
    port: int = 53
    zones: list[dz.Zone] = field(default_factory=list)
    hints: list[Hint] = field(default_factory=list)
    allow: list = field(default_factory=list)
    upstream_port: int = 53
    timeout: float = 1.0
    retries: int = 1
    cache_size: int = 10_000
    max_connections: int = 64
    idle_timeout: float = 10.0
    log_queries: bool = True


def _keys(doc, allowed: tuple[str, ...], where: str) -> dict:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return doc


def _number(doc: dict, name: str, default, low, high, where: str, kind=int):
    value = doc.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) \
            or not low <= value <= high:
        raise ConfigError(f"{where}{name} must be a number from {low} to {high}")
    return kind(value)


def parse_config(doc) -> Config:
    doc = _keys(doc, ("listen", "port", "zones", "reverse", "recursion", "tcp", "log_queries"), "config")
    cfg = Config()
    listen_on = doc.get("listen", cfg.listen)
    if not isinstance(listen_on, list) or not listen_on or not all(isinstance(a, str) for a in listen_on):
        raise ConfigError("listen must be a non-empty list of addresses")
    for address in listen_on:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"listen: {address!r} is not an IP address") from None
    cfg.listen = listen_on
    cfg.port = _number(doc, "port", 53, 0, 65535, "")
    cfg.log_queries = bool(doc.get("log_queries", True))
    zones = doc.get("zones", [])
    if not isinstance(zones, list):
        raise ConfigError("zones must be a list")
    zones = list(zones)
    if "reverse" in doc:
        hosts = doc["reverse"]
        if not isinstance(hosts, dict) or not all(
                isinstance(v, list) and all(isinstance(a, str) for a in v) for v in hosts.values()):
            raise ConfigError('reverse must map host names to lists of addresses: {"www.example.lab": ["10.0.1.10"]}')
        try:
            zones += dz.reverse_zones(hosts)
        except (ValueError, DnsError) as exc:
            raise ConfigError(f"reverse: {exc}") from None
    try:
        cfg.zones = dz.load_zones(zones)
    except dz.ZoneError as exc:
        raise ConfigError(str(exc)) from None
    if "recursion" in doc:
        rec = _keys(doc["recursion"], ("root_hints", "allow", "port", "timeout", "retries", "cache_size"),
                    "recursion")
        hints = rec.get("root_hints")
        if not isinstance(hints, list) or not hints:
            raise ConfigError("recursion.root_hints must be a non-empty list of {name, address}")
        for i, hint in enumerate(hints):
            _keys(hint, ("name", "address"), f"recursion.root_hints[{i}]")
            try:
                cfg.hints.append(Hint(dm.normalize(hint["name"]), str(ipaddress.ip_address(hint["address"]))))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"recursion.root_hints[{i}]: needs a name and an IP address ({exc})") from None
        try:
            cfg.allow = [ipaddress.ip_network(net, strict=False)
                         for net in rec.get("allow", ["127.0.0.0/8", "::1/128"])]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"recursion.allow: {exc}") from None
        cfg.upstream_port = _number(rec, "port", 53, 1, 65535, "recursion.")
        cfg.timeout = _number(rec, "timeout", 1.0, 0.05, 30, "recursion.", float)
        cfg.retries = _number(rec, "retries", 1, 0, 5, "recursion.")
        cfg.cache_size = _number(rec, "cache_size", 10_000, 1, 1_000_000, "recursion.")
    tcp = _keys(doc.get("tcp", {}), ("max_connections", "idle_timeout"), "tcp")
    cfg.max_connections = _number(tcp, "max_connections", 64, 1, 10_000, "tcp.")
    cfg.idle_timeout = _number(tcp, "idle_timeout", 10.0, 0.1, 3600, "tcp.", float)
    return cfg


def load_config(path: str) -> Config:
    try:
        return parse_config(bounded.load_file(path))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}") from None
    except bounded.BoundedError as exc:
        raise ConfigError(str(exc)) from None


# -- answering -----------------------------------------------------------------

def _summary(reply: Message) -> str:
    n = len(reply.answers)
    return f"{dm.rcode_name(reply.rcode)} {n} answer{'' if n == 1 else 's'}"


class Answerer:
    """Turns query bytes into a reply Message, now (authoritative, cache,
    refusals) or later (recursion), through respond(reply, how)."""

    def __init__(self, cfg: Config, sel: selectors.BaseSelector | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.authority = dz.Authority(cfg.zones)
        self._allowed: dict[str, bool] = {}
        self.resolver = self.upstream = None
        if cfg.hints:
            self.resolver = Resolver(cfg.hints, port=cfg.upstream_port, timeout=cfg.timeout,
                                     retries=cfg.retries, cache=Cache(cfg.cache_size, clock), clock=clock)
            if sel is not None:
                self.upstream = Upstream(self.resolver, sel, clock)

    def may_recurse(self, client: str) -> bool:
        if self.resolver is None:
            return False
        known = self._allowed.get(client)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if len(self._allowed) >= 4096:  # a memo of recent clients, bounded
            self._allowed.clear()
        allowed = self._allowed[client] = any(address in net for net in self.cfg.allow)
        return allowed

    def handle(self, data: bytes, client: str, respond: Callable[[Message, str, int], None],
               busy: bool = False) -> None:
        try:
            request = dm.decode(data)
        except DnsError as exc:
            head = dm.peek_id(data)
            if head is not None and not head[1] & 0x8000:
                reply = Message(id=head[0], qr=True, opcode=(head[1] >> 11) & 0xF, rcode=dm.FORMERR)
                respond(reply, f"({exc})", dm.UDP_LIMIT)
            return
        if request.qr:
            return  # never answer an answer
        limit = min(request.edns, dm.MAX_UDP_PAYLOAD) if request.edns else dm.UDP_LIMIT
        reply = dm.reply_to(request)
        reply.ra = self.may_recurse(client)
        if request.opcode != dm.QUERY:
            reply.rcode = dm.NOTIMP
            return respond(reply, "(opcode)", limit)
        if len(request.questions) != 1:
            reply.rcode = dm.FORMERR
            return respond(reply, f"({len(request.questions)} questions)", limit)
        q = request.question
        if request.edns is not None:
            reply.edns = dm.MAX_UDP_PAYLOAD
        found = self.authority.answer(q) if q.qclass == dm.IN else None
        if found is not None:
            reply.rcode, reply.aa = found.rcode, found.aa
            reply.answers, reply.authority, reply.additional = found.answers, found.authority, found.additional
            return respond(reply, "(authoritative)" if found.aa else "(referral)", limit)
        if not (reply.ra and request.rd and q.qclass == dm.IN):
            reply.rcode = dm.REFUSED
            return respond(reply, "(no recursion for this client)" if not reply.ra else "(not recursing)", limit)
        assert self.resolver is not None
        cached = self.resolver.from_cache(q)
        if cached is not None:
            return respond(self._fill(reply, cached), "(cache)", limit)
        if busy or self.upstream is None:
            reply.rcode = dm.SERVFAIL
            return respond(reply, "(busy)", limit)
        self.upstream.start(q, lambda result: respond(
            self._fill(reply, result),
            f"(recursion, {result.queries} quer{'y' if result.queries == 1 else 'ies'}"
            + (f": {result.reason})" if result.reason else ")"), limit))

    @staticmethod
    def _fill(reply: Message, result: Result) -> Message:
        reply.rcode = result.rcode
        reply.answers = list(result.answers)
        reply.authority = list(result.authority)
        return reply


# -- sockets -------------------------------------------------------------------

class TcpClient:
    __slots__ = ("sock", "ip", "inbuf", "out", "deadline", "closed", "inflight")

    def __init__(self, sock: socket.socket, ip: str, deadline: float) -> None:
        self.sock, self.ip, self.deadline = sock, ip, deadline
        self.inbuf = bytearray()
        self.out = bytearray()
        self.closed = False
        self.inflight = 0


class DnsServer:
    def __init__(self, cfg: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.sel = selectors.DefaultSelector()
        self.answerer = Answerer(cfg, self.sel, clock)
        self.clients: set[TcpClient] = set()

    def bind(self) -> list[str]:
        """Bind UDP and TCP on every listen address; the ready lines' endpoints."""
        port = self.cfg.port
        shown = []
        for address in self.cfg.listen:
            udp = listen(address, port, socket.SOCK_DGRAM)
            try:  # room for bursts while we work (the kernel caps it at net.core.rmem_max)
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            except OSError:
                pass
            port = port or udp.getsockname()[1]  # port 0: the rest share the first free one
            tcp = listen(address, port, socket.SOCK_STREAM)
            self.sel.register(udp, selectors.EVENT_READ, lambda ev, s=udp: self._udp(s))
            self.sel.register(tcp, selectors.EVENT_READ, lambda ev, s=tcp: self._accept(s))
            shown.append(endpoint(udp.getsockname()))
        return shown

    def serve_forever(self) -> None:
        upstream = self.answerer.upstream
        while True:
            deadlines = [c.deadline for c in self.clients]
            if upstream is not None and upstream.next_deadline() is not None:
                deadlines.append(upstream.next_deadline())  # type: ignore[arg-type]
            timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
            for key, events in self.sel.select(timeout):
                try:
                    key.data(events)
                except Exception as exc:  # one socket's problem, never the server's
                    log(f"internal error: {describe_error(exc)}", flush=False)
            if upstream is not None:
                upstream.expire()
            now = self.clock()
            for client in [c for c in self.clients if c.deadline <= now]:
                if client.inflight:  # still waiting for our answers: not idle
                    client.deadline = now + self.cfg.idle_timeout
                else:
                    self._close(client)
            flush_log()

    def _log(self, client: str, reply: Message, how: str) -> None:
        if not self.cfg.log_queries:
            return
        if reply.questions:
            q = reply.questions[0]
            asked = f"{dm.type_name(q.qtype)} {q.name or '.'}"
        else:
            asked = "?"
        log(f"{client} {asked} -> {_summary(reply)} {how}", flush=False)

    # UDP
    def _udp(self, sock: socket.socket) -> None:
        for _ in range(UDP_BATCH):
            try:
                data, addr = sock.recvfrom(dm.MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue

            def respond(reply: Message, how: str, limit: int, addr=addr) -> None:
                wire = dm.encode(reply, limit)
                try:
                    sock.sendto(wire, addr)
                except OSError as exc:
                    log(f"{addr[0]}: cannot send reply: {exc}", flush=False)
                truncated = wire[2] & 0x02  # the TC bit
                self._log(addr[0], reply, how + (" truncated" if truncated else ""))

            try:
                self.answerer.handle(data, addr[0], respond)
            except Exception as exc:
                log(f"{addr[0]}: query dropped: {describe_error(exc)}", flush=False)

    # TCP
    def _accept(self, listener: socket.socket) -> None:
        for sock, addr in accept_ready(listener):
            if len(self.clients) >= self.cfg.max_connections:
                log(f"{addr[0]}: TCP refused, {len(self.clients)} connections open", flush=False)
                sock.close()
                continue
            client = TcpClient(sock, addr[0], self.clock() + self.cfg.idle_timeout)
            self.clients.add(client)
            self.sel.register(sock, selectors.EVENT_READ, lambda ev, c=client: self._tcp(c, ev))

    def _tcp(self, client: TcpClient, events: int) -> None:
        try:
            if events & selectors.EVENT_READ:
                self._tcp_read(client)
            if events & selectors.EVENT_WRITE and not client.closed:
                self._tcp_flush(client)
        except OSError:
            self._close(client)

    def _tcp_read(self, client: TcpClient) -> None:
        chunk = client.sock.recv(65537)
        if not chunk:
            self._close(client)
            return
        client.inbuf += chunk
        while len(client.inbuf) >= 2 and not client.closed:
            (length,) = struct.unpack_from("!H", client.inbuf)
            if length < 12:
                log(f"{client.ip}: TCP message of {length} bytes, closing", flush=False)
                self._close(client)
                return
            if len(client.inbuf) < 2 + length:
                return  # wait for the rest (until the deadline)
            data = bytes(client.inbuf[2:2 + length])
            del client.inbuf[:2 + length]
            client.deadline = self.clock() + self.cfg.idle_timeout
            client.inflight += 1
            self.answerer.handle(data, client.ip, functools.partial(self._tcp_reply, client),
                                 busy=client.inflight > MAX_TCP_INFLIGHT)

    def _tcp_reply(self, client: TcpClient, reply: Message, how: str, limit: int = 0) -> None:
        client.inflight -= 1
        self._log(client.ip, reply, how + " tcp")
        if client.closed:
            return
        wire = dm.encode(reply)
        client.out += struct.pack("!H", len(wire)) + wire
        if len(client.out) > MAX_UNSENT:
            log(f"{client.ip}: {len(client.out)} reply bytes unread, closing", flush=False)
            self._close(client)
            return
        try:
            self._tcp_flush(client)
        except OSError:
            self._close(client)

    def _tcp_flush(self, client: TcpClient) -> None:
        if client.out:
            try:
                sent = client.sock.send(client.out)
                del client.out[:sent]
            except (BlockingIOError, InterruptedError):
                pass
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        self.sel.modify(client.sock, wanted, self.sel.get_key(client.sock).data)

    def _close(self, client: TcpClient) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lab-dns", description="the lab's DNS server")
    parser.add_argument("--config", required=True, help="the JSON configuration file")
    parser.add_argument("--port", type=int, help="override the config's port")
    parser.add_argument("--bind", action="append", help="override the config's listen addresses")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"dns: config {args.config}: {exc}", file=sys.stderr, flush=True)
        return 1
    if args.port is not None:
        cfg.port = args.port
    if args.bind:
        cfg.listen = args.bind

    def run_server() -> None:
        server = DnsServer(cfg)
        for shown in server.bind():
            log(f"dns {contract.READY_LINE} {shown}")
        server.serve_forever()

    return run("dns", run_server)


if __name__ == "__main__":
    raise SystemExit(main())
