"""Our own router-advertisement daemon (RFC 4861 section 6.2; SLAAC, RFC 4862):

    python3 -m labnode.radvd --iface eth0 --prefix fd12::/64 [--prefix ...]
                             [--interval 3] [--lifetime 1800] [--mtu N]

What it sends, from the interface's link-local address (hosts drop an RA
from any other source, RFC 4861 section 6.1.2) with hop limit 255 (hosts
drop an RA with less: it proves the sender is on the link):

    RA  cur hop limit 64, M=0 O=0, router lifetime --lifetime (seconds as a
        default router), reachable time and retrans timer 0 (unspecified);
        options: source link-layer address (the MAC in
        /sys/class/net/IFACE/address), MTU (with --mtu), and one prefix
        information option per --prefix: on-link and autonomous, valid
        lifetime 86400 s, preferred 14400 s.  A host with accept_ra=1 and
        autoconf=1 makes itself an address in each /64 (EUI-64 or "stable
        privacy", as its addr_gen_mode says) and a default route via our
        link-local address that expires after the router lifetime.

When it sends:

  * unsolicited, to ff02::1 (all nodes), every --interval seconds (default
    3).  RFC 4861 says a random interval between MinRtrAdvInterval and
    MaxRtrAdvInterval (default 200..600 s); a lab wants to see one in a
    capture within seconds, so this is short and not randomised.  The first
    3 go out at most 1 s apart (the RFC: MAX_INITIAL_RTR_ADVERTISEMENTS 3,
    at most 16 s apart), so a new link learns its router at once.
  * in answer to a Router Solicitation (heard on ff02::2, all routers, which
    this daemon joins): at once, to ff02::1.  The RFC delays an answer by a
    random 0..500 ms and multicasts at most one RA every 3 s; here answers
    are at least 1 s apart and the RSs heard in between are answered
    together, by one RA, when that second is over.
  * on SIGTERM or SIGINT: one last RA with router lifetime 0 (RFC 4861
    section 6.2.5), so hosts drop their default route via us now rather
    than when it expires; then exit status 0.

The source address is looked up for every RA (/proc/net/if_inet6) and given
with IPV6_PKTINFO.  An RA due while the interface has no usable link-local
address (no carrier yet, the cable pulled, the address still tentative
during duplicate address detection) waits for one, with one log line saying
so, and the first fast RAs start over once there is one.  (A host on a
re-plugged link solicits, too, and is answered at once.)

It prints one line per RA sent and per RS heard (the packet described as
labnode.icmp6.describe does), "radvd listening on IFACE (ff02::2),
advertising PREFIXES ..." once its socket is open, and one line per bad packet received (that packet is
dropped, nothing else happens; at most 20 such lines a second, the rest
counted).  Startup problems (no such interface, no root) are one stderr
line and exit status 1; bad arguments exit 2.

The socket is AF_INET6/SOCK_RAW/IPPROTO_ICMPV6 bound to the interface
(SO_BINDTODEVICE), in the all-routers group, with an ICMP6_FILTER that
lets only Router Solicitations in.  A lesson in its checksums: on a raw
ICMPv6 socket the kernel always computes the checksum of what we send and
checks the checksum of what we receive, dropping bad ones before we see them
(RFC 3542 section 3.1: the application cannot turn that off).  This daemon
still fills in its own checksum when it builds an RA (the kernel's ends up
identical) and checks every received RS with labnode.icmp6.verify, using the
destination address from IPV6_PKTINFO: the pseudo-header needs both
addresses, which is why ICMPv6 cannot be checked from its bytes alone.
A received RS must also come with hop limit 255 (IPV6_HOPLIMIT), code 0 and
well-formed options (RFC 4861 section 6.1.1).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass

from labnode import icmp6
from labnode.contract import READY_LINE
from labnode.netutil import Stopped, describe_error, flush_log, log, run

ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"
HOP_LIMIT = 255
CUR_HOP_LIMIT = 64                # what hosts should use for their own packets
VALID_LIFETIME = 86400            # prefix lifetimes (radvd's defaults; the RFC's are 30 and 7 days)
PREFERRED_LIFETIME = 14400
INITIAL_COUNT = 3                 # the first RAs ...
INITIAL_SPACING = 1.0             # ... at most this many seconds apart
ANSWER_GAP = 1.0                  # seconds between two answers to solicitations
LINK_POLL = 0.2                   # seconds between looks for a link-local address, while there is none
MAX_PREFIXES = 16                 # an RA of 16 prefixes is 552 bytes: never fragmented
BAD_LINES_PER_SECOND = 20
ICMP6_FILTER = 1                  # <netinet/icmp6.h>; not in Python's socket module
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
SCOPE_LINK = 0x20
_ANCILLARY = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4)   # in6_pktinfo, hop limit
_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")


@dataclass(frozen=True)
class Config:
    iface: str
    prefixes: tuple[ipaddress.IPv6Network, ...]
    interval: float = 3.0
    lifetime: int = 1800
    mtu: int | None = None


# --- the interface ----------------------------------------------------------

def read_mac(iface: str) -> bytes | None:
    """The interface's MAC from /sys/class/net/IFACE/address, or None
    (no such file, not a 6-byte address, or all zeros)."""
    try:
        with open(f"/sys/class/net/{iface}/address", encoding="ascii") as file:
            text = file.read(64).strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", text):
        return None
    mac = bytes.fromhex(text.replace(":", ""))
    return mac if any(mac) else None


def link_local(iface: str) -> ipaddress.IPv6Address | None:
    """A usable (not tentative, not failed) link-local address of iface,
    from /proc/net/if_inet6 (address, ifindex, prefix length, scope, flags, name)."""
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as file:
            lines = file.read(1 << 20).splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        fields = line.split()
        if len(fields) != 6 or fields[5] != iface:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            scope, flags = int(fields[3], 16), int(fields[4], 16)
        except ValueError:
            continue
        if scope == SCOPE_LINK and address.is_link_local and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            return address
    return None


def open_socket(iface: str, ifindex: int) -> socket.socket:
    """The raw ICMPv6 socket: bound to iface, hop limit 255, in the
    all-routers group, hearing only RSs."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        raise PermissionError("raw ICMPv6 sockets need root or CAP_NET_RAW") from None
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        except OSError as exc:
            raise OSError(f"cannot bind to interface {iface}: {exc.strerror}") from None
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, HOP_LIMIT)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, HOP_LIMIT)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        group = socket.inet_pton(socket.AF_INET6, ALL_ROUTERS) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
        try:
            # struct icmp6_filter: 256 bits, a set bit blocks that type.
            words = [0xFFFFFFFF] * 8
            words[icmp6.ROUTER_SOLICITATION >> 5] &= ~(1 << (icmp6.ROUTER_SOLICITATION & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))
        except OSError as exc:
            log(f"radvd: no ICMP6_FILTER ({exc.strerror}); other ICMPv6 types are dropped here")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


