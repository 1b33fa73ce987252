"""The DHCP message codec (labnode.dhcp.message): byte vectors, round trips,
and hostile bytes, which must raise DhcpError and nothing else."""
from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labnode.dhcp import message as m
from labnode.dhcp.message import DhcpError, DhcpMessage

# A DISCOVER sent by dhclient (isc-dhcp-client 4.4.3-P1, Debian 12), captured
# with tcpdump on a veth in a throw-away namespace: the UDP payload.
DHCLIENT_DISCOVER = bytes.fromhex(
    "01010600f36bcb60000000000000000000000000000000000000000002000000"
    "0001000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000638253633501010c02766d370d011c02030f0677"
    "0c2c2f1a792aff00000000000000000000000000000000000000000000000000"
    "000000000000000000000000")


def discover_by_hand() -> bytes:
    """A DISCOVER built field by field as RFC 2131 section 2 draws it."""
    out = bytes([1, 1, 6, 0])                      # op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
    out += bytes.fromhex("12345678")               # xid
    out += bytes.fromhex("0000") + bytes.fromhex("8000")  # secs 0, flags: BROADCAST
    out += bytes(4 * 4)                            # ciaddr, yiaddr, siaddr, giaddr: 0.0.0.0
    out += bytes.fromhex("020000000001") + bytes(10)  # chaddr: the MAC, padded to 16
    out += bytes(64) + bytes(128)                  # sname, file
    out += bytes([99, 130, 83, 99])                # magic cookie
    out += bytes([53, 1, 1])                       # message type DISCOVER
    out += bytes([61, 7, 1]) + bytes.fromhex("020000000001")   # client id: type 1 + MAC
    out += bytes([50, 4, 10, 0, 1, 100])           # requested address 10.0.1.100
    out += bytes([12, 3]) + b"pc1"                 # host name
    out += bytes([55, 4, 1, 3, 6, 15])             # parameter request list
    out += bytes([255])                            # end
    return out


def test_discover_built_byte_by_byte():
    data = discover_by_hand()
    assert len(data) == 240 + 3 + 9 + 6 + 5 + 6 + 1
    msg = m.decode(data)
    assert msg.op == m.BOOTREQUEST and msg.xid == 0x12345678 and msg.broadcast
    assert msg.type == m.DISCOVER and msg.type_name == "DISCOVER"
    assert msg.mac == "02:00:00:00:00:01"
    assert msg.address_option(m.REQUESTED_IP) == ipaddress.IPv4Address("10.0.1.100")
    assert msg.text_option(m.HOSTNAME) == "pc1"
    assert msg.options[m.CLIENT_ID] == bytes.fromhex("01020000000001")
    assert list(msg.options[m.PARAM_LIST]) == [1, 3, 6, 15]
    again = m.encode(msg)
    assert again[:len(data)] == data                # same bytes, then padding to 300
    assert len(again) == m.MIN_REPLY and again[len(data):] == bytes(m.MIN_REPLY - len(data))


def test_captured_dhclient_discover():
    msg = m.decode(DHCLIENT_DISCOVER)
    assert msg.type == m.DISCOVER and msg.xid == 0xF36BCB60 and not msg.broadcast
    assert msg.mac == "02:00:00:00:00:01" and msg.ciaddr == m.ZERO and msg.giaddr == m.ZERO
    assert msg.text_option(m.HOSTNAME) == "vm"
    assert list(msg.options[m.PARAM_LIST]) == [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]
    assert list(msg.options) == [m.MESSAGE_TYPE, m.HOSTNAME, m.PARAM_LIST]
    assert m.encode(msg) == DHCLIENT_DISCOVER      # the same 300 bytes back


