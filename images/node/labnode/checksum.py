"""The Internet checksum (RFC 1071), as used by IPv4, ICMP, UDP and TCP.

The data is read as a sequence of 16-bit big-endian words (an odd trailing
byte is padded with a zero byte), the words are added with end-around carry
(one's-complement addition), and the checksum is the one's complement of
that sum.  A packet whose checksum field is correct sums, checksum included,
to 0xFFFF, so `internet_checksum(packet) == 0` verifies it.
"""

from __future__ import annotations

import array
import sys


def ones_complement_sum(data: bytes) -> int:
    """16-bit one's-complement sum of `data` (padded to an even length)."""
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    words = array.array("H", bytes(data))
    if sys.byteorder == "little":
        words.byteswap()  # the words on the wire are big-endian
    # Adding everything first and folding the carries back in afterwards is
    # the same as adding word by word with end-around carry.
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes) -> int:
    """The checksum to put in the header: one's complement of the sum."""
    return ~ones_complement_sum(data) & 0xFFFF


def verify(data: bytes) -> bool:
    """True if `data`, with its checksum field filled in, checks out."""
    return internet_checksum(data) == 0
