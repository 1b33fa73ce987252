"""neigh: the MAC a node has learnt for a neighbour's address (ARP, RFC 826).

    lab-probe neigh 10.0.1.1 [--timeout 2]

Sends one UDP datagram to the address (port 9, discard), which makes the
kernel resolve it if its neighbour table has no usable entry, then reads the
entry (`ip -j neigh show to ADDRESS`) until it is resolved or --timeout
passes. The result: the MAC, the state (REACHABLE, STALE, DELAY, ...), the
interface; ok = a MAC is known (the state neither INCOMPLETE nor FAILED).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

MAX_OUTPUT = 64 * 1024
UNRESOLVED = {"INCOMPLETE", "FAILED", "NONE"}


def entry(address: str) -> dict | None:
    """The neighbour table's entry for address, or None."""
    try:
        done = subprocess.run(["ip", "-j", "neigh", "show", "to", address], capture_output=True, timeout=5,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or len(done.stdout) > MAX_OUTPUT:
        return None
    try:
        data = json.loads(done.stdout or b"[]")
    except ValueError:
        return None
    found = [e for e in data if isinstance(e, dict) and e.get("dst") == address] if isinstance(data, list) else []
    return found[0] if found else None


def _nudge(address: str) -> str | None:
    """One datagram to the address, so that the kernel resolves it; why not, if it cannot be sent."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"labnet neigh probe", (address, 9))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def probe(address: str, timeout: float = 2.0) -> dict:
    result: dict = {"probe": "neigh", "address": address, "ok": False}
    why = _nudge(address)
    deadline = time.monotonic() + timeout
    found = entry(address)
    while (found is None or _state(found) & UNRESOLVED or not found.get("lladdr")) and time.monotonic() < deadline:
        time.sleep(0.05)
        found = entry(address)
    if found is None:
        result["error"] = f"no neighbour entry for {address}" + (f" (sending to it: {why})" if why else
                                                                 " (is it on one of this node's links?)")
        return result
    result.update({"dev": found.get("dev"), "mac": found.get("lladdr"), "state": ",".join(sorted(_state(found)))})
    result["ok"] = bool(found.get("lladdr")) and not _state(found) & UNRESOLVED
    if not result["ok"]:
        result["error"] = f"{address} did not answer ARP (state {result['state'] or '?'})"
    return result


def _state(found: dict) -> set[str]:
    states = found.get("state")
    return {str(s) for s in states} if isinstance(states, list) else set()
