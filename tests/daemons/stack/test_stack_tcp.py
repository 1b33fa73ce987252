"""The TCP state machine driven by scripted segments: every transition,
the RST cases, simultaneous open and close, retransmission, fast
retransmit, flow control and reassembly."""
from __future__ import annotations

import pytest
from scripted import PEER_IP, Peer

from labnode.stack import tcp
from labnode.stack.tcp import ACK, FIN, PSH, RST, SYN

PEER_ISS = 5000


def flags_of(segs):
    return [s.flags & ~PSH for s in segs]


def established_passive(**kw):
    """A connection accepted on port 80: (peer, listener, conn, stack iss)."""
    peer = Peer(**kw)
    listener = peer.stack.tcp_listen(80)
    peer.send(SYN, PEER_ISS, mss=1460)
    (synack,) = peer.take()
    assert synack.flags == SYN | ACK and synack.ack == PEER_ISS + 1 and synack.mss == 1460
    conn = peer.stack.conns[(80, PEER_IP, peer.port)]
    assert conn.state == tcp.SYN_RECEIVED
    peer.send(ACK, PEER_ISS + 1, synack.seq + 1)
    assert conn.state == tcp.ESTABLISHED
    assert listener.accept() is conn
    return peer, listener, conn, synack.seq


def established_active(window=65535, mss=1460, **kw):
    peer = Peer(**kw)
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    (syn,) = peer.take()
    assert syn.flags == SYN and syn.mss == 1460 and conn.state == tcp.SYN_SENT
    peer.port = conn.local_port
    peer.send(SYN | ACK, PEER_ISS, syn.seq + 1, window=window, mss=mss, dport=conn.local_port, sport=8080)
    (ack,) = peer.take()
    assert ack.flags == ACK and ack.ack == PEER_ISS + 1 and conn.state == tcp.ESTABLISHED
    return peer, conn, syn.seq


def send_to(peer, conn, flags, seq, ack, payload=b"", window=65535):
    peer.send(flags, seq, ack, payload, window=window, dport=conn.local_port, sport=conn.remote_port)


def test_passive_open_listen_syn_received_established():
    peer, listener, conn, _iss = established_passive()
    assert listener.accept() is None
    assert conn.mss == 1460


def test_active_open_syn_sent_established_calls_on_connected():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    seen = []
    conn.on_connected = lambda c: seen.append(c.state)
    (syn,) = peer.take()
    peer.send(SYN | ACK, PEER_ISS, syn.seq + 1, mss=536, dport=conn.local_port, sport=8080)
    assert seen == [tcp.ESTABLISHED] and conn.mss == 536


def test_simultaneous_open():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    (syn,) = peer.take()
    send_to(peer, conn, SYN, PEER_ISS, 0)
    (synack,) = peer.take()
    assert conn.state == tcp.SYN_RECEIVED
    assert synack.flags == SYN | ACK and synack.seq == syn.seq and synack.ack == PEER_ISS + 1
    send_to(peer, conn, ACK, PEER_ISS + 1, syn.seq + 1)
    assert conn.state == tcp.ESTABLISHED


def test_data_is_delivered_and_acknowledged():
    peer, _l, conn, iss = established_passive()
    got = []
    conn.on_readable = lambda c: got.append(c.recv())
    send_to(peer, conn, ACK | PSH, PEER_ISS + 1, iss + 1, b"hello")
    assert got == [b"hello"]
    (ack,) = peer.take()  # the delayed ACK goes out at the end of the batch
    assert ack.ack == PEER_ISS + 6 and ack.flags == ACK


def test_active_close_fin_wait_1_fin_wait_2_time_wait_closed():
    peer, _l, conn, iss = established_passive(time_wait=4.0)
    conn.close()
    (fin,) = peer.take()
    assert fin.flags == FIN | ACK and conn.state == tcp.FIN_WAIT_1
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 2)
    assert conn.state == tcp.FIN_WAIT_2
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 2)
    (ack,) = peer.take()
    assert conn.state == tcp.TIME_WAIT and ack.ack == PEER_ISS + 2
    peer.advance(3.9)
    assert conn.state == tcp.TIME_WAIT
    peer.advance(0.2)
    assert conn.state == tcp.CLOSED and not peer.stack.conns


def test_fin_wait_1_to_time_wait_when_fin_and_ack_arrive_together():
    peer, _l, conn, iss = established_passive()
    conn.close()
    peer.take()
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 2)
    assert conn.state == tcp.TIME_WAIT


