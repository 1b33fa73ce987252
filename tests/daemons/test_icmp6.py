"""ICMPv6 by hand (labnode.icmp6): checksums against packets the Linux kernel
made, build/parse round trips, and hostile bytes that may raise only Icmp6Error."""

from __future__ import annotations

import ipaddress
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode import icmp6
from labnode.icmp6 import (
    EchoReply,
    EchoRequest,
    Icmp6Error,
    NeighborAdvertisement,
    NeighborSolicitation,
    PrefixInfo,
    RouterAdvertisement,
    RouterSolicitation,
)

FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Whole IPv6 packets captured (AF_PACKET) on a veth pair between two
# throw-away namespaces, A (02:00:00:00:06:01, fd00:6::1) and B
# (02:00:00:00:06:02, fd00:6::2), with the checksum the kernel put in each.
# A: `ping -6 -c1 -s 8 -p 6c61626e6574 fd00:6::2`, and a raw-socket RA sent
# with its checksum field 0 (the kernel filled it in).
CAPTURED = {
    # A's kernel soliciting a router as eth0 came up (fe80::ff:fe00:601 -> ff02::2)
    "router solicitation": (
        "6000000000103afffe80000000000000000000fffe000601ff020000000000000000000000000002"
        "85006f2c000000000101020000000601", 0x6F2C),
    # A resolving fd00:6::2 before the ping (-> its solicited-node group ff02::1:ff00:2)
    "neighbor solicitation": (
        "6000000000203afffd000006000000000000000000000001ff0200000000000000000001ff000002"
        "8700778b00000000fd0000060000000000000000000000020101020000000601", 0x778B),
    # B's kernel answering it
    "neighbor advertisement": (
        "6000000000203afffd000006000000000000000000000002fd000006000000000000000000000001"
        "8800168860000000fd0000060000000000000000000000020201020000000602", 0x1688),
    # ping's echo request, identifier 0x3830, sequence 1, 8 bytes "labnet\0\0"
    "echo request": (
        "6000e48200103a40fd000006000000000000000000000001fd000006000000000000000000000002"
        "8000192f383000016c61626e65740000", 0x192F),
    # B's kernel's echo reply
    "echo reply": (
        "6008b08a00103a40fd000006000000000000000000000002fd000006000000000000000000000001"
        "8100182f383000016c61626e65740000", 0x182F),
    # the RA: O flag, lifetime 1800, source link-layer address, MTU 1400,
    # prefix fd12:3456:789a:1::/64 (L, A, valid 86400, preferred 14400)
    "router advertisement": (
        "600e57b700403afffe80000000000000000000fffe000601ff020000000000000000000000000001"
        "8600a4b140400708000000000000000001010200000006010501000000000578"
        "030440c0000151800000384000000000fd123456789a00010000000000000000", 0xA4B1),
}
MAC_A = bytes.fromhex("020000000601")
MAC_B = bytes.fromhex("020000000602")


def split(packet_hex: str) -> tuple[bytes, bytes, bytes]:
    """(source, destination, ICMPv6 message) of an IPv6 packet."""
    packet = bytes.fromhex(packet_hex)
    assert packet[6] == 58 and struct.unpack_from("!H", packet, 4)[0] == len(packet) - 40
    return packet[8:24], packet[24:40], packet[40:]


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_checksum_is_the_one_the_kernel_computed(name):
    packet_hex, expected = CAPTURED[name]
    src, dst, message = split(packet_hex)
    assert icmp6.icmp6_checksum(src, dst, message) == expected
    assert icmp6.verify(src, dst, message)
    text_src, text_dst = str(ipaddress.IPv6Address(src)), str(ipaddress.IPv6Address(dst))
    assert icmp6.icmp6_checksum(text_src, text_dst, message) == expected
    assert icmp6.with_checksum(src, dst, message[:2] + b"\0\0" + message[4:]) == message


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_a_changed_bit_or_address_fails_the_check(name):
    src, dst, message = split(CAPTURED[name][0])
    corrupted = bytearray(message)
    corrupted[-1] ^= 0x01
    assert not icmp6.verify(src, dst, bytes(corrupted))
    # The pseudo-header is what protects the addresses: IPv6 has no header checksum.
    other = bytearray(dst)
    other[-1] ^= 0x01
    assert not icmp6.verify(src, bytes(other), message)
    assert not icmp6.verify(src, dst, message[:3])


