"""rtnetlink messages, both families: built and parsed without a kernel, then
against a real kernel inside a throw-away namespace."""
from __future__ import annotations

import ipaddress
import json
import socket
import textwrap

import pytest
from routed_nslab import NetnsLab, leftover_namespaces, netns_available
from routed_topo import Topology

from labnode.routing import netlink as nl
from labnode.routing.addr import ip_to_int, parse_prefix, parse_prefix6

A, B = ip_to_int("10.0.1.2"), ip_to_int("10.0.2.2")


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def roundtrip(prefix, hops):
    payload = nl.route_payload(prefix, hops, protocol=99, metric=20, table=254)
    return nl.parse_route(payload)


def test_single_path_route_round_trip():
    prefix = parse_prefix("10.9.0.0/16")
    assert roundtrip(prefix, (nl.KernelNexthop(3, A),)) == (prefix, (nl.KernelNexthop(3, A),), 99, 254, 20)


def test_multipath_route_round_trip():
    hops = (nl.KernelNexthop(3, A), nl.KernelNexthop(5, B))
    prefix = parse_prefix("10.8.0.0/16")
    assert roundtrip(prefix, hops) == (prefix, hops, 99, 254, 20)


def test_default_route_has_no_destination_attribute():
    payload = nl.route_payload((0, 0), (nl.KernelNexthop(3, A),), protocol=99, metric=20, table=254)
    assert nl.RTA_DST not in nl.parse_attrs(payload, nl.RTMSG.size)
    assert nl.parse_route(payload)[0] == (0, 0)


def test_delete_uses_scope_nowhere_and_carries_protocol():
    payload = nl.route_payload(parse_prefix("10.8.0.0/16"), (), protocol=42, metric=7, table=254, delete=True)
    fields = nl.RTMSG.unpack_from(payload)
    assert fields[5] == 42 and fields[6] == nl.RT_SCOPE_NOWHERE


def test_messages_split_a_datagram_and_attrs_are_aligned():
    one = nl.message(nl.RTM_NEWROUTE, 0, 7, nl.attr(1, b"abc"))
    two = nl.message(nl.NLMSG_DONE, 0, 8, b"")
    got = list(nl.messages(one + two))
    assert [(t, s) for t, _, s, _ in got] == [(nl.RTM_NEWROUTE, 7), (nl.NLMSG_DONE, 8)]
    assert len(nl.attr(1, b"abc")) == 8 and nl.parse_attrs(got[0][3]) == {1: b"abc"}


def test_link_message_flags():
    def link(flags, name=b"eth1\0", msg_type=nl.RTM_NEWLINK):
        payload = nl.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 4, flags, 0) + nl.attr(nl.IFLA_IFNAME, name)
        return nl.parse_link(msg_type, payload)
    assert link(nl.IFF_UP | nl.IFF_LOWER_UP) == nl.LinkState(4, "eth1", True, False)
    assert link(nl.IFF_UP).running is False  # up but no carrier
    assert link(nl.IFF_LOWER_UP).running is False  # administratively down
    assert link(nl.IFF_UP, msg_type=nl.RTM_DELLINK).deleted is True
    assert nl.parse_link(nl.RTM_NEWLINK, b"\0" * 4) is None


REASON = netns_available()


