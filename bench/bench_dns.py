"""DNS benchmark: our resolver (labnode.dns.server) against dnsmasq, cached name.

    python3 bench/bench_dns.py [--duration 5] [--rounds 3] [--outstanding 100] [--quiet-log]

Everything runs on loopback: a DNS tree of our servers (root 127.0.0.11,
TLD 127.0.0.12, example.lab 127.0.0.13) behind our resolver on 127.0.0.20,
and dnsmasq on 127.0.0.30 answering www.example.lab from --address (no
upstream at all: --no-resolv, --conf-file=/dev/null).  Our resolver's cache
is primed with one query first, so both answer www.example.lab A from
memory.  The load is dnsperf (Debian package dnsperf) with --outstanding
queries in flight, or without it our own generator below (one UDP socket,
a bounded number of outstanding queries, for a bounded time).  The two
servers are measured in turn, ABAB..., for --rounds rounds; the medians and
their ratio are printed.  With --quiet-log our server logs no query lines
(it logs one per query by default, as deployed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(REPO, "images", "node")
sys.path.insert(0, NODE_DIR)
sys.path.insert(0, os.path.join(REPO, "tests", "daemons"))
sys.path.insert(0, os.path.join(REPO, "tests", "daemons", "dns"))

from labnode.dns import message as dm  # noqa: E402

ADDRS = {"root": "127.0.0.11", "tld": "127.0.0.12", "auth": "127.0.0.13", "resolver": "127.0.0.20"}
DNSMASQ = "127.0.0.30"
NAME = "www.example.lab"


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((address, 0))
        return udp.getsockname()[1]


def wait_answer(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        while time.monotonic() < deadline:
            sock.sendto(dm.encode(dm.query(NAME, dm.A, id=1)), (address, port))
            try:
                reply = dm.decode(sock.recv(65535))
                if reply.answers:
                    return
            except (TimeoutError, ConnectionRefusedError, dm.DnsError):
                time.sleep(0.1)
    raise RuntimeError(f"no answer from {address}:{port}")


def start_ours(workdir: str, port: int, quiet: bool) -> list[subprocess.Popen]:
    from dnshelpers import tree_configs  # the same tree as the tests
    env = dict(os.environ, PYTHONPATH=NODE_DIR, PYTHONDONTWRITEBYTECODE="1")
    procs = []
    for role, config in tree_configs(ADDRS, port).items():
        config["log_queries"] = not quiet
        path = os.path.join(workdir, f"{role}.json")
        with open(path, "w") as handle:
            json.dump(config, handle)
        procs.append(subprocess.Popen([sys.executable, "-m", "labnode.dns.server", "--config", path],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    wait_answer(ADDRS["resolver"], port)  # primes the cache too
    return procs


def start_dnsmasq(port: int) -> subprocess.Popen:
    tool = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin")
    if tool is None:
        raise SystemExit("dnsmasq is not installed: apt-get install dnsmasq-base")
    proc = subprocess.Popen([tool, "--no-daemon", "--conf-file=/dev/null", f"--port={port}",
                             f"--listen-address={DNSMASQ}", "--bind-interfaces", "--no-resolv",
                             "--no-hosts", "--user=root", f"--address=/{NAME}/10.0.1.10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_answer(DNSMASQ, port)
    return proc


def dnsperf(tool: str, address: str, port: int, duration: float, outstanding: int, workdir: str) -> float:
    data = os.path.join(workdir, "queries.txt")
    with open(data, "w") as handle:
        handle.write(f"{NAME} A\n")
    done = subprocess.run([tool, "-s", address, "-p", str(port), "-d", data, "-l", str(duration),
                           "-q", str(outstanding), "-t", "2"], capture_output=True, text=True,
                          timeout=duration + 30)
    found = re.search(r"Queries per second:\s+([\d.]+)", done.stdout)
    if not found:
        raise RuntimeError(f"dnsperf said: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(found[1])


def own_load(address: str, port: int, duration: float, outstanding: int) -> float:
    """Answers/s with `outstanding` queries in flight on one UDP socket, for duration seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        sock.setblocking(False)
        wires = [dm.encode(dm.query(NAME, dm.A, id=i)) for i in range(65536)]
        sent = answered = 0
        in_flight = 0
        start = time.monotonic()
        end = start + duration
        last_reply = start
        while time.monotonic() < end:
            while in_flight < outstanding:
                sock.send(wires[sent & 0xFFFF])
                sent += 1
                in_flight += 1
            readable, _, _ = select.select([sock], [], [], 0.2)
            if not readable:
                if time.monotonic() - last_reply > 1:  # lost datagrams: top the window up again
                    in_flight = 0
                continue
            while True:
                try:
                    sock.recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                answered += 1
                in_flight -= 1
                last_reply = time.monotonic()
        return answered / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outstanding", type=int, default=100)
    parser.add_argument("--quiet-log", action="store_true")
    parser.add_argument("--own-load", action="store_true", help="use our load generator even if dnsperf exists")
    args = parser.parse_args()
    perf = None if args.own_load else shutil.which("dnsperf")
    tool_name = "dnsperf" if perf else "own load generator" + (
        "" if args.own_load else " (dnsperf not installed: apt-get install dnsperf)")
    port = free_port(ADDRS["root"])
    mport = free_port(DNSMASQ)
    results: dict[str, list[float]] = {"ours": [], "dnsmasq": []}
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as workdir:
        procs = start_ours(workdir, port, args.quiet_log)
        procs.append(start_dnsmasq(mport))
        try:
            targets = {"ours": (ADDRS["resolver"], port), "dnsmasq": (DNSMASQ, mport)}
            for round_no in range(args.rounds):
                for who in ("ours", "dnsmasq") if round_no % 2 == 0 else ("dnsmasq", "ours"):
                    address, p = targets[who]
                    if perf:
                        qps = dnsperf(perf, address, p, args.duration, args.outstanding, workdir)
                    else:
                        qps = own_load(address, p, args.duration, args.outstanding)
                    results[who].append(qps)
                    print(f"round {round_no + 1}: {who:8s} {qps:10.0f} queries/s", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
    ours, theirs = statistics.median(results["ours"]), statistics.median(results["dnsmasq"])
    print(f"load: {tool_name}, {args.outstanding} outstanding, {args.duration:g} s x {args.rounds} rounds ABAB")
    print(f"our resolver (cached, query log {'off' if args.quiet_log else 'on'}): median {ours:.0f} queries/s")
    print(f"dnsmasq (--address):  median {theirs:.0f} queries/s")
    print(f"ratio ours/dnsmasq: {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
