"""dhcp: what a host's interface holds from DHCP (lab-dhclient installs it).

    lab-probe dhcp eth0 [--wait 10]

Reads the interface's IPv4 addresses and the default route (`ip -j`), waiting
up to --wait seconds for an address the kernel marks dynamic (one installed
with a lease's lifetime). The result: the address (CIDR), its seconds left,
the default gateway and the nameservers of /etc/resolv.conf; ok = a dynamic
address is there.
"""

from __future__ import annotations

import json
import subprocess
import time

from labnode.probe.dns import nameservers

MAX_OUTPUT = 256 * 1024


def _ip(*args: str) -> list:
    done = subprocess.run(["ip", "-j", "-4", *args], capture_output=True, timeout=5, check=False)
    if done.returncode != 0 or len(done.stdout) > MAX_OUTPUT:
        return []
    try:
        data = json.loads(done.stdout or b"[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def lease(iface: str) -> dict | None:
    """The first dynamic IPv4 address of iface: {address, seconds_left}, or None."""
    for link in _ip("addr", "show", "dev", iface):
        for info in link.get("addr_info", []) if isinstance(link, dict) else []:
            if isinstance(info, dict) and info.get("family") == "inet" and info.get("dynamic"):
                return {"address": f"{info.get('local')}/{info.get('prefixlen')}",
                        "seconds_left": info.get("valid_life_time")}
    return None


def gateway() -> str | None:
    for route in _ip("route", "show", "default"):
        if isinstance(route, dict) and route.get("gateway"):
            return str(route["gateway"])
    return None


def probe(iface: str, wait: float = 10.0) -> dict:
    deadline = time.monotonic() + wait
    found = lease(iface)
    while found is None and time.monotonic() < deadline:
        time.sleep(0.1)
        found = lease(iface)
    result: dict = {"probe": "dhcp", "iface": iface, "ok": found is not None}
    if found is None:
        result["error"] = f"{iface} holds no address from DHCP (waited {wait:g} s)"
        return result
    result.update(found)
    result["gateway"] = gateway()
    result["nameservers"] = nameservers()
    return result