@pytest.mark.netns
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_route_table_against_the_kernel():
    nslab = NetnsLab(Topology.build(3, [(1, 2, 1), (1, 3, 1)]))
    try:
        nslab.create()
        code = textwrap.dedent("""
            import json, socket, subprocess
            from labnode.routing import netlink as nl
            from labnode.routing.addr import ip_to_int, parse_prefix
            t = nl.KernelRoutes(99, 20, 254)
            a = nl.KernelNexthop(socket.if_nametoindex("l1a"), ip_to_int("10.0.1.2"))
            b = nl.KernelNexthop(socket.if_nametoindex("l2a"), ip_to_int("10.0.2.2"))
            p, q = parse_prefix("10.9.0.0/16"), parse_prefix("10.8.0.0/16")
            t.replace(p, (a,)); t.replace(q, tuple(sorted((a, b))))
            out = {"first": sorted(map(str, t.dump().items()))}
            t.replace(p, tuple(sorted((a, b)))); t.replace(q, (b,))
            out["second"] = sorted(map(str, t.dump().items()))
            out["ip"] = subprocess.run(["ip", "route", "show", "proto", "99"], capture_output=True, text=True).stdout
            t.delete(q); t.delete(q)  # twice: deleting what is gone is fine
            try:
                t.replace(parse_prefix("10.7.0.0/16"), (nl.KernelNexthop(a.ifindex, ip_to_int("192.0.2.9")),))
            except nl.NetlinkError as exc:
                out["error"] = exc.errno
            out["third"] = sorted(map(str, t.dump().items()))
            print(json.dumps(out))
        """)
        result = nslab.run_in("r1", code)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        p, q = parse_prefix("10.9.0.0/16"), parse_prefix("10.8.0.0/16")
        assert len(out["first"]) == 2 and len(out["second"]) == 2
        assert "nexthop via 10.0.1.2 dev l1a" in out["ip"] and "10.8.0.0/16 via 10.0.2.2 dev l2a" in out["ip"]
        assert out["error"] == 101  # ENETUNREACH: the gateway is not on the link
        assert len(out["third"]) == 1 and str(p) in out["third"][0]
        assert str(q) not in " ".join(out["third"])
    finally:
        nslab.close()
    assert leftover_namespaces(nslab.tag) == []


# -- IPv6 ---------------------------------------------------------------------------

A6, B6 = v6("2001:db8:0:1::2"), v6("2001:db8:0:2::2")


def test_ipv6_routes_round_trip_single_and_multipath():
    prefix = parse_prefix6("2001:db8:9::/48")
    for hops in ((nl.KernelNexthop(3, A6),), (nl.KernelNexthop(3, A6), nl.KernelNexthop(5, B6))):
        payload = nl.route_payload(prefix, hops, protocol=99, metric=20, table=254, family=socket.AF_INET6)
        assert nl.RTMSG.unpack_from(payload)[0] == socket.AF_INET6
        assert nl.parse_route(payload, socket.AF_INET6) == (prefix, hops, 99, 254, 20)
        assert nl.parse_route(payload) is None  # not an IPv4 route
    attrs = nl.parse_attrs(payload, nl.RTMSG.size)
    assert attrs[nl.RTA_DST] == bytes.fromhex("20010db8000900000000000000000000")
    ipv4 = nl.route_payload(parse_prefix("10.9.0.0/16"), (nl.KernelNexthop(3, A),), protocol=99, metric=20,
                            table=254)
    assert nl.parse_route(ipv4, socket.AF_INET6) is None


def test_route_parsing_refuses_what_is_not_an_address_of_the_family():
    payload = nl.route_payload((0x0A090000, 16), (nl.KernelNexthop(3, A),), protocol=99, metric=20, table=254)
    as6 = nl.RTMSG.pack(socket.AF_INET6, 16, 0, 0, 254, 99, 0, nl.RTN_UNICAST, 0) + payload[nl.RTMSG.size:]
    assert nl.parse_route(as6, socket.AF_INET6) is None  # a 4-byte RTA_DST in an IPv6 route
    assert nl.parse_route(b"\0" * 4, socket.AF_INET6) is None


def test_an_ipv6_multipath_route_dumped_path_by_path_is_merged():
    """Kernels before 4.11 list each path of an IPv6 multipath route as a route of its own."""
    prefix, other = parse_prefix6("2001:db8:9::/48"), parse_prefix6("2001:db8:8::/48")

    def payload(p, hops, protocol=99):
        return nl.route_payload(p, hops, protocol=protocol, metric=20, table=254, family=socket.AF_INET6)

    answers = [(nl.RTM_NEWROUTE, payload(prefix, (nl.KernelNexthop(5, B6),))),
               (nl.RTM_NEWROUTE, payload(prefix, (nl.KernelNexthop(3, A6),))),
               (nl.RTM_NEWROUTE, payload(other, (nl.KernelNexthop(3, A6),), protocol=2)),  # not ours
               (nl.RTM_NEWROUTE, b"\0\0")]  # not a route at all
    routes = nl.KernelRoutes(99, 20, 254, socket.AF_INET6)
    try:
        routes.request = lambda *args: answers  # type: ignore[method-assign]
        assert routes.dump() == {prefix: (nl.KernelNexthop(3, A6), nl.KernelNexthop(5, B6))}
    finally:
        routes.close()


