"""Reading ICMP messages: replies, corrupted replies, errors quoting our probes."""

from __future__ import annotations

import socket
import struct

from labnode.checksum import internet_checksum
from labnode.probe import icmp


def ip_header(src: str, dst: str, proto: int, payload_len: int, ttl: int = 64) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 1, 0, ttl, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]


def icmp_message(kind: int, code: int, rest: bytes, body: bytes) -> bytes:
    draft = struct.pack("!BBH", kind, code, 0) + rest + body
    return struct.pack("!BBH", kind, code, internet_checksum(draft)) + rest + body


def datagram(src, dst, message: bytes) -> bytes:
    return ip_header(src, dst, socket.IPPROTO_ICMP, len(message)) + message


def test_echo_reply_is_read_and_checked():
    reply = icmp_message(icmp.ECHO_REPLY, 0, struct.pack("!HH", 0x1234, 7), b"payload!")
    message = icmp.parse(datagram("10.0.0.2", "10.0.0.1", reply))
    assert (message.src, message.type, message.ident, message.seq) == ("10.0.0.2", 0, 0x1234, 7)
    assert message.payload == b"payload!" and message.checksum_ok


def test_corrupted_reply_fails_its_checksum():
    reply = bytearray(icmp_message(icmp.ECHO_REPLY, 0, struct.pack("!HH", 1, 1), b"abcd"))
    reply[-1] ^= 0x40
    assert not icmp.parse(datagram("10.0.0.2", "10.0.0.1", bytes(reply))).checksum_ok


def test_trailing_padding_beyond_total_length_is_ignored():
    reply = icmp_message(icmp.ECHO_REPLY, 0, struct.pack("!HH", 1, 1), b"abcd")
    message = icmp.parse(datagram("10.0.0.2", "10.0.0.1", reply) + b"\0\0\0\0")
    assert message.checksum_ok and message.payload == b"abcd"


def test_time_exceeded_quotes_our_udp_probe():
    probe = ip_header("10.0.0.1", "10.9.9.9", socket.IPPROTO_UDP, 8 + 4, ttl=1) + \
        struct.pack("!HHHH", 40000, 33440, 12, 0) + b"data"
    error = icmp_message(icmp.TIME_EXCEEDED, 0, b"\0\0\0\0", probe[:28])
    message = icmp.parse(datagram("10.0.0.254", "10.0.0.1", error))
    assert message.type == icmp.TIME_EXCEEDED and message.checksum_ok
    assert message.quoted == icmp.Quoted(socket.IPPROTO_UDP, "10.9.9.9", 40000, 33440)
    assert message.describe() == "time to live exceeded"


def test_unreachable_quotes_our_echo_request():
    request = icmp.echo_request(0xBEEF, 3, b"x" * 16)
    original = ip_header("10.0.0.1", "10.9.9.9", socket.IPPROTO_ICMP, len(request)) + request
    error = icmp_message(icmp.DEST_UNREACHABLE, 1, b"\0\0\0\0", original[:28])
    message = icmp.parse(datagram("10.0.0.254", "10.0.0.1", error))
    assert message.quoted == icmp.Quoted(socket.IPPROTO_ICMP, "10.9.9.9", 0xBEEF, 3)
    assert message.describe() == "host unreachable"


def test_not_icmp_or_truncated_is_ignored():
    assert icmp.parse(ip_header("1.1.1.1", "2.2.2.2", socket.IPPROTO_UDP, 8) + b"\0" * 8) is None
    assert icmp.parse(b"\x45\x00") is None
    assert icmp.parse(ip_header("1.1.1.1", "2.2.2.2", socket.IPPROTO_ICMP, 4) + b"\0" * 4) is None
    assert icmp.parse(b"\x60" + b"\0" * 47) is None  # IPv6