def test_passive_close_close_wait_last_ack_closed():
    peer, _l, conn, iss = established_passive()
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 1)
    (ack,) = peer.take()
    assert conn.state == tcp.CLOSE_WAIT and ack.ack == PEER_ISS + 2 and conn.recv() == b""
    conn.send(b"bye")
    conn.close()
    assert conn.state == tcp.LAST_ACK
    sent = peer.take()
    assert b"".join(s.payload for s in sent) == b"bye" and sent[-1].flags & FIN
    send_to(peer, conn, ACK, PEER_ISS + 2, iss + 5)
    assert conn.state == tcp.CLOSED and not peer.stack.conns


def test_simultaneous_close_closing_then_time_wait():
    peer, _l, conn, iss = established_passive()
    conn.close()
    peer.take()
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 1)  # the peer's FIN crosses ours
    assert conn.state == tcp.CLOSING
    (ack,) = peer.take()
    assert ack.ack == PEER_ISS + 2
    send_to(peer, conn, ACK, PEER_ISS + 2, iss + 2)
    assert conn.state == tcp.TIME_WAIT


def test_time_wait_acknowledges_a_retransmitted_fin():
    peer, _l, conn, iss = established_passive()
    conn.close()
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 2)
    peer.take()
    send_to(peer, conn, FIN | ACK, PEER_ISS + 1, iss + 2)
    (ack,) = peer.take()
    assert conn.state == tcp.TIME_WAIT and ack.ack == PEER_ISS + 2


def test_rst_at_rcv_nxt_resets_an_established_connection():
    peer, _l, conn, iss = established_passive()
    closed = []
    conn.on_closed = lambda c: closed.append(c.error)
    send_to(peer, conn, RST, PEER_ISS + 1, 0)
    assert conn.state == tcp.CLOSED and closed == ["connection reset by peer"]
    with pytest.raises(ConnectionResetError):
        conn.recv()


def test_rst_in_window_but_not_exact_gets_a_challenge_ack():
    peer, _l, conn, iss = established_passive()
    send_to(peer, conn, RST, PEER_ISS + 100, 0)
    (ack,) = peer.take()
    assert conn.state == tcp.ESTABLISHED and ack.flags == ACK and ack.ack == PEER_ISS + 1
    assert conn.counters["challenge_acks"] == 1


def test_syn_on_an_established_connection_gets_a_challenge_ack():
    peer, _l, conn, iss = established_passive()
    send_to(peer, conn, SYN, PEER_ISS + 1, 0)
    (ack,) = peer.take()
    assert conn.state == tcp.ESTABLISHED and ack.flags == ACK


def test_rst_answering_a_syn_is_connection_refused():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    (syn,) = peer.take()
    send_to(peer, conn, RST, 0, syn.seq + 5)  # unacceptable ACK: ignored
    assert conn.state == tcp.SYN_SENT
    send_to(peer, conn, RST | ACK, 0, syn.seq + 1)
    assert conn.state == tcp.CLOSED and conn.error == "connection refused"


def test_syn_sent_answers_a_bad_ack_with_rst():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    (syn,) = peer.take()
    send_to(peer, conn, SYN | ACK, PEER_ISS, syn.seq + 77)
    (rst,) = peer.take()
    assert rst.flags == RST and rst.seq == syn.seq + 77 and conn.state == tcp.SYN_SENT


def test_rst_in_syn_received_returns_the_port_to_listen():
    peer = Peer()
    listener = peer.stack.tcp_listen(80)
    peer.send(SYN, PEER_ISS)
    (synack,) = peer.take()
    peer.send(RST, PEER_ISS + 1)
    assert not peer.stack.conns and listener.embryonic == 0 and peer.stack.listeners[80] is listener


def test_segments_for_no_connection_get_resets():
    peer = Peer()
    peer.send(SYN, PEER_ISS, dport=81)
    (rst,) = peer.take()
    assert rst.flags == RST | ACK and rst.ack == PEER_ISS + 1 and rst.seq == 0
    peer.send(ACK, PEER_ISS, 4242, b"data", dport=81)
    (rst,) = peer.take()
    assert rst.flags == RST and rst.seq == 4242
    peer.send(RST, PEER_ISS, dport=81)
    assert peer.take() == []
    peer.stack.tcp_listen(80)
    peer.send(ACK, PEER_ISS, 99)  # an ACK to a listener
    (rst,) = peer.take()
    assert rst.flags == RST and rst.seq == 99


def test_abort_sends_rst():
    peer, _l, conn, iss = established_passive()
    conn.abort()
    (rst,) = peer.take()
    assert rst.flags & RST and rst.seq == iss + 1 and conn.state == tcp.CLOSED


def test_out_of_window_data_is_not_taken_and_is_acked():
    peer, _l, conn, iss = established_passive()
    send_to(peer, conn, ACK, PEER_ISS + 1 + 200000, iss + 1, b"far away")
    (ack,) = peer.take()
    assert ack.ack == PEER_ISS + 1 and conn.recv() is None


