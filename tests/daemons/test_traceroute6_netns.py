"""`lab-probe traceroute` over IPv6 (labnode.probe.traceroute6), in throw-away
network namespaces, and how it matches ICMPv6 errors to its probes:

    ns A eth-a ── eth-1a ns R1 eth-1b ── eth-2a ns R2 eth-2b ── eth-b ns B (http on 80)
    fd00:61:1::2/64   ::1/64    fd00:61:2::1   ::2       fd00:61:3::1   ::2
    10.234.1.2/24     .1        10.234.2.1     .2        10.234.3.1     .2

R1 and R2 forward both families with static routes (R1 none beyond B's
subnet: no default).  A has its own /etc/hosts naming B's IPv6 address only,
and a resolver on its own loopback where nothing listens.  The namespaces and
A's files are removed afterwards, pass or fail.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys

import pytest
from daemon_helpers import Netns, Proc, link_local, netns_resolver, netns_test, veth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_probes_netns import NODE_ROOT

from labnode import icmp6
from labnode.probe import icmp6probe, traceroute6
from labnode.probe.traceroute import BASE_PORT

PREFIX = "labt6t-"
R1_A, R2_A, B = "fd00:61:1::1", "fd00:61:2::2", "fd00:61:3::2"   # the hops from A, in order
R1_A4, R2_A4, B4 = "10.234.1.1", "10.234.2.2", "10.234.3.2"
NAME6 = "b6.labt6t"             # only in A's hosts file, as B
#: the keys of a traceroute result before IPv6 came ("port" for tcp, "error" when it failed)
KEYS = {"probe", "target", "method", "ok", "address", "hops", "rtt_ms", "reached", "time_ms"}
#: what orchestrator/verify/probes.py passes for a path check via two routers
ORCHESTRATOR = ("--queries", "2", "--max-hops", "5", "--timeout", "1")
METHODS = {"icmp": ["--method", "icmp"], "udp": ["--method", "udp"],
           "tcp-open": ["--method", "tcp", "--port", "80"], "tcp-closed": ["--method", "tcp", "--port", "84"]}
FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def lab():
    made: list[Netns] = []
    stack = contextlib.ExitStack()
    server = None
    try:
        for tag in ("a", "r1", "r2", "b"):
            ns = Netns(tag, prefix=PREFIX)
            made.append(ns)
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                      "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        a, r1, r2, b = made
        stack.enter_context(netns_resolver(a, f"{B} {NAME6}"))
        veth(a, "eth-a", r1, "eth-1a")
        veth(r1, "eth-1b", r2, "eth-2a")
        veth(r2, "eth-2b", b, "eth-b")
        for ns, dev, v6, v4 in [(a, "eth-a", "fd00:61:1::2/64", "10.234.1.2/24"),
                                (r1, "eth-1a", f"{R1_A}/64", f"{R1_A4}/24"),
                                (r1, "eth-1b", "fd00:61:2::1/64", "10.234.2.1/24"),
                                (r2, "eth-2a", f"{R2_A}/64", f"{R2_A4}/24"),
                                (r2, "eth-2b", "fd00:61:3::1/64", "10.234.3.1/24"),
                                (b, "eth-b", f"{B}/64", f"{B4}/24")]:
            ns.sysctl(f"net.ipv6.conf.{dev}.disable_ipv6=0", f"net.ipv6.conf.{dev}.accept_dad=0")
            ns.ip("addr", "add", v6, "dev", dev)
            ns.ip("addr", "add", v4, "dev", dev)
            ns.ip("link", "set", dev, "up")
        for router in (r1, r2):
            router.sysctl("net.ipv6.conf.all.forwarding=1", "net.ipv4.ip_forward=1")
        # an address on B's subnet that no one has: "address unreachable" from R2 after 3 x 100 ms
        r2.sysctl("net.ipv6.neigh.eth-2b.retrans_time_ms=100")
        a.ip("-6", "route", "add", "default", "via", R1_A)
        a.ip("route", "add", "default", "via", R1_A4)
        r1.ip("-6", "route", "add", "fd00:61:3::/64", "via", R2_A)
        r1.ip("route", "add", "10.234.3.0/24", "via", R2_A4)
        r1.ip("-6", "route", "add", "blackhole", "fd00:98::/64")   # dropped without a word
        r2.ip("-6", "route", "add", "fd00:61:1::/64", "via", "fd00:61:2::1")
        r2.ip("route", "add", "10.234.1.0/24", "via", "10.234.2.1")
        b.ip("-6", "route", "add", "default", "via", "fd00:61:3::1")
        b.ip("route", "add", "default", "via", "10.234.3.1")
        server = Proc(b.exec_argv(sys.executable, "-m", "labnode.services.http", "--port", "80",
                                  "--root", NODE_ROOT))
        server.wait_for("listening on")
        yield {"a": a, "r1": r1, "r2": r2, "b": b}
    finally:
        stack.close()
        if server is not None:
            server.stop()
        for ns in made:
            ns.delete()


def trace(lab, target: str, *args: str) -> tuple[int, dict]:
    return lab["a"].probe("traceroute", target, *args)



def assert_reached(code: int, result: dict, hops: list[str], family: int, args: list[str]) -> None:
    assert code == 0, result
    assert set(result) == KEYS | {"family"} | ({"port"} if "tcp" in args else set()), result
    assert result["ok"] is True and result["reached"] is True and result["family"] == family
    assert result["hops"] == hops and result["address"] == hops[-1]
    assert result["method"] == args[1]
    assert len(result["rtt_ms"]) == len(hops) and all(0 <= rtt < 2000 for rtt in result["rtt_ms"]), result


@netns_test
@pytest.mark.parametrize("args", METHODS.values(), ids=METHODS.keys())
def test_each_method_lists_both_routers_then_the_target(lab, args):
    code, result = trace(lab, B, *args, *ORCHESTRATOR)
    assert_reached(code, result, [R1_A, R2_A, B], 6, args)
    assert result["target"] == B


@netns_test
@pytest.mark.parametrize("args", METHODS.values(), ids=METHODS.keys())
def test_ipv4_over_the_same_routers_keeps_its_result(lab, args):
    code, result = trace(lab, B4, *args, *ORCHESTRATOR)
    assert_reached(code, result, [R1_A4, R2_A4, B4], 4, args)


@netns_test
def test_a_name_with_only_an_ipv6_address_and_a_long_form_literal_are_traced_over_ipv6(lab):
    for target in (NAME6, "FD00:61:3:0::0002"):
        code, result = trace(lab, target, "--method", "icmp", *ORCHESTRATOR)
        assert_reached(code, result, [R1_A, R2_A, B], 6, ["--method", "icmp"])
        assert result["target"] == target


@netns_test
def test_a_link_local_target_with_its_interface_and_loopback_are_one_hop(lab):
    peer = link_local(lab["r1"], "eth-1a")
    for target in (f"{peer}%eth-a", "::1"):
        for args in (["--method", "udp"], ["--method", "icmp"], ["--method", "tcp", "--port", "84"]):
            code, result = trace(lab, target, *args, "--max-hops", "3", "--timeout", "1")
            assert_reached(code, result, [target], 6, args)
    # Without its interface a link-local address means nothing: said before anything is sent.
    code, result = trace(lab, peer)
    assert code == 1 and result == {
        "probe": "traceroute", "target": peer, "method": "udp", "ok": False,
        "error": f"{peer} is link-local: say which interface, e.g. {peer}%eth0"}
    code, result = trace(lab, "ff02::1%eth-a")
    assert code == 1 and result["error"] == "ff02::1 is a multicast address: traceroute needs a unicast one"
    assert "hops" not in result


@netns_test
@pytest.mark.parametrize("method", ["icmp", "udp", "tcp"])
def test_the_first_router_without_a_route_says_no_route(lab, method):
    # R1 has no route to fd00:99::/64 and no default: ICMPv6 type 1 code 0, for every hop limit.
    code, result = trace(lab, "fd00:99::9", "--method", method, "--max-hops", "3", "--timeout", "1")
    assert code == 1, result
    assert set(result) == KEYS | {"family", "error"} | ({"port"} if method == "tcp" else set())
    assert result["hops"] == [R1_A] and result["reached"] is False and result["ok"] is False
    assert result["error"] == f"no route to destination from {R1_A}"


@netns_test
@pytest.mark.parametrize("method", ["icmp", "udp"])
def test_an_address_no_one_has_behind_the_second_router_is_address_unreachable(lab, method):
    # Hop limits 1 and 2 die at R1 and R2; from 3 on R2 asks for fd00:61:3::77 on eth-2b
    # (neighbour discovery), hears nothing and says so about every probe it held.
    code, result = trace(lab, "fd00:61:3::77", "--method", method, "--max-hops", "4", "--timeout", "2")
    assert code == 1, result
    assert result["hops"] == [R1_A, R2_A, R2_A] and result["reached"] is False
    assert result["error"] == f"address unreachable from {R2_A}"


@netns_test
def test_a_blackholed_target_ends_within_queries_times_the_timeout(lab):
    code, result = trace(lab, "fd00:98::9", "--method", "icmp", "--max-hops", "3", "--timeout", "0.5")
    assert code == 1 and result["hops"] == [] and result["reached"] is False
    assert result["error"] == "fd00:98::9 not reached within 3 hops"
    assert 900 <= result["time_ms"] < 2500, result


# --- matching errors to probes, without namespaces ---------------------------

US, ROUTER, TARGET, OTHER = "fd00:a::2", "fd00:a::1", "fd00:b::2", "fd00:b::9"
TARGET_6 = icmp6probe.Target(TARGET, ipaddress.IPv6Address(TARGET).packed)
PKTINFO = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, ipaddress.IPv6Address(US).packed + b"\0\0\0\2")]
IDENT, TCP_PORT = 0x4242, 80


def packed(address: str) -> bytes:
    return ipaddress.IPv6Address(address).packed


def probes(method: str, source: str | None = US) -> traceroute6.Probes:
    return traceroute6.Probes(method, TARGET_6, packed(source) if source else None, IDENT, TCP_PORT)


def probe_packet(method: str, key: int, src: str = US, dst: str = TARGET, next_header: int | None = None,
                 version: int = 6, ident: int = IDENT, port: int = TCP_PORT) -> bytes:
    """Our probe as it left: its IPv6 header and its ICMPv6 / UDP / TCP header and data."""
    if method == "icmp":
        upper = icmp6probe.echo_request(ident, key, traceroute6.PAYLOAD, src, dst)
    elif method == "udp":
        upper = struct.pack("!HHHH", ident, BASE_PORT + key, 8 + len(traceroute6.PAYLOAD), 0) + traceroute6.PAYLOAD
    else:
        upper = struct.pack("!HHIIBBHHH", key, port, 1, 0, 0xA0, 0x02, 64240, 0, 0)
    nh = traceroute6.PROTOCOLS[method] if next_header is None else next_header
    return struct.pack("!IHBB", version << 28, len(upper), nh, 3) + packed(src) + packed(dst) + upper


def error(kind: int, code: int, quote: bytes, sender: str = ROUTER, to: str = US) -> bytes:
    """An ICMPv6 error quoting `quote`, its checksum right for sender -> to."""
    return icmp6.with_checksum(sender, to, struct.pack("!BBHI", kind, code, 0, 0) + quote)


def echo_reply(ident: int, seq: int, sender: str = TARGET) -> bytes:
    return icmp6.with_checksum(sender, US, struct.pack("!BBHHH", 129, 0, 0, ident, seq) + traceroute6.PAYLOAD)


def read(data: bytes, method: str, sender: str = ROUTER, scope: int = 0, ancdata=None,
         source: str | None = US) -> traceroute6.Answer | None:
    return traceroute6.read(data, PKTINFO if ancdata is None else ancdata, (sender, 0, 0, scope),
                            probes(method, source))


@pytest.mark.parametrize("method", ["icmp", "udp", "tcp"])
def test_errors_quoting_our_probes_name_the_probe_and_say_what_happened(method):
    key = 0x1234 if method == "tcp" else 7        # tcp: the key is the probe's source port
    quote = probe_packet(method, key)
    assert read(error(3, 0, quote), method) == traceroute6.Answer(
        key, ROUTER, False, f"hop limit exceeded in transit from {ROUTER}")
    assert read(error(1, 4, quote, sender=TARGET), method, sender=TARGET) == traceroute6.Answer(
        key, TARGET, True, f"port unreachable from {TARGET}")
    assert read(error(1, 0, quote), method) == traceroute6.Answer(
        key, ROUTER, True, f"no route to destination from {ROUTER}")
    assert read(error(1, 1, quote), method) == traceroute6.Answer(
        key, ROUTER, True, f"communication administratively prohibited from {ROUTER}")
    # RFC 4443: as much of the probe as fits; ours are small, but a router may quote less.
    need = traceroute6.QUOTED_NEEDED[method]
    assert read(error(3, 0, quote[:40 + need]), method) == read(error(3, 0, quote), method)
    assert read(error(3, 0, quote[:40 + need - 1]), method) is None
    # A router answering from a link-local address is listed with its interface.
    lo = socket.if_nametoindex("lo")
    answer = read(icmp6.with_checksum("fe80::1", US, error(3, 0, quote)), method, sender="fe80::1", scope=lo)
    assert answer is not None and answer.hop == "fe80::1%lo" and answer.why.endswith("from fe80::1%lo")


@pytest.mark.parametrize("method", ["icmp", "udp", "tcp"])
def test_errors_about_someone_elses_packets_are_not_ours(method):
    key = 0x1234 if method == "tcp" else 7
    others = [probe_packet(method, key, dst=OTHER),                    # to another destination
              probe_packet(method, key, src="fd00:a::3"),              # from another source
              probe_packet(method, key, version=4),
              probe_packet(method, key, next_header=0),                # a hop-by-hop header first: not what we send
              probe_packet({"icmp": "udp", "udp": "tcp", "tcp": "icmp"}[method], key)]   # another protocol
    if method == "tcp":
        others.append(probe_packet(method, key, port=81))              # another destination port
    else:
        others.append(probe_packet(method, key, ident=IDENT + 1))      # another identifier / source port
    for quote in others:
        assert read(error(3, 0, quote), method) is None, quote.hex()
    if method == "udp":   # destination ports at or below the base are no probe of ours
        assert read(error(3, 0, probe_packet(method, 0)), method) is None
    if method == "icmp":  # an echo *reply* quoted is not our request
        reply = bytearray(probe_packet(method, key))
        reply[40] = 129
        assert read(error(3, 0, bytes(reply)), method) is None
    quote = probe_packet(method, key)
    assert read(error(2, 0, quote), method) is None                    # packet too big: no hop's answer
    assert read(error(3, 0, quote, to="fd00:a::3"), method) is None    # checksummed for another receiver
    assert read(error(3, 0, quote), method, sender="fd00:a::7") is None   # ... or from another sender
    assert read(error(3, 0, quote), method, ancdata=[]) is None        # no IPV6_PKTINFO: cannot be checked
    # With no source known (no route when it started), only the source is not checked.
    assert read(error(3, 0, probe_packet(method, key, src="fd00:a::3")), method, source=None) is not None


def test_echo_replies_count_from_the_target_with_our_identifier_and_only_for_icmp():
    assert read(echo_reply(IDENT, 3), "icmp", sender=TARGET) == traceroute6.Answer(3, TARGET, True, "")
    assert read(echo_reply(IDENT + 1, 3), "icmp", sender=TARGET) is None
    assert read(echo_reply(IDENT, 3, sender=OTHER), "icmp", sender=OTHER) is None
    assert read(echo_reply(IDENT, 3), "udp", sender=TARGET) is None
    mangled = bytearray(echo_reply(IDENT, 3))
    mangled[-1] ^= 1
    assert read(bytes(mangled), "icmp", sender=TARGET) is None
    # A link-local target answers on its own interface only.
    lo = socket.if_nametoindex("lo")
    target = icmp6probe.resolve("fe80::5%lo")
    match = traceroute6.Probes("icmp", target, None, IDENT)
    reply = icmp6.with_checksum("fe80::5", US, echo_reply(IDENT, 4))
    assert traceroute6.read(reply, PKTINFO, ("fe80::5%lo", 0, 0, lo), match) == \
        traceroute6.Answer(4, "fe80::5%lo", True, "")
    assert traceroute6.read(reply, PKTINFO, ("fe80::5", 0, 0, lo + 1000), match) is None


def test_targets_a_trace_cannot_go_to_are_refused_before_anything_is_sent():
    for bad, says in [("ff02::1%lo", "is a multicast address"), ("ff0e::1", "is a multicast address"),
                      ("::ffff:10.0.0.1", "is an IPv4-mapped address: trace 10.0.0.1"),
                      ("fe80::1", "is link-local: say which interface"), ("fd00::1::2", "not an IPv6 address")]:
        with pytest.raises(LookupError, match=says):
            traceroute6.resolve(bad)
    assert traceroute6.resolve("fd00:0::1").text == "fd00::1"


@FAST
@given(data=st.binary(max_size=160), method=st.sampled_from(["icmp", "udp", "tcp"]),
       ancillary=st.lists(st.tuples(st.integers(-1, 300), st.integers(-1, 300), st.binary(max_size=24)),
                          max_size=3),
       sender=st.sampled_from([ROUTER, TARGET, "fe80::1%lo", "not an address", "", "::ffff:1.2.3.4"]),
       scope=st.integers(-5, 2 ** 33))
def test_any_datagram_is_read_without_raising(data, method, ancillary, sender, scope):
    for anc in (ancillary, PKTINFO):
        answer = traceroute6.read(data, anc, (sender, 0, 0, scope), probes(method))
        assert answer is None or isinstance(answer.key, int)
    # signed as if it came from the router: still no exception, whatever the bytes say
    signed = error(data[0] if data else 3, data[1] if len(data) > 1 else 0, data[2:])
    answer = traceroute6.read(signed, PKTINFO, (ROUTER, 0, 0, 0), probes(method))
    assert answer is None or answer.hop == ROUTER


@FAST
@given(method=st.sampled_from(["icmp", "udp", "tcp"]), kind=st.sampled_from([1, 3]),
       cut=st.integers(0, 200), flip=st.integers(0, 8 * 200 - 1))
def test_cut_or_flipped_errors_are_refused(method, kind, cut, flip):
    whole = error(kind, 0, probe_packet(method, 9))
    assert read(whole, method) is not None
    flipped = bytearray(whole)
    flipped[flip // 8 % len(whole)] ^= 1 << flip % 8
    for data in (whole[:cut % len(whole)], bytes(flipped)):   # the checksum no longer holds
        assert read(data, method) is None, data.hex()


@FAST
@given(method=st.sampled_from(["icmp", "udp", "tcp"]), length=st.integers(0, 120))
def test_a_short_quote_is_ours_exactly_when_it_still_names_the_probe(method, length):
    # Truncated by a router, checksum right: enough of our header left, or nothing to match.
    quote = probe_packet(method, 9)[:length]
    answer = read(error(3, 0, quote), method)
    if length >= 40 + traceroute6.QUOTED_NEEDED[method]:
        assert answer == traceroute6.Answer(9, ROUTER, False, f"hop limit exceeded in transit from {ROUTER}")
    else:
        assert answer is None


@FAST
@given(method=st.sampled_from(["icmp", "udp", "tcp"]), version=st.sampled_from([6, 4, 0, 15]),
       next_header=st.sampled_from([58, 17, 6, 0, 43, 44, 60]), src=st.sampled_from([US, "fd00:a::3"]),
       dst=st.sampled_from([TARGET, OTHER, US]), ident=st.sampled_from([IDENT, IDENT + 1, 0]),
       port=st.sampled_from([TCP_PORT, 81]), key=st.integers(1, 200), tail=st.binary(max_size=24))
def test_hostile_quotes_match_only_our_own_probe(method, version, next_header, src, dst, ident, port, key, tail):
    quote = probe_packet(method, key, src=src, dst=dst, next_header=next_header, version=version,
                         ident=ident, port=port) + tail
    ours = (version == 6 and next_header == traceroute6.PROTOCOLS[method] and src == US and dst == TARGET
            and (port == TCP_PORT if method == "tcp" else ident == IDENT))
    answer = read(error(3, 0, quote), method)
    assert (answer is not None) == ours
    if answer is not None:
        assert answer.key == key and answer.final is False
