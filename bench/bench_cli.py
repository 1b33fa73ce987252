#!/usr/bin/env python3
"""How long the `lab` command takes to start: `lab --version`, `lab --help` and
`lab status` (the list of labs) against `python3 -c pass`, interleaved
(pass, version, help, status, pass, ...), medians and the difference.

Goal: each at most 0.3 s above `python3 -c pass`. `lab status` asks the
engine, so it needs one (scripts/bootstrap.sh); it lists whatever labs are
deployed (none, on a quiet machine).

    .venv/bin/python bench/bench_cli.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.3
COMMANDS = {
    "python3 -c pass": [sys.executable, "-c", "pass"],
    "lab --version": [sys.executable, "-m", "orchestrator.cli", "--version"],
    "lab --help": [sys.executable, "-m", "orchestrator.cli", "--help"],
    "lab status": [sys.executable, "-m", "orchestrator.cli", "status"],
}


def once(argv: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed: {done.stderr.strip()}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for argv in COMMANDS.values():  # warm the page cache once
        once(argv)
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            times[name].append(once(argv))
    base = statistics.median(times["python3 -c pass"])
    print(f"{'command':<18}{'median s':>10}{'above pass s':>14}")
    worst = 0.0
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"{name:<18}{med:>10.3f}{med - base:>14.3f}")
        if name != "python3 -c pass":
            worst = max(worst, med - base)
    print(f"({args.rounds} interleaved rounds)")
    print(f"goal: every command at most {GOAL_S:g} s above python3 -c pass -> "
          f"{'met' if worst <= GOAL_S else 'NOT met'} (worst {worst:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
