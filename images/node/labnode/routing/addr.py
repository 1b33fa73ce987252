"""IPv4 helpers: router ids and prefixes as plain integers.

The protocol and SPF work on integers (fast to compare, hash and pack);
only configuration, logs and the CLI see dotted-quad strings.
"""
from __future__ import annotations

import ipaddress
import socket
import struct

_U32 = struct.Struct("!I")


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