def test_pseudo_header_layout():
    header = icmp6.pseudo_header("fe80::1", "ff02::2", 0x01020304)
    assert header == (bytes.fromhex("fe800000000000000000000000000001")
                      + bytes.fromhex("ff020000000000000000000000000002")
                      + bytes.fromhex("01020304") + b"\0\0\0" + b"\x3a")
    assert icmp6.pseudo_header("::", "::1", 8, next_header=17)[-8:] == bytes.fromhex("0000000800000011")
    assert icmp6.pseudo_header(ipaddress.IPv6Address("::1"), bytes(16), 0)[:16] == bytes(15) + b"\1"
    for bad in ("10.0.0.1", "fe80::zz", b"\0" * 4, 42):
        with pytest.raises(Icmp6Error):
            icmp6.pseudo_header(bad, "::1", 8)
    with pytest.raises(Icmp6Error):
        icmp6.pseudo_header("::1", "::1", 1 << 32)
    with pytest.raises(Icmp6Error):
        icmp6.icmp6_checksum("::1", "::1", b"\x80\0")


def test_captured_packets_parse_to_what_was_sent():
    parsed = {name: icmp6.parse(split(hexdata)[2]) for name, (hexdata, _) in CAPTURED.items()}
    assert parsed["router solicitation"] == RouterSolicitation(source_lladdr=MAC_A)
    assert parsed["neighbor solicitation"] == NeighborSolicitation(
        ipaddress.IPv6Address("fd00:6::2"), source_lladdr=MAC_A)
    assert parsed["neighbor advertisement"] == NeighborAdvertisement(
        ipaddress.IPv6Address("fd00:6::2"), router=False, solicited=True, override=True, target_lladdr=MAC_B)
    assert parsed["echo request"] == EchoRequest(0x3830, 1, b"labnet\0\0")
    assert parsed["echo reply"] == EchoReply(0x3830, 1, b"labnet\0\0")
    assert parsed["router advertisement"] == RouterAdvertisement(
        cur_hop_limit=64, managed=False, other=True, router_lifetime=1800, reachable_time=0,
        retrans_timer=0, source_lladdr=MAC_A, mtu=1400,
        prefixes=(PrefixInfo(ipaddress.IPv6Network("fd12:3456:789a:1::/64"), True, True, 86400, 14400),))
    for name, (hexdata, _) in CAPTURED.items():
        src, dst, message = split(hexdata)
        assert icmp6.build(parsed[name], src, dst) == message, name


def test_describe_says_what_a_capture_shows():
    def said(name: str) -> str:
        src, _, message = split(CAPTURED[name][0])
        return icmp6.describe(message, src)

    assert said("router advertisement") == (
        "RA from fe80::ff:fe00:601 (02:00:00:00:06:01), lifetime 1800 s, "
        "other (O: more settings by DHCPv6), hop limit 64, mtu 1400, "
        "prefix fd12:3456:789a:1::/64 (on-link, autonomous, valid 86400 s, preferred 14400 s)")
    assert said("router solicitation") == "RS (router solicitation) from fe80::ff:fe00:601 (02:00:00:00:06:01)"
    assert said("neighbor solicitation") == "NS (who has fd00:6::2?) from fd00:6::1 (02:00:00:00:06:01)"
    assert said("neighbor advertisement") == (
        "NA (fd00:6::2 is at 02:00:00:00:06:02) from fd00:6::2, solicited, override")
    assert said("echo request") == "echo request from fd00:6::1, id 14384 seq 1, 8 bytes of data"
    leaving = RouterAdvertisement(router_lifetime=0, cur_hop_limit=0, prefixes=(
        PrefixInfo(ipaddress.IPv6Network("fd12::/64"), on_link=True, autonomous=False,
                   valid_lifetime=icmp6.INFINITE, preferred_lifetime=0),))
    assert icmp6.describe(leaving) == ("RA, lifetime 0 (not a default router), "
                                       "prefix fd12::/64 (on-link, valid infinite, preferred 0 s)")
    assert icmp6.describe(b"\x86\x00\x00\x00") == (
        "not a valid ICMPv6 message: router advertisement of 4 bytes (at least 16)")
    assert icmp6.describe(b"\x01\x04\x00\x00\x00\x00\x00\x00") == (
        "not a valid ICMPv6 message: ICMPv6 type 1 (destination unreachable) is not read here")


