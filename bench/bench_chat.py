"""Chat benchmark: 200 clients, every message broadcast to all of them.

    python3 bench/bench_chat.py [--clients 200] [--senders N] [--duration 3] [--rounds 3]

The chat service runs as its own process on 127.0.0.1; the load generator
(bench/_loadgen.py, two processes by default) connects the clients.  Each sender keeps one
message in flight (the next goes when its own comes back), every client
checks it receives every message exactly once and in order per sender.
The reference, measured in the same run, alternating (AB BA AB ...), is the
straightforward stdlib server in bench/_loadgen.py (ThreadingTCPServer, a
thread per client, sendall() to each client in turn).  Prints messages
delivered per second, latency from send to each delivery (p50/p99/max, the
median over the rounds) and how many deliveries were lost (must be 0); the
goal is p99 <= 150 ms with all 200 clients sending.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs per server and sender count, alternating; the median counts")
    args = parser.parse_args()
    runs = args.senders or [10, args.clients]
    servers = {"labnode-chat": ["-m", "labnode.services.chat", "--bind", "127.0.0.1", "--port"],
               "ThreadingTCPServer": [os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "_loadgen.py"), "threading-chat-server"]}

    print(f"chat: {args.clients} clients ({args.procs} load processes), each message broadcast "
          f"to all, {args.duration:g} s of sending per run, median of {args.rounds} (order AB BA "
          f"...), loopback, {os.cpu_count()} CPUs")
    print(f"{'senders':>7} {'server':<19} {'sent':>7} {'deliv/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'p99 of each run':<22} {'lost':>5} {'disorder':>8}")
    failed = False
    goal_p99 = None
    for senders in runs:
        results: dict[str, list[dict]] = {name: [] for name in servers}
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                port = _loadgen.free_port()
                proc = _loadgen.start([sys.executable, *servers[name], str(port)], port)
                try:
                    results[name].append(_loadgen.chat_load(port, args.clients, senders,
                                                            args.duration, args.procs))
                finally:
                    _loadgen.stop(proc)
        medians = {}
        for name, rs in results.items():
            med = {key: statistics.median(r[key] for r in rs)
                   for key in ("sent", "delivered_per_s", "p50_ms", "p99_ms", "max_ms")}
            medians[name] = med
            lost = sum(r["lost"] for r in rs)
            disorder = sum(r["out_of_order"] for r in rs)
            if name == "labnode-chat":
                failed |= lost != 0 or disorder != 0
            each = " ".join(f"{r['p99_ms']:.0f}" for r in rs)
            print(f"{senders:>7} {name:<19} {med['sent']:>7.0f} {med['delivered_per_s']:>9.0f} "
                  f"{med['p50_ms']:>8.2f} {med['p99_ms']:>8.2f} {med['max_ms']:>8.2f} {each:<22} "
                  f"{lost:>5} {disorder:>8}")
        ours, ref = medians["labnode-chat"], medians["ThreadingTCPServer"]
        print(f"ratio   {senders} senders: deliveries/s "
              f"{ours['delivered_per_s'] / ref['delivered_per_s']:.2f}x, p99 "
              f"{ref['p99_ms'] / ours['p99_ms']:.2f}x lower (labnode-chat vs ThreadingTCPServer)")
        if senders == args.clients:
            goal_p99 = ours["p99_ms"]
    if goal_p99 is not None:
        print(f"goal: p99 <= 150 ms with all {args.clients} sending: {goal_p99:.0f} ms, "
              f"{'met' if goal_p99 <= 150 else 'NOT met'}")
    print("lost deliveries (labnode-chat):", "none" if not failed else "SOME (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
