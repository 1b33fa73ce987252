"""TCP (RFC 9293, the consolidated RFC 793): segments, connections, listeners.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-------------------------------+-------------------------------+
    |          Source Port          |       Destination Port        |
    +-------------------------------+-------------------------------+
    |                        Sequence Number                        |
    +---------------------------------------------------------------+
    |                    Acknowledgment Number                      |
    +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
    | Offset| Rsrvd |C|E|U|A|P|R|S|F|            Window             |
    +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
    |           Checksum            |         Urgent Pointer        |
    +-------------------------------+-------------------------------+
    |  Options (Offset > 5): kind 0 end, 1 no-op, 2 MSS (len 4) ... |
    |  data ...

The checksum covers the pseudo header (source, destination, zero, 6,
TCP length) and the segment.  Only the MSS option is sent (on SYNs) and
understood; other options are skipped, a malformed option list drops the
segment.  Without window scaling (not implemented) windows are at most
65535 bytes; URG is ignored; no SACK, no timestamps.

A Connection is one TCB with the whole state machine: CLOSED, LISTEN (the
Listener), SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT.  Segment arrival follows RFC 9293
3.10.7 (acceptability test, then RST, SYN, ACK, data, FIN), with RFC 5961's
answers to blind attacks: a RST that is in the window but not exactly at
RCV.NXT, and any SYN on a synchronized connection, get a "challenge" ACK.
A segment for no connection is answered with a RST (never a RST for a RST).

Sending: at most min(peer's window, cwnd) bytes in flight, MSS-sized
segments, the FIN after the last byte once close() was called.  One timer
per connection: retransmission (RTO from congestion.RtoEstimator, one
segment timed at a time, never a retransmitted one: Karn), the zero-window
probe (persist), the SYN retries, and TIME_WAIT (2 MSL).  On a timeout the
sender goes back to SND.UNA (go-back-N, cwnd = 1 MSS).  Fast retransmit and
NewReno recovery: congestion.Congestion.  Receiving: in-order data goes to
the application's buffer, out-of-order data within the window waits in a
reassembly queue; an ACK goes out for every second segment, at the end of
every batch of frames the stack reads, and at once for anything out of
order (the duplicate ACKs the peer's fast retransmit needs) or a FIN.

The socket-like API is non-blocking: send() takes what fits in the send
buffer and returns how much, recv() returns bytes, b"" at end of stream or
None if nothing is there yet (ConnectionResetError once the connection was
reset or timed out); shutdown() half-closes, close() closes, abort() resets; on_connected, on_readable, on_writable and
on_closed are called (when set) as those become true.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from labnode.checksum import internet_checksum

from . import ipv4
from .congestion import DUPACK_THRESHOLD, Congestion, RtoEstimator

if TYPE_CHECKING:
    from .core import Stack

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
HEADER = 20
DEFAULT_MSS = 536  # what a peer that sends no MSS option can take (RFC 9293 3.7.1)
MAX_WINDOW = 65535
SNDBUF = 256 * 1024
RCVBUF = 128 * 1024
SYN_RETRIES = 5
MAX_RETRIES = 10  # consecutive timeouts of the same data before the connection is given up
_HEADER = struct.Struct("!HHIIBBHHH")
_MOD = 1 << 32

CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED, ESTABLISHED = "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED"
FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING = "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING"
LAST_ACK, TIME_WAIT = "LAST_ACK", "TIME_WAIT"
SYNCHRONIZED = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT})
CAN_SEND = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK})  # data/FIN may still go out
CAN_RECEIVE = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})


def seq_lt(a: int, b: int) -> bool:
    return 0 < (b - a) % _MOD < 0x80000000


def seq_le(a: int, b: int) -> bool:
    return a == b or seq_lt(a, b)


def seq_gt(a: int, b: int) -> bool:
    return seq_lt(b, a)


def seq_ge(a: int, b: int) -> bool:
    return a == b or seq_lt(b, a)


class SegmentError(ValueError):
    """A truncated or malformed TCP segment, or one with a bad checksum."""


class Segment:
    __slots__ = ("sport", "dport", "seq", "ack", "flags", "window", "mss", "payload")

    def __init__(self, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                 mss: int | None = None, payload: bytes = b"") -> None:
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.window = window
        self.mss = mss
        self.payload = payload

    @property
    def length(self) -> int:
        """Sequence space the segment occupies: data, plus one each for SYN and FIN."""
        return len(self.payload) + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)

    def encode(self, src: bytes, dst: bytes) -> bytes:
        options = b"" if self.mss is None else struct.pack("!BBH", 2, 4, self.mss)
        offset = (HEADER + len(options)) // 4
        header = _HEADER.pack(self.sport, self.dport, self.seq, self.ack, offset << 4, self.flags,
                              self.window, 0, 0)
        segment = bytearray(header)
        segment += options
        segment += self.payload
        length = len(segment)
        csum = internet_checksum(ipv4.pseudo_header(src, dst, ipv4.PROTO_TCP, length) + segment)
        segment[16:18] = csum.to_bytes(2, "big")
        return bytes(segment)


def parse(src: bytes, dst: bytes, data: bytes | memoryview) -> Segment:
    if len(data) < HEADER:
        raise SegmentError(f"TCP segment of {len(data)} bytes, shorter than {HEADER}")
    sport, dport, seq, ack, offset_byte, flags, window, _csum, _urg = _HEADER.unpack_from(data)
    offset = (offset_byte >> 4) * 4
    if offset < HEADER or offset > len(data):
        raise SegmentError(f"TCP data offset {offset} does not fit the {len(data)}-byte segment")
    raw = bytes(data)
    if internet_checksum(ipv4.pseudo_header(src, dst, ipv4.PROTO_TCP, len(raw)) + raw) != 0:
        raise SegmentError("bad TCP checksum")
    return Segment(sport, dport, seq, ack, flags & 0x3F, window, parse_options(raw[HEADER:offset]),
                   raw[offset:])


def parse_options(options: bytes) -> int | None:
    """The MSS in an option list (None if absent); SegmentError if the list is malformed."""
    mss = None
    i = 0
    while i < len(options):  # at most 40 bytes: bounded by the data offset
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            raise SegmentError("malformed TCP option list")
        length = options[i + 1]
        if kind == 2:
            if length != 4:
                raise SegmentError("MSS option of the wrong length")
            mss = int.from_bytes(options[i + 2:i + 4], "big")
        i += length
    return mss


def reset_for(seg: Segment) -> Segment | None:
    """The RST answering a segment that belongs to no connection (None for a RST)."""
    if seg.flags & RST:
        return None
    if seg.flags & ACK:
        return Segment(seg.dport, seg.sport, seg.ack, 0, RST, 0)
    return Segment(seg.dport, seg.sport, 0, (seg.seq + seg.length) % _MOD, RST | ACK, 0)


class Listener:
    """A port in LISTEN: SYNs make child connections; accept() hands out the established ones."""

    state = LISTEN

    def __init__(self, stack: Stack, port: int, backlog: int) -> None:
        self.stack = stack
        self.port = port
        self.backlog = backlog
        self.ready: deque[Connection] = deque()
        self.embryonic = 0  # children still in SYN_RECEIVED
        self.on_accept: Callable[[Listener], None] | None = None
        self.refused = 0
        self.closed = False

    def syn(self, src: bytes, seg: Segment) -> None:
        if self.embryonic + len(self.ready) >= self.backlog:
            self.refused += 1  # dropped: the peer retries, as with a full kernel queue
            return
        conn = Connection(self.stack, self.port, src, seg.sport, listener=self)
        self.embryonic += 1
        conn.passive_open(seg)

    def established(self, conn: Connection) -> None:
        self.embryonic -= 1
        if self.closed:
            conn.abort()
            return
        self.ready.append(conn)
        if self.on_accept is not None:
            self.on_accept(self)

    def lost(self, conn: Connection) -> None:
        self.embryonic -= 1

    def accept(self) -> Connection | None:
        while self.ready:
            conn = self.ready.popleft()
            if conn.state != CLOSED:
                return conn
        return None

    def close(self) -> None:
        self.closed = True
        while self.ready:
            self.ready.popleft().abort()
        self.stack.tcp_unlisten(self.port)


class Connection:
    def __init__(self, stack: Stack, local_port: int, remote_ip: bytes, remote_port: int,
                 listener: Listener | None = None) -> None:
        self.stack = stack
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.listener = listener
        self.state = CLOSED
        self.error: str | None = None
        self.our_mss = stack.mtu - 40
        self.mss = DEFAULT_MSS
        self.iss = stack.rng.getrandbits(32)
        self.snd_una = self.snd_nxt = self.snd_max = self.iss
        self.snd_wnd = 0
        self.snd_wl1 = self.snd_wl2 = 0
        self.sndbuf = bytearray()
        self.buf_seq = (self.iss + 1) % _MOD  # sequence number of sndbuf[0]
        self.fin_seq: int | None = None       # sequence number of our FIN, once close() was called
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_adv = 0                      # right edge of the window we advertised
        self.rcvbuf = bytearray()
        self.ooo: dict[int, tuple[bytes, bool]] = {}
        self.eof = False
        self.app_closed = False
        self.ack_pending = 0
        self.rto = RtoEstimator(stack.rto_min)
        self.cc = Congestion(self.mss)
        self.recover: int | None = None
        self.rtt_seq: int | None = None
        self.rtt_time = 0.0
        self.timer_at: float | None = None
        self._timer_for: float | None = None
        self.retries = 0
        self.on_connected: Callable[[Connection], None] | None = None
        self.on_readable: Callable[[Connection], None] | None = None
        self.on_writable: Callable[[Connection], None] | None = None
        self.on_closed: Callable[[Connection], None] | None = None
        self.counters = {"segs_in": 0, "segs_out": 0, "bytes_received": 0, "bytes_acked": 0,
                         "retransmits": 0, "fast_retransmits": 0, "timeouts": 0, "dupacks_in": 0,
                         "out_of_order": 0, "challenge_acks": 0}
        self.created = stack.now()

    # -- the application's side --------------------------------------------
    def connect(self) -> None:
        """Active open: send a SYN (the Stack registered the connection)."""
        self.state = SYN_SENT
        self._send(self.iss, SYN, mss=self.our_mss)
        self.snd_nxt = self.snd_max = (self.iss + 1) % _MOD
        self._time_segment(self.iss)
        self._arm(self.rto.rto)

    def send(self, data: bytes) -> int:
        """Queue as much of data as fits in the send buffer; the number of bytes taken."""
        if self.error:
            raise ConnectionResetError(self.error)
        if self.fin_seq is not None or self.state not in (SYN_SENT, SYN_RECEIVED, ESTABLISHED, CLOSE_WAIT):
            raise BrokenPipeError("connection is closed for sending")
        room = SNDBUF - len(self.sndbuf)
        taken = data[:room]
        self.sndbuf += taken
        self._output()
        return len(taken)

    def recv(self, limit: int = 1 << 16) -> bytes | None:
        """Up to limit bytes; b"" at end of stream, None if nothing is there yet."""
        if self.rcvbuf:
            before = self._window()
            data = bytes(self.rcvbuf[:limit])
            del self.rcvbuf[:limit]
            if self.state in CAN_RECEIVE and self._window() - before >= 2 * self.our_mss and before < 4 * self.our_mss:
                self._send_ack()  # window update: the peer may be waiting for room
            return data
        if self.eof:
            return b""
        if self.error:
            raise ConnectionResetError(self.error)
        return None

    @property
    def readable(self) -> bool:
        return bool(self.rcvbuf) or self.eof or self.error is not None

    @property
    def writable(self) -> bool:
        return self.state in (ESTABLISHED, CLOSE_WAIT) and self.fin_seq is None and len(self.sndbuf) < SNDBUF

    @property
    def unsent(self) -> int:
        return len(self.sndbuf)

    def close(self) -> None:
        """No more data from us, and none wanted: the FIN follows what is
        queued; data still arriving is acknowledged and thrown away."""
        self.app_closed = True
        self.rcvbuf.clear()
        self.shutdown()

    def shutdown(self) -> None:
        """Half close (like shutdown(SHUT_WR)): the FIN follows what is
        queued, and the peer's data can still be read."""
        if self.state in (SYN_SENT, CLOSED):
            self._become_closed(None)
        elif self.state in (SYN_RECEIVED, ESTABLISHED, CLOSE_WAIT):
            self.fin_seq = (self.buf_seq + len(self.sndbuf)) % _MOD
            self.state = LAST_ACK if self.state == CLOSE_WAIT else FIN_WAIT_1
            self._output()

    def abort(self) -> None:
        """Drop the connection at once, telling the peer with a RST."""
        if self.state in SYNCHRONIZED or self.state == SYN_RECEIVED:
            self._send(self.snd_nxt, RST | ACK)
        self.app_closed = True
        self._become_closed(self.error)

    # -- segments from the peer -------------------------------------------
    def passive_open(self, seg: Segment) -> None:
        """The SYN a Listener received: answer with SYN-ACK (SYN_RECEIVED)."""
        self._synchronize(seg)
        self.state = SYN_RECEIVED
        self.stack.tcp_register(self)
        self._send(self.iss, SYN | ACK, mss=self.our_mss)
        self.snd_nxt = self.snd_max = (self.iss + 1) % _MOD
        self._time_segment(self.iss)
        self._arm(self.rto.rto)

    def _synchronize(self, seg: Segment) -> None:
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) % _MOD
        self.rcv_adv = self.rcv_nxt
        self.mss = max(64, min(seg.mss or DEFAULT_MSS, self.our_mss))
        self.cc = Congestion(self.mss)
        self.snd_wnd = seg.window
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack

    def segment_arrives(self, seg: Segment) -> None:
        self.counters["segs_in"] += 1
        was_writable, had_readable, state = self.writable, self.readable, self.state
        if self.state == SYN_SENT:
            self._in_syn_sent(seg)
        elif self.state != CLOSED:
            self._in_synchronized(seg)
        self._notify(was_writable, had_readable, state)

    def _in_syn_sent(self, seg: Segment) -> None:
        if seg.flags & ACK and (seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_max)):
            if not seg.flags & RST:
                self._send_segment(Segment(self.local_port, self.remote_port, seg.ack, 0, RST, 0))
            return
        if seg.flags & RST:
            if seg.flags & ACK:
                self._become_closed("connection refused")
            return
        if not seg.flags & SYN:
            return
        self._synchronize(seg)
        if seg.flags & ACK:
            self._ack_syn(seg.ack)
            self.state = ESTABLISHED
            self._send_ack()
            self._output()
        else:  # simultaneous open
            self.state = SYN_RECEIVED
            self._send(self.iss, SYN | ACK, mss=self.our_mss)

    def _ack_syn(self, ack: int) -> None:
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        self.retries = 0
        self._rtt_check(ack)
        self._arm(None)

    def _acceptable(self, seg: Segment) -> bool:
        wnd = (self.rcv_adv - self.rcv_nxt) % _MOD
        if wnd >= 0x80000000:
            wnd = 0
        length = seg.length
        if length == 0:
            return seg.seq == self.rcv_nxt if wnd == 0 else (
                seq_le(self.rcv_nxt, seg.seq) and seq_lt(seg.seq, self.rcv_nxt + wnd))
        if wnd == 0:
            return False
        end = (seg.seq + length - 1) % _MOD
        return ((seq_le(self.rcv_nxt, seg.seq) and seq_lt(seg.seq, self.rcv_nxt + wnd))
                or (seq_le(self.rcv_nxt, end) and seq_lt(end, self.rcv_nxt + wnd)))

    def _in_synchronized(self, seg: Segment) -> None:
        flags = seg.flags
        if not self._acceptable(seg):
            if not flags & RST:
                self._send_ack()
                if self.state == TIME_WAIT and flags & FIN:
                    self._arm(self.stack.time_wait)
            return
        if flags & RST:
            if seg.seq != self.rcv_nxt:
                self._challenge_ack()
            elif self.state == SYN_RECEIVED and self.listener is not None:
                self._become_closed(None)  # back to LISTEN, which never left
            elif self.state in (CLOSING, LAST_ACK, TIME_WAIT):
                self._become_closed(None)
            else:
                self._become_closed("connection reset by peer")
            return
        if flags & SYN:
            self._challenge_ack()
            return
        if not flags & ACK:
            return
        if self.state == SYN_RECEIVED:
            if not (seq_lt(self.snd_una, seg.ack) and seq_le(seg.ack, self.snd_max)):
                self._send_segment(Segment(self.local_port, self.remote_port, seg.ack, 0, RST, 0))
                return
            self._ack_syn(seg.ack)
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.window, seg.seq, seg.ack
            self.state = ESTABLISHED
            if self.listener is not None:
                self.listener.established(self)
                if self.state == CLOSED:
                    return
            elif self.on_connected is not None:
                self.on_connected(self)
        if not self._process_ack(seg):
            return
        if self.state == CLOSED:
            return
        self._process_text(seg)
        self._output()

    def _challenge_ack(self) -> None:
        self.counters["challenge_acks"] += 1
        self._send_ack()

    def _process_ack(self, seg: Segment) -> bool:
        """ACK field processing; False if the segment is to be dropped."""
        ack = seg.ack
        if seq_gt(ack, self.snd_max):
            self._send_ack()
            return False
        if ack == self.snd_una:
            if (not seg.payload and not seg.flags & (SYN | FIN) and seg.window == self.snd_wnd
                    and self.snd_una != self.snd_max):
                self._dupack()
        elif seq_gt(ack, self.snd_una):
            self._new_ack(ack)
        if seq_lt(self.snd_wl1, seg.seq) or (self.snd_wl1 == seg.seq and seq_le(self.snd_wl2, ack)):
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.window, seg.seq, ack
        fin_acked = self.fin_seq is not None and seq_gt(self.snd_una, self.fin_seq)
        if fin_acked:
            if self.state == FIN_WAIT_1:
                self.state = FIN_WAIT_2
            elif self.state == CLOSING:
                self._enter_time_wait()
            elif self.state == LAST_ACK:
                self._become_closed(None)
                return False
        if self.snd_wnd == 0 and self._unsent() and self.snd_una == self.snd_max and self.timer_at is None:
            self._arm(self.rto.rto)  # persist: probe the zero window
        return True

    def _new_ack(self, ack: int) -> None:
        acked = (ack - self.snd_una) % _MOD
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        data = min((ack - self.buf_seq) % _MOD, len(self.sndbuf)) if seq_gt(ack, self.buf_seq) else 0
        if data:
            del self.sndbuf[:data]
            self.buf_seq = (self.buf_seq + data) % _MOD
            self.counters["bytes_acked"] += data
        self._rtt_check(ack)
        self.retries = 0
        cc = self.cc
        if cc.in_recovery:
            if seq_ge(ack, cc.recover):
                cc.exit_recovery()
            else:
                cc.on_partial_ack(acked)
                self._retransmit_first()
        else:
            cc.on_new_ack(acked)
        self._arm(None if self.snd_una == self.snd_max else self.rto.rto)

    def _dupack(self) -> None:
        self.counters["dupacks_in"] += 1
        cc = self.cc
        cc.dupacks += 1
        if cc.in_recovery:
            cc.on_dupack_in_recovery()
        elif cc.dupacks == DUPACK_THRESHOLD and (self.recover is None or seq_gt(self.snd_una, self.recover)):
            cc.enter_recovery((self.snd_max - self.snd_una) % _MOD, self.snd_max)
            self.recover = self.snd_max
            self.counters["fast_retransmits"] += 1
            self.stack.counters["tcp_fast_retransmits"] += 1
            self._retransmit_first()

    def _process_text(self, seg: Segment) -> None:
        seq, data, fin = seg.seq, seg.payload, bool(seg.flags & FIN)
        if self.state not in CAN_RECEIVE:
            return
        if seq_lt(seq, self.rcv_nxt):  # trim what we already have
            cut = (self.rcv_nxt - seq) % _MOD
            data = data[cut:]
            seq = self.rcv_nxt
        wnd = max(0, (self.rcv_adv - self.rcv_nxt) % _MOD) if seq_le(self.rcv_nxt, self.rcv_adv) else 0
        room = (self.rcv_nxt + wnd - seq) % _MOD if seq_lt(seq, self.rcv_nxt + wnd) else 0
        if len(data) > room:  # beyond the window: cut, and the FIN with it
            data, fin = data[:room], False
        if not data and not fin:
            return
        if seq != self.rcv_nxt:
            self.counters["out_of_order"] += 1
            old = self.ooo.get(seq)
            if old is None or len(old[0]) < len(data):
                self.ooo[seq] = (bytes(data), fin)
            self._send_ack()  # a duplicate ACK: tells the sender about the hole
            return
        self._deliver(data)
        while self.ooo and not fin:
            queued, fin = self._next_from_queue()
            if queued is None:
                break
            self._deliver(queued)
        if fin:
            self._receive_fin()
        elif self.ooo:
            self._send_ack()  # still a hole: keep the duplicate ACKs coming
        else:
            self.ack_pending += 1
            if self.ack_pending >= 2:
                self._send_ack()
            else:
                self.stack.want_ack(self)

    def _next_from_queue(self) -> tuple[bytes | None, bool]:
        for start in list(self.ooo):
            data, fin = self.ooo[start]
            end = (start + len(data)) % _MOD
            if seq_le(start, self.rcv_nxt):
                del self.ooo[start]
                if seq_gt(end, self.rcv_nxt) or (end == self.rcv_nxt and fin):
                    return data[(self.rcv_nxt - start) % _MOD:], fin
        return None, False

    def _deliver(self, data: bytes) -> None:
        self.rcv_nxt = (self.rcv_nxt + len(data)) % _MOD
        self.counters["bytes_received"] += len(data)
        if not self.app_closed:
            self.rcvbuf += data

    def _receive_fin(self) -> None:
        self.rcv_nxt = (self.rcv_nxt + 1) % _MOD
        self.eof = True
        self.ooo.clear()
        self._send_ack()
        if self.state == ESTABLISHED:
            self.state = CLOSE_WAIT
        elif self.state == FIN_WAIT_1:
            if self.fin_seq is not None and seq_gt(self.snd_una, self.fin_seq):
                self._enter_time_wait()
            else:
                self.state = CLOSING
        elif self.state == FIN_WAIT_2:
            self._enter_time_wait()

    def _enter_time_wait(self) -> None:
        self.state = TIME_WAIT
        self._arm(self.stack.time_wait)

    # -- sending ----------------------------------------------------------
    def _window(self) -> int:
        free = max(0, RCVBUF - len(self.rcvbuf))
        wnd = min(free, MAX_WINDOW)
        if wnd < self.our_mss and wnd < RCVBUF // 2:  # receiver-side silly window avoidance
            wnd = 0
        edge = (self.rcv_adv - self.rcv_nxt) % _MOD
        if edge < 0x80000000 and edge > wnd:  # never move the right edge back
            wnd = min(edge, MAX_WINDOW)
        return wnd

    def _send(self, seq: int, flags: int, payload: bytes = b"", mss: int | None = None) -> None:
        if self.state != SYN_SENT:
            flags |= ACK
        wnd = self._window()
        if flags & ACK:
            self.rcv_adv = (self.rcv_nxt + wnd) % _MOD
            self.ack_pending = 0
        ack = self.rcv_nxt if flags & ACK else 0
        self._send_segment(Segment(self.local_port, self.remote_port, seq, ack, flags, wnd, mss, payload))

    def _send_segment(self, seg: Segment) -> None:
        self.counters["segs_out"] += 1
        self.stack.send_tcp(self.remote_ip, seg)

    def _send_ack(self) -> None:
        if self.state != CLOSED:
            self._send(self.snd_nxt, ACK)

    def flush_ack(self) -> None:
        """The stack's end-of-batch call: acknowledge what is still unacknowledged."""
        if self.ack_pending and self.state in SYNCHRONIZED:
            self._send_ack()

    def _output(self) -> None:
        if self.state not in CAN_SEND:
            return
        while True:
            offset = (self.snd_nxt - self.buf_seq) % _MOD
            if offset >= 0x80000000:
                offset = 0
            avail = len(self.sndbuf) - offset
            flight = (self.snd_nxt - self.snd_una) % _MOD
            usable = min(self.snd_wnd, self.cc.cwnd) - flight
            if avail > 0:
                if usable <= 0:
                    break
                n = min(self.mss, avail, usable)
                if n < self.mss and n < avail and flight > 0:
                    break  # sender-side silly window avoidance: wait for a bigger window
                self._send_data(offset, n)
            elif self.fin_seq is not None and self.snd_nxt == self.fin_seq:
                self._send_data(offset, 0)
                break
            else:
                break
        if self.timer_at is None and (self.snd_una != self.snd_max or self.snd_wnd == 0 and self._unsent()):
            self._arm(self.rto.rto)  # retransmission, or persist when the peer's window is closed

    def _unsent(self) -> int:
        offset = (self.snd_nxt - self.buf_seq) % _MOD
        return 0 if offset >= 0x80000000 else max(0, len(self.sndbuf) - offset)

    def _send_data(self, offset: int, n: int) -> None:
        """Send n bytes from sndbuf[offset:] at SND.NXT (with the FIN if they end the stream)."""
        seq = self.snd_nxt
        end = (seq + n) % _MOD
        fin = self.fin_seq is not None and end == self.fin_seq
        flags = ACK | (FIN if fin else 0) | (PSH if n and offset + n == len(self.sndbuf) else 0)
        retransmission = seq_lt(seq, self.snd_max)
        if retransmission:
            self.counters["retransmits"] += 1
            self.stack.counters["tcp_retransmits"] += 1
        self._send(seq, flags, bytes(self.sndbuf[offset:offset + n]))
        self.snd_nxt = (end + (1 if fin else 0)) % _MOD
        if seq_gt(self.snd_nxt, self.snd_max):
            if self.rtt_seq is None and not retransmission:
                self._time_segment(seq)
            self.snd_max = self.snd_nxt

    def _retransmit_first(self) -> None:
        """Send the first unacknowledged segment again (fast retransmit, partial ACK)."""
        saved = self.snd_nxt
        self.snd_nxt = self.snd_una
        offset = (self.snd_una - self.buf_seq) % _MOD
        if offset >= 0x80000000:
            offset = 0
        n = min(self.mss, len(self.sndbuf) - offset)
        if n > 0 or (self.fin_seq is not None and self.snd_una == self.fin_seq):
            self._send_data(offset, max(n, 0))
        self.snd_nxt = saved if seq_gt(saved, self.snd_nxt) else self.snd_nxt
        self.rtt_seq = None  # Karn: nothing in flight now gives a clean sample

    def _time_segment(self, seq: int) -> None:
        self.rtt_seq = seq
        self.rtt_time = self.stack.now()

    def _rtt_check(self, ack: int) -> None:
        if self.rtt_seq is not None and seq_gt(ack, self.rtt_seq):
            self.rto.sample(self.stack.now() - self.rtt_time)
            self.rtt_seq = None

    # -- the timer --------------------------------------------------------
    def _arm(self, delay: float | None) -> None:
        if delay is None:
            self.timer_at = None
            return
        when = self.stack.now() + delay
        self.timer_at = when
        if self._timer_for is None or when < self._timer_for:
            self._timer_for = when
            self.stack.call_at(when, self._timer_fired, when)

    def _timer_fired(self, when: float) -> None:
        if when != self._timer_for:
            return  # superseded by an earlier one
        self._timer_for = None
        if self.timer_at is None or self.state == CLOSED:
            return
        if self.stack.now() < self.timer_at:
            self._timer_for = self.timer_at
            self.stack.call_at(self.timer_at, self._timer_fired, self.timer_at)
            return
        self.timer_at = None
        was_writable, had_readable, state = self.writable, self.readable, self.state
        self._expired()
        self._notify(was_writable, had_readable, state)

    def _expired(self) -> None:
        if self.state == TIME_WAIT:
            self._become_closed(None)
            return
        self.retries += 1
        if self.state in (SYN_SENT, SYN_RECEIVED):
            if self.retries > SYN_RETRIES:
                self._become_closed("connection timed out" if self.state == SYN_SENT else None)
                return
            self.counters["retransmits"] += 1
            self.counters["timeouts"] += 1
            self.rto.backoff()
            self.rtt_seq = None
            flags = SYN if self.state == SYN_SENT else SYN | ACK
            self._send(self.iss, flags, mss=self.our_mss)
            self._arm(self.rto.rto)
            return
        if self.snd_una != self.snd_max:
            if self.retries > MAX_RETRIES:
                self._send(self.snd_nxt, RST | ACK)
                self._become_closed("connection timed out")
                return
            self.counters["timeouts"] += 1
            self.stack.counters["tcp_timeouts"] += 1
            self.cc.on_timeout((self.snd_max - self.snd_una) % _MOD)
            self.recover = self.snd_max
            self.rto.backoff()
            self.rtt_seq = None
            self.snd_nxt = self.snd_una  # go back N
            self._output()
            self._arm(self.rto.rto)
        elif self.state in CAN_SEND and self._unsent():
            # persist: force one byte past the closed window; its ACK reports the window
            self.retries = 0
            offset = (self.snd_nxt - self.buf_seq) % _MOD
            self._send_data(offset, 1)
            self.rto.backoff()
            self._arm(self.rto.rto)

    # -- state changes the application hears about --------------------------
    def _become_closed(self, error: str | None) -> None:
        previous = self.state
        self.state = CLOSED
        self.timer_at = None
        if error and not self.error:
            self.error = error
        self.stack.tcp_unregister(self)
        if previous == SYN_RECEIVED and self.listener is not None:
            self.listener.lost(self)

    def _notify(self, was_writable: bool, had_readable: bool, state: str) -> None:
        if state == SYN_SENT and self.state != SYN_SENT and self.state != CLOSED and self.on_connected:
            self.on_connected(self)
        if self.readable and self.on_readable is not None and (not had_readable or self.rcvbuf):
            self.on_readable(self)
        if self.writable and self.on_writable is not None and (not was_writable or len(self.sndbuf) < SNDBUF // 2):
            self.on_writable(self)
        if self.state == CLOSED and state != CLOSED and self.on_closed is not None:
            self.on_closed(self)

    def info(self) -> dict:
        flight = (self.snd_max - self.snd_una) % _MOD if self.state in SYNCHRONIZED else 0
        return {
            "local": f"{ipv4.text(self.stack.address)}:{self.local_port}",
            "remote": f"{ipv4.text(self.remote_ip)}:{self.remote_port}",
            "state": self.state, "mss": self.mss, "cwnd": self.cc.cwnd,
            "ssthresh": None if self.cc.ssthresh >= 1 << 30 else self.cc.ssthresh,
            "srtt_ms": None if self.rto.srtt is None else round(self.rto.srtt * 1000, 3),
            "rttvar_ms": round(self.rto.rttvar * 1000, 3), "rto_ms": round(self.rto.rto * 1000, 1),
            "snd_wnd": self.snd_wnd, "rcv_wnd": self._window(), "in_flight": flight,
            "send_queue": len(self.sndbuf), "recv_queue": len(self.rcvbuf),
            "in_recovery": self.cc.in_recovery, "error": self.error, **self.counters,
        }
