"""The DHCP message (RFC 2131) and its options (RFC 2132): bytes <-> DhcpMessage.

A DHCP message is a BOOTP message (RFC 951) whose "vendor" area starts with a
magic cookie and holds options.  All numbers are big-endian:

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +---------------+---------------+---------------+---------------+
    |  op (1)       |  htype (1)    |  hlen (1)     |  hops (1)     |   op: 1 request, 2 reply
    +---------------+---------------+---------------+---------------+   htype 1 = Ethernet, hlen 6
    |                         xid (4)                               |   transaction id, chosen by the client
    +-------------------------------+-------------------------------+
    |  secs (2)                     |  flags (2)                    |   flags: top bit = BROADCAST
    +-------------------------------+-------------------------------+
    |                     ciaddr (4)  client's address, if it has one
    |                     yiaddr (4)  "your" address: what the server gives
    |                     siaddr (4)  next server (boot), 0 here
    |                     giaddr (4)  relay agent's address, 0 if not relayed
    |                     chaddr (16) client hardware address (MAC + padding)
    |                     sname  (64) server host name (unused here, zeros)
    |                     file  (128) boot file name   (unused here, zeros)
    +---------------------------------------------------------------+   236 bytes so far
    |  99  |  130  |  83  |  99  |   the magic cookie                |   240
    +---------------------------------------------------------------+
    |  options: code (1), length (1), value (length) ... , 255 end  |
    +---------------------------------------------------------------+

Options 0 (pad) and 255 (end) are one byte, with no length.  An option longer
than 255 bytes is sent as several consecutive options of the same code, which
the receiver concatenates (RFC 3396); decode() does that for any repeated code.
The options this lab uses:

    53 message type (1 byte, DISCOVER=1 ... INFORM=8)   1 subnet mask (4)
    54 server identifier (4)      50 requested address (4)      3 router (4n)
    51 lease time, seconds (4)    58 renewal T1 (4)   59 rebinding T2 (4)
     6 DNS servers (4n)           15 domain name (text)        12 host name (text)
    61 client identifier (type byte + bytes)   55 parameter request list (codes)
    57 maximum message size (2)   82 relay agent information (sub-options, RFC 3046)
    52 option overload: refused (sname/file holding options is not supported)

Limits (a datagram is untrusted input): a message is at most MAX_MESSAGE bytes
(1500, an Ethernet MTU; longer ones are refused, not cut), at most MAX_OPTIONS
options; a reply we build is padded to at least 300 bytes (the BOOTP minimum
some clients insist on) and is refused past 576 bytes (the size every client
must accept, RFC 2131 section 2) unless the caller allows more.  Anything
malformed raises DhcpError (a ValueError) whose text says what is wrong;
decode() raises nothing else, whatever the bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

MAX_MESSAGE = 1500      # bytes of a message we accept (an Ethernet payload)
MIN_REPLY = 300         # bytes: BOOTP's minimum, replies are padded to it
MAX_REPLY = 576         # bytes: what every client must accept
MAX_OPTIONS = 128       # options (after joining repeats) in one message
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # 236 bytes
MAGIC = b"\x63\x82\x53\x63"
FIXED = HEADER.size + len(MAGIC)  # 240: header plus cookie

BOOTREQUEST, BOOTREPLY = 1, 2
FLAG_BROADCAST = 0x8000
SERVER_PORT, CLIENT_PORT = 67, 68

# message types (option 53)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
TYPE_NAMES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE",
              ACK: "ACK", NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM"}

# option codes
PAD, END = 0, 255
SUBNET_MASK, ROUTER, DNS, HOSTNAME, DOMAIN = 1, 3, 6, 12, 15
REQUESTED_IP, LEASE_TIME, OVERLOAD, MESSAGE_TYPE, SERVER_ID = 50, 51, 52, 53, 54
PARAM_LIST, MESSAGE, MAX_SIZE, RENEWAL_T1, REBINDING_T2, CLIENT_ID = 55, 56, 57, 58, 59, 61
RELAY_AGENT_INFO = 82
RELAY_CIRCUIT_ID, RELAY_REMOTE_ID = 1, 2  # sub-options of option 82

ZERO = ipaddress.IPv4Address(0)


class DhcpError(ValueError):
    """A DHCP message (or option) that cannot be decoded or encoded."""


@dataclass
class DhcpMessage:
    """One DHCP message.  Addresses are IPv4Address; options maps an option
    code to its raw value bytes, in the order they appeared (or will be sent)."""

    op: int = BOOTREQUEST
    xid: int = 0
    chaddr: bytes = b""                 # hardware address, hlen bytes (a MAC: 6)
    htype: int = 1
    hops: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: ipaddress.IPv4Address = ZERO
    yiaddr: ipaddress.IPv4Address = ZERO
    siaddr: ipaddress.IPv4Address = ZERO
    giaddr: ipaddress.IPv4Address = ZERO
    sname: bytes = b""
    file: bytes = b""
    options: dict[int, bytes] = field(default_factory=dict)

    # -- typed views of the options this lab uses ---------------------------
    @property
    def type(self) -> int | None:
        """The message type (option 53), None for a BOOTP message without one."""
        value = self.options.get(MESSAGE_TYPE)
        return value[0] if value and len(value) == 1 else None

    @property
    def type_name(self) -> str:
        kind = self.type
        return TYPE_NAMES.get(kind, f"type {kind}") if kind is not None else "BOOTP"

    @property
    def mac(self) -> str:
        """chaddr as "02:00:00:00:00:01"."""
        return ":".join(f"{b:02x}" for b in self.chaddr)

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & FLAG_BROADCAST)

    def address_option(self, code: int) -> ipaddress.IPv4Address | None:
        """A single-address option (50, 54, ...), None if absent or not 4 bytes."""
        value = self.options.get(code)
        return ipaddress.IPv4Address(value) if value is not None and len(value) == 4 else None

    def text_option(self, code: int) -> str | None:
        """A text option (12, 15, ...), NULs stripped, undecodable bytes replaced."""
        value = self.options.get(code)
        return value.rstrip(b"\x00").decode("utf-8", "replace") if value is not None else None

    def set_type(self, kind: int) -> None:
        self.options[MESSAGE_TYPE] = bytes([kind])


# -- option values --------------------------------------------------------

def ip_bytes(*addresses) -> bytes:
    """Option value of one or more IPv4 addresses (strings or IPv4Address)."""
    return b"".join(ipaddress.IPv4Address(a).packed for a in addresses)


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def decode_addresses(value: bytes) -> list[ipaddress.IPv4Address]:
    """An option holding 4n bytes of addresses (3 router, 6 DNS)."""
    if len(value) % 4 or not value:
        raise DhcpError(f"address list of {len(value)} bytes is not a multiple of 4")
    return [ipaddress.IPv4Address(value[i:i + 4]) for i in range(0, len(value), 4)]


def decode_suboptions(value: bytes) -> dict[int, bytes]:
    """Relay agent information (option 82): sub-options code, length, value."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(value):
        if i + 2 > len(value):
            raise DhcpError(f"relay agent sub-option at byte {i} has no length")
        code, length = value[i], value[i + 1]
        if i + 2 + length > len(value):
            raise DhcpError(f"relay agent sub-option {code} runs past the end of option 82")
        out[code] = out.get(code, b"") + value[i + 2:i + 2 + length]
        i += 2 + length
    return out


