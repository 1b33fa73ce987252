"""The stack below TCP: ARP (answers, queue, retries, ageing, gratuitous),
ICMP (echo, port unreachable both ways), UDP sockets, the loss knob, and
refused fragments."""
from __future__ import annotations

from memnet import MAC_B, MemDevice, Wire, make_stack
from scripted import PEER_IP, STACK_IP, Peer

from labnode.checksum import internet_checksum
from labnode.stack import arp, core, ethernet, icmp, ipv4, tcp, udp


def frames(stack, kind):
    out = [ethernet.parse(f) for f in stack.device.sent]
    return [(dst, payload) for dst, _src, k, payload in out if k == kind]


def ip_from_peer(stack, proto, payload, dst=STACK_IP, flags_offset=None):
    packet = bytearray(ipv4.build(PEER_IP, dst, proto, payload, 9))
    if flags_offset is not None:
        packet[6:8] = flags_offset.to_bytes(2, "big")
        packet[10:12] = b"\0\0"
        packet[10:12] = internet_checksum(bytes(packet[:20])).to_bytes(2, "big")
    stack.receive_frame(ethernet.build(stack.mac, MAC_B, ethernet.TYPE_IPV4, bytes(packet)))


def test_gratuitous_arp_on_start():
    stack = make_stack()
    stack.start()
    ((dst, payload),) = frames(stack, ethernet.TYPE_ARP)
    announce = arp.parse(payload)
    assert dst == ethernet.BROADCAST and announce.sender_ip == announce.target_ip == STACK_IP


def test_arp_request_for_us_is_answered_and_the_sender_learnt():
    stack = make_stack()
    request = arp.ArpPacket(arp.REQUEST, MAC_B, PEER_IP, bytes(6), STACK_IP).encode()
    stack.receive_frame(ethernet.build(ethernet.BROADCAST, MAC_B, ethernet.TYPE_ARP, request))
    ((dst, payload),) = frames(stack, ethernet.TYPE_ARP)
    reply = arp.parse(payload)
    assert dst == MAC_B and reply.oper == arp.REPLY and reply.sender_mac == stack.mac
    assert stack.arp_table()[0]["address"] == "10.0.0.2" and stack.arp_table()[0]["mac"] == "02:00:00:00:00:0b"


def test_arp_for_someone_else_is_not_answered_nor_learnt():
    stack = make_stack()
    request = arp.ArpPacket(arp.REQUEST, MAC_B, PEER_IP, bytes(6), ipv4.packed("10.0.0.99")).encode()
    stack.receive_frame(ethernet.build(ethernet.BROADCAST, MAC_B, ethernet.TYPE_ARP, request))
    assert frames(stack, ethernet.TYPE_ARP) == [] and stack.arp_table() == []


def test_packets_wait_for_resolution_then_go_out():
    stack = make_stack()
    sock = stack.udp_bind(5000)
    sock.sendto(b"one", ("10.0.0.2", 7))
    sock.sendto(b"two", ("10.0.0.2", 7))
    ((dst, payload),) = frames(stack, ethernet.TYPE_ARP)
    assert arp.parse(payload).target_ip == PEER_IP
    assert stack.arp_table()[0]["state"] == "incomplete" and stack.arp_table()[0]["queued"] == 2
    stack.device.sent.clear()
    reply = arp.ArpPacket(arp.REPLY, MAC_B, PEER_IP, stack.mac, STACK_IP).encode()
    stack.receive_frame(ethernet.build(stack.mac, MAC_B, ethernet.TYPE_ARP, reply))
    sent = frames(stack, ethernet.TYPE_IPV4)
    assert [bytes(udp.parse(STACK_IP, PEER_IP, ipv4.parse(p).payload)[2]) for _d, p in sent] == [b"one", b"two"]
    assert all(d == MAC_B for d, _p in sent)


def test_unanswered_arp_is_retried_then_given_up():
    stack = make_stack()
    stack.start()
    stack.device.sent.clear()
    stack.udp_bind(5000).sendto(b"x", ("10.0.0.3", 7))
    for _ in range(8):
        stack.now.t += core.HOUSEKEEPING
        stack.run_timers()
    requests = [arp.parse(p) for _d, p in frames(stack, ethernet.TYPE_ARP)]
    assert len(requests) == arp.RETRIES
    assert stack.counters["arp_failed"] == 1 and stack.counters["arp_queue_dropped"] == 1
    assert stack.arp_table() == []


def test_arp_entries_age_out():
    stack = make_stack()
    stack.arp.learn(PEER_IP, MAC_B, stack.now(), add=True)
    stack.now.t += arp.REACHABLE + 1
    assert stack.arp.lookup(PEER_IP, stack.now()) is None