def test_out_of_order_data_is_reassembled_with_duplicate_acks():
    peer, _l, conn, iss = established_passive()
    send_to(peer, conn, ACK, PEER_ISS + 6, iss + 1, b"world")
    (dup,) = peer.take()
    assert dup.ack == PEER_ISS + 1 and conn.recv() is None
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1, b"hello")
    assert conn.recv() == b"helloworld"
    assert peer.take()[-1].ack == PEER_ISS + 11


def test_mss_and_the_receivers_window_limit_what_is_sent():
    peer, conn, iss = established_active(window=3000, mss=536)
    conn.send(b"x" * 10000)
    sent = peer.take()
    assert all(len(s.payload) <= 536 for s in sent)
    assert sum(len(s.payload) for s in sent) <= 3000
    assert conn.info()["in_flight"] <= 3000


def test_zero_window_is_probed_by_the_persist_timer():
    peer, conn, iss = established_active()
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1, window=0)
    conn.send(b"abc")
    assert peer.take() == []
    peer.advance(1.1)
    (probe,) = peer.take()
    assert probe.payload == b"a" and probe.seq == iss + 1
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 2, window=1000)
    assert [s.payload for s in peer.take()] == [b"bc"]


def test_timeout_retransmits_with_backoff_and_collapses_cwnd():
    peer, conn, iss = established_active()
    conn.send(b"y" * 3000)
    first = peer.take()
    assert len(first) == 3  # the initial window: 4380 bytes
    rto = conn.rto.rto
    peer.advance(rto + 0.01)
    (again,) = peer.take()
    assert again.seq == iss + 1 and len(again.payload) == 1460
    assert conn.counters["timeouts"] == 1 and conn.counters["retransmits"] == 1
    assert conn.rto.rto == pytest.approx(2 * rto) and conn.cc.cwnd == 1460
    assert conn.cc.ssthresh == 2 * 1460  # max(flight / 2, 2 MSS)


def test_rtt_is_measured_and_karn_skips_retransmitted_segments():
    peer, conn, iss = established_active()
    samples = conn.rto.samples  # the SYN-ACK's
    conn.send(b"z" * 100)
    peer.take()
    peer.clock.t += 0.05
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 101)
    assert conn.rto.samples == samples + 1
    conn.send(b"z" * 100)
    peer.take()
    peer.advance(conn.rto.rto + 0.01)
    peer.take()
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 201)
    assert conn.rto.samples == samples + 1  # the retransmitted segment is not a sample


def test_three_duplicate_acks_trigger_fast_retransmit_and_recovery():
    peer, conn, iss = established_active()
    conn.cc.cwnd = 10 * 1460
    conn.send(b"d" * 14600)
    sent = peer.take()
    assert len(sent) == 10
    for _ in range(2):
        send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1)
    assert peer.take() == [] and not conn.cc.in_recovery
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1)
    (resent,) = peer.take()
    assert resent.seq == iss + 1 and conn.counters["fast_retransmits"] == 1
    assert conn.cc.in_recovery and conn.cc.ssthresh == 5 * 1460 and conn.cc.cwnd == 8 * 1460
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1 + 14600)  # everything: recovery ends
    assert not conn.cc.in_recovery and conn.cc.cwnd == 5 * 1460


def test_partial_ack_retransmits_the_next_hole():
    peer, conn, iss = established_active()
    conn.cc.cwnd = 10 * 1460
    conn.send(b"d" * 14600)
    peer.take()
    for _ in range(3):
        send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1)
    peer.take()
    send_to(peer, conn, ACK, PEER_ISS + 1, iss + 1 + 2920)
    resent = [s for s in peer.take() if s.seq == iss + 1 + 2920]
    assert resent and conn.cc.in_recovery


def test_syn_retries_end_in_connection_timed_out():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    for _ in range(tcp.SYN_RETRIES + 1):
        peer.advance(conn.rto.rto + 0.01)
    syns = [s for s in peer.take() if s.flags == SYN]
    assert len(syns) == tcp.SYN_RETRIES + 1
    assert conn.state == tcp.CLOSED and conn.error == "connection timed out"


def test_send_after_close_is_refused():
    peer, _l, conn, _iss = established_passive()
    conn.close()
    with pytest.raises(BrokenPipeError):
        conn.send(b"late")


def test_full_listener_backlog_drops_syns():
    peer = Peer()
    listener = peer.stack.tcp_listen(80, backlog=1)
    peer.send(SYN, PEER_ISS, sport=1111)
    peer.send(SYN, PEER_ISS, sport=2222)
    assert len(peer.take()) == 1 and listener.refused == 1
