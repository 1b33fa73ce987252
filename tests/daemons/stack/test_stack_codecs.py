"""Encoding and decoding of each protocol against byte vectors.

The vectors were captured with tcpdump on the kernel's side of a TAP the
stack was running on (tests/daemons/stack/stacknet.py): a kernel ping, the
stack's reply, the stack's SYN-ACK (which the kernel accepted), and the
kernel's SYN options.  Kernel TCP checksums are not used: on the capture
point they are still the partial ones of checksum offload.
"""
from __future__ import annotations

import ipaddress

import pytest

from labnode.checksum import verify
from labnode.stack import arp, ethernet, icmp, ipv4, tcp, udp

KERNEL_MAC = bytes.fromhex("d27f302045f1")
STACK_MAC = bytes.fromhex("020000770005")
KERNEL_IP = bytes([10, 77, 0, 1])
STACK_IP = bytes([10, 77, 0, 5])
KERNEL_PING = bytes.fromhex(
    "020000770005d27f302045f1080045000024 36b440004001ef850a4d00010a4d0005 08001733 7f6900016162 0000000000000000"
    .replace(" ", ""))
STACK_PONG = bytes.fromhex(
    "d27f302045f1020000770005080045000024222d40004001040d0a4d00050a4d0001 00001f337f6900016162 0000000000000000"
    .replace(" ", ""))
STACK_SYNACK = bytes.fromhex(
    "d27f302045f10200007700050800 4500002c222e4000400603ff0a4d00050a4d0001"
    "0050895c6ef710b2ceb6ee876012ffffbce2000002 0405b4".replace(" ", ""))
KERNEL_SYN_OPTIONS = bytes.fromhex("020405b40402080a220f515c0000000001030309")


def test_ethernet_parse_of_a_kernel_frame():
    dst, src, kind, payload = ethernet.parse(KERNEL_PING)
    assert (dst, src, kind) == (STACK_MAC, KERNEL_MAC, ethernet.TYPE_IPV4)
    assert bytes(payload) == KERNEL_PING[14:]


def test_ethernet_build_pads_to_the_minimum_frame():
    frame = ethernet.build(ethernet.BROADCAST, STACK_MAC, ethernet.TYPE_ARP, b"x" * 28)
    assert len(frame) == 60 and frame[:14] == ethernet.BROADCAST + STACK_MAC + b"\x08\x06"


def test_ethernet_refuses_short_frames_and_bad_macs():
    with pytest.raises(ethernet.FrameError):
        ethernet.parse(b"\x00" * 13)
    assert ethernet.parse_mac("02:00:00:77:00:05") == STACK_MAC
    for bad in ("02:00:00:77:00", "zz:00:00:00:00:00", "01:00:5e:00:00:01"):
        with pytest.raises(ValueError, match="bad MAC address"):
            ethernet.parse_mac(bad)


def test_ipv4_parse_of_a_kernel_header():
    packet = ipv4.parse(KERNEL_PING[14:])
    assert (packet.src, packet.dst, packet.proto, packet.ttl) == (KERNEL_IP, STACK_IP, ipv4.PROTO_ICMP, 64)
    assert packet.ident == 0x36B4 and not packet.is_fragment
    assert len(packet.payload) == 16  # the trailing Ethernet padding is not payload


def test_ipv4_build_reproduces_the_stacks_header():
    built = ipv4.build(STACK_IP, KERNEL_IP, ipv4.PROTO_ICMP, STACK_PONG[34:50], ident=0x222D)
    assert built == STACK_PONG[14:50]


def test_ipv4_refuses_a_bad_checksum_and_bad_lengths():
    header = bytearray(KERNEL_PING[14:])
    header[10] ^= 0xFF
    with pytest.raises(ipv4.PacketError, match="checksum"):
        ipv4.parse(bytes(header))
    with pytest.raises(ipv4.PacketError, match="total length"):
        ipv4.parse(KERNEL_PING[14:40])
    with pytest.raises(ipv4.PacketError, match="version"):
        ipv4.parse(b"\x65" + KERNEL_PING[15:])


def test_ipv4_fragments_are_recognised():
    frag = bytearray(ipv4.build(KERNEL_IP, STACK_IP, ipv4.PROTO_UDP, b"x" * 8, 1))
    frag[6:8] = (ipv4.FLAG_MF).to_bytes(2, "big")
    frag[10:12] = b"\0\0"
    from labnode.checksum import internet_checksum
    frag[10:12] = internet_checksum(bytes(frag[:20])).to_bytes(2, "big")
    assert ipv4.parse(bytes(frag)).is_fragment


def test_next_hop_on_link_route_gateway():
    routes = ipv4.Routes(ipaddress.IPv4Interface("10.0.0.5/24"), ipv4.packed("10.0.0.1"),
                         [(ipaddress.IPv4Network("10.9.0.0/16"), ipv4.packed("10.0.0.2")),
                          (ipaddress.IPv4Network("10.9.9.0/24"), ipv4.packed("10.0.0.3"))])
    assert routes.next_hop(ipv4.packed("10.0.0.77")) == ipv4.packed("10.0.0.77")
    assert routes.next_hop(ipv4.packed("10.9.1.1")) == ipv4.packed("10.0.0.2")
    assert routes.next_hop(ipv4.packed("10.9.9.1")) == ipv4.packed("10.0.0.3")  # longest prefix wins
    assert routes.next_hop(ipv4.packed("192.0.2.1")) == ipv4.packed("10.0.0.1")
    no_gateway = ipv4.Routes(ipaddress.IPv4Interface("10.0.0.5/24"), None, [])
    assert no_gateway.next_hop(ipv4.packed("192.0.2.1")) is None