def test_reply_layout():
    msg = DhcpMessage(op=m.BOOTREPLY, xid=7, chaddr=bytes.fromhex("020000000001"),
                      yiaddr=ipaddress.IPv4Address("10.0.1.100"),
                      giaddr=ipaddress.IPv4Address("10.0.2.1"))
    msg.options[m.ROUTER] = m.ip_bytes("10.0.1.1")
    msg.set_type(m.OFFER)                           # set last, sent first
    data = m.encode(msg)
    assert data[0] == 2 and data[2] == 6 and struct.unpack("!I", data[4:8]) == (7,)
    assert data[16:20] == bytes([10, 0, 1, 100]) and data[24:28] == bytes([10, 0, 2, 1])
    assert data[236:240] == m.MAGIC
    assert data[240:243] == bytes([53, 1, 2]) and data[243:249] == bytes([3, 4, 10, 0, 1, 1])
    assert data[249] == 255


def test_long_option_is_split_and_joined_again():
    msg = DhcpMessage(options={m.MESSAGE_TYPE: b"\x05", 43: bytes(range(256)) * 1 + b"xyz"})
    data = m.encode(msg, max_size=m.MAX_MESSAGE)
    assert data[243] == 43 and data[244] == 255     # first chunk: 255 bytes
    assert m.decode(data).options[43] == bytes(range(256)) + b"xyz"


def test_addresses_and_relay_suboptions():
    assert [str(a) for a in m.decode_addresses(m.ip_bytes("10.0.1.53", "10.0.1.54"))] == [
        "10.0.1.53", "10.0.1.54"]
    with pytest.raises(DhcpError, match="multiple of 4"):
        m.decode_addresses(b"\x01\x02\x03")
    subs = {m.RELAY_CIRCUIT_ID: b"eth1", m.RELAY_REMOTE_ID: b"r1"}
    assert m.decode_suboptions(m.encode_suboptions(subs)) == subs
    with pytest.raises(DhcpError, match="runs past the end"):
        m.decode_suboptions(b"\x01\x09eth1")
    with pytest.raises(DhcpError, match="has no length"):
        m.decode_suboptions(b"\x01\x01x\x02")


def test_parse_mac():
    assert m.parse_mac("02:00:00:00:00:0A") == bytes.fromhex("02000000000a")
    assert m.parse_mac("02-00-00-00-00-0a") == bytes.fromhex("02000000000a")
    for bad in ("02:00:00:00:00", "zz:00:00:00:00:00", "0200.0000.0001", "", "2:0:0:0:0:1"):
        with pytest.raises(ValueError):
            m.parse_mac(bad)


HEAD = bytes([1, 1, 6, 0]) + bytes(232)


@pytest.mark.parametrize("data, text", [
    (b"", "shorter than the 240-byte"),
    (HEAD, "shorter than the 240-byte"),
    (HEAD + b"\x63\x82\x53", "shorter than the 240-byte"),
    (HEAD + b"\x63\x82\x53\x64\x35\x01\x01\xff", "wrong magic cookie 63825364"),
    (HEAD + m.MAGIC + b"\x35", "option 53 at byte 240 is truncated"),
    (HEAD + m.MAGIC + b"\x35\x02\x01", "option 53 at byte 240 says 2 bytes, only 1 are left"),
    (HEAD + m.MAGIC + b"\x35\x01\x01\x0c\xff" + b"x" * 10, "option 12 at byte 243 says 255"),
    (HEAD + m.MAGIC + b"\x34\x01\x03\xff", "option overload (52) is not supported"),
    (HEAD + m.MAGIC + b"".join(bytes([c, 0]) for c in range(60, 200)), "more than 128 options"),
    (HEAD + m.MAGIC + bytes(1261), "longer than 1500"),
    (bytes([3]) + HEAD[1:] + m.MAGIC, "op 3 is neither"),
    (bytes([1, 1, 17]) + HEAD[3:] + m.MAGIC, "hardware address length 17"),
])
def test_hostile_messages_are_refused(data, text):
    with pytest.raises(DhcpError) as info:
        m.decode(data)
    assert text in str(info.value)