def encode_suboptions(subs: dict[int, bytes]) -> bytes:
    out = bytearray()
    for code, value in subs.items():
        if not 0 <= code <= 255 or len(value) > 255:
            raise DhcpError(f"relay agent sub-option {code} is not encodable")
        out += bytes([code, len(value)]) + value
    if len(out) > 255:
        raise DhcpError("relay agent information longer than 255 bytes")
    return bytes(out)


# -- the codec -------------------------------------------------------------

def decode_options(data: bytes, start: int) -> dict[int, bytes]:
    """The options from data[start:], up to the end option (or the end of data)."""
    options: dict[int, bytes] = {}
    i = start
    while i < len(data):
        code = data[i]
        if code == END:
            return options
        if code == PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            raise DhcpError(f"option {code} at byte {i} is truncated (no length byte)")
        length = data[i + 1]
        if i + 2 + length > len(data):
            raise DhcpError(f"option {code} at byte {i} says {length} bytes, "
                            f"only {len(data) - i - 2} are left")
        if code == OVERLOAD:
            raise DhcpError("option overload (52) is not supported")
        if code not in options and len(options) >= MAX_OPTIONS:
            raise DhcpError(f"more than {MAX_OPTIONS} options")
        options[code] = options.get(code, b"") + data[i + 2:i + 2 + length]  # RFC 3396: join repeats
        i += 2 + length
    return options  # no end option: tolerated, as most servers do


