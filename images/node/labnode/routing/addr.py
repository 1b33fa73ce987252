"""Addresses as plain integers: IPv4 router ids and prefixes, IPv6 prefixes.

The protocol and SPF work on integers (fast to compare, hash and pack);
only configuration, logs and the CLI see text.  An IPv6 address is a
128-bit integer; which family a number belongs to is always known from
where it is kept (`prefixes` or `prefixes6`, `address` or `address6`).
"""
from __future__ import annotations

import ipaddress
import socket
import struct

_U32 = struct.Struct("!I")
ALL6 = (1 << 128) - 1


def ip_to_int(text: str) -> int:
    """'10.0.0.1' -> 167772161; raises ValueError on anything else."""
    return int(ipaddress.IPv4Address(text))


def int_to_ip(value: int) -> str:
    return socket.inet_ntoa(_U32.pack(value))


def mask(length: int) -> int:
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0


def parse_prefix(text: str, strict: bool = True) -> tuple[int, int]:
    """'10.0.1.0/24' -> (network, length). strict=False accepts host bits
    (interface addresses like '10.0.12.1/30') and masks them off."""
    net = ipaddress.IPv4Network(text, strict=strict)
    return int(net.network_address), net.prefixlen


def parse_interface(text: str) -> tuple[int, int]:
    """'10.0.12.1/30' -> (address, length)."""
    iface = ipaddress.IPv4Interface(text)
    return int(iface.ip), iface.network.prefixlen


def format_prefix(network: int, length: int) -> str:
    return f"{int_to_ip(network)}/{length}"


def in_prefix(address: int, network: int, length: int) -> bool:
    return (address & mask(length)) == network


# -- IPv6 ----------------------------------------------------------------------
def mask6(length: int) -> int:
    return (ALL6 << (128 - length)) & ALL6 if length else 0


def int_to_ip6(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


def parse_prefix6(text: str) -> tuple[int, int]:
    """'2001:db8:1::/48' -> (network, length); host bits are an error."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"not an IPv6 prefix: {text!r}")
    net = ipaddress.IPv6Network(text, strict=True)
    return int(net.network_address), net.prefixlen


def parse_interface6(text: str) -> tuple[int, int]:
    """'2001:db8:1:4::1/64' -> (address, length); the length is required."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"not an IPv6 interface address: {text!r}")
    iface = ipaddress.IPv6Interface(text)
    return int(iface.ip), iface.network.prefixlen


def format_prefix6(network: int, length: int) -> str:
    return f"{int_to_ip6(network)}/{length}"


def in_prefix6(address: int, network: int, length: int) -> bool:
    return (address & mask6(length)) == network


# (network, length, what it is): ranges no IPv6 prefix or address of ours may fall in
_SPECIAL6 = (
    (0xFE80 << 112, 10, "link-local (fe80::/10)"),
    (0xFF << 120, 8, "multicast (ff00::/8)"),
    (0xFFFF << 32, 96, "IPv4-mapped (::ffff:0:0/96)"),
    (1, 128, "the loopback address"),
    (0, 128, "the unspecified address"),
)


def special6(network: int, length: int) -> str | None:
    """What is wrong with IPv6 prefix network/length as a routed prefix (or,
    with length 128, an address as a unicast address): the special range it
    lies in (link-local, multicast, IPv4-mapped, loopback, unspecified), or
    None when it is fine.  A prefix that merely contains such a range (::/0)
    is fine."""
    for net, size, what in _SPECIAL6:
        if length >= size and network & mask6(size) == net:
            return what
    return None
