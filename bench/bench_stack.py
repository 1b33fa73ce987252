#!/usr/bin/env python3
"""Throughput of the user-space stack (images/node/labnode/stack) against
the kernel's own TCP, on the same link, interleaved ABAB in the same run.

The namespace pair of tests/daemons/stack/stacknet.py: the stack on a TAP
bridged (br0) to a veth whose peer is a kernel host K (10.77.0.1).  For the
kernel<->kernel baseline, namespace S's kernel gets 10.77.0.3 on br0 for the
duration (the stack keeps 10.77.0.5), so both use the same bridge and veth.
A 20 MB file is moved each way, per round:

  kernel->stack   the stack's GET client fetches it from python http.server in K
  stack->kernel   curl in K fetches it from the stack's HTTP server
  kernel->kernel  curl in S from K's http.server, and curl in K from S's

then the stack is restarted with the loss knob at 1 % (both directions) and
the two stack transfers repeat.  Reports medians (MB/s, 1 MB = 10^6 bytes),
the stack/kernel ratio, and the stack's retransmissions (tcp_retransmits).
Root only; nothing leaves the two throw-away namespaces.

    .venv/bin/python bench/bench_stack.py [--rounds 3] [--mb 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "daemons" / "stack"))

from stacknet import KERNEL_IP, STACK_IP, StackNet, ip, netns_available  # noqa: E402

S_KERNEL_IP = "10.77.0.3"


def curl_seconds(net: StackNet, ns: str, url: str, size: int, digest: str) -> float:
    result = net.run_in(ns, "curl", "-sS", "--max-time", "120", "-o", "-", url, timeout=130)
    if result.returncode != 0 or len(result.stdout) != size or hashlib.sha256(result.stdout).hexdigest() != digest:
        raise SystemExit(f"transfer of {url} failed: {result.stderr.decode()[:200]}")
    timing = net.run_in(ns, "curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", url, timeout=130)
    return float(timing.stdout)


def stack_get_seconds(net: StackNet, url: str, size: int, digest: str) -> float:
    result = net.get(url, timeout=120)
    reply = json.loads(result.stdout or b"{}")
    if not reply.get("ok") or reply["bytes"] != size or reply["sha256"] != digest:
        raise SystemExit(f"stack GET {url} failed: {reply.get('error')} {result.stderr.decode()[:200]}")
    return float(reply["seconds"])


def retransmits(net: StackNet) -> int:
    return json.loads(net.cli("stats", "--json").stdout)["counters"]["tcp_retransmits"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=20, help="transfer size in MiB (default 20)")
    args = parser.parse_args()
    reason = netns_available()
    if reason:
        print(f"bench_stack: {reason}", file=sys.stderr)
        return 1
    size = args.mb << 20
    net = StackNet()
    results: dict[str, list[float]] = {}
    retrans: dict[str, list[int]] = {}
    try:
        net.create()
        data = os.urandom(size)
        (net.www / "big.bin").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        net.http_server_in_k(net.www)
        ip("-n", net.s, "addr", "add", f"{S_KERNEL_IP}/24", "dev", "br0")
        server_s = net.spawn_in(net.s, sys.executable, "-m", "http.server", "--bind", S_KERNEL_IP, "--directory",
                                str(net.www), "8000", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        assert server_s.poll() is None
        k_url, stack_url, s_url = (f"http://{KERNEL_IP}:8000/big.bin", f"http://{STACK_IP}/big.bin",
                                   f"http://{S_KERNEL_IP}:8000/big.bin")

        def record(name: str, seconds: float) -> None:
            results.setdefault(name, []).append(size / seconds / 1e6)

        for loss in (None, 0.01):
            net.stop_stack()
            net.start_stack(**({"loss": {"p": loss, "seed": 5, "direction": "both"}} if loss else {}))
            tag = "" if loss is None else " (1% loss)"
            for _ in range(args.rounds):
                if loss is None:  # A: kernel <-> kernel
                    record("kernel->kernel (K to S)", curl_seconds(net, net.s, k_url, size, digest))
                    record("kernel->kernel (S to K)", curl_seconds(net, net.k, s_url, size, digest))
                before = retransmits(net)  # B: the stack
                record(f"kernel->stack{tag}", stack_get_seconds(net, k_url, size, digest))
                middle = retransmits(net)
                record(f"stack->kernel{tag}", curl_seconds(net, net.k, stack_url, size, digest))
                after = retransmits(net)
                retrans.setdefault(f"kernel->stack{tag}", []).append(middle - before)
                retrans.setdefault(f"stack->kernel{tag}", []).append((after - middle) // 2)  # curl ran twice
    finally:
        net.close()
    kernel = statistics.median(results["kernel->kernel (K to S)"] + results["kernel->kernel (S to K)"])
    print(f"{args.mb} MiB per transfer, {args.rounds} rounds, medians (MB/s)")
    for name, values in results.items():
        ratio = statistics.median(values) / kernel
        extra = f"  stack retransmissions per transfer: {statistics.median(retrans[name]):g}" if name in retrans else ""
        print(f"  {name:28s} {statistics.median(values):8.1f}  ({ratio:.3f} x kernel){extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
