"""The chat wire format, shared by the chat server, the client and the probe.

A packet is a 2-byte big-endian payload length followed by that many bytes of
UTF-8 JSON; the JSON is an object with a string "type".

    client -> server   {"type": "hello", "nick": "alice"}      first packet
                       {"type": "chat", "message": "hi all"}
    server -> clients  {"type": "join", "nick": "alice"}
                       {"type": "chat", "nick": "alice", "message": "hi all"}
                       {"type": "leave", "nick": "alice"}
                       {"type": "error", "reason": "..."}      to one client

The payload length is at most 65535 bytes (what two bytes can say).  A
payload that is not UTF-8, not JSON, nested deeper than MAX_DEPTH, or not an
object with a string "type" is a ProtocolError; an empty payload (length 0)
is one too.  Decoding is bounded (labnode.bounded): no payload can make the
JSON decoder recurse or allocate without limit.
"""

from __future__ import annotations

import json
import struct

from labnode import bounded

MAX_PAYLOAD = 0xFFFF
HEADER = struct.Struct("!H")
DEFAULT_PORT = 5000
MAX_DEPTH = bounded.MAX_DEPTH  # packets are flat objects: 32 levels is plenty, 30 000 is an attack


class ProtocolError(ValueError):
    """Bytes that cannot be a chat packet, or a packet that cannot be sent."""


def encode(packet: dict) -> bytes:
    """One packet on the wire: length prefix + compact UTF-8 JSON."""
    try:
        payload = json.dumps(packet, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:  # lone surrogates, bad types
        raise ProtocolError(f"packet cannot be encoded: {exc}") from None
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> dict:
    """The packet in one payload (the bytes after the length prefix)."""
    try:
        packet = bounded.loads(payload, max_bytes=MAX_PAYLOAD, max_depth=MAX_DEPTH)
    except bounded.BoundedError as exc:
        if exc.kind == "encoding":
            raise ProtocolError("payload is not valid UTF-8") from None
        if exc.kind == "syntax":
            raise ProtocolError("payload is not valid JSON") from None
        raise ProtocolError(f"payload refused: {exc}") from None
    if not isinstance(packet, dict) or not isinstance(packet.get("type"), str):
        raise ProtocolError('packet is not a JSON object with a string "type"')
    return packet


class Decoder:
    """Turns a byte stream, cut anywhere, back into packets.

    feed() appends received bytes; iterating yields every complete packet
    buffered so far, in order, and raises ProtocolError at the first bad one
    (the packets before it have been yielded already).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def __iter__(self):
        buf = self._buf
        pos = 0
        try:
            while len(buf) - pos >= HEADER.size:
                (length,) = HEADER.unpack_from(buf, pos)
                end = pos + HEADER.size + length
                if len(buf) < end:
                    return
                payload = bytes(buf[pos + HEADER.size:end])
                pos = end  # consumed even if it turns out to be bad
                yield decode_payload(payload)
        finally:
            del buf[:pos]  # once, not per packet: many small packets stay O(n)

    def packets(self, data: bytes = b"") -> list[dict]:
        """feed(data) and return the complete packets (raises on a bad one)."""
        self.feed(data)
        return list(self)

    @property
    def pending(self) -> int:
        """Bytes buffered that do not make a complete packet yet."""
        return len(self._buf)


def hello(nick: str) -> bytes:
    return encode({"type": "hello", "nick": nick})


def chat(message: str) -> bytes:
    return encode({"type": "chat", "message": message})


def describe(packet: dict) -> str:
    """A packet as one readable line, for people (the client's output)."""
    kind = packet.get("type")
    if kind == "chat":
        return f"<{packet.get('nick', '?')}> {packet.get('message', '')}"
    if kind == "join":
        return f"* {packet.get('nick', '?')} joined"
    if kind == "leave":
        return f"* {packet.get('nick', '?')} left"
    if kind == "error":
        return f"! error: {packet.get('reason', '')}"
    return "? " + json.dumps(packet, ensure_ascii=False)
