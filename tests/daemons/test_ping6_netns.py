"""`lab-probe ping` over IPv6 (labnode.probe.icmp6probe), in throw-away
network namespaces, and the bytes it sends and reads:

    ns A  eth-a ── eth-ra  ns R  eth-rb ── eth-b  ns B
    fd00:a::2/64  fd00:a::1/64   fd00:b::1/64  fd00:b::2/64
    10.232.1.2/24 10.232.1.1/24  10.232.2.1/24 10.232.2.2/24

R forwards (IPv4 and IPv6) and has no route beyond its two subnets.  A has
its own /etc/hosts (iproute2's /etc/netns/A/hosts) naming B's IPv6 address
only, and a resolver on its own loopback where nothing listens.  All three
namespaces and A's files are removed afterwards, pass or fail.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct

import pytest
from daemon_helpers import Netns, link_local, netns_resolver, netns_test, sh, veth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labnode import icmp6
from labnode.probe import icmp6probe

PREFIX = "labt6p-"
PEER = "fd00:a::1"             # R, on A's link
TARGET = "fd00:b::2"           # B, across R
TARGET4 = "10.232.2.2"
NAME6 = "peer6.labt6p"         # only in A's hosts file, as TARGET
#: the keys of an IPv4 ping's result before IPv6 came ("error" too when it failed)
KEYS = {"probe", "target", "ok", "address", "sent", "received", "loss", "rtt_ms", "min", "avg", "max",
        "bad_checksum", "errors"}
ORCHESTRATOR = ("--count", "2", "--interval", "0.02")   # what orchestrator/verify/probes.py passes

# An echo request (identifier 0x1234, sequence 7, data "labnet-ping6") that A
# sent from fd00:a::2 to fd00:a::1 on a raw ICMPv6 socket with its checksum
# field 0, as captured (AF_PACKET) on R: the checksum 0x4104 is the kernel's.
CAPTURED = bytes.fromhex(
    "600cfa7100143a40fd00000a000000000000000000000002fd00000a000000000000000000000001"
    "80004104123400076c61626e65742d70696e6736")
FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def lab():
    made: list[Netns] = []
    stack = contextlib.ExitStack()
    try:
        for tag in "arb":
            made.append(Netns(tag, prefix=PREFIX))
        a, r, b = made
        stack.enter_context(netns_resolver(a, f"{TARGET} {NAME6}"))
        veth(a, "eth-a", r, "eth-ra")
        veth(r, "eth-rb", b, "eth-b")
        for ns, dev, v6, v4 in [(a, "eth-a", "fd00:a::2/64", "10.232.1.2/24"),
                                (r, "eth-ra", "fd00:a::1/64", "10.232.1.1/24"),
                                (r, "eth-rb", "fd00:b::1/64", "10.232.2.1/24"),
                                (b, "eth-b", "fd00:b::2/64", "10.232.2.2/24")]:
            ns.sysctl(f"net.ipv6.conf.{dev}.disable_ipv6=0", f"net.ipv6.conf.{dev}.accept_dad=0")
            ns.ip("addr", "add", v6, "dev", dev)
            ns.ip("addr", "add", v4, "dev", dev)
            ns.ip("link", "set", dev, "up")
        for ns, via6, via4 in [(a, PEER, "10.232.1.1"), (b, "fd00:b::1", "10.232.2.1")]:
            ns.ip("-6", "route", "add", "default", "via", via6)
            ns.ip("route", "add", "default", "via", via4)
        r.sysctl("net.ipv6.conf.all.forwarding=1", "net.ipv4.ip_forward=1",
                 # an address on eth-rb that no one has: "address unreachable" after 3 x 100 ms
                 "net.ipv6.neigh.eth-rb.retrans_time_ms=100")
        yield {"a": a, "r": r, "b": b}
    finally:
        stack.close()
        for ns in made:
            ns.delete()



def assert_replied(code: int, result: dict, address: str, family: int = 6) -> None:
    assert code == 0, result
    assert set(result) == KEYS | {"family"}, result
    assert result["ok"] is True and result["family"] == family and result["address"] == address
    assert result["sent"] == result["received"] == 2 and result["loss"] == 0.0
    assert len(result["rtt_ms"]) == 2 and result["min"] <= result["avg"] <= result["max"] < 2000
    assert result["errors"] == [] and result["bad_checksum"] == 0


@netns_test
def test_ping6_a_global_address_on_the_link_and_across_a_router(lab):
    for target in (PEER, TARGET, "FD00:B:0::2"):
        code, result = lab["a"].probe("ping", target, *ORCHESTRATOR, "--timeout", "2")
        assert_replied(code, result, PEER if target == PEER else TARGET)
        assert result["target"] == target


@netns_test
def test_a_name_with_only_an_ipv6_address_is_pinged_over_ipv6(lab):
    code, result = lab["a"].probe("ping", NAME6, *ORCHESTRATOR, "--timeout", "2")
    assert_replied(code, result, TARGET)


@netns_test
def test_ping6_a_link_local_address_with_its_interface(lab):
    peer = link_local(lab["r"], "eth-ra")
    code, result = lab["a"].probe("ping", f"{peer}%eth-a", *ORCHESTRATOR, "--timeout", "2")
    assert_replied(code, result, f"{peer}%eth-a")
    index = sh(*lab["a"].exec_argv("cat", "/sys/class/net/eth-a/ifindex")).strip()
    code, result = lab["a"].probe("ping", f"{peer}%{index}", *ORCHESTRATOR, "--timeout", "2")
    assert_replied(code, result, f"{peer}%{index}")
    # Without its interface a link-local address means nothing: said before anything is sent.
    code, result = lab["a"].probe("ping", peer, *ORCHESTRATOR)
    assert code == 1 and result == {
        "probe": "ping", "target": peer, "ok": False,
        "error": f"{peer} is link-local: say which interface, e.g. {peer}%eth0"}
    code, result = lab["a"].probe("ping", f"{peer}%eth-zz", *ORCHESTRATOR)
    assert code == 1 and result["error"] == f"{peer}%eth-zz: no interface 'eth-zz'" and "sent" not in result


@netns_test
def test_the_router_without_a_route_says_no_route(lab):
    code, result = lab["a"].probe("ping", "fd00:99::9", *ORCHESTRATOR, "--timeout", "1")
    assert code == 1, result
    assert set(result) == KEYS | {"family", "error"}
    assert result["ok"] is False and result["received"] == 0 and result["loss"] == 1.0
    assert result["errors"][0] == f"seq 1: no route to destination from {PEER}", result
    assert all(re.fullmatch(rf"seq [12]: no route to destination from {PEER}", e) for e in result["errors"])
    assert result["error"] == result["errors"][0]


@netns_test
def test_an_address_no_one_has_on_the_routers_subnet_is_address_unreachable(lab):
    # R asks for fd00:b::77 on eth-rb (neighbour discovery), hears nothing,
    # and tells A so about the request it was holding.
    code, result = lab["a"].probe("ping", "fd00:b::77", "--count", "1", "--timeout", "2")
    assert code == 1, result
    assert result["errors"] == [f"seq 1: address unreachable from {PEER}"], result
    assert result["received"] == 0 and result["error"] == result["errors"][0]


@netns_test
def test_ipv4_targets_keep_their_result(lab):
    code, result = lab["a"].probe("ping", TARGET4, *ORCHESTRATOR, "--timeout", "2")
    assert_replied(code, result, TARGET4, family=4)
    code, result = lab["a"].probe("ping", "10.232.9.9", "--count", "1", "--timeout", "1")
    assert code == 1 and set(result) == KEYS | {"family", "error"} and result["family"] == 4
    assert result["errors"] == ["seq 1: network unreachable from 10.232.1.1"], result


# --- the bytes, without namespaces -----------------------------------------

def test_the_echo_request_is_icmp6_builds_with_the_kernels_checksum():
    src, dst, message = CAPTURED[8:24], CAPTURED[24:40], CAPTURED[40:]
    built = icmp6probe.echo_request(0x1234, 7, b"labnet-ping6", "fd00:a::2", "fd00:a::1")
    assert built == message
    assert built == icmp6.build(icmp6.EchoRequest(0x1234, 7, b"labnet-ping6"), src, dst)
    assert struct.unpack_from("!H", built, 2)[0] == 0x4104 and icmp6.verify(src, dst, built)
    # The pseudo-header counts: from another source the checksum is another.
    other = icmp6probe.echo_request(0x1234, 7, b"labnet-ping6", "fd00:a::3", "fd00:a::1")
    assert other[:2] + other[4:] == built[:2] + built[4:] and other[2:4] != built[2:4]
    # No source known (no route): left 0 for the kernel.
    assert icmp6probe.echo_request(0x1234, 7, b"labnet-ping6", None, dst)[2:4] == b"\0\0"


def test_a_request_bigger_than_icmp6_builds_has_the_same_layout():
    payload = bytes(range(256)) * 8
    built = icmp6probe.echo_request(1, 2, payload, "fd00::1", "fd00::2")
    assert built[:2] == b"\x80\x00" and built[4:8] == b"\x00\x01\x00\x02" and built[8:] == payload
    assert icmp6.verify("fd00::1", "fd00::2", built)


SRC, DST, ROUTER = "fd00:b::2", "fd00:a::2", "fd00:a::1"
TARGET_6 = icmp6probe.Target(SRC, ipaddress.IPv6Address(SRC).packed)
PKTINFO = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, ipaddress.IPv6Address(DST).packed + b"\0\0\0\2")]


def reply(ident: int, seq: int, payload: bytes, src: str = SRC) -> bytes:
    return icmp6.with_checksum(src, DST, struct.pack("!BBHHH", 129, 0, 0, ident, seq) + payload)


def error(kind: int, code: int, ident: int, seq: int, to: str = SRC) -> bytes:
    request = icmp6probe.echo_request(ident, seq, b"x" * 16, DST, to)
    header = struct.pack("!IHBB", 0x60000000, len(request), 58, 63)
    header += ipaddress.IPv6Address(DST).packed + ipaddress.IPv6Address(to).packed
    return icmp6.with_checksum(ROUTER, DST, struct.pack("!BBHI", kind, code, 0, 0) + header + request)


def test_replies_and_errors_are_read_and_checked():
    heard = icmp6probe.read(reply(7, 3, b"data"), PKTINFO, (SRC, 0, 0, 0), 7, TARGET_6, 1.5)
    assert heard is not None and (heard.seq, heard.payload, heard.checksum_ok, heard.error) == (3, b"data", True, None)
    assert heard.at == 1.5
    mangled = bytearray(reply(7, 3, b"data"))
    mangled[-1] ^= 1
    heard = icmp6probe.read(bytes(mangled), PKTINFO, (SRC, 0, 0, 0), 7, TARGET_6, 0.0)
    assert heard is not None and heard.checksum_ok is False
    # The checksum covers the addresses: the same bytes from another sender fail it.
    heard = icmp6probe.read(reply(7, 3, b"data"), PKTINFO, ("fd00:b::3", 0, 0, 0), 7, TARGET_6, 0.0)
    assert heard is not None and heard.checksum_ok is False
    assert icmp6probe.read(reply(8, 3, b"data"), PKTINFO, (SRC, 0, 0, 0), 7, TARGET_6, 0.0) is None
    assert icmp6probe.read(reply(7, 3, b"data"), [], (SRC, 0, 0, 0), 7, TARGET_6, 0.0) is None
    for kind, code, says in [(1, 0, "no route to destination"), (1, 3, "address unreachable"),
                             (1, 1, "communication administratively prohibited"),
                             (3, 0, "hop limit exceeded in transit"), (1, 9, "destination unreachable (code 9)")]:
        heard = icmp6probe.read(error(kind, code, 7, 2), PKTINFO, (ROUTER, 0, 0, 0), 7, TARGET_6, 0.0)
        assert heard is not None and heard.seq == 2 and heard.error == f"{says} from {ROUTER}"
    # Not about our requests: another identifier, another destination, a broken checksum.
    assert icmp6probe.read(error(1, 0, 8, 2), PKTINFO, (ROUTER, 0, 0, 0), 7, TARGET_6, 0.0) is None
    assert icmp6probe.read(error(1, 0, 7, 2, to="fd00:b::9"), PKTINFO, (ROUTER, 0, 0, 0), 7, TARGET_6, 0.0) is None
    broken = bytearray(error(1, 0, 7, 2))
    broken[4] ^= 1
    assert icmp6probe.read(bytes(broken), PKTINFO, (ROUTER, 0, 0, 0), 7, TARGET_6, 0.0) is None


def test_targets_are_resolved_with_their_zone():
    lo = socket.if_nametoindex("lo")
    assert icmp6probe.resolve("fe80::1%lo") == icmp6probe.Target(
        "fe80::1%lo", ipaddress.IPv6Address("fe80::1").packed, lo)
    assert icmp6probe.resolve(f"FE80::1%{lo}").text == f"fe80::1%{lo}"
    assert icmp6probe.resolve("fd00::0:1").text == "fd00::1"
    assert icmp6probe.resolve("ff02::1%lo").scope_id == lo
    for bad, says in [("fe80::1", "is link-local: say which interface"), ("ff02::1", "is link-local"),
                      ("fe80::1%nosuch0", "no interface 'nosuch0'"), ("fd00::1::2", "not an IPv6 address"),
                      ("fe80::1%99999999999", "no interface")]:
        with pytest.raises(LookupError, match=re.escape(says)):
            icmp6probe.resolve(bad)


@FAST
@given(data=st.binary(max_size=200), ancillary=st.lists(st.tuples(st.integers(-1, 300), st.integers(-1, 300),
                                                                 st.binary(max_size=24)), max_size=3),
       source=st.sampled_from([ROUTER, SRC, "fe80::1%lo", "not an address", ""]))
def test_any_datagram_is_read_without_raising(data, ancillary, source):
    for anc in (ancillary, PKTINFO):
        heard = icmp6probe.read(data, anc, (source, 0, 0, 0), 7, TARGET_6, 0.0)
        assert heard is None or isinstance(heard.seq, int)


@FAST
@given(kind=st.sampled_from([1, 3, 129]), cut=st.integers(0, 119), flip=st.integers(0, 8 * 120 - 1))
def test_cut_or_flipped_replies_and_errors_are_refused(kind, cut, flip):
    whole = reply(7, 1, b"abcd") if kind == 129 else error(kind, 0, 7, 1)
    flipped = bytearray(whole)
    flipped[flip // 8 % len(whole)] ^= 1 << flip % 8
    sender = (SRC if kind == 129 else ROUTER, 0, 0, 0)
    for data in (whole[:cut % len(whole)], bytes(flipped)):
        heard = icmp6probe.read(data, PKTINFO, sender, 7, TARGET_6, 0.0)
        # a damaged error is dropped; a damaged reply, if ours at all, fails its checksum
        assert heard is None or (heard.error is None and heard.checksum_ok is False), data.hex()
