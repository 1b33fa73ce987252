"""Helpers for the DNS server tests (a module of its own: `conftest` is a
name every test folder has): run our server (python3 -m labnode.dns.server)
with a config dict, ask it over UDP and TCP, the example zone and a whole
DNS tree's configs."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import struct
import sys

import pytest
from daemon_helpers import Proc

from labnode.dns import message as dm


def require_tool(tool: str, package: str) -> str:
    """The tool's path; the test FAILS (never skips) naming the Debian package if it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is not installed: apt-get install {package}")
    return path


class DnsProc(Proc):
    """Our server with a config dict, started and waited for ("dns listening on")."""

    def __init__(self, config: dict, workdir: pathlib.Path, prefix: list[str] | None = None,
                 name: str = "dns") -> None:
        path = workdir / f"{name}-{id(self)}.json"
        path.write_text(json.dumps(config))
        super().__init__([*(prefix or []), sys.executable, "-m", "labnode.dns.server", "--config", str(path)])
        found = self.wait_for(r"dns listening on (\S+):(\d+)")
        self.address, self.port = found[1], int(found[2])


def free_port(address: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on address."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((address, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def ask(address: str, port: int, msg: dm.Message, timeout: float = 3.0) -> dm.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(dm.encode(msg), (address, port))
        return dm.decode(sock.recv(65535))


def ask_tcp(address: str, port: int, msg: dm.Message, timeout: float = 3.0) -> dm.Message:
    with socket.create_connection((address, port), timeout=timeout) as sock:
        wire = dm.encode(msg)
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        return dm.decode(read_framed(sock))


def read_framed(sock: socket.socket) -> bytes:
    head = recv_exactly(sock, 2)
    return recv_exactly(sock, struct.unpack("!H", head)[0])


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


EXAMPLE_ZONE = {"origin": "example.lab", "ttl": 300, "records": [
    {"name": "www", "type": "A", "value": "10.0.1.10"},
    {"name": "www", "type": "AAAA", "value": "fd00::10"},
    {"name": "@", "type": "MX", "value": "10 mail"},
    {"name": "@", "type": "MX", "value": "20 mx2"},
    {"name": "mx2", "type": "A", "value": "10.0.1.25"},
    {"name": "@", "type": "NS", "value": "ns1"},
    {"name": "ns1", "type": "A", "value": "10.0.1.53"},
    {"name": "mail", "type": "CNAME", "value": "www"},
    {"name": "txt", "type": "TXT", "value": "hello"},
    {"name": "a.b.deep", "type": "A", "value": "10.0.1.99"},
    {"name": "sub", "type": "NS", "value": "ns.sub"},
    {"name": "ns.sub", "type": "A", "value": "10.0.2.53"},
    {"name": "out", "type": "CNAME", "value": "elsewhere.other.lab."},
]}


def tree_configs(addresses: dict[str, str], port: int) -> dict[str, dict]:
    """Configs of a DNS tree: root ".", TLD "lab", authoritative "example.lab",
    and a resolver, each on its own address (same port): addresses has keys
    root, tld, auth, resolver."""
    root, tld, auth = addresses["root"], addresses["tld"], addresses["auth"]
    zone = json.loads(json.dumps(EXAMPLE_ZONE))
    zone["records"] = [r for r in zone["records"] if r["name"] not in ("ns1",)]
    zone["records"].append({"name": "ns1", "type": "A", "value": auth})
    return {
        "root": {"listen": [root], "port": port, "zones": [{"origin": ".", "records": [
            {"name": "@", "type": "NS", "value": "a.root.lab."},
            {"name": "a.root.lab.", "type": "A", "value": root},
            {"name": "lab", "type": "NS", "value": "ns.lab."},
            {"name": "ns.lab.", "type": "A", "value": tld}]}]},
        "tld": {"listen": [tld], "port": port, "zones": [{"origin": "lab", "records": [
            {"name": "@", "type": "NS", "value": "ns"},
            {"name": "ns", "type": "A", "value": tld},
            {"name": "a.root", "type": "A", "value": root},
            {"name": "example", "type": "NS", "value": "ns1.example"},
            {"name": "ns1.example", "type": "A", "value": auth}]}]},
        "auth": {"listen": [auth], "port": port, "zones": [zone],
                 "reverse": {"www.example.lab": ["10.0.1.10"]}},
        "resolver": {"listen": [addresses["resolver"]], "port": port,
                     "recursion": {"root_hints": [{"name": "a.root.lab", "address": root}],
                                   "allow": ["127.0.0.0/8"], "port": port, "timeout": 0.5}},
    }
