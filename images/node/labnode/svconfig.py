"""The supervisor's configuration: which services to run, and how.

    {"services": [
        {"name": "web",  "type": "http", "args": {"port": 80, "root": "/srv/web"}},
        {"name": "chat", "type": "chat", "args": {"port": 5000}},
        {"name": "mine", "type": "command", "command": ["python3", "/srv/server.py"]}
    ]}

`args` become command-line flags of the service module: {"port": 80} is
`--port 80`, underscores become dashes, true is a bare flag, false and null
are left out, a list repeats the flag.  `name` defaults to the type and names
the log file, so it must be unique and file-name safe.  The `command` type
runs any program (a student's own server, say) under the same supervision.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from labnode import bounded
from labnode.services import MODULES

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TYPES = sorted([*MODULES, "command"])


class ConfigError(Exception):
    """The configuration file as a whole cannot be used."""


@dataclass
class ServiceSpec:
    name: str
    type: str
    argv: list[str] = field(default_factory=list)
    error: str | None = None  # set when this entry cannot run (the others still do)


def flags(args: dict) -> list[str]:
    """{"port": 80, "root": "/srv"} -> ["--port", "80", "--root", "/srv"]."""
    out: list[str] = []
    for key, value in args.items():
        flag = "--" + str(key).replace("_", "-")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is True:
                out.append(flag)
            elif item is False or item is None:
                continue
            elif isinstance(item, (str, int, float)):
                out += [flag, str(item)]
            else:
                raise ValueError(f"argument {key!r} must be a string, number, boolean or list")
    return out


def build(entry, index: int, python: str = sys.executable) -> ServiceSpec:
    """The ServiceSpec of one config entry (with .error set if it is unusable)."""
    if not isinstance(entry, dict):
        return ServiceSpec(f"service{index}", "?", error=f"services[{index}] is not an object")
    kind = entry.get("type")
    name = entry.get("name", kind)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return ServiceSpec(f"service{index}", str(kind),
                           error=f"services[{index}]: bad name {name!r} (letters, digits, _ . -)")
    spec = ServiceSpec(name, str(kind))
    if kind == "command":
        command = entry.get("command")
        if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            spec.error = f"service {name!r}: type command needs \"command\": [program, args...]"
        else:
            spec.argv = list(command)
        return spec
    if kind not in MODULES:
        spec.error = f"service {name!r}: unknown type {kind!r} (known: {', '.join(TYPES)})"
        return spec
    args = entry.get("args", {})
    if not isinstance(args, dict):
        spec.error = f"service {name!r}: args must be an object"
        return spec
    try:
        spec.argv = [python, "-m", MODULES[kind], *flags(args)]
    except ValueError as exc:
        spec.error = f"service {name!r}: {exc}"
    return spec


def load(path: str) -> list[ServiceSpec]:
    """Every service of the config file; unusable entries carry an error."""
    data = bounded.load_config(path, ConfigError)
    if not isinstance(data, dict) or not isinstance(data.get("services", []), list):
        raise ConfigError(f'{path}: expected {{"services": [...]}}')
    specs: list[ServiceSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(data.get("services", [])):
        spec = build(entry, index)
        if spec.name in seen:
            spec = ServiceSpec(f"{spec.name}-{index}", spec.type,
                               error=f"services[{index}]: duplicate name {spec.name!r}")
        seen.add(spec.name)
        specs.append(spec)
    return specs