def test_ping_is_answered():
    stack = make_stack()
    stack.arp.learn(PEER_IP, MAC_B, stack.now(), add=True)
    ip_from_peer(stack, ipv4.PROTO_ICMP, icmp.build(icmp.ECHO_REQUEST, 0, 0x12340001, b"payload"))
    ((_dst, payload),) = frames(stack, ethernet.TYPE_IPV4)
    packet = ipv4.parse(payload)
    assert packet.dst == PEER_IP
    kind, _code, rest, body = icmp.parse(packet.payload)
    assert (kind, rest, bytes(body)) == (icmp.ECHO_REPLY, 0x12340001, b"payload")


def test_udp_to_a_closed_port_gets_port_unreachable():
    stack = make_stack()
    stack.arp.learn(PEER_IP, MAC_B, stack.now(), add=True)
    datagram = udp.build(PEER_IP, STACK_IP, 4000, 9, b"anyone?")
    ip_from_peer(stack, ipv4.PROTO_UDP, datagram)
    ((_dst, payload),) = frames(stack, ethernet.TYPE_IPV4)
    kind, code, _rest, body = icmp.parse(ipv4.parse(payload).payload)
    assert (kind, code) == (icmp.UNREACHABLE, icmp.CODE_PORT)
    assert bytes(body)[20:28] == datagram[:8]


def test_received_port_unreachable_is_reported_to_the_udp_socket():
    stack = make_stack()
    sock = stack.udp_bind(5000)
    offending = ipv4.build(STACK_IP, PEER_IP, ipv4.PROTO_UDP, udp.build(STACK_IP, PEER_IP, 5000, 9, b"x"), 1)
    ip_from_peer(stack, ipv4.PROTO_ICMP, icmp.unreachable(icmp.CODE_PORT, offending))
    assert list(sock.errors) == ["10.0.0.2:9: port unreachable"]


def test_received_unreachable_aborts_a_connection_being_opened():
    peer = Peer()
    conn = peer.stack.tcp_connect("10.0.0.2", 8080)
    (syn,) = peer.take()
    offending = ipv4.build(STACK_IP, PEER_IP, ipv4.PROTO_TCP, syn.encode(STACK_IP, PEER_IP), 1)
    ip_from_peer(peer.stack, ipv4.PROTO_ICMP, icmp.unreachable(icmp.CODE_HOST, offending))
    assert conn.state == tcp.CLOSED and conn.error == "host unreachable"


def test_udp_socket_api():
    wire = Wire()
    server = wire.b.udp_bind(7)
    client = wire.a.udp_bind()
    client.sendto(b"hi", ("10.0.0.2", 7))
    wire.pump()
    data, addr = server.recvfrom()
    assert data == b"hi" and addr == ("10.0.0.1", client.port)
    assert server.recvfrom() is None
    server.close()
    client.sendto(b"again", ("10.0.0.2", 7))
    wire.pump()
    assert list(client.errors) == ["10.0.0.2:7: port unreachable"]


def test_fragments_are_refused_and_counted():
    stack = make_stack()
    stack.udp_bind(7)
    ip_from_peer(stack, ipv4.PROTO_UDP, udp.build(PEER_IP, STACK_IP, 1, 7, b"x"), flags_offset=ipv4.FLAG_MF)
    ip_from_peer(stack, ipv4.PROTO_UDP, b"tail", flags_offset=185)
    assert stack.counters["ip_fragments_refused"] == 2 and stack.udp_sockets[7].received == 0


def test_packets_for_other_addresses_are_not_ours():
    stack = make_stack()
    ip_from_peer(stack, ipv4.PROTO_ICMP, icmp.build(icmp.ECHO_REQUEST, 0, 1, b""), dst=ipv4.packed("10.0.0.9"))
    assert stack.counters["ip_not_ours"] == 1 and stack.device.sent == []


def test_loss_every_nth_received_segment():
    loss = core.Loss(every=3)
    assert [loss.drop("rx") for _ in range(6)] == [False, False, True, False, False, True]
    assert not loss.drop("tx")


def test_loss_probability_is_seeded():
    a, b = core.Loss(p=0.3, seed=5, direction="both"), core.Loss(p=0.3, seed=5, direction="both")
    first = [a.drop("tx") for _ in range(200)]
    assert first == [b.drop("tx") for _ in range(200)]
    assert 30 < sum(first) < 90


def test_loss_knob_drops_tcp_segments_and_counts_them():
    peer = Peer(loss=core.Loss(every=2))
    peer.stack.tcp_listen(80)
    peer.send(tcp.SYN, 1)   # seen 1: kept
    peer.send(tcp.SYN, 1, sport=40001)   # seen 2: dropped
    assert len(peer.take()) == 1 and peer.stack.counters["loss_dropped_rx"] == 1


def test_frames_that_cannot_be_sent_are_counted():
    class Full(MemDevice):
        def write(self, frame):
            return False
    stack = make_stack()
    stack.device = Full()
    stack.gratuitous_arp()
    assert stack.counters["frames_dropped_tx"] == 1
