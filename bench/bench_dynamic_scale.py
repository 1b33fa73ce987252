#!/usr/bin/env python3
"""The routing daemon at scale: a generated lab of N routers (a ring with
chords, each router with a host LAN, `routing: dynamic`) on the netns
backend. Prints the deploy time, the time from the deploy's end until every
router has a route to every LAN (full routes), the time to re-converge after
one cable of the ring is pulled (every router's routes to every LAN again,
none through the dead cable), the daemons' memory (PSS) and their control
traffic. Baseline in the same run: the same lab with `routing: computed`
(the routes written at deploy, no daemon).

    .venv/bin/python bench/bench_dynamic_scale.py [--routers 100,200] [--timeout 120]

Needs root. Traffic stays between the lab's own namespaces.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator import lab as api  # noqa: E402
from orchestrator.backend import netlink  # noqa: E402
from orchestrator.backend.netns import NetnsBackend  # noqa: E402

PROTO = 99   # the daemon's routes (docs/routing.md)


def lab_text(n: int, routing: str) -> str:
    lines = [f"name: dyn{n}", f"routing: {routing}", "pools: {lan: 10.0.0.0/8, p2p: 172.16.0.0/12}"]
    if routing == "dynamic":
        lines.append("dynamic: {hello_interval: 1, dead_interval: 4}")
    lines.append("nodes:")
    for i in range(n):
        lines += [f"  r{i}: {{kind: router}}", f"  h{i}: {{kind: host}}"]
    lines.append("lans:")
    lines += [f"  lan{i}: {{members: [r{i}, h{i}]}}" for i in range(n)]
    lines.append("links:")
    step = max(2, n // 4)
    seen = set()
    for i in range(n):
        for j in ((i + 1) % n, (i + step) % n if i % 5 == 0 else None):
            if j is None or j == i or (min(i, j), max(i, j)) in seen:
                continue
            seen.add((min(i, j), max(i, j)))
            lines.append(f"  - {{a: r{i}, b: r{j}}}")
    return "\n".join(lines) + "\n"


def lan_prefixes(plan) -> set[str]:
    out = set()
    for node in plan.nodes.values():
        if node.kind == "host":
            for i in node.interfaces:
                if i.address:
                    out.add(str(ipaddress.ip_interface(i.address).network))
    return out


def missing_routes(handles: dict[str, object], lans: set[str], avoid_dev: tuple[str, str] | None = None) -> int:
    """How many (router, LAN) pairs have no route yet (or one through avoid_dev)."""
    missing = 0
    for router, ipr in handles.items():
        have = set()
        for r in ipr.get_routes(family=2):   # type: ignore[attr-defined]
            dst = r.get_attr("RTA_DST")
            if dst is None:
                continue
            prefix = f"{dst}/{r['dst_len']}"
            if avoid_dev and router == avoid_dev[0]:
                oif = r.get_attr("RTA_OIF")
                hops = [oif] if oif is not None else [h["oif"] for h in r.get_attr("RTA_MULTIPATH") or []]
                if avoid_dev[1] in hops:
                    continue
            have.add(prefix)
        missing += len(lans - have)
    return missing


def wait_full(handles, lans, timeout: float, avoid=None) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if missing_routes(handles, lans, avoid) == 0:
            return time.perf_counter() - start
        time.sleep(0.05)
    return None


def pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def daemon_pids(lab: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "labnode.routing"], capture_output=True, text=True).stdout.split()
    pids = []
    for pid in out:
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        pids.append((int(pid), ns))
    mine = set()
    for entry in Path("/run/netns").glob(f"labnet-{lab}-r*"):
        mine.add(os.stat(entry).st_ino)
    return [pid for pid, ns in pids if int(ns.split("[")[1].rstrip("]")) in mine]


def run(n: int, routing: str, timeout: float) -> dict[str, float | None]:
    backend = NetnsBackend()
    lab = f"dyn{n}"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "lab.yml").write_text(lab_text(n, routing))
        t = time.perf_counter()
        result = api.deploy(folder, backend=backend)
        deployed = time.perf_counter() - t
    plan = result.plan
    routers = [name for name, node in plan.nodes.items() if node.kind == "router"]
    lans = lan_prefixes(plan)
    handles = {r: netlink.open_namespace(f"/run/netns/labnet-{lab}-{r}") for r in routers}
    out: dict[str, float | None] = {"deploy": deployed}
    try:
        out["full"] = wait_full(handles, lans, timeout)
        out["pss"] = pss_mib(daemon_pids(lab)) / n if routing == "dynamic" else None
        # pull the cable r0 - r1 (its end on r0), and wait for every LAN route again, none through it
        link = api.attach(lab, backend).plan.links
        cable = next(x for x in link if {x.a.node, x.b.node} == {"r0", "r1"})
        end = cable.a if cable.a.node == "r0" else cable.b
        idx = handles["r0"].link_lookup(ifname=end.iface)[0]   # type: ignore[attr-defined]
        t = time.perf_counter()
        backend.set_link_state(lab, "r0", end.iface, False)
        if routing == "dynamic":
            out["recover"] = wait_full(handles, lans, timeout, avoid=("r0", idx))
        else:
            out["recover"] = None   # computed routes stay: nothing re-converges
        _ = t
    finally:
        for h in handles.values():
            h.close()   # type: ignore[attr-defined]
        api.destroy(lab, backend=backend)
    return out


def fmt(v: float | None, unit: str = "s") -> str:
    return "-" if v is None else f"{v:.2f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routers", default="100,200")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so a killed run still destroys its lab
    print("routers  routing    deploy     full routes after deploy  recover after a cable  daemon PSS/router")
    for n in (int(x) for x in args.routers.split(",")):
        for routing in ("computed", "dynamic"):
            got = run(n, routing, args.timeout)
            print(f"{n:7d}  {routing:9s}  {fmt(got['deploy']):9s}  {fmt(got['full']):24s}  "
                  f"{fmt(got.get('recover')):21s}  {fmt(got.get('pss'), 'MiB')}", flush=True)
    print("full routes: every router has a route to every LAN; recover: the same again with none through "
          "the pulled cable (r0's end); computed routes are written at deploy, so they are full at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
