"""The DHCP server: `python3 -m labnode.dhcp.server --config FILE`.

The configuration is a JSON file (parsed strictly: an unknown key, a wrong
type or an address outside its subnet is one stderr line naming the key, and
exit status 1):

    {"interfaces": ["eth0"],                       # where to listen (required)
     "lease_file": "/run/labnet/dhcp-leases.json",   # (this default: /run is private
                                                     #  to a node in both backends)
     "server_id": "10.0.1.1",      # optional: default, the receiving interface's address
     "pools": [{"subnet": "10.0.1.0/24",           # required, one pool per subnet
                "range": ["10.0.1.100", "10.0.1.199"],   # required, inside the subnet
                "router": "10.0.1.1",              # optional (option 3)
                "dns": ["10.0.1.53"],              # optional (option 6), at most 8
                "domain": "lab",                   # optional (option 15)
                "lease": 3600,                     # seconds, 10 .. 2**31 - 1 (default 3600)
                "reservations": [{"mac": "02:00:00:00:00:09", "address": "10.0.1.50",
                                  "hostname": "pc9"}],      # address inside the subnet
                "shared": false}]}          # another server has a range of this subnet

How a request finds its pool: a relayed one (giaddr set) by the relay's
address, giaddr; a direct one by the address of the interface it came in on.
The exchanges (RFC 2131 section 3):

    client                           server
    DISCOVER (broadcast)      ->                  a free address is held for the client
                              <-     OFFER        yiaddr = that address, options
    REQUEST (server id = us)  ->                  "selecting": take the offer
                              <-     ACK / NAK    ACK: lease time, T1, T2, options
    REQUEST (no server id, requested address)     "init-reboot": NAK if not ours
                                                  (a shared pool: silent for an address
                                                  of the other server's range, RFC 2131
                                                  section 4.3.2: no record of it here)
    REQUEST (ciaddr set)                          "renewing" (unicast) / "rebinding"
    RELEASE (ciaddr)          ->                  the address is free again
    DECLINE (requested addr)  ->                  the address is in use: kept back a while
    INFORM  (ciaddr)          ->     ACK          options only, no lease

Where a reply goes (RFC 2131 section 4.1): to the relay (giaddr, port 67) if
the request was relayed; else to ciaddr, port 68, if the client has an
address; else (NAKs too) to 255.255.255.255 port 68 out of the interface it
came in on.  A server may unicast to yiaddr when the client did not ask for a
broadcast, but that needs an ARP entry made by hand; this one always
broadcasts, which every client accepts.

Each socket binds 0.0.0.0:67 with SO_BINDTODEVICE (needs root, or
CAP_NET_RAW) and SO_BROADCAST.  Once bound the server prints
"dhcp listening on ADDR:67 (IFACE)" for each interface, then one line per
event ("DISCOVER from 02:00:00:00:00:01 via eth0; OFFER 10.0.1.100").  A
datagram that does not decode costs one log line; SIGTERM is exit 0.
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import re
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass

from labnode import bounded, contract
from labnode.dhcp import message as m
from labnode.dhcp.leases import MAX_POOL, Lease, LeaseFileError, Leases, Nak, NotOurs, Pool, Reservation
from labnode.netutil import describe_error, flush_log, log, peer, run

DEFAULT_LEASE_FILE = "/run/labnet/dhcp-leases.json"  # not /var/lib: the netns backend shares it
MAX_INTERFACES = 16
MAX_POOLS = 64
MAX_RESERVATIONS = 4096
MAX_DNS = 8
TICK = 1.0  # seconds between expiry sweeps
SIOCGIFADDR = 0x8915
IFNAME = re.compile(r"[A-Za-z0-9_.@-]{1,15}")
DOMAIN = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
Address = ipaddress.IPv4Address


class ConfigError(ValueError):
    """The configuration cannot be used; the text starts with the key."""


@dataclass
class Config:
    interfaces: list[str]
    pools: list[Pool]
    lease_file: str = DEFAULT_LEASE_FILE
    server_id: Address | None = None


# -- configuration -------------------------------------------------------------

def _address(value, where: str) -> Address:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected an IPv4 address as a string")
    try:
        return Address(value)
    except ValueError:
        raise ConfigError(f"{where}: not an IPv4 address: {value[:40]!r}") from None


def _keys(obj, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object")
    for key in obj:
        if key not in required | optional:
            raise ConfigError(f"{where}.{key}: unknown key (known: "
                              f"{', '.join(sorted(required | optional))})")
    for key in sorted(required):
        if key not in obj:
            raise ConfigError(f"{where}.{key}: missing")


def _list(value, where: str, limit: int) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list")
    if len(value) > limit:
        raise ConfigError(f"{where}: more than {limit} entries")
    return value


def _inside(address: Address, subnet: ipaddress.IPv4Network, where: str) -> Address:
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise ConfigError(f"{where}: {address} is not a host address of {subnet}")
    return address


def parse_reservations(obj: dict, subnet: ipaddress.IPv4Network, where: str) -> dict[str, Reservation]:
    reservations: dict[str, Reservation] = {}
    seen: set[Address] = set()
    for i, entry in enumerate(_list(obj.get("reservations", []), f"{where}.reservations",
                                    MAX_RESERVATIONS)):
        rwhere = f"{where}.reservations[{i}]"
        _keys(entry, rwhere, {"mac", "address"}, {"hostname"})
        try:
            mac = m.parse_mac(entry["mac"]) if isinstance(entry["mac"], str) else None
        except ValueError:
            mac = None
        if mac is None:
            raise ConfigError(f"{rwhere}.mac: not a MAC address like 02:00:00:00:00:09")
        text = ":".join(f"{b:02x}" for b in mac)
        address = _inside(_address(entry["address"], f"{rwhere}.address"), subnet, f"{rwhere}.address")
        hostname = entry.get("hostname")
        if hostname is not None and (not isinstance(hostname, str) or not DOMAIN.fullmatch(hostname)
                                     or len(hostname) > 64):
            raise ConfigError(f"{rwhere}.hostname: not a host name")
        if text in reservations:
            raise ConfigError(f"{rwhere}.mac: {text} is reserved twice")
        if address in seen:
            raise ConfigError(f"{rwhere}.address: {address} is reserved twice")
        seen.add(address)
        reservations[text] = Reservation(text, address, hostname)
    return reservations


def parse_pool(obj, where: str) -> Pool:
    _keys(obj, where, {"subnet", "range"}, {"router", "dns", "domain", "lease", "reservations", "shared"})
    try:
        subnet = ipaddress.IPv4Network(obj["subnet"]) if isinstance(obj["subnet"], str) else None
    except ValueError:
        subnet = None
    if subnet is None or subnet.prefixlen > 30:
        raise ConfigError(f"{where}.subnet: expected a network like 10.0.1.0/24 (at most /30)")
    bounds = _list(obj["range"], f"{where}.range", 2)
    if len(bounds) != 2:
        raise ConfigError(f"{where}.range: expected [first, last]")
    start = _inside(_address(bounds[0], f"{where}.range[0]"), subnet, f"{where}.range[0]")
    end = _inside(_address(bounds[1], f"{where}.range[1]"), subnet, f"{where}.range[1]")
    if start > end:
        raise ConfigError(f"{where}.range: {start} comes after {end}")
    if int(end) - int(start) + 1 > MAX_POOL:
        raise ConfigError(f"{where}.range: more than {MAX_POOL} addresses")
    pool = Pool(subnet, start, end, reservations=parse_reservations(obj, subnet, where))
    shared = obj.get("shared", False)
    if not isinstance(shared, bool):
        raise ConfigError(f"{where}.shared: expected true or false")
    pool.shared = shared
    if obj.get("router") is not None:
        pool.router = _inside(_address(obj["router"], f"{where}.router"), subnet, f"{where}.router")
    pool.dns = [_address(a, f"{where}.dns[{i}]")
                for i, a in enumerate(_list(obj.get("dns", []), f"{where}.dns", MAX_DNS))]
    domain = obj.get("domain")
    if domain is not None:
        if not isinstance(domain, str) or not DOMAIN.fullmatch(domain):
            raise ConfigError(f"{where}.domain: not a domain name")
        pool.domain = domain
    lease = obj.get("lease", 3600)
    if isinstance(lease, bool) or not isinstance(lease, int) or not 10 <= lease < 2**31:
        raise ConfigError(f"{where}.lease: expected whole seconds, 10 to 2147483647")
    pool.lease = lease
    return pool


def parse_config(data) -> Config:
    """A Config from the decoded JSON; ConfigError naming the key otherwise."""
    _keys(data, "config", {"interfaces", "pools"}, {"lease_file", "server_id"})
    names = _list(data["interfaces"], "interfaces", MAX_INTERFACES)
    if not names:
        raise ConfigError("interfaces: at least one interface")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not IFNAME.fullmatch(name):
            raise ConfigError(f"interfaces[{i}]: not an interface name")
    if len(set(names)) != len(names):
        raise ConfigError("interfaces: an interface is listed twice")
    pools = [parse_pool(p, f"pools[{i}]")
             for i, p in enumerate(_list(data["pools"], "pools", MAX_POOLS))]
    if not pools:
        raise ConfigError("pools: at least one pool")
    for i, a in enumerate(pools):
        for j in range(i):
            if a.subnet.overlaps(pools[j].subnet):
                raise ConfigError(f"pools[{i}].subnet: {a.subnet} overlaps pools[{j}] ({pools[j].subnet})")
    config = Config(list(names), pools)
    lease_file = data.get("lease_file", DEFAULT_LEASE_FILE)
    if not isinstance(lease_file, str) or not lease_file or "\x00" in lease_file:
        raise ConfigError("lease_file: expected a file path")
    config.lease_file = lease_file
    if data.get("server_id") is not None:
        config.server_id = _address(data["server_id"], "server_id")
    return config


def load_config(path: str) -> Config:
    data = bounded.load_config(path, ConfigError)
    return parse_config(data)


# -- the protocol ---------------------------------------------------------------

@dataclass
class Link:
    """One interface the server listens on."""
    name: str
    address: Address


@dataclass
class Reply:
    data: bytes
    to: tuple[str, int]          # ("255.255.255.255", 68), (giaddr, 67), (ciaddr, 68)
    text: str                    # the log line's second half: "OFFER 10.0.1.100"


class Server:
    """The server's decisions, without sockets: handle() maps one received
    datagram to a Reply (or None) and a log line."""

    def __init__(self, config: Config, leases: Leases) -> None:
        self.config = config
        self.leases = leases

    def pool_for(self, msg: m.DhcpMessage, link: Link) -> Pool | None:
        key = msg.giaddr if msg.giaddr != m.ZERO else link.address
        for pool in self.config.pools:
            if key in pool.subnet:
                return pool
        return None

    def server_id(self, link: Link) -> Address:
        return self.config.server_id or link.address

    def handle(self, data: bytes, link: Link) -> tuple[Reply | None, str]:
        """(the reply to send or None, the log line); DhcpError if undecodable."""
        msg = m.decode(data)
        if msg.op != m.BOOTREQUEST:
            return None, f"{msg.type_name} (a reply) from {msg.mac} ignored"
        if msg.htype != 1 or len(msg.chaddr) != 6:
            return None, f"{msg.type_name} with a non-Ethernet address ignored"
        who = f"{msg.type_name} from {msg.mac}"
        if msg.giaddr != m.ZERO:
            who += f" via relay {msg.giaddr}"
        else:
            who += f" via {link.name}"
        pool = self.pool_for(msg, link)
        if pool is None:
            return None, f"{who}: no pool for {msg.giaddr if msg.giaddr != m.ZERO else link.address}"
        kind = msg.type
        if kind == m.DISCOVER:
            return self.discover(msg, pool, link, who)
        if kind == m.REQUEST:
            return self.request(msg, pool, link, who)
        if kind == m.RELEASE:
            lease = self.leases.release(msg.mac, msg.ciaddr)
            return None, f"{who}: {msg.ciaddr} released" if lease else f"{who}: {msg.ciaddr} was not its"
        if kind == m.DECLINE:
            address = msg.address_option(m.REQUESTED_IP)
            lease = self.leases.decline(msg.mac, address) if address else None
            return None, f"{who}: {address} marked in use" if lease else f"{who}: {address} was not its"
        if kind == m.INFORM:
            reply = self.reply(msg, pool, link, m.ACK, m.ZERO)
            return self.send(msg, reply, f"ACK (options only) to {msg.ciaddr}"), who
        return None, f"{who}: ignored"

    def discover(self, msg, pool: Pool, link: Link, who: str):
        lease = self.leases.offer(pool, msg.mac, msg.address_option(m.REQUESTED_IP),
                                  msg.text_option(m.HOSTNAME))
        if lease is None:
            return None, f"{who}: no free address in {pool.subnet}"
        reply = self.reply(msg, pool, link, m.OFFER, lease.address, lease)
        return self.send(msg, reply, f"OFFER {lease.address}"), who

    def request(self, msg, pool: Pool, link: Link, who: str):
        chosen = msg.address_option(m.SERVER_ID)
        requested = msg.address_option(m.REQUESTED_IP)
        if chosen is not None and chosen != self.server_id(link):
            self.leases.forget_offer(msg.mac)
            return None, f"{who}: chose server {chosen}, not us"
        address = requested or (msg.ciaddr if msg.ciaddr != m.ZERO else None)
        if address is None:
            return None, f"{who}: no address requested"
        try:
            lease = self.leases.request(pool, msg.mac, address, msg.text_option(m.HOSTNAME))
        except NotOurs as nak:
            if pool.shared and chosen is None:
                return None, f"{who}: {address} is not in our range of a shared subnet: silent"
            reply = self.reply(msg, pool, link, m.NAK, m.ZERO)
            reply.options[m.MESSAGE] = str(nak).encode()[:200]
            return self.send(msg, reply, f"NAK {address}: {nak}"), who
        except Nak as nak:
            reply = self.reply(msg, pool, link, m.NAK, m.ZERO)
            reply.options[m.MESSAGE] = str(nak).encode()[:200]
            return self.send(msg, reply, f"NAK {address}: {nak}"), who
        reply = self.reply(msg, pool, link, m.ACK, lease.address, lease)
        return self.send(msg, reply, f"ACK {lease.address} for {pool.lease} s"), who

    def reply(self, msg: m.DhcpMessage, pool: Pool, link: Link, kind: int,
              yiaddr: Address, lease: Lease | None = None) -> m.DhcpMessage:
        """The reply message: the request's xid, flags, chaddr and giaddr,
        and the options (all configured ones: clients ignore the others)."""
        out = m.DhcpMessage(op=m.BOOTREPLY, xid=msg.xid, chaddr=msg.chaddr, htype=msg.htype,
                            flags=msg.flags, yiaddr=yiaddr, giaddr=msg.giaddr)
        if kind == m.ACK:
            out.ciaddr = msg.ciaddr
        out.set_type(kind)
        out.options[m.SERVER_ID] = m.ip_bytes(self.server_id(link))
        if kind != m.NAK:
            if lease is not None:
                out.options[m.LEASE_TIME] = m.u32(pool.lease)
                out.options[m.RENEWAL_T1] = m.u32(pool.lease // 2)
                out.options[m.REBINDING_T2] = m.u32(pool.lease * 7 // 8)
            out.options[m.SUBNET_MASK] = m.ip_bytes(pool.subnet.netmask)
            if pool.router is not None:
                out.options[m.ROUTER] = m.ip_bytes(pool.router)
            if pool.dns:
                out.options[m.DNS] = m.ip_bytes(*pool.dns)
            if pool.domain:
                out.options[m.DOMAIN] = pool.domain.encode()
            reservation = pool.reservations.get(msg.mac)
            if reservation is not None and reservation.hostname:
                out.options[m.HOSTNAME] = reservation.hostname.encode()
        if m.RELAY_AGENT_INFO in msg.options:  # RFC 3046: echoed back to the relay
            out.options[m.RELAY_AGENT_INFO] = msg.options[m.RELAY_AGENT_INFO]
        return out

    def send(self, msg: m.DhcpMessage, reply: m.DhcpMessage, text: str) -> Reply:
        if msg.giaddr != m.ZERO:
            if reply.type == m.NAK:
                reply.flags |= m.FLAG_BROADCAST
            to = (str(msg.giaddr), m.SERVER_PORT)
        elif reply.type != m.NAK and msg.ciaddr != m.ZERO:
            to = (str(msg.ciaddr), m.CLIENT_PORT)
        else:
            to = ("255.255.255.255", m.CLIENT_PORT)
        limit = m.MAX_REPLY
        wanted = msg.options.get(m.MAX_SIZE)
        if wanted is not None and len(wanted) == 2:
            limit = min(max(m.MAX_REPLY, struct.unpack("!H", wanted)[0] - 28), m.MAX_MESSAGE)
        return Reply(m.encode(reply, limit), to, text)


# -- sockets ------------------------------------------------------------------

def interface_address(sock: socket.socket, name: str) -> Address:
    """The (first) IPv4 address of an interface, by SIOCGIFADDR."""
    try:
        raw = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()))
    except OSError as exc:
        raise OSError(f"interface {name} has no IPv4 address ({exc.strerror})") from None
    return Address(raw[20:24])


def open_link(name: str, port: int = m.SERVER_PORT) -> tuple[socket.socket, Link]:
    """A UDP socket on 0.0.0.0:port that hears only interface `name`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
        except OSError as exc:
            raise OSError(f"cannot bind to interface {name}: {exc.strerror}") from None
        link = Link(name, interface_address(sock, name))
        sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, link