def test_edge_cases_that_decode():
    assert m.decode(HEAD + m.MAGIC).options == {}                       # no options, no end
    assert m.decode(HEAD + m.MAGIC + bytes(20) + b"\xff").options == {}  # only padding
    zero = m.decode(HEAD + m.MAGIC + b"\x0c\x00\x35\x01\x03\xff")
    assert zero.options == {m.HOSTNAME: b"", m.MESSAGE_TYPE: b"\x03"}   # zero-length option
    assert zero.type == m.REQUEST
    junk = m.decode(HEAD + m.MAGIC + b"\x35\x01\x01\xff" + b"\x35\x09")  # after end: ignored
    assert junk.type == m.DISCOVER
    repeated = m.decode(HEAD + m.MAGIC + b"\x0c\x02pc\x0c\x01\x31\xff")
    assert repeated.text_option(m.HOSTNAME) == "pc1"                     # RFC 3396
    assert m.decode(HEAD + m.MAGIC + b"\x35\x02\x01\x01").type is None   # a 2-byte type is none
    assert m.decode(HEAD + m.MAGIC + b"\x32\x03abc").address_option(m.REQUESTED_IP) is None


def test_encode_refuses_what_does_not_fit():
    with pytest.raises(DhcpError, match="longer than 576"):
        m.encode(DhcpMessage(options={43: bytes(400)}))
    with pytest.raises(DhcpError, match="chaddr"):
        m.encode(DhcpMessage(chaddr=bytes(17)))
    with pytest.raises(DhcpError, match="out of range"):
        m.encode(DhcpMessage(xid=1 << 32))
    with pytest.raises(DhcpError, match="cannot be sent"):
        m.encode(DhcpMessage(options={255: b"x"}))


addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
option_codes = st.integers(1, 254).filter(lambda c: c != m.OVERLOAD)
messages = st.builds(
    DhcpMessage,
    op=st.sampled_from([m.BOOTREQUEST, m.BOOTREPLY]), xid=st.integers(0, 2**32 - 1),
    chaddr=st.binary(max_size=16), htype=st.integers(0, 255), hops=st.integers(0, 255),
    secs=st.integers(0, 65535), flags=st.integers(0, 65535), ciaddr=addresses, yiaddr=addresses,
    siaddr=addresses, giaddr=addresses,
    sname=st.binary(max_size=64).map(lambda b: b.rstrip(b"\x00")),
    file=st.binary(max_size=128).map(lambda b: b.rstrip(b"\x00")),
    options=st.dictionaries(option_codes, st.binary(min_size=1, max_size=300), max_size=8))


@settings(max_examples=300, deadline=None)
@given(messages)
def test_round_trip(msg):
    try:
        data = m.encode(msg, max_size=m.MAX_MESSAGE)
    except DhcpError:
        return  # too big for one message: refused, fine
    back = m.decode(data)
    assert back == msg
    assert m.encode(back, max_size=m.MAX_MESSAGE) == data


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=1600))
def test_random_bytes_raise_only_dhcp_error(data):
    try:
        msg = m.decode(data)
    except DhcpError:
        return
    assert len(msg.options) <= m.MAX_OPTIONS


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 2))
def test_random_options_after_a_good_header_raise_only_dhcp_error(tail, op):
    try:
        msg = m.decode(bytes([op, 1, 6, 0]) + bytes(232) + m.MAGIC + tail)
    except DhcpError:
        return
    msg.type_name, msg.mac, msg.text_option(m.HOSTNAME), msg.address_option(m.SERVER_ID)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_relay_suboptions_raise_only_dhcp_error(value):
    try:
        m.decode_suboptions(value)
    except DhcpError:
        pass


def test_huge_counts_are_bounded():
    many_pads = HEAD + m.MAGIC + bytes(m.MAX_MESSAGE - 240)
    assert m.decode(many_pads).options == {}
    many = HEAD + m.MAGIC + b"".join(bytes([60 + (i % 100), 0]) for i in range(600))
    assert len(m.decode(many).options) == 100       # repeats join, codes stay under the limit
