"""The wire codec: round trips, and hostile input that must only ever
raise PacketError (with a reason that names a drop counter)."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labnode.routing import packet as pk
from labnode.routing.lsa import LSA, Link, Prefix
from labnode.routing.packet import AckEntry, Codec, Hello, PacketError

REASONS = {"truncated", "oversized", "bad_version", "bad_length", "bad_type", "bad_auth", "malformed"}
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def prefixes(draw):
    length = draw(st.integers(0, 32))
    network = draw(u32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0)
    return Prefix(network, length, draw(st.integers(0, 0xFFFF)))


# global unicast (2000::/3) and unique-local (fc00::/7) space: what address6 and prefixes6 hold
unicast6 = st.one_of(st.integers(0x2 << 124, (0x4 << 124) - 1), st.integers(0xFC << 120, (0xFE << 120) - 1))


@st.composite
def prefixes6(draw):
    length = draw(st.integers(7, 128))
    network = draw(unicast6) & (((1 << 128) - 1) << (128 - length)) & ((1 << 128) - 1)
    return Prefix(network, length, draw(st.integers(0, 0xFFFF)))


lsas = st.builds(
    LSA, u32, u32, st.integers(0, 0xFFFF),
    st.lists(st.builds(Link, u32, st.integers(1, 0xFFFF)), max_size=30).map(tuple),
    st.lists(prefixes(), max_size=30).map(tuple),
    st.one_of(st.just(()), st.lists(prefixes6(), max_size=20).map(tuple)))
hellos = st.builds(Hello, st.integers(1, 60000).map(lambda ms: ms / 1000), st.just(0.0), u32,
                   st.lists(u32, max_size=50).map(tuple), st.one_of(st.none(), unicast6)).map(
    lambda h: Hello(h.hello_interval, h.hello_interval * 4, h.incarnation, h.neighbors, h.address6))
keys = st.one_of(st.none(), st.text(min_size=1, max_size=20))


@settings(max_examples=200, deadline=None, database=None)
@given(keys, u32, hellos)
def test_hello_round_trip(key, rid, hello):
    codec = Codec(rid, key)
    decoded = Codec(1, key).decode(codec.hello(hello))
    assert (decoded.type, decoded.router_id, decoded.body) == (pk.HELLO, rid, hello)
    assert (decoded.auth_seq is None) == (key is None)
    assert decoded.version == (1 if hello.address6 is None else 2)


@settings(max_examples=60, deadline=None, database=None)
@given(keys, st.lists(lsas, max_size=12))
def test_lsu_round_trip_split_under_target(key, items):
    codec = Codec(7, key)
    packets = codec.lsus(items)
    decoded = [item for p in packets for item in Codec(1, key).decode(p).body]
    # the LSAs without IPv6 prefixes travel in version 1 packets, then the others in version 2 ones
    assert decoded == [i for i in items if not i.prefixes6] + [i for i in items if i.prefixes6]
    for p in packets:
        assert len(p) <= pk.MAX_PACKET
        packet = Codec(1, key).decode(p)
        assert packet.version == (2 if any(lsa.prefixes6 for lsa in packet.body) else 1)
        if len(packet.body) > 1:
            assert len(p) <= pk.TARGET_PACKET


@settings(max_examples=100, deadline=None, database=None)
@given(keys, st.lists(st.builds(AckEntry, u32, u32, u32), max_size=300))
def test_ack_round_trip(key, entries):
    packets = Codec(7, key).acks(entries)
    assert [e for p in packets for e in Codec(1, key).decode(p).body] == entries
    assert all(len(p) <= pk.TARGET_PACKET for p in packets)


@settings(max_examples=1000, deadline=None, database=None)
@given(st.binary(max_size=300), keys)
def test_random_bytes_only_raise_packet_error(data, key):
    try:
        Codec(1, key).decode(data)
    except PacketError as exc:
        assert exc.reason in REASONS


@st.composite
def mutated(draw):
    """A valid packet with a few bytes flipped, cut or appended."""
    codec = Codec(3)
    kind = draw(st.sampled_from(["hello", "lsu", "ack"]))
    if kind == "hello":
        data = codec.hello(draw(hellos))
    elif kind == "lsu":
        data = codec.lsus([draw(lsas)])[0]
    else:
        data = codec.acks([AckEntry(1, 2, 3)])[0]
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


@settings(max_examples=600, deadline=None, database=None)
@given(mutated())
def test_mutated_packets_decode_or_raise_packet_error(data):
    try:
        Codec(1).decode(data)
    except PacketError as exc:
        assert exc.reason in REASONS


def reason(data, key=None):
    with pytest.raises(PacketError) as info:
        Codec(1, key).decode(data)
    return info.value.reason


def test_specific_drop_reasons():
    good = Codec(2).hello(Hello(0.2, 0.8, 1, (1,)))
    assert reason(good[:5]) == "truncated"
    assert reason(good[:-1]) == "truncated"  # length field larger than what arrived
    assert reason(good + b"x") == "bad_length"
    assert reason(b"\x03" + good[1:]) == "bad_version"  # 1 and 2 exist
    assert reason(good[:1] + b"\x09" + good[2:]) == "bad_type"
    assert reason(b"\x01" * (pk.MAX_PACKET + 1)) == "oversized"
    assert reason(good[:8] + b"\x07" + good[9:]) == "malformed"  # unknown auth type


def test_lsa_count_lies_and_trailing_bytes_are_malformed():
    body = pk.COUNT.pack(2) + pk.encode_lsa(LSA(1, 1, 0))
    data = pk.HEADER.pack(1, pk.LSU, pk.HEADER.size + len(body), 5, 0) + body
    assert reason(data) == "malformed"
    body = pk.COUNT.pack(1) + pk.encode_lsa(LSA(1, 1, 0)) + b"\0"
    data = pk.HEADER.pack(1, pk.LSU, pk.HEADER.size + len(body), 5, 0) + body
    assert reason(data) == "malformed"


def test_bad_field_values_are_malformed():
    def lsu(lsa_bytes):
        body = pk.COUNT.pack(1) + lsa_bytes
        return pk.HEADER.pack(1, pk.LSU, pk.HEADER.size + len(body), 5, 0) + body
    zero_cost = pk.LSA_HEAD.pack(1, 1, 0, 1, 0) + pk.LINK.pack(2, 0)
    host_bits = pk.LSA_HEAD.pack(1, 1, 0, 0, 1) + struct.pack("!IBH", 0x0A000001, 24, 0)
    long_prefix = pk.LSA_HEAD.pack(1, 1, 0, 0, 1) + struct.pack("!IBH", 0, 33, 0)
    for data in (zero_cost, host_bits, long_prefix):
        assert reason(lsu(data)) == "malformed"
    body = pk.HELLO_FIXED.pack(200, 100, 1, 0)  # dead shorter than hello
    assert reason(pk.HEADER.pack(1, pk.HELLO, pk.HEADER.size + len(body), 5, 0) + body) == "malformed"


def test_hmac_is_required_checked_and_covers_every_byte():
    signed = Codec(2, "secret").hello(Hello(0.2, 0.8, 1))
    assert Codec(1, "secret").decode(signed).router_id == 2
    assert reason(signed, key="other") == "bad_auth"
    assert reason(signed, key=None) == "bad_auth"
    assert reason(Codec(2).hello(Hello(0.2, 0.8, 1)), key="secret") == "bad_auth"
    for i in range(len(signed)):
        tampered = bytearray(signed)
        tampered[i] ^= 0x01
        with pytest.raises(PacketError):
            Codec(1, "secret").decode(bytes(tampered))


def test_authenticated_packets_carry_increasing_counters():
    codec = Codec(2, "k")
    seqs = [Codec(1, "k").decode(codec.hello(Hello(0.2, 0.8, 1))).auth_seq for _ in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_ipv4_only_packets_are_version_1_byte_for_byte():
    """What an IPv4-only router sends is the format of before IPv6 existed."""
    hello = Codec(0x01010101).hello(Hello(0.2, 0.8, 7, (0x02020202,)))
    assert hello == bytes.fromhex("01 01 001c 01010101 00 000000" "00c8 00000320 00000007 0001 02020202")
    lsa = LSA(0x01010101, 5, 3, (Link(0x02020202, 10),), (Prefix(0x0A640100, 24, 0),))
    (lsu,) = Codec(0x01010101).lsus([lsa])
    assert lsu == bytes.fromhex("01 02 0029 01010101 00 000000" "0001" "01010101 00000005 0003 0001 0001"
                                "02020202 000a" "0a640100 18 0000")


def test_ipv6_fields_on_the_wire():
    address6 = 0x20010DB8000000010000000000000002
    hello = Codec(0x02020202).hello(Hello(0.2, 0.8, 7, (0x01010101,), address6))
    assert hello[0] == 2 and len(hello) == 12 + 12 + 16 + 4
    assert hello[24:40] == bytes.fromhex("20010db8000000010000000000000002")  # after the fixed part
    p6 = Prefix(0x20010DB8010000040000000000000000, 64, 5)
    (lsu,) = Codec(2).lsus([LSA(2, 1, 0, (), (), (p6,))])
    assert lsu[0] == 2
    body = lsu[12:]
    assert body == bytes.fromhex("0001" "00000002 00000001 0000 0000 0000 0001"
                                 "20010db8010000040000000000000000 40 0005")


def test_the_checksum_covers_ipv6_prefixes_and_is_unchanged_without_them():
    base = LSA(1, 5, 0, (Link(2, 10),), (Prefix(0x0A000000, 24, 0),))
    before_ipv6 = struct.pack("!II", 1, 5) + struct.pack("!IH", 2, 10) + b"|" + struct.pack("!IBH", 0x0A000000, 24, 0)
    assert base.checksum == zlib.crc32(before_ipv6)  # the definition of before IPv6
    p6 = Prefix(0x20010DB8000000000000000000000000, 32, 0)
    with6 = LSA(1, 5, 0, base.links, base.prefixes, (p6,))
    assert with6.checksum != base.checksum
    assert with6.checksum != LSA(1, 5, 0, base.links, base.prefixes, (p6._replace(metric=1),)).checksum
    assert not with6.same_content(base)


def test_hmac_covers_the_ipv6_fields():
    key = "secret"
    signed = Codec(2, key).hello(Hello(0.2, 0.8, 1, (), 0x20010DB8000000000000000000000001))
    (lsu,) = Codec(2, key).lsus([LSA(2, 1, 0, (), (), (Prefix(0x20010DB8000000000000000000000000, 32, 1),))])
    for data, where in ((signed, range(24, 40)), (lsu, range(len(lsu) - pk.TRAILER_SIZE - 19,
                                                                 len(lsu) - pk.TRAILER_SIZE))):
        assert Codec(1, key).decode(data).version == 2
        for i in where:  # every byte of the address6 / the IPv6 prefix
            tampered = bytearray(data)
            tampered[i] ^= 0x01
            assert reason(bytes(tampered), key=key) == "bad_auth"
    downgraded = bytearray(signed)
    downgraded[0] = 1  # claiming version 1 does not strip the address6 unnoticed
    assert reason(bytes(downgraded), key=key) == "bad_auth"


def test_huge_lsa_refused_at_encoding():
    lsa = LSA(1, 1, 0, tuple(Link(i, 1) for i in range(2000)))
    with pytest.raises(ValueError):
        Codec(1).lsus([lsa])