# --- the daemon -------------------------------------------------------------

class LineLimit:
    """At most `per_second` log lines a second; the rest are counted and
    the count is reported with the next line let through."""

    def __init__(self, per_second: int = BAD_LINES_PER_SECOND) -> None:
        self.per_second = per_second
        self.window = 0.0
        self.used = 0
        self.suppressed = 0

    def log(self, text: str) -> None:
        now = time.monotonic()
        if now - self.window >= 1.0:
            self.window, self.used = now, 0
        if self.used >= self.per_second:
            self.suppressed += 1
            return
        self.used += 1
        if self.suppressed:
            text += f" ({self.suppressed} lines suppressed before this one)"
            self.suppressed = 0
        log(text, flush=False)


class Advertiser:
    def __init__(self, config: Config, sock: socket.socket, ifindex: int, mac: bytes | None) -> None:
        self.config = config
        self.sock = sock
        self.ifindex = ifindex
        self.mac = mac
        self.limit = LineLimit()
        self.sent = 0                     # RAs sent
        self.unsolicited = 0              # unsolicited RAs sent since the link was last ready
        self.no_source = False            # "no link-local address" said, no RA sent since
        self.next_unsolicited = time.monotonic()
        self.last_answer = -ANSWER_GAP
        self.answer_due: float | None = None
        self.waiting: dict[str, int] = {}  # source -> RSs the pending answer is for

    def advertisement(self, lifetime: int) -> icmp6.RouterAdvertisement:
        prefixes = tuple(icmp6.PrefixInfo(prefix, True, True, VALID_LIFETIME, PREFERRED_LIFETIME)
                         for prefix in self.config.prefixes)
        return icmp6.RouterAdvertisement(cur_hop_limit=CUR_HOP_LIMIT, router_lifetime=lifetime,
                                         source_lladdr=self.mac, mtu=self.config.mtu, prefixes=prefixes)

    def send(self, reason: str, lifetime: int | None = None) -> bool:
        """One RA to all nodes, from the interface's link-local address; False
        if there is none (said once, until there is one again) or sending failed."""
        source = link_local(self.config.iface)
        if source is None:
            if not self.no_source:
                log(f"radvd: no usable link-local address on {self.config.iface} (no carrier? duplicate "
                    "address detection?): RAs wait for one", flush=False)
                self.no_source = True
            return False
        ra = self.advertisement(self.config.lifetime if lifetime is None else lifetime)
        data = icmp6.build(ra, source, ALL_NODES)   # our checksum; the kernel's is the same
        pktinfo = source.packed + struct.pack("@I", self.ifindex)
        try:
            self.sock.sendmsg([data], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)], 0,
                              (ALL_NODES, 0, 0, self.ifindex))
        except OSError as exc:
            log(f"RA to {ALL_NODES} ({reason}) not sent: {exc.strerror or exc}", flush=False)
            return False
        self.no_source = False
        self.sent += 1
        log(f"RA to {ALL_NODES} ({reason}): {icmp6.describe(ra, source)}", flush=False)
        return True

    def tick(self, now: float) -> None:
        """Send what is due at `now`."""
        if self.answer_due is not None and now >= self.answer_due:
            heard = [source if count == 1 else f"{source} ({count} RSs)"
                     for source, count in list(self.waiting.items())[:4]]
            if len(self.waiting) > 4:
                heard.append(f"{len(self.waiting) - 4} more")
            self.send(f"solicited by {', '.join(heard)}")
            self.answer_due, self.waiting, self.last_answer = None, {}, now
        if now >= self.next_unsolicited:
            if not self.send("unsolicited"):
                # Not on the link yet (or any more): look again soon, and
                # start with fast RAs again once there.
                self.unsolicited = 0
                self.next_unsolicited = now + LINK_POLL
                return
            self.unsolicited += 1
            spacing = self.config.interval
            if self.unsolicited < INITIAL_COUNT:
                spacing = min(spacing, INITIAL_SPACING)
            self.next_unsolicited = now + spacing

    def next_event(self) -> float:
        due = self.next_unsolicited
        return due if self.answer_due is None else min(due, self.answer_due)

    def receive(self) -> None:
        for _ in range(64):   # a batch, then the timers get their turn
            try:
                data, ancdata, _, addr = self.sock.recvmsg(icmp6.MAX_MESSAGE + 1, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.limit.log(f"receive error on {self.config.iface}: {exc.strerror or exc}")
                return
            try:
                self.heard(data, ancdata, addr)
            except Exception as exc:  # one packet's problem, never the daemon's
                self.limit.log(f"packet from {addr[0]} dropped: {describe_error(exc)}")

    def heard(self, data: bytes, ancdata: list, addr: tuple) -> None:
        """One received packet: checked as RFC 4861 section 6.1.1 says, then answered."""
        src = str(addr[0]).split("%", 1)[0]
        dst: bytes | None = None
        hop_limit: int | None = None
        for level, kind, value in ancdata:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
                dst = bytes(value[:16])
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack("@i", value[:4])[0]
        if not data or data[0] != icmp6.ROUTER_SOLICITATION:
            return   # only if ICMP6_FILTER failed: not ours to log
        if hop_limit != HOP_LIMIT:
            self.limit.log(f"bad RS from {src}: hop limit {hop_limit}, not 255 (not sent on this link)")
            return
        if dst is None:
            self.limit.log(f"bad RS from {src}: no destination address (IPV6_PKTINFO) to check it with")
            return
        if not icmp6.verify(src, dst, data):
            # The kernel drops these before we see them; seen here, they mean a kernel that does not.
            self.limit.log(f"bad RS from {src}: wrong checksum")
            return
        try:
            rs = icmp6.parse(data)
        except icmp6.Icmp6Error as exc:
            self.limit.log(f"bad RS from {src}: {exc}")
            return
        if not isinstance(rs, icmp6.RouterSolicitation):
            return
        if ipaddress.IPv6Address(src).is_unspecified and rs.source_lladdr is not None:
            self.limit.log("bad RS from ::: a source link-layer address without a source address")
            return
        now = time.monotonic()
        if self.answer_due is None:
            self.answer_due = max(now, self.last_answer + ANSWER_GAP)
        if src in self.waiting or len(self.waiting) < 64:
            self.waiting[src] = self.waiting.get(src, 0) + 1
        wait = self.answer_due - now
        when = "answering now" if wait <= 0 else f"answer in {wait:.1f} s (at most one a second)"
        self.limit.log(f"RS heard: {icmp6.describe(rs, src)}; {when}")

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        try:
            while True:
                self.tick(time.monotonic())
                flush_log()
                if sel.select(max(0.0, self.next_event() - time.monotonic())):
                    self.receive()
        finally:
            sel.close()


# --- the command line -------------------------------------------------------

def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="radvd", description="IPv6 router advertisements (RFC 4861)")
    parser.add_argument("--iface", required=True, help="the interface to advertise on")
    parser.add_argument("--prefix", action="append", required=True, metavar="PREFIX",
                        help="a prefix to advertise, e.g. fd12:3456:789a:1::/64 (repeatable)")
    parser.add_argument("--interval", type=float, default=3.0,
                        help="seconds between unsolicited RAs (default 3; RFC 4861: 200-600)")
    parser.add_argument("--lifetime", type=int, default=1800,
                        help="router lifetime in seconds, 0..9000 (default 1800; 0: not a default router)")
    parser.add_argument("--mtu", type=int, help="advertise this link MTU (1280..65535)")
    args = parser.parse_args(argv)
    if not _IFNAME.fullmatch(args.iface) or args.iface in (".", ".."):
        parser.error(f"--iface {args.iface!r} is not an interface name")
    prefixes: list[ipaddress.IPv6Network] = []
    for text in args.prefix:
        try:
            prefix = ipaddress.IPv6Network(text)
        except ValueError as exc:
            parser.error(f"--prefix {text}: {exc}")
        if prefix.is_link_local or prefix.is_multicast or prefix.prefixlen == 0:
            parser.error(f"--prefix {text}: not a prefix to advertise (link-local, multicast or ::/0)")
        if prefix in prefixes:
            parser.error(f"--prefix {text} given twice")
        prefixes.append(prefix)
    if len(prefixes) > MAX_PREFIXES:
        parser.error(f"at most {MAX_PREFIXES} prefixes")
    if not 0.5 <= args.interval <= 1800:
        parser.error("--interval must be between 0.5 and 1800 seconds")
    if not 0 <= args.lifetime <= 9000:
        parser.error("--lifetime must be between 0 and 9000 seconds (RFC 4861 6.2.1)")
    if args.mtu is not None and not 1280 <= args.mtu <= 65535:
        parser.error("--mtu must be between 1280 (the IPv6 minimum) and 65535")
    return Config(args.iface, tuple(prefixes), args.interval, args.lifetime, args.mtu)


