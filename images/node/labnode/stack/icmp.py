"""ICMP for IPv4 (RFC 792): echo, and destination unreachable.

     0               1               2               3
    +---------------+---------------+-------------------------------+
    |     Type      |     Code      |          Checksum             |
    +---------------+---------------+-------------------------------+
    |  echo: Identifier / Sequence  |  unreachable: unused (0),     |
    |                               |  code 4: next-hop MTU (low 16)|
    +-------------------------------+-------------------------------+
    |  echo: data ...   unreachable: the offending IP header + 8 bytes |

Types handled: 8 echo request (answered with 0 echo reply, same
identifier, sequence and data), 0 echo reply (counted), 3 destination
unreachable (codes 0 net, 1 host, 2 protocol, 3 port, 4 fragmentation
needed): sent as "port unreachable" for UDP to a closed port; on receipt
the quoted header names the TCP connection or UDP socket it is about,
which the stack tells (a connection still opening is aborted).  The
checksum covers the whole ICMP message.  Everything else is counted and
dropped.
"""

from __future__ import annotations

import struct

from labnode.checksum import internet_checksum

ECHO_REPLY = 0
UNREACHABLE = 3
ECHO_REQUEST = 8
CODE_NET, CODE_HOST, CODE_PROTOCOL, CODE_PORT, CODE_FRAG_NEEDED = 0, 1, 2, 3, 4
HEADER = 8
CODE_NAMES = {CODE_NET: "net unreachable", CODE_HOST: "host unreachable",
              CODE_PROTOCOL: "protocol unreachable", CODE_PORT: "port unreachable",
              CODE_FRAG_NEEDED: "fragmentation needed"}
_HEADER = struct.Struct("!BBHI")


class IcmpError(ValueError):
    """A truncated ICMP message or one with a bad checksum."""


def parse(data: bytes | memoryview) -> tuple[int, int, int, memoryview]:
    """(type, code, rest-of-header as an int, body)."""
    if len(data) < HEADER:
        raise IcmpError(f"ICMP message of {len(data)} bytes, shorter than {HEADER}")
    if internet_checksum(data) != 0:
        raise IcmpError("bad ICMP checksum")
    kind, code, _csum, rest = _HEADER.unpack_from(data)
    return kind, code, rest, memoryview(data)[HEADER:]


def build(kind: int, code: int, rest: int, body: bytes) -> bytes:
    message = bytearray(_HEADER.pack(kind, code, 0, rest)) + body
    message[2:4] = internet_checksum(message).to_bytes(2, "big")
    return bytes(message)


def echo_reply(rest: int, body: bytes) -> bytes:
    return build(ECHO_REPLY, 0, rest, body)


def unreachable(code: int, offending: bytes) -> bytes:
    """An unreachable message quoting the offending packet's header + 8 bytes."""
    ihl = (offending[0] & 0xF) * 4 if offending else 0
    return build(UNREACHABLE, code, 0, bytes(offending[:ihl + 8]))
