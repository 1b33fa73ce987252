"""The Stack: one interface, its protocols, timers and an event loop.

receive_frame() is the whole receive path: Ethernet -> ARP or IPv4 ->
ICMP, UDP or TCP -> the socket.  Each frame is handled inside its own
try/except: a malformed frame (or a bug its bytes trigger) is counted in
`frame_errors`, logged at most once a second, and costs that frame only.

Sending: send_ip() picks the next hop (ipv4.Routes), looks its MAC up in
the ARP cache, or queues the packet and asks (arp.ArpCache), and writes the
frame to the device.  A device is anything with fileno(), read() -> one
frame or None, and write(frame) (tap.Tap; the tests use an in-memory one).

Timers: call_at(when, function, *args) on a heap; run() sleeps in a
selector until the next timer or a readable descriptor (the device, the
control socket, its clients).  Frames are read in batches of up to BATCH;
at the end of each batch the delayed ACKs go out.

The loss knob (Loss): drop every n-th TCP segment, or each with probability
p from a seeded generator, received ("rx", the default), sent ("tx") or
both; dropped segments are counted (loss_dropped_rx / _tx).  Only TCP
segments are dropped, so ARP, ping and UDP stay predictable in a lesson.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import random
import selectors
import socket
import time
from collections.abc import Callable

from labnode import netutil

from . import arp, ethernet, icmp, ipv4, tcp, udp

BATCH = 256  # frames read per wakeup before the delayed ACKs go out
HOUSEKEEPING = 0.5  # seconds between ARP retries / cache ageing
ICMP_ERRORS_PER_SECOND = 50
EPHEMERAL = (49152, 65535)


class Loss:
    """Which TCP segments to drop: every n-th (every > 0), or with probability p."""

    def __init__(self, every: int = 0, p: float = 0.0, seed: int = 1, direction: str = "rx") -> None:
        self.every = every
        self.p = p
        self.direction = direction
        self.rng = random.Random(seed)
        self.seen = {"rx": 0, "tx": 0}

    @property
    def active(self) -> bool:
        return self.every > 0 or self.p > 0

    def drop(self, direction: str) -> bool:
        if not self.active or self.direction not in (direction, "both"):
            return False
        self.seen[direction] += 1
        if self.every > 0:
            return self.seen[direction] % self.every == 0
        return self.rng.random() < self.p

    def describe(self) -> dict:
        return {"every": self.every, "p": self.p, "direction": self.direction}


class Stack:
    def __init__(self, device, mac: bytes, interface: ipaddress.IPv4Interface, gateway: str | None = None,
                 routes: list[tuple[str, str]] | None = None, loss: Loss | None = None, mtu: int = 1500,
                 rto_min: float = 0.2, time_wait: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 seed: int | None = None, log: Callable[[str], None] = netutil.log) -> None:
        self.device = device
        self.mac = mac
        self.interface = interface
        self.address = interface.ip.packed
        self.broadcast = interface.network.broadcast_address.packed
        self.routes = ipv4.Routes(interface, ipv4.packed(gateway) if gateway else None,
                                  [(ipaddress.IPv4Network(to), ipv4.packed(via)) for to, via in routes or []])
        self.loss = loss or Loss()
        self.mtu = mtu
        self.rto_min = rto_min
        self.time_wait = time_wait
        self.now = clock
        self.rng = random.Random(seed)
        self.log = log
        self.arp = arp.ArpCache()
        self.timers: list[tuple[float, int, Callable, tuple]] = []
        self._tie = itertools.count()
        self.conns: dict[tuple[int, bytes, int], tcp.Connection] = {}
        self.listeners: dict[int, tcp.Listener] = {}
        self.udp_sockets: dict[int, udp.UdpSocket] = {}
        self._acks: set[tcp.Connection] = set()
        self.ident = self.rng.getrandbits(16)
        self.started = clock()
        self._icmp_budget = (0, 0)
        self._last_error_log = 0.0
        self.selector: selectors.BaseSelector | None = None
        self.counters = {k: 0 for k in (
            "frames_in", "frames_out", "frames_not_for_us", "frame_errors", "frames_dropped_tx",
            "arp_requests_in", "arp_replies_in", "arp_requests_out", "arp_replies_out", "arp_failed",
            "arp_queue_dropped", "ip_in", "ip_out", "ip_not_ours", "ip_fragments_refused", "ip_no_route",
            "ip_unknown_protocol", "icmp_echo_requests", "icmp_echo_replies_in", "icmp_unreachable_in",
            "icmp_unreachable_out", "icmp_other", "udp_in", "udp_no_port", "tcp_in", "tcp_out",
            "tcp_resets_out", "tcp_no_connection", "tcp_retransmits", "tcp_timeouts",
            "tcp_fast_retransmits", "loss_dropped_rx", "loss_dropped_tx")}

    # -- timers -------------------------------------------------------------
    def call_at(self, when: float, function: Callable, *args) -> None:
        heapq.heappush(self.timers, (when, next(self._tie), function, args))

    def run_timers(self) -> None:
        now = self.now()
        while self.timers and self.timers[0][0] <= now:
            _, _, function, args = heapq.heappop(self.timers)
            try:
                function(*args)
            except Exception as exc:  # one timer's bug must not stop the stack
                self._error(f"timer {getattr(function, '__qualname__', function)} failed", exc)
        self.flush_acks()

    def _housekeeping(self) -> None:
        now = self.now()
        again, failed = self.arp.due(now)
        for ip in again:
            self._arp_request(ip)
        for _ip, pending in failed:
            self.counters["arp_failed"] += 1
            self.counters["arp_queue_dropped"] += len(pending.queue)
        self.arp.expire(now)
        self.call_at(now + HOUSEKEEPING, self._housekeeping)

    # -- receiving -----------------------------------------------------------
    def receive_frame(self, frame: bytes) -> None:
        """One frame from the wire; never raises (a bad frame costs only itself)."""
        self.counters["frames_in"] += 1
        try:
            self._receive(frame)
        except (ValueError, IndexError) as exc:
            self.counters["frame_errors"] += 1
            self._error("frame dropped", exc, quiet=True)
        except Exception as exc:
            self.counters["frame_errors"] += 1
            self._error("frame dropped (internal error)", exc)

    def _error(self, what: str, exc: BaseException, quiet: bool = False) -> None:
        now = self.now()
        if now - self._last_error_log >= 1.0:
            self._last_error_log = now
            self.log(f"{what}: {netutil.describe_error(exc)}")

    def _receive(self, frame: bytes) -> None:
        dst, src, ethertype, payload = ethernet.parse(frame)
        if dst != self.mac and dst != ethernet.BROADCAST:
            self.counters["frames_not_for_us"] += 1
            return
        if ethertype == ethernet.TYPE_ARP:
            self._receive_arp(arp.parse(payload))
        elif ethertype == ethernet.TYPE_IPV4:
            self._receive_ip(ipv4.parse(payload), broadcast=dst == ethernet.BROADCAST)
        else:
            self.counters["frames_not_for_us"] += 1

    def _receive_arp(self, packet: arp.ArpPacket) -> None:
        now = self.now()
        self.counters["arp_requests_in" if packet.oper == arp.REQUEST else "arp_replies_in"] += 1
        for_us = packet.target_ip == self.address
        if packet.sender_ip in (self.address, b"\0\0\0\0") or packet.sender_mac[0] & 1:
            return  # our own gratuitous ARP, a probe, or a bogus sender
        pending = self.arp.learn(packet.sender_ip, packet.sender_mac, now, add=for_us)
        if pending is not None:
            for ethertype, queued in pending.queue:
                self._transmit(packet.sender_mac, ethertype, queued)
        if for_us and packet.oper == arp.REQUEST:
            self.counters["arp_replies_out"] += 1
            reply = arp.ArpPacket(arp.REPLY, self.mac, self.address, packet.sender_mac, packet.sender_ip)
            self._transmit(packet.sender_mac, ethernet.TYPE_ARP, reply.encode())

    def _receive_ip(self, packet: ipv4.Packet, broadcast: bool) -> None:
        self.counters["ip_in"] += 1
        to_broadcast = packet.dst in (self.broadcast, b"\xff\xff\xff\xff")
        if packet.dst != self.address and not to_broadcast:
            self.counters["ip_not_ours"] += 1  # a host: nothing is forwarded
            return
        if packet.is_fragment:
            self.counters["ip_fragments_refused"] += 1
            return
        proto = packet.proto
        if proto == ipv4.PROTO_TCP:
            if to_broadcast:
                return
            self.counters["tcp_in"] += 1
            if self.loss.drop("rx"):
                self.counters["loss_dropped_rx"] += 1
                return
            self._receive_tcp(packet.src, tcp.parse(packet.src, packet.dst, packet.payload))
        elif proto == ipv4.PROTO_UDP:
            self._receive_udp(packet, to_broadcast)
        elif proto == ipv4.PROTO_ICMP:
            self._receive_icmp(packet, to_broadcast)
        else:
            self.counters["ip_unknown_protocol"] += 1
            if not to_broadcast:
                self._icmp_error(icmp.CODE_PROTOCOL, packet)

    def _receive_tcp(self, src: bytes, seg: tcp.Segment) -> None:
        conn = self.conns.get((seg.dport, src, seg.sport))
        if conn is not None:
            conn.segment_arrives(seg)
            return
        listener = self.listeners.get(seg.dport)
        if listener is not None:
            flags = seg.flags
            if flags & tcp.RST:
                return
            if flags & tcp.ACK:
                self._reset(src, seg)
            elif flags & tcp.SYN:
                listener.syn(src, seg)
            return
        self.counters["tcp_no_connection"] += 1
        self._reset(src, seg)

    def _reset(self, src: bytes, seg: tcp.Segment) -> None:
        rst = tcp.reset_for(seg)
        if rst is not None:
            self.counters["tcp_resets_out"] += 1
            self.send_tcp(src, rst)

    def _receive_udp(self, packet: ipv4.Packet, to_broadcast: bool) -> None:
        self.counters["udp_in"] += 1
        sport, dport, payload = udp.parse(packet.src, packet.dst, packet.payload)
        sock = self.udp_sockets.get(dport)
        if sock is None:
            self.counters["udp_no_port"] += 1
            if not to_broadcast:
                self._icmp_error(icmp.CODE_PORT, packet)
            return
        sock.deliver(bytes(payload), (ipv4.text(packet.src), sport))

    def _receive_icmp(self, packet: ipv4.Packet, to_broadcast: bool) -> None:
        kind, code, rest, body = icmp.parse(packet.payload)
        if kind == icmp.ECHO_REQUEST and not to_broadcast:
            self.counters["icmp_echo_requests"] += 1
            self.send_ip(packet.src, ipv4.PROTO_ICMP, icmp.echo_reply(rest, bytes(body)))
        elif kind == icmp.ECHO_REPLY:
            self.counters["icmp_echo_replies_in"] += 1
        elif kind == icmp.UNREACHABLE:
            self.counters["icmp_unreachable_in"] += 1
            self._unreachable(code, body)
        else:
            self.counters["icmp_other"] += 1

    def _unreachable(self, code: int, quoted: memoryview) -> None:
        """Tell the socket a received destination-unreachable is about."""
        if len(quoted) < ipv4.HEADER + 8:
            return
        ihl = (quoted[0] & 0xF) * 4
        if ihl < ipv4.HEADER or len(quoted) < ihl + 8:
            return
        proto, dst = quoted[9], bytes(quoted[16:20])
        sport = int.from_bytes(quoted[ihl:ihl + 2], "big")
        dport = int.from_bytes(quoted[ihl + 2:ihl + 4], "big")
        reason = icmp.CODE_NAMES.get(code, f"unreachable (code {code})")
        if proto == ipv4.PROTO_TCP:
            conn = self.conns.get((sport, dst, dport))
            if conn is not None and conn.state in (tcp.SYN_SENT, tcp.SYN_RECEIVED) and code != icmp.CODE_FRAG_NEEDED:
                conn._become_closed(reason)
                if conn.on_closed is not None:
                    conn.on_closed(conn)
        elif proto == ipv4.PROTO_UDP:
            sock = self.udp_sockets.get(sport)
            if sock is not None:
                sock.errors.append(f"{ipv4.text(dst)}:{dport}: {reason}")

    def _icmp_error(self, code: int, packet: ipv4.Packet) -> None:
        second = int(self.now())
        count = self._icmp_budget[1] + 1 if self._icmp_budget[0] == second else 1
        self._icmp_budget = (second, count)
        if count > ICMP_ERRORS_PER_SECOND:
            return
        self.counters["icmp_unreachable_out"] += 1
        offending = packet.header + bytes(packet.payload[:8])
        self.send_ip(packet.src, ipv4.PROTO_ICMP, icmp.unreachable(code, offending))

    # -- sending ------------------------------------------------------------
    def send_ip(self, dst: bytes, proto: int, payload: bytes) -> bool:
        """Route and send one IPv4 packet; False if it could not go out (yet)."""
        hop = self.routes.next_hop(dst)
        if hop is None:
            self.counters["ip_no_route"] += 1
            return False
        self.ident = (self.ident + 1) & 0xFFFF
        packet = ipv4.build(self.address, dst, proto, payload, self.ident)
        self.counters["ip_out"] += 1
        if dst in (self.broadcast, b"\xff\xff\xff\xff"):
            return self._transmit(ethernet.BROADCAST, ethernet.TYPE_IPV4, packet)
        now = self.now()
        mac = self.arp.lookup(hop, now)
        if mac is not None:
            return self._transmit(mac, ethernet.TYPE_IPV4, packet)
        queued, ask = self.arp.enqueue(hop, ethernet.TYPE_IPV4, packet, now)
        if not queued:
            self.counters["arp_queue_dropped"] += 1
        if ask:
            self._arp_request(hop)
        return False

    def send_tcp(self, dst: bytes, seg: tcp.Segment) -> None:
        self.counters["tcp_out"] += 1
        if self.loss.drop("tx"):
            self.counters["loss_dropped_tx"] += 1
            return
        self.send_ip(dst, ipv4.PROTO_TCP, seg.encode(self.address, dst))

    def _arp_request(self, ip: bytes) -> None:
        self.counters["arp_requests_out"] += 1
        request = arp.ArpPacket(arp.REQUEST, self.mac, self.address, bytes(6), ip)
        self._transmit(ethernet.BROADCAST, ethernet.TYPE_ARP, request.encode())

    def _transmit(self, dst_mac: bytes, ethertype: int, payload: bytes) -> bool:
        if self.device.write(ethernet.build(dst_mac, self.mac, ethertype, payload)):
            self.counters["frames_out"] += 1
            return True
        self.counters["frames_dropped_tx"] += 1
        return False

    def gratuitous_arp(self) -> None:
        """Announce our address (RFC 5227: a request with sender = target = us)."""
        self.counters["arp_requests_out"] += 1
        announce = arp.ArpPacket(arp.REQUEST, self.mac, self.address, bytes(6), self.address)
        self._transmit(ethernet.BROADCAST, ethernet.TYPE_ARP, announce.encode())

    # -- sockets ------------------------------------------------------------
    def tcp_listen(self, port: int, backlog: int = 128) -> tcp.Listener:
        if not 0 < port < 65536:
            raise ValueError(f"TCP port {port} out of range 1-65535")
        if port in self.listeners:
            raise OSError(f"TCP port {port} is already listening")
        listener = self.listeners[port] = tcp.Listener(self, port, backlog)
        return listener

    def tcp_connect(self, address: str, port: int) -> tcp.Connection:
        remote = ipv4.packed(address)
        if self.routes.next_hop(remote) is None:
            raise OSError(f"no route to {address}")
        local = self._ephemeral(lambda p: (p, remote, port) not in self.conns and p not in self.listeners)
        conn = tcp.Connection(self, local, remote, port)
        self.tcp_register(conn)
        conn.connect()
        return conn

    def _ephemeral(self, free: Callable[[int], bool]) -> int:
        for _ in range(1000):
            port = self.rng.randint(*EPHEMERAL)
            if free(port):
                return port
        raise OSError("no free ephemeral port")

    def tcp_register(self, conn: tcp.Connection) -> None:
        self.conns[(conn.local_port, conn.remote_ip, conn.remote_port)] = conn

    def tcp_unregister(self, conn: tcp.Connection) -> None:
        key = (conn.local_port, conn.remote_ip, conn.remote_port)
        if self.conns.get(key) is conn:
            del self.conns[key]
        self._acks.discard(conn)

    def tcp_unlisten(self, port: int) -> None:
        self.listeners.pop(port, None)

    def udp_bind(self, port: int = 0) -> udp.UdpSocket:
        if port == 0:
            port = self._ephemeral(lambda p: p not in self.udp_sockets)
        if not 0 < port < 65536:
            raise ValueError(f"UDP port {port} out of range 1-65535")
        if port in self.udp_sockets:
            raise OSError(f"UDP port {port} is already bound")
        sock = self.udp_sockets[port] = udp.UdpSocket(self, port)
        return sock

    def udp_unbind(self, port: int) -> None:
        self.udp_sockets.pop(port, None)

    def want_ack(self, conn: tcp.Connection) -> None:
        self._acks.add(conn)

    def flush_acks(self) -> None:
        while self._acks:
            self._acks.pop().flush_ack()

    # -- the event loop --------------------------------------------------------
    def start(self) -> None:
        self.gratuitous_arp()
        self.call_at(self.now() + HOUSEKEEPING, self._housekeeping)

    def poll_device(self) -> None:
        for _ in range(BATCH):
            frame = self.device.read()
            if frame is None:
                break
            self.receive_frame(frame)
        self.flush_acks()

    def run(self, extra: list[tuple[socket.socket, Callable[[], None]]] | None = None,
            until: Callable[[], bool] | None = None) -> None:
        """Serve forever (or until `until()` is true): the device, plus the
        (file object, on-readable callback) pairs in `extra`; register()
        adds more while running."""
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.device, selectors.EVENT_READ, self.poll_device)
        for fileobj, callback in extra or []:
            self.selector.register(fileobj, selectors.EVENT_READ, callback)
        try:
            while until is None or not until():
                timeout = max(0.0, self.timers[0][0] - self.now()) if self.timers else 1.0
                for key, _ in self.selector.select(min(timeout, 1.0)):
                    try:
                        key.data()
                    except Exception as exc:
                        self._error("event handler failed", exc)
                self.run_timers()
                netutil.flush_log()
        finally:
            self.selector.close()
            self.selector = None

    # -- views for the control socket ---------------------------------------
    def arp_table(self) -> list[dict]:
        now = self.now()
        rows = [{"address": ipv4.text(ip), "mac": ethernet.mac_text(e.mac), "state": "reachable",
                 "expires_in": round(e.expires - now, 1)} for ip, e in self.arp.entries.items() if e.expires > now]
        rows += [{"address": ipv4.text(ip), "mac": None, "state": "incomplete", "expires_in": None,
                  "queued": len(p.queue)} for ip, p in self.arp.pending.items()]
        return sorted(rows, key=lambda r: ipaddress.IPv4Address(r["address"]))

    def sockets(self) -> list[dict]:
        me = ipv4.text(self.address)
        rows = [{"proto": "tcp", "local": f"{me}:{port}", "remote": "*:*", "state": "LISTEN",
                 "accept_queue": len(lst.ready), "refused": lst.refused}
                for port, lst in sorted(self.listeners.items())]
        rows += [{"proto": "tcp", **conn.info()} for conn in self.conns.values()]
        rows += [{"proto": "udp", "local": f"{me}:{port}", "remote": "*:*", "state": "UNCONN",
                  "recv_queue": len(s.queue), "received": s.received, "sent": s.sent, "dropped": s.dropped,
                  "errors": list(s.errors)} for port, s in sorted(self.udp_sockets.items())]
        return rows

    def stats(self) -> dict:
        return {"interface": {"mac": ethernet.mac_text(self.mac), "address": str(self.interface),
                              "gateway": ipv4.text(self.routes.gateway) if self.routes.gateway else None,
                              "routes": [{"to": str(n), "via": ipv4.text(v)} for n, v in self.routes.routes],
                              "mtu": self.mtu},
                "uptime": round(self.now() - self.started, 3), "loss": self.loss.describe(),
                "counters": dict(self.counters)}
