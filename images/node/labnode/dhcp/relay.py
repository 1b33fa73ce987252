"""The DHCP relay agent (RFC 1542, RFC 2131 section 4.1): `python3 -m labnode.dhcp.relay --config FILE`.

A client's DISCOVER is a broadcast, which a router does not forward.  A relay
on the client's subnet hears it, writes its own address on that subnet into
giaddr, and sends it by unicast to the server; the server picks the pool
that contains giaddr and answers the relay, which hands the answer to the
client on the interface whose address is giaddr:

    client --broadcast--> [eth1 10.0.2.1]  relay  [eth0] --unicast 10.0.0.1:67--> server
    client <--broadcast-- [eth1]           relay  <--unicast 10.0.2.1:67-------- server

Configuration (JSON, strict; a bad key is one stderr line and exit 1):

    {"listen": ["eth1"],                 # client-side interfaces (required)
     "servers": ["10.0.0.1"],            # where requests go (required, at most 8)
     "address_of": {"eth1": "10.0.2.1"}, # optional: giaddr per interface
                                         #   (default: the interface's IPv4 address)
     "agent_info": true,                 # optional: add option 82, circuit id = the
                                         #   interface name (removed again on the way back)
     "max_hops": 4}                      # optional: drop requests relayed this often

What the relay changes in a request: hops + 1 (a request relayed max_hops
times already is dropped); giaddr, if it is 0 (a request already relayed
keeps the first relay's giaddr, and its answer goes to that relay); option 82
if agent_info and this relay set giaddr.
A reply goes to the client as the server would send it (section 4.1): to
ciaddr if set, else to 255.255.255.255 (also when the BROADCAST flag is
unset, since a unicast to an address the client does not have yet needs an
ARP entry made by hand), out of the interface the request came from.

Sockets: per client-side interface, one on 0.0.0.0:67 bound to the device
(it hears the clients' broadcasts; it sends to them), and one on
giaddr:67 (it hears the servers' answers, whichever interface they arrive
on, and sends to the servers).  Logs one line per message relayed.
"""

from __future__ import annotations

import argparse
import ipaddress
import selectors
import socket
import sys
from dataclasses import dataclass, field

from labnode import bounded, contract
from labnode.dhcp import message as m
from labnode.dhcp.server import IFNAME, ConfigError, interface_address
from labnode.netutil import describe_error, flush_log, log, peer, run

MAX_SERVERS = 8
MAX_LISTEN = 16
Address = ipaddress.IPv4Address


@dataclass
class RelayConfig:
    listen: list[str]
    servers: list[Address]
    address_of: dict[str, Address] = field(default_factory=dict)
    agent_info: bool = False
    max_hops: int = 4


def parse_config(data) -> RelayConfig:
    if not isinstance(data, dict):
        raise ConfigError("config: expected an object")
    known = {"listen", "servers", "address_of", "agent_info", "max_hops"}
    for key in data:
        if key not in known:
            raise ConfigError(f"config.{key}: unknown key (known: {', '.join(sorted(known))})")
    for key in ("listen", "servers"):
        if key not in data:
            raise ConfigError(f"config.{key}: missing")
    listen = data["listen"]
    if not isinstance(listen, list) or not 0 < len(listen) <= MAX_LISTEN:
        raise ConfigError(f"listen: expected a list of 1 to {MAX_LISTEN} interface names")
    for i, name in enumerate(listen):
        if not isinstance(name, str) or not IFNAME.fullmatch(name):
            raise ConfigError(f"listen[{i}]: not an interface name")
    if len(set(listen)) != len(listen):
        raise ConfigError("listen: an interface is listed twice")
    servers = data["servers"]
    if not isinstance(servers, list) or not 0 < len(servers) <= MAX_SERVERS:
        raise ConfigError(f"servers: expected a list of 1 to {MAX_SERVERS} addresses")
    config = RelayConfig(list(listen), [])
    for i, text in enumerate(servers):
        try:
            config.servers.append(Address(text) if isinstance(text, str) else Address(-1))
        except ValueError:
            raise ConfigError(f"servers[{i}]: not an IPv4 address") from None
    address_of = data.get("address_of", {})
    if not isinstance(address_of, dict):
        raise ConfigError("address_of: expected {\"interface\": \"address\"}")
    for name, text in address_of.items():
        if name not in listen:
            raise ConfigError(f"address_of.{name}: not one of the listen interfaces")
        try:
            config.address_of[name] = Address(text) if isinstance(text, str) else Address(-1)
        except ValueError:
            raise ConfigError(f"address_of.{name}: not an IPv4 address") from None
    agent_info = data.get("agent_info", False)
    if not isinstance(agent_info, bool):
        raise ConfigError("agent_info: expected true or false")
    config.agent_info = agent_info
    hops = data.get("max_hops", 4)
    if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 16:
        raise ConfigError("max_hops: expected a whole number, 1 to 16")
    config.max_hops = hops
    return config


@dataclass
class Side:
    """One client-side interface: its address (giaddr) and its two sockets."""
    name: str
    address: Address
    down: socket.socket  # 0.0.0.0:67 on the device: the clients
    up: socket.socket    # giaddr:67: the servers' replies


