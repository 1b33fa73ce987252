"""The stack's configuration file: JSON, parsed strictly.

    {"tap": "tap0", "mac": "02:00:00:00:00:05", "address": "10.0.0.5/24",
     "gateway": "10.0.0.1", "routes": [{"to": "10.9.0.0/16", "via": "10.0.0.2"}],
     "loss": {"every": 0, "p": 0.0, "seed": 1, "direction": "rx"},
     "apps": [{"type": "http", "port": 80, "root": "/srv/www"},
              {"type": "echo", "port": 7}, {"type": "udp-echo", "port": 7}],
     "control_socket": "/run/labnet-stack.sock",
     "mtu": 1500, "rto_min": 0.2, "time_wait": 10}

Required: tap, mac, address.  Everything else has the default shown (no
gateway, no routes, no loss, no apps).  Unknown keys, wrong types, values
out of range, a gateway or route `via` not on the interface's prefix, two
apps on the same protocol and port: all ConfigError, whose text names the
key and says what is expected.  The file is read with labnode.bounded
(at most 1 MiB, 8 levels, 10 000 items).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from labnode import bounded

from . import ethernet

MAX_BYTES = 1 << 20
MAX_APPS = 64
MAX_ROUTES = 1024
DEFAULT_SOCKET = "/run/labnet-stack.sock"
APP_TYPES = {"http": "tcp", "echo": "tcp", "udp-echo": "udp"}
KEYS = {"tap", "mac", "address", "gateway", "routes", "loss", "apps", "control_socket", "mtu", "rto_min",
        "time_wait"}


class ConfigError(ValueError):
    pass


@dataclass
class App:
    type: str
    port: int
    root: str | None = None


@dataclass
class Config:
    tap: str
    mac: bytes
    interface: ipaddress.IPv4Interface
    gateway: str | None = None
    routes: list[tuple[str, str]] = field(default_factory=list)
    loss_every: int = 0
    loss_p: float = 0.0
    loss_seed: int = 1
    loss_direction: str = "rx"
    apps: list[App] = field(default_factory=list)
    control_socket: str = DEFAULT_SOCKET
    mtu: int = 1500
    rto_min: float = 0.2
    time_wait: float = 10.0


def _type(where: str, value, kinds, what: str):
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(f"{where}: expected {what}, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def _number(where: str, value, low: float, high: float, integer: bool = False):
    value = _type(where, value, int if integer else (int, float), "an integer" if integer else "a number")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {value} is out of range {low:g} to {high:g}")
    return value


def _object(where: str, value, allowed: set[str], required: frozenset[str] | set[str] = frozenset()) -> dict:
    _type(where, value, dict, "an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(value))
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    return value


def _address(where: str, value, network: ipaddress.IPv4Network | None = None) -> str:
    text = _type(where, value, str, "an IPv4 address")
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise ConfigError(f"{where}: {text[:40]!r} is not an IPv4 address") from None
    if network is not None and address not in network:
        raise ConfigError(f"{where}: {text} is not on the interface's prefix {network} (a next hop must be on-link)")
    return str(address)


def parse(data) -> Config:
    top = _object("config", data, KEYS, {"tap", "mac", "address"})
    tap = _type("tap", top["tap"], str, "an interface name")
    if not 0 < len(tap.encode()) < 16 or "/" in tap or " " in tap:
        raise ConfigError(f"tap: {tap[:40]!r} is not a valid interface name (1-15 bytes, no '/' or spaces)")
    try:
        mac = ethernet.parse_mac(_type("mac", top["mac"], str, "a MAC address"))
    except ValueError as exc:
        raise ConfigError(f"mac: {exc}") from None
    text = _type("address", top["address"], str, "ADDRESS/PREFIX")
    try:
        interface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ConfigError(f"address: {text[:40]!r} is not ADDRESS/PREFIX, e.g. 10.0.0.5/24") from None
    if "/" not in text or interface.network.prefixlen > 30 or interface.ip == interface.network.network_address:
        raise ConfigError(f"address: {text[:40]!r} needs a prefix length of at most /30 and a host address")
    cfg = Config(tap=tap, mac=mac, interface=interface)
    if top.get("gateway") is not None:
        cfg.gateway = _address("gateway", top["gateway"], interface.network)
    routes = _type("routes", top.get("routes", []), list, "a list")
    if len(routes) > MAX_ROUTES:
        raise ConfigError(f"routes: at most {MAX_ROUTES}")
    for i, route in enumerate(routes):
        where = f"routes[{i}]"
        _object(where, route, {"to", "via"}, {"to", "via"})
        to = _type(f"{where}.to", route["to"], str, "a prefix")
        try:
            network = ipaddress.IPv4Network(to)
        except ValueError:
            raise ConfigError(f"{where}.to: {to[:40]!r} is not a prefix like 10.9.0.0/16 (host bits zero)") from None
        cfg.routes.append((str(network), _address(f"{where}.via", route["via"], interface.network)))
    loss = _object("loss", top.get("loss", {}), {"every", "p", "seed", "direction"})
    cfg.loss_every = _number("loss.every", loss.get("every", 0), 0, 1_000_000, integer=True)
    cfg.loss_p = float(_number("loss.p", loss.get("p", 0.0), 0.0, 1.0))
    cfg.loss_seed = _number("loss.seed", loss.get("seed", 1), 0, 2**63, integer=True)
    cfg.loss_direction = _type("loss.direction", loss.get("direction", "rx"), str, '"rx", "tx" or "both"')
    if cfg.loss_direction not in ("rx", "tx", "both"):
        raise ConfigError(f'loss.direction: {cfg.loss_direction[:20]!r} is not "rx", "tx" or "both"')
    if cfg.loss_every and cfg.loss_p:
        raise ConfigError("loss: set either every (drop every n-th segment) or p (drop at random), not both")
    apps = _type("apps", top.get("apps", []), list, "a list")
    if len(apps) > MAX_APPS:
        raise ConfigError(f"apps: at most {MAX_APPS}")
    seen: set[tuple[str, int]] = set()
    for i, app in enumerate(apps):
        where = f"apps[{i}]"
        _object(where, app, {"type", "port", "root"}, {"type", "port"})
        kind = _type(f"{where}.type", app["type"], str, "an app type")
        if kind not in APP_TYPES:
            raise ConfigError(f"{where}.type: {kind[:40]!r} is not one of {', '.join(APP_TYPES)}")
        port = _number(f"{where}.port", app["port"], 1, 65535, integer=True)
        if (APP_TYPES[kind], port) in seen:
            raise ConfigError(f"{where}: {APP_TYPES[kind]} port {port} is used by an earlier app")
        seen.add((APP_TYPES[kind], port))
        root = None
        if kind == "http":
            if "root" not in app:
                raise ConfigError(f"{where}: an http app needs a root (the folder it serves)")
            root = _type(f"{where}.root", app["root"], str, "a folder path")
        elif "root" in app:
            raise ConfigError(f"{where}.root: only an http app has a root")
        cfg.apps.append(App(kind, port, root))
    cfg.control_socket = _type("control_socket", top.get("control_socket", DEFAULT_SOCKET), str, "a path")
    if not cfg.control_socket.startswith("/") or len(cfg.control_socket.encode()) > 107:
        raise ConfigError("control_socket: an absolute path of at most 107 bytes")
    cfg.mtu = _number("mtu", top.get("mtu", 1500), 576, 9000, integer=True)
    cfg.rto_min = float(_number("rto_min", top.get("rto_min", 0.2), 0.01, 5.0))
    cfg.time_wait = float(_number("time_wait", top.get("time_wait", 10.0), 0.0, 240.0))
    return cfg


def load(path: str) -> Config:
    try:
        data = bounded.load_file(path, max_bytes=MAX_BYTES, max_depth=8, max_items=10_000)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except bounded.BoundedError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
