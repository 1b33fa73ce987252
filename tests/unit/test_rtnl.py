"""The rtnetlink dump parser (backend/rtnl.py) on hand-made messages laid
out as the kernel lays them out, and on any bytes: it stops where a message
or attribute does not fit, never with an exception."""

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.backend import rtnl


def attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, header: bytes, *attrs: bytes) -> bytes:
    body = header + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), kind, 2, 1, 0) + body


def link(index: int, name: str, up: bool, mac: bytes, master: int = 0, oper: int = 6) -> bytes:
    attrs = [attr(rtnl.IFLA_IFNAME, name.encode() + b"\0"), attr(rtnl.IFLA_ADDRESS, mac),
             attr(rtnl.IFLA_OPERSTATE, bytes([oper]))]
    if master:
        attrs.append(attr(rtnl.IFLA_MASTER, struct.pack("=I", master)))
    return message(rtnl.RTM_NEWLINK, struct.pack("=BxHiII", 0, 1, index, 1 if up else 0, 0), *attrs)


def test_links_and_addresses_are_read_as_the_kernel_lays_them_out():
    dump = (link(1, "lo", True, b"\0" * 6) + link(7, "eth0", True, bytes.fromhex("020000000110"), master=9)
            + link(9, "br0", False, bytes.fromhex("020000000201"), oper=2) + message(rtnl.NLMSG_DONE, b"\0" * 4))
    links, done, error = rtnl.parse(dump, 16, rtnl.RTM_NEWLINK)
    assert done and not error and len(links) == 3
    assert links[1].attrs[rtnl.IFLA_IFNAME] == b"eth0\0" and links[1].attrs[rtnl.IFLA_MASTER] == b"\x09\0\0\0"
    addr = message(rtnl.RTM_NEWADDR, struct.pack("=BBBBi", socket.AF_INET, 24, 0, 0, 7),
                   attr(rtnl.IFA_ADDRESS, socket.inet_aton("192.168.1.10")))
    addrs, done, _ = rtnl.parse(addr, 8, rtnl.RTM_NEWADDR)
    assert not done and addrs[0].attrs[rtnl.IFA_ADDRESS] == socket.inet_aton("192.168.1.10")


def test_an_error_answer_ends_the_dump_with_its_number():
    _, done, error = rtnl.parse(message(rtnl.NLMSG_ERROR, struct.pack("=i", -1) + b"\0" * 16), 16, 16)
    assert done and error == 1


def test_an_attribute_that_does_not_fit_ends_the_attributes():
    good = attr(rtnl.IFLA_IFNAME, b"eth0\0")
    bad = struct.pack("=HH", 200, rtnl.IFLA_ADDRESS) + b"xx"
    assert rtnl.attributes(good + bad, 0) == {rtnl.IFLA_IFNAME: b"eth0\0"}
    assert rtnl.attributes(struct.pack("=HH", 2, 1) + good, 0) == {}     # a length below 4 stops too


@given(st.binary(max_size=2048), st.sampled_from([8, 16, 20]))
def test_any_bytes_are_parsed_without_an_exception(data, header_size):
    found, _, _ = rtnl.parse(data, header_size, rtnl.RTM_NEWLINK)
    assert all(len(m.header) == header_size for m in found)


@given(st.lists(st.tuples(st.integers(1, 0x3FFF), st.binary(max_size=40)), max_size=12, unique_by=lambda a: a[0]))
def test_attributes_round_trip(attrs):
    raw = b"".join(attr(k, v) for k, v in attrs)
    assert rtnl.attributes(raw, 0) == dict(attrs)
