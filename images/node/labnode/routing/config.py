"""The daemon's configuration file (JSON), validated all at once.

    {
      "router_id": "1.1.1.1",
      "interfaces": [{"name": "eth1", "cost": 10, "address": "10.0.12.1/30",
                      "address6": "2001:db8:12::1/64"}],
      "prefixes": ["10.0.1.0/24", {"prefix": "10.9.0.0/16", "metric": 5}],
      "prefixes6": ["2001:db8:1:1::/64", {"prefix": "2001:db8:9::/48", "metric": 5}],
      "hello_interval": 0.2,
      "dead_interval": 0.8,
      "key": null,
      "control_socket": "/run/labnet-routed.sock",
      "route_protocol": 99
    }

Every other key has a default (see DEFAULTS).  Every problem in the file is
collected and reported together in one ConfigError.

IPv6 is optional: an interface's `address6` (its global address on the link,
with the link's prefix length) and the top-level `prefixes6` (the IPv6
prefixes to advertise, shaped like `prefixes`).  A file without them is an
IPv4-only router, exactly as before the keys existed.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .. import bounded
from .addr import (
    format_prefix6,
    int_to_ip6,
    ip_to_int,
    mask,
    mask6,
    parse_interface,
    parse_interface6,
    parse_prefix,
    parse_prefix6,
    special6,
)
from .lsa import MAX_AGE_LIMIT, MAX_COST, MAX_METRIC, Prefix

MAX_PREFIXES6 = 256  # IPv6 prefixes in `prefixes6`: 19 bytes each on the wire, the LSA must fit one packet
DEFAULTS: dict[str, Any] = {
    "prefixes": [],
    "prefixes6": [],
    "hello_interval": 0.2,
    "dead_interval": 0.8,
    "retransmit_interval": 0.5,
    "lsa_refresh_interval": 30.0,
    "lsa_max_age": 90,
    "unreachable_hold": 30.0,
    "spf_delay": 0.01,
    "key": None,
    "control_socket": "/run/labnet-routed.sock",
    "route_protocol": 99,
    "route_metric": 20,
    "route_table": 254,
    "port": 5299,
    "multicast_group": "224.0.0.177",
    "log_level": "info",
}
REQUIRED = ("router_id", "interfaces")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("invalid routing configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Interface:
    name: str
    cost: int
    address: int  # this router's address on the link
    length: int  # prefix length of the link subnet
    address6: int | None = None  # this router's global IPv6 address on the link, if it has one
    length6: int = 0  # ... and the prefix length of the link's IPv6 subnet

    @property
    def network(self) -> int:
        return self.address & mask(self.length)

    @property
    def network6(self) -> int | None:
        return None if self.address6 is None else self.address6 & mask6(self.length6)


@dataclass(frozen=True)
class Config:
    router_id: int
    interfaces: tuple[Interface, ...]
    prefixes: tuple[Prefix, ...] = ()
    prefixes6: tuple[Prefix, ...] = ()
    hello_interval: float = DEFAULTS["hello_interval"]
    dead_interval: float = DEFAULTS["dead_interval"]
    retransmit_interval: float = DEFAULTS["retransmit_interval"]
    lsa_refresh_interval: float = DEFAULTS["lsa_refresh_interval"]
    lsa_max_age: int = DEFAULTS["lsa_max_age"]
    unreachable_hold: float = DEFAULTS["unreachable_hold"]
    spf_delay: float = DEFAULTS["spf_delay"]
    key: str | None = None
    control_socket: str = DEFAULTS["control_socket"]
    route_protocol: int = DEFAULTS["route_protocol"]
    route_metric: int = DEFAULTS["route_metric"]
    route_table: int = DEFAULTS["route_table"]
    port: int = DEFAULTS["port"]
    multicast_group: str = DEFAULTS["multicast_group"]
    log_level: str = DEFAULTS["log_level"]

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    @property
    def dual_stack(self) -> bool:
        """Whether this router has any IPv6 of its own (an address6 or prefixes6)."""
        return bool(self.prefixes6) or any(i.address6 is not None for i in self.interfaces)


def load(path: str) -> Config:
    try:
        raw = bounded.load_file(path)
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror}"]) from None
    except bounded.BoundedError as exc:
        raise ConfigError([f"{path}: not JSON: {exc.detail}"]) from None
    return parse(raw)


def parse(raw: Any) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(["the configuration must be a JSON object"])
    errors: list[str] = []
    unknown = sorted(set(raw) - set(DEFAULTS) - set(REQUIRED))
    errors += [f"{key}: unknown setting" for key in unknown]
    errors += [f"{key}: required" for key in REQUIRED if key not in raw]
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if k in DEFAULTS}}

    router_id = _router_id(raw.get("router_id", "0.0.0.1"), errors)
    interfaces = _interfaces(raw.get("interfaces", []), errors)
    prefixes = _prefixes(values["prefixes"], errors)
    prefixes6 = _prefixes6(values["prefixes6"], errors)
    _check_numbers(values, errors)
    if values["key"] is not None and (not isinstance(values["key"], str) or not values["key"]):
        errors.append("key: must be null or a non-empty string")
    for key in ("control_socket", "multicast_group"):
        if not isinstance(values[key], str) or not values[key]:
            errors.append(f"{key}: must be a non-empty string")
    if isinstance(values["multicast_group"], str) and not _link_local_group(values["multicast_group"]):
        errors.append("multicast_group: must be in 224.0.0.0/24 (link-local, never forwarded)")
    if values["log_level"] not in LOG_LEVELS:
        errors.append(f"log_level: one of {', '.join(LOG_LEVELS)}")
    if errors:
        raise ConfigError(errors)
    settings = {k: values[k] for k in DEFAULTS if k not in ("prefixes", "prefixes6")}
    return Config(router_id=router_id, interfaces=interfaces, prefixes=prefixes, prefixes6=prefixes6, **settings)


def _router_id(value: Any, errors: list[str]) -> int:
    try:
        rid = ip_to_int(value)
    except (ValueError, TypeError):
        errors.append(f"router_id: not a dotted-quad id: {value!r}")
        return 0
    if rid == 0:
        errors.append("router_id: 0.0.0.0 is not allowed")
    return rid


def _interfaces(value: Any, errors: list[str]) -> tuple[Interface, ...]:
    if not isinstance(value, list):
        errors.append("interfaces: must be a list")
        return ()
    out, names = [], set()
    addresses6: set[int] = set()
    for i, item in enumerate(value):
        where = f"interfaces[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object with name, cost, address")
            continue
        for key in sorted(set(item) - {"name", "cost", "address", "address6"}):
            errors.append(f"{where}.{key}: unknown setting")
        name, cost = item.get("name"), item.get("cost", 10)
        if not isinstance(name, str) or not 0 < len(name) < 16:
            errors.append(f"{where}.name: an interface name of 1-15 characters")
        elif name in names:
            errors.append(f"{where}.name: {name} listed twice")
        names.add(name)
        if not isinstance(cost, int) or isinstance(cost, bool) or not 1 <= cost <= MAX_COST:
            errors.append(f"{where}.cost: an integer in 1..{MAX_COST}")
        address6 = _address6(item["address6"], f"{where}.address6", addresses6, errors) if "address6" in item \
            else None
        try:
            address, length = parse_interface(item["address"])
        except (KeyError, ValueError, TypeError):
            errors.append(f"{where}.address: an IPv4 interface address like 10.0.12.1/30")
            continue
        if length > 30 and length != 31:
            errors.append(f"{where}.address: /{length} leaves no room for a neighbour")
            continue
        out.append(Interface(str(name), cost if isinstance(cost, int) else 10, address, length,
                             *(address6 or (None, 0))))
    return tuple(out)


def _address6(value: Any, where: str, seen: set[int], errors: list[str]) -> tuple[int, int] | None:
    """An interface's address6: (address, prefix length), or None after an error."""
    try:
        address, length = parse_interface6(value)
    except (ValueError, TypeError):
        errors.append(f"{where}: an IPv6 interface address with its prefix length, like 2001:db8:1:4::1/64:"
                      f" {value!r}")
        return None
    what = special6(address, 128)
    if what is not None:
        hint = " (the kernel makes the link-local one; give the global address)" if "link-local" in what else ""
        errors.append(f"{where}: {int_to_ip6(address)} is {what}{hint}")
        return None
    if length in (0, 128):
        errors.append(f"{where}: /{length} " + ("leaves no room for a neighbour" if length else "is no link subnet"))
        return None
    if address in seen:
        errors.append(f"{where}: {int_to_ip6(address)} listed twice")
        return None
    seen.add(address)
    return address, length


