"""The wire format: a compact binary encoding with optional HMAC-SHA256.

Every packet (network byte order):

    0      1      2             4                     8      9        12
    +------+------+-------------+---------------------+------+--------+
    | ver  | type |   length    |      router id      | auth | zero*3 |
    +------+------+-------------+---------------------+------+--------+
    | body ...                                                        |
    +-----------------------------------------------------------------+
    | auth 1 only: 8-byte packet counter | 32-byte HMAC-SHA256        |
    +-----------------------------------------------------------------+

`length` covers the whole packet, trailer included; the HMAC covers every
byte before it (the version and every IPv6 field included).  Bodies:

    HELLO (1): hello ms u16, dead ms u32, incarnation u32, count u16,
               [version 2: address6 16 bytes,]
               count x neighbour id u32 (every router heard on the link)
    LSU   (2): count u16, count x LSA
    ACK   (3): count u16, count x (router id u32, seq u32, checksum u32)
    LSA      : router id u32, seq u32, age u16, nlinks u16, nprefixes u16,
               [version 2: nprefixes6 u16,]
               nlinks x (neighbour id u32, cost u16),
               nprefixes x (network u32, length u8, metric u16),
               [version 2: nprefixes6 x (network 16 bytes, length u8, metric u16)]

Two versions, one header.  Version 1 has no IPv6 field at all: it is what an
IPv4-only router sends, byte for byte as before IPv6 existed.  Version 2 is
version 1 with the IPv6 fields: a hello carrying the sending interface's
global IPv6 address (`address6`, the next hop its neighbours use for IPv6
routes), an LSU whose LSAs carry an IPv6 prefix count and prefixes.  A packet
is version 2 only when it has IPv6 content (a hello with an address6, an LSU
of LSAs with IPv6 prefixes; the LSAs of one batch are split by version), so
the two kinds interleave freely; an ACK is the same in both versions and is
sent as version 1.

Anything that does not decode exactly raises PacketError (and only that).
Every count is checked against the bytes actually there before anything is
decoded, so MAX_PACKET bounds them all: at most MAX_HELLO_NEIGHBORS
neighbours in a hello, MAX_LSAS LSAs in an LSU, MAX_LSA_ENTRIES links plus
prefixes (both families) in one LSA, MAX_ACKS entries in an ACK.  An IPv6
field must be what it claims: an address6 a unicast address (not
unspecified, loopback, link-local, multicast or IPv4-mapped), an IPv6 prefix
at most /128, without host bits, not link-local, multicast, IPv4-mapped,
loopback or unspecified.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .addr import mask, mask6, special6
from .lsa import LSA, Link, Prefix

VERSION = 1  # IPv4-only bodies
VERSION_DUAL = 2  # bodies with the IPv6 fields
VERSIONS = (VERSION, VERSION_DUAL)
HELLO, LSU, ACK = 1, 2, 3
TYPE_NAMES = {HELLO: "hello", LSU: "lsu", ACK: "ack"}
AUTH_NONE, AUTH_HMAC = 0, 1

HEADER = struct.Struct("!BBHIB3x")
COUNT = struct.Struct("!H")
HELLO_FIXED = struct.Struct("!HIIH")
RID = struct.Struct("!I")
LSA_HEAD = struct.Struct("!IIHHH")
LSA_HEAD6 = struct.Struct("!IIHHHH")  # version 2: + IPv6 prefix count
LINK = struct.Struct("!IH")
PREFIX = struct.Struct("!IBH")
ADDRESS6 = struct.Struct("!QQ")  # an IPv6 address: high and low 64 bits
PREFIX6 = struct.Struct("!QQBH")
ACK_ENTRY = struct.Struct("!III")
AUTH_SEQ = struct.Struct("!Q")
DIGEST_SIZE = 32
TRAILER_SIZE = AUTH_SEQ.size + DIGEST_SIZE

MAX_PACKET = 8192  # anything longer is dropped as oversized
TARGET_PACKET = 1400  # LSUs and ACKs are split to stay under a link MTU
_BODY = MAX_PACKET - HEADER.size  # the most a body can be (no trailer)
MAX_HELLO_NEIGHBORS = (_BODY - HELLO_FIXED.size) // RID.size  # 2042
MAX_LSAS = (_BODY - COUNT.size) // LSA_HEAD.size  # 584
MAX_LSA_ENTRIES = (_BODY - COUNT.size - LSA_HEAD.size) // LINK.size  # 1360 (a prefix takes more)
MAX_ACKS = (_BODY - COUNT.size) // ACK_ENTRY.size  # 681


class PacketError(Exception):
    """A packet that cannot be accepted; `reason` names the drop counter."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Hello:
    hello_interval: float  # seconds
    dead_interval: float
    incarnation: int  # random per daemon start: a change means it restarted
    neighbors: tuple[int, ...] = ()
    address6: int | None = None  # the sending interface's global IPv6 address (version 2)


