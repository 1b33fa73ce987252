"""The protocol engine, without any I/O.

`Router` is driven by its owner (the daemon, or a simulation in the tests):

    router.receive(ifname, source_address, data, now)   # a UDP payload arrived
    router.interface_up(ifname, now) / interface_down(ifname, now)
    router.tick(now)                  # at the latest at router.next_deadline()
    router.shutdown(now)              # say goodbye: flush our LSA

and it answers through callbacks: `send(ifname, destination, data)` for
packets (destination is the multicast group for hellos, a neighbour's address
otherwise), `on_routes(table)` whenever the computed IPv4 table changes and
`on_routes6(table6)` whenever the IPv6 one does.  `now` is a monotonic clock
in seconds.

The protocol runs over IPv4 alone; IPv6 rides along.  A hello announces the
sending interface's `address6`, so each neighbour learns the IPv6 next hop on
that link; the LSA lists the IPv6 prefixes beside the IPv4 ones; one SPF run
over one graph gives both tables (`routes`, `routes6`).
"""
from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

from .addr import format_prefix, format_prefix6, in_prefix, int_to_ip, int_to_ip6, ip_to_int
from .config import Config
from .flooding import Flooding
from .lsa import LSA, LSDB, SEQ_MAX, Link, Prefix
from .packet import ACK, LSU, MAX_PACKET, TYPE_NAMES, AckEntry, Codec, Hello, PacketError, lsa_size
from .spf import build_graph, prefix_routes, prefix_routes6, shortest_paths
from .state import FULL, INIT, Neighbor, Port, RouteTable
from .table import describe, resolve, resolve6

log = logging.getLogger("labnode.routing")

SendFn = Callable[[str, int, bytes], None]
RoutesFn = Callable[[RouteTable], None]
HOUSEKEEPING_INTERVAL = 1.0
MAX_NEIGHBORS = 256  # per interface: our hello listing them all still fits one TARGET_PACKET