def _prefixes(value: Any, errors: list[str]) -> tuple[Prefix, ...]:
    if not isinstance(value, list):
        errors.append("prefixes: must be a list")
        return ()
    out = []
    for i, item in enumerate(value):
        text: Any
        text, metric = (item.get("prefix"), item.get("metric", 0)) if isinstance(item, dict) else (item, 0)
        try:
            network, length = parse_prefix(text)
        except (ValueError, TypeError):
            errors.append(f"prefixes[{i}]: not an IPv4 prefix like 10.0.1.0/24: {text!r}")
            continue
        if not isinstance(metric, int) or isinstance(metric, bool) or not 0 <= metric <= MAX_METRIC:
            errors.append(f"prefixes[{i}].metric: an integer in 0..{MAX_METRIC}")
            continue
        out.append(Prefix(network, length, metric))
    return tuple(out)


def _prefixes6(value: Any, errors: list[str]) -> tuple[Prefix, ...]:
    if not isinstance(value, list):
        errors.append("prefixes6: must be a list")
        return ()
    if len(value) > MAX_PREFIXES6:
        errors.append(f"prefixes6: at most {MAX_PREFIXES6} prefixes, not {len(value)}")
        return ()
    out = []
    for i, item in enumerate(value):
        where = f"prefixes6[{i}]"
        if isinstance(item, dict):
            errors += [f"{where}.{key}: unknown setting" for key in sorted(set(item) - {"prefix", "metric"})]
        text: Any
        text, metric = (item.get("prefix"), item.get("metric", 0)) if isinstance(item, dict) else (item, 0)
        try:
            network, length = parse_prefix6(text)
        except (ValueError, TypeError):
            errors.append(f"{where}: {_why_not_prefix6(text)}")
            continue
        what = special6(network, length)
        if what is not None:
            errors.append(f"{where}: {format_prefix6(network, length)} is {what}, not a routed prefix")
            continue
        if not isinstance(metric, int) or isinstance(metric, bool) or not 0 <= metric <= MAX_METRIC:
            errors.append(f"{where}.metric: an integer in 0..{MAX_METRIC}")
            continue
        out.append(Prefix(network, length, metric))
    return tuple(out)


