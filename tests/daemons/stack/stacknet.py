"""A throw-away namespace pair with the user-space stack on a TAP, for the
netns tests and bench/bench_stack.py.

    netns S (the stack's node)                 netns K (a kernel host)
    +--------------------------------------+   +----------------------+
    | stack process -- tap0 --+            |   |                      |
    |                         br0 -- vs ---+---+-- vk 10.77.0.1/24    |
    +--------------------------------------+   +----------------------+

The stack is 10.77.0.5/24 (gateway 10.77.0.1); the kernel in S keeps no
address on br0, tap0 or vs, which is how labnet joins a node's link to the
stack (docs/user-stack.md).  Namespaces are named h5stk-<random>-s/-k;
close() stops the stack and deletes both, and with them every device.
"""
from __future__ import annotations

import json
import os
import pathlib
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

NODE_DIR = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
PREFIX = "h5stk-"
KERNEL_IP = "10.77.0.1"
STACK_IP = "10.77.0.5"
STACK_MAC = "02:00:00:77:00:05"


def netns_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"`ip netns add` fails here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def leftover_namespaces(tag: str) -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.startswith(PREFIX + tag)]


class StackNet:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.s = f"{PREFIX}{self.tag}-s"
        self.k = f"{PREFIX}{self.tag}-k"
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.tag}-"))
        self.www = self.workdir / "www"
        self.www.mkdir()
        self.control = str(self.workdir / "stack.sock")
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.helpers: list[subprocess.Popen] = []

    def create(self) -> None:
        for ns in (self.s, self.k):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"], capture_output=True)
        ip("-n", self.s, "link", "add", "br0", "type", "bridge")
        ip("-n", self.s, "tuntap", "add", "mode", "tap", "name", "tap0")
        ip("link", "add", "vs", "netns", self.s, "type", "veth", "peer", "name", "vk", "netns", self.k)
        for dev in ("tap0", "vs"):
            ip("-n", self.s, "link", "set", dev, "master", "br0")
            ip("-n", self.s, "link", "set", dev, "up")
        ip("-n", self.s, "link", "set", "br0", "up")
        ip("-n", self.k, "addr", "add", f"{KERNEL_IP}/24", "dev", "vk")
        ip("-n", self.k, "link", "set", "vk", "up")

    def config(self, **extra) -> dict:
        cfg = {"tap": "tap0", "mac": STACK_MAC, "address": f"{STACK_IP}/24", "gateway": KERNEL_IP,
               "apps": [{"type": "http", "port": 80, "root": str(self.www)}, {"type": "echo", "port": 7},
                        {"type": "udp-echo", "port": 7}],
               "control_socket": self.control}
        cfg.update(extra)
        return cfg

    def start_stack(self, **extra) -> None:
        path = self.workdir / "stack.json"
        path.write_text(json.dumps(self.config(**extra)))
        env = dict(os.environ, PYTHONPATH=str(NODE_DIR), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.s, sys.executable, "-m", "labnode.stack",
                                      "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        threading.Thread(target=self._reader, daemon=True).start()
        ready = 0
        deadline = time.monotonic() + 30
        while ready < 4:  # three apps and the control socket
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the stack did not get ready: " + "".join(self.output)[-2000:]) from None
            if "listening on" in line:
                ready += 1

    def _reader(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def stop_stack(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc = None

    def run_in(self, ns: str, *argv: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=str(NODE_DIR), PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, timeout=timeout,
                              env=env, **kw)

    def spawn_in(self, ns: str, *argv: str, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)
        self.helpers.append(proc)
        return proc

    def http_server_in_k(self, folder: pathlib.Path, port: int = 8000) -> None:
        """python -m http.server in K, bound to the kernel's lab address."""
        proc = self.spawn_in(self.k, sys.executable, "-m", "http.server", "--bind", KERNEL_IP, "--directory",
                             str(folder), str(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = self.run_in(self.k, sys.executable, "-c",
                                f"import socket; socket.create_connection(('{KERNEL_IP}', {port}), 1)")
            if probe.returncode == 0:
                return
            if proc.poll() is not None:
                raise RuntimeError("http.server did not start")
            time.sleep(0.1)
        raise RuntimeError("http.server did not start")

    def get(self, url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.run_in(self.s, sys.executable, "-m", "labnode.stack.get", "--control", self.control,
                           "--json", "--timeout", str(timeout), *args, url,
                           timeout=timeout + 10)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return self.run_in(self.s, sys.executable, "-m", "labnode.stack.cli", "--socket", self.control, *args)

    def close(self) -> None:
        for proc in self.helpers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.stop_stack()
        for ns in (self.s, self.k):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