def decode(data: bytes) -> DhcpMessage:
    """A DhcpMessage from the bytes of a UDP payload; DhcpError if malformed."""
    if len(data) > MAX_MESSAGE:
        raise DhcpError(f"message of {len(data)} bytes is longer than {MAX_MESSAGE}")
    if len(data) < FIXED:
        raise DhcpError(f"message of {len(data)} bytes is shorter than the {FIXED}-byte "
                        "header and cookie")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
     chaddr, sname, file) = HEADER.unpack_from(data)
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DhcpError(f"op {op} is neither request (1) nor reply (2)")
    if hlen > 16:
        raise DhcpError(f"hardware address length {hlen} is more than 16")
    if data[HEADER.size:FIXED] != MAGIC:
        raise DhcpError(f"wrong magic cookie {data[HEADER.size:FIXED].hex()} (want 63825363)")
    options = decode_options(data, FIXED)
    return DhcpMessage(op=op, xid=xid, chaddr=chaddr[:hlen], htype=htype, hops=hops, secs=secs,
                       flags=flags, ciaddr=ipaddress.IPv4Address(ciaddr),
                       yiaddr=ipaddress.IPv4Address(yiaddr), siaddr=ipaddress.IPv4Address(siaddr),
                       giaddr=ipaddress.IPv4Address(giaddr), sname=sname.rstrip(b"\x00"),
                       file=file.rstrip(b"\x00"), options=options)


def encode(msg: DhcpMessage, max_size: int = MAX_REPLY) -> bytes:
    """The bytes of a message: header, cookie, options (message type first),
    end option, zero padding to MIN_REPLY bytes.  DhcpError if a field does
    not fit or the result is longer than max_size."""
    if len(msg.chaddr) > 16 or len(msg.sname) > 64 or len(msg.file) > 128:
        raise DhcpError("chaddr, sname or file too long")
    try:
        header = HEADER.pack(msg.op, msg.htype, len(msg.chaddr), msg.hops, msg.xid, msg.secs,
                             msg.flags, msg.ciaddr.packed, msg.yiaddr.packed, msg.siaddr.packed,
                             msg.giaddr.packed, msg.chaddr, msg.sname, msg.file)
    except struct.error as exc:
        raise DhcpError(f"header field out of range: {exc}") from None
    out = bytearray(header + MAGIC)
    codes = sorted(msg.options, key=lambda c: c != MESSAGE_TYPE)  # 53 first, else in order
    for code in codes:
        if not 0 < code < 255:
            raise DhcpError(f"option code {code} cannot be sent")
        value = msg.options[code]
        if not value:
            out += bytes([code, 0])
        for i in range(0, len(value), 255):  # long values: split (RFC 3396)
            chunk = value[i:i + 255]
            out += bytes([code, len(chunk)]) + chunk
    out.append(END)
    if len(out) < MIN_REPLY:
        out += bytes(MIN_REPLY - len(out))
    if len(out) > max_size:
        raise DhcpError(f"message of {len(out)} bytes is longer than {max_size}")
    return bytes(out)


def parse_mac(text: str) -> bytes:
    """b"\\x02\\x00..." from "02:00:00:00:00:01" (or with dashes); ValueError if not a MAC."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None
