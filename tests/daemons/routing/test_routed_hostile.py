"""Hostile input for the routing daemon: packets whose counts lie, floods of
neighbours and LSAs, and, with real daemons in network namespaces, a hostile
control-socket client and hostile packets on a link.  Each may cost one packet
or one client; the daemon keeps routing and answering."""
from __future__ import annotations

import json
import socket
import textwrap
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routed_nslab import lab, netns_available
from routed_simnet import SimNet
from routed_topo import SQUARE, Topology

from labnode.routing import packet as pk
from labnode.routing.addr import ip_to_int
from labnode.routing.lsa import LSA, Link, Prefix
from labnode.routing.packet import Codec, Hello, PacketError
from labnode.routing.router import MAX_NEIGHBORS

REASONS = {"truncated", "oversized", "bad_version", "bad_length", "bad_type", "bad_auth", "malformed"}
R = {r: ip_to_int(SQUARE.router_id(r)) for r in SQUARE.routers}
u16 = st.integers(0, 0xFFFF)


def framed(ptype: int, body: bytes, rid: int = 5, version: int = pk.VERSION) -> bytes:
    return pk.HEADER.pack(version, ptype, pk.HEADER.size + len(body), rid, pk.AUTH_NONE) + body


@st.composite
def lying_packets(draw):
    """Packets whose counts promise more (or less) than the bytes that follow."""
    kind = draw(st.sampled_from(["hello", "lsu", "lsa", "ack", "hello6", "lsa6"]))
    tail = draw(st.binary(max_size=draw(st.sampled_from([0, 16, 2000, 8000]))))
    version = pk.VERSION_DUAL if kind.endswith("6") or draw(st.booleans()) else pk.VERSION
    if kind.startswith("hello"):
        body = pk.HELLO_FIXED.pack(draw(st.integers(1, 1000)), draw(st.integers(1001, 10**6)), 1, draw(u16)) + tail
        ptype = pk.HELLO
    elif kind == "lsa6":  # a version 2 LSA head claiming up to 65535 links and prefixes of both families
        head = pk.LSA_HEAD6.pack(1, 1, 0, draw(u16), draw(u16), draw(u16))
        body, ptype = pk.COUNT.pack(draw(st.integers(1, 3))) + head + tail, pk.LSU
    elif kind == "lsu":
        body, ptype = pk.COUNT.pack(draw(u16)) + tail, pk.LSU
    elif kind == "lsa":  # one LSA head claiming up to 65535 links and prefixes
        head = pk.LSA_HEAD.pack(1, 1, 0, draw(u16), draw(u16))
        body, ptype = pk.COUNT.pack(draw(st.integers(1, 3))) + head + tail, pk.LSU
    else:
        body, ptype = pk.COUNT.pack(draw(u16)) + tail, pk.ACK
    data = framed(ptype, body, version=version)
    return data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


@settings(max_examples=200, deadline=None, database=None)
@given(lying_packets())
def test_count_lies_only_raise_packet_error_and_counts_stay_bounded(data):
    try:
        packet = Codec(1).decode(data)
    except PacketError as exc:
        assert exc.reason in REASONS
        return
    body = packet.body
    if isinstance(body, Hello):
        assert len(body.neighbors) <= pk.MAX_HELLO_NEIGHBORS
    elif packet.type == pk.LSU:
        assert len(body) <= pk.MAX_LSAS
        assert all(len(lsa.links) + len(lsa.prefixes) + len(lsa.prefixes6) <= pk.MAX_LSA_ENTRIES for lsa in body)
    else:
        assert len(body) <= pk.MAX_ACKS