@dataclass(frozen=True)
class AckEntry:
    router_id: int
    seq: int
    checksum: int


Body = Hello | tuple[LSA, ...] | tuple[AckEntry, ...]


@dataclass(frozen=True)
class Packet:
    type: int
    router_id: int
    body: Body
    auth_seq: int | None = None
    version: int = VERSION


def lsa_version(lsa: LSA) -> int:
    """The version of the LSUs that carry `lsa`: 2 only if it has IPv6 prefixes."""
    return VERSION_DUAL if lsa.prefixes6 else VERSION


def lsa_size(lsa: LSA) -> int:
    """Bytes of `lsa` on the wire, in the version that carries it."""
    size = LSA_HEAD.size + LINK.size * len(lsa.links) + PREFIX.size * len(lsa.prefixes)
    return size + (LSA_HEAD6.size - LSA_HEAD.size + PREFIX6.size * len(lsa.prefixes6) if lsa.prefixes6 else 0)


def encode_lsa(lsa: LSA, version: int | None = None) -> bytes:
    """`lsa` in its own version (or in `version`, which must be able to hold it)."""
    version = lsa_version(lsa) if version is None else version
    if version == VERSION:
        if lsa.prefixes6:
            raise ValueError("an LSA with IPv6 prefixes needs version 2")
        parts = [LSA_HEAD.pack(lsa.router_id, lsa.seq, lsa.age, len(lsa.links), len(lsa.prefixes))]
    else:
        parts = [LSA_HEAD6.pack(lsa.router_id, lsa.seq, lsa.age, len(lsa.links), len(lsa.prefixes),
                                len(lsa.prefixes6))]
    parts += [LINK.pack(*link) for link in lsa.links]
    parts += [PREFIX.pack(*prefix) for prefix in lsa.prefixes]
    parts += [PREFIX6.pack(p.network >> 64, p.network & _LOW64, p.length, p.metric) for p in lsa.prefixes6]
    return b"".join(parts)


_LOW64 = (1 << 64) - 1


