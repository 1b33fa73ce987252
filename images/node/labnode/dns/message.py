"""DNS messages (RFC 1035 section 4) as bytes and back: a bounded codec.

A message is a 12-byte header and four sections:

     0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15    (bits of each 16-bit word)
    +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
    |                      ID                       |  matches a reply to its query
    |QR|  Opcode   |AA|TC|RD|RA|Z |AD|CD|   RCODE   |  QR 1 = response; AA authoritative;
    |                    QDCOUNT                    |  TC truncated; RD recursion desired;
    |                    ANCOUNT                    |  RA recursion available
    |                    NSCOUNT                    |
    |                    ARCOUNT                    |
    +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
    question   QDCOUNT x  NAME  TYPE(16)  CLASS(16)
    answer     ANCOUNT x  NAME  TYPE(16)  CLASS(16)  TTL(32)  RDLENGTH(16)  RDATA
    authority  NSCOUNT x  (same record layout)
    additional ARCOUNT x  (same record layout)

A NAME is a sequence of labels, each a length byte (1..63) and that many
bytes, ended by a zero byte (the root).  Instead of a length byte a name may
end with a two-byte *pointer* (top two bits 11, then a 14-bit offset from the
start of the message) to the rest of the name written earlier: that is name
compression.  `www.example.com` is 03 'www' 07 'example' 03 'com' 00.

RDATA by type (all integers big-endian):

    A      4 bytes address           AAAA   16 bytes address
    NS     NAME                      CNAME  NAME            PTR  NAME
    MX     PREFERENCE(16) NAME       TXT    one or more (length byte, bytes)
    SOA    MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM (five 32-bit numbers)
    other  kept as opaque bytes
    OPT    (EDNS, RFC 6891) a pseudo-record in the additional section: root
           name, CLASS = the sender's UDP payload size, TTL = extended rcode,
           version and flags.  decode() takes it out of the additional section
           into Message.edns (the size, at least 512); encode() puts it back.

In Python a name is a str of dot-separated labels with no trailing dot; the
root is "".  Labels may hold printable ASCII except "." and space (bytes
0x21-0x7e): enough for every host name, and a name never needs escaping.
Comparisons ignore ASCII case (key()).

Limits (every violation raises DnsError, a ValueError, with one clear line;
decode never raises anything else):

    message        at most 65535 bytes (the TCP length prefix's limit)
    records        at most MAX_RECORDS per section; a count that the remaining
                   bytes cannot hold (a question needs 5 bytes, a record 11) is
                   refused before anything is parsed
    labels         1..63 bytes; a name at most 255 bytes on the wire
    pointers       must point strictly backwards (before the pointer itself),
                   at most MAX_POINTER_JUMPS per name: loops cannot happen
    rdata          must fit RDLENGTH exactly; typed rdata is checked (A is 4 bytes)

UDP replies are cut to 512 bytes, or to the client's EDNS size (at most
MAX_UDP_PAYLOAD) when its query carried an OPT record: see encode(limit=).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from dataclasses import dataclass, field, replace
from typing import Any

MAX_MESSAGE = 65535
MAX_RECORDS = 256          # per section; real replies carry a handful
MAX_POINTER_JUMPS = 32     # a 255-byte name has at most 127 labels; real names need 1-3 jumps
MAX_LABEL = 63
MAX_NAME = 255             # wire length, including length bytes and the final zero
UDP_LIMIT = 512            # a reply over UDP without EDNS
MAX_UDP_PAYLOAD = 4096     # the most we send over UDP whatever EDNS size a client offers

# Types, classes, rcodes, opcodes.
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, OPT, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 41, 255
IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
QUERY = 0

TYPE_NAMES = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", MX: "MX", TXT: "TXT",
              AAAA: "AAAA", OPT: "OPT", ANY: "ANY"}
TYPES = {name: number for number, name in TYPE_NAMES.items()}
RCODE_NAMES = {NOERROR: "NOERROR", FORMERR: "FORMERR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
               NOTIMP: "NOTIMP", REFUSED: "REFUSED"}
NAME_TYPES = (NS, CNAME, PTR)  # rdata is one name


class DnsError(ValueError):
    """A message (or a name or a record) that this codec refuses."""


_BAD_TEXT = re.compile(r"[^\x21-\x2d\x2f-\x7e]")    # outside printable ASCII, or a dot
_BAD_BYTES = re.compile(rb"[^\x21-\x2d\x2f-\x7e]")


def type_name(rtype: int) -> str:
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode, f"RCODE{rcode}")


# -- names ---------------------------------------------------------------------

def key(name: str) -> str:
    """The form in which names are compared and looked up: ASCII lower case."""
    return name.lower()


def labels_of(name: str) -> list[str]:
    """The labels of a name, checked: 'www.example.lab' -> ['www', 'example', 'lab']."""
    if not isinstance(name, str):
        raise DnsError(f"a name must be a string, not {type(name).__name__}")
    if name in ("", "."):
        return []
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    wire = 1
    for label in labels:
        if not label:
            raise DnsError(f"name {name[:80]!r} has an empty label")
        if len(label) > MAX_LABEL:
            raise DnsError(f"label longer than {MAX_LABEL} bytes in {name[:80]!r}")
        if _BAD_TEXT.search(label):
            raise DnsError(f"name {name[:80]!r} has a character outside printable ASCII")
        wire += 1 + len(label)
    if wire > MAX_NAME:
        raise DnsError(f"name longer than {MAX_NAME} bytes: {name[:80]!r}...")
    return labels


def normalize(name: str) -> str:
    """A checked name without a trailing dot ("" for the root)."""
    return ".".join(labels_of(name))


def is_subdomain(name: str, parent: str) -> bool:
    """Whether name is parent or below it (both normalized, any case)."""
    name, parent = key(name), key(parent)
    return parent == "" or name == parent or name.endswith("." + parent)


# -- records -------------------------------------------------------------------

@dataclass(frozen=True)
class SoaData:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int  # also the TTL of negative answers (RFC 2308)


@dataclass(frozen=True)
class Question:
    name: str
    qtype: int
    qclass: int = IN


@dataclass(frozen=True)
class Record:
    """One resource record.  data by type: A/AAAA the address as a str,
    NS/CNAME/PTR a name, MX (preference, name), TXT a tuple of bytes,
    SOA a SoaData, anything else the rdata bytes."""
    name: str
    rtype: int
    ttl: int
    data: object
    rclass: int = IN

    def text(self) -> str:
        """The record as in a zone file, e.g. 'www.example.lab. 300 IN A 10.0.1.10'."""
        data = self.data
        if self.rtype in NAME_TYPES:
            shown = f"{data}."
        elif self.rtype == MX:
            shown = f"{data[0]} {data[1]}."  # type: ignore[index]
        elif self.rtype == TXT:
            shown = " ".join('"' + part.decode("ascii", "backslashreplace") + '"' for part in data)  # type: ignore[attr-defined]
        elif self.rtype == SOA:
            s = data
            shown = f"{s.mname}. {s.rname}. {s.serial} {s.refresh} {s.retry} {s.expire} {s.minimum}"  # type: ignore[attr-defined]
        elif isinstance(data, bytes):
            shown = f"\\# {len(data)} {data.hex()}"
        else:
            shown = str(data)
        return f"{self.name}. {self.ttl} IN {type_name(self.rtype)} {shown}"


@dataclass
class Message:
    id: int = 0
    qr: bool = False
    opcode: int = QUERY
    aa: bool = False
    tc: bool = False
    rd: bool = False
    ra: bool = False
    ad: bool = False
    cd: bool = False
    rcode: int = NOERROR
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)
    edns: int | None = None  # the UDP payload size of an OPT record, or None for no OPT

    @property
    def question(self) -> Question:
        if len(self.questions) != 1:
            raise DnsError(f"expected one question, the message has {len(self.questions)}")
        return self.questions[0]


def query(name: str, qtype: int, id: int = 0, rd: bool = True, edns: int | None = None) -> Message:
    return Message(id=id, rd=rd, questions=[Question(normalize(name), qtype)], edns=edns)


def reply_to(request: Message, rcode: int = NOERROR) -> Message:
    """An empty response to request: same id, question, RD and CD."""
    return Message(id=request.id, qr=True, opcode=request.opcode, rd=request.rd, cd=request.cd,
                   rcode=rcode, questions=list(request.questions))


# -- encoding ------------------------------------------------------------------

class _Writer:
    """Bytes being built, with the offsets of the names written so far."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.names: dict[tuple[str, ...], int] = {}

    def name(self, name: str, compress: bool = True) -> None:
        labels = labels_of(name)
        for i in range(len(labels)):
            suffix = tuple(labels[i:])  # exact match, so that decoding gives back the same case
            if compress and suffix in self.names:
                self.buf += struct.pack("!H", 0xC000 | self.names[suffix])
                return
            if len(self.buf) < 0x4000:  # a pointer has 14 bits of offset
                self.names.setdefault(suffix, len(self.buf))
            label = labels[i].encode("ascii")
            self.buf.append(len(label))
            self.buf += label
        self.buf.append(0)

    def record(self, rr: Record) -> None:
        self.name(rr.name)
        if not 0 <= rr.ttl <= 0x7FFFFFFF:
            raise DnsError(f"TTL {rr.ttl} out of range")
        self.buf += struct.pack("!HHI", rr.rtype, rr.rclass, rr.ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        self.rdata(rr)
        length = len(self.buf) - at - 2
        if length > 0xFFFF:
            raise DnsError("rdata longer than 65535 bytes")
        struct.pack_into("!H", self.buf, at, length)

    def rdata(self, rr: Record) -> None:
        t = rr.rtype
        data: Any = rr.data
        try:
            if t == A:
                self.buf += socket.inet_pton(socket.AF_INET, data)
            elif t == AAAA:
                self.buf += ipaddress.IPv6Address(data).packed
            elif t in NAME_TYPES:
                self.name(data)
            elif t == MX:
                preference, exchange = data
                self.buf += struct.pack("!H", preference)
                self.name(exchange)
            elif t == TXT:
                for part in data:
                    if len(part) > 255:
                        raise DnsError("TXT string longer than 255 bytes")
                    self.buf.append(len(part))
                    self.buf += part
            elif t == SOA:
                s = data
                self.name(s.mname)
                self.name(s.rname)
                self.buf += struct.pack("!IIIII", s.serial, s.refresh, s.retry, s.expire, s.minimum)
            else:
                self.buf += bytes(data)
        except DnsError:
            raise
        except (ValueError, TypeError, struct.error, OSError) as exc:
            raise DnsError(f"bad {type_name(t)} data {data!r:.60}: {exc}") from None


def _flags(m: Message) -> int:
    return ((m.qr << 15) | ((m.opcode & 0xF) << 11) | (m.aa << 10) | (m.tc << 9) | (m.rd << 8)
            | (m.ra << 7) | (m.ad << 5) | (m.cd << 4) | (m.rcode & 0xF))


def _encode(m: Message) -> bytes:
    w = _Writer()
    extra = 1 if m.edns is not None else 0
    counts = (len(m.questions), len(m.answers), len(m.authority), len(m.additional) + extra)
    w.buf += struct.pack("!6H", m.id, _flags(m), *counts)
    for q in m.questions:
        w.name(q.name)
        w.buf += struct.pack("!HH", q.qtype, q.qclass)
    for rr in (*m.answers, *m.authority, *m.additional):
        w.record(rr)
    if m.edns is not None:  # OPT: root name, class = payload size, ttl 0, no options
        w.buf += struct.pack("!BHHIH", 0, OPT, max(UDP_LIMIT, min(m.edns, 0xFFFF)), 0, 0)
    if len(w.buf) > MAX_MESSAGE:
        raise DnsError(f"message longer than {MAX_MESSAGE} bytes")
    return bytes(w.buf)


def encode(m: Message, limit: int = MAX_MESSAGE) -> bytes:
    """The message as bytes, at most limit long.

    Too long: first the additional section goes (it is optional data), then
    if still too long the answer and authority sections too, with TC set so
    that the client asks again over TCP.
    """
    data = _encode(m)
    if len(data) <= limit:
        return data
    data = _encode(replace(m, additional=[]))
    if len(data) <= limit:
        return data
    return _encode(replace(m, tc=True, answers=[], authority=[], additional=[]))


# -- decoding ------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DnsError(f"message truncated in {what} at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def name(self) -> str:
        """A name at pos, following pointers; pos ends after the name's own bytes."""
        data, pos = self.data, self.pos
        labels: list[str] = []
        wire = 1
        jumps = 0
        end = None  # where reading continues once the name is done
        while True:
            if pos >= len(data):
                raise DnsError(f"name runs past the end of the message (byte {pos})")
            length = data[pos]
            if length & 0xC0 == 0xC0:
                if pos + 1 >= len(data):
                    raise DnsError(f"compression pointer cut off at byte {pos}")
                target = ((length & 0x3F) << 8) | data[pos + 1]
                if target >= pos:
                    raise DnsError(f"compression pointer at byte {pos} does not point backwards ({target})")
                jumps += 1
                if jumps > MAX_POINTER_JUMPS:
                    raise DnsError(f"name with more than {MAX_POINTER_JUMPS} compression pointers")
                if end is None:
                    end = pos + 2
                pos = target
                continue
            if length & 0xC0:
                raise DnsError(f"unknown label type {length >> 6:#04b} at byte {pos}")
            if length == 0:
                break
            label = data[pos + 1:pos + 1 + length]
            if len(label) < length:
                raise DnsError(f"label runs past the end of the message (byte {pos})")
            wire += 1 + length
            if wire > MAX_NAME:
                raise DnsError(f"name longer than {MAX_NAME} bytes")
            if _BAD_BYTES.search(label):
                raise DnsError(f"label at byte {pos} has a byte outside printable ASCII, or a dot")
            labels.append(label.decode("ascii"))
            pos += 1 + length
        self.pos = end if end is not None else pos + 1
        return ".".join(labels)

    def question(self) -> Question:
        name = self.name()
        qtype, qclass = self.unpack("!HH", "question")
        return Question(name, qtype, qclass)

    def record(self) -> Record:
        name = self.name()
        rtype, rclass, ttl, length = self.unpack("!HHIH", "record header")
        start = self.pos
        if start + length > len(self.data):
            raise DnsError(f"rdata of {name or '.'} {type_name(rtype)} runs past the end of the message")
        data = self.rdata(rtype, start + length) if rclass == IN or rtype in (OPT,) else None
        if data is None:
            data = self.data[start:start + length]
        if self.pos != start + length:
            raise DnsError(f"{type_name(rtype)} rdata of {name or '.'}: {length} bytes, but its content "
                           f"takes {self.pos - start}")
        if ttl > 0x7FFFFFFF and rtype != OPT:  # RFC 2181 8: a TTL with the top bit set means 0
            ttl = 0
        return Record(name, rtype, ttl, data, rclass)

    def rdata(self, rtype: int, end: int) -> object:
        if rtype == A:
            return socket.inet_ntop(socket.AF_INET, self.take(4, "A rdata"))
        if rtype == AAAA:
            return str(ipaddress.IPv6Address(self.take(16, "AAAA rdata")))
        if rtype in NAME_TYPES:
            return self.name()
        if rtype == MX:
            (preference,) = self.unpack("!H", "MX rdata")
            return (preference, self.name())
        if rtype == SOA:
            mname, rname = self.name(), self.name()
            return SoaData(mname, rname, *self.unpack("!IIIII", "SOA rdata"))
        if rtype == TXT:
            parts = []
            while self.pos < end:
                (n,) = self.unpack("!B", "TXT rdata")
                if self.pos + n > end:
                    raise DnsError("TXT string runs past its rdata")
                parts.append(self.take(n, "TXT rdata"))
            return tuple(parts)
        self.pos = end
        return None


def decode(data: bytes) -> Message:
    """A message from bytes; DnsError (and nothing else) if they are not one."""
    data = bytes(data)
    if len(data) > MAX_MESSAGE:
        raise DnsError(f"message longer than {MAX_MESSAGE} bytes")
    r = _Reader(data)
    ident, flags, *counts = r.unpack("!6H", "header")
    for count, what in zip(counts, ("question", "answer", "authority", "additional")):
        if count > MAX_RECORDS:
            raise DnsError(f"{count} {what} records: more than {MAX_RECORDS}")
    qd, an, ns, ar = counts
    if qd * 5 + (an + ns + ar) * 11 > len(data) - 12:
        raise DnsError(f"counts {qd}/{an}/{ns}/{ar} need more bytes than the message's {len(data)}")
    m = Message(id=ident, qr=bool(flags >> 15), opcode=(flags >> 11) & 0xF, aa=bool(flags & 0x400),
                tc=bool(flags & 0x200), rd=bool(flags & 0x100), ra=bool(flags & 0x80),
                ad=bool(flags & 0x20), cd=bool(flags & 0x10), rcode=flags & 0xF)
    m.questions = [r.question() for _ in range(qd)]
    m.answers = [r.record() for _ in range(an)]
    m.authority = [r.record() for _ in range(ns)]
    for _ in range(ar):
        rr = r.record()
        if rr.rtype != OPT:
            m.additional.append(rr)
        elif m.edns is not None:
            raise DnsError("more than one OPT record")
        elif rr.name != "":
            raise DnsError("OPT record with a name other than the root")
        else:
            m.edns = max(UDP_LIMIT, rr.rclass)
    if r.pos != len(data):
        raise DnsError(f"{len(data) - r.pos} bytes after the last record")
    return m


def peek_id(data: bytes) -> tuple[int, int] | None:
    """(id, flags) of something that starts like a message, for a FORMERR reply."""
    if len(data) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    return ident, flags
