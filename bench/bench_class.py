#!/usr/bin/env python3
"""A class of N students (default 10) on labs/exercises/fix-the-routing (the
five-subnets shape, 12 nodes each): `lab class up` then `lab class grade`,
against the same work done one lab at a time (deploy, deal, test, for each
student in turn), interleaved ABAB, medians of --rounds. Every copy is
removed between the measurements (not counted). Goal (issue "Classroom"):
ours <= 0.6x the sequential baseline.

    .venv/bin/python bench/bench_class.py [--students 10] [--rounds 3] [--parallel 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import classroom  # noqa: E402
from orchestrator import lab as api  # noqa: E402
from orchestrator.operate import run_lab_tests  # noqa: E402

PATH = ROOT / "labs" / "exercises" / "fix-the-routing"


def clean(students: list[str]) -> None:
    backend = api.default_backend()
    for s in students:
        api.destroy(classroom.instance_name("fix-the-routing", s), backend=backend)


def ours(students: list[str], parallel: int) -> tuple[float, float]:
    t = time.perf_counter()
    classroom.up(PATH, students, parallel=parallel)
    t_up = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        grades = classroom.grade(PATH, out)
        t_grade = time.perf_counter() - t
    assert len(grades.rows) == len(students) and all(r.passed < r.total for r in grades.rows)
    return t_up, t_grade


def sequential(students: list[str]) -> tuple[float, float]:
    backend = api.default_backend()
    t = time.perf_counter()
    for s in students:
        name = classroom.instance_name("fix-the-routing", s)
        # `lab deploy --exercise --student s`: the student's variant, dealt as part of the deploy
        api.deploy(PATH, name=name, backend=backend, student=s, deal=True)
    t_up = time.perf_counter() - t
    t = time.perf_counter()
    for s in students:
        results = run_lab_tests(classroom.instance_name("fix-the-routing", s), backend=backend)
        assert any(not r.ok for r in results)
    return t_up, time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    students = [f"s{n:02d}" for n in range(1, args.students + 1)]
    got: dict[str, list[tuple[float, float]]] = {"ours": [], "sequential": []}
    clean(students)
    try:
        for _ in range(args.rounds):
            for what in ("ours", "sequential"):
                got[what].append(ours(students, args.parallel) if what == "ours" else sequential(students))
                clean(students)
                print(f"  {what}: up {got[what][-1][0]:.1f} s, grade {got[what][-1][1]:.1f} s", flush=True)
    finally:
        clean(students)
    med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in got.items()}
    total = {k: a + b for k, (a, b) in med.items()}
    ratio = total["ours"] / total["sequential"]
    print(f"{args.students} students of fix-the-routing (12 nodes each), medians of {args.rounds} rounds:")
    for k, (a, b) in med.items():
        print(f"  {k:<11} up {a:6.1f} s   grade {b:5.1f} s   total {a + b:6.1f} s")
    print(f"  ours / sequential: up {med['ours'][0] / med['sequential'][0]:.2f}x, "
          f"grade {med['ours'][1] / med['sequential'][1]:.2f}x, total {ratio:.2f}x "
          f"(goal <= 0.6x: {'met' if ratio <= 0.6 else 'NOT met'})")
    return 0 if ratio <= 0.6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
