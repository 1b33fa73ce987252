#!/usr/bin/env python3
"""`lab validate` of generated labs of 1 000, 5 000 and 20 000 nodes, and of
hostile files: seconds and peak memory, against the floor of reading the same
file with PyYAML (libyaml's loader), interleaved in the same run.

The lab: groups of ten nodes (a router, a switch and eight hosts on it, the
hosts' gateways inferred), the routers in a ring of point-to-point links,
`routing: static`. Every figure is the median of --rounds runs, ours and the
floor alternating (A B A B ...), each run in its own process:

    validate  python -m orchestrator.cli validate DIR   (the whole command)
    floor     python -c 'yaml.load(open(F), CSafeLoader)' (reading it, nothing else)

Growth is linear when µs/node stays flat as the size grows. The hostile
files (an alias bomb of 10^7 leaves, merges of merges, 5 000-deep nesting, a
lab file past the size bound) must each be refused within a second or two
and a little memory.

    .venv/bin/python bench/bench_validate.py [--sizes 1000 5000 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def lab_text(nodes: int) -> str:
    groups = max(1, nodes // 10)
    out = ["name: big", "pools: {lan: {prefix: 10.0.0.0/9, size: 24}, p2p: {prefix: 10.128.0.0/10, size: 30}}",
           "nodes:"]
    links = []
    for g in range(groups):
        out.append(f"  r{g}: {{kind: router}}")
        out.append(f"  s{g}: {{kind: switch}}")
        links.append(f"  - [r{g}, s{g}]")
        for h in range(8):
            out.append(f"  h{g}x{h}: {{kind: host}}")
            links.append(f"  - [h{g}x{h}, s{g}]")
    for g in range(groups if groups > 2 else 0):
        links.append(f"  - [r{g}, r{(g + 1) % groups}]")
    return "\n".join(out + ["links:"] + links) + "\n"


def hostile(folder: Path) -> dict[str, Path]:
    files: dict[str, str] = {}
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    files["alias bomb (10^7 leaves)"] = "x-bomb:\n" + "".join(f"  {b}\n" for b in bomb) + \
        "nodes: {h: {kind: host}}\ndescription: *a7\n"
    merges = ["m0: &m0 {k0: 1}"] + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    files["merges of merges (2^40)"] = "x-m:\n" + "".join(f"  {m}\n" for m in merges) + "nodes: {h: {kind: host}}\n"
    files["5000-deep nesting"] = "nodes: " + "[" * 5000 + "\n"
    files["9 MB file"] = "nodes: {h: {kind: host}}\n" + "# padding\n" * 900_000
    paths = {}
    for i, (what, text) in enumerate(files.items()):
        sub = folder / f"hostile{i}"
        sub.mkdir()
        (sub / "lab.yml").write_text(text)
        paths[what] = sub
    return paths


def measured(argv: list[str]) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of one command in its own process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, usage.ru_maxrss / 1024, proc.returncode


def validate(folder: Path) -> list[str]:
    return [PY, "-m", "orchestrator.cli", "validate", str(folder)]


def floor(folder: Path) -> list[str]:
    return [PY, "-c", "import sys, yaml; yaml.load(open(sys.argv[1]), Loader=getattr(yaml, 'CSafeLoader', "
                      "yaml.SafeLoader))", str(folder / "lab.yml")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; medians of {args.rounds} runs, ours and the floor interleaved")
    print(f"{'nodes':>7}{'file MB':>9}{'validate s':>12}{'peak MiB':>10}{'floor s':>9}{'floor MiB':>10}"
          f"{'ratio':>7}{'µs/node':>9}")
    with tempfile.TemporaryDirectory(prefix="labnet-bench-validate-") as tmp:
        for size in args.sizes:
            folder = Path(tmp) / f"n{size}"
            folder.mkdir()
            (folder / "lab.yml").write_text(lab_text(size))
            ours, base = [], []
            for _ in range(args.rounds):
                ours.append(measured(validate(folder)))
                base.append(measured(floor(folder)))
            bad = [r for r in ours if r[2] != 0]
            if bad:
                print(f"validate of {size} nodes failed (exit {bad[0][2]})", file=sys.stderr)
                return 1
            s, mem = statistics.median(r[0] for r in ours), statistics.median(r[1] for r in ours)
            fs, fmem = statistics.median(r[0] for r in base), statistics.median(r[1] for r in base)
            mb = (folder / "lab.yml").stat().st_size / 1e6
            print(f"{size:>7}{mb:>9.2f}{s:>12.2f}{mem:>10.0f}{fs:>9.2f}{fmem:>10.0f}{s / fs:>7.1f}"
                  f"{s / size * 1e6:>9.0f}")
        print()
        print(f"{'hostile file':<28}{'refused in s':>13}{'peak MiB':>10}{'exit':>6}")
        for what, folder in hostile(Path(tmp)).items():
            runs = [measured(validate(folder)) for _ in range(args.rounds)]
            print(f"{what:<28}{statistics.median(r[0] for r in runs):>13.2f}"
                  f"{statistics.median(r[1] for r in runs):>10.0f}{runs[0][2]:>6}")
    print("validate: the whole `lab validate` command (start-up included); floor: reading the same file with "
          "PyYAML's libyaml loader and nothing else; ratio = validate / floor; µs/node flat = linear growth; "
          "a hostile file must be refused (exit 1) within seconds and without growing memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