def test_the_biggest_packets_decode_and_one_more_entry_does_not():
    full_hello = Codec(2).hello(Hello(1, 4, 1, tuple(range(pk.MAX_HELLO_NEIGHBORS))))
    assert len(full_hello) <= pk.MAX_PACKET
    assert len(Codec(1).decode(full_hello).body.neighbors) == pk.MAX_HELLO_NEIGHBORS
    one_more = Codec(2).hello(Hello(1, 4, 1, tuple(range(pk.MAX_HELLO_NEIGHBORS + 1))))
    with pytest.raises(PacketError, match="oversized"):
        Codec(1).decode(one_more)
    lsas = b"".join(pk.encode_lsa(LSA(i, 1, 0)) for i in range(pk.MAX_LSAS))
    many = framed(pk.LSU, pk.COUNT.pack(pk.MAX_LSAS) + lsas)
    assert len(Codec(1).decode(many).body) == pk.MAX_LSAS
    # 65535 promised LSAs in a handful of bytes: refused at once, nothing decoded
    with pytest.raises(PacketError, match="cannot fit"):
        Codec(1).decode(framed(pk.LSU, pk.COUNT.pack(0xFFFF) + pk.encode_lsa(LSA(1, 1, 0))))


GOOD6 = 0x20010DB8000000010000000000000002  # 2001:db8:0:1::2


def hello6(address6: int, neighbours: int = 0, extra: bytes = b"") -> bytes:
    body = pk.HELLO_FIXED.pack(200, 800, 1, neighbours) + address6.to_bytes(16, "big") + extra
    return framed(pk.HELLO, body, version=pk.VERSION_DUAL)


def lsu6(network: int, length: int, count: int = 1) -> bytes:
    head = pk.LSA_HEAD6.pack(1, 1, 0, 0, 0, count)
    entry = network.to_bytes(16, "big") + bytes([length]) + b"\0\0"
    return framed(pk.LSU, pk.COUNT.pack(1) + head + entry, version=pk.VERSION_DUAL)


@pytest.mark.parametrize("data, why", [
    (hello6(0), "unspecified"),
    (hello6(1), "loopback"),
    (hello6(0xFE80 << 112 | 1), "link-local"),
    (hello6(0xFF02 << 112 | 1), "multicast"),
    (hello6(0xFFFF << 32 | 0x0A000001), "IPv4-mapped"),
    (hello6(GOOD6, neighbours=1), "neighbour list"),  # promises a neighbour, has none
    (hello6(GOOD6, extra=b"\0\0\0\0\0"), "neighbour list"),  # trailing bytes
    (framed(pk.HELLO, pk.HELLO_FIXED.pack(200, 800, 1, 0), version=pk.VERSION_DUAL), "neighbour list"),  # none
    (lsu6(0x20010DB8 << 96, 129), "bad IPv6 prefix"),
    (lsu6(0x20010DB8 << 96 | 1, 64), "bad IPv6 prefix"),  # host bits
    (lsu6(0xFE80 << 112, 64), "link-local"),
    (lsu6(0xFF02 << 112, 16), "multicast"),
    (lsu6(0xFFFF << 32, 96), "IPv4-mapped"),
    (lsu6(1, 128), "loopback"),
    (lsu6(0x20010DB8 << 96, 32, count=2), "runs past"),  # two promised, one there
    (lsu6(0x20010DB8 << 96, 32)[:-1], "truncated"),
])
def test_bad_ipv6_fields_cost_the_packet(data, why):
    with pytest.raises(PacketError) as info:
        Codec(1).decode(data)
    assert why in str(info.value)
    assert info.value.reason in REASONS


def test_good_ipv6_fields_decode():
    assert Codec(1).decode(hello6(GOOD6)).body.address6 == GOOD6
    assert Codec(1).decode(lsu6(0, 0)).body[0].prefixes6 == (Prefix(0, 0, 0),)  # ::/0, a default route
    assert Codec(1).decode(lsu6(0xFE << 120, 7)).body[0].prefixes6[0].length == 7  # fe00::/7 contains, is not, fe80