class Codec:
    """Encodes this router's packets and decodes everybody's.

    With a key, every packet carries a strictly increasing 64-bit counter
    (microseconds since the epoch at start, +1 per packet) and an HMAC.
    """

    def __init__(self, router_id: int, key: str | bytes | None = None):
        self.router_id = router_id
        self.key = key.encode() if isinstance(key, str) else key
        self._counter = time.time_ns() // 1000

    # -- encoding ---------------------------------------------------------
    def _frame(self, ptype: int, body: bytes, version: int = VERSION) -> bytes:
        if self.key is None:
            return HEADER.pack(version, ptype, HEADER.size + len(body), self.router_id, AUTH_NONE) + body
        self._counter += 1
        length = HEADER.size + len(body) + TRAILER_SIZE
        data = HEADER.pack(version, ptype, length, self.router_id, AUTH_HMAC) + body
        data += AUTH_SEQ.pack(self._counter)
        return data + hmac.new(self.key, data, hashlib.sha256).digest()

    @property
    def overhead(self) -> int:
        return HEADER.size + (TRAILER_SIZE if self.key else 0) + COUNT.size

    def hello(self, hello: Hello) -> bytes:
        body = HELLO_FIXED.pack(round(hello.hello_interval * 1000), round(hello.dead_interval * 1000),
                                hello.incarnation, len(hello.neighbors))
        if hello.address6 is not None:
            body += ADDRESS6.pack(hello.address6 >> 64, hello.address6 & _LOW64)
        body += b"".join(RID.pack(rid) for rid in hello.neighbors)
        return self._frame(HELLO, body, VERSION if hello.address6 is None else VERSION_DUAL)

    def lsus(self, lsas: Iterable[LSA]) -> list[bytes]:
        """LSU packets carrying `lsas`, each kept under TARGET_PACKET when it can:
        version 1 packets for the LSAs without IPv6 prefixes, then version 2
        packets for those with (each group in the order given)."""
        by_version: dict[int, list[bytes]] = {VERSION: [], VERSION_DUAL: []}
        for lsa in lsas:
            by_version[lsa_version(lsa)].append(encode_lsa(lsa))
        packets = [self._frame(LSU, COUNT.pack(len(c)) + b"".join(c), version)
                   for version, encoded in by_version.items()
                   for c in _chunk(encoded, TARGET_PACKET - self.overhead)]
        for packet in packets:
            if len(packet) > MAX_PACKET:
                raise ValueError(f"LSA too large for one packet ({len(packet)} bytes)")
        return packets

    def acks(self, entries: Iterable[AckEntry]) -> list[bytes]:
        encoded = (ACK_ENTRY.pack(e.router_id, e.seq, e.checksum) for e in entries)
        chunks = _chunk(encoded, TARGET_PACKET - self.overhead)
        return [self._frame(ACK, COUNT.pack(len(c)) + b"".join(c)) for c in chunks]

    # -- decoding ---------------------------------------------------------
    def decode(self, data: bytes) -> Packet:
        if len(data) > MAX_PACKET:
            raise PacketError("oversized", f"{len(data)} bytes")
        if len(data) < HEADER.size:
            raise PacketError("truncated", f"{len(data)} bytes")
        version, ptype, length, router_id, auth = HEADER.unpack_from(data)
        if version not in VERSIONS:
            raise PacketError("bad_version", str(version))
        if length != len(data):
            raise PacketError("truncated" if length > len(data) else "bad_length",
                              f"header says {length}, got {len(data)}")
        auth_seq, end = self._check_auth(data, auth)
        if ptype not in TYPE_NAMES:
            raise PacketError("bad_type", str(ptype))
        try:
            body = _DECODERS[ptype](memoryview(data)[HEADER.size:end], version)
        except struct.error as exc:
            raise PacketError("malformed", str(exc)) from None
        return Packet(ptype, router_id, body, auth_seq, version)

    def _check_auth(self, data: bytes, auth: int) -> tuple[int | None, int]:
        if auth not in (AUTH_NONE, AUTH_HMAC):
            raise PacketError("malformed", f"auth type {auth}")
        if self.key is None:
            if auth != AUTH_NONE:
                raise PacketError("bad_auth", "authenticated packet but no key configured")
            return None, len(data)
        if auth != AUTH_HMAC:
            raise PacketError("bad_auth", "unauthenticated packet")
        if len(data) < HEADER.size + TRAILER_SIZE:
            raise PacketError("truncated", "short authentication trailer")
        digest = hmac.new(self.key, data[:-DIGEST_SIZE], hashlib.sha256).digest()
        if not hmac.compare_digest(digest, data[-DIGEST_SIZE:]):
            raise PacketError("bad_auth", "HMAC mismatch")
        end = len(data) - TRAILER_SIZE
        return AUTH_SEQ.unpack_from(data, end)[0], end


def _chunk(items: Iterable[bytes], limit: int) -> list[list[bytes]]:
    chunks: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for item in items:
        if current and size + len(item) > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item)
    if current:
        chunks.append(current)
    return chunks


def _count(view: memoryview, item_size: int) -> int:
    (count,) = COUNT.unpack_from(view)
    if len(view) != COUNT.size + count * item_size:
        raise PacketError("malformed", f"{count} entries do not fill {len(view)} bytes")
    return count


