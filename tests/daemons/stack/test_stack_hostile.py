"""Malformed frames never raise out of the receive path, and never reach
an internal error: whatever the bytes, they cost that frame only
(frame_errors counted, the stack keeps working)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memnet import MAC_B
from scripted import PEER_IP, STACK_IP, Peer

from labnode.stack import ethernet, icmp, ipv4, tcp, udp

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fresh():
    peer = Peer()
    peer.stack.tcp_listen(80)
    peer.stack.udp_bind(7)
    return peer


def still_works(peer):
    """A ping is still answered, and nothing was an internal error."""
    assert not [line for line in peer.logs if "internal error" in line or "failed" in line], peer.logs
    peer.stack.device.sent.clear()
    packet = ipv4.build(PEER_IP, STACK_IP, ipv4.PROTO_ICMP, icmp.build(icmp.ECHO_REQUEST, 0, 1, b"ok"), 1)
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
    assert peer.stack.device.sent


@SETTINGS
@given(st.binary(max_size=1600))
def test_random_bytes(frame):
    peer = fresh()
    peer.stack.receive_frame(frame)
    still_works(peer)


@SETTINGS
@given(st.sampled_from([ethernet.TYPE_ARP, ethernet.TYPE_IPV4]), st.binary(max_size=200))
def test_random_payloads_of_known_types(kind, payload):
    peer = fresh()
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, kind, payload))
    still_works(peer)


@SETTINGS
@given(st.sampled_from([ipv4.PROTO_TCP, ipv4.PROTO_UDP, ipv4.PROTO_ICMP, 99]), st.binary(max_size=300))
def test_valid_ip_with_random_transport(proto, payload):
    peer = fresh()
    packet = ipv4.build(PEER_IP, STACK_IP, proto, payload, 1)
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
    still_works(peer)


@SETTINGS
@given(st.binary(min_size=8, max_size=80))
def test_icmp_unreachable_quoting_garbage(quoted):
    peer = fresh()
    message = icmp.build(icmp.UNREACHABLE, 3, 0, quoted)
    packet = ipv4.build(PEER_IP, STACK_IP, ipv4.PROTO_ICMP, message, 1)
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
    still_works(peer)


@SETTINGS
@given(st.binary(max_size=40), st.binary(max_size=100))
def test_tcp_with_garbage_options_and_a_valid_checksum(options, data):
    peer = fresh()
    options = options[: len(options) // 4 * 4]
    header = tcp.Segment(4000, 80, 1, 0, tcp.SYN, 100).encode(PEER_IP, STACK_IP)
    raw = bytearray(header[:12]) + bytes([(5 + len(options) // 4) << 4, tcp.SYN]) + header[14:16] + b"\0\0\0\0"
    raw += options + data
    from labnode.checksum import internet_checksum
    raw[16:18] = internet_checksum(ipv4.pseudo_header(PEER_IP, STACK_IP, 6, len(raw)) + raw).to_bytes(2, "big")
    packet = ipv4.build(PEER_IP, STACK_IP, ipv4.PROTO_TCP, bytes(raw), 1)
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
    still_works(peer)


segments = st.lists(st.tuples(st.integers(0, 0x3F), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                              st.binary(max_size=64), st.integers(0, 65535)), max_size=25)


@SETTINGS
@given(segments, st.booleans())
def test_any_segment_sequence_against_an_established_connection(script, near):
    """Well-formed segments with arbitrary flags/numbers never break the state machine."""
    peer = fresh()
    peer.send(tcp.SYN, 1000, mss=1460)
    (synack,) = peer.take()
    peer.send(tcp.ACK, 1001, synack.seq + 1)
    conn = peer.stack.conns[(80, PEER_IP, peer.port)]
    conn.send(b"x" * 5000)
    for flags, seq, ack, data, window in script:
        if near:  # mostly plausible numbers, to reach deep into the machine
            seq, ack = 1001 + seq % 6000, synack.seq + 1 + ack % 6000
        peer.send(flags, seq, ack, data, window=window)
        peer.advance(0.3)
    assert conn.state in tcp.SYNCHRONIZED | {tcp.CLOSED}
    still_works(peer)


@SETTINGS
@given(st.binary(max_size=100))
def test_udp_with_valid_header_and_random_data(data):
    peer = fresh()
    packet = ipv4.build(PEER_IP, STACK_IP, ipv4.PROTO_UDP, udp.build(PEER_IP, STACK_IP, 1, 7, data), 1)
    peer.stack.receive_frame(ethernet.build(peer.stack.mac, MAC_B, ethernet.TYPE_IPV4, packet))
    assert peer.stack.udp_sockets[7].recvfrom() == (data, ("10.0.0.2", 1))
    still_works(peer)
