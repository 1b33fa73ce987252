"""`lab test` speed: all-pairs reachability on five-subnets (6 hosts, 30
pairs) end to end through the runner (the plan re-made from the lab file,
then the checks), median of several runs. Goal: under 2 s.

Baseline, measured in the same run: the same 30 probes (`lab-probe ping`,
same arguments) run one after the other, one exec each.

    .venv/bin/python bench/bench_test.py [--runs 5] [--workers 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402
from orchestrator.compile.checks import plan_checks  # noqa: E402
from orchestrator.contract import PROBE_ARGV  # noqa: E402
from orchestrator.verify.probes import Prober  # noqa: E402
from orchestrator.verify.runner import run_checks  # noqa: E402

NAME = "t-test-bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    backend = api.default_backend()
    api.destroy(NAME, backend=backend)
    try:
        t = time.perf_counter()
        api.deploy(ROOT / "labs" / "five-subnets", name=NAME, backend=backend)
        print(f"deployed five-subnets as {NAME} in {time.perf_counter() - t:.1f} s")
        warm = api.attach(NAME, backend).plan  # the first packets after a deploy may wait for ARP
        run_checks(backend, warm, plan_checks([{"all_pairs": {"nodes": "hosts", "wait": 5}}], warm))
        ends, runs = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            plan = api.attach(NAME, backend).plan          # as `lab test` does
            checks = plan_checks([{"all_pairs": "hosts"}], plan)
            t1 = time.perf_counter()
            results = run_checks(backend, plan, checks, workers=args.workers)
            t2 = time.perf_counter()
            assert len(results) == 30, len(results)
            failed = [r.message for r in results if not r.ok]
            assert not failed, failed
            ends.append(t2 - t0)
            runs.append(t2 - t1)
        runner = Prober(backend, plan)
        seq = []
        for _ in range(min(args.runs, 3)):
            t = time.perf_counter()
            for c in checks:
                res = backend.exec(NAME, c.src, [*PROBE_ARGV, *runner.argv(c, c.timeout)])
                assert res.exit_code == 0, res
            seq.append(time.perf_counter() - t)
    finally:
        api.destroy(NAME, backend=backend)
    end, run, base = statistics.median(ends), statistics.median(runs), statistics.median(seq)
    print(f"all-pairs reachability, five-subnets, 30 pairs, median of {args.runs} runs:")
    print(f"  end to end (plan + checks): {end:.2f} s   (goal < 2 s: {'met' if end < 2 else 'NOT met'})")
    print(f"  checks only:                {run:.2f} s   (min {min(runs):.2f}, max {max(runs):.2f})")
    print(f"  baseline, 30 probes one exec each in turn: {base:.2f} s  ({base / run:.1f}x slower)")
    return 0 if end < 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