def serve(server: Server, sockets: list[tuple[socket.socket, Link]], lease_file: str) -> None:
    sel = selectors.DefaultSelector()
    for sock, link in sockets:
        sel.register(sock, selectors.EVENT_READ, (sock, link))
    next_tick = time.monotonic() + TICK
    while True:
        for key, _ in sel.select(max(0.0, next_tick - time.monotonic())):
            sock, link = key.data
            for _ in range(64):  # a batch per socket, then the others' turn
                try:
                    data, addr = sock.recvfrom(m.MAX_MESSAGE + 1)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log(f"receive error on {link.name}: {exc}", flush=False)
                    continue
                answer(server, sock, link, data, addr)
        if time.monotonic() >= next_tick:
            next_tick = time.monotonic() + TICK
            for lease in server.leases.expire():
                log(f"EXPIRE {lease.address} ({lease.mac})", flush=False)
        if server.leases.changed:
            try:
                server.leases.save(lease_file)
            except OSError as exc:
                log(f"cannot save leases to {lease_file}: {exc.strerror or exc}", flush=False)
                server.leases.changed = False  # tried; the next change tries again
        flush_log()


def answer(server: Server, sock: socket.socket, link: Link, data: bytes, addr) -> None:
    """One datagram: decode, decide, reply, log; its problems are only its own."""
    try:
        reply, text = server.handle(data, link)
    except m.DhcpError as exc:
        log(f"{peer(addr)} on {link.name}: bad message: {exc}", flush=False)
        return
    except Exception as exc:  # one datagram's problem, never the server's
        log(f"{peer(addr)} on {link.name}: message dropped: {describe_error(exc)}", flush=False)
        return
    if reply is None:
        log(text, flush=False)
        return
    try:
        sock.sendto(reply.data, reply.to)
    except OSError as exc:
        log(f"{text}; cannot send {reply.text} to {reply.to[0]}: {exc.strerror or exc}", flush=False)
        return
    log(f"{text}; {reply.text}", flush=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dhcp", description="DHCP server (RFC 2131)")
    parser.add_argument("--config", required=True, help="the JSON configuration file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"dhcp: config: {exc}", file=sys.stderr, flush=True)
        return 1
    leases = Leases()
    try:
        leases.load(config.lease_file)
    except LeaseFileError as exc:
        print(f"dhcp: {exc}", file=sys.stderr, flush=True)
        return 1
    server = Server(config, leases)

    def run_server() -> None:
        sockets: list[tuple[socket.socket, Link]] = []
        for name in config.interfaces:
            sockets.append(open_link(name))
        for _, link in sockets:
            log(f"dhcp {contract.READY_LINE} {link.address}:{m.SERVER_PORT} ({link.name})")
        log(f"dhcp: {len(leases.table)} leases from {config.lease_file}")
        serve(server, sockets, config.lease_file)

    return run("dhcp", run_server)


if __name__ == "__main__":
    raise SystemExit(main())