def _decode_hello(view: memoryview, version: int) -> Hello:
    hello_ms, dead_ms, incarnation, count = HELLO_FIXED.unpack_from(view)
    fixed = HELLO_FIXED.size + (ADDRESS6.size if version == VERSION_DUAL else 0)
    if count > MAX_HELLO_NEIGHBORS or len(view) != fixed + count * RID.size:
        raise PacketError("malformed", "hello neighbour list length")
    if hello_ms == 0 or dead_ms <= hello_ms:
        raise PacketError("malformed", f"hello {hello_ms} ms / dead {dead_ms} ms")
    address6 = None
    if version == VERSION_DUAL:
        high, low = ADDRESS6.unpack_from(view, HELLO_FIXED.size)
        address6 = high << 64 | low
        what = special6(address6, 128)
        if what is not None:
            raise PacketError("malformed", f"hello address6 is {what}")
    neighbors = tuple(RID.unpack_from(view, fixed + i * RID.size)[0] for i in range(count))
    return Hello(hello_ms / 1000, dead_ms / 1000, incarnation, neighbors, address6)


def _decode_lsas(view: memoryview, version: int) -> tuple[LSA, ...]:
    (count,) = COUNT.unpack_from(view)
    head = LSA_HEAD6 if version == VERSION_DUAL else LSA_HEAD
    if count > MAX_LSAS or COUNT.size + count * head.size > len(view):
        raise PacketError("malformed", f"{count} LSAs cannot fit in {len(view)} bytes")
    offset, lsas = COUNT.size, []
    for _ in range(count):
        lsa, offset = _decode_lsa(view, offset, version)
        lsas.append(lsa)
    if offset != len(view):
        raise PacketError("malformed", f"{len(view) - offset} trailing bytes after LSAs")
    return tuple(lsas)


def _decode_lsa(view: memoryview, offset: int, version: int = VERSION) -> tuple[LSA, int]:
    if version == VERSION_DUAL:
        rid, seq, age, nlinks, nprefixes, nprefixes6 = LSA_HEAD6.unpack_from(view, offset)
        offset += LSA_HEAD6.size
    else:
        rid, seq, age, nlinks, nprefixes = LSA_HEAD.unpack_from(view, offset)
        nprefixes6 = 0
        offset += LSA_HEAD.size
    size = nlinks * LINK.size + nprefixes * PREFIX.size + nprefixes6 * PREFIX6.size
    if nlinks + nprefixes + nprefixes6 > MAX_LSA_ENTRIES or offset + size > len(view):
        raise PacketError("malformed", "LSA runs past the packet")
    links = []
    for _ in range(nlinks):
        link = Link(*LINK.unpack_from(view, offset))
        if link.cost == 0:
            raise PacketError("malformed", "link cost 0")
        links.append(link)
        offset += LINK.size
    prefixes = []
    for _ in range(nprefixes):
        prefix = Prefix(*PREFIX.unpack_from(view, offset))
        if prefix.length > 32 or prefix.network & ~mask(prefix.length) & 0xFFFFFFFF:
            raise PacketError("malformed", "bad prefix")
        prefixes.append(prefix)
        offset += PREFIX.size
    prefixes6 = []
    for _ in range(nprefixes6):
        high, low, length, metric = PREFIX6.unpack_from(view, offset)
        network = high << 64 | low
        if length > 128 or network & ~mask6(length):
            raise PacketError("malformed", "bad IPv6 prefix")
        what = special6(network, length)
        if what is not None:
            raise PacketError("malformed", f"IPv6 prefix in {what}")
        prefixes6.append(Prefix(network, length, metric))
        offset += PREFIX6.size
    return LSA(rid, seq, age, tuple(links), tuple(prefixes), tuple(prefixes6)), offset


def _decode_acks(view: memoryview, version: int) -> tuple[AckEntry, ...]:
    count = _count(view, ACK_ENTRY.size)
    return tuple(AckEntry(*ACK_ENTRY.unpack_from(view, COUNT.size + i * ACK_ENTRY.size))
                 for i in range(count))


_DECODERS: dict[int, Callable[[memoryview, int], Body]] = {HELLO: _decode_hello, LSU: _decode_lsas,
                                                           ACK: _decode_acks}