class Router(Flooding):
    def __init__(self, config: Config, send: SendFn, on_routes: RoutesFn | None = None, *,
                 now: float, initial_seq: int | None = None, rng: random.Random | None = None,
                 on_routes6: RoutesFn | None = None):
        self.config = config
        self.rid = config.router_id
        self.codec = Codec(self.rid, config.key)
        self.group = ip_to_int(config.multicast_group)
        self._send_raw = send
        self._on_routes = on_routes or (lambda table: None)
        self._on_routes6 = on_routes6 or (lambda table: None)
        self._rng = rng or random.Random()
        self.incarnation = self._rng.getrandbits(32)
        self.ports = {i.name: Port(i) for i in config.interfaces}
        self.lsdb = LSDB(config.lsa_max_age, flush_hold=max(1.0, 4 * config.retransmit_interval))
        self.seq = (int(time.time()) if initial_seq is None else initial_seq) & SEQ_MAX
        self.stats: Counter[str] = Counter()
        self.routes: RouteTable = {}
        self.routes6: RouteTable = {}  # IPv6 prefix (128-bit network, length) -> entry
        self._missing6: set[tuple[str, int]] = set()  # (interface, neighbour) with no IPv6 next hop, said once
        self.spf_last_ms = 0.0
        self.started = now
        self._originate_pending = True
        self._force_originate = False
        self._spf_due: float | None = None
        self._hold_origination_until = 0.0  # after a sequence wrap, see _wrap
        self._next_refresh = now + config.lsa_refresh_interval
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        self._unreachable_since: dict[int, float] = {}
        self._tx_lsas: dict[Neighbor, dict[int, LSA]] = {}
        self._tx_acks: dict[Neighbor, list[AckEntry]] = {}
        self._after(now)

    # -- inputs -------------------------------------------------------------
    def interface_up(self, name: str, now: float) -> None:
        port = self.ports.get(name)
        if port is None or port.up:
            return
        log.info("interface %s up", name)
        port.up = True
        port.next_hello = now
        self._originate_pending = True
        self.tick(now)

    def interface_down(self, name: str, now: float) -> None:
        port = self.ports.get(name)
        if port is None or not port.up:
            return
        log.info("interface %s down", name)
        port.up = False
        for nb in list(port.neighbors.values()):
            self._drop(port, nb, now, "interface down")
        port.neighbors.clear()
        self._originate_pending = True
        self._after(now)

    def receive(self, ifname: str, src: int, data: bytes, now: float) -> None:
        self.stats["rx_packets"] += 1
        port = self.ports.get(ifname)
        if port is None or not port.up:
            self.stats["rx_unrouted_interface"] += 1
            return
        try:
            packet = self.codec.decode(data)
        except PacketError as exc:
            self.stats[f"rx_{exc.reason}"] += 1
            log.debug("dropped packet from %s on %s: %s", int_to_ip(src), ifname, exc)
            return
        cfg = port.config
        if packet.router_id == self.rid:
            self.stats["rx_own_router_id"] += 1
            return
        if src == cfg.address or not in_prefix(src, cfg.network, cfg.length):
            self.stats["rx_bad_source"] += 1
            return
        nb = port.neighbors.get(packet.router_id)
        if packet.auth_seq is not None and nb is not None:
            if packet.auth_seq <= nb.auth_seq:
                self.stats["rx_replayed"] += 1
                return
            nb.auth_seq = packet.auth_seq
        body = packet.body
        if isinstance(body, Hello):
            self._on_hello(port, nb, packet.router_id, src, body, packet.auth_seq, now)
        elif nb is None or nb.state != FULL or nb.address != src:
            self.stats["rx_not_neighbor"] += 1
            return
        elif packet.type == LSU:
            self._on_lsu(nb, cast(tuple[LSA, ...], body), now)
        elif packet.type == ACK:
            self._on_ack(nb, cast(tuple[AckEntry, ...], body))
        self.stats[f"rx_{TYPE_NAMES[packet.type]}"] += 1
        self._after(now)

    def tick(self, now: float) -> None:
        for port in self.ports.values():
            if not port.up:
                continue
            for nb in list(port.neighbors.values()):
                if now >= nb.expires():
                    self._drop(port, nb, now, "dead interval expired")
                    del port.neighbors[nb.router_id]
                elif nb.state == FULL:
                    self._retransmit(nb, now)
            if now >= port.next_hello:
                self._send_hello(port, now)
        if now >= self._next_refresh:
            self._originate_pending = self._force_originate = True
        if now >= self._next_housekeeping:
            self._housekeeping(now)
        self._after(now)

    def next_deadline(self) -> float:
        times = [self._next_refresh, self._next_housekeeping]
        if self._originate_pending:
            times.append(self._hold_origination_until)
        if self._spf_due is not None:
            times.append(self._spf_due)
        rxmt = self.config.retransmit_interval
        for port in self.ports.values():
            if port.up:
                times.append(port.next_hello)
                for nb in port.neighbors.values():
                    times.append(nb.expires())
                    times += [sent + rxmt for _, sent in nb.retransmit.values()]
        return min(times)

    def shutdown(self, now: float) -> None:
        """Tell every neighbour we are leaving: our LSA flushed at max age,
        then a hello listing nobody so that they drop the adjacency at once."""
        flush = LSA(self.rid, (self.seq + 1) & SEQ_MAX, self.config.lsa_max_age)
        for port in self.ports.values():
            if not port.up:
                continue
            for nb in port.full_neighbors():
                for data in self.codec.lsus([flush]):
                    self._send(port.name, nb.address, data, "lsu")
            self._send(port.name, self.group, self.codec.hello(self._hello(port, listed=())), "hello")
        self.lsdb.remove(self.rid)

    # -- hellos and adjacencies ---------------------------------------------
    def _hello(self, port: Port, listed: tuple[int, ...] | None = None) -> Hello:
        neighbors = tuple(sorted(port.neighbors)) if listed is None else listed
        return Hello(self.config.hello_interval, self.config.dead_interval, self.incarnation, neighbors,
                     port.config.address6)

    def _send_hello(self, port: Port, now: float) -> None:
        self._send(port.name, self.group, self.codec.hello(self._hello(port)), "hello")
        port.next_hello = now + self.config.hello_interval * self._rng.uniform(0.9, 1.0)

    def _on_hello(self, port: Port, nb: Neighbor | None, rid: int, src: int, hello: Hello,
                  auth_seq: int | None, now: float) -> None:
        if nb is not None and nb.incarnation != hello.incarnation:
            self._drop(port, nb, now, "neighbour restarted")
            del port.neighbors[rid]
            nb = None
        if nb is None:
            if len(port.neighbors) >= MAX_NEIGHBORS:
                self.stats["rx_too_many_neighbors"] += 1
                (log.warning if self.stats["rx_too_many_neighbors"] == 1 else log.debug)(
                    "hello from %s on %s ignored: already %d neighbours there", int_to_ip(rid), port.name,
                    MAX_NEIGHBORS)
                return
            nb = Neighbor(rid, src, port.name, hello.incarnation, hello.dead_interval, now,
                          since=now, auth_seq=auth_seq or 0)
            port.neighbors[rid] = nb
            log.info("neighbour %s heard on %s (%s%s)", int_to_ip(rid), port.name, int_to_ip(src),
                     "" if hello.address6 is None else ", " + int_to_ip6(hello.address6))
            self._send_hello(port, now)  # let it hear us without waiting a full interval
        nb.address, nb.last_heard, nb.dead_interval = src, now, hello.dead_interval
        if hello.address6 != nb.address6:
            self._learn_address6(port, nb, hello.address6, now)
        if self.rid in hello.neighbors:
            if nb.state != FULL:
                self._adjacency_up(port, nb, now)
        elif nb.state == FULL:
            self._drop(port, nb, now, "it no longer hears us")

    def _learn_address6(self, port: Port, nb: Neighbor, address6: int | None, now: float) -> None:
        """nb announces a new (or no) address6 on port: its IPv6 next hop there."""
        old, nb.address6 = nb.address6, address6
        rid = int_to_ip(nb.router_id)
        if address6 is None:
            log.info("neighbour %s on %s no longer announces an IPv6 address", rid, port.name)
        elif port.config.address6 is not None and port.gateway6(nb) is None:
            self.stats["rx_bad_address6"] += 1
            log.warning("neighbour %s on %s announces address6 %s, which is not on %s's IPv6 subnet %s "
                        "(or is ours): no IPv6 routes through it", rid, port.name, int_to_ip6(address6),
                        port.name, format_prefix6(port.config.network6 or 0, port.config.length6))
        elif old is not None:
            log.info("neighbour %s on %s: IPv6 next hop %s (was %s)", rid, port.name, int_to_ip6(address6),
                     int_to_ip6(old))
        if nb.state == FULL:
            self._schedule_spf(now)  # the same tree, another IPv6 next hop

    def _adjacency_up(self, port: Port, nb: Neighbor, now: float) -> None:
        nb.state, nb.since = FULL, now
        log.info("adjacency with %s on %s is up", int_to_ip(nb.router_id), port.name)
        self.stats["adjacency_up"] += 1
        self._send_hello(port, now)  # so it reaches two-way before our LSAs arrive
        for rid in self.lsdb:  # database synchronisation: send it everything
            self._queue(nb, self.lsdb.get(rid, now), now)  # type: ignore[arg-type]
        self._originate_pending = True

    def _drop(self, port: Port, nb: Neighbor, now: float, why: str) -> None:
        """Leave FULL (the caller removes the neighbour if it is gone)."""
        if nb.state == FULL:
            log.info("adjacency with %s on %s is down: %s", int_to_ip(nb.router_id), port.name, why)
            self.stats["adjacency_down"] += 1
            self._originate_pending = True
        nb.state, nb.since = INIT, now
        nb.retransmit.clear()
        self._tx_lsas.pop(nb, None)
        self._tx_acks.pop(nb, None)

    # -- origination, SPF, ageing ---------------------------------------------
    def _originate(self, now: float) -> None:
        if self.seq >= SEQ_MAX:
            mine = self.lsdb.get(self.rid, now)
            self._wrap(mine if mine is not None else LSA(self.rid, SEQ_MAX, 0), now)
            return
        force, self._force_originate, self._originate_pending = self._force_originate, False, False
        up = [port for port in self.ports.values() if port.up]
        links = tuple(sorted(Link(nb.router_id, port.config.cost) for port in up for nb in port.full_neighbors()))
        prefixes = tuple(Prefix(net, length, m) for (net, length), m in sorted(self._connected().items()))
        prefixes6 = tuple(Prefix(net, length, m) for (net, length), m in sorted(self._connected6().items()))
        current = self.lsdb.get(self.rid, now)
        if not force and current is not None and current.content == (links, prefixes, prefixes6):
            return
        self.seq = (self.seq + 1) & SEQ_MAX or 1
        lsa = LSA(self.rid, self.seq, 0, links, prefixes, prefixes6)
        self.lsdb.install(lsa, now)
        self.stats["lsa_originated"] += 1
        self._next_refresh = now + self.config.lsa_refresh_interval
        self._flood(lsa, now, exclude=None)
        if current is None or current.age >= self.config.lsa_max_age or not current.same_content(lsa):
            self._schedule_spf(now)   # a refresh alone (same links and prefixes) moves no route

    def _connected(self) -> dict[tuple[int, int], int]:
        """The prefixes we advertise, with their metrics: the subnets of
        routed interfaces that are up, and the configured prefixes, except
        that a configured prefix which is a routed interface's subnet comes
        and goes with that interface."""
        routed = {port.key: port for port in self.ports.values()}
        return _advertised(routed, self.config.prefixes)

    def _connected6(self) -> dict[tuple[int, int], int]:
        """The same for IPv6: the IPv6 subnets of routed interfaces that
        are up and have an address6, and the configured prefixes6."""
        routed = {port.key6: port for port in self.ports.values() if port.key6 is not None}
        return _advertised(routed, self.config.prefixes6)

    def _schedule_spf(self, now: float) -> None:
        if self._spf_due is None:
            self._spf_due = now + self.config.spf_delay

    def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        died, removed = self.lsdb.expire(now)
        hold = self.config.unreachable_hold
        if hold > 0:
            stale = [rid for rid, since in self._unreachable_since.items() if now - since >= hold]
            removed += [rid for rid in stale if self.lsdb.remove(rid) is not None]
        for rid in died:
            log.info("LSA of %s reached max age", int_to_ip(rid))
            self.stats["lsa_expired"] += 1
        for rid in removed:
            self._unreachable_since.pop(rid, None)
        if died or removed:
            self._schedule_spf(now)
            if self.rid in died or self.rid in removed:
                self._originate_pending = self._force_originate = True

    def _run_spf(self, now: float) -> None:
        self._spf_due = None
        started = time.perf_counter()
        lsas = self.lsdb.lsas(now)
        dist, hops = shortest_paths(build_graph(lsas), self.rid)
        routes = prefix_routes(lsas, self.rid, dist, hops) if self.rid in lsas else {}
        routes6 = prefix_routes6(lsas, self.rid, dist, hops) if self.rid in lsas else {}
        table = resolve(routes, self.ports.values(), set(self._connected()))
        missing: set[tuple[str, int]] = set()
        table6 = resolve6(routes6, self.ports.values(), set(self._connected6()), missing)
        self._say_missing6(missing)
        for rid in self.lsdb:
            if rid in dist or rid not in lsas:
                self._unreachable_since.pop(rid, None)
            else:
                self._unreachable_since.setdefault(rid, now)
        self.spf_last_ms = (time.perf_counter() - started) * 1000
        self.stats["spf_runs"] += 1
        if table != self.routes:
            self.stats["route_changes"] += 1
            for key in sorted(set(table) | set(self.routes)):
                if table.get(key) != self.routes.get(key):
                    log.info("route %s: %s", format_prefix(*key), describe(table.get(key)))
            self.routes = table
            self._on_routes(table)
        if table6 != self.routes6:
            self.stats["route6_changes"] += 1
            for key in sorted(set(table6) | set(self.routes6)):
                if table6.get(key) != self.routes6.get(key):
                    log.info("route %s: %s", format_prefix6(*key), describe(table6.get(key)))
            self.routes6 = table6
            self._on_routes6(table6)

    def _say_missing6(self, missing: set[tuple[str, int]]) -> None:
        """Log, once each time it starts, every first hop that IPv6 routes
        would use but that has no IPv6 next hop (warning on a dual-stack
        router, debug on an IPv4-only one that merely carries others' IPv6)."""
        say = log.warning if self.config.dual_stack else log.debug
        for iface, rid in sorted(missing - self._missing6):
            self.stats["route6_no_nexthop"] += 1
            port = self.ports[iface]
            nb = port.neighbors.get(rid)
            if port.config.address6 is None:
                why = f"{iface} has no address6"
            elif nb is None or nb.address6 is None:
                why = "it announces no address6 there"
            else:
                why = f"its address6 {int_to_ip6(nb.address6)} is not on {iface}'s IPv6 subnet"
            say("no IPv6 next hop through %s on %s (%s): IPv6 routes through it left out", int_to_ip(rid), iface,
                why)
        self._missing6 = missing

    # -- output -----------------------------------------------------------------
    def _after(self, now: float) -> None:
        """Work deferred to the end of every input: originate, SPF, send."""
        if self._originate_pending and now >= self._hold_origination_until:
            self._originate(now)
        if self._spf_due is not None and now >= self._spf_due:
            self._run_spf(now)
        tx_lsas, self._tx_lsas = self._tx_lsas, {}
        for nb, lsas in tx_lsas.items():
            for data in self.codec.lsus(self._aged(lsa, now) for lsa in lsas.values() if self._fits(lsa)):
                self._send(nb.iface, nb.address, data, "lsu")
        tx_acks, self._tx_acks = self._tx_acks, {}
        for nb, acks in tx_acks.items():
            for data in self.codec.acks(acks):
                self._send(nb.iface, nb.address, data, "ack")

    def _fits(self, lsa: LSA) -> bool:
        """Whether lsa fits one packet (ours could outgrow it with very many
        adjacencies): one that does not is counted and logged, not sent."""
        if lsa_size(lsa) + self.codec.overhead <= MAX_PACKET:
            return True
        self.stats["tx_lsa_too_large"] += 1
        log.error("LSA of %s has %d links and %d prefixes: too large for one packet, not sent",
                  int_to_ip(lsa.router_id), len(lsa.links), len(lsa.prefixes) + len(lsa.prefixes6))
        return False

    def _send(self, ifname: str, dst: int, data: bytes, kind: str) -> None:
        self.stats[f"tx_{kind}"] += 1
        self.stats["tx_packets"] += 1
        self.stats["tx_bytes"] += len(data)
        self._send_raw(ifname, dst, data)



def _advertised(routed: dict[tuple[int, int], Port], configured: tuple[Prefix, ...]) -> dict[tuple[int, int], int]:
    """Prefix -> metric: the subnets of routed interfaces that are up (metric
    0), and the configured prefixes, a configured prefix that is a routed
    interface's subnet coming and going with that interface."""
    metric = {key: 0 for key, port in routed.items() if port.up}
    for p in configured:
        port = routed.get(p.key)
        if port is None or port.up:
            metric[p.key] = min(p.metric, metric.get(p.key, p.metric))
    return metric