def _why_not_prefix6(text: Any) -> str:
    try:
        loose = ipaddress.IPv6Network(text, strict=False) if isinstance(text, str) and "/" in text else None
    except ValueError:
        loose = None
    if loose is None:
        return f"not an IPv6 prefix like 2001:db8:1:1::/64: {text!r}"
    return f"{text} has host bits set (the prefix is {loose})"


_NUMBERS = {  # key: (type, low, high)
    "hello_interval": (float, 0.01, 65.0),
    "dead_interval": (float, 0.02, 3600.0),
    "retransmit_interval": (float, 0.05, 60.0),
    "lsa_refresh_interval": (float, 1.0, MAX_AGE_LIMIT),
    "lsa_max_age": (int, 3, MAX_AGE_LIMIT),
    "unreachable_hold": (float, 0.0, MAX_AGE_LIMIT),
    "spf_delay": (float, 0.0, 10.0),
    "route_protocol": (int, 5, 255),
    "route_metric": (int, 0, 0xFFFFFFFF),
    "route_table": (int, 1, 254),
    "port": (int, 1, 65535),
}


def _check_numbers(values: dict, errors: list[str]) -> None:
    before = len(errors)
    for key, (kind, low, high) in _NUMBERS.items():
        value = values[key]
        ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
        if not ok or not low <= value <= high:
            errors.append(f"{key}: {'a number' if kind is float else 'an integer'} in {low}..{high}")
    if len(errors) > before:
        return
    if values["dead_interval"] <= values["hello_interval"]:
        errors.append("dead_interval: must be longer than hello_interval")
    if values["lsa_refresh_interval"] >= values["lsa_max_age"]:
        errors.append("lsa_refresh_interval: must be shorter than lsa_max_age")


def _link_local_group(text: str) -> bool:
    try:
        return ip_to_int(text) >> 8 == 0xE00000
    except ValueError:
        return False
