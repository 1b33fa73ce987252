#!/usr/bin/env python3
"""How long 50 real DHCP clients take to all hold a lease: our server
(labnode.dhcp.server) against dnsmasq's DHCP, interleaved ABAB in the same run.

One throw-away namespace holds a bridge; the server's namespace and N client
namespaces (labnet-bdhN-*) are plugged into it by veths.  All N clients
(dhclient from isc-dhcp-client, or --client udhcpc) start at once; the figure
is the wall time from the start until the last one has exited with a lease.
Between rounds the clients are stopped and their lease files removed, so
every round is N fresh DISCOVER/OFFER/REQUEST/ACK exchanges.  Root only;
nothing leaves the namespaces, which are removed at the end.

    python3 bench/bench_dhcp.py [--clients 50] [--rounds 2] [--client dhclient|udhcpc]

Needs isc-dhcp-client (or udhcpc), and dnsmasq-base for the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "images" / "node"
PREFIX = "labnet-bdh"
SCRIPT = """#!/bin/sh
# installs nothing but the address: enough to say the lease is held
case "$reason$1" in
  PREINIT|deconfig) ip link set dev "$interface" up ;;
  BOUND|REBOOT) ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  bound) ip addr add "$ip/$mask" dev "$interface" ;;
esac
exit 0
"""
DHCLIENT_CONF = "timeout 60;\nretry 1;\ninitial-interval 1;\nrequest subnet-mask, routers, domain-name-servers;\n"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


class Bench:
    def __init__(self, clients: int, client_kind: str) -> None:
        self.n = clients
        self.kind = client_kind
        self.tag = f"{PREFIX}{os.getpid() % 10000}"
        self.work = Path(tempfile.mkdtemp(prefix=self.tag + "-"))
        self.namespaces: list[str] = []
        (self.work / "script.sh").write_text(SCRIPT)
        (self.work / "script.sh").chmod(0o755)
        (self.work / "dhclient.conf").write_text(DHCLIENT_CONF)

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def build(self) -> None:
        for role in ["sw", "srv", *(f"c{i}" for i in range(self.n))]:
            sh("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
        sh("ip", "-n", self.ns("sw"), "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        sh("ip", "-n", self.ns("sw"), "link", "set", "br0", "up")
        for i, role in enumerate(["srv", *(f"c{i}" for i in range(self.n))]):
            sh("ip", "link", "add", "eth0", "netns", self.ns(role), "type", "veth",
               "peer", "name", f"p{i}", "netns", self.ns("sw"))
            sh("ip", "-n", self.ns("sw"), "link", "set", f"p{i}", "master", "br0", "up")
            if role != "srv":
                mac = f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}"
                sh("ip", "-n", self.ns(role), "link", "set", "eth0", "address", mac)
            sh("ip", "-n", self.ns(role), "link", "set", "eth0", "up")
        sh("ip", "-n", self.ns("srv"), "addr", "add", "10.77.0.1/16", "dev", "eth0")

    def start_ours(self) -> subprocess.Popen:
        config = {"interfaces": ["eth0"], "lease_file": str(self.work / "ours-leases.json"),
                  "pools": [{"subnet": "10.77.0.0/16", "range": ["10.77.1.0", "10.77.1.250"],
                             "router": "10.77.0.1", "dns": ["10.77.0.53"], "lease": 3600}]}
        (self.work / "ours.json").write_text(json.dumps(config))
        (self.work / "ours-leases.json").unlink(missing_ok=True)
        env = dict(os.environ, PYTHONPATH=str(NODE), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns("srv"), sys.executable, "-m",
                                 "labnode.dhcp.server", "--config", str(self.work / "ours.json")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"our server did not start: {line}{proc.stdout.read()}")
        self._drain(proc)
        return proc

    def start_dnsmasq(self, *extra: str) -> subprocess.Popen:
        (self.work / "dnsmasq.leases").unlink(missing_ok=True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns("srv"), "dnsmasq", "--no-daemon",
                                 "--conf-file=/dev/null", "--port=0", "--interface=eth0", "--bind-interfaces",
                                 "--dhcp-range=10.77.1.0,10.77.1.250,255.255.0.0,1h",
                                 "--dhcp-option=3,10.77.0.1", "--dhcp-option=6,10.77.0.53",
                                 f"--dhcp-leasefile={self.work / 'dnsmasq.leases'}",
                                 f"--pid-file={self.work / 'dnsmasq.pid'}", "--log-facility=-", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"dnsmasq did not start: {proc.stdout.read() if proc.stdout else ''}")
        self._drain(proc)
        return proc

    @staticmethod
    def _drain(proc: subprocess.Popen) -> None:
        import threading
        threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()

    def client_argv(self, i: int) -> list[str]:
        d = self.work
        if self.kind == "dhclient":
            return ["dhclient", "-1", "-cf", str(d / "dhclient.conf"), "-sf", str(d / "script.sh"),
                    "-pf", str(d / f"c{i}.pid"), "-lf", str(d / f"c{i}.leases"), "eth0"]
        return ["udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "30", "-T", "1", "-s", str(d / "script.sh")]

    def round(self) -> tuple[float, int]:
        """Start every client at once; (seconds until all have finished, how
        many of them failed to get a lease)."""
        start = time.perf_counter()
        procs = [subprocess.Popen(["ip", "netns", "exec", self.ns(f"c{i}"), *self.client_argv(i)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for i in range(self.n)]
        codes = [p.wait(120) for p in procs]
        elapsed = time.perf_counter() - start
        failed = sum(1 for c in codes if c != 0)
        got = sum(1 for i in range(self.n) if "10.77.1." in sh(
            "ip", "-n", self.ns(f"c{i}"), "-4", "addr", "show", "dev", "eth0").stdout)
        self.reset()
        return elapsed, max(failed, self.n - got)

    def reset(self) -> None:
        """Stop the clients (and wait for them), forget their leases, flush their addresses."""
        pids = []
        for i in range(self.n):
            pidfile = self.work / f"c{i}.pid"
            try:
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
            except (OSError, ValueError, IndexError):
                pass
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
            time.sleep(0.05)
        for i in range(self.n):
            pidfile = self.work / f"c{i}.pid"
            pidfile.unlink(missing_ok=True)
            (self.work / f"c{i}.leases").unlink(missing_ok=True)
            sh("ip", "-n", self.ns(f"c{i}"), "-4", "addr", "flush", "dev", "eth0")

    def close(self) -> None:
        self.reset()
        for name in self.namespaces:
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client", choices=["dhclient", "udhcpc"], default="dhclient")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_dhcp: needs root (network namespaces)", file=sys.stderr)
        return 1
    if shutil.which(args.client) is None:
        package = "isc-dhcp-client" if args.client == "dhclient" else "udhcpc"
        print(f"bench_dhcp: {args.client} is not installed (apt-get install {package})", file=sys.stderr)
        return 1
    servers: dict[str, Callable[[Bench], subprocess.Popen]] = {"ours": Bench.start_ours}
    if shutil.which("dnsmasq"):
        # dnsmasq pings an address before offering it and stays silent meanwhile, so a
        # client gets its OFFER on a later DISCOVER (about 3 s); --no-ping skips that
        # check, which our server does not make either
        servers["dnsmasq"] = Bench.start_dnsmasq
        servers["dnsmasq-np"] = lambda bench: bench.start_dnsmasq("--no-ping")
    else:
        print("dnsmasq not installed (apt-get install dnsmasq-base): ours only")
    bench = Bench(args.clients, args.client)
    times: dict[str, list[float]] = {name: [] for name in servers}
    failures: dict[str, int] = {name: 0 for name in servers}
    try:
        bench.build()
        for _ in range(args.rounds):
            for name, start in servers.items():
                proc = start(bench)
                try:
                    elapsed, failed = bench.round()
                    times[name].append(elapsed)
                    failures[name] += failed
                finally:
                    stop(proc)
    finally:
        bench.close()
    print(f"{args.clients} {args.client} clients, each in its own namespace on one bridge, "
          f"all started at once; seconds until all hold a lease ({args.rounds} rounds):")
    for name, values in times.items():
        print(f"  {name:10} median {statistics.median(values):6.2f} s   "
              f"rounds: {', '.join(f'{v:.2f}' for v in values)}"
              + (f"   ({failures[name]} clients without a lease)" if failures[name] else ""))
    for other in ("dnsmasq", "dnsmasq-np"):
        if other in times:
            ratio = statistics.median(times["ours"]) / statistics.median(times[other])
            print(f"  ours / {other}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