def serve(config: Config) -> None:
    """Open the socket, advertise until stopped, then say goodbye: one RA with
    router lifetime 0 (Stopped is raised again for netutil.run to log)."""
    try:
        ifindex = socket.if_nametoindex(config.iface)
    except OSError:
        raise OSError(f"no interface {config.iface}") from None
    mac = read_mac(config.iface)
    with open_socket(config.iface, ifindex) as sock:
        advertiser = Advertiser(config, sock, ifindex, mac)
        try:
            log(f"radvd {READY_LINE} {config.iface} ({ALL_ROUTERS}), advertising "
                f"{', '.join(map(str, config.prefixes))} every {config.interval:g} s, "
                f"router lifetime {config.lifetime} s")
            if mac is None:
                log(f"radvd: {config.iface} has no MAC address: RAs without a source link-layer address option")
            for prefix in config.prefixes:
                if prefix.prefixlen != 64:
                    log(f"radvd: note: {prefix} is not a /64; hosts on Ethernet make no SLAAC address in it")
            if 0 < config.lifetime < config.interval:
                log("radvd: note: the router lifetime is shorter than the interval: "
                    "hosts lose their default route between RAs")
            advertiser.run()
        except Stopped:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            advertiser.send("final", lifetime=0)
            raise


def main(argv: list[str] | None = None) -> int:
    """Startup problems (no such interface, no root): one stderr line, exit 1;
    SIGTERM/SIGINT: exit 0 (netutil.run)."""
    config = parse_args(argv)
    return run("radvd", lambda: serve(config))


if __name__ == "__main__":
    sys.exit(main())
