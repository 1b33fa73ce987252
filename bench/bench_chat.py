"""Chat benchmark: 200 clients, every message broadcast to all of them.

    python3 bench/bench_chat.py [--clients 200] [--senders N] [--duration 3]

The chat service runs as its own process on 127.0.0.1; the load generator
(bench/_loadgen.py, two processes by default) connects the clients.  Each sender keeps one
message in flight (the next goes when its own comes back), every client
checks it receives every message exactly once and in order per sender.
Prints messages delivered per second, latency from send to each delivery
(p50/p99/max) and how many deliveries were lost (must be 0).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _loadgen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, action="append",
                        help="clients that send (repeatable; default: 10, then all)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of sending per run")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()
    runs = args.senders or [10, args.clients]

    print(f"chat: {args.clients} clients ({args.procs} load processes), each message broadcast "
          f"to all, {args.duration:g} s of sending per run, loopback, {os.cpu_count()} CPUs")
    print(f"{'senders':>7} {'sent':>7} {'delivered':>10} {'deliv/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'lost':>5} {'disorder':>8}")
    failed = False
    for senders in runs:
        port = _loadgen.free_port()
        proc = _loadgen.start([sys.executable, "-m", "labnode.services.chat", "--bind",
                               "127.0.0.1", "--port", str(port)], port)
        try:
            r = _loadgen.chat_load(port, args.clients, senders, args.duration, args.procs)
        finally:
            _loadgen.stop(proc)
        failed |= r["lost"] != 0 or r["out_of_order"] != 0
        print(f"{senders:>7} {r['sent']:>7} {r['delivered']:>10} {r['delivered_per_s']:>9.0f} "
              f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['lost']:>5} "
              f"{r['out_of_order']:>8}")
    print("lost deliveries:", "none" if not failed else "SOME (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