@pytest.mark.netns
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_ipv6_route_table_against_the_kernel():
    nslab = NetnsLab(Topology.build(3, [(1, 2, 1), (1, 3, 1)], dual_stack=True), prefix="labt6r-")
    try:
        nslab.create()
        code = textwrap.dedent("""
            import errno, ipaddress, json, socket, subprocess
            from labnode.routing import netlink as nl
            from labnode.routing.addr import parse_prefix6
            v6 = lambda text: int(ipaddress.IPv6Address(text))
            def ip6(*args):
                return subprocess.run(["ip", "-6", "route", *args], capture_output=True, text=True).stdout
            t = nl.KernelRoutes(99, 20, 254, socket.AF_INET6)
            a = nl.KernelNexthop(socket.if_nametoindex("l1a"), v6("2001:db8:0:1::2"))
            b = nl.KernelNexthop(socket.if_nametoindex("l2a"), v6("2001:db8:0:2::2"))
            p, q = parse_prefix6("2001:db8:9::/48"), parse_prefix6("2001:db8:8::/48")
            out = {}
            t.replace(p, (a,)); t.replace(q, tuple(sorted((a, b))))
            out["first"] = {str(k): [list(h) for h in v] for k, v in t.dump().items()}
            out["ip_first"] = ip6("show", "proto", "99")
            t.replace(p, tuple(sorted((a, b)))); t.replace(q, (b,))
            out["second"] = {str(k): [list(h) for h in v] for k, v in t.dump().items()}
            out["ip_second"] = ip6("show", "proto", "99")
            subprocess.run(["ip", "-6", "route", "add", "2001:db8:9::/48", "via", "2001:db8:0:1::2",
                            "metric", "1024"], check=True)  # not ours: another protocol, another metric
            t.delete(p); t.delete(p)  # twice: deleting what is gone is fine
            out["foreign"] = ip6("show", "2001:db8:9::/48")
            try:
                t.replace(parse_prefix6("2001:db8:7::/48"), (nl.KernelNexthop(a.ifindex, v6("2001:db8:77::1")),))
            except nl.NetlinkError as exc:
                out["error"] = exc.errno
            out["third"] = {str(k): [list(h) for h in v] for k, v in t.dump().items()}
            out["v4"] = nl.KernelRoutes(99, 20, 254).dump() == {}  # the families stay apart
            print(json.dumps(out))
        """)
        result = nslab.run_in("r1", code)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        p, q = parse_prefix6("2001:db8:9::/48"), parse_prefix6("2001:db8:8::/48")
        assert [len(out["first"][str(p)]), len(out["first"][str(q)])] == [1, 2]
        assert [len(out["second"][str(p)]), len(out["second"][str(q)])] == [2, 1]
        first = out["ip_first"]
        assert "2001:db8:9::/48 via 2001:db8:0:1::2 dev l1a metric 20" in first, first
        at = first.index("2001:db8:8::/48")
        assert first[at:].split("\n")[1:3] == ["\tnexthop via 2001:db8:0:1::2 dev l1a weight 1 ",
                                               "\tnexthop via 2001:db8:0:2::2 dev l2a weight 1 "], first
        assert "2001:db8:8::/48 via 2001:db8:0:2::2 dev l2a" in out["ip_second"]
        assert out["foreign"].startswith("2001:db8:9::/48 via 2001:db8:0:1::2 dev l1a metric 1024")
        assert "proto openr" not in out["foreign"]
        assert out["error"] in (101, 113)  # ENETUNREACH / EHOSTUNREACH: the gateway is not on the link
        assert list(out["third"]) == [str(q)]
        assert out["v4"] is True
    finally:
        nslab.close()
    assert leftover_namespaces(nslab.tag, "labt6r-") == []
