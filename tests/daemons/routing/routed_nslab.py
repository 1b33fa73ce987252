"""A Topology built from throw-away network namespaces, one daemon in each.

Namespaces are named lsd-test-<random>-rN (or another `prefix`); veth pairs
are created directly inside them, so nothing touches the host's namespace.
`close()` (always call it: use the `lab` context manager) kills the daemons
and deletes the namespaces.

A dual-stack topology gets IPv6 too: enabled, forwarding, without
duplicate address detection and keeping addresses on an interface set down
(keep_addr_on_down) in every namespace, the topology's IPv6
addresses on the links and LANs; `kernel_routes(r, 6)` and the convergence
checks then cover both families.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from routed_topo import Topology

NODE_DIR = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
PREFIX = "lsd-test-"


def netns_available() -> str | None:
    """None if namespaces can be used here, else the reason why not."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"`ip netns add` fails here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


IPV6_SYSCTLS = ("net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                # an interface set down keeps its IPv6 addresses (the default drops them, IPv4 ones stay)
                "net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1")


class NetnsLab:
    def __init__(self, topo: Topology, settings: dict | None = None, prefix: str = PREFIX):
        self.topo = topo
        self.settings = settings or {}
        self.prefix = prefix
        self.tag = secrets.token_hex(3)
        self.ns = {r: f"{prefix}{self.tag}-{r}" for r in topo.routers}
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{prefix}{self.tag}-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, object] = {}

    # -- building -----------------------------------------------------------
    def create(self) -> None:
        for r, ns in self.ns.items():
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            self.sysctl(r, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0")
            if self.topo.dual_stack:
                self.sysctl(r, *IPV6_SYSCTLS)
            # A stand-in for the router's LAN: a veth pair inside the namespace.
            ip("-n", ns, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p")
            ip("-n", ns, "addr", "add", self.topo.lan_address(r), "dev", "lan0")
            if self.topo.dual_stack:
                ip("-n", ns, "-6", "addr", "add", self.topo.lan_address6(r), "dev", "lan0", "nodad")
            ip("-n", ns, "link", "set", "lan0p", "up")
            ip("-n", ns, "link", "set", "lan0", "up")
        for link in self.topo.links:
            a, b = link.iface(link.a), link.iface(link.b)
            ip("link", "add", a, "netns", self.ns[link.a], "type", "veth", "peer", "name", b, "netns", self.ns[link.b])
            for r, name in ((link.a, a), (link.b, b)):
                ip("-n", self.ns[r], "addr", "add", f"{link.address(r)}/30", "dev", name)
                if self.topo.dual_stack:
                    ip("-n", self.ns[r], "-6", "addr", "add", f"{link.address6(r)}/64", "dev", name, "nodad")
                ip("-n", self.ns[r], "link", "set", name, "up")

    def sysctl(self, r: str, *settings: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns[r], "sysctl", "-q", "-w", *settings],
                       check=True, capture_output=True)

    def run_in(self, r: str, code: str, timeout: float = 10) -> subprocess.CompletedProcess:
        """Run Python `code` inside r's namespace."""
        env = {**os.environ, "PYTHONPATH": str(NODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run(["ip", "netns", "exec", self.ns[r], sys.executable, "-c", code],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def config_path(self, r: str) -> pathlib.Path:
        return self.workdir / f"{r}.json"

    def socket_path(self, r: str) -> str:
        return str(self.workdir / f"{r}.sock")

    def start(self, r: str, **overrides) -> None:
        cfg = self.topo.config(r, control_socket=self.socket_path(r), **{**self.settings, **overrides})
        self.config_path(r).write_text(json.dumps(cfg, indent=2))
        log = open(self.workdir / f"{r}.log", "ab")
        self.logs[r] = log
        env = {**os.environ, "PYTHONPATH": str(NODE_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
        self.procs[r] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[r], sys.executable, "-m", "labnode.routing",
             "--config", str(self.config_path(r))], stdout=log, stderr=subprocess.STDOUT, env=env)

    def start_all(self) -> None:
        for r in self.topo.routers:
            self.start(r)

    # -- acting ---------------------------------------------------------------
    def set_link(self, index: int, up: bool, side: str = "a") -> None:
        link = next(candidate for candidate in self.topo.links if candidate.index == index)
        r = link.a if side == "a" else link.b
        ip("-n", self.ns[r], "link", "set", link.iface(r), "up" if up else "down")

    def signal(self, r: str, signum: int) -> int | None:
        """Send `signum` to r's daemon; wait for it and return its exit code."""
        proc = self.procs.pop(r)
        proc.send_signal(signum)
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    # -- observing ------------------------------------------------------------
    def kernel_routes(self, r: str, family: int = 4) -> dict[str, frozenset]:
        """prefix -> {(iface, gateway)} of r's routes (IPv4, or IPv6 with family=6) with protocol 99."""
        out = json.loads(ip("-n", self.ns[r], f"-{family}", "-j", "route", "show", "proto", "99") or "[]")
        table = {}
        for route in out:
            hops = route.get("nexthops") or [route]
            table[route["dst"]] = frozenset((h["dev"], h["gateway"]) for h in hops)
        return table

    def ask(self, r: str, command: str):
        from labnode.routing.cli import ask
        return ask(self.socket_path(r), command)

    def families(self) -> tuple[int, ...]:
        return (4, 6) if self.topo.dual_stack else (4,)

    def matches(self, r: str, down=frozenset(), dead=frozenset()) -> bool:
        for family in self.families():
            expected = self.topo.expected_routes(r, frozenset(down), frozenset(dead), family)
            if self.kernel_routes(r, family) != {p: hops for p, (_, hops) in expected.items()}:
                return False
        return True

    def wait_converged(self, limit: float, down=frozenset(), dead=frozenset(), poll: float = 0.02) -> float:
        """Seconds until every live router's kernel table matches the reference."""
        start = time.monotonic()
        alive = [r for r in self.topo.routers if r not in dead]
        while True:
            if all(self.matches(r, down, dead) for r in alive):
                return time.monotonic() - start
            if time.monotonic() - start > limit:
                raise AssertionError(f"no convergence within {limit} s:\n{self.describe(alive, down, dead)}")
            time.sleep(poll)

    def describe(self, routers, down=frozenset(), dead=frozenset()) -> str:
        lines = []
        for r in routers:
            for family in self.families():
                reference = self.topo.expected_routes(r, frozenset(down), frozenset(dead), family)
                expected = {p: sorted(h) for p, (_, h) in reference.items()}
                got = {p: sorted(h) for p, h in self.kernel_routes(r, family).items()}
                if expected != got:
                    lines.append(f"{r} IPv{family}: expected {expected}\n    got      {got}")
        return "\n".join(lines) or "(all match now)"

    def log_text(self, r: str) -> str:
        path = self.workdir / f"{r}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- teardown -------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        for log in self.logs.values():
            log.close()
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def lab(topo: Topology, settings: dict | None = None, start: bool = True, prefix: str = PREFIX):
    nslab = NetnsLab(topo, settings, prefix)
    try:
        nslab.create()
        if start:
            nslab.start_all()
        yield nslab
    finally:
        nslab.close()


def leftover_namespaces(tag: str, prefix: str = PREFIX) -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.startswith(prefix + tag)]