class Relay:
    """The relay's decisions, without sockets (see the module docstring)."""

    def __init__(self, config: RelayConfig, sides: list[Side]) -> None:
        self.config = config
        self.sides = sides
        self.by_address = {side.address: side for side in sides}

    def from_client(self, data: bytes, side: Side) -> tuple[bytes | None, str]:
        """A datagram heard on a client-side interface -> (bytes for the servers, log)."""
        msg = m.decode(data)
        who = f"{msg.type_name} from {msg.mac} on {side.name}"
        if msg.op != m.BOOTREQUEST:
            return None, f"{who}: a reply on the client side, dropped"
        if msg.hops >= self.config.max_hops:
            return None, f"{who}: relayed {msg.hops} times already, dropped"
        msg.hops += 1
        if msg.giaddr == m.ZERO:  # the first relay: the reply comes back to us
            msg.giaddr = side.address
            if self.config.agent_info and m.RELAY_AGENT_INFO not in msg.options:
                circuit = {m.RELAY_CIRCUIT_ID: side.name.encode()}
                msg.options[m.RELAY_AGENT_INFO] = m.encode_suboptions(circuit)
        servers = ", ".join(str(s) for s in self.config.servers)
        return m.encode(msg, m.MAX_MESSAGE), f"{who}: to {servers} (giaddr {msg.giaddr})"

    def from_server(self, data: bytes) -> tuple[Side | None, bytes | None, tuple[str, int] | None, str]:
        """A datagram from a server -> (the side, bytes for the client, destination, log)."""
        msg = m.decode(data)
        who = f"{msg.type_name} for {msg.mac}"
        if msg.op != m.BOOTREPLY:
            return None, None, None, f"{who}: a request on the server side, dropped"
        side = self.by_address.get(msg.giaddr)
        if side is None:
            return None, None, None, f"{who}: giaddr {msg.giaddr} is not ours, dropped"
        if self.config.agent_info:  # giaddr is ours, so we added it: RFC 3046 says strip it
            msg.options.pop(m.RELAY_AGENT_INFO, None)
        if msg.ciaddr != m.ZERO and msg.type != m.NAK:
            to = (str(msg.ciaddr), m.CLIENT_PORT)
        else:
            to = ("255.255.255.255", m.CLIENT_PORT)
        address = f" {msg.yiaddr}" if msg.yiaddr != m.ZERO else ""
        return side, m.encode(msg, m.MAX_MESSAGE), to, f"{who}{address}: to {to[0]} on {side.name}"


def open_side(name: str, address: Address | None, port: int = m.SERVER_PORT) -> Side:
    down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for sock in (down, up):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            down.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
        except OSError as exc:
            raise OSError(f"cannot bind to interface {name}: {exc.strerror}") from None
        if address is None:
            address = interface_address(down, name)
        down.bind(("0.0.0.0", port))
        up.bind((str(address), port))
        down.setblocking(False)
        up.setblocking(False)
    except BaseException:
        down.close()
        up.close()
        raise
    return Side(name, address, down, up)


def serve(relay: Relay) -> None:
    sel = selectors.DefaultSelector()
    for side in relay.sides:
        sel.register(side.down, selectors.EVENT_READ, (side, "down"))
        sel.register(side.up, selectors.EVENT_READ, (side, "up"))
    while True:
        for key, _ in sel.select():
            side, direction = key.data
            sock = side.down if direction == "down" else side.up
            for _ in range(64):
                try:
                    data, addr = sock.recvfrom(m.MAX_MESSAGE + 1)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log(f"receive error on {side.name}: {exc}", flush=False)
                    continue
                try:
                    if direction == "down":
                        forward_up(relay, side, data)
                    else:
                        forward_down(relay, data)
                except m.DhcpError as exc:
                    log(f"{peer(addr)}: bad message: {exc}", flush=False)
                except Exception as exc:  # one datagram's problem, never the relay's
                    log(f"{peer(addr)}: message dropped: {describe_error(exc)}", flush=False)
        flush_log()


def forward_up(relay: Relay, side: Side, data: bytes) -> None:
    out, text = relay.from_client(data, side)
    if out is None:
        log(text, flush=False)
        return
    for server in relay.config.servers:
        try:
            side.up.sendto(out, (str(server), m.SERVER_PORT))
        except OSError as exc:
            text += f"; cannot send to {server}: {exc.strerror or exc}"
    log(text, flush=False)


def forward_down(relay: Relay, data: bytes) -> None:
    side, out, to, text = relay.from_server(data)
    if side is None or out is None or to is None:
        log(text, flush=False)
        return
    try:
        side.down.sendto(out, to)
    except OSError as exc:
        text += f"; cannot send: {exc.strerror or exc}"
    log(text, flush=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dhcp-relay", description="DHCP relay agent (RFC 1542)")
    parser.add_argument("--config", required=True, help="the JSON configuration file")
    args = parser.parse_args(argv)
    try:
        config = parse_config(bounded.load_config(args.config, ConfigError))
    except ConfigError as exc:
        print(f"dhcp-relay: config: {exc}", file=sys.stderr, flush=True)
        return 1

    def run_relay() -> None:
        sides = [open_side(name, config.address_of.get(name)) for name in config.listen]
        for side in sides:
            log(f"dhcp-relay {contract.READY_LINE} {side.address}:{m.SERVER_PORT} ({side.name})")
        serve(Relay(config, sides))

    return run("dhcp-relay", run_relay)


if __name__ == "__main__":
    raise SystemExit(main())