# --- round trips ----------------------------------------------------------

addresses = st.binary(min_size=16, max_size=16)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
networks = st.builds(lambda raw, length: ipaddress.IPv6Network((raw, length), strict=False),
                     addresses, st.integers(0, 128))
prefix_infos = st.builds(PrefixInfo, networks, st.booleans(), st.booleans(), u32, u32)
# options this module does not read (kept raw): any type but 1, 3 and 5
unknown_options = st.tuples(st.integers(0, 255).filter(lambda k: k not in (1, 3, 5)),
                            st.integers(1, 3).flatmap(lambda n: st.binary(min_size=8 * n - 2, max_size=8 * n - 2)))
router_ads = st.builds(
    RouterAdvertisement, st.integers(0, 255), st.booleans(), st.booleans(), u16, u32, u32,
    st.none() | macs, st.none() | u32, st.lists(prefix_infos, max_size=6).map(tuple),
    st.lists(unknown_options, max_size=4).map(tuple))


def round_trip(message, src: bytes, dst: bytes) -> None:
    data = icmp6.build(message, src, dst)
    assert icmp6.verify(src, dst, data)
    assert icmp6.parse(data) == message
    assert icmp6.build(message)[4:] == data[4:] and icmp6.build(message)[2:4] == b"\0\0"
    assert isinstance(icmp6.describe(data, src), str)


@FAST
@given(st.sampled_from([EchoRequest, EchoReply]), u16, u16, st.binary(max_size=icmp6.MAX_MESSAGE - 8),
       addresses, addresses)
def test_echo_round_trip(kind, ident, seq, payload, src, dst):
    message = kind(ident, seq, payload)
    round_trip(message, src, dst)
    assert icmp6.build(message)[0] == kind.TYPE


@FAST
@given(router_ads, addresses, addresses)
def test_router_advertisement_round_trip(message, src, dst):
    round_trip(message, src, dst)


@FAST
@given(st.none() | macs, st.lists(unknown_options.filter(lambda o: o[0] != 1), max_size=3).map(tuple),
       addresses, addresses)
def test_router_solicitation_round_trip(mac, others, src, dst):
    round_trip(RouterSolicitation(mac, others), src, dst)


@FAST
@given(addresses.filter(lambda a: a[0] != 0xFF), st.none() | macs, st.booleans(), st.booleans(), st.booleans(),
       addresses, addresses)
def test_neighbor_messages_round_trip(target, mac, router, solicited, override, src, dst):
    address = ipaddress.IPv6Address(target)
    round_trip(NeighborSolicitation(address, mac), src, dst)
    round_trip(NeighborAdvertisement(address, router, solicited, override, mac), src, dst)


def test_host_bits_of_a_prefix_are_ignored_when_read():
    ra = icmp6.build(RouterAdvertisement(prefixes=(PrefixInfo(ipaddress.IPv6Network("fd12::/64")),)))
    data = bytearray(ra)
    data[-1] = 0x77    # inside the host part of the prefix field
    assert icmp6.parse(bytes(data)).prefixes[0].prefix == ipaddress.IPv6Network("fd12::/64")


def test_a_repeated_option_counts_once_as_linux_does():
    ra = bytearray(icmp6.build(RouterAdvertisement(source_lladdr=MAC_A, mtu=1400)))
    ra += struct.pack("!BBHI", 5, 1, 0, 9000) + b"\x01\x01" + MAC_B
    parsed = icmp6.parse(bytes(ra))
    assert parsed.mtu == 1400 and parsed.source_lladdr == MAC_A


def test_build_refuses_values_that_do_not_fit():
    for message in (RouterAdvertisement(router_lifetime=70000), RouterAdvertisement(cur_hop_limit=256),
                    RouterAdvertisement(mtu=-1), EchoRequest(ident=1 << 16),
                    RouterAdvertisement(other_options=((7, b"odd"),)),
                    RouterAdvertisement(source_lladdr=b""),
                    RouterAdvertisement(prefixes=(PrefixInfo(ipaddress.IPv6Network("::/0"), valid_lifetime=-1),)),
                    EchoReply(payload=b"x" * icmp6.MAX_MESSAGE)):
        with pytest.raises(Icmp6Error):
            icmp6.build(message)


