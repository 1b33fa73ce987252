"""Ethernet II frames.

     0                   6                  12      14
    +-------------------+-------------------+-------+-----------------+
    | destination MAC   | source MAC        | type  | payload ...     |
    +-------------------+-------------------+-------+-----------------+

type (big-endian): 0x0800 IPv4, 0x0806 ARP.  A frame is at least 60 bytes
on the wire before the FCS (which a TAP neither hands over nor wants), so
shorter ones are padded with zeros when built; the padding is ignored on
receipt because IPv4 and ARP carry their own lengths.  802.1Q tags and
802.3 length fields (type < 0x0600) are not understood: such frames are
dropped.
"""

from __future__ import annotations

HEADER = 14
MIN_FRAME = 60
TYPE_IPV4 = 0x0800
TYPE_ARP = 0x0806
BROADCAST = b"\xff" * 6


class FrameError(ValueError):
    """A frame too short to hold an Ethernet header."""


def parse(frame: bytes) -> tuple[bytes, bytes, int, memoryview]:
    """(destination, source, type, payload) of a frame; FrameError if too short."""
    if len(frame) < HEADER:
        raise FrameError(f"frame of {len(frame)} bytes, shorter than an Ethernet header")
    view = memoryview(frame)
    return bytes(view[0:6]), bytes(view[6:12]), (frame[12] << 8) | frame[13], view[HEADER:]


def build(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    frame = b"".join((dst, src, ethertype.to_bytes(2, "big"), payload))
    if len(frame) < MIN_FRAME:
        frame += bytes(MIN_FRAME - len(frame))
    return frame


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """b'\\x02...' for "02:00:00:00:00:05"; ValueError if malformed."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"bad MAC address {text!r}: expected six hex pairs like 02:00:00:00:00:05")
    try:
        mac = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"bad MAC address {text!r}: expected six hex pairs like 02:00:00:00:00:05") from None
    if mac[0] & 1:
        raise ValueError(f"bad MAC address {text!r}: a multicast address cannot be an interface's")
    return mac
