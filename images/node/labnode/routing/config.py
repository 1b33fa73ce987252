"""The daemon's configuration file (JSON), validated all at once.

    {
      "router_id": "1.1.1.1",
      "interfaces": [{"name": "eth1", "cost": 10, "address": "10.0.12.1/30"}],
      "prefixes": ["10.0.1.0/24", {"prefix": "10.9.0.0/16", "metric": 5}],
      "hello_interval": 0.2,
      "dead_interval": 0.8,
      "key": null,
      "control_socket": "/run/labnet-routed.sock",
      "route_protocol": 99
    }

Every other key has a default (see DEFAULTS).  Every problem in the file is
collected and reported together in one ConfigError.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import bounded
from .addr import ip_to_int, mask, parse_interface, parse_prefix
from .lsa import MAX_AGE_LIMIT, MAX_COST, MAX_METRIC, Prefix

DEFAULTS: dict[str, Any] = {
    "prefixes": [],
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

    @property
    def network(self) -> int:
        return self.address & mask(self.length)


@dataclass(frozen=True)
class Config:
    router_id: int
    interfaces: tuple[Interface, ...]
    prefixes: tuple[Prefix, ...] = ()
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
    settings = {k: values[k] for k in DEFAULTS if k != "prefixes"}
    return Config(router_id=router_id, interfaces=interfaces, prefixes=prefixes, **settings)


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
    for i, item in enumerate(value):
        where = f"interfaces[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object with name, cost, address")
            continue
        for key in sorted(set(item) - {"name", "cost", "address"}):
            errors.append(f"{where}.{key}: unknown setting")
        name, cost = item.get("name"), item.get("cost", 10)
        if not isinstance(name, str) or not 0 < len(name) < 16:
            errors.append(f"{where}.name: an interface name of 1-15 characters")
        elif name in names:
            errors.append(f"{where}.name: {name} listed twice")
        names.add(name)
        if not isinstance(cost, int) or isinstance(cost, bool) or not 1 <= cost <= MAX_COST:
            errors.append(f"{where}.cost: an integer in 1..{MAX_COST}")
        try:
            address, length = parse_interface(item["address"])
        except (KeyError, ValueError, TypeError):
            errors.append(f"{where}.address: an IPv4 interface address like 10.0.12.1/30")
            continue
        if length > 30 and length != 31:
            errors.append(f"{where}.address: /{length} leaves no room for a neighbour")
            continue
        out.append(Interface(str(name), cost if isinstance(cost, int) else 10, address, length))
    return tuple(out)


def _prefixes(value: Any, errors: list[str]) -> tuple[Prefix, ...]:
    if not isinstance(value, list):
        errors.append("prefixes: must be a list")
        return ()
    out = []
    for i, item in enumerate(value):
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
