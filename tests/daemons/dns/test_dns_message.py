"""The DNS wire codec (labnode.dns.message): byte vectors written by hand per
RFC 1035 and captured from dig, compression, hypothesis round trips, and
adversarial messages that must all end in DnsError and nothing else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode.dns import message as dm
from labnode.dns.message import DnsError, Message, Question, Record, SoaData

FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# www.example.com A, id 0x1234, RD set: RFC 1035 4.1.1 and 4.1.2 by hand.
QUERY_WWW_EXAMPLE_COM = bytes.fromhex(
    "1234"          # ID
    "0100"          # QR=0 OPCODE=0 AA=0 TC=0 RD=1 RA=0 Z=0 RCODE=0
    "0001" "0000" "0000" "0000"   # QDCOUNT=1, no records
    "03777777" "076578616d706c65" "03636f6d" "00"   # 3 www 7 example 3 com 0
    "0001" "0001")  # QTYPE A, QCLASS IN

# Captured with tcpdump on lo: `dig -p 5353 @127.0.0.1 +norec +noedns +noadflag example.lab MX`
# against our server (the zone of conftest.EXAMPLE_ZONE), UDP payloads.
DIG_QUERY = bytes.fromhex("2d0a00000001000000000000076578616d706c65036c616200000f0001")
OUR_REPLY = bytes.fromhex(
    "2d0a84000001000100000000076578616d706c65036c616200000f0001"
    "c00c000f00010000012c0009000a046d61696cc00c")


def test_hand_built_query_encodes_to_the_rfc_bytes():
    msg = dm.query("www.example.com", dm.A, id=0x1234)
    assert dm.encode(msg) == QUERY_WWW_EXAMPLE_COM
    back = dm.decode(QUERY_WWW_EXAMPLE_COM)
    assert back.id == 0x1234 and back.rd and not back.qr
    assert back.questions == [Question("www.example.com", dm.A, dm.IN)]


def test_dig_query_and_our_captured_reply():
    q = dm.decode(DIG_QUERY)
    assert q.question == Question("example.lab", dm.MX) and not q.rd and q.edns is None
    reply = dm.decode(OUR_REPLY)
    assert reply.qr and reply.aa and not reply.tc and reply.rcode == dm.NOERROR and reply.id == 0x2D0A
    assert reply.answers == [Record("example.lab", dm.MX, 300, (10, "mail.example.lab"))]
    # the encoder writes the same bytes, pointers included (c00c: the question's name)
    assert dm.encode(reply) == OUR_REPLY


def test_compression_decode_of_a_hand_made_message():
    header = struct.pack("!6H", 7, 0x8180, 1, 2, 0, 0)
    question = b"\x03www\x07example\x03com\x00" + struct.pack("!HH", dm.A, 1)     # name at offset 12
    # answer 1: pointer to the question's name (12); CNAME to "mail" + pointer to "example.com" (16)
    cname_rdata = b"\x04mail\xc0\x10"
    answer1 = b"\xc0\x0c" + struct.pack("!HHIH", dm.CNAME, 1, 60, len(cname_rdata)) + cname_rdata
    mail_at = len(header) + len(question) + 12  # where "mail..." sits: inside answer 1's rdata
    answer2 = struct.pack("!H", 0xC000 | mail_at) + struct.pack("!HHIH", dm.A, 1, 60, 4) + bytes([10, 0, 0, 7])
    msg = dm.decode(header + question + answer1 + answer2)
    assert msg.answers == [Record("www.example.com", dm.CNAME, 60, "mail.example.com"),
                           Record("mail.example.com", dm.A, 60, "10.0.0.7")]
    assert msg.ra and msg.rd


def test_encoder_compresses_repeated_names():
    msg = Message(id=1, qr=True, questions=[Question("www.example.lab", dm.A)],
                  answers=[Record("www.example.lab", dm.A, 5, f"10.0.0.{i}") for i in range(5)])
    wire = dm.encode(msg)
    assert wire.count(b"\x07example") == 1 and wire.count(b"\xc0\x0c") == 5
    assert dm.decode(wire) == msg


def test_every_type_round_trips():
    soa = SoaData("ns1.example.lab", "hostmaster.example.lab", 7, 3600, 600, 86400, 60)
    records = [Record("a.lab", dm.A, 1, "10.1.2.3"), Record("a.lab", dm.AAAA, 1, "fd00::1"),
               Record("a.lab", dm.CNAME, 1, "b.lab"), Record("lab", dm.NS, 1, "ns.lab"),
               Record("3.2.1.10.in-addr.arpa", dm.PTR, 1, "a.lab"), Record("lab", dm.MX, 1, (10, "mx.lab")),
               Record("t.lab", dm.TXT, 1, (b"hello", b"", b"x" * 255)), Record("lab", dm.SOA, 1, soa),
               Record("x.lab", 99, 1, b"\x01\x02opaque")]
    msg = Message(id=9, qr=True, aa=True, questions=[Question("lab", dm.ANY)], answers=records, edns=1232)
    assert dm.decode(dm.encode(msg)) == msg


def test_edns_opt_record():
    wire = dm.encode(dm.query("www.example.lab", dm.A, edns=4096))
    assert wire[-11:] == bytes.fromhex("0000291000000000000000")  # root, OPT, 4096, ttl 0, rdlen 0
    assert dm.decode(wire).edns == 4096 and dm.decode(wire).additional == []
    two_opts = wire[:11] + b"\x02" + wire[12:] + wire[-11:]
    with pytest.raises(DnsError, match="more than one OPT"):
        dm.decode(two_opts)


def test_truncation_to_the_udp_limit():
    big = Message(id=3, qr=True, questions=[Question("many.lab", dm.A)],
                  answers=[Record("many.lab", dm.A, 60, f"10.0.{i // 250}.{i % 250}") for i in range(60)],
                  additional=[Record("x.lab", dm.A, 60, "10.9.9.9")])
    assert len(dm.encode(big)) > 512
    cut = dm.decode(dm.encode(big, 512))
    assert cut.tc and cut.answers == [] and cut.questions == big.questions
    roomy = dm.decode(dm.encode(big, 4096))
    assert not roomy.tc and len(roomy.answers) == 60
    no_extra = Message(id=3, qr=True, questions=big.questions, answers=big.answers[:25],
                       additional=[Record("x.lab", dm.TXT, 60, (b"y" * 200,))])
    dropped = dm.decode(dm.encode(no_extra, 512))
    assert not dropped.tc and len(dropped.answers) == 25 and dropped.additional == []


# -- adversarial ---------------------------------------------------------------

HEADER_1Q = struct.pack("!6H", 1, 0, 1, 0, 0, 0)


def refused(data: bytes, match: str) -> None:
    with pytest.raises(DnsError, match=match):
        dm.decode(data)


def test_pointer_loop_is_refused():
    refused(HEADER_1Q + b"\xc0\x0c\x00\x01\x00\x01", "does not point backwards")  # points at itself
    # two pointers pointing at each other: the forward one is refused
    refused(HEADER_1Q + b"\xc0\x0e\xc0\x0c\x00\x01\x00\x01", "does not point backwards")


def test_forward_pointer_and_pointer_past_end():
    refused(HEADER_1Q + b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 30, "does not point backwards")
    refused(HEADER_1Q + b"\xff\xff\x00\x01\x00\x01", "does not point backwards")
    refused(HEADER_1Q + b"\x03www\xc0", "pointer cut off|truncated|past the end")


def test_too_many_pointer_jumps():
    # question 1 is "a" at offset 12; each next question is only a pointer to the one before:
    # all backwards, and question 40 needs 39 jumps (more than MAX_POINTER_JUMPS)
    data = bytearray(struct.pack("!6H", 1, 0, 40, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01")
    previous = 12
    for _ in range(39):
        at = len(data)
        data += struct.pack("!H", 0xC000 | previous) + b"\x00\x01\x00\x01"
        previous = at
    refused(bytes(data), "more than 32 compression pointers")
    data[4:6] = struct.pack("!H", 30)  # 29 jumps are fine
    assert len(dm.decode(bytes(data[:12 + 7 + 29 * 6])).questions) == 30


def test_label_longer_than_63_and_name_longer_than_255():
    refused(HEADER_1Q + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", "unknown label type")
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"  # 4*64+1 = 257 bytes
    refused(HEADER_1Q + long_name + b"\x00\x01\x00\x01", "longer than 255")
    with pytest.raises(DnsError, match="label longer than 63"):
        dm.encode(dm.Message(questions=[Question("a" * 64 + ".lab", dm.A)]))
    with pytest.raises(DnsError, match="longer than 255"):
        dm.normalize(".".join(["a" * 63] * 4))


def test_long_name_through_pointers():
    # each name adds 63-byte labels in front of the previous one through a pointer
    data = bytearray(struct.pack("!6H", 1, 0, 5, 0, 0, 0))
    previous = None
    for _ in range(5):
        at = len(data)
        data += b"\x3f" + b"b" * 63 + (struct.pack("!H", 0xC000 | previous) if previous else b"\x00")
        data += b"\x00\x01\x00\x01"
        previous = at
    refused(bytes(data), "longer than 255")


def test_counts_larger_than_the_data():
    refused(struct.pack("!6H", 1, 0, 65535, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01", "more than 256")
    refused(struct.pack("!6H", 1, 0, 200, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01", "need more bytes")
    refused(struct.pack("!6H", 1, 0, 1, 3, 0, 0) + b"\x03www\x00\x00\x01\x00\x01", "need more bytes")


def test_truncated_messages_are_refused_at_every_cut():
    for cut in range(len(OUR_REPLY)):
        with pytest.raises(DnsError):
            dm.decode(OUR_REPLY[:cut])


def test_rdata_length_must_match_the_type():
    bad = bytearray(OUR_REPLY)
    bad[29 + 11] += 1  # MX rdlength 9 -> 10 (header 12 + question 17, then 10 bytes in)
    refused(bytes(bad) + b"\x00", "10 bytes, but its content takes 9")
    a_record = HEADER_1Q[:6] + b"\x00\x01" + HEADER_1Q[8:] + b"\x00\x00\x01\x00\x01" \
        + b"\x00" + struct.pack("!HHIH", dm.A, 1, 1, 3) + b"\x01\x02\x03"
    refused(a_record, "A rdata")


def test_trailing_garbage_and_bad_characters():
    refused(QUERY_WWW_EXAMPLE_COM + b"\x00", "bytes after the last record")
    refused(HEADER_1Q + b"\x03w.w\x00\x00\x01\x00\x01", "printable ASCII, or a dot")
    refused(HEADER_1Q + b"\x03w\x00w\x00\x00\x01\x00\x01", "printable ASCII")
    with pytest.raises(DnsError):
        dm.decode(b"\x00" * 70000)


# -- hypothesis ----------------------------------------------------------------

LABEL_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=".")
labels = st.text(LABEL_CHARS, min_size=1, max_size=63)
names = st.lists(labels, max_size=6).map(".".join).filter(lambda n: len(n) + 2 <= dm.MAX_NAME)
# a few fixed suffixes make compression happen
names = st.one_of(names, st.tuples(labels, st.sampled_from(["example.lab", "lab", "Example.LAB"]))
                  .map(".".join).filter(lambda n: len(n) + 2 <= dm.MAX_NAME))
u32 = st.integers(0, 0xFFFFFFFF)
rdata = st.one_of(
    st.tuples(st.just(dm.A), st.ip_addresses(v=4).map(str)),
    st.tuples(st.just(dm.AAAA), st.ip_addresses(v=6).map(str)),
    st.tuples(st.sampled_from([dm.CNAME, dm.NS, dm.PTR]), names),
    st.tuples(st.just(dm.MX), st.tuples(st.integers(0, 65535), names)),
    st.tuples(st.just(dm.TXT), st.lists(st.binary(max_size=255), min_size=1, max_size=3).map(tuple)),
    st.tuples(st.just(dm.SOA), st.builds(SoaData, names, names, u32, u32, u32, u32, u32)),
    st.tuples(st.sampled_from([13, 99, 257, 65280]), st.binary(max_size=40)),
)
records = st.builds(lambda name, td, ttl: Record(name, td[0], ttl, td[1]), names, rdata, st.integers(0, 0x7FFFFFFF))
messages = st.builds(
    Message, id=st.integers(0, 65535), qr=st.booleans(), opcode=st.integers(0, 15), aa=st.booleans(),
    tc=st.booleans(), rd=st.booleans(), ra=st.booleans(), rcode=st.integers(0, 15),
    questions=st.lists(st.builds(Question, names, st.integers(0, 65535), st.integers(0, 65535)), max_size=2),
    answers=st.lists(records, max_size=4), authority=st.lists(records, max_size=3),
    additional=st.lists(records, max_size=3), edns=st.one_of(st.none(), st.integers(512, 65535)))


@FAST
@given(messages)
def test_round_trip(msg):
    assert dm.decode(dm.encode(msg)) == msg


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_dns_error(data):
    try:
        dm.decode(data)
    except DnsError:
        pass


@FAST
@given(messages, st.data())
def test_mutated_messages_raise_only_dns_error(msg, data):
    wire = bytearray(dm.encode(msg))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    try:
        dm.decode(bytes(wire[:cut]))
    except DnsError:
        pass
