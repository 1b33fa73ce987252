"""The chat framing: round trips, arbitrary chunking, and what is refused."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labnode import chatproto
from labnode.chatproto import MAX_PAYLOAD, Decoder, ProtocolError, decode_payload, encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
packets = st.builds(
    lambda kind, extra: {**extra, "type": kind},
    st.sampled_from(["hello", "chat", "join", "leave", "error"]) | st.text(max_size=10),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)


@given(packets)
def test_encode_decode_round_trip(packet):
    data = encode(packet)
    (length,) = struct.unpack("!H", data[:2])
    assert length == len(data) - 2
    assert decode_payload(data[2:]) == packet
    assert Decoder().packets(data) == [packet]


@given(st.lists(packets, max_size=8), st.data())
@settings(max_examples=100, deadline=None)
def test_any_chunking_of_a_stream_gives_the_same_packets(stream, data):
    wire = b"".join(encode(p) for p in stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    decoder = Decoder()
    got = []
    previous = 0
    for cut in cuts + [len(wire)]:
        got += decoder.packets(wire[previous:cut])
        previous = cut
    assert got == stream
    assert decoder.pending == 0


@given(packets, st.integers(1, 10))
def test_incomplete_packet_waits(packet, short):
    data = encode(packet)
    cut = max(0, len(data) - short)
    decoder = Decoder()
    assert decoder.packets(data[:cut]) == []
    assert decoder.pending == cut
    assert decoder.packets(data[cut:]) == [packet]


def test_utf8_lengths_are_bytes_not_characters():
    data = encode({"type": "chat", "message": "héllo ✓ 🎉"})
    (length,) = struct.unpack("!H", data[:2])
    assert length == len(data) - 2
    assert "🎉".encode() in data


def test_largest_payload_is_accepted_and_one_more_byte_is_not():
    base = {"type": "chat", "message": ""}
    overhead = len(json.dumps(base, separators=(",", ":")))
    biggest = {"type": "chat", "message": "x" * (MAX_PAYLOAD - overhead)}
    data = encode(biggest)
    assert len(data) == 2 + MAX_PAYLOAD
    assert data[:2] == b"\xff\xff"
    assert Decoder().packets(data) == [biggest]
    with pytest.raises(ProtocolError):
        encode({"type": "chat", "message": "x" * (MAX_PAYLOAD - overhead + 1)})


@pytest.mark.parametrize("payload, why", [
    (b"", "JSON"),
    (b"not json", "JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b"[1, 2]", "object"),
    (b'{"nick": "a"}', "type"),
    (b'{"type": 5}', "type"),
    (b'"chat"', "object"),
])
def test_bad_payloads_are_protocol_errors(payload, why):
    with pytest.raises(ProtocolError, match=why):
        Decoder().packets(struct.pack("!H", len(payload)) + payload)


def test_packets_before_a_bad_one_are_delivered_first():
    decoder = Decoder()
    decoder.feed(chatproto.hello("a") + b"\x00\x03xyz" + chatproto.chat("never"))
    stream = iter(decoder)
    assert next(stream) == {"type": "hello", "nick": "a"}
    with pytest.raises(ProtocolError):
        next(stream)


def test_unencodable_packets_are_protocol_errors():
    with pytest.raises(ProtocolError):
        encode({"type": "chat", "message": "\ud800"})  # a lone surrogate is not UTF-8
    with pytest.raises(ProtocolError):
        encode({"type": "chat", "message": object()})


def test_describe_is_readable():
    assert chatproto.describe({"type": "chat", "nick": "a", "message": "hi"}) == "<a> hi"
    assert chatproto.describe({"type": "join", "nick": "a"}) == "* a joined"
    assert chatproto.describe({"type": "leave", "nick": "a"}) == "* a left"
    assert chatproto.describe({"type": "error", "reason": "x"}) == "! error: x"
