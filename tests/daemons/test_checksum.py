"""The Internet checksum against a reference written differently, and ICMP
packets built with it."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from labnode.checksum import internet_checksum, ones_complement_sum, verify
from labnode.probe import icmp


def reference_checksum(data: bytes) -> int:
    """RFC 1071 the slow way: add 16-bit words one at a time, carrying around
    at every step, then complement."""
    acc = 0
    for i in range(0, len(data), 2):
        word = data[i] << 8
        if i + 1 < len(data):
            word |= data[i + 1]
        acc += word
        if acc > 0xFFFF:
            acc = (acc & 0xFFFF) + 1
    return (~acc) & 0xFFFF


def test_rfc1071_example():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert ones_complement_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_known_ipv4_header():
    header = bytes.fromhex("45000073000040004011" "0000" "c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    fixed = header[:10] + struct.pack("!H", 0xB861) + header[12:]
    assert verify(fixed)
    other = bytes.fromhex("4500003c1c4640004006" "0000" "ac100a63ac100a0c")
    assert internet_checksum(other) == 0xB1E6


def test_odd_length_pads_with_zero():
    assert internet_checksum(b"\x12\x34\x56") == internet_checksum(b"\x12\x34\x56\x00")
    assert internet_checksum(b"") == 0xFFFF


@given(st.binary(max_size=3000))
def test_matches_reference(data):
    assert internet_checksum(data) == reference_checksum(data)


@given(st.binary(max_size=1500).filter(lambda d: len(d) % 2 == 0))
def test_data_with_its_checksum_verifies(data):
    packet = data + struct.pack("!H", internet_checksum(data))
    assert verify(packet)
    assert internet_checksum(packet) == 0


@given(st.binary(min_size=2, max_size=600), st.data())
def test_single_bit_flip_is_detected(data, draw):
    packet = data + (b"\x00" if len(data) % 2 else b"")
    packet += struct.pack("!H", internet_checksum(packet))
    bit = draw.draw(st.integers(0, len(packet) * 8 - 1))
    flipped = bytearray(packet)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not verify(bytes(flipped))


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=200))
def test_echo_request_is_well_formed(ident, seq, payload):
    packet = icmp.echo_request(ident, seq, payload)
    kind, code, checksum, got_ident, got_seq = struct.unpack("!BBHHH", packet[:8])
    assert (kind, code, got_ident, got_seq) == (icmp.ECHO_REQUEST, 0, ident, seq)
    assert packet[8:] == payload
    assert reference_checksum(packet[:2] + b"\0\0" + packet[4:]) == checksum
    assert verify(packet)