# --- hostile input --------------------------------------------------------

def nd(kind: int, options: bytes) -> bytes:
    """A Neighbor Discovery message of type `kind` with these option bytes."""
    target = bytes.fromhex("fd" + "00" * 15)
    fixed = {133: b"\0" * 4, 134: bytes.fromhex("40000708" + "00" * 8),
             135: b"\0" * 4 + target, 136: b"\0" * 4 + target}[kind]
    return bytes([kind, 0, 0, 0]) + fixed + options


@pytest.mark.parametrize("data, says", [
    (b"", "too short"),
    (b"\x80\x00\x00", "too short"),
    (b"\x80\x00\x00\x00\x00\x01\x00", "at least 8"),
    (nd(134, b"")[:15], "at least 16"),
    (nd(135, b"")[:23], "at least 24"),
    (nd(133, b"\x01\x00" + b"\0" * 6), "length 0"),
    (nd(134, b"\x03\x00" + b"\0" * 30), "length 0"),
    (nd(134, b"\x01\x01" + MAC_A + b"\x19\x00" + b"\0" * 6), "length 0"),
    (nd(134, b"\x01\x02" + MAC_A), "claims 16 bytes, 8 left"),
    (nd(134, b"\x01\x01" + MAC_A + b"\x05"), "truncated option"),
    (nd(134, b"\x03\x03" + b"\0" * 22), "prefix information option of length 3"),
    (nd(134, b"\x03\x04\x81" + b"\0" * 29), "prefix length 129"),
    (nd(134, b"\x05\x02" + b"\0" * 14), "MTU option of length 2"),
    (nd(133, b"\x7f\x01" + b"\0" * 6), None),
    (nd(133, (b"\x7f\x01" + b"\0" * 6) * 65), "more than 64 options"),
    (nd(133, (b"\x7f\x01" + b"\0" * 6) * 188), "over 1500"),
    (b"\x85\x01" + b"\0" * 6, "router solicitation with code 1"),
    (b"\x01\x00" + b"\0" * 6, "type 1 (destination unreachable)"),
    (b"\xc8\x00" + b"\0" * 6, "type 200 is not read"),
    (b"\x87\x00\0\0\0\0\0\0" + bytes.fromhex("ff02" + "00" * 13 + "01"), "multicast target ff02::1"),
    (b"\x80\x00" + b"\0" * 1499, "over 1500"),
])
def test_hostile_messages_are_refused_with_a_reason(data, says):
    if says is None:
        assert icmp6.parse(data) == RouterSolicitation(other_options=((0x7F, b"\0" * 6),))
        return
    with pytest.raises(Icmp6Error, match=re.escape(says)):
        icmp6.parse(data)
    assert icmp6.describe(data).startswith("not a valid ICMPv6 message: ")


def test_sixty_four_options_are_still_read():
    data = nd(133, (b"\x7f\x01" + b"\0" * 6) * 64)
    assert len(icmp6.parse(data).other_options) == 64


def parse_or_refuse(data: bytes) -> None:
    try:
        message = icmp6.parse(data)
    except Icmp6Error:
        pass
    else:
        assert icmp6.parse(icmp6.build(message)) == message
    assert isinstance(icmp6.describe(data, "fe80::1"), str)


@FAST
@given(st.binary(max_size=1600))
def test_random_bytes_raise_only_icmp6error(data):
    parse_or_refuse(data)


# Options that look almost right: real types, random lengths, random bodies.
option_soup = st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 5, 14, 25, 255]), st.integers(0, 5),
                                 st.binary(max_size=40)), max_size=80)


@FAST
@given(st.sampled_from([133, 134, 135, 136]), option_soup, st.integers(0, 8))
def test_nd_messages_with_mangled_options_raise_only_icmp6error(kind, soup, cut):
    options = b"".join(bytes([t, n]) + body for t, n, body in soup)
    data = nd(kind, options)
    parse_or_refuse(data)
    parse_or_refuse(data[:len(data) - cut])


@FAST
@given(router_ads, st.data())
def test_every_truncation_of_a_real_ra_is_refused_or_read(message, data):
    wire = icmp6.build(message)
    cut = data.draw(st.integers(0, len(wire)))
    parse_or_refuse(wire[:cut])
    if cut < 16:
        with pytest.raises(Icmp6Error):
            icmp6.parse(wire[:cut])