def test_icmp_echo_request_and_the_stacks_reply():
    kind, code, rest, body = icmp.parse(ipv4.parse(KERNEL_PING[14:]).payload)
    assert (kind, code, rest >> 16, rest & 0xFFFF) == (icmp.ECHO_REQUEST, 0, 0x7F69, 1)
    assert icmp.echo_reply(rest, bytes(body)) == STACK_PONG[34:50]


def test_icmp_unreachable_quotes_header_and_eight_bytes():
    offending = ipv4.build(KERNEL_IP, STACK_IP, ipv4.PROTO_UDP, udp.build(KERNEL_IP, STACK_IP, 5000, 9, b"hello"), 3)
    message = icmp.unreachable(icmp.CODE_PORT, offending)
    kind, code, _rest, body = icmp.parse(message)
    assert (kind, code) == (icmp.UNREACHABLE, icmp.CODE_PORT)
    assert bytes(body) == offending[:28]
    with pytest.raises(icmp.IcmpError, match="checksum"):
        icmp.parse(message[:-1] + bytes([message[-1] ^ 1]))


def test_udp_roundtrip_and_checksum():
    datagram = udp.build(KERNEL_IP, STACK_IP, 40000, 7, b"ping")
    assert datagram[:6] == bytes.fromhex("9c400007000c")
    assert verify(ipv4.pseudo_header(KERNEL_IP, STACK_IP, ipv4.PROTO_UDP, len(datagram)) + datagram)
    sport, dport, payload = udp.parse(KERNEL_IP, STACK_IP, datagram)
    assert (sport, dport, bytes(payload)) == (40000, 7, b"ping")
    with pytest.raises(udp.DatagramError, match="checksum"):
        udp.parse(KERNEL_IP, STACK_IP, datagram[:-1] + b"x")
    unchecked = datagram[:6] + b"\0\0" + datagram[8:-1] + b"x"  # checksum 0: "not computed"
    assert bytes(udp.parse(KERNEL_IP, STACK_IP, unchecked)[2]) == b"pinx"


def test_tcp_encode_reproduces_the_stacks_synack():
    seg = tcp.Segment(80, 0x895C, 0x6EF710B2, 0xCEB6EE87, tcp.SYN | tcp.ACK, 65535, mss=1460)
    assert seg.encode(STACK_IP, KERNEL_IP) == STACK_SYNACK[34:]
    parsed = tcp.parse(STACK_IP, KERNEL_IP, STACK_SYNACK[34:])
    assert (parsed.sport, parsed.dport, parsed.seq, parsed.ack, parsed.flags, parsed.window, parsed.mss) == \
        (80, 0x895C, 0x6EF710B2, 0xCEB6EE87, tcp.SYN | tcp.ACK, 65535, 1460)
    assert parsed.length == 1


def test_tcp_options_of_a_kernel_syn():
    assert tcp.parse_options(KERNEL_SYN_OPTIONS) == 1460
    assert tcp.parse_options(b"\x01\x01\x00garbage") is None
    for bad in (b"\x02", b"\x02\x01", b"\x08\x0a\x00", b"\x02\x03\x05"):
        with pytest.raises(tcp.SegmentError):
            tcp.parse_options(bad)


def test_tcp_refuses_bad_checksum_and_offset():
    raw = bytearray(STACK_SYNACK[34:])
    raw[-1] ^= 1
    with pytest.raises(tcp.SegmentError, match="checksum"):
        tcp.parse(STACK_IP, KERNEL_IP, bytes(raw))
    raw = bytearray(STACK_SYNACK[34:])
    raw[12] = 0xF0
    with pytest.raises(tcp.SegmentError, match="offset"):
        tcp.parse(STACK_IP, KERNEL_IP, bytes(raw))


def test_reset_for_a_segment_without_a_connection():
    syn = tcp.Segment(5000, 80, 1000, 0, tcp.SYN, 1000)
    rst = tcp.reset_for(syn)
    assert rst is not None and (rst.seq, rst.ack, rst.flags) == (0, 1001, tcp.RST | tcp.ACK)
    ack = tcp.Segment(5000, 80, 1000, 777, tcp.ACK, 1000, payload=b"abc")
    rst = tcp.reset_for(ack)
    assert rst is not None and (rst.seq, rst.flags) == (777, tcp.RST)
    assert tcp.reset_for(tcp.Segment(5000, 80, 1, 1, tcp.RST, 0)) is None


def test_sequence_arithmetic_wraps():
    assert tcp.seq_lt(0xFFFFFFF0, 0x10) and tcp.seq_gt(0x10, 0xFFFFFFF0)
    assert tcp.seq_le(5, 5) and not tcp.seq_lt(5, 5)


def test_arp_request_layout_and_parse():
    request = arp.ArpPacket(arp.REQUEST, STACK_MAC, STACK_IP, bytes(6), KERNEL_IP).encode()
    assert request == bytes.fromhex("0001080006040001") + STACK_MAC + STACK_IP + bytes(6) + KERNEL_IP
    assert arp.parse(request + b"\0" * 18) == arp.ArpPacket(arp.REQUEST, STACK_MAC, STACK_IP, bytes(6), KERNEL_IP)
    with pytest.raises(arp.ArpError):
        arp.parse(request[:27])
    with pytest.raises(arp.ArpError, match="IPv4-over-Ethernet"):
        arp.parse(b"\x00\x06" + request[2:])