def test_the_biggest_dual_stack_lsa_decodes_and_one_more_entry_does_not():
    room = pk.MAX_PACKET - pk.HEADER.size - pk.COUNT.size - pk.LSA_HEAD6.size
    most = room // pk.PREFIX6.size
    p6 = tuple(Prefix((0x20010DB8 << 96) | (i << 64), 64) for i in range(most + 1))
    fits = pk.encode_lsa(LSA(1, 1, 0, (), (), p6[:most]))
    data = framed(pk.LSU, pk.COUNT.pack(1) + fits, version=pk.VERSION_DUAL)
    assert len(data) <= pk.MAX_PACKET and len(Codec(1).decode(data).body[0].prefixes6) == most
    over = framed(pk.LSU, pk.COUNT.pack(1) + pk.encode_lsa(LSA(1, 1, 0, (), (), p6)), version=pk.VERSION_DUAL)
    with pytest.raises(PacketError, match="oversized"):
        Codec(1).decode(over)
    with pytest.raises(ValueError):
        pk.encode_lsa(LSA(1, 1, 0, (), (), p6[:1]), version=pk.VERSION)  # version 1 has no room for them


# -- the protocol engine, on the simulated network ---------------------------------

def converged_net() -> SimNet:
    net = SimNet(SQUARE)
    net.run_until(net.converged, limit=3)
    return net


def test_a_flood_of_invented_neighbours_is_capped_and_the_real_one_kept():
    net = converged_net()
    r1 = net.routers["r1"]
    for i in range(MAX_NEIGHBORS + 100):  # hellos from r2's address, each with a new router id
        net.inject("r1", "l1a", "10.0.1.2", Codec(0x0A000000 + i).hello(Hello(0.2, 30, i)))
    port = r1.ports["l1a"]
    assert len(port.neighbors) == MAX_NEIGHBORS
    assert r1.stats["rx_too_many_neighbors"] >= 100
    assert port.neighbors[R["r2"]].state == "full"  # the real neighbour was there first and stays
    hellos = [d for sender, ifname, d in net.tap if sender == "r1" and ifname == "l1a"
              and Codec(9).decode(d).type == pk.HELLO]
    assert len(hellos[-1]) <= pk.TARGET_PACKET  # our hello listing all of them still fits
    net.run(1)
    assert net.converged()


def test_a_flood_of_invented_routers_is_capped_by_the_lsdb_limit():
    net = converged_net()
    r1 = net.routers["r1"]
    r1.lsdb.max_entries = len(r1.lsdb) + 10
    forged = [LSA(0x0B000000 + i, 1, 0, (Link(R["r2"], 1),), (Prefix(0x0B000000 + (i << 8), 24),))
              for i in range(50)]
    for data in Codec(R["r2"]).lsus(forged):
        net.inject("r1", "l1a", "10.0.1.2", data)
    assert len(r1.lsdb) == r1.lsdb.max_entries
    assert r1.stats["lsa_lsdb_full"] == 40
    net.run(1)
    for r in SQUARE.routers:  # every real route is still right
        table = net.table(r)
        assert all(table.get(p) == route for p, route in SQUARE.expected_routes(r).items())


def test_an_lsa_too_large_to_send_is_counted_not_raised():
    net = converged_net()
    r1 = net.routers["r1"]
    nb = r1.ports["l1a"].neighbors[R["r2"]]
    huge = LSA(R["r1"], 99, 0, tuple(Link(i + 1, 1) for i in range(pk.MAX_LSA_ENTRIES + 10)))
    r1._tx_lsas[nb] = {huge.router_id: huge, R["r3"]: r1.lsdb.get(R["r3"], net.now)}
    sent = len(net.tap)
    r1._after(net.now)  # used to raise ValueError out of the daemon's timer path
    assert r1.stats["tx_lsa_too_large"] == 1
    assert any(Codec(9).decode(d).type == pk.LSU for _, _, d in net.tap[sent:])  # the others still go


# -- real daemons: the control socket and the link ------------------------------------

REASON = netns_available()
PAIR = Topology.build(2, [(1, 2, 10)])


