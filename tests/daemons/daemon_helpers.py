"""Helpers for the in-node program tests: subprocesses with collected output,
services on loopback port 0, bounded socket reads, throw-away network namespaces."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "images", "node")
NODE_DIR = os.path.normpath(NODE_DIR)
if NODE_DIR not in sys.path:
    sys.path.insert(0, NODE_DIR)


def node_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (NODE_DIR, env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Proc:
    """A subprocess whose output lines are collected as they come."""

    def __init__(self, argv: list[str], **popen) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=node_env(), text=True,
                                     **popen)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 5.0, start: int = 0) -> re.Match:
        """The first output line (from index start) matching the regex."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}; output:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(left, 0.1))

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def stop(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        return self.proc.returncode


class Service(Proc):
    """python3 -m labnode.services.<module> on 127.0.0.1, port 0."""

    def __init__(self, module: str, *args: str) -> None:
        super().__init__([sys.executable, "-m", f"labnode.services.{module}",
                          "--bind", "127.0.0.1", "--port", "0", *args])
        self.port = int(self.wait_for(r"listening on 127\.0\.0\.1:(\d+)")[1])


def connect(port: int, timeout: float = 3.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def recv_all(sock: socket.socket, timeout: float = 3.0) -> bytes:
    """Everything until the peer closes (bounded by timeout)."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def run_module(module: str, *args: str, timeout: float = 20.0, input: str | None = None,
               prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run python3 -m module args... to completion (bounded)."""
    argv = [*(prefix or []), sys.executable, "-m", module, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=node_env(),
                          timeout=timeout, input=input)


def is_root() -> bool:
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not is_root(), reason="needs root (raw sockets)")


NETNS_REASON = "needs root and iproute2 (network namespaces, raw sockets)"


def netns_marks(reason: str = NETNS_REASON) -> list[pytest.MarkDecorator]:
    """pytestmark of a test module that makes network namespaces."""
    return [pytest.mark.netns,
            pytest.mark.skipif(not is_root() or not shutil.which("ip"), reason=reason)]


def netns_test(test):
    """netns_marks() on one test (a module that also has tests without namespaces)."""
    for mark in netns_marks():
        test = mark(test)
    return test


def sh(*argv: str, input: str | None = None) -> str:
    """Run a command to completion (20 s at most); its stdout; CalledProcessError if it fails."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, input=input, timeout=20).stdout


class Netns:
    """A throw-away network namespace named PREFIX TAG-random, with lo up; delete() it."""

    def __init__(self, tag: str, prefix: str = "lntest-") -> None:
        self.name = f"{prefix}{tag}-{uuid.uuid4().hex[:6]}"
        sh("ip", "netns", "add", self.name)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> str:
        return sh("ip", "-n", self.name, *args)

    def ip_json(self, *args: str) -> list:
        return json.loads(self.ip("-j", *args) or "[]")

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def sysctl(self, *settings: str) -> None:
        sh(*self.exec_argv("sysctl", "-qw", *settings))

    def read_sysctl(self, name: str) -> str:
        return sh(*self.exec_argv("sysctl", "-n", name)).strip()

    def probe(self, *args: str, timeout: float = 30) -> tuple[int, dict]:
        """python3 -m labnode.probe ARGS in here: (exit status, its JSON result)."""
        done = subprocess.run(self.exec_argv(sys.executable, "-m", "labnode.probe", *args),
                              capture_output=True, text=True, env=node_env(), timeout=timeout)
        return done.returncode, json.loads(done.stdout)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=20)


def veth(a: Netns, dev_a: str, b: Netns, dev_b: str) -> None:
    """A veth pair: dev_a in a, its peer dev_b in b (both down)."""
    sh("ip", "link", "add", dev_a, "netns", a.name, "type", "veth", "peer", "name", dev_b, "netns", b.name)


@contextlib.contextmanager
def netns_resolver(ns: Netns, hosts: str):
    """iproute2's per-namespace /etc/netns/NAME/hosts (127.0.0.1 localhost and
    `hosts`) and a resolv.conf naming a server no one runs, so a name lookup in
    `ns` sees only these; both removed afterwards, /etc/netns too if made here."""
    etc = "/etc/netns"
    own_etc = not os.path.isdir(etc)
    files = os.path.join(etc, ns.name)
    try:
        os.makedirs(files)
        with open(os.path.join(files, "hosts"), "w", encoding="ascii") as f:
            f.write(f"127.0.0.1 localhost\n{hosts}\n")
        with open(os.path.join(files, "resolv.conf"), "w", encoding="ascii") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        yield
    finally:
        for name in ("hosts", "resolv.conf"):
            if os.path.exists(os.path.join(files, name)):
                os.remove(os.path.join(files, name))
        if os.path.isdir(files):
            os.rmdir(files)
        if own_etc and os.path.isdir(etc) and not os.listdir(etc):
            os.rmdir(etc)


def link_local(ns: Netns, dev: str) -> str:
    """The fe80:: address of `dev` in `ns`."""
    return next(info["local"] for link in ns.ip_json("-6", "addr", "show", "dev", dev)
                for info in link["addr_info"] if info["scope"] == "link")
