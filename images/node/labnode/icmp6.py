"""ICMPv6 messages built and read by hand: echo (RFC 4443) and Neighbor
Discovery (RFC 4861), for the router-advertisement daemon, probes and captures.

Every ICMPv6 message starts with the same four bytes:

    type(1) code(1) checksum(2) ...

    echo request/reply (128/129):  identifier(2) sequence(2) data
    router solicitation (133):     reserved(4) options
    router advertisement (134):    cur hop limit(1) flags(1: M 0x80, O 0x40) router lifetime(2)
                                   reachable time(4) retrans timer(4) options
    neighbor solicitation (135):   reserved(4) target address(16) options
    neighbor advertisement (136):  flags(1: R 0x80, S 0x40, O 0x20) reserved(3) target(16) options

Neighbor Discovery options are type(1) length(1, in units of 8 bytes,
type and length included) data; a length of 0 is invalid and the whole
message must be dropped (RFC 4861 section 4.6).  Read here: source and
target link-layer address (1, 2), prefix information (3), MTU (5); any other
option is kept as its raw bytes (a receiver ignores options it does not know).

The checksum (RFC 4443 section 2.3) covers an IPv6 "pseudo-header" (source,
destination, upper-layer length, next header 58; RFC 8200 section 8.1) and
the message, so it can only be computed or checked knowing both addresses.
Unlike IPv4's ICMP, the IP layer itself has no header checksum: this one is
all that protects the addresses.

parse() is bounded (at most MAX_MESSAGE bytes, MAX_OPTIONS options) and raises
nothing but Icmp6Error (a ValueError) on bad input.  Parsed messages are
frozen dataclasses; build() turns one back into bytes, parse(build(m)) == m.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from labnode.checksum import internet_checksum

NEXT_HEADER = 58           # ICMPv6 in IPv6's next-header field
MAX_MESSAGE = 1500         # bytes of ICMPv6 message accepted (an Ethernet MTU; NDP never needs more)
MAX_OPTIONS = 64           # options in one message (a real RA carries a handful)

ECHO_REQUEST = 128
ECHO_REPLY = 129
ROUTER_SOLICITATION = 133
ROUTER_ADVERTISEMENT = 134
NEIGHBOR_SOLICITATION = 135
NEIGHBOR_ADVERTISEMENT = 136

OPT_SOURCE_LLADDR = 1
OPT_TARGET_LLADDR = 2
OPT_PREFIX_INFO = 3
OPT_MTU = 5

INFINITE = 0xFFFFFFFF      # a prefix lifetime that never runs out

TYPE_NAMES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
    ECHO_REQUEST: "echo request", ECHO_REPLY: "echo reply",
    ROUTER_SOLICITATION: "router solicitation", ROUTER_ADVERTISEMENT: "router advertisement",
    NEIGHBOR_SOLICITATION: "neighbor solicitation", NEIGHBOR_ADVERTISEMENT: "neighbor advertisement",
    137: "redirect", 143: "MLDv2 report",
}

_HEAD = struct.Struct("!BBH")
_ECHO = struct.Struct("!HH")
_RA = struct.Struct("!BBHII")
_PREFIX = struct.Struct("!BBBBIII16s")
_MTU = struct.Struct("!BBHI")

Address = str | bytes | ipaddress.IPv6Address


class Icmp6Error(ValueError):
    """Bytes that are not a valid ICMPv6 message of a known type (or values
    that do not fit one, when building)."""


# --- checksum -------------------------------------------------------------

def _address(value: Address) -> bytes:
    """16 bytes of an IPv6 address given as text, bytes or IPv6Address."""
    if isinstance(value, ipaddress.IPv6Address):
        return value.packed
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise Icmp6Error(f"an IPv6 address is 16 bytes, not {len(value)}")
        return bytes(value)
    if isinstance(value, str):
        try:
            return ipaddress.IPv6Address(value.split("%", 1)[0]).packed
        except ValueError:
            raise Icmp6Error(f"not an IPv6 address: {value[:60]!r}") from None
    raise Icmp6Error(f"not an IPv6 address: {type(value).__name__}")


def pseudo_header(src: Address, dst: Address, length: int, next_header: int = NEXT_HEADER) -> bytes:
    """The IPv6 pseudo-header of RFC 8200 section 8.1: source(16)
    destination(16) upper-layer packet length(4) zero(3) next header(1)."""
    if not 0 <= length <= 0xFFFFFFFF:
        raise Icmp6Error(f"upper-layer length {length} does not fit 32 bits")
    if not 0 <= next_header <= 255:
        raise Icmp6Error(f"next header {next_header} does not fit 8 bits")
    return _address(src) + _address(dst) + struct.pack("!I3xB", length, next_header)


def icmp6_checksum(src: Address, dst: Address, message: bytes) -> int:
    """The checksum to put in `message` (its own checksum field counted as zero)."""
    if len(message) < 4:
        raise Icmp6Error(f"{len(message)} bytes is too short for an ICMPv6 header")
    zeroed = bytes(message[:2]) + b"\0\0" + bytes(message[4:])
    return internet_checksum(pseudo_header(src, dst, len(message)) + zeroed)


def verify(src: Address, dst: Address, message: bytes) -> bool:
    """True if `message`, sent from src to dst, carries a correct checksum."""
    if len(message) < 4:
        return False
    return internet_checksum(pseudo_header(src, dst, len(message)) + bytes(message)) == 0


def with_checksum(src: Address, dst: Address, message: bytes) -> bytes:
    """`message` with its checksum field filled in for src -> dst."""
    checksum = icmp6_checksum(src, dst, message)
    return bytes(message[:2]) + struct.pack("!H", checksum) + bytes(message[4:])


# --- messages -------------------------------------------------------------

@dataclass(frozen=True)
class PrefixInfo:
    """Prefix Information option (type 3, RFC 4861 section 4.6.2)."""
    prefix: ipaddress.IPv6Network
    on_link: bool = True            # L: addresses in it are on this link
    autonomous: bool = True         # A: hosts may make their own address in it (SLAAC)
    valid_lifetime: int = 86400     # seconds (INFINITE: forever)
    preferred_lifetime: int = 14400


@dataclass(frozen=True)
class _Echo:
    ident: int = 0
    seq: int = 0
    payload: bytes = b""


@dataclass(frozen=True)
class EchoRequest(_Echo):
    TYPE: ClassVar[int] = ECHO_REQUEST


@dataclass(frozen=True)
class EchoReply(_Echo):
    TYPE: ClassVar[int] = ECHO_REPLY


Option = tuple[int, bytes]   # an option kept raw: (type, the bytes after type and length)


@dataclass(frozen=True)
class RouterSolicitation:
    TYPE: ClassVar[int] = ROUTER_SOLICITATION
    source_lladdr: bytes | None = None
    other_options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class RouterAdvertisement:
    TYPE: ClassVar[int] = ROUTER_ADVERTISEMENT
    cur_hop_limit: int = 64         # 0: unspecified
    managed: bool = False           # M: addresses from DHCPv6
    other: bool = False             # O: other configuration from DHCPv6
    router_lifetime: int = 1800     # seconds as a default router (0: not a default router)
    reachable_time: int = 0         # milliseconds (0: unspecified)
    retrans_timer: int = 0          # milliseconds (0: unspecified)
    source_lladdr: bytes | None = None
    mtu: int | None = None
    prefixes: tuple[PrefixInfo, ...] = ()
    other_options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class NeighborSolicitation:
    TYPE: ClassVar[int] = NEIGHBOR_SOLICITATION
    target: ipaddress.IPv6Address
    source_lladdr: bytes | None = None
    other_options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class NeighborAdvertisement:
    TYPE: ClassVar[int] = NEIGHBOR_ADVERTISEMENT
    target: ipaddress.IPv6Address
    router: bool = False            # R: the sender is a router
    solicited: bool = False         # S: an answer to a solicitation
    override: bool = False          # O: replace a cached link-layer address
    target_lladdr: bytes | None = None
    other_options: tuple[Option, ...] = ()


Message = (EchoRequest | EchoReply | RouterSolicitation | RouterAdvertisement
           | NeighborSolicitation | NeighborAdvertisement)


# --- options --------------------------------------------------------------

@dataclass
class _Options:
    source_lladdr: bytes | None = None
    target_lladdr: bytes | None = None
    mtu: int | None = None
    prefixes: tuple[PrefixInfo, ...] = ()
    other: tuple[Option, ...] = ()


def _parse_options(data: bytes, allowed: frozenset[int]) -> _Options:
    """The options of a message; those not in `allowed` (not defined for
    this message type) and unknown ones are kept raw.  A repeated source or
    target address or MTU option is ignored after the first, as Linux does."""
    found = _Options()
    prefixes: list[PrefixInfo] = []
    other: list[Option] = []
    offset = count = 0
    while offset < len(data):
        count += 1
        if count > MAX_OPTIONS:
            raise Icmp6Error(f"more than {MAX_OPTIONS} options")
        if len(data) - offset < 2:
            raise Icmp6Error(f"truncated option at byte {offset}")
        kind, units = data[offset], data[offset + 1]
        if units == 0:
            raise Icmp6Error(f"option type {kind} has length 0 (RFC 4861 4.6: drop the message)")
        end = offset + units * 8
        if end > len(data):
            raise Icmp6Error(f"option type {kind} claims {units * 8} bytes, {len(data) - offset} left")
        body = data[offset + 2:end]
        offset = end
        if kind not in allowed:
            other.append((kind, body))
        elif kind in (OPT_SOURCE_LLADDR, OPT_TARGET_LLADDR):
            attr = "source_lladdr" if kind == OPT_SOURCE_LLADDR else "target_lladdr"
            if getattr(found, attr) is None:
                # Ethernet: 6 bytes, filling an 8-byte option; another link
                # layer's address comes with its padding.
                setattr(found, attr, body)
        elif kind == OPT_MTU:
            if units != 1:
                raise Icmp6Error(f"MTU option of length {units} (must be 1)")
            if found.mtu is None:
                found.mtu = struct.unpack_from("!I", body, 2)[0]
        elif kind == OPT_PREFIX_INFO:
            if units != 4:
                raise Icmp6Error(f"prefix information option of length {units} (must be 4)")
            length, flags, valid, preferred, _, raw = _PREFIX.unpack(data[end - 32:end])[2:]
            if length > 128:
                raise Icmp6Error(f"prefix length {length} is over 128")
            # Bits after the prefix length are reserved: ignored by a receiver.
            network = ipaddress.IPv6Network((raw, length), strict=False)
            prefixes.append(PrefixInfo(network, bool(flags & 0x80), bool(flags & 0x40), valid, preferred))
    found.prefixes = tuple(prefixes)
    found.other = tuple(other)
    return found


def _pack_lladdr(kind: int, address: bytes) -> bytes:
    body = bytes(address)
    if not body:
        raise Icmp6Error("empty link-layer address")
    padded = body + b"\0" * (-(len(body) + 2) % 8)
    return _pack_raw(kind, padded)


def _pack_raw(kind: int, body: bytes) -> bytes:
    if not 0 <= kind <= 255:
        raise Icmp6Error(f"option type {kind} does not fit 8 bits")
    if (len(body) + 2) % 8 or not 8 <= len(body) + 2 <= 255 * 8:
        raise Icmp6Error(f"option type {kind}: {len(body)} bytes of data is not 8n - 2 (n 1..255)")
    return struct.pack("!BB", kind, (len(body) + 2) // 8) + bytes(body)


def _pack_prefix(info: PrefixInfo) -> bytes:
    _check_u32("valid lifetime", info.valid_lifetime)
    _check_u32("preferred lifetime", info.preferred_lifetime)
    flags = (0x80 if info.on_link else 0) | (0x40 if info.autonomous else 0)
    return _PREFIX.pack(OPT_PREFIX_INFO, 4, info.prefix.prefixlen, flags, info.valid_lifetime,
                        info.preferred_lifetime, 0, info.prefix.network_address.packed)


def _check(name: str, value: int, bits: int) -> None:
    if not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise Icmp6Error(f"{name} {value!r} does not fit {bits} bits")


def _check_u32(name: str, value: int) -> None:
    _check(name, value, 32)


def _pack_others(options: tuple[Option, ...]) -> bytes:
    return b"".join(_pack_raw(kind, body) for kind, body in options)


# --- build ----------------------------------------------------------------

def build(message: Message, src: Address | None = None, dst: Address | None = None) -> bytes:
    """The bytes of `message`; with src and dst, its checksum is filled in
    (else left 0: a raw ICMPv6 socket fills it in anyway, RFC 3542)."""
    body = _body(message)
    data = _HEAD.pack(message.TYPE, 0, 0) + body
    if len(data) > MAX_MESSAGE:
        raise Icmp6Error(f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    if src is not None and dst is not None:
        return with_checksum(src, dst, data)
    return data


def _body(message: Message) -> bytes:
    if isinstance(message, EchoRequest | EchoReply):
        _check("identifier", message.ident, 16)
        _check("sequence", message.seq, 16)
        return _ECHO.pack(message.ident, message.seq) + bytes(message.payload)
    if isinstance(message, RouterSolicitation):
        lladdr = (b"" if message.source_lladdr is None
                  else _pack_lladdr(OPT_SOURCE_LLADDR, message.source_lladdr))
        return b"\0\0\0\0" + lladdr + _pack_others(message.other_options)
    if isinstance(message, RouterAdvertisement):
        _check("cur hop limit", message.cur_hop_limit, 8)
        _check("router lifetime", message.router_lifetime, 16)
        _check_u32("reachable time", message.reachable_time)
        _check_u32("retrans timer", message.retrans_timer)
        flags = (0x80 if message.managed else 0) | (0x40 if message.other else 0)
        parts = [_RA.pack(message.cur_hop_limit, flags, message.router_lifetime,
                          message.reachable_time, message.retrans_timer)]
        if message.source_lladdr is not None:
            parts.append(_pack_lladdr(OPT_SOURCE_LLADDR, message.source_lladdr))
        if message.mtu is not None:
            _check_u32("MTU", message.mtu)
            parts.append(_MTU.pack(OPT_MTU, 1, 0, message.mtu))
        parts += [_pack_prefix(info) for info in message.prefixes]
        parts.append(_pack_others(message.other_options))
        return b"".join(parts)
    if isinstance(message, NeighborSolicitation):
        lladdr = (b"" if message.source_lladdr is None
                  else _pack_lladdr(OPT_SOURCE_LLADDR, message.source_lladdr))
        return b"\0\0\0\0" + _address(message.target) + lladdr + _pack_others(message.other_options)
    if isinstance(message, NeighborAdvertisement):
        flags = ((0x80 if message.router else 0) | (0x40 if message.solicited else 0)
                 | (0x20 if message.override else 0))
        lladdr = (b"" if message.target_lladdr is None
                  else _pack_lladdr(OPT_TARGET_LLADDR, message.target_lladdr))
        return (struct.pack("!B3x", flags) + _address(message.target) + lladdr
                + _pack_others(message.other_options))
    raise Icmp6Error(f"cannot build {type(message).__name__}")


# --- parse ----------------------------------------------------------------

_MIN_LENGTH = {ECHO_REQUEST: 8, ECHO_REPLY: 8, ROUTER_SOLICITATION: 8, ROUTER_ADVERTISEMENT: 16,
               NEIGHBOR_SOLICITATION: 24, NEIGHBOR_ADVERTISEMENT: 24}


def parse(data: bytes) -> Message:
    """An ICMPv6 message (as read from a raw ICMPv6 socket: no IPv6 header).

    The checksum is not checked here (it needs the addresses: verify()).
    Checked: size bounds, a known type, code 0, the minimum length of the
    type, every option well-formed (RFC 4861 section 6.1 validity checks a
    message alone can pass; hop limit 255 and the source address are the
    receiver's to check).
    """
    if len(data) > MAX_MESSAGE:
        raise Icmp6Error(f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    data = bytes(data)
    if len(data) < 4:
        raise Icmp6Error(f"{len(data)} bytes is too short for an ICMPv6 header")
    kind, code = data[0], data[1]
    if kind not in _MIN_LENGTH:
        name = TYPE_NAMES.get(kind)
        raise Icmp6Error(f"ICMPv6 type {kind}{f' ({name})' if name else ''} is not read here")
    if code != 0:
        raise Icmp6Error(f"{TYPE_NAMES[kind]} with code {code} (must be 0)")
    if len(data) < _MIN_LENGTH[kind]:
        raise Icmp6Error(f"{TYPE_NAMES[kind]} of {len(data)} bytes (at least {_MIN_LENGTH[kind]})")
    if kind in (ECHO_REQUEST, ECHO_REPLY):
        ident, seq = _ECHO.unpack_from(data, 4)
        cls = EchoRequest if kind == ECHO_REQUEST else EchoReply
        return cls(ident, seq, data[8:])
    if kind == ROUTER_SOLICITATION:
        opts = _parse_options(data[8:], frozenset({OPT_SOURCE_LLADDR}))
        return RouterSolicitation(opts.source_lladdr, opts.other)
    if kind == ROUTER_ADVERTISEMENT:
        hop_limit, flags, lifetime, reachable, retrans = _RA.unpack_from(data, 4)
        opts = _parse_options(data[16:], frozenset({OPT_SOURCE_LLADDR, OPT_MTU, OPT_PREFIX_INFO}))
        return RouterAdvertisement(hop_limit, bool(flags & 0x80), bool(flags & 0x40), lifetime,
                                   reachable, retrans, opts.source_lladdr, opts.mtu, opts.prefixes,
                                   opts.other)
    target = ipaddress.IPv6Address(data[8:24])
    if target.is_multicast:
        raise Icmp6Error(f"{TYPE_NAMES[kind]} for multicast target {target}")
    if kind == NEIGHBOR_SOLICITATION:
        opts = _parse_options(data[24:], frozenset({OPT_SOURCE_LLADDR}))
        return NeighborSolicitation(target, opts.source_lladdr, opts.other)
    flags = data[4]
    opts = _parse_options(data[24:], frozenset({OPT_TARGET_LLADDR}))
    return NeighborAdvertisement(target, bool(flags & 0x80), bool(flags & 0x40), bool(flags & 0x20),
                                 opts.target_lladdr, opts.other)


# --- describe -------------------------------------------------------------

def mac_text(address: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in address)


def _seconds(value: int) -> str:
    return "infinite" if value == INFINITE else f"{value} s"


def _prefix_text(info: PrefixInfo) -> str:
    flags = [name for name, on in (("on-link", info.on_link), ("autonomous", info.autonomous)) if on]
    flags += [f"valid {_seconds(info.valid_lifetime)}", f"preferred {_seconds(info.preferred_lifetime)}"]
    return f"prefix {info.prefix} ({', '.join(flags)})"


def _sender(src: Address | None, lladdr: bytes | None) -> str:
    parts = []
    if src is not None:
        try:
            parts.append(str(ipaddress.IPv6Address(_address(src))))
        except Icmp6Error:
            parts.append("?")
    if lladdr is not None:
        parts.append(mac_text(lladdr) if src is None else f"({mac_text(lladdr)})")
    return f" from {' '.join(parts)}" if parts else ""


def describe(message: Message | bytes, src: Address | None = None) -> str:
    """One line for a person reading a capture, e.g.
    "RA from fe80::1 (02:00:00:00:00:01), lifetime 1800 s, mtu 1500, prefix
    fd12:3456:789a:1::/64 (on-link, autonomous, valid 86400 s, preferred 14400 s)".

    Bytes are parsed first; bytes that do not parse are described, not raised.
    """
    if isinstance(message, bytes | bytearray | memoryview):
        try:
            return describe(parse(bytes(message)), src)
        except Icmp6Error as exc:
            return f"not a valid ICMPv6 message: {exc}"
    if isinstance(message, EchoRequest | EchoReply):
        kind = "echo request" if isinstance(message, EchoRequest) else "echo reply"
        return f"{kind}{_sender(src, None)}, id {message.ident} seq {message.seq}, {len(message.payload)} bytes of data"
    if isinstance(message, RouterSolicitation):
        return f"RS (router solicitation){_sender(src, message.source_lladdr)}"
    if isinstance(message, RouterAdvertisement):
        parts = [f"RA{_sender(src, message.source_lladdr)}"]
        if message.router_lifetime:
            parts.append(f"lifetime {message.router_lifetime} s")
        else:
            parts.append("lifetime 0 (not a default router)")
        if message.managed:
            parts.append("managed (M: addresses by DHCPv6)")
        if message.other:
            parts.append("other (O: more settings by DHCPv6)")
        if message.cur_hop_limit:
            parts.append(f"hop limit {message.cur_hop_limit}")
        if message.mtu is not None:
            parts.append(f"mtu {message.mtu}")
        parts += [_prefix_text(info) for info in message.prefixes]
        if message.other_options:
            parts.append("other options " + ",".join(str(kind) for kind, _ in message.other_options))
        return ", ".join(parts)
    if isinstance(message, NeighborSolicitation):
        return f"NS (who has {message.target}?){_sender(src, message.source_lladdr)}"
    if isinstance(message, NeighborAdvertisement):
        flags = [name for name, on in (("router", message.router), ("solicited", message.solicited),
                                       ("override", message.override)) if on]
        at = f" is at {mac_text(message.target_lladdr)}" if message.target_lladdr is not None else ""
        return (f"NA ({message.target}{at}){_sender(src, None)}"
                + (f", {', '.join(flags)}" if flags else ""))
    return f"{type(message).__name__}"
