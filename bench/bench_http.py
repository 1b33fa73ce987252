"""HTTP benchmark: labnode's http service against Python's ThreadingHTTPServer.

    python3 bench/bench_http.py [--clients 50] [--duration 3] [--size 1024]

Both servers run as separate processes on 127.0.0.1 serving the same file,
in the same run, under the same closed-loop load generator (bench/_loadgen.py,
two processes by default), alternating, best of two runs each:
50 concurrent keep-alive clients, then 50 clients opening a connection per
request ("Connection: close").  Prints requests/s, latency and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _loadgen


def serve_labnode(root: str, port: int):
    return _loadgen.start([sys.executable, "-m", "labnode.services.http", "--bind", "127.0.0.1",
                           "--port", str(port), "--root", root], port)


def serve_threading(root: str, port: int):
    return _loadgen.start([sys.executable, os.path.join(os.path.dirname(__file__), "_loadgen.py"),
                           "threading-server", str(port), root], port)


def measure(serve, root: str, args, keep_alive: bool) -> dict:
    port = _loadgen.free_port()
    proc = serve(root, port)
    try:
        _loadgen.http_load(port, "/index.html", args.clients, 0.3, keep_alive)  # warm up
        return _loadgen.http_load_parallel(port, "/index.html", args.clients, args.duration,
                                           keep_alive, args.procs)
    finally:
        _loadgen.stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measurements per server and mode, alternating; the best counts")
    parser.add_argument("--size", type=int, default=1024, help="bytes in the served file")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "wb") as handle:
            handle.write((b"<p>benchmark</p>\n" * (args.size // 17 + 1))[:args.size])
        servers = {"labnode-http": serve_labnode, "ThreadingHTTPServer": serve_threading}
        print(f"http: {args.clients} clients ({args.procs} load processes), {args.duration:g} s "
              f"per run, best of {args.rounds}, GET /index.html ({args.size} bytes), loopback, "
              f"{os.cpu_count()} CPUs")
        print(f"{'mode':<11} {'server':<20} {'requests':>9} {'req/s':>9} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'errors':>6}")
        ratios = {}
        for keep_alive in (True, False):
            mode = "keep-alive" if keep_alive else "close"
            best: dict[str, dict] = {}
            for round_ in range(args.rounds):  # alternate, so a busy moment hits both
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    result = measure(servers[name], root, args, keep_alive)
                    if name not in best or result["rps"] > best[name]["rps"]:
                        best[name] = result
            for name in servers:
                result = best[name]
                print(f"{mode:<11} {name:<20} {result['requests']:>9} {result['rps']:>9.0f} "
                      f"{result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} {result['errors']:>6}")
            ratios[mode] = best["labnode-http"]["rps"] / best["ThreadingHTTPServer"]["rps"]
        for mode, ratio in ratios.items():
            print(f"ratio {mode:<10} labnode-http / ThreadingHTTPServer = {ratio:.2f}x "
                  f"(goal >= 2x: {'met' if ratio >= 2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
