#!/usr/bin/env python3
"""Deploy and destroy wall time of labs/five-subnets with warm images.

Prints per-stage medians over N rounds, and a baseline measured in the same
run: starting and removing the same number of bare containers (same image,
network_mode=none, concurrently) - the floor any Docker-based lab pays.

    .venv/bin/python bench/bench_deploy.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402
from orchestrator.backend.dockerengine import DockerBackend  # noqa: E402

LAB = ROOT / "labs" / "five-subnets"
NAME = "bench-five"


def baseline(backend: DockerBackend, image: str, count: int) -> tuple[float, float]:
    labels = {"labnet.project": "labnet", "labnet.lab": "bench-baseline"}
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: backend.client.containers.run(
            image, name=f"labnet-bench-baseline-{i}", network_mode="none", init=True,
            labels=labels, detach=True), range(count)))
    up = time.perf_counter() - t
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.remove(force=True), made))
    return up, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    backend = DockerBackend()
    images = api.build_images(backend)
    api.destroy(NAME, backend=backend)
    api.destroy("bench-baseline", backend=backend)
    stages: dict[str, list[float]] = {}
    destroys, base_up, base_down = [], [], []
    nodes = 0
    for _ in range(args.rounds):
        result = api.deploy(LAB, name=NAME, backend=backend)
        nodes = len(result.plan.nodes)
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
        t = time.perf_counter()
        api.destroy(NAME, backend=backend)
        destroys.append(time.perf_counter() - t)
        up, down = baseline(backend, images.node, nodes)
        base_up.append(up)
        base_down.append(down)

    med = statistics.median
    print(f"five-subnets: {nodes} nodes, warm images, median of {args.rounds} rounds")
    print(f"{'stage':<12}{'seconds':>10}")
    for stage in ("prepare", "images", "create", "wire", "configure"):
        print(f"{stage:<12}{med(stages[stage]):>10.3f}")
    deploy_s, destroy_s = med(stages["total"]), med(destroys)
    print(f"{'deploy':<12}{deploy_s:>10.3f}")
    print(f"{'destroy':<12}{destroy_s:>10.3f}")
    print(f"baseline: {nodes} bare containers up {med(base_up):.3f} s, removed {med(base_down):.3f} s")
    print(f"ratio deploy / bare start   {deploy_s / med(base_up):.2f}x")
    print(f"ratio destroy / bare remove {destroy_s / med(base_down):.2f}x")


if __name__ == "__main__":
    main()