def raw_request(path: str, data: bytes, timeout: float = 3.0) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the daemon may close an oversized request early
            pass
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
        return reply


@pytest.mark.netns
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_routing_daemon_survives_hostile_control_clients_and_packets():
    """A slow client, the 30 000-deep line, oversized and binary requests, then
    lying packets and a neighbour flood on its link: r1 answers, routes, lives."""
    with lab(PAIR, {"hello_interval": 0.2, "dead_interval": 1.0}) as nslab:
        nslab.wait_converged(5)
        path = nslab.socket_path("r1")
        trickle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        trickle.connect(path)

        def drip():  # a byte every 0.1 s for 3 s: the old server kept reading it all that time
            for _ in range(30):
                try:
                    trickle.send(b"[")
                except OSError:
                    return
                time.sleep(0.1)

        dripper = threading.Thread(target=drip)
        dripper.start()
        time.sleep(0.1)
        started = time.monotonic()
        assert nslab.ask("r1", "routes")  # answered once the trickler's 0.5 s are up, not after 3 s
        assert time.monotonic() - started < 1.5
        dripper.join()
        trickle.close()

        hostile = [
            b"[" * 30000 + b"\n",                        # the measured crash: RecursionError
            b'{"command": ' + b"[" * 1000 + b"\n",
            b"x" * 100_000,                              # no newline, ever
            bytes(range(256)) * 4 + b"\n",
            b"\n",
        ]
        replies = [raw_request(path, data) for data in hostile]
        for data, reply in zip(hostile, replies):
            answer = json.loads(reply)
            assert answer["ok"] is False and "expected" in answer["error"], data[:40]
        assert "longer than 4096" in json.loads(replies[2])["error"]
        assert "deeper than" in json.loads(replies[1])["error"]

        # hostile packets on r1's link, sent from r2's side: lies, truncations, a neighbour flood
        flood = textwrap.dedent(f"""
            import socket, time
            from labnode.routing import packet as pk
            from labnode.routing.packet import Codec, Hello
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"l1b")
            bad = [pk.HEADER.pack(1, pk.LSU, 14, 5, 0) + pk.COUNT.pack(0xFFFF),
                   pk.HEADER.pack(1, pk.HELLO, 24, 5, 0) + pk.HELLO_FIXED.pack(200, 800, 1, 0xFFFF),
                   b"\\x01" * 9000, b"", b"[" * 30000,
                   pk.HEADER.pack(2, pk.HELLO, 40, 5, 0) + pk.HELLO_FIXED.pack(200, 800, 1, 0) + bytes(16),
                   pk.HEADER.pack(2, pk.LSU, 30, 5, 0) + pk.COUNT.pack(1) + pk.LSA_HEAD6.pack(1, 1, 0, 0, 0, 0xFFFF)]
            bad += [Codec(0x0A000000 + i).hello(Hello(0.2, 30.0, i)) for i in range({MAX_NEIGHBORS} + 20)]
            for data in bad:
                s.sendto(data, ("10.0.1.1", 5299))
                time.sleep(0.0005)  # a flood, but not one the receive buffer drops
        """)
        assert nslab.run_in("r2", flood).returncode == 0
        time.sleep(0.3)

        assert nslab.procs["r1"].poll() is None
        counters = nslab.ask("r1", "stats")["counters"]  # a normal request is answered
        assert counters["rx_malformed"] >= 4 and counters["rx_too_many_neighbors"] >= 1
        assert counters.get("internal_errors", 0) == 0
        neighbours = nslab.ask("r1", "neighbors")
        assert len(neighbours) <= MAX_NEIGHBORS
        assert {n["router_id"] for n in neighbours if n["state"] == "full"} == {"2.2.2.2"}
        nslab.wait_converged(3)  # and it still routes
        log = nslab.log_text("r1")
        assert "control request refused: request longer than 4096 bytes" in log
        assert "control request refused: no complete request line within 0.5s" in log
        assert "Traceback" not in log
