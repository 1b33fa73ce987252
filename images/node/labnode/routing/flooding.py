"""Reliable flooding: the LSU and ACK half of the protocol.

Mixed into `Router`, whose state it uses: `lsdb`, `config`, `rid`, `seq`,
`stats`, the per-neighbour retransmission lists, and the outgoing queues
`_tx_lsas` / `_tx_acks` that `Router._after` sends at the end of each input.
"""
from __future__ import annotations

import logging
from collections import Counter

from .addr import int_to_ip
from .config import Config
from .lsa import LSA, LSDB, SEQ_MAX, compare
from .packet import AckEntry
from .state import Neighbor, Port

log = logging.getLogger("labnode.routing")


class Flooding:
    config: Config
    rid: int
    seq: int
    lsdb: LSDB
    stats: Counter[str]
    ports: dict[str, Port]
    _tx_lsas: dict[Neighbor, dict[int, LSA]]
    _tx_acks: dict[Neighbor, list[AckEntry]]
    _originate_pending: bool
    _force_originate: bool
    _hold_origination_until: float

    def _schedule_spf(self, now: float) -> None:  # provided by Router
        raise NotImplementedError

    def _on_lsu(self, nb: Neighbor, lsas: tuple[LSA, ...], now: float) -> None:
        max_age = self.config.lsa_max_age
        for lsa in lsas:
            self.stats["lsa_received"] += 1
            current = self.lsdb.get(lsa.router_id, now)
            if (current is not None and current.age >= max_age and current.seq == SEQ_MAX
                    and lsa.seq < SEQ_MAX):
                # Its router's sequence numbers wrap: the new instance must
                # wait, unacknowledged, until the old one is fully flushed.
                self.stats["lsa_held_back"] += 1
                continue
            self._tx_acks.setdefault(nb, []).append(AckEntry(*lsa.instance))
            if lsa.router_id == self.rid:
                self._on_own_lsa(nb, lsa, now)
                continue
            if current is None and lsa.age >= max_age:
                continue  # a flush of something we do not have: just acknowledge
            if current is None and not self.lsdb.has_room(lsa.router_id):
                self.stats["lsa_lsdb_full"] += 1  # acknowledged, not stored: the sender stops resending
                (log.warning if self.stats["lsa_lsdb_full"] == 1 else log.debug)(
                    "LSDB full (%d routers): LSA of %s dropped", len(self.lsdb), int_to_ip(lsa.router_id))
                continue
            order = 1 if current is None else compare(lsa, current, max_age)
            if order > 0:
                self.stats["lsa_installed"] += 1
                nb.retransmit.pop(lsa.router_id, None)
                self.lsdb.install(lsa, now)  # at max age it stays as a tombstone
                if lsa.age >= max_age:
                    log.info("LSA of %s flushed", int_to_ip(lsa.router_id))
                self._flood(lsa, now, exclude=nb)
                if current is None or lsa.age >= max_age or current.age >= max_age \
                        or not lsa.same_content(current):
                    self._schedule_spf(now)
                else:   # a refresh (a new sequence number, the same links and prefixes): nothing moves
                    self.stats["spf_skipped"] += 1
            elif order == 0:
                self.stats["lsa_duplicate"] += 1
                self._implied_ack(nb, lsa)
            else:  # it has an older copy than ours: bring it up to date
                self.stats["lsa_older"] += 1
                self._queue(nb, current, now)  # type: ignore[arg-type]

    def _on_own_lsa(self, nb: Neighbor, lsa: LSA, now: float) -> None:
        mine = self.lsdb.get(self.rid, now)
        if lsa.age >= self.config.lsa_max_age and (mine is None or lsa.seq == SEQ_MAX):
            if mine is not None and mine.seq < SEQ_MAX:
                # A flush at the last sequence number in our name (a forgery):
                # routers holding it refuse our LSA until it is gone, so send
                # ours again; it is retransmitted until they take it.
                self._originate_pending = self._force_originate = True
            return  # else: our own flush coming back
        if mine is not None and compare(lsa, mine, self.config.lsa_max_age) == 0:
            self._implied_ack(nb, lsa)
        elif mine is None or lsa.seq > mine.seq or (lsa.seq == mine.seq and lsa.checksum != mine.checksum):
            # A copy from a previous life of ours (or a forgery): outbid it.
            log.info("own LSA seq %d seen from before a restart; re-originating", lsa.seq)
            if lsa.seq >= SEQ_MAX:
                self._wrap(lsa, now)
            else:
                self.seq = max(self.seq, lsa.seq)
                self._originate_pending = self._force_originate = True
        else:
            self._queue(nb, mine, now)

    def _on_ack(self, nb: Neighbor, entries: tuple[AckEntry, ...]) -> None:
        for entry in entries:
            queued = nb.retransmit.get(entry.router_id)
            if queued is not None and queued[0].instance == (entry.router_id, entry.seq, entry.checksum):
                del nb.retransmit[entry.router_id]

    def _implied_ack(self, nb: Neighbor, lsa: LSA) -> None:
        queued = nb.retransmit.get(lsa.router_id)
        if queued is not None and queued[0].instance == lsa.instance:
            del nb.retransmit[lsa.router_id]

    def _flood(self, lsa: LSA, now: float, exclude: Neighbor | None) -> None:
        for port in self.ports.values():
            if port.up:
                for nb in port.full_neighbors():
                    if nb is not exclude:
                        self._queue(nb, lsa, now)

    def _queue(self, nb: Neighbor, lsa: LSA, now: float) -> None:
        nb.retransmit[lsa.router_id] = (lsa, now)
        self._tx_lsas.setdefault(nb, {})[lsa.router_id] = lsa

    def _retransmit(self, nb: Neighbor, now: float) -> None:
        interval = self.config.retransmit_interval
        for lsa, sent in list(nb.retransmit.values()):
            if sent + interval <= now:
                self.stats["lsa_retransmitted"] += 1
                self._queue(nb, lsa, now)

    def _wrap(self, instance: LSA, now: float) -> None:
        """The sequence space is used up: flush that very instance at max age
        (it then beats every copy of it), and start again from 1 once the
        flush had time to spread."""
        log.warning("LSA sequence number wraps: flushing and restarting at 1")
        self.stats["lsa_seq_wraps"] += 1
        flush = instance.with_age(self.config.lsa_max_age)
        self.lsdb.install(flush, now)
        self._flood(flush, now, exclude=None)
        self.seq = 0
        self._hold_origination_until = now + self.lsdb.flush_hold
        self._originate_pending = self._force_originate = True

    def _aged(self, lsa: LSA, now: float) -> LSA:
        """`lsa` with its current age if it is still the instance we hold."""
        held = self.lsdb.get(lsa.router_id, now)
        return held if held is not None and held.instance == lsa.instance else lsa
