#!/usr/bin/env python3
"""Deploy and destroy against the engine's floor, at 12, 50 and 100 nodes.

The labs: labs/five-subnets (12 nodes) and generated labs beside it (routers
in a row, each with a LAN of hosts on a switch; computed routes): 50 and 100
nodes. The floor, measured in the same run and interleaved with ours (ABAB,
median of the rounds): the same containers (same image, limits, capabilities,
sysctls, network none) created and started in parallel as bare containers,
plus the same veth pairs made and brought up with pyroute2 — and their
removal. It is what any Docker-based lab pays before configuring anything.

    .venv/bin/python bench/bench_deploy.py [--rounds 3] [--sizes 12,50,100]

Prints, per size, the stage split of our deploy (create, wire, configure, ...),
deploy and destroy against the floor, and their ratios (goal: deploy <= 1.3x,
destroy <= 1.1x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402
from orchestrator.backend import netlink  # noqa: E402
from orchestrator.backend.dockerengine import DockerBackend  # noqa: E402
from orchestrator.backend.parallel import WORKERS  # noqa: E402
from orchestrator.plan import Plan  # noqa: E402

FIVE = ROOT / "labs" / "five-subnets"
FLOOR_LABELS = {"labnet.project": "labnet", "labnet.lab": "bench-floor"}


def generated(folder: Path, nodes: int) -> Path:
    """A lab of about `nodes` nodes: R routers in a row, each with a switch
    and 8 hosts (R = nodes / 10)."""
    routers = max(1, nodes // 10)
    lines = [f"name: bench-gen-{nodes}", "routing: computed", "nodes:"]
    lans = ["lans:"]
    for r in range(1, routers + 1):
        lines.append(f"  r{r}: {{kind: router}}")
        hosts = [f"h{r}x{h}" for h in range(1, 9)]
        lines += [f"  {h}: {{kind: host}}" for h in hosts]
        lans.append(f"  lan{r}: {{members: [r{r}, {', '.join(hosts)}]}}")
    links = ["links:"] + [f"  - [r{r}, r{r + 1}]" for r in range(1, routers)]
    path = folder / f"gen-{nodes}"
    path.mkdir(exist_ok=True)
    (path / "lab.yml").write_text("\n".join(lines + lans + (links if routers > 1 else [])) + "\n")
    return path


def floor_up(backend: DockerBackend, plan: Plan, image: str) -> tuple[list[str], float]:
    """Bare containers like the plan's nodes, started in parallel, then the plan's veths, up."""
    api_ = backend.client.api
    t = time.perf_counter()

    def make(node: Any) -> tuple[str, str]:
        hc = api_.create_host_config(network_mode="none", init=True, cap_add=["NET_ADMIN", "NET_RAW"],
                                     sysctls=node.sysctls, pids_limit=node.limits.pids,
                                     mem_limit=node.limits.memory, memswap_limit=node.limits.memory,
                                     nano_cpus=int(node.limits.cpus * 1e9))
        made = api_.create_container(image, name=f"labnet-bench-floor-{node.name}", hostname=node.name,
                                     labels=FLOOR_LABELS, host_config=hc, detach=True)
        api_.start(made["Id"])
        return node.name, made["Id"]

    with ThreadPoolExecutor(WORKERS) as pool:
        ids = dict(pool.map(make, plan.nodes.values()))
    pids = {n: api_.inspect_container(cid)["State"]["Pid"] for n, cid in ids.items()}
    handles = {n: netlink.open_netns(pid) for n, pid in pids.items()}
    try:
        for link in plan.links:
            netlink.add_veth(handles[link.a.node], link.a.iface, pids[link.b.node], link.b.iface)
        for ipr in handles.values():
            for msg in ipr.get_links():
                if msg.get_attr("IFLA_IFNAME") != "lo":
                    ipr.link("set", index=msg["index"], state="up")
    finally:
        for ipr in handles.values():
            ipr.close()
    return list(ids.values()), time.perf_counter() - t


def floor_down(backend: DockerBackend, ids: list[str]) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda cid: backend.client.api.remove_container(cid, force=True), ids))
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="12,50,100", help="node counts (12 is labs/five-subnets)")
    args = parser.parse_args()
    backend = DockerBackend()
    images = api.build_images(backend)
    med = statistics.median
    with tempfile.TemporaryDirectory(prefix="labnet-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = FIVE if size == 12 else generated(Path(tmp), size)
            plan = api.plan_lab(path)[0]
            name = plan.lab
            api.destroy(name, backend=backend)
            api.destroy("bench-floor", backend=backend)
            stages: dict[str, list[float]] = {}
            ours_up, ours_down, floor_ups, floor_downs = [], [], [], []
            for _ in range(args.rounds):   # ABAB: ours, then the floor, each round
                result = api.deploy(path, backend=backend)
                for stage, seconds in result.timings.items():
                    stages.setdefault(stage, []).append(seconds)
                ours_up.append(result.timings["total"])
                t = time.perf_counter()
                api.destroy(name, backend=backend)
                ours_down.append(time.perf_counter() - t)
                ids, up = floor_up(backend, plan, images["node"])
                floor_ups.append(up)
                floor_downs.append(floor_down(backend, ids))
            split = ", ".join(f"{s} {med(v):.2f}" for s, v in stages.items() if s != "total")
            print(f"{size:>4} nodes ({name}, {len(plan.links)} links), median of {args.rounds} rounds")
            print(f"     stages: {split}")
            print(f"     deploy  {med(ours_up):6.2f} s   floor {med(floor_ups):6.2f} s   "
                  f"ratio {med(ours_up) / med(floor_ups):.2f}x (goal <= 1.3x)")
            print(f"     destroy {med(ours_down):6.2f} s   floor {med(floor_downs):6.2f} s   "
                  f"ratio {med(ours_down) / med(floor_downs):.2f}x (goal <= 1.1x)", flush=True)


if __name__ == "__main__":
    main()
